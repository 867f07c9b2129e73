//! Live JSON lines (format `posture.live`, version 1, documented in `docs/formats.md`): one per
//! analysed frame and one per event.

use crate::event::Event;
use crate::format::KeypointRecord;
use crate::pose::Joint;
use crate::run::pipeline::Processed;
use crate::science::analysis::Analysis;
use crate::science::judge::Band;
use crate::science::metrics::{PostureMetrics, Stance, View};
use serde::Serialize;

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

/// Event JSON line: the event's own fields beside `format`, `version`, `kind` and `t_secs`.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct EventRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// `event`, or `exercise` for exercise events.
    pub kind: String,
    /// Media time of the frame it happened at (for source events: the last frame's).
    pub t_secs: f64,
    /// The event (its `event` field names it).
    #[serde(flatten)]
    pub event: Event,
}

use crate::format::ms;

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
    /// The record of `event` at `t_secs`.
    pub fn new(t_secs: f64, event: &Event) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            kind: event.kind().into(),
            t_secs,
            event: event.clone(),
        }
    }
}
