//! The live commands: `monitor`, `demo`, `cameras` and `bench --pipeline`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use posture::alerts::AlertEvent;
use posture::analysis::{Analysis, Analyzer, Settings};
use posture::bench::StageStats;
use posture::calibration::{self, Baseline, Calibrator};
use posture::frame::Resolution;
use posture::judge::{Band, Judgement};
use posture::live::{EventRecord, FrameRecord, StatusTracker};
use posture::metrics::View;
use posture::pipeline::{self, Flow, PipelineOptions, SourceEvent, StopHandle, Update};
use posture::pose::{DEFAULT_SCORE_THRESHOLD, OnnxEstimator};
use posture::render::Hud;
use posture::session::{FrameLine, Header, Recorder};
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
    camera: Option<u32>,
    /// A video file: mp4/H.264, webm/VP9, avi, mov... (read through ffmpeg).
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    video: Option<PathBuf>,
    /// A folder of images, or a glob pattern such as 'frames/*.jpg'.
    #[arg(long, value_name = "DIR|GLOB")]
    images: Option<String>,
    /// Frame rate at which --images are played.
    #[arg(long, default_value_t = 10.0, value_name = "FPS", value_parser = crate::cli::positive_fps)]
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
    /// Opens the chosen source.
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

    fn open_source(&self) -> anyhow::Result<Box<dyn FrameSource>> {
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
    #[arg(long, default_value_t = 10.0, value_name = "SECS", value_parser = crate::cli::non_negative_secs)]
    reconnect_secs: f64,
    /// Keypoints scoring below this are not drawn or measured.
    #[arg(long, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = crate::cli::unit_score)]
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
}

impl LiveArgs {
    /// The window, unless headless or there is no display (said once).
    fn window(&self, title: &str) -> Option<Window> {
        if self.headless {
            return None;
        }
        match open_window(title) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("posture: no display ({e}); running headless");
                None
            }
        }
    }

    /// Live (paced, newest frame) or offline (`--as-fast-as-possible`: every frame, unpaced).
    fn pipeline_options(&self) -> PipelineOptions {
        PipelineOptions {
            pace: !self.as_fast_as_possible,
            drop_stale: !self.as_fast_as_possible,
            reconnect_for: Duration::from_secs_f64(self.reconnect_secs.max(0.0)),
            ..PipelineOptions::default()
        }
    }

    /// Starts the recording when `--record` was given.
    fn recorder(
        &self,
        estimator: &OnnxEstimator,
        analyzer: &Analyzer,
        source: &str,
        fps: f64,
        exercise: Option<String>,
    ) -> Option<Recorder> {
        let dir = self.record.as_ref()?;
        let dir = if dir.as_os_str().is_empty() {
            match posture::session::default_dir() {
                Some(d) => d,
                None => {
                    eprintln!(
                        "posture: warning: no data folder is known on this system; pass --record DIR; going on without recording"
                    );
                    return None;
                }
            }
        } else {
            dir.clone()
        };
        let header = Header::new(
            estimator.model_name(),
            estimator.model_sha256(),
            analyzer.baseline().cloned(),
            source,
            exercise,
        );
        Recorder::start(&dir, &header, self.record_video.then_some(fps))
    }

    /// The settings and baseline this run judges with; `key` names the camera's calibration.
    pub fn analyzer(&self, key: &str) -> anyhow::Result<Analyzer> {
        let settings = Settings::load_or_default(self.thresholds.as_deref())?;
        let baseline = match &self.calibration {
            Some(p) => Some(Baseline::load(p)?),
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

fn band_color(band: Band) -> [u8; 3] {
    match band {
        Band::Good => [80, 220, 100],
        Band::Fair => [255, 190, 0],
        Band::Poor => [255, 70, 70],
    }
}

fn hud(a: &Analysis, alert: Option<&str>, status: &str) -> Hud {
    let m = &a.metrics;
    let f = |name: &str, v: Option<posture::metrics::Measure>, unit: &str| match v {
        Some(x) => format!("{name} {:+.1}{unit}", x.value),
        None => format!("{name} --"),
    };
    let mut lines = vec![format!(
        "view {}  {}",
        a.view
            .map_or("?".into(), |v| format!("{v:?}").to_lowercase()),
        a.stance
            .map_or(String::new(), |s| format!("{s:?}").to_lowercase())
    )];
    match a.view {
        Some(View::Side) => {
            lines.push(f("trunk", m.trunk_flexion_deg, " deg"));
            lines.push(f("neck ", m.neck_flexion_deg, " deg"));
            lines.push(f("head pitch", m.head_pitch_deg, " deg"));
        }
        _ => {
            lines.push(f("shoulders", m.shoulder_tilt_deg, " deg"));
            lines.push(f("head tilt", m.head_tilt_deg, " deg"));
            lines.push(f("head drop", m.head_drop_ratio, ""));
        }
    }
    let (score, banner) = match (&a.judgement, a.away) {
        (_, true) => (None, Some(("away: paused".to_owned(), [160, 160, 160]))),
        (
            Judgement::Judged {
                score,
                band,
                reason,
                ..
            },
            _,
        ) => {
            lines.push(reason.clone());
            (
                Some((*score, band_color(*band))),
                alert.map(|r| (format!("sit up: {r}"), [255, 70, 70])),
            )
        }
        (Judgement::NoPerson, _) if a.person => {
            lines.push("not judged: ears, shoulders or hips not seen".to_owned());
            (None, None)
        }
        (Judgement::NoPerson, _) => (None, None),
    };
    Hud {
        lines,
        status: status.to_owned(),
        score,
        banner,
    }
}

#[cfg(feature = "window")]
type Window = posture::window::LiveWindow;
#[cfg(not(feature = "window"))]
struct Window;

#[cfg(feature = "window")]
fn display_lost() -> bool {
    posture::window::display_lost()
}
#[cfg(not(feature = "window"))]
fn display_lost() -> bool {
    false
}

#[cfg(feature = "window")]
fn open_window(title: &str) -> Result<Window, String> {
    Window::open(title, 960, 720)
}
#[cfg(not(feature = "window"))]
fn open_window(_: &str) -> Result<Window, String> {
    Err("this build has no window support (feature `window`)".into())
}

#[cfg(feature = "window")]
fn show(w: &mut Window, p: &pipeline::Processed, threshold: f32, hud: &Hud) -> Flow {
    w.show(&p.frame, Some(&p.estimate.pose), threshold, hud)
}
#[cfg(not(feature = "window"))]
fn show(_: &mut Window, _: &pipeline::Processed, _: f32, _: &Hud) -> Flow {
    Flow::Continue
}

/// Runs a live session and prints its outcome.
/// A stop handle that Ctrl-C sets.
fn stop_on_ctrl_c() -> anyhow::Result<StopHandle> {
    let stop = StopHandle::new();
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || handler_stop.stop())
        .context("cannot install the Ctrl-C (SIGINT, SIGTERM, SIGHUP) handler")?;
    Ok(stop)
}

fn frame_line(p: &pipeline::Processed, a: &Analysis) -> FrameLine {
    FrameLine {
        t_secs: p.frame.t_secs,
        seq: p.frame.seq,
        keypoints: p
            .estimate
            .pose
            .keypoints
            .iter()
            .map(|k| [k.x_px, k.y_px, k.score])
            .collect(),
        posture: posture::live::PostureRecord::new(a),
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Runs a live session, judging each frame with `analyzer`, and prints its outcome.
pub fn run(
    source: Box<dyn FrameSource>,
    estimator: OnnxEstimator,
    args: &LiveArgs,
    mut analyzer: Analyzer,
) -> anyhow::Result<ExitCode> {
    let mut active_alert: Option<String> = None;
    if analyzer.baseline().is_none() && !args.json {
        eprintln!(
            "posture: no calibration for this camera: judging with the clinical defaults (run `posture calibrate` to judge against your own upright posture)"
        );
    }
    let stop = stop_on_ctrl_c()?;

    let description = source.describe();
    let mut window = args.window(&format!("posture: {description}"));
    let options = args.pipeline_options();
    let progress = if args.as_fast_as_possible {
        let bar = indicatif::ProgressBar::new(source.frames_hint().unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} frames [{bar:30}] {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    if !args.json {
        eprintln!("posture: watching {description}");
    }
    let mut status = StatusTracker::new(Instant::now());
    let mut stdout = std::io::stdout().lock();
    let threshold = args.score_threshold;
    let mut recorder = args.recorder(&estimator, &analyzer, &description, source.fps(), None);
    let mut last_t = 0.0;
    let result = pipeline::run(
        source,
        Box::new(estimator),
        &options,
        &stop,
        |update| -> std::io::Result<Flow> {
            match update {
                Update::Frame(p) => {
                    let analysis = analyzer.update(p.frame.t_secs, &p.estimate.pose);
                    last_t = p.frame.t_secs;
                    if let Some(r) = &mut recorder {
                        r.frame(frame_line(p, &analysis), &p.frame);
                        if let Some(event) = &analysis.alert {
                            r.event(
                                analysis.t_secs,
                                json(&EventRecord::alert(event, analysis.t_secs)),
                            );
                        }
                    }
                    status.observe(p);
                    status.set_posture(&analysis);
                    if let Some(event) = &analysis.alert {
                        match event {
                            AlertEvent::Alert {
                                level,
                                bad_for_secs,
                                reason,
                            } => {
                                active_alert = Some(reason.clone());
                                if !args.json {
                                    eprintln!(
                                        "posture: alert (level {level}): {reason} for {bad_for_secs:.0} s"
                                    );
                                }
                            }
                            AlertEvent::Cleared { .. } | AlertEvent::Away => active_alert = None,
                            AlertEvent::Back => {}
                        }
                        if args.json {
                            serde_json::to_writer(
                                &mut stdout,
                                &EventRecord::alert(event, analysis.t_secs),
                            )?;
                            writeln!(stdout)?;
                        }
                    }
                    let ticked = status.tick(Instant::now()).is_some();
                    if args.json {
                        serde_json::to_writer(&mut stdout, &FrameRecord::new(p, Some(&analysis)))?;
                        writeln!(stdout)?;
                    } else if ticked && window.is_none() && progress.is_none() {
                        writeln!(stdout, "posture: {}", status.line())?;
                    }
                    if let Some(bar) = &progress {
                        bar.inc(1);
                    }
                    if let Some(w) = &mut window {
                        let hud = hud(&analysis, active_alert.as_deref(), status.short_line());
                        if show(w, p, threshold, &hud) == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                    }
                }
                Update::Source(e) => {
                    if let Some(r) = &mut recorder {
                        r.event(last_t, json(&EventRecord::new(e)));
                    }
                    match e {
                        SourceEvent::Lost { error } => {
                            eprintln!("posture: camera lost ({error}); trying to reconnect")
                        }
                        SourceEvent::Recovered { after_secs } => {
                            eprintln!("posture: camera back after {after_secs:.1} s")
                        }
                    }
                    if args.json {
                        serde_json::to_writer(&mut stdout, &EventRecord::new(e))?;
                        writeln!(stdout)?;
                    }
                }
            }
            Ok(Flow::Continue)
        },
    );
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if let Some(path) = recorder.and_then(Recorder::finish) {
        eprintln!("posture: session saved to {}", path.display());
    }
    let summary = result?;
    eprintln!(
        "posture: {} after {:.1} s: {} frames captured, {} analysed, {} dropped as stale",
        match summary.end {
            pipeline::EndReason::EndOfStream => "end of stream",
            pipeline::EndReason::Stopped => "stopped",
            pipeline::EndReason::CallerStopped if display_lost() => "display lost",
            pipeline::EndReason::CallerStopped => "window closed",
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
    estimator: OnnxEstimator,
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
    let options = if source.is_live() {
        PipelineOptions::default()
    } else {
        PipelineOptions::offline()
    };
    let mut calibrator = Calibrator::new();
    let mut first_t: Option<f64> = None;
    let mut used_t = 0.0;
    let summary = pipeline::run(
        source,
        Box::new(estimator),
        &options,
        &stop,
        |u| -> Result<Flow, SourceError> {
            if let Update::Frame(p) = u {
                let t0 = *first_t.get_or_insert(p.frame.t_secs);
                if p.frame.t_secs - t0 > duration_secs {
                    return Ok(Flow::Stop);
                }
                used_t = p.frame.t_secs - t0;
                let pose = &p.estimate.pose;
                let m = if posture::analysis::person_seen(pose, threshold) {
                    posture::metrics::measure(pose, threshold)
                } else {
                    Default::default()
                };
                calibrator.add(&m);
            }
            Ok(Flow::Continue)
        },
    )?;
    if summary.end == pipeline::EndReason::Stopped {
        eprintln!("posture: calibration interrupted; nothing saved");
        return Ok(ExitCode::from(1));
    }
    if !live && summary.end == pipeline::EndReason::EndOfStream {
        // The source ran out first: the baseline covers less time than asked (one frame
        // interval of slack, as the last frame stands for the time until the next).
        let interval = 1.0 / fps.max(1.0);
        if used_t + interval < duration_secs {
            eprintln!(
                "posture: warning: the source lasted only {:.1} s of the {duration_secs} s asked; the baseline is from those {} frames",
                used_t + interval,
                calibrator.frames()
            );
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match calibrator.finish(key, now) {
        Ok(baseline) => {
            baseline.save(&target)?;
            let names: Vec<String> = baseline
                .metrics
                .iter()
                .map(|(k, v)| format!("{k} {:.2}", v.mean))
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
    estimator: OnnxEstimator,
    args: &LiveArgs,
    mut analyzer: Analyzer,
    def: posture::exercise::Definition,
    reps: u32,
) -> anyhow::Result<ExitCode> {
    use posture::exercise::{Engine, ExerciseEvent};
    let stop = stop_on_ctrl_c()?;
    let mut window = args.window(&format!("posture: {}", def.name));
    let options = args.pipeline_options();
    eprintln!("posture: {}: {} ({reps} reps)", def.name, def.description);
    let mut recorder = args.recorder(
        &estimator,
        &analyzer,
        &source.describe(),
        source.fps(),
        Some(def.name.clone()),
    );
    let mut engine = Engine::new(def);
    let mut status = StatusTracker::new(Instant::now());
    let mut stdout = std::io::stdout().lock();
    let threshold = args.score_threshold;
    let mut prompt = String::new();
    let mut span: Option<(f64, f64)> = None;
    let result = pipeline::run(
        source,
        Box::new(estimator),
        &options,
        &stop,
        |update| -> std::io::Result<Flow> {
            let Update::Frame(p) = update else {
                return Ok(Flow::Continue);
            };
            let t = p.frame.t_secs;
            span = Some(span.map_or((t, t), |(t0, _)| (t0, t)));
            let analysis = analyzer.update(p.frame.t_secs, &p.estimate.pose);
            let events = engine.feed(&analysis, &p.estimate.pose, threshold);
            if let Some(r) = &mut recorder {
                r.frame(frame_line(p, &analysis), &p.frame);
                for e in &events {
                    r.event(p.frame.t_secs, json(e));
                }
            }
            status.observe(p);
            status.set_posture(&analysis);
            status.tick(Instant::now());
            let mut done = false;
            for e in &events {
                if args.json {
                    let mut v = serde_json::to_value(e)?;
                    if let Some(o) = v.as_object_mut() {
                        o.insert("format".into(), "posture.live".into());
                        o.insert("version".into(), 1.into());
                        o.insert("kind".into(), "exercise".into());
                        o.insert("t_secs".into(), p.frame.t_secs.into());
                    }
                    writeln!(stdout, "{v}")?;
                } else {
                    match e {
                        ExerciseEvent::Prompt { prompt: text, .. } => {
                            writeln!(stdout, "posture: {text}")?
                        }
                        ExerciseEvent::Count { count } => writeln!(stdout, "  {count}")?,
                        ExerciseEvent::Rejected { reason, .. } => {
                            writeln!(stdout, "posture: not counted: {reason}")?
                        }
                        ExerciseEvent::Rep {
                            number,
                            hold_secs,
                            mean_score,
                            ..
                        } => writeln!(
                            stdout,
                            "posture: rep {number} of {reps} done (held {hold_secs:.1} s{})",
                            mean_score.map_or(String::new(), |s| format!(", mean score {s:.0}"))
                        )?,
                        ExerciseEvent::Paused => {
                            writeln!(stdout, "posture: paused: nobody in view")?
                        }
                        ExerciseEvent::Resumed => writeln!(stdout, "posture: resumed")?,
                    }
                }
                match e {
                    ExerciseEvent::Prompt { prompt: text, .. } => prompt = text.clone(),
                    ExerciseEvent::Rep { number, .. } if *number >= reps => done = true,
                    _ => {}
                }
            }
            if let Some(w) = &mut window {
                let mut hud = hud(&analysis, None, status.short_line());
                let banner = match engine.count() {
                    Some(c) => format!("{prompt}: {c}"),
                    None => prompt.clone(),
                };
                hud.banner = Some((banner, [255, 255, 255]));
                hud.lines.insert(
                    0,
                    format!(
                        "reps {} of {reps}, not counted {}",
                        engine.reps().len(),
                        engine.rejected()
                    ),
                );
                if show(w, p, threshold, &hud) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            Ok(if done { Flow::Stop } else { Flow::Continue })
        },
    );
    if let Some(path) = recorder.and_then(Recorder::finish) {
        eprintln!("posture: session saved to {}", path.display());
    }
    let summary = result?;
    if display_lost() {
        eprintln!("posture: display lost; the exercise ended");
    }
    let done = engine.reps().len() as u32;
    eprintln!(
        "posture: {} reps done of {reps} asked ({} attempts not counted)",
        done.min(reps),
        engine.rejected()
    );
    if done < reps && summary.end == pipeline::EndReason::EndOfStream {
        // Say why the count stopped short when the source ran out.
        let lasted = span.map_or(0.0, |(t0, t1)| t1 - t0);
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

/// `posture replay`: judges a recording again, without camera or model, deterministically.
pub fn replay(
    path: &std::path::Path,
    calibration: Option<&std::path::Path>,
    thresholds: Option<&std::path::Path>,
    exercise: Option<&str>,
    threshold: f32,
) -> anyhow::Result<ExitCode> {
    use posture::exercise::{Definition, Engine};
    use posture::pose::{Keypoint, Pose};
    // Read line by line: hours of recording in constant memory.
    let mut reader = posture::session::SessionReader::open(path)?;
    let settings = Settings::load_or_default(thresholds)?;
    let baseline = match calibration {
        Some(p) => Some(Baseline::load(p)?),
        None => reader.header().calibration.clone(),
    };
    let mut analyzer = Analyzer::new(threshold, settings, baseline);
    let mut engine = exercise.map(Definition::find).transpose()?.map(Engine::new);
    let mut summary = posture::session::SummaryBuilder::default();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    while let Some(line) = reader.next_line() {
        let posture::session::Line::Frame(f) = line else {
            continue;
        };
        let mut pose = Pose::default();
        for (k, [x, y, s]) in pose.keypoints.iter_mut().zip(f.keypoints.iter().copied()) {
            *k = Keypoint {
                x_px: x,
                y_px: y,
                score: s,
            };
        }
        let a = analyzer.update(f.t_secs, &pose);
        summary.frame(f.t_secs, a.judgement.band());
        let line = serde_json::json!({
            "format": "posture.replay", "version": 1, "kind": "frame", "t_secs": f.t_secs, "seq": f.seq,
            "posture": posture::live::PostureRecord::new(&a),
        });
        writeln!(stdout, "{line}")?;
        if let Some(e) = &a.alert {
            let v = json(&EventRecord::alert(e, f.t_secs));
            summary.event(&v);
            writeln!(
                stdout,
                "{}",
                serde_json::json!({"format": "posture.replay", "version": 1, "kind": "event", "t_secs": f.t_secs, "event": v})
            )?;
        }
        if let Some(engine) = &mut engine {
            for e in engine.feed(&a, &pose, threshold) {
                let v = json(&e);
                summary.event(&v);
                writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({"format": "posture.replay", "version": 1, "kind": "exercise", "t_secs": f.t_secs, "event": v})
                )?;
            }
        }
    }
    writeln!(
        stdout,
        "{}",
        serde_json::json!({"format": "posture.replay", "version": 1, "kind": "summary", "summary": summary.finish()})
    )?;
    stdout.flush()?;
    for w in reader.warnings() {
        eprintln!("posture: warning: {w}");
    }
    if let Some(w) = summary.time_warning() {
        eprintln!("posture: warning: {}: {w}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `posture export SESSION --csv`: one row per frame for spreadsheets.
pub fn export_csv(
    path: &std::path::Path,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let mut reader = posture::session::SessionReader::open(path)?;
    // `--out` is written beside and renamed over the file at the end.
    let mut file = out.map(posture::output::AtomicFile::create).transpose()?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let sink: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    let names: Vec<&str> = calibration::named(&Default::default())
        .iter()
        .map(|(n, _)| *n)
        .collect();
    writeln!(
        sink,
        "t_secs,seq,person,view,stance,score,band,reason,{}",
        names.join(",")
    )?;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    while let Some(line) = reader.next_line() {
        let posture::session::Line::Frame(f) = line else {
            continue;
        };
        let p = &f.posture;
        let lower = |v: Option<String>| v.map(|x| x.to_lowercase()).unwrap_or_default();
        let metrics: Vec<String> = calibration::named(&p.metrics)
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
