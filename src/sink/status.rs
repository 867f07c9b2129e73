//! What a headless run tells a person: a status line once a second (frame rate, latency, drops,
//! verdict), alerts, and an exercise's prompts and counts.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::run::{Flow, FrameUpdate, Sink};

use crate::bench::StageStats;
use crate::run::pipeline::Processed;
use crate::science::analysis::Analysis;
use crate::science::judge::Judgement;

/// Rolling statistics for the status line: frames, latency and drops over the last second.
#[derive(Debug)]
pub struct StatusTracker {
    started: Instant,
    window_start: Instant,
    frames_in_window: u32,
    latencies_ms: Vec<Duration>,
    last_line: String,
    short_line: String,
    dropped: u64,
    person_score: Option<f32>,
    posture: Option<String>,
}

impl StatusTracker {
    /// Starts counting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            window_start: now,
            frames_in_window: 0,
            latencies_ms: Vec::with_capacity(64),
            last_line: String::new(),
            short_line: String::new(),
            dropped: 0,
            person_score: None,
            posture: None,
        }
    }

    /// Counts one processed frame; `person` is whether the analysis saw a person in it.
    pub fn observe(&mut self, p: &Processed, person: bool) {
        self.frames_in_window += 1;
        self.latencies_ms.push(p.latency());
        self.dropped = p.dropped_total;
        self.person_score = person.then(|| p.estimate.pose.mean_score());
    }

    /// Records the latest posture verdict for the status line.
    pub fn set_posture(&mut self, a: &Analysis) {
        self.posture = Some(match (&a.judgement, a.away) {
            (_, true) => "away: scoring paused".to_owned(),
            (
                Judgement::Judged {
                    score,
                    band,
                    reason,
                    ..
                },
                _,
            ) => format!("posture {score:.0} {band:?}: {reason}").to_lowercase(),
            (Judgement::NotJudged { reason }, _) => format!("posture: not judged: {reason}"),
            (Judgement::NoPerson, _) if a.person => "posture: not judged from this view".to_owned(),
            (Judgement::NoPerson, _) => "nobody seen".to_owned(),
        });
    }

    /// The current status line (the last completed second).
    pub fn line(&self) -> &str {
        &self.last_line
    }

    /// A compact status line for the window: fps, median latency, drops.
    pub fn short_line(&self) -> &str {
        &self.short_line
    }

    /// Closes the second when it has passed at `now`, returning the new status line.
    pub fn tick(&mut self, now: Instant) -> Option<&str> {
        let span = now.saturating_duration_since(self.window_start);
        if span < Duration::from_secs(1) {
            return None;
        }
        let fps = f64::from(self.frames_in_window) / span.as_secs_f64();
        let latency = StageStats::from_samples(&self.latencies_ms);
        let person = match (&self.posture, self.person_score) {
            (Some(p), _) => p.clone(),
            (None, Some(s)) => format!("person seen ({s:.2})"),
            (None, None) => "nobody seen".to_owned(),
        };
        self.last_line = format!(
            "{:6.1}s  {:5.1} fps  latency p50 {:3.0} ms p95 {:3.0} ms  dropped {}  {}",
            now.saturating_duration_since(self.started).as_secs_f64(),
            fps,
            latency.p50_ms,
            latency.p95_ms,
            self.dropped,
            person
        );
        self.short_line = format!(
            "{fps:.1} fps  latency {:.0} ms  dropped {}",
            latency.p50_ms, self.dropped
        );
        self.window_start = now;
        self.frames_in_window = 0;
        self.latencies_ms.clear();
        Some(&self.last_line)
    }
}

/// What a person at a terminal sees: a status line once a second (when `lines`), alerts, source
/// losses and warnings on the error stream, and an exercise's prompts, counts and reps.
pub struct StatusSink<O: Write, E: Write> {
    out: O,
    err: E,
    tracker: StatusTracker,
    mode: StatusMode,
    reps_asked: Option<u32>,
}

/// How much a [`StatusSink`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusMode {
    /// Everything, with a status line each second.
    Lines,
    /// Everything but the status lines (a window or a progress bar shows the progress).
    Events,
    /// Only source losses and warnings (machine output is on stdout).
    Quiet,
}

impl<O: Write, E: Write> StatusSink<O, E> {
    /// Writes to `out` (status lines, exercise lines) and `err` (alerts, losses, warnings).
    pub fn new(out: O, err: E, mode: StatusMode) -> Self {
        Self {
            out,
            err,
            tracker: StatusTracker::new(Instant::now()),
            mode,
            reps_asked: None,
        }
    }

    /// Says reps as "rep N of `reps`".
    pub fn with_reps_asked(mut self, reps: u32) -> Self {
        self.reps_asked = Some(reps);
        self
    }
}

impl<O: Write, E: Write> Sink for StatusSink<O, E> {
    fn event(&mut self, _: f64, event: &Event) -> io::Result<()> {
        match event {
            Event::SourceLost { error } => {
                writeln!(
                    self.err,
                    "posture: camera lost ({error}); trying to reconnect"
                )
            }
            Event::SourceRecovered { after_secs } => {
                writeln!(self.err, "posture: camera back after {after_secs:.1} s")
            }
            Event::Warning { message } => writeln!(self.err, "posture: warning: {message}"),
            _ if self.mode == StatusMode::Quiet => Ok(()),
            Event::Alert {
                level,
                reason,
                bad_for_secs,
            } => writeln!(
                self.err,
                "posture: alert (level {level}): {reason} for {bad_for_secs:.0} s"
            ),
            Event::Prompt { prompt, .. } => writeln!(self.out, "posture: {prompt}"),
            Event::Count { count } => writeln!(self.out, "  {count}"),
            Event::Rejected { reason, .. } => {
                writeln!(self.out, "posture: not counted: {reason}")
            }
            Event::Rep {
                number,
                hold_secs,
                mean_score,
                ..
            } => writeln!(
                self.out,
                "posture: rep {number}{} done (held {hold_secs:.1} s{})",
                self.reps_asked
                    .map_or(String::new(), |n| format!(" of {n}")),
                mean_score.map_or(String::new(), |s| format!(", mean score {s:.0}"))
            ),
            Event::Paused => writeln!(self.out, "posture: paused: nobody in view"),
            Event::Resumed => writeln!(self.out, "posture: resumed"),
            Event::AlertCleared { .. }
            | Event::Away
            | Event::Back
            | Event::BreakSuggested { .. }
            | Event::BreakTaken { .. } => Ok(()),
        }
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow> {
        self.tracker
            .observe(update.processed, update.analysis.person);
        self.tracker.set_posture(update.analysis);
        if self.tracker.tick(Instant::now()).is_some() && self.mode == StatusMode::Lines {
            writeln!(self.out, "posture: {}", self.tracker.line())?;
        }
        Ok(Flow::Continue)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}
