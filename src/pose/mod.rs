//! Poses: the 17 COCO keypoints, the estimator trait, and MoveNet through tract.

pub mod kernels;
pub mod letterbox;
pub mod model;
pub mod onnx;
pub mod tracking;

use std::path::PathBuf;
use std::time::Duration;

use crate::frame::{FrameError, ImageView};

pub use letterbox::{Crop, Letterbox};
pub use model::{Engine, ModelSpec};
pub use onnx::{OnnxEstimator, OnnxOptions, OpProfile};
pub use tracking::{CropMode, TrackingEstimator, TrackingOptions, TrackingStats};

/// A body keypoint, in MoveNet's (COCO-17) output order. "Left" is the person's own left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
#[allow(missing_docs)]
pub enum Joint {
    Nose = 0,
    LeftEye,
    RightEye,
    LeftEar,
    RightEar,
    LeftShoulder,
    RightShoulder,
    LeftElbow,
    RightElbow,
    LeftWrist,
    RightWrist,
    LeftHip,
    RightHip,
    LeftKnee,
    RightKnee,
    LeftAnkle,
    RightAnkle,
}

impl Joint {
    /// Number of keypoints.
    pub const COUNT: usize = 17;

    /// All joints in output order.
    #[rustfmt::skip]
    pub const ALL: [Joint; Joint::COUNT] = [
        Joint::Nose, Joint::LeftEye, Joint::RightEye, Joint::LeftEar, Joint::RightEar,
        Joint::LeftShoulder, Joint::RightShoulder, Joint::LeftElbow, Joint::RightElbow,
        Joint::LeftWrist, Joint::RightWrist, Joint::LeftHip, Joint::RightHip,
        Joint::LeftKnee, Joint::RightKnee, Joint::LeftAnkle, Joint::RightAnkle,
    ];

    /// The snake_case name used in JSON output, e.g. `left_shoulder`.
    pub const fn name(self) -> &'static str {
        match self {
            Joint::Nose => "nose",
            Joint::LeftEye => "left_eye",
            Joint::RightEye => "right_eye",
            Joint::LeftEar => "left_ear",
            Joint::RightEar => "right_ear",
            Joint::LeftShoulder => "left_shoulder",
            Joint::RightShoulder => "right_shoulder",
            Joint::LeftElbow => "left_elbow",
            Joint::RightElbow => "right_elbow",
            Joint::LeftWrist => "left_wrist",
            Joint::RightWrist => "right_wrist",
            Joint::LeftHip => "left_hip",
            Joint::RightHip => "right_hip",
            Joint::LeftKnee => "left_knee",
            Joint::RightKnee => "right_knee",
            Joint::LeftAnkle => "left_ankle",
            Joint::RightAnkle => "right_ankle",
        }
    }

    /// The joint named `name` (as [`Joint::name`] spells it).
    pub fn from_name(name: &str) -> Option<Joint> {
        Joint::ALL.into_iter().find(|j| j.name() == name)
    }

    /// Whether this is a joint of the person's left side.
    pub fn is_left(self) -> bool {
        self.name().starts_with("left_")
    }

    /// Whether this is a joint of the person's right side.
    pub fn is_right(self) -> bool {
        self.name().starts_with("right_")
    }
}

/// The bones drawn between keypoints: face, arms, torso, legs.
#[rustfmt::skip]
pub const BONES: [(Joint, Joint); 16] = [
    (Joint::LeftEar, Joint::LeftEye), (Joint::LeftEye, Joint::Nose),
    (Joint::Nose, Joint::RightEye), (Joint::RightEye, Joint::RightEar),
    (Joint::LeftShoulder, Joint::LeftElbow), (Joint::LeftElbow, Joint::LeftWrist),
    (Joint::RightShoulder, Joint::RightElbow), (Joint::RightElbow, Joint::RightWrist),
    (Joint::LeftShoulder, Joint::RightShoulder), (Joint::LeftShoulder, Joint::LeftHip),
    (Joint::RightShoulder, Joint::RightHip), (Joint::LeftHip, Joint::RightHip),
    (Joint::LeftHip, Joint::LeftKnee), (Joint::LeftKnee, Joint::LeftAnkle),
    (Joint::RightHip, Joint::RightKnee), (Joint::RightKnee, Joint::RightAnkle),
];

/// The keypoint score below which a keypoint is treated as not seen (MoveNet's suggested 0.3).
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.3;

/// One keypoint in the original image's pixel coordinates.
///
/// Coordinates are continuous: (0, 0) is the top-left corner of the image and the centre of the
/// top-left pixel is (0.5, 0.5).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Keypoint {
    /// Horizontal position, pixels from the left edge.
    pub x_px: f32,
    /// Vertical position, pixels from the top edge.
    pub y_px: f32,
    /// The model's confidence, 0..1.
    pub score: f32,
}

/// One person's 17 keypoints, indexed by [`Joint`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pose {
    /// Keypoints in [`Joint`] order.
    pub keypoints: [Keypoint; Joint::COUNT],
}

impl Pose {
    /// The keypoint of `joint`.
    pub fn get(&self, joint: Joint) -> Keypoint {
        self.keypoints[joint as usize]
    }

    /// The keypoint of `joint` when its score reaches `threshold`.
    pub fn visible(&self, joint: Joint, threshold: f32) -> Option<Keypoint> {
        let k = self.get(joint);
        (k.score >= threshold).then_some(k)
    }

    /// Mean score over all keypoints.
    pub fn mean_score(&self) -> f32 {
        self.keypoints.iter().map(|k| k.score).sum::<f32>() / Joint::COUNT as f32
    }
}

/// Time spent in each stage of one estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Letterbox and conversion into the model's input tensor.
    pub letterbox: Duration,
    /// The network itself.
    pub inference: Duration,
    /// Reading the output tensor into keypoints in image pixels.
    pub decode: Duration,
}

impl StageTimings {
    /// Sum of the stages.
    pub fn total(&self) -> Duration {
        self.letterbox + self.inference + self.decode
    }
}

/// A pose with the time each stage took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    /// The keypoints, in the input image's pixels.
    pub pose: Pose,
    /// Per-stage timings.
    pub timings: StageTimings,
}

/// Loading or running the pose model.
#[derive(Debug, thiserror::Error)]
pub enum PoseError {
    /// The model file could not be read.
    #[error(
        "cannot read pose model {path}: {source}; pass --model lightning, thunder or the path of a MoveNet .onnx file"
    )]
    ModelRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a usable MoveNet ONNX model.
    #[error(
        "pose model {name} is not a usable MoveNet SinglePose ONNX model ({reason}); pass --model lightning, thunder or the path of a MoveNet .onnx file"
    )]
    ModelInvalid {
        /// The file or built-in name.
        name: String,
        /// What is wrong, from the loader.
        reason: String,
    },
    /// A thread pool for `--threads` could not be made.
    #[error("cannot start {threads} inference threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// Why not.
        reason: String,
    },
    /// The kernel family asked for (`--kernels` or `POSTURE_KERNELS`) cannot run.
    #[error("kernel family (--kernels or POSTURE_KERNELS): {0}")]
    Kernels(#[from] kernels::ops::KernelError),
    /// Running the network failed.
    #[error("pose inference failed: {0}")]
    Inference(String),
    /// The frame is unusable.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A replay's estimator was asked for a pose it does not have.
    #[error("replay failed: {0}")]
    Replay(String),
}

/// Turns an image into a pose. One implementation runs MoveNet ([`OnnxEstimator`]); tests and
/// replays can supply others.
pub trait PoseEstimator: Send {
    /// Estimates the pose of the person in `image`.
    ///
    /// # Errors
    /// When the model cannot run on the image.
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError>;

    /// Estimates the pose of the person in the square `crop` of `image` (what lies outside the
    /// frame is black), with the keypoints in `image`'s pixels.
    ///
    /// The default copies the crop into an image of its own, estimates on it and moves the
    /// keypoints back by the crop's corner (exact: whole pixels). [`OnnxEstimator`] letterboxes
    /// the crop straight from the frame instead.
    ///
    /// # Errors
    /// As [`PoseEstimator::estimate`].
    fn estimate_crop(&mut self, image: ImageView<'_>, crop: Crop) -> Result<Estimate, PoseError> {
        let copy = tracking::copy_crop(image, crop)?;
        let mut estimate = self.estimate(copy.view())?;
        for k in &mut estimate.pose.keypoints {
            let (x, y) = crop.frame_from_crop(f64::from(k.x_px), f64::from(k.y_px));
            (k.x_px, k.y_px) = (x as f32, y as f32);
        }
        Ok(estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_names_round_trip_and_sides_are_consistent() {
        for (i, j) in Joint::ALL.into_iter().enumerate() {
            assert_eq!(j as usize, i);
            assert_eq!(Joint::from_name(j.name()), Some(j));
            assert!(!(j.is_left() && j.is_right()));
        }
        assert_eq!(Joint::ALL.iter().filter(|j| j.is_left()).count(), 8);
        assert_eq!(Joint::ALL.iter().filter(|j| j.is_right()).count(), 8);
    }
}
