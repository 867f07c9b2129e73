//! The threaded pipeline on synthetic and recorded sources, with fake estimators: newest-frame
//! delivery, drops, buffer reuse, shutdown, end of stream, a camera lost and found, panics.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use posture::error::PoseError;
use posture::event::Event;
use posture::frame::{ImageView, Resolution};
use posture::pose::{Estimate, PoseEstimator};
use posture::run::pipeline::{
    self, EndReason, Flow, PipelineError, PipelineOptions, StopHandle, Update,
};
use posture::source::FrameSource;
use posture::source::synthetic::SyntheticSource;

/// An estimator that takes `work` per frame (a deliberately slow consumer).
struct SlowEstimator {
    work: Duration,
}

impl PoseEstimator for SlowEstimator {
    fn estimate(&mut self, _: ImageView<'_>) -> Result<Estimate, PoseError> {
        let t0 = Instant::now();
        std::thread::sleep(self.work);
        let mut e = Estimate::default();
        e.timings.inference = t0.elapsed();
        Ok(e)
    }
}

/// Runs a slow estimator on `source` for `stop_after`; returns (seq, latency, work, buffer
/// address) per analysed frame.
fn run_slow(
    source: SyntheticSource,
    work: Duration,
    stop_after: Duration,
) -> (Vec<(u64, Duration, Duration, usize)>, pipeline::RunSummary) {
    let est = SlowEstimator { work };
    let stop = StopHandle::new();
    let started = Instant::now();
    let mut got = Vec::new();
    let summary = pipeline::run(
        Box::new(source),
        Box::new(est),
        &PipelineOptions::default(),
        &stop,
        |u| -> Result<Flow, String> {
            if let Update::Frame(p) = u {
                // Age of the frame when inference finished, and the inference time itself.
                let latency = p.latency();
                got.push((
                    p.frame.seq,
                    latency,
                    p.estimate.timings.total(),
                    p.frame.rgb().as_ptr() as usize,
                ));
            }
            Ok(if started.elapsed() >= stop_after {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )
    .expect("the run succeeds");
    (got, summary)
}

#[test]
fn a_slow_consumer_always_gets_the_newest_frame_and_drops_are_counted() {
    let interval = Duration::from_secs_f64(1.0 / 30.0);
    let work = Duration::from_millis(100);
    let (got, summary) = run_slow(
        SyntheticSource::new(Resolution::new(64, 48), 30.0),
        work,
        Duration::from_millis(2500),
    );
    assert!(got.len() >= 10, "{} frames analysed", got.len());
    for &(seq, latency, measured_work, _) in &got {
        // A frame waits at most one frame interval before pickup (a newer one would replace it),
        // then the work: latency <= interval + work. The slack covers thread wake-ups on a busy
        // 2-core machine; a queue of even one stale frame would add a whole 100 ms of work.
        assert!(
            latency <= interval + measured_work + Duration::from_millis(60),
            "frame {seq}: latency {latency:?}, work {measured_work:?}"
        );
    }
    // The consumer skips frames: sequence numbers jump by about work / interval = 3.
    let gaps: Vec<u64> = got.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|&g| g >= 1), "in order: {gaps:?}");
    let mean_gap = gaps.iter().sum::<u64>() as f64 / gaps.len() as f64;
    assert!(mean_gap > 2.0, "mean gap {mean_gap}");
    // Every frame is either analysed, dropped, or was in flight when the run stopped.
    let accounted = summary.processed + summary.dropped;
    assert!(
        summary.captured >= accounted && summary.captured - accounted <= 3,
        "{summary:?}"
    );
    assert!(summary.dropped > summary.processed, "{summary:?}");
    // Memory does not grow: the frames reuse a small, fixed set of buffers.
    let buffers: HashSet<usize> = got.iter().map(|g| g.3).collect();
    assert!(
        buffers.len() <= 12,
        "{} distinct frame buffers",
        buffers.len()
    );
}

#[test]
fn the_stop_handle_ends_a_running_pipeline_within_half_a_second() {
    let stop = StopHandle::new();
    let remote = stop.clone();
    let est = SlowEstimator {
        work: Duration::from_millis(30),
    };
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        remote.stop();
        Instant::now()
    });
    let result = pipeline::run(
        Box::new(SyntheticSource::new(Resolution::new(32, 24), 30.0)),
        Box::new(est),
        &PipelineOptions::default(),
        &stop,
        |_| -> Result<Flow, String> { Ok(Flow::Continue) },
    );
    let returned = Instant::now();
    let stopped_at = stopper.join().unwrap();
    let summary = result.unwrap();
    assert_eq!(summary.end, EndReason::Stopped);
    assert!(
        returned.duration_since(stopped_at) <= Duration::from_millis(500),
        "took {:?}",
        returned.duration_since(stopped_at)
    );
    assert!(summary.processed > 3);
}

#[test]
fn the_end_of_a_stream_ends_the_run_and_offline_mode_analyses_every_frame() {
    let est = SlowEstimator {
        work: Duration::from_millis(2),
    };
    let source = SyntheticSource::new(Resolution::new(32, 24), 30.0)
        .with_limit(50)
        .unpaced();
    let mut seqs = Vec::new();
    let summary = pipeline::run(
        Box::new(source),
        Box::new(est),
        &PipelineOptions::offline(),
        &StopHandle::new(),
        |u| -> Result<Flow, String> {
            if let Update::Frame(p) = u {
                seqs.push(p.frame.seq);
            }
            Ok(Flow::Continue)
        },
    )
    .unwrap();
    assert_eq!(summary.end, EndReason::EndOfStream);
    assert_eq!(
        (summary.captured, summary.processed, summary.dropped),
        (50, 50, 0)
    );
    assert_eq!(seqs, (0..50).collect::<Vec<_>>());
}

fn events_of(
    source: SyntheticSource,
    reconnect_for: Duration,
) -> (
    Vec<String>,
    u64,
    Result<pipeline::RunSummary, PipelineError>,
) {
    let est = SlowEstimator {
        work: Duration::from_millis(1),
    };
    let options = PipelineOptions {
        reconnect_for,
        reconnect_backoff: Duration::from_millis(20),
        ..PipelineOptions::default()
    };
    let mut events = Vec::new();
    let mut frames = 0;
    let result = pipeline::run(
        Box::new(source),
        Box::new(est),
        &options,
        &StopHandle::new(),
        |u| -> Result<Flow, String> {
            match u {
                Update::Frame(_) => frames += 1,
                Update::Source(Event::SourceLost { .. }) => events.push("lost".to_owned()),
                Update::Source(Event::SourceRecovered { .. }) => {
                    events.push("recovered".to_owned())
                }
                Update::Source(other) => events.push(format!("{other:?}")),
            }
            Ok(Flow::Continue)
        },
    );
    (events, frames, result)
}

#[test]
fn a_camera_lost_mid_session_is_reported_retried_and_the_run_continues() {
    // 10 good frames, 5 failed reads, then it works again until frame 30.
    let source = SyntheticSource::new(Resolution::new(32, 24), 100.0)
        .with_limit(30)
        .failing(10, 5, true);
    let (events, frames, result) = events_of(source, Duration::from_secs(5));
    let summary = result.expect("the run recovers");
    assert_eq!(events, ["lost", "recovered"]);
    assert_eq!(summary.end, EndReason::EndOfStream);
    assert_eq!(summary.captured, 30);
    assert!(frames >= 10, "{frames} frames analysed");
}

#[test]
fn a_camera_that_never_comes_back_ends_the_run_with_an_error_after_the_retry_time() {
    let source = SyntheticSource::new(Resolution::new(32, 24), 100.0).failing(10, 1, false);
    let t0 = Instant::now();
    let (events, frames, result) = events_of(source, Duration::from_millis(300));
    let err = result.expect_err("gives up");
    assert!(matches!(err, PipelineError::Source(_)), "{err}");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(events, ["lost"]);
    assert!(
        frames >= 5,
        "frames before the loss were delivered: {frames}"
    );
}

struct PanickingEstimator;
impl PoseEstimator for PanickingEstimator {
    fn estimate(&mut self, _: ImageView<'_>) -> Result<Estimate, PoseError> {
        panic!("deliberate test panic");
    }
}

#[test]
fn a_panicking_worker_becomes_an_error_not_a_hang() {
    let result = pipeline::run(
        Box::new(SyntheticSource::new(Resolution::new(16, 16), 30.0)),
        Box::new(PanickingEstimator),
        &PipelineOptions::default(),
        &StopHandle::new(),
        |_| -> Result<Flow, String> { Ok(Flow::Continue) },
    );
    assert!(
        matches!(result, Err(PipelineError::WorkerPanicked("inference"))),
        "{result:?}"
    );
}

#[test]
fn a_video_file_plays_every_frame_offline_and_a_truncated_one_names_the_frame() {
    if !crate::ffmpeg_available(
        "a_video_file_plays_every_frame_offline_and_a_truncated_one_names_the_frame",
    ) {
        return;
    }
    use posture::source::video::VideoSource;
    let path = crate::fixture("pose2sim_cam01_small_faststart.mp4");
    let mut v = VideoSource::open(&path).expect("ffmpeg reads the fixture");
    assert_eq!(v.fps(), 60.0);
    assert_eq!(v.frames_hint(), Some(100));
    let mut f = posture::frame::Frame::default();
    let mut n = 0;
    while v.read_into(&mut f).unwrap() {
        n += 1;
    }
    assert_eq!(n, 100);
    assert_eq!(f.resolution(), Resolution::new(270, 480));

    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    // The index is at the start (faststart), so the file opens and decoding fails part-way.
    let mut v = VideoSource::open(&cut).expect("a faststart file opens");
    let mut decoded = 0;
    let err = loop {
        match v.read_into(&mut f) {
            Ok(true) => decoded += 1,
            Ok(false) => panic!("a truncated video must not end cleanly"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        decoded > 10 && decoded < 100,
        "{decoded} frames before the error"
    );
    assert!(
        err.contains("cut.mp4") && err.contains(&format!("at frame {decoded}")),
        "{err}"
    );
    let junk = dir.path().join("junk.webm");
    std::fs::write(&junk, b"not a video at all").unwrap();
    let err = VideoSource::open(&junk)
        .err()
        .expect("junk is refused")
        .to_string();
    assert!(err.contains("junk.webm"), "{err}");
}
