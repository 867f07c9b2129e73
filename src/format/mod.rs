//! The versioned machine-readable records posture writes and reads (documented in
//! `docs/formats.md`): image analyses, live JSON lines and session files.

pub mod analyze;
pub mod live;
pub mod replay;
pub mod session;

use std::time::Duration;

use serde::Serialize;

/// One keypoint as written in JSON.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct KeypointRecord {
    /// Joint name, e.g. `left_shoulder` (the person's own left).
    pub name: String,
    /// Pixels from the image's left edge.
    pub x_px: f32,
    /// Pixels from the image's top edge.
    pub y_px: f32,
    /// Model confidence 0..1.
    pub score: f32,
}

/// A duration in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
