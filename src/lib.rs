//! posture: watches a person through a webcam and tells them how they sit or stand.
//!
//! Data flows one way:
//!
//! ```text
//! image / frame ──► pose::Letterbox ──► pose::OnnxEstimator (tract, MoveNet) ──► pose::Pose
//!   (frame)          (model input)       (stage timings)                          (17 keypoints,
//!                                                                                  frame pixels)
//!                                  ──► analyze (JSON records) / draw (skeleton overlay)
//!
//! Pose ──► smooth (One Euro) ──► metrics (angles, view, stance) ──► judge (score, band, reason;
//!          holds the calibration Baseline) ──► alerts (onset, hysteresis, cooldown, away)
//!          — all in analysis::Analyzer, pure, time comes in with the data
//! ```
//!
//! Live runs (camera, video, image folders, the demo clip) go through one path, [`pipeline::run`]:
//! a capture thread, an inference thread and the caller's thread, over bounded channels that
//! drop stale frames.
//!
//! Geometry, drawing, rendering and statistics are pure functions; sources, the estimator's
//! model loading and the window are the only parts that touch the outside world.
#![deny(missing_docs)]

pub mod alerts;
pub mod analysis;
pub mod analyze;
pub mod bench;
pub mod calibration;
pub mod draw;
pub mod error;
pub mod exercise;
pub mod frame;
pub mod geometry;
pub mod judge;
pub mod live;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod pose;
pub mod render;
pub mod report;
pub mod session;
pub mod smooth;
pub mod source;
pub mod video_out;
#[cfg(feature = "window")]
pub mod window;

pub use error::{Error, Result};
