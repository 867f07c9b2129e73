//! The posture science: pure functions from a pose to angles, a verdict and alerts. Time comes
//! in with the data; nothing here touches the outside world.
//!
//! ```text
//! Pose ──► smooth (One Euro) ──► metrics (angles, view, stance) ──► judge (score, band, reason;
//!          against the calibration Baseline) ──► alerts (onset, hysteresis, cooldown, away)
//!          — all driven by analysis::Analyzer
//! ```

pub mod alerts;
pub mod analysis;
pub mod calibration;
pub mod geometry;
pub mod judge;
pub mod metrics;
pub mod smooth;
