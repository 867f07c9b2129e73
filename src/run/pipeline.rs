//! The live pipeline: a capture thread, an inference thread and the caller's thread, joined by
//! bounded channels.
//!
//! ```text
//! capture ──bounded(1) newest-frame slot──► inference ──bounded(4) updates──► caller (analysis, sinks)
//!    │ (a full slot evicts the older frame: stale frames are dropped and counted)         │
//!    └──────bounded(16) events (camera lost / recovered)───────────────────────────────►  │
//!    ◄──────bounded(8) spent frame buffers, reused──────────────────────────────────────── ┘
//! ```
//!
//! Stopping is out of band ([`StopHandle`]), never a message in the lossy frame slot. Every
//! thread is named and joined; a panicking worker becomes [`PipelineError::WorkerPanicked`].
//! The same path runs cameras, video files, image folders and synthetic sources.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError, bounded, never, select,
};

use crate::event::Event;
use crate::frame::Frame;
use crate::pose::PoseError;
use crate::pose::{Estimate, PoseEstimator};
use crate::source::gate::RateGate;
use crate::source::{FrameSource, SourceError};

/// How often blocked loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Ends a running pipeline from anywhere (Ctrl-C handler, window close, a test).
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the pipeline to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How the pipeline treats its source.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Play files and image folders at their own frame rate, like a camera. Off for offline
    /// analysis (`--as-fast-as-possible`).
    pub pace: bool,
    /// Keep only the newest frame when inference is slower than the source (live use). Off:
    /// every frame is analysed, the source waits (offline analysis).
    pub drop_stale: bool,
    /// How long to keep retrying a live source that fails (camera unplugged) before giving up.
    pub reconnect_for: Duration,
    /// First wait between reconnection attempts; doubles up to 2 s.
    pub reconnect_backoff: Duration,
    /// How often frames are wanted (the desk mode's adaptive rate): the source consults it
    /// before decoding when it can ([`FrameSource::gate_before_decoding`]), otherwise the
    /// capture thread drops the refused frames before inference. `None`: every frame.
    pub gate: Option<RateGate>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            pace: true,
            drop_stale: true,
            reconnect_for: Duration::from_secs(10),
            reconnect_backoff: Duration::from_millis(100),
            gate: None,
        }
    }
}

impl PipelineOptions {
    /// Offline analysis: every frame, unpaced.
    pub fn offline() -> Self {
        Self {
            pace: false,
            drop_stale: false,
            ..Self::default()
        }
    }
}

/// One analysed frame.
#[derive(Debug)]
pub struct Processed {
    /// The frame (its buffer goes back to the capture thread after the caller has seen it).
    pub frame: Frame,
    /// The pose and its stage timings.
    pub estimate: Estimate,
    /// When inference finished.
    pub inferred_at: Instant,
    /// Frames dropped as stale so far.
    pub dropped_total: u64,
}

impl Processed {
    /// Capture → result latency.
    pub fn latency(&self) -> Duration {
        self.inferred_at
            .saturating_duration_since(self.frame.captured_at)
    }
}

/// What the caller's thread receives.
// Rationale: one update per frame, moved once and then borrowed; boxing the frame variant would
// allocate per frame for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Update {
    /// A frame and its pose.
    Frame(Processed),
    /// A source event.
    Source(Event),
}

/// Whether the run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// End the run (e.g. the window was closed).
    Stop,
}

/// Why a run ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The source ran out of frames.
    EndOfStream,
    /// The stop handle was used.
    Stopped,
    /// The caller returned [`Flow::Stop`].
    CallerStopped,
}

/// Counts of a finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Frames read from the source.
    pub captured: u64,
    /// Frames analysed and handed to the caller.
    pub processed: u64,
    /// Frames dropped as stale.
    pub dropped: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Why it ended.
    pub end: EndReason,
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed (and, for a live source, did not come back in time).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Inference failed.
    #[error(transparent)]
    Pose(#[from] PoseError),
    /// A worker thread panicked.
    #[error("the {0} thread panicked (a bug: please report it)")]
    WorkerPanicked(&'static str),
    /// A thread could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Spawn {
        /// Which.
        name: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The caller's handler failed (its own error, kept whole so the caller can still tell what
    /// it was: a closed output pipe, say).
    #[error("{0}")]
    Caller(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl PipelineError {
    /// The caller's own error, when the handler failed.
    pub fn caller_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            PipelineError::Caller(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Sleeps `d` in slices, returning early (false) when stopped.
fn sleep_unless_stopped(d: Duration, stop: &StopHandle) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if stop.is_stopped() {
            return false;
        }
        std::thread::sleep(left.min(POLL));
    }
    !stop.is_stopped()
}

struct Capture {
    source: Box<dyn FrameSource>,
    slot: Sender<Frame>,
    evict: Receiver<Frame>,
    pool: Receiver<Frame>,
    recycle: Sender<Frame>,
    events: Sender<Event>,
    stop: StopHandle,
    options: PipelineOptions,
    dropped: Arc<AtomicU64>,
    captured: Arc<AtomicU64>,
}

impl Capture {
    /// Retries a failed live source with backoff until it reconnects (true), the time is up
    /// (the error), or the run is stopped (false).
    fn recover(&mut self, error: SourceError) -> Result<bool, SourceError> {
        let lost_at = Instant::now();
        let _ = self.events.try_send(Event::SourceLost {
            error: error.to_string(),
        });
        let mut wait = self.options.reconnect_backoff;
        loop {
            if lost_at.elapsed() >= self.options.reconnect_for {
                return Err(error);
            }
            if !sleep_unless_stopped(wait, &self.stop) {
                return Ok(false);
            }
            wait = (wait * 2).min(Duration::from_secs(2));
            if self.source.reconnect().is_ok() {
                let _ = self.events.try_send(Event::SourceRecovered {
                    after_secs: lost_at.elapsed().as_secs_f64(),
                });
                return Ok(true);
            }
        }
    }

    fn run(mut self) -> Result<(), SourceError> {
        let live = self.source.is_live();
        let numbered = self.source.numbers_frames();
        let mut seq = 0u64;
        // Wall clock and media time of the first frame, for pacing files.
        let mut origin: Option<(Instant, f64)> = None;
        // The gate, when the source does not consult it itself before decoding.
        let gate = match &self.options.gate {
            Some(g) if !self.source.gate_before_decoding(g) => Some(g.clone()),
            _ => None,
        };
        loop {
            if self.stop.is_stopped() {
                return Ok(());
            }
            let mut frame = self.pool.try_recv().unwrap_or_default();
            match self.source.read_into(&mut frame) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) if live => {
                    if self.recover(e)? {
                        continue;
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            if self.options.pace && !live {
                let (t0, m0) = *origin.get_or_insert((Instant::now(), frame.t_secs));
                let due = t0 + Duration::from_secs_f64((frame.t_secs - m0).max(0.0));
                if let Some(wait) = due.checked_duration_since(Instant::now())
                    && !sleep_unless_stopped(wait, &self.stop)
                {
                    return Ok(());
                }
            }
            // Media time: a file read as fast as possible is sampled as if played.
            if let Some(g) = &gate
                && !g.admit_media(frame.t_secs)
            {
                let _ = self.recycle.try_send(frame);
                continue;
            }
            if !numbered {
                frame.seq = seq;
            }
            frame.captured_at = Instant::now();
            seq += 1;
            self.captured.fetch_add(1, Ordering::Relaxed);
            if !self.deliver(frame) {
                return Ok(());
            }
        }
    }

    /// Hands the frame on; false when the consumer is gone or the run stopped.
    fn deliver(&mut self, mut frame: Frame) -> bool {
        loop {
            if self.options.drop_stale {
                match self.slot.try_send(frame) {
                    Ok(()) => return true,
                    Err(TrySendError::Full(back)) => {
                        frame = back;
                        // Evict the stale frame so the newest one takes the slot.
                        if let Ok(old) = self.evict.try_recv() {
                            self.dropped.fetch_add(1, Ordering::Relaxed);
                            let _ = self.recycle.try_send(old);
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            } else {
                match self.slot.send_timeout(frame, POLL) {
                    Ok(()) => return true,
                    Err(SendTimeoutError::Timeout(back)) => {
                        if self.stop.is_stopped() {
                            return false;
                        }
                        frame = back;
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return false,
                }
            }
        }
    }
}

fn inference_loop(
    mut estimator: Box<dyn PoseEstimator>,
    frames: Receiver<Frame>,
    updates: Sender<Processed>,
    stop: StopHandle,
    dropped: Arc<AtomicU64>,
) -> Result<(), PoseError> {
    loop {
        let frame = match frames.recv_timeout(POLL) {
            Ok(f) => f,
            Err(RecvTimeoutError::Timeout) if stop.is_stopped() => return Ok(()),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let estimate = estimator.estimate(frame.view()?)?;
        let mut processed = Processed {
            frame,
            estimate,
            inferred_at: Instant::now(),
            dropped_total: dropped.load(Ordering::Relaxed),
        };
        loop {
            match updates.send_timeout(processed, POLL) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) if !stop.is_stopped() => processed = back,
                Err(_) => return Ok(()),
            }
        }
    }
}

fn spawn<T: Send + 'static>(
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, PipelineError> {
    std::thread::Builder::new()
        .name(format!("posture-{name}"))
        .spawn(f)
        .map_err(|source| PipelineError::Spawn { name, source })
}

/// Runs `source` through `estimator`, calling `on_update` on this thread for every analysed
/// frame and source event, until the stream ends, `stop` is used, `on_update` returns
/// [`Flow::Stop`], or an error.
///
/// # Errors
/// A source that fails for good, an inference error, a worker panic, or `on_update`'s error.
pub fn run<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>>(
    source: Box<dyn FrameSource>,
    estimator: Box<dyn PoseEstimator>,
    options: &PipelineOptions,
    stop: &StopHandle,
    mut on_update: impl FnMut(&Update) -> Result<Flow, E>,
) -> Result<RunSummary, PipelineError> {
    let started = Instant::now();
    let (slot_tx, slot_rx) = bounded::<Frame>(1);
    let (update_tx, update_rx) = bounded::<Processed>(4);
    let (event_tx, event_rx) = bounded::<Event>(16);
    let (recycle_tx, pool_rx) = bounded::<Frame>(8);
    let dropped = Arc::new(AtomicU64::new(0));
    let captured = Arc::new(AtomicU64::new(0));

    let capture = Capture {
        source,
        slot: slot_tx,
        evict: slot_rx.clone(),
        pool: pool_rx,
        recycle: recycle_tx.clone(),
        events: event_tx,
        stop: stop.clone(),
        options: options.clone(),
        dropped: Arc::clone(&dropped),
        captured: Arc::clone(&captured),
    };
    let capture_thread = spawn("capture", move || capture.run())?;
    let (stop_i, dropped_i) = (stop.clone(), Arc::clone(&dropped));
    let inference_thread = match spawn("inference", move || {
        inference_loop(estimator, slot_rx, update_tx, stop_i, dropped_i)
    }) {
        Ok(t) => t,
        Err(e) => {
            stop.stop();
            let _ = capture_thread.join();
            return Err(e);
        }
    };

    let mut processed = 0u64;
    let mut events = event_rx;
    let mut end = EndReason::EndOfStream;
    let mut caller_error = None;
    loop {
        if stop.is_stopped() {
            end = EndReason::Stopped;
            break;
        }
        let update = select! {
            recv(update_rx) -> msg => match msg {
                Ok(p) => Update::Frame(p),
                // Inference finished: end of stream, an error, or a stop that reached the
                // workers before this loop saw it (then the run was stopped, not at its end).
                Err(_) => {
                    if stop.is_stopped() {
                        end = EndReason::Stopped;
                    }
                    break;
                }
            },
            recv(events) -> msg => match msg {
                Ok(e) => Update::Source(e),
                Err(_) => { events = never(); continue; }
            },
            default(POLL) => continue,
        };
        let flow = on_update(&update);
        if let Update::Frame(p) = update {
            processed += 1;
            let _ = recycle_tx.try_send(p.frame);
        }
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => {
                end = EndReason::CallerStopped;
                break;
            }
            Err(e) => {
                caller_error = Some(e.into());
                break;
            }
        }
    }
    // Deliver the last source events (e.g. "lost" before giving up).
    while let Ok(e) = events.try_recv() {
        let _ = on_update(&Update::Source(e));
    }
    stop.stop();
    drop(update_rx);
    let inference = inference_thread
        .join()
        .map_err(|_| PipelineError::WorkerPanicked("inference"))?;
    let capture = capture_thread
        .join()
        .map_err(|_| PipelineError::WorkerPanicked("capture"))?;
    if let Some(e) = caller_error {
        return Err(PipelineError::Caller(e));
    }
    inference?;
    capture?;
    Ok(RunSummary {
        captured: captured.load(Ordering::Relaxed),
        processed,
        dropped: dropped.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        end,
    })
}
