//! What a live run prints: one status line per second for people, or one JSON line per frame
//! and per event for machines (format `posture.live`, version 1, documented in the README).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alerts::AlertEvent;
use crate::analysis::Analysis;
use crate::analyze::KeypointRecord;
use crate::judge::{Band, Judgement};
use crate::metrics::{PostureMetrics, Stance, View};
use crate::pipeline::{Processed, SourceEvent};
use crate::pose::{DEFAULT_SCORE_THRESHOLD, Joint};

/// The `format` field of live JSON lines.
pub const FORMAT: &str = "posture.live";
/// The `version` field of live JSON lines.
pub const VERSION: u32 = 1;

/// Per-frame JSON line.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct FrameRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Always `frame`.
    pub kind: String,
    /// Frame sequence number from the source.
    pub seq: u64,
    /// Media time of the frame, seconds since the stream started.
    pub t_secs: f64,
    /// Capture → result latency.
    pub latency_ms: f64,
    /// Frames dropped as stale so far.
    pub dropped_frames: u64,
    /// Frame width.
    pub width_px: u32,
    /// Frame height.
    pub height_px: u32,
    /// The 17 keypoints in COCO order, frame pixels.
    pub keypoints: Vec<KeypointRecord>,
    /// Letterbox, inference and decode times.
    pub letterbox_ms: f64,
    /// Network time.
    pub inference_ms: f64,
    /// Decode time.
    pub decode_ms: f64,
    /// The posture analysis of the frame.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub posture: Option<PostureRecord>,
}

/// The posture part of a frame record.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct PostureRecord {
    /// Whether a person is seen.
    pub person: bool,
    /// Whether scoring is paused (nobody seen for a while).
    pub away: bool,
    /// `front`, `side` or `oblique` (after hysteresis).
    pub view: Option<View>,
    /// `seated`, `standing` (after hysteresis).
    pub stance: Option<Stance>,
    /// 0..100 when judged.
    pub score: Option<f32>,
    /// `good`, `fair`, `poor` when judged.
    pub band: Option<Band>,
    /// The verdict in words.
    pub reason: Option<String>,
    /// Every metric with its value (degrees or ratio, as its name says) and confidence.
    pub metrics: PostureMetrics,
}

impl PostureRecord {
    /// The record of an analysis.
    pub fn new(a: &Analysis) -> Self {
        Self {
            person: a.person,
            away: a.away,
            view: a.view,
            stance: a.stance,
            score: a.judgement.score(),
            band: a.judgement.band(),
            reason: a.judgement.reason().map(str::to_owned),
            metrics: a.metrics,
        }
    }
}

/// Source event JSON line.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct EventRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Always `event`.
    pub kind: String,
    /// `source_lost`, `source_recovered`, `alert`, `alert_cleared`, `away` or `back`.
    pub event: String,
    /// For `alert`: 1 for the first of an episode, one more per escalation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub level: Option<u32>,
    /// For `alert`: the reason.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// For `alert` and `alert_cleared`: seconds of bad posture so far.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bad_for_secs: Option<f64>,
    /// Media time of the frame that raised an alert event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub t_secs: Option<f64>,
    /// For `source_lost`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `source_recovered`: how long the source was gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<f64>,
}

use crate::analyze::ms;

impl FrameRecord {
    /// The record of one processed frame and its analysis.
    pub fn new(p: &Processed, analysis: Option<&Analysis>) -> Self {
        let t = &p.estimate.timings;
        Self {
            format: FORMAT.into(),
            version: VERSION,
            kind: "frame".into(),
            seq: p.frame.seq,
            t_secs: p.frame.t_secs,
            latency_ms: ms(p.latency()),
            dropped_frames: p.dropped_total,
            width_px: p.frame.resolution().width,
            height_px: p.frame.resolution().height,
            keypoints: Joint::ALL
                .into_iter()
                .map(|j| {
                    let k = p.estimate.pose.get(j);
                    KeypointRecord {
                        name: j.name().into(),
                        x_px: k.x_px,
                        y_px: k.y_px,
                        score: k.score,
                    }
                })
                .collect(),
            letterbox_ms: ms(t.letterbox),
            inference_ms: ms(t.inference),
            decode_ms: ms(t.decode),
            posture: analysis.map(PostureRecord::new),
        }
    }
}

impl EventRecord {
    /// The record of a source event.
    pub fn new(e: &SourceEvent) -> Self {
        let (event, error, after_secs) = match e {
            SourceEvent::Lost { error } => ("source_lost", Some(error.clone()), None),
            SourceEvent::Recovered { after_secs } => ("source_recovered", None, Some(*after_secs)),
        };
        Self {
            format: FORMAT.into(),
            version: VERSION,
            kind: "event".into(),
            event: event.into(),
            error,
            after_secs,
            level: None,
            reason: None,
            bad_for_secs: None,
            t_secs: None,
        }
    }

    /// The record of an alert event at `t_secs`.
    pub fn alert(e: &AlertEvent, t_secs: f64) -> Self {
        let mut r = Self::new(&SourceEvent::Recovered { after_secs: 0.0 });
        r.after_secs = None;
        r.t_secs = Some(t_secs);
        match e {
            AlertEvent::Alert {
                level,
                bad_for_secs,
                reason,
            } => {
                r.event = "alert".into();
                r.level = Some(*level);
                r.reason = Some(reason.clone());
                r.bad_for_secs = Some(*bad_for_secs);
            }
            AlertEvent::Cleared { bad_for_secs } => {
                r.event = "alert_cleared".into();
                r.bad_for_secs = Some(*bad_for_secs);
            }
            AlertEvent::Away => r.event = "away".into(),
            AlertEvent::Back => r.event = "back".into(),
        }
        r
    }
}

/// Rolling statistics for the status line: frames, latency and drops over the last second.
#[derive(Debug)]
pub struct StatusTracker {
    started: Instant,
    window_start: Instant,
    frames_in_window: u32,
    latencies_ms: Vec<f64>,
    last_line: String,
    short_line: String,
    dropped: u64,
    person_score: Option<f32>,
    posture: Option<String>,
}

impl StatusTracker {
    /// Starts counting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            window_start: now,
            frames_in_window: 0,
            latencies_ms: Vec::with_capacity(64),
            last_line: String::new(),
            short_line: String::new(),
            dropped: 0,
            person_score: None,
            posture: None,
        }
    }

    /// Counts one processed frame.
    pub fn observe(&mut self, p: &Processed) {
        self.frames_in_window += 1;
        self.latencies_ms.push(ms(p.latency()));
        self.dropped = p.dropped_total;
        let pose = &p.estimate.pose;
        let seen = Joint::ALL
            .iter()
            .filter(|&&j| pose.get(j).score >= DEFAULT_SCORE_THRESHOLD)
            .count();
        self.person_score = (seen >= 5).then(|| pose.mean_score());
    }

    /// Records the latest posture verdict for the status line.
    pub fn set_posture(&mut self, a: &Analysis) {
        self.posture = Some(match (&a.judgement, a.away) {
            (_, true) => "away: scoring paused".to_owned(),
            (
                Judgement::Judged {
                    score,
                    band,
                    reason,
                    ..
                },
                _,
            ) => format!("posture {score:.0} {band:?}: {reason}").to_lowercase(),
            (Judgement::NoPerson, _) if a.person => "posture: not judged from this view".to_owned(),
            (Judgement::NoPerson, _) => "nobody seen".to_owned(),
        });
    }

    /// The current status line (the last completed second).
    pub fn line(&self) -> &str {
        &self.last_line
    }

    /// A compact status line for the window: fps, median latency, drops.
    pub fn short_line(&self) -> &str {
        &self.short_line
    }

    /// Closes the second when it has passed at `now`, returning the new status line.
    pub fn tick(&mut self, now: Instant) -> Option<&str> {
        let span = now.saturating_duration_since(self.window_start);
        if span < Duration::from_secs(1) {
            return None;
        }
        let fps = f64::from(self.frames_in_window) / span.as_secs_f64();
        self.latencies_ms.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            if self.latencies_ms.is_empty() {
                0.0
            } else {
                self.latencies_ms[((q * self.latencies_ms.len() as f64).ceil() as usize)
                    .clamp(1, self.latencies_ms.len())
                    - 1]
            }
        };
        let person = match (&self.posture, self.person_score) {
            (Some(p), _) => p.clone(),
            (None, Some(s)) => format!("person seen ({s:.2})"),
            (None, None) => "nobody seen".to_owned(),
        };
        self.last_line = format!(
            "{:6.1}s  {:5.1} fps  latency p50 {:3.0} ms p95 {:3.0} ms  dropped {}  {}",
            now.saturating_duration_since(self.started).as_secs_f64(),
            fps,
            pick(0.5),
            pick(0.95),
            self.dropped,
            person
        );
        self.short_line = format!(
            "{fps:.1} fps  latency {:.0} ms  dropped {}",
            pick(0.5),
            self.dropped
        );
        self.window_start = now;
        self.frames_in_window = 0;
        self.latencies_ms.clear();
        Some(&self.last_line)
    }
}
