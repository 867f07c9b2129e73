//! A synthetic source for tests and benchmarks: a moving pattern at a fixed frame rate, with
//! optional injected failures.

use std::time::{Duration, Instant};

use super::gate::RateGate;
use super::{FrameSource, SourceError};
use crate::frame::{Frame, Resolution};

/// Frames with a moving bar, produced live at `fps` (sleeping like a camera) or as fast as asked.
pub struct SyntheticSource {
    resolution: Resolution,
    fps: f64,
    live: bool,
    limit: Option<u64>,
    produced: u64,
    started: Option<Instant>,
    /// Frames after which reads start failing, and for how many reads.
    failure: Option<(u64, u64)>,
    failed_reads: u64,
    recoverable: bool,
    /// The background, drawn once (a camera costs its driver, not pattern maths).
    background: Vec<u8>,
    /// Consulted before "decoding" (drawing) each frame, like a camera.
    gate: Option<RateGate>,
}

impl SyntheticSource {
    /// A live source of `resolution` at `fps`, endless until `with_limit`.
    pub fn new(resolution: Resolution, fps: f64) -> Self {
        Self {
            resolution,
            fps: fps.max(0.001),
            live: true,
            limit: None,
            produced: 0,
            started: None,
            failure: None,
            failed_reads: 0,
            recoverable: true,
            background: background(resolution),
            gate: None,
        }
    }

    /// Ends the stream after `frames` frames.
    pub fn with_limit(mut self, frames: u64) -> Self {
        self.limit = Some(frames);
        self
    }

    /// Not live: frames come as fast as they are read, with `t_secs = seq / fps`.
    pub fn unpaced(mut self) -> Self {
        self.live = false;
        self
    }

    /// After `after` frames the source fails like an unplugged camera: reads and reconnection
    /// attempts fail `reads` times in all, then reconnecting succeeds and frames flow again
    /// (never, when `recoverable` is false).
    pub fn failing(mut self, after: u64, reads: u64, recoverable: bool) -> Self {
        self.failure = Some((after, reads));
        self.recoverable = recoverable;
        self
    }

    /// Frames delivered so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }
}

fn background(resolution: Resolution) -> Vec<u8> {
    let (w, h) = (resolution.width as usize, resolution.height as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&[(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 60]);
        }
    }
    rgb
}

impl FrameSource for SyntheticSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        if self.limit.is_some_and(|l| self.produced >= l) {
            return Ok(false);
        }
        if let Some((after, reads)) = self.failure
            && self.produced >= after
            && (self.failed_reads < reads || !self.recoverable)
        {
            self.failed_reads += 1;
            return Err(SourceError::Synthetic(format!(
                "read {} failed",
                self.failed_reads
            )));
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let mut t_secs = self.produced as f64 / self.fps;
        if self.live {
            // Sleep until this frame's time, like a camera delivering at its rate; a frame the
            // gate refuses is dropped before it is drawn (a camera's undecoded buffer).
            loop {
                let due = started + Duration::from_secs_f64(t_secs);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if self.gate.as_ref().is_none_or(|g| g.admit(Instant::now())) {
                    break;
                }
                self.produced += 1;
                if self.limit.is_some_and(|l| self.produced >= l) {
                    return Ok(false);
                }
                t_secs = self.produced as f64 / self.fps;
            }
        }
        let w = self.resolution.width as usize;
        let bar = (self.produced as usize * 7) % w.max(1);
        let half = w / 20 + 1;
        let (x0, x1) = (bar.saturating_sub(half - 1), (bar + half).min(w));
        let rgb = frame.resize(self.resolution);
        rgb.copy_from_slice(&self.background);
        for row in rgb.chunks_exact_mut(w.max(1) * 3) {
            row[x0 * 3..x1 * 3].fill(230);
        }
        frame.t_secs = if self.live {
            started.elapsed().as_secs_f64()
        } else {
            t_secs
        };
        self.produced += 1;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("synthetic {} @ {} fps", self.resolution, self.fps)
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn gate_before_decoding(&mut self, gate: &RateGate) -> bool {
        // Only a live source keeps its own time; an unpaced one is gated by the pipeline.
        if self.live {
            self.gate = Some(gate.clone());
        }
        self.live
    }

    fn reconnect(&mut self) -> Result<(), SourceError> {
        match self.failure {
            Some((_, reads)) if self.recoverable && self.failed_reads >= reads => Ok(()),
            Some(_) => {
                self.failed_reads += 1;
                Err(SourceError::Synthetic("still unplugged".into()))
            }
            None => Ok(()),
        }
    }
}
