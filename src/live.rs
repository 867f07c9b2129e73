//! What a live run prints: one status line per second for people, or one JSON line per frame
//! and per event for machines (format `posture.live`, version 1, documented in the README).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::analyze::KeypointRecord;
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
    /// `source_lost` or `source_recovered`.
    pub event: String,
    /// For `source_lost`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `source_recovered`: how long the source was gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl FrameRecord {
    /// The record of one processed frame.
    pub fn new(p: &Processed) -> Self {
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
        }
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
        let person = match self.person_score {
            Some(s) => format!("person seen ({s:.2})"),
            None => "nobody seen".to_owned(),
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
