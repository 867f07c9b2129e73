//! The run loop with a fake source, a fake estimator and a recording sink: no model, no threads
//! beyond the loop's own. Frames and events arrive in order, events before the frame they
//! happened at; the exercise is counted; every sink is finished once, also when one fails.

use std::io;

use posture::desk::scripted::side_pose;
use posture::error::PoseError;
use posture::event::Event;
use posture::exercise::{Definition, Engine};
use posture::frame::{Frame, ImageView, Resolution};
use posture::pose::{Estimate, Pose, PoseEstimator};
use posture::run::{
    self, EndReason, Exercise, Flow, FrameUpdate, PipelineError, PipelineOptions, RunOptions, Sink,
    StopHandle,
};
use posture::science::analysis::{Analyzer, Settings};
use posture::source::{FrameSource, SourceError};

const FPS: f64 = 10.0;

/// What the fake person does at `t`: sit tall, slouch, or be gone.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Doing {
    Tall,
    Slouch,
    Gone,
}

/// Tall 0–2 s, slouched 2–3 s, tall 3–5 s, slouched 5–6 s, gone 6–7 s.
fn script(t: f64) -> Doing {
    match t {
        t if t < 2.0 => Doing::Tall,
        t if t < 3.0 => Doing::Slouch,
        t if t < 5.0 => Doing::Tall,
        t if t < 6.0 => Doing::Slouch,
        _ => Doing::Gone,
    }
}
const FRAMES: u64 = 70;

/// Tiny frames at [`FPS`], numbered by the pipeline, `FRAMES` of them.
struct FakeSource {
    next: u64,
}

impl FrameSource for FakeSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        if self.next == FRAMES {
            return Ok(false);
        }
        // The time goes into the first pixel's bytes so the estimator can read the script.
        frame.resize(Resolution::new(2, 2)).fill(self.next as u8);
        frame.t_secs = self.next as f64 / FPS;
        self.next += 1;
        Ok(true)
    }
    fn describe(&self) -> String {
        "fake".into()
    }
    fn fps(&self) -> f64 {
        FPS
    }
    fn is_live(&self) -> bool {
        false
    }
}

/// The scripted pose for the frame whose number is in its pixels.
struct FakeEstimator;

impl PoseEstimator for FakeEstimator {
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
        let t = f64::from(image.data()[0]) / FPS;
        let pose = match script(t) {
            Doing::Tall => side_pose(0.0, 5.0),
            Doing::Slouch => side_pose(45.0, 80.0),
            Doing::Gone => Pose::default(),
        };
        Ok(Estimate {
            pose,
            timings: Default::default(),
        })
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Frame { seq: u64, t: f64 },
    Event { t: f64, event: Event },
}

/// Keeps everything it is given; stops after `stop_after` frames, or fails at that frame.
#[derive(Default)]
struct RecordingSink {
    seen: Vec<Seen>,
    finished: u32,
    stop_after: Option<usize>,
    fail_after: Option<usize>,
}

impl RecordingSink {
    fn frames(&self) -> usize {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Frame { .. }))
            .count()
    }
    fn events(&self) -> Vec<&Event> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Event { event, .. } => Some(event),
                _ => None,
            })
            .collect()
    }
}

impl Sink for RecordingSink {
    fn event(&mut self, t: f64, event: &Event) -> io::Result<()> {
        self.seen.push(Seen::Event {
            t,
            event: event.clone(),
        });
        Ok(())
    }
    fn frame(&mut self, u: &FrameUpdate<'_>) -> io::Result<Flow> {
        self.seen.push(Seen::Frame {
            seq: u.processed.frame.seq,
            t: u.t_secs(),
        });
        let n = self.frames();
        if self.fail_after == Some(n) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader gone"));
        }
        Ok(if self.stop_after == Some(n) {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
    fn finish(&mut self) -> io::Result<()> {
        self.finished += 1;
        Ok(())
    }
}

fn exercise() -> Exercise {
    let def = Definition::parse(
        r#"
name = "tall-test"
description = "sit tall for a second, then slouch"
[[phases]]
name = "hold"
prompt = "Sit tall"
hold_secs = 1.0
counted = true
conditions = [{ metric = "score", min = 70.0, broken = "posture dropped" }]
[[phases]]
name = "relax"
prompt = "Relax"
hold_secs = 0.3
conditions = [{ metric = "score", max = 70.0 }]
"#,
        "tall-test.toml",
    )
    .unwrap();
    Exercise {
        engine: Engine::new(def),
        reps: 5,
    }
}

fn analyzer() -> Analyzer {
    let mut settings = Settings::default();
    settings.alerts.onset_secs = 0.5;
    settings.alerts.away_after_secs = 0.5;
    Analyzer::new(0.3, settings, None)
}

fn options() -> RunOptions {
    RunOptions {
        pipeline: PipelineOptions::offline(),
        score_threshold: 0.3,
    }
}

#[test]
fn the_run_loop_hands_frames_and_events_in_order_counts_the_exercise_and_finishes_each_sink_once() {
    let mut sink = RecordingSink::default();
    let mut other = RecordingSink::default();
    let mut ex = exercise();
    let outcome = run::run(
        Box::new(FakeSource { next: 0 }),
        Box::new(FakeEstimator),
        &mut analyzer(),
        Some(&mut ex),
        &mut [&mut sink, &mut other],
        &options(),
        &StopHandle::new(),
    )
    .unwrap();
    assert_eq!(outcome.summary.end, EndReason::EndOfStream);
    assert_eq!(outcome.summary.processed, FRAMES);
    assert_eq!(outcome.span_secs, Some((0.0, (FRAMES - 1) as f64 / FPS)));
    assert_eq!((sink.finished, other.finished), (1, 1));
    assert_eq!(sink.seen, other.seen, "every sink sees the same run");

    // Frames in order, every one of them.
    let seqs: Vec<u64> = sink
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Frame { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, (0..FRAMES).collect::<Vec<_>>());
    // Each event comes just before the frame it happened at.
    for (i, s) in sink.seen.iter().enumerate() {
        if let Seen::Event { t, event } = s {
            let next_frame = sink.seen[i + 1..].iter().find_map(|n| match n {
                Seen::Frame { t, .. } => Some(*t),
                _ => None,
            });
            assert_eq!(next_frame, Some(*t), "{event:?} at {t} before its frame");
        }
    }

    // The exercise: two holds of a second, each followed by a slouch, are two reps.
    let events = sink.events();
    let reps: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Rep { number, .. } => Some(*number),
            _ => None,
        })
        .collect();
    assert_eq!(reps, [1, 2], "{events:?}");
    assert_eq!(ex.engine.reps().len(), 2);
    assert!(matches!(events[0], Event::Prompt { .. }), "{events:?}");
    // The slouches raise an alert that clears; leaving pauses the exercise and is "away".
    let at = |want: fn(&Event) -> bool| events.iter().position(|e| want(e));
    let alert = at(|e| matches!(e, Event::Alert { .. })).expect("an alert");
    let cleared = at(|e| matches!(e, Event::AlertCleared { .. })).expect("cleared");
    assert!(alert < cleared);
    assert!(at(|e| matches!(e, Event::Paused)).is_some(), "{events:?}");
    assert!(at(|e| matches!(e, Event::Away)).is_some(), "{events:?}");
}

#[test]
fn a_sink_saying_stop_ends_the_run_and_a_failing_sink_ends_it_with_its_error_all_finished() {
    let mut stopper = RecordingSink {
        stop_after: Some(10),
        ..Default::default()
    };
    let mut watcher = RecordingSink::default();
    let outcome = run::run(
        Box::new(FakeSource { next: 0 }),
        Box::new(FakeEstimator),
        &mut analyzer(),
        None,
        &mut [&mut stopper, &mut watcher],
        &options(),
        &StopHandle::new(),
    )
    .unwrap();
    assert_eq!(outcome.summary.end, EndReason::CallerStopped);
    assert_eq!((stopper.frames(), watcher.frames()), (10, 10));
    assert_eq!((stopper.finished, watcher.finished), (1, 1));

    let mut failing = RecordingSink {
        fail_after: Some(5),
        ..Default::default()
    };
    let mut watcher = RecordingSink::default();
    let err = run::run(
        Box::new(FakeSource { next: 0 }),
        Box::new(FakeEstimator),
        &mut analyzer(),
        None,
        &mut [&mut failing, &mut watcher],
        &options(),
        &StopHandle::new(),
    )
    .unwrap_err();
    match &err {
        PipelineError::Caller(e) => {
            let io = e.downcast_ref::<io::Error>().expect("the sink's io::Error");
            assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((failing.finished, watcher.finished), (1, 1));
}
