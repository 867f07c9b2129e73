//! Running a session: the threaded capture → inference pipeline ([`pipeline`]) and the one run
//! loop ([`run`]) that analyses each frame and hands events and frames to the sinks. `monitor`,
//! `demo`, `exercise`, `calibrate` and `replay` all go through [`run`]; a replay feeds it the
//! recorded poses through [`replay`]'s source and estimator, so it runs the very same code.
//!
//! ```text
//! FrameSource ─► pipeline (capture thread ─► inference thread) ─► run loop (caller's thread):
//!     Analyzer::update ─► alert events ─► exercise Engine::feed ─► exercise events
//!     ─► every sink: event(..) for each event, then frame(..)
//! ```

pub mod calibrate;
pub mod pipeline;
pub mod replay;

use std::io;

use crate::event::Event;
use crate::exercise::Engine;
use crate::pose::{Pose, PoseEstimator};
use crate::science::analysis::{Analysis, Analyzer};
use crate::source::FrameSource;

pub use pipeline::{
    EndReason, Flow, PipelineError, PipelineOptions, Processed, RunSummary, StopHandle,
};

/// One analysed frame, as the sinks see it.
#[derive(Debug)]
pub struct FrameUpdate<'a> {
    /// The frame, its pose and timings.
    pub processed: &'a Processed,
    /// The analysis of the frame (metrics, verdict).
    pub analysis: &'a Analysis,
    /// The exercise being done, after this frame.
    pub exercise: Option<&'a Exercise>,
    /// Keypoints scoring below this are not drawn or measured.
    pub score_threshold: f32,
}

impl FrameUpdate<'_> {
    /// The frame's pose.
    pub fn pose(&self) -> &Pose {
        &self.processed.estimate.pose
    }

    /// The frame's media time.
    pub fn t_secs(&self) -> f64 {
        self.processed.frame.t_secs
    }
}

/// Where a run's results go. Each sink gets every event (before the frame it happened at) and
/// every frame, then `finish` once, also when the run failed.
pub trait Sink {
    /// An event at media time `t_secs`.
    ///
    /// # Errors
    /// When the sink cannot write: the run ends with this error.
    fn event(&mut self, t_secs: f64, event: &Event) -> io::Result<()>;

    /// An analysed frame; [`Flow::Stop`] ends the run (a closed window, enough frames).
    ///
    /// # Errors
    /// When the sink cannot write: the run ends with this error.
    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow>;

    /// The run is over: flush and close.
    ///
    /// # Errors
    /// When the last writes fail.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Problems the sink went on without since the last call (a recording that failed); the
    /// loop sends each to every sink as [`Event::Warning`].
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Events the sink raised since the last call (the desk's break suggestions); the loop
    /// sends each to every sink at the frame's time, after the warnings.
    fn take_events(&mut self) -> Vec<Event> {
        Vec::new()
    }
}

/// An exercise being done: its engine and the reps asked; the run stops when they are done.
#[derive(Debug)]
pub struct Exercise {
    /// The rep-validation state machine.
    pub engine: Engine,
    /// Reps asked for.
    pub reps: u32,
}

impl Exercise {
    /// Whether all the reps asked for are done.
    pub fn done(&self) -> bool {
        self.engine.reps().len() as u32 >= self.reps
    }
}

/// How a run treats its source and poses.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Pacing, stale-frame dropping and reconnection.
    pub pipeline: PipelineOptions,
    /// Keypoints scoring below this are not measured.
    pub score_threshold: f32,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Frames captured, analysed, dropped; time; why it ended.
    pub summary: RunSummary,
    /// Media time of the first and last analysed frame.
    pub span_secs: Option<(f64, f64)>,
}

/// The run loop: reads `source` through the pipeline, analyses each frame with `analyzer`, feeds
/// the exercise, and hands events and frames to `sinks` until the source ends, `stop` is set, a
/// sink says stop, or the exercise is done. Every sink is finished, also after an error.
///
/// # Errors
/// [`PipelineError`] from the source, the estimator, or a sink (as [`PipelineError::Caller`]
/// holding its `io::Error`).
pub fn run(
    source: Box<dyn FrameSource>,
    estimator: Box<dyn PoseEstimator>,
    analyzer: &mut Analyzer,
    mut exercise: Option<&mut Exercise>,
    sinks: &mut [&mut dyn Sink],
    options: &RunOptions,
    stop: &StopHandle,
) -> Result<Outcome, PipelineError> {
    let mut span: Option<(f64, f64)> = None;
    let threshold = options.score_threshold;
    let result = pipeline::run(
        source,
        estimator,
        &options.pipeline,
        stop,
        |update| -> io::Result<Flow> {
            match update {
                pipeline::Update::Frame(p) => {
                    let t = p.frame.t_secs;
                    span = Some(span.map_or((t, t), |(t0, _)| (t0, t)));
                    let height = p.frame.resolution().height as f32;
                    let analysis = analyzer.update_in_frame(t, &p.estimate.pose, Some(height));
                    let mut events: Vec<Event> = analysis.alert.iter().cloned().collect();
                    if let Some(message) = &analysis.warning {
                        events.push(Event::Warning {
                            message: message.clone(),
                        });
                    }
                    if let Some(ex) = exercise.as_deref_mut() {
                        events.extend(ex.engine.feed(&analysis, &p.estimate.pose, threshold));
                    }
                    for e in &events {
                        broadcast(sinks, t, e)?;
                    }
                    let frame = FrameUpdate {
                        processed: p,
                        analysis: &analysis,
                        exercise: exercise.as_deref(),
                        score_threshold: threshold,
                    };
                    let mut flow = Flow::Continue;
                    for s in sinks.iter_mut() {
                        if s.frame(&frame)? == Flow::Stop {
                            flow = Flow::Stop;
                        }
                    }
                    pass_on_raised(sinks, t)?;
                    if exercise.as_deref().is_some_and(Exercise::done) {
                        flow = Flow::Stop;
                    }
                    Ok(flow)
                }
                pipeline::Update::Source(e) => {
                    broadcast(sinks, span.map_or(0.0, |s| s.1), e)?;
                    Ok(Flow::Continue)
                }
            }
        },
    );
    let mut finished: io::Result<()> = Ok(());
    for s in sinks.iter_mut() {
        let r = s.finish();
        if finished.is_ok() {
            finished = r;
        }
    }
    let summary = result?;
    finished.map_err(|e| PipelineError::Caller(Box::new(e)))?;
    Ok(Outcome {
        summary,
        span_secs: span,
    })
}

fn broadcast(sinks: &mut [&mut dyn Sink], t_secs: f64, event: &Event) -> io::Result<()> {
    for s in sinks.iter_mut() {
        s.event(t_secs, event)?;
    }
    Ok(())
}

fn pass_on_raised(sinks: &mut [&mut dyn Sink], t_secs: f64) -> io::Result<()> {
    let mut warnings = Vec::new();
    for s in sinks.iter_mut() {
        warnings.extend(s.take_warnings());
    }
    for message in warnings {
        broadcast(sinks, t_secs, &Event::Warning { message })?;
    }
    let mut raised = Vec::new();
    for s in sinks.iter_mut() {
        raised.extend(s.take_events());
    }
    for event in &raised {
        broadcast(sinks, t_secs, event)?;
    }
    Ok(())
}
