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
// The library returns errors and events and never prints; it does not panic on bad input.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr,
        clippy::dbg_macro
    )
)]

pub mod bench;
pub mod desk;
pub mod error;
pub mod eval;
pub mod event;
pub mod exercise;
pub mod format;
pub mod frame;
pub mod output;
pub mod pose;
pub mod report;
pub mod run;
pub mod science;
pub mod sink;
pub mod source;

pub use error::{Error, Result};
