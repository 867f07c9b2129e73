//! The desk loop: the one run loop ([`crate::run::run`]) in segments. A segment opens the
//! source and runs until the source ends, the run is quit, or it is paused (or the screen
//! locked): then the source is dropped — the camera closed, its light off — and the loop waits.
//! A camera that cannot be opened (held by a video call) or that fails for good is retried
//! quietly, once a minute.
//!
//! ```text
//! loop: quit? ─► end
//!       paused / locked? ─► state Paused / ScreenLocked, wait for a change or the pause's end
//!       open source ─► busy? state CameraBusy, wait a minute
//!       run::run(source, ...) with a stop handle a watcher thread sets on pause / lock / quit
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::desk::control::{DeskControl, unix_now};
use crate::frame::ImageView;
use crate::pose::{Estimate, PoseError, PoseEstimator};
use crate::run::{self, EndReason, PipelineError, RunOptions, Sink, StopHandle};
use crate::science::analysis::Analyzer;
use crate::source::{FrameSource, SourceError};

/// What the desk loop is doing, for the tray and the terminal.
#[derive(Clone, Debug, PartialEq)]
pub enum DeskState {
    /// Watching this source.
    Watching {
        /// The source, described.
        source: String,
    },
    /// Paused: the camera is closed.
    Paused {
        /// Until when (Unix seconds); `None`: until resumed.
        until_unix: Option<f64>,
    },
    /// The screen is locked: the camera is closed.
    ScreenLocked,
    /// The camera cannot be opened or failed; retried every so often.
    CameraBusy {
        /// What the camera said.
        error: String,
    },
}

/// Why a source could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Busy or missing for now (a camera held by a video call): tried again later.
    Busy(String),
    /// For good (a missing video file): the desk run ends with it.
    Fatal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<SourceError> for OpenError {
    fn from(e: SourceError) -> Self {
        if retryable(&e) {
            OpenError::Busy(e.to_string())
        } else {
            OpenError::Fatal(Box::new(e))
        }
    }
}

/// What the desk loop asks of its caller.
pub trait DeskHooks {
    /// Opens the source for a new segment.
    ///
    /// # Errors
    /// [`OpenError::Busy`] is retried every [`DeskOptions::retry_every`]; a fatal error ends
    /// the desk run.
    fn open(&mut self) -> Result<Box<dyn FrameSource>, OpenError>;

    /// The loop's state changed.
    fn state(&mut self, state: &DeskState);

    /// A segment is about to start with `analyzer`: the caller may replace it (a new
    /// calibration was recorded while paused).
    fn before_segment(&mut self, _analyzer: &mut Analyzer) {}
}

/// How the desk loop runs.
#[derive(Clone, Debug)]
pub struct DeskOptions {
    /// Each segment's run options (its pipeline's gate carries the adaptive rate).
    pub run: RunOptions,
    /// How often a busy or lost camera is tried again.
    pub retry_every: Duration,
}

/// Why the desk run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeskEnd {
    /// Quit (Ctrl-C, the tray, the control socket).
    Quit,
    /// A file or image source ran out.
    EndOfStream,
    /// A sink ended it (a closed window).
    SinkStopped,
}

/// A finished desk run.
#[derive(Clone, Debug, PartialEq)]
pub struct DeskOutcome {
    /// Why it ended.
    pub end: DeskEnd,
    /// Segments run (sources opened).
    pub segments: u32,
    /// Frames captured over all segments.
    pub captured: u64,
    /// Frames analysed over all segments.
    pub analysed: u64,
}

/// One estimator shared by the segments (the model is loaded once).
#[derive(Clone)]
pub struct SharedEstimator(Arc<Mutex<Box<dyn PoseEstimator>>>);

impl SharedEstimator {
    /// Shares `estimator`.
    pub fn new(estimator: Box<dyn PoseEstimator>) -> Self {
        Self(Arc::new(Mutex::new(estimator)))
    }
}

impl PoseEstimator for SharedEstimator {
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .estimate(image)
    }
}

fn retryable(e: &SourceError) -> bool {
    matches!(e, SourceError::NoCamera { .. } | SourceError::CameraLost(_))
}

/// Waits until the control changes or `timeout` passes.
fn wait(control: &DeskControl, timeout: Duration) {
    let g = control.generation();
    control.wait(g, timeout);
}

/// Runs the desk loop until quit or the end of a file source.
///
/// # Errors
/// A fatal [`OpenError`] (as [`PipelineError::Caller`]), a source error that is not a busy or
/// lost camera, an inference error, a sink's error.
pub fn run(
    hooks: &mut dyn DeskHooks,
    estimator: &SharedEstimator,
    analyzer: &mut Analyzer,
    sinks: &mut [&mut dyn Sink],
    options: &DeskOptions,
    control: &DeskControl,
) -> Result<DeskOutcome, PipelineError> {
    let mut outcome = DeskOutcome {
        end: DeskEnd::Quit,
        segments: 0,
        captured: 0,
        analysed: 0,
    };
    let mut last: Option<DeskState> = None;
    let mut say = |state: DeskState, hooks: &mut dyn DeskHooks| {
        if last.as_ref() != Some(&state) {
            hooks.state(&state);
            last = Some(state);
        }
    };
    loop {
        if control.is_quit() {
            return Ok(outcome);
        }
        let now = unix_now();
        if let Some(p) = control.paused(now) {
            say(
                DeskState::Paused {
                    until_unix: p.until_unix,
                },
                hooks,
            );
            let left = p.until_unix.map_or(60.0, |u| (u - now).clamp(0.01, 60.0));
            wait(control, Duration::from_secs_f64(left));
            continue;
        }
        if control.screen_locked() {
            say(DeskState::ScreenLocked, hooks);
            wait(control, Duration::from_secs(60));
            continue;
        }
        let source = match hooks.open() {
            Ok(s) => s,
            Err(OpenError::Busy(error)) => {
                say(DeskState::CameraBusy { error }, hooks);
                wait(control, options.retry_every);
                continue;
            }
            Err(OpenError::Fatal(e)) => return Err(PipelineError::Caller(e)),
        };
        let live = source.is_live();
        hooks.before_segment(analyzer);
        say(
            DeskState::Watching {
                source: source.describe(),
            },
            hooks,
        );
        outcome.segments += 1;
        let stop = StopHandle::new();
        let watcher = {
            let (stop, control) = (stop.clone(), control.clone());
            std::thread::Builder::new()
                .name("posture-desk-watch".into())
                .spawn(move || {
                    let mut g = control.generation();
                    while !stop.is_stopped() {
                        if control.is_quit()
                            || control.paused(unix_now()).is_some()
                            || control.screen_locked()
                        {
                            stop.stop();
                            return;
                        }
                        g = control.wait(g, Duration::from_millis(200));
                    }
                })
                .map_err(|source| PipelineError::Spawn {
                    name: "desk-watch",
                    source,
                })?
        };
        let result = run::run(
            source,
            Box::new(estimator.clone()),
            analyzer,
            None,
            sinks,
            &options.run,
            &stop,
        );
        stop.stop();
        watcher
            .join()
            .map_err(|_| PipelineError::WorkerPanicked("desk-watch"))?;
        match result {
            Ok(o) => {
                outcome.captured += o.summary.captured;
                outcome.analysed += o.summary.processed;
                match o.summary.end {
                    EndReason::EndOfStream if !live => {
                        outcome.end = DeskEnd::EndOfStream;
                        return Ok(outcome);
                    }
                    EndReason::CallerStopped => {
                        outcome.end = DeskEnd::SinkStopped;
                        return Ok(outcome);
                    }
                    // Stopped: quit, paused or locked, seen at the top of the loop. A live
                    // source that ended is opened again.
                    _ => {}
                }
            }
            Err(PipelineError::Source(e)) if live && retryable(&e) => {
                say(
                    DeskState::CameraBusy {
                        error: e.to_string(),
                    },
                    hooks,
                );
                wait(control, options.retry_every);
            }
            Err(e) => return Err(e),
        }
    }
}
