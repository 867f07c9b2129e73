//! The calibration run's sink: collects the raw metrics of each frame into a
//! [`Calibrator`] for a given span of media time. `posture calibrate` and `posture eval` use it,
//! so both calibrate alike.

use std::io;

use crate::event::Event;
use crate::pose::Pose;
use crate::run::{Flow, FrameUpdate, Sink};
use crate::science::analysis::person_seen;
use crate::science::calibration::Calibrator;
use crate::science::metrics::{PostureMetrics, measure_with};

/// The metrics a calibration takes from one frame: the raw (unsmoothed) metrics when a person
/// is seen (with the pose model's trunk offset, as the analyzer measures them), none otherwise.
pub fn frame_metrics(pose: &Pose, threshold: f32, trunk_offset_deg: f32) -> PostureMetrics {
    if person_seen(pose, threshold) {
        measure_with(pose, threshold, trunk_offset_deg)
    } else {
        PostureMetrics::default()
    }
}

/// Collects a calibration's frames for `duration_secs` of media time from the first frame (or
/// those of a window of media time), then stops the run.
#[derive(Debug)]
pub struct CalibrationSink {
    /// The frames collected so far.
    pub calibrator: Calibrator,
    trunk_offset_deg: f32,
    duration_secs: f64,
    window: Option<(f64, f64)>,
    first_t: Option<f64>,
    used_t: f64,
}

impl CalibrationSink {
    /// Collects `duration_secs` of media time from the first frame on.
    pub fn new(duration_secs: f64) -> Self {
        Self {
            calibrator: Calibrator::new(),
            trunk_offset_deg: 0.0,
            duration_secs,
            window: None,
            first_t: None,
            used_t: 0.0,
        }
    }

    /// Collects the frames from `start_secs` of media time to before `start_secs + duration_secs`
    /// instead, as a clip cut with `ffmpeg -ss START -t DURATION` holds them (at 5 fps, 4 s are 20
    /// frames); times within a millisecond count as equal.
    pub fn window(start_secs: f64, duration_secs: f64) -> Self {
        Self {
            window: Some((start_secs, start_secs + duration_secs)),
            ..Self::new(duration_secs)
        }
    }

    /// Calibrates for pose model `model` (recorded in the baseline), whose trunk offset is
    /// `trunk_offset_deg` (see `Settings::trunk_offset_deg`).
    pub fn for_model(mut self, model: &str, trunk_offset_deg: f32) -> Self {
        self.calibrator = Calibrator::with_model(model);
        self.trunk_offset_deg = trunk_offset_deg;
        self
    }

    /// Media time from the first frame used to the last one.
    pub fn used_secs(&self) -> f64 {
        self.used_t
    }
}

impl Sink for CalibrationSink {
    fn event(&mut self, _: f64, _: &Event) -> io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow> {
        let t = update.t_secs();
        if let Some((from, to)) = self.window {
            if t < from - 1e-3 {
                return Ok(Flow::Continue);
            }
            if t > to - 1e-3 {
                return Ok(Flow::Stop);
            }
        }
        let t0 = *self.first_t.get_or_insert(t);
        if t - t0 > self.duration_secs {
            return Ok(Flow::Stop);
        }
        self.used_t = t - t0;
        self.calibrator.add(&frame_metrics(
            update.pose(),
            update.score_threshold,
            self.trunk_offset_deg,
        ));
        Ok(Flow::Continue)
    }
}
