//! posture: watches a person through a webcam and tells them how they sit or stand.
//!
//! Data flows one way:
//!
//! ```text
//! image / frame ──► pose::Letterbox ──► pose::OnnxEstimator (tract, MoveNet) ──► pose::Pose
//!   (frame)          (model input)       (stage timings)                          (17 keypoints,
//!                                                                                  frame pixels)
//!                                  ──► analyze (JSON records) / draw (skeleton overlay)
//! ```
//!
//! Geometry, drawing and statistics are pure functions; only `analyze::read_image` and the
//! estimator's model loading touch the file system.
#![deny(missing_docs)]

pub mod analyze;
pub mod bench;
pub mod draw;
pub mod error;
pub mod frame;
pub mod pose;

pub use error::{Error, Result};
