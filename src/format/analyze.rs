//! The `posture analyze` record (format `posture.analyze`, version 1, documented in
//! `docs/formats.md`): one JSON record per image. Fields are only ever added.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::format::live::PostureRecord;
use crate::format::{KeypointRecord, ms};
use crate::frame::OwnedImage;
use crate::pose::{Estimate, Joint};
use crate::science::analysis::Analysis;

/// The `format` field of an analyze record.
pub const FORMAT: &str = "posture.analyze";
/// The `version` field of an analyze record.
pub const VERSION: u32 = 1;

/// Per-stage wall time of one image, in milliseconds.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct TimingsRecord {
    /// Reading and decoding the file.
    pub read_image_ms: f64,
    /// Letterbox and conversion into the model input.
    pub letterbox_ms: f64,
    /// The network.
    pub inference_ms: f64,
    /// Output tensor to keypoints in image pixels.
    pub decode_ms: f64,
}

/// The JSON record of one analysed image.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct AnalysisRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The image path as given.
    pub image: String,
    /// Image width.
    pub width_px: u32,
    /// Image height.
    pub height_px: u32,
    /// `lightning`, `thunder` or the model path.
    pub model: String,
    /// sha256 of the model file.
    pub model_sha256: String,
    /// The 17 keypoints in COCO order, in the image's pixel coordinates.
    pub keypoints: Vec<KeypointRecord>,
    /// Stage timings.
    pub timings: TimingsRecord,
    /// The verdict on this image alone (no smoothing, a fresh analysis): view, stance, metrics,
    /// score, band and reason, as in `posture.live`'s `posture` object. Added within version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posture: Option<PostureRecord>,
}

/// The JSON record of an image that could not be analysed.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct FailureRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The image path as given.
    pub image: String,
    /// The error, one line.
    pub error: String,
}

impl AnalysisRecord {
    /// Builds the record of `image` at `path` from its estimate.
    pub fn new(
        path: &Path,
        image: &OwnedImage,
        model: (&str, &str),
        estimate: &Estimate,
        read_image: Duration,
    ) -> Self {
        let keypoints = Joint::ALL
            .into_iter()
            .map(|j| {
                let k = estimate.pose.get(j);
                KeypointRecord {
                    name: j.name().to_owned(),
                    x_px: k.x_px,
                    y_px: k.y_px,
                    score: k.score,
                }
            })
            .collect();
        let t = &estimate.timings;
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            image: path.display().to_string(),
            width_px: image.resolution().width,
            height_px: image.resolution().height,
            model: model.0.to_owned(),
            model_sha256: model.1.to_owned(),
            keypoints,
            timings: TimingsRecord {
                read_image_ms: ms(read_image),
                letterbox_ms: ms(t.letterbox),
                inference_ms: ms(t.inference),
                decode_ms: ms(t.decode),
            },
            posture: None,
        }
    }

    /// The record with the image's verdict.
    pub fn with_posture(mut self, analysis: &Analysis) -> Self {
        self.posture = Some(PostureRecord::new(analysis));
        self
    }
}

impl FailureRecord {
    /// The record of `path` failing with `error`.
    pub fn new(path: &Path, error: &dyn std::fmt::Display) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            image: path.display().to_string(),
            error: error.to_string(),
        }
    }
}
