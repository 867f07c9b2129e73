//! The live commands: `monitor`, `demo`, `cameras` and `bench --pipeline`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use posture::bench::StageStats;
use posture::event::Event;
use posture::exercise::Engine;
use posture::format::session::Header;
use posture::frame::Resolution;
use posture::pose::{DEFAULT_SCORE_THRESHOLD, OnnxEstimator, TrackingEstimator};
use posture::run::calibrate::CalibrationSink;
use posture::run::pipeline::{self, Update};
use posture::run::{
    self, EndReason, Exercise, Flow, FrameUpdate, PipelineOptions, RunOptions, Sink, StopHandle,
};
use posture::science::analysis::{Analyzer, Settings};
use posture::science::calibration::{self, Baseline};
use posture::science::metrics::Metric;
use posture::sink::json::{JsonFormat, JsonLines};
use posture::sink::recorder::Recorder;
use posture::sink::status::{StatusMode, StatusSink};
use posture::sink::video::VideoSink;
use posture::source::images::ImageSequenceSource;
use posture::source::mjpeg::demo_clip;
use posture::source::synthetic::SyntheticSource;
use posture::source::video::VideoSource;
use posture::source::{FrameSource, SourceError};

use crate::cli::ModelArgs;

/// Where frames come from (one of; a camera by default).
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Camera index (camera 0 is the default source).
    #[arg(long, value_name = "N", conflicts_with_all = ["video", "images"])]
    pub(crate) camera: Option<u32>,
    /// A video file: mp4/H.264, webm/VP9, avi, mov... (read through ffmpeg).
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    pub(crate) video: Option<PathBuf>,
    /// A folder of images, or a glob pattern such as 'frames/*.jpg'.
    #[arg(long, value_name = "DIR|GLOB")]
    pub(crate) images: Option<String>,
    /// Frame rate at which --images are played.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10.0, value_name = "FPS", value_parser = crate::cli::positive_fps)]
    images_fps: f64,
    /// Camera frame size to ask for, width.
    #[arg(long, default_value_t = 640)]
    camera_width: u32,
    /// Camera frame size to ask for, height.
    #[arg(long, default_value_t = 480)]
    camera_height: u32,
    /// Camera frame rate to ask for.
    #[arg(long, default_value_t = 30)]
    camera_fps: u32,
}

impl SourceArgs {
    /// A profile's camera, unless a source (a camera, a video or images) was given.
    pub(crate) fn default_camera(&mut self, camera: Option<u32>) {
        if self.camera.is_none() && self.video.is_none() && self.images.is_none() {
            self.camera = camera;
        }
    }

    /// The name under which this source's calibration is stored: `camera-N`, or the file's.
    pub fn calibration_key(&self) -> String {
        if let Some(v) = &self.video {
            return format!(
                "video-{}",
                v.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
        }
        if self.images.is_some() {
            return "images".to_owned();
        }
        format!("camera-{}", self.camera.unwrap_or(0))
    }

    /// The command-line arguments that choose this same source, for a `posture` run started
    /// from this one (the desk's Recalibrate, live window and sit-tall).
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = Vec::new();
        if let Some(v) = &self.video {
            a.extend(["--video".into(), v.clone().into_os_string()]);
        } else if let Some(i) = &self.images {
            a.extend([
                "--images".into(),
                i.into(),
                "--images-fps".into(),
                self.images_fps.to_string().into(),
            ]);
        } else {
            a.extend([
                "--camera".into(),
                self.camera.unwrap_or(0).to_string().into(),
                "--camera-width".into(),
                self.camera_width.to_string().into(),
                "--camera-height".into(),
                self.camera_height.to_string().into(),
                "--camera-fps".into(),
                self.camera_fps.to_string().into(),
            ]);
        }
        a
    }

    /// Opens the chosen source; `command` (`monitor`, `calibrate`, `exercise sit-tall`) is how
    /// the user ran it, for the no-camera hint.
    pub fn open(&self, command: &str) -> anyhow::Result<Box<dyn FrameSource>> {
        self.open_source().map_err(|e| match e.downcast::<SourceError>() {
            Ok(SourceError::NoCamera { detail }) => {
                let demo = if command == "monitor" {
                    " or `posture demo`"
                } else {
                    ""
                };
                anyhow::anyhow!(
                    "no camera available ({detail}); connect one, or run `posture {command} --video FILE`{demo}"
                )
            }
            Ok(other) => other.into(),
            Err(e) => e,
        })
    }

    pub(crate) fn open_source(&self) -> anyhow::Result<Box<dyn FrameSource>> {
        if let Some(path) = &self.video {
            return Ok(Box::new(VideoSource::open(path)?));
        }
        if let Some(spec) = &self.images {
            return Ok(Box::new(ImageSequenceSource::open(spec, self.images_fps)?));
        }
        let index = self.camera.unwrap_or(0);
        open_camera(
            index,
            Resolution::new(self.camera_width, self.camera_height),
            self.camera_fps,
        )
    }
}

#[cfg(feature = "camera")]
fn open_camera(
    index: u32,
    resolution: Resolution,
    fps: u32,
) -> anyhow::Result<Box<dyn FrameSource>> {
    use posture::source::camera::{CameraRequest, CameraSource};
    Ok(Box::new(CameraSource::open(CameraRequest {
        index,
        resolution,
        fps,
    })?))
}

#[cfg(not(feature = "camera"))]
fn open_camera(index: u32, _: Resolution, _: u32) -> anyhow::Result<Box<dyn FrameSource>> {
    Err(SourceError::NoCamera {
        detail: format!("camera {index}: this build has no camera support (feature `camera`)"),
    }
    .into())
}

/// How a live run shows its results.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// No window: print one status line per second (or JSON lines with --json).
    #[arg(long)]
    headless: bool,
    /// Print one JSON line per frame and per event (format `posture.live` v1) on stdout.
    #[arg(long)]
    json: bool,
    /// Analyse every frame of a video or image folder as fast as possible (no pacing, no
    /// dropped frames), with a progress bar on a terminal.
    #[arg(long)]
    as_fast_as_possible: bool,
    /// How long to keep trying to reconnect a camera that stopped delivering frames.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10.0, value_name = "SECS", value_parser = crate::cli::non_negative_secs)]
    reconnect_secs: f64,
    /// Keypoints scoring below this are not drawn or measured.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = crate::cli::unit_score)]
    score_threshold: f32,
    /// The user's upright baseline (default: the one `posture calibrate` saved for this camera).
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    /// Judge thresholds and alert timing (default: calibration/thresholds.toml, built in).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Record the session — keypoints, metrics, verdicts and events, never video — as a
    /// `posture.session` file in DIR (default: your data folder, e.g. ~/.local/share/posture/sessions).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    record: Option<PathBuf>,
    /// With --record: also save the camera images as a video beside the session file
    /// (`session-<time>.mp4`, H.264 through ffmpeg). Off unless asked: images are private.
    #[arg(long, requires = "record")]
    record_video: bool,
    /// Set by `--profile`: judge without a baseline rather than with the camera's default one.
    #[arg(skip)]
    no_default_calibration: bool,
}

impl LiveArgs {
    /// The window, unless headless or there is no display (said once).
    #[cfg(feature = "window")]
    fn window(&self, title: &str) -> Option<posture::sink::window::WindowSink> {
        if self.headless {
            return None;
        }
        match posture::sink::window::WindowSink::open(title) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("posture: no display ({e}); running headless");
                None
            }
        }
    }

    /// A profile's calibration and thresholds, where no flag gave them. A profile whose
    /// calibration is not recorded yet is judged without a baseline (said once), never with
    /// another set-up's.
    pub(crate) fn use_profile(
        &mut self,
        profile: &str,
        calibration: PathBuf,
        thresholds: Option<PathBuf>,
    ) {
        if self.thresholds.is_none() {
            self.thresholds = thresholds;
        }
        if self.calibration.is_some() {
            return;
        }
        if calibration.exists() {
            self.calibration = Some(calibration);
        } else {
            eprintln!(
                "posture: no calibration for profile {profile} yet ({}): judging with the clinical defaults; record one with `posture calibrate --profile {profile}`",
                calibration.display()
            );
            self.no_default_calibration = true;
        }
    }

    /// Live (paced, newest frame) or offline (`--as-fast-as-possible`: every frame, unpaced).
    fn run_options(&self) -> RunOptions {
        RunOptions {
            pipeline: PipelineOptions {
                pace: !self.as_fast_as_possible,
                drop_stale: !self.as_fast_as_possible,
                reconnect_for: Duration::from_secs_f64(self.reconnect_secs),
                ..PipelineOptions::default()
            },
            score_threshold: self.score_threshold,
        }
    }

    /// The recording and its video, when `--record` (and `--record-video`) were given; a
    /// recording that cannot start is said once and the run goes on without it.
    fn recording(&self, header: &Header, fps: f64) -> (Option<Recorder>, Option<VideoSink>) {
        let Some(dir) = self.record.as_ref() else {
            return (None, None);
        };
        let dir = if dir.as_os_str().is_empty() {
            match posture::format::session::default_dir() {
                Some(d) => d,
                None => {
                    eprintln!(
                        "posture: warning: no data folder is known on this system; pass --record DIR; going on without recording"
                    );
                    return (None, None);
                }
            }
        } else {
            dir.clone()
        };
        let recorder = match Recorder::start(&dir, header) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("posture: warning: {e}; going on without recording");
                return (None, None);
            }
        };
        eprintln!("posture: recording to {}", recorder.path().display());
        let video = self.record_video.then(|| {
            let v = VideoSink::new(&recorder.path().with_extension("mp4"), fps);
            eprintln!("posture: recording video to {}", v.path().display());
            v
        });
        (Some(recorder), video)
    }

    /// The settings and baseline this run judges with; `key` names the camera's calibration.
    pub fn analyzer(&self, key: &str) -> anyhow::Result<Analyzer> {
        let settings = Settings::load_or_default(self.thresholds.as_deref())?;
        let baseline = match &self.calibration {
            Some(p) => Some(Baseline::load(p)?),
            None if self.no_default_calibration => None,
            None => match calibration::default_path(key).filter(|p| p.exists()) {
                Some(p) => Some(Baseline::load(&p)?),
                None => None,
            },
        };
        Ok(Analyzer::new(self.score_threshold, settings, baseline))
    }
}

/// The embedded demo clip.
pub fn demo_source(loops: u32) -> anyhow::Result<Box<dyn FrameSource>> {
    Ok(Box::new(demo_clip(loops)?))
}

/// Lists cameras.
pub fn cameras() -> anyhow::Result<ExitCode> {
    #[cfg(feature = "camera")]
    {
        let cams = match posture::source::camera::list_cameras() {
            Ok(c) => c,
            Err(e) => {
                println!("no cameras found ({e})");
                return Ok(ExitCode::from(1));
            }
        };
        if cams.is_empty() {
            println!(
                "no cameras found: connect a webcam, or use `posture monitor --video FILE` or `posture demo`"
            );
            return Ok(ExitCode::from(1));
        }
        for c in cams {
            println!("camera {}: {} ({})", c.index, c.name, c.description);
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "camera"))]
    {
        println!("no cameras: this build has no camera support (feature `camera`)");
        Ok(ExitCode::from(1))
    }
}

/// A stop handle that Ctrl-C (and SIGTERM, SIGHUP) sets.
fn stop_on_ctrl_c() -> anyhow::Result<StopHandle> {
    let stop = StopHandle::new();
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || handler_stop.stop())
        .context("cannot install the Ctrl-C (SIGINT, SIGTERM, SIGHUP) handler")?;
    Ok(stop)
}

#[cfg(feature = "window")]
fn display_lost() -> bool {
    posture::sink::window::display_lost()
}
#[cfg(not(feature = "window"))]
fn display_lost() -> bool {
    false
}

/// A progress bar for `--as-fast-as-possible` runs on a terminal.
struct ProgressSink(indicatif::ProgressBar);

impl ProgressSink {
    fn new(frames: Option<u64>) -> Self {
        let bar = indicatif::ProgressBar::new(frames.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} frames [{bar:30}] {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(bar)
    }
}

impl Sink for ProgressSink {
    fn event(&mut self, _: f64, _: &Event) -> std::io::Result<()> {
        Ok(())
    }
    fn frame(&mut self, _: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        self.0.inc(1);
        Ok(Flow::Continue)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.finish_and_clear();
        Ok(())
    }
}

/// The sinks of a live run, as the arguments ask.
struct LiveSinks {
    json: Option<JsonLines<std::io::StdoutLock<'static>>>,
    status: StatusSink<std::io::Stdout, std::io::Stderr>,
    #[cfg(feature = "window")]
    window: Option<posture::sink::window::WindowSink>,
    progress: Option<ProgressSink>,
    recorder: Option<Recorder>,
    video: Option<VideoSink>,
}

impl LiveSinks {
    /// `exercise`: the exercise's name (its reps are said with their number).
    fn new(
        args: &LiveArgs,
        title: &str,
        header: Option<Header>,
        source: &dyn FrameSource,
        exercise_reps: Option<u32>,
    ) -> Self {
        #[cfg(feature = "window")]
        let window = args.window(title);
        #[cfg(not(feature = "window"))]
        let window: Option<()> = {
            let _ = title;
            if !args.headless {
                eprintln!(
                    "posture: no display (this build has no window support, feature `window`); running headless"
                );
            }
            None
        };
        let progress = args
            .as_fast_as_possible
            .then(|| ProgressSink::new(source.frames_hint()));
        let mode = if args.json {
            StatusMode::Quiet
        } else if window.is_some() || progress.is_some() || exercise_reps.is_some() {
            StatusMode::Events
        } else {
            StatusMode::Lines
        };
        let mut status = StatusSink::new(std::io::stdout(), std::io::stderr(), mode);
        if let Some(n) = exercise_reps {
            status = status.with_reps_asked(n);
        }
        let (recorder, video) = match header {
            Some(h) => args.recording(&h, source.fps()),
            None => (None, None),
        };
        Self {
            json: args
                .json
                .then(|| JsonLines::new(std::io::stdout().lock(), JsonFormat::Live)),
            status,
            #[cfg(feature = "window")]
            window,
            progress,
            recorder,
            video,
        }
    }

    fn all(&mut self) -> Vec<&mut dyn Sink> {
        let mut v: Vec<&mut dyn Sink> = vec![&mut self.status];
        if let Some(s) = &mut self.json {
            v.push(s);
        }
        #[cfg(feature = "window")]
        if let Some(s) = &mut self.window {
            v.push(s);
        }
        if let Some(s) = &mut self.progress {
            v.push(s);
        }
        if let Some(s) = &mut self.recorder {
            v.push(s);
        }
        if let Some(s) = &mut self.video {
            v.push(s);
        }
        v
    }

    /// Says where the recording went, once the run is over.
    fn say_saved(&self) {
        if let Some(r) = &self.recorder
            && r.complete()
        {
            eprintln!("posture: session saved to {}", r.path().display());
        }
        if let Some(v) = &self.video {
            match v.outcome() {
                Some(Ok(done)) => {
                    if done.repeated_frames > 0 {
                        eprintln!(
                            "posture: the video encoder fell behind: {} frame(s) repeated in place of skipped ones",
                            done.repeated_frames
                        );
                    }
                    eprintln!("posture: video saved to {}", done.path.display());
                }
                Some(Err(e)) => {
                    eprintln!("posture: warning: no video at {} ({e})", v.path().display())
                }
                None => {}
            }
        }
    }
}

fn header_for(
    estimator: &TrackingEstimator<OnnxEstimator>,
    analyzer: &Analyzer,
    source: &dyn FrameSource,
    exercise: Option<String>,
) -> Header {
    Header::new(
        estimator.inner().model_name(),
        estimator.inner().model_sha256(),
        analyzer.baseline().cloned(),
        &source.describe(),
        exercise,
    )
}

/// Runs a live session (`monitor`, `demo`), judging each frame with `analyzer`, and prints its
/// outcome.
pub fn run(
    source: Box<dyn FrameSource>,
    estimator: TrackingEstimator<OnnxEstimator>,
    args: &LiveArgs,
    analyzer: Analyzer,
) -> anyhow::Result<ExitCode> {
    let mut analyzer = analyzer.with_model(estimator.inner().model_name());
    if analyzer.baseline().is_none() && !args.json {
        eprintln!(
            "posture: no calibration for this camera: a side view is judged on the clinical defaults, a desk (front) view is not judged until you calibrate; run `posture calibrate` first (sit tall for 5 s) to be judged against your own upright posture"
        );
    }
    let stop = stop_on_ctrl_c()?;
    let description = source.describe();
    let header = header_for(&estimator, &analyzer, source.as_ref(), None);
    let mut sinks = LiveSinks::new(
        args,
        &format!("posture: {description}"),
        Some(header),
        source.as_ref(),
        None,
    );
    if !args.json {
        eprintln!("posture: watching {description}");
    }
    let result = run::run(
        source,
        Box::new(estimator),
        &mut analyzer,
        None,
        &mut sinks.all(),
        &args.run_options(),
        &stop,
    );
    sinks.say_saved();
    let outcome = result?;
    let summary = &outcome.summary;
    eprintln!(
        "posture: {} after {:.1} s: {} frames captured, {} analysed, {} dropped as stale",
        match summary.end {
            EndReason::EndOfStream => "end of stream",
            EndReason::Stopped => "stopped",
            EndReason::CallerStopped if display_lost() => "display lost",
            EndReason::CallerStopped => "window closed",
        },
        summary.elapsed.as_secs_f64(),
        summary.captured,
        summary.processed,
        summary.dropped
    );
    Ok(ExitCode::SUCCESS)
}

/// This process's resident memory (MB) and open file descriptors, from `/proc/self` (Linux;
/// `None` elsewhere).
fn process_resources() -> (Option<f64>, Option<f64>) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        });
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    (rss, fds)
}

/// `posture bench --pipeline`: latency of the threaded pipeline fed by a synthetic camera.
pub fn bench_pipeline(
    model: &ModelArgs,
    resolution: Resolution,
    fps: f64,
    duration_secs: f64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let estimator = model.load()?;
    // The warm reference, in the same run: back-to-back frames (as `posture bench`) on a second
    // copy of the model, before and after the pipeline, so a drifting machine moves both.
    let mut reference = model.load()?;
    let frame = posture::bench::synthetic_frame(resolution);
    let mut warm = |n| -> anyhow::Result<Vec<Duration>> {
        let threads = usize::from(model.threads);
        let r = posture::bench::run(&mut reference, &frame, threads, 5, n, false, Duration::ZERO)?;
        Ok(vec![Duration::from_secs_f64(r.inference.p50_ms / 1000.0)])
    };
    let mut warm_p50 = warm(40)?;
    let source = SyntheticSource::new(resolution, fps);
    let stop = StopHandle::new();
    let started = Instant::now();
    let duration = Duration::from_secs_f64(duration_secs.max(0.1));
    let mut latencies = Vec::new();
    let mut at_secs = Vec::new();
    let mut inference = Vec::new();
    // The windows compared: the first and last ten minutes, or thirds of a shorter run.
    let window_secs = (duration.as_secs_f64() / 3.0).min(600.0);
    let mut first_resources = None;
    let summary = pipeline::run(
        Box::new(source),
        Box::new(estimator),
        &PipelineOptions::default(),
        &stop,
        |u| -> Result<Flow, SourceError> {
            let t = started.elapsed();
            if let Update::Frame(p) = u {
                latencies.push(p.latency());
                at_secs.push(t.as_secs_f64());
                inference.push(p.estimate.timings.inference);
            }
            if first_resources.is_none() && t.as_secs_f64() >= window_secs {
                first_resources = Some(process_resources());
            }
            Ok(if t >= duration {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )?;
    let last_resources = process_resources();
    warm_p50.extend(warm(40)?);
    let warm_ms = warm_p50.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / 2.0;
    let elapsed = summary.elapsed.as_secs_f64();
    let window = |keep: &dyn Fn(f64) -> bool| {
        let samples: Vec<Duration> = latencies
            .iter()
            .zip(&at_secs)
            .filter(|&(_, &t)| keep(t))
            .map(|(l, _)| *l)
            .collect();
        StageStats::from_samples(&samples)
    };
    let all = StageStats::from_samples(&latencies);
    let first = window(&|t| t < window_secs);
    let last = window(&|t| t >= elapsed - window_secs);
    let fps_out = summary.processed as f64 / summary.elapsed.as_secs_f64();
    let infer = StageStats::from_samples(&inference);
    if json {
        let v = serde_json::json!({
            "model": model.model.to_string(), "threads": model.threads, "camera_fps": fps,
            "width_px": resolution.width, "height_px": resolution.height,
            "duration_secs": summary.elapsed.as_secs_f64(), "captured": summary.captured,
            "processed": summary.processed, "dropped": summary.dropped, "processed_fps": fps_out,
            "latency": all, "window_secs": window_secs, "latency_first_window": first,
            "latency_last_window": last, "inference": infer,
            "warm_inference_p50_ms": warm_ms,
            "inference_vs_warm": infer.p50_ms / warm_ms.max(f64::MIN_POSITIVE),
            "rss_mb_first_window": first_resources.and_then(|r| r.0),
            "open_fds_first_window": first_resources.and_then(|r| r.1),
            "rss_mb_end": last_resources.0, "open_fds_end": last_resources.1,
        });
        println!("{v}");
    } else {
        println!(
            "pipeline: {} {} thread(s), synthetic camera {resolution} @ {fps} fps, {:.1} s",
            model.model,
            model.threads,
            summary.elapsed.as_secs_f64()
        );
        println!(
            "frames: {} captured, {} analysed ({fps_out:.1} fps), {} dropped as stale",
            summary.captured, summary.processed, summary.dropped
        );
        println!(
            "{:<26} {:>9} {:>9} {:>9}",
            "camera->result latency", "p50 ms", "p95 ms", "p99 ms"
        );
        let first_name = format!("first {window_secs:.0} s");
        let last_name = format!("last {window_secs:.0} s");
        for (name, s) in [
            ("all", all),
            (first_name.as_str(), first),
            (last_name.as_str(), last),
            ("inference alone", infer),
        ] {
            println!(
                "{name:<26} {:>9.2} {:>9.2} {:>9.2}",
                s.p50_ms, s.p95_ms, s.p99_ms
            );
        }
        println!(
            "warm reference (back to back, before and after): inference {warm_ms:.2} ms p50; the pipeline's is {:.2}x that",
            infer.p50_ms / warm_ms.max(f64::MIN_POSITIVE)
        );
        let show = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0}"));
        if let Some((rss, fds)) = first_resources {
            println!(
                "after the first window: RSS {} MB, {} open files",
                show(rss),
                show(fds)
            );
        }
        println!(
            "at the end: RSS {} MB, {} open files",
            show(last_resources.0),
            show(last_resources.1)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `posture calibrate`: records the user's upright posture for `duration_secs` and saves it.
pub fn calibrate(
    source: Box<dyn FrameSource>,
    estimator: TrackingEstimator<OnnxEstimator>,
    key: &str,
    duration_secs: f64,
    out: Option<PathBuf>,
    threshold: f32,
) -> anyhow::Result<ExitCode> {
    let target = match out.or_else(|| calibration::default_path(key)) {
        Some(p) => p,
        None => anyhow::bail!(
            "no configuration folder is known on this system; pass --calibration FILE"
        ),
    };
    let stop = stop_on_ctrl_c()?;
    eprintln!(
        "posture: calibrating {key}: sit (or stand) tall and hold still for {duration_secs} s"
    );
    let live = source.is_live();
    let fps = source.fps();
    // Duration is media time, so files can be read unpaced with every frame used.
    let options = RunOptions {
        pipeline: if live {
            PipelineOptions::default()
        } else {
            PipelineOptions::offline()
        },
        score_threshold: threshold,
    };
    let model = estimator.inner().model_name().to_owned();
    let mut sink = CalibrationSink::new(duration_secs)
        .for_model(&model, Settings::default().trunk_offset_deg(&model));
    let mut analyzer = Analyzer::new(threshold, Settings::default(), None);
    let outcome = run::run(
        source,
        Box::new(estimator),
        &mut analyzer,
        None,
        &mut [&mut sink],
        &options,
        &stop,
    )?;
    if outcome.summary.end == EndReason::Stopped {
        eprintln!("posture: calibration interrupted; nothing saved");
        return Ok(ExitCode::from(1));
    }
    if !live && outcome.summary.end == EndReason::EndOfStream {
        // The source ran out first: the baseline covers less time than asked (one frame
        // interval of slack, as the last frame stands for the time until the next).
        let interval = 1.0 / fps.max(1.0);
        if sink.used_secs() + interval < duration_secs {
            eprintln!(
                "posture: warning: the source lasted only {:.1} s of the {duration_secs} s asked; the baseline is from those {} frames",
                sink.used_secs() + interval,
                sink.calibrator.frames()
            );
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match sink.calibrator.finish(key, now) {
        Ok(baseline) => {
            baseline.save(&target)?;
            let names: Vec<String> = baseline
                .metrics
                .iter()
                .map(|(k, v)| format!("{k} {:.2}", v.median))
                .collect();
            eprintln!(
                "posture: saved the baseline of {} frames ({:?} view) to {}",
                baseline.frames,
                baseline.view,
                target.display()
            );
            eprintln!("posture: {}", names.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("posture: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `posture exercise`: a guided session of `def`, `reps` times; exit 0 when all were done.
pub fn exercise(
    source: Box<dyn FrameSource>,
    estimator: TrackingEstimator<OnnxEstimator>,
    args: &LiveArgs,
    analyzer: Analyzer,
    def: posture::exercise::Definition,
    reps: u32,
) -> anyhow::Result<ExitCode> {
    let mut analyzer = analyzer.with_model(estimator.inner().model_name());
    let stop = stop_on_ctrl_c()?;
    eprintln!("posture: {}: {} ({reps} reps)", def.name, def.description);
    let header = header_for(
        &estimator,
        &analyzer,
        source.as_ref(),
        Some(def.name.clone()),
    );
    let mut sinks = LiveSinks::new(
        args,
        &format!("posture: {}", def.name),
        Some(header),
        source.as_ref(),
        Some(reps),
    );
    let mut ex = Exercise {
        engine: Engine::new(def),
        reps,
    };
    let result = run::run(
        source,
        Box::new(estimator),
        &mut analyzer,
        Some(&mut ex),
        &mut sinks.all(),
        &args.run_options(),
        &stop,
    );
    sinks.say_saved();
    let outcome = result?;
    if display_lost() {
        eprintln!("posture: display lost; the exercise ended");
    }
    let engine = &ex.engine;
    let done = engine.reps().len() as u32;
    eprintln!(
        "posture: {} reps done of {reps} asked ({} attempts not counted)",
        done.min(reps),
        engine.rejected()
    );
    if done < reps && outcome.summary.end == EndReason::EndOfStream {
        // Say why the count stopped short when the source ran out.
        let lasted = outcome.span_secs.map_or(0.0, |(t0, t1)| t1 - t0);
        let hold = engine.counted_hold_secs().unwrap_or(0.0);
        if lasted < hold {
            eprintln!(
                "posture: the source lasted {lasted:.1} s, shorter than one hold ({hold:.1} s): no rep could be counted; use a longer video or a shorter --hold-secs"
            );
        } else if let Some((phase, held, needed)) = engine.hold_in_progress() {
            eprintln!(
                "posture: the source ended during `{phase}` after {held:.1} s of {needed:.1} s: that attempt is not counted"
            );
        } else {
            eprintln!("posture: the source ended before the next rep was done");
        }
    }
    for (i, r) in engine.reps().iter().enumerate() {
        eprintln!(
            "posture: rep {}: held {:.1} s, score mean {} min {}",
            i + 1,
            r.hold_secs,
            r.mean_score.map_or("-".into(), |s| format!("{s:.0}")),
            r.min_score.map_or("-".into(), |s| format!("{s:.0}"))
        );
    }
    Ok(if done >= reps {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `posture replay`: judges a recording again, without camera or model, deterministically,
/// through the same run loop as a live run.
pub fn replay(
    path: &std::path::Path,
    calibration: Option<&std::path::Path>,
    thresholds: Option<&std::path::Path>,
    exercise: Option<&str>,
    threshold: f32,
) -> anyhow::Result<ExitCode> {
    use posture::exercise::Definition;
    let (source, estimator, info) = posture::run::replay::open(path)?;
    let settings = Settings::load_or_default(thresholds)?;
    let baseline = match calibration {
        Some(p) => Some(Baseline::load(p)?),
        None => info.header.calibration.clone(),
    };
    let mut analyzer = Analyzer::new(threshold, settings, baseline).with_model(&info.header.model);
    let mut ex = exercise
        .map(Definition::find)
        .transpose()?
        .map(|def| Exercise {
            engine: Engine::new(def),
            // A replay judges the whole recording, however many reps it holds.
            reps: u32::MAX,
        });
    let mut json = JsonLines::new(
        std::io::BufWriter::new(std::io::stdout().lock()),
        JsonFormat::Replay,
    );
    run::run(
        Box::new(source),
        Box::new(estimator),
        &mut analyzer,
        ex.as_mut(),
        &mut [&mut json],
        &RunOptions {
            pipeline: PipelineOptions::offline(),
            score_threshold: threshold,
        },
        &StopHandle::new(),
    )?;
    for w in info.warnings() {
        eprintln!("posture: warning: {w}");
    }
    if let Some(w) = json.time_warning() {
        eprintln!("posture: warning: {}: {w}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `posture export SESSION`: one CSV row per frame for spreadsheets.
pub fn export_csv(
    path: &std::path::Path,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let mut reader = posture::format::session::SessionReader::open(path)?;
    // `--out` is written beside and renamed over the file at the end.
    let mut file = out.map(posture::output::AtomicFile::create).transpose()?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let sink: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    writeln!(
        sink,
        "t_secs,seq,person,view,stance,score,band,reason,{}",
        names.join(",")
    )?;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    while let Some(line) = reader.next_line() {
        let posture::format::session::Line::Frame(f) = line else {
            continue;
        };
        let p = &f.posture;
        let lower = |v: Option<String>| v.map(|x| x.to_lowercase()).unwrap_or_default();
        let metrics: Vec<String> = p
            .metrics
            .all()
            .iter()
            .map(|(_, m)| m.map(|m| format!("{}", m.value)).unwrap_or_default())
            .collect();
        writeln!(
            sink,
            "{},{},{},{},{},{},{},{},{}",
            f.t_secs,
            f.seq,
            p.person,
            lower(p.view.map(|v| format!("{v:?}"))),
            lower(p.stance.map(|v| format!("{v:?}"))),
            p.score.map(|s| format!("{s}")).unwrap_or_default(),
            lower(p.band.map(|v| format!("{v:?}"))),
            quote(p.reason.as_deref().unwrap_or("")),
            metrics.join(",")
        )?;
    }
    sink.flush()?;
    if let Some(f) = file {
        f.commit()?;
    }
    for w in reader.warnings() {
        eprintln!("posture: warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
