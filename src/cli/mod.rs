//! Command-line arguments and the commands they run.

mod desk;
mod eval;
mod live;
mod report;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use posture::bench;
use posture::eval::run::judge_alone;
use posture::format::analyze::{AnalysisRecord, FailureRecord};
use posture::frame::Resolution;
use posture::output::AtomicFile;
use posture::pose::kernels::choice::LayerChoice;
use posture::pose::kernels::ops::Kernel;
use posture::pose::{
    CropMode, DEFAULT_SCORE_THRESHOLD, Engine, ModelSpec, OnnxEstimator, OnnxOptions,
    PoseEstimator, TrackingEstimator, TrackingOptions,
};
use posture::science::analysis::Settings;
use posture::science::calibration::Baseline;
use posture::sink::draw::{self, Placement, RgbCanvas};
use posture::source::image_file;

use self::live::{LiveArgs, SourceArgs};

/// Watches how you sit or stand, from a camera, a video or images.
#[derive(Debug, Parser)]
#[command(name = "posture", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Options of the pose model, shared by the commands that run it.
#[derive(Debug, clap::Args)]
pub(crate) struct ModelArgs {
    /// Pose model: `lightning` (fast, default), `thunder` (accurate) or the path of a MoveNet
    /// SinglePose .onnx file.
    #[arg(
        long,
        default_value = "lightning",
        value_name = "lightning|thunder|PATH"
    )]
    pub(crate) model: ModelSpec,
    /// Threads for the network's kernels (1 gives the steadiest latency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) threads: u16,
    /// Whose kernels run the model's convolutions: `fast` (posture's own) or `tract-plain`
    /// (tract's own ops, for comparison). Same keypoints within 1e-4. A --model PATH file that is
    /// not a prepared graph runs on tract alone either way.
    #[arg(long, value_enum, default_value_t = EngineArg::Fast)]
    pub(crate) engine: EngineArg,
    /// Crop each frame around the person found in the previous one (`auto`: while the square
    /// around them fits on the frame; better keypoints, but the judge's offsets are fitted on
    /// whole frames) or read the whole frame (`off`). Calibrate in the mode you monitor in. Not
    /// used on single images (`analyze`); `bench` times a crop of 0.6 x the frame's height.
    #[arg(long, value_enum, default_value_t = CropArg::Off)]
    pub(crate) crop: CropArg,
}

/// `--crop`, as clap parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CropArg {
    /// Crop while a person is tracked and the crop fits on the frame.
    Auto,
    /// The whole frame, always.
    Off,
}

/// `--engine`, as clap parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// posture's own kernels (tract's where faster), blocks fused where faster.
    Fast,
    /// posture's own kernels, every inverted-residual block as one fused op.
    FastFused,
    /// tract's own ops.
    TractPlain,
}

impl From<EngineArg> for Engine {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Fast => Engine::Fast,
            EngineArg::FastFused => Engine::FastFused,
            EngineArg::TractPlain => Engine::TractPlain,
        }
    }
}

impl ModelArgs {
    pub(crate) fn options(&self) -> OnnxOptions {
        OnnxOptions {
            threads: usize::from(self.threads),
            engine: self.engine.into(),
            ..OnnxOptions::default()
        }
    }

    pub(crate) fn load(&self) -> anyhow::Result<OnnxEstimator> {
        Ok(OnnxEstimator::load(&self.model, &self.options())?)
    }

    /// The model, tracking the person from frame to frame as `--crop` says (one per run).
    pub(crate) fn load_tracked(&self) -> anyhow::Result<TrackingEstimator<OnnxEstimator>> {
        let mode = match self.crop {
            CropArg::Auto => CropMode::Auto,
            CropArg::Off => CropMode::Off,
        };
        let options = TrackingOptions {
            mode,
            ..TrackingOptions::default()
        };
        Ok(TrackingEstimator::new(self.load()?, options))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Watch posture live from a camera (the default), a video file or a folder of images.
    ///
    /// Shows a window with the image, skeleton and angles; without a display (or with
    /// --headless) prints one status line per second, or JSON lines with --json.
    /// Stop with Ctrl-C, Escape or by closing the window.
    Monitor {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// The all-day background monitor: no window, desktop notifications for alerts (one per
    /// episode, withdrawn on recovery), a low frame rate while posture is steady, pause with
    /// `posture desk --pause 30m` or SIGUSR1 (the camera is closed while paused). See
    /// docs/desk.md.
    Desk(desk::DeskArgs),
    /// Print the desk's effective settings (camera, model, rates, alert timing file,
    /// notifications, break interval) and where each came from: default, file, profile or flag.
    /// Takes `posture desk`'s options, `--config FILE` and `--profile NAME` among them.
    Config(desk::DeskArgs),
    /// The whole live pipeline on a short real clip bundled in the binary (no camera needed).
    Demo {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        live: LiveArgs,
        /// Times to play the clip (100 frames at 60 fps, 1.7 s each).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
        loops: u32,
    },
    /// List the cameras this machine has (exit 1 when there are none).
    Cameras,
    /// Judge a recorded session again, without camera or model (same input, same output):
    /// one `posture.replay` JSON line per frame and event, then the summary.
    Replay {
        /// The session file (`posture.session`, from `--record`).
        session: PathBuf,
        /// Judge against this baseline instead of the one recorded.
        #[arg(long, value_name = "FILE")]
        calibration: Option<PathBuf>,
        /// Judge with these thresholds.
        #[arg(long, value_name = "FILE")]
        thresholds: Option<PathBuf>,
        /// Validate this exercise's reps on the recording.
        #[arg(long, value_name = "NAME|FILE")]
        exercise: Option<String>,
        /// Keypoints scoring below this are not measured.
        #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = unit_score)]
        score_threshold: f32,
    },
    /// Export a recorded session for spreadsheets: one CSV row per frame.
    Export {
        /// The session file.
        session: PathBuf,
        /// CSV output: the only format, and the default (accepted for the scripts that pass it).
        #[arg(long)]
        csv: bool,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make a report of recorded sessions: time in good, fair and poor posture, the longest
    /// poor streak, alerts, reps and their quality, plots of the score and the angles over
    /// time, and a daily trend when the sessions span several days. One self-contained HTML
    /// file (open it in any browser, offline).
    Report {
        /// Session files (`posture.session`, from `--record`).
        #[arg(required = true, value_name = "SESSION")]
        sessions: Vec<PathBuf>,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE", default_value = "report.html")]
        out: PathBuf,
        /// Print the report's figures as one JSON object (`posture.report` v1) instead.
        #[arg(long)]
        json: bool,
    },
    /// Today's figures: good, fair and poor time, alerts and reps recorded since local midnight
    /// (`posture desk` records by default).
    Today {
        /// The folder of recordings (default: where --record saves them).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// One JSON object (`posture.today` v1) instead.
        #[arg(long)]
        json: bool,
    },
    /// List recorded sessions with their summaries, oldest first.
    History {
        /// The folder of recordings (default: where --record saves them).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// One JSON object per session (the `sessions` entries of `posture report --json`).
        #[arg(long)]
        json: bool,
    },
    /// A guided exercise, checked rep by rep: sit-tall, stand-tall, wall-slides, leg-lifts,
    /// knee-tilts, or a definition file (.toml). Exit 0 when all reps were done, 1 when not.
    Exercise {
        /// The exercise name or a .toml definition file.
        #[arg(value_name = "NAME|FILE")]
        name: String,
        /// Reps to do (default: the definition's).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        reps: Option<u32>,
        /// Seconds to hold the counted phase (default: the definition's, 10 for sit-tall).
        #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = hold_secs)]
        hold_secs: Option<f64>,
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        live: LiveArgs,
        #[command(flatten)]
        profile: ProfileArgs,
    },
    /// Record your upright posture as the baseline the judge compares with (per camera).
    ///
    /// Sit (or stand) tall and hold still. Saves to your configuration folder
    /// (e.g. ~/.config/posture/calibration/camera-0.json) or --calibration FILE. Exit 1 when
    /// the recording is refused (nobody seen, or too much movement), with the reason.
    Calibrate {
        #[command(flatten)]
        source: SourceArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// How long to record.
        #[arg(long, allow_negative_numbers = true, default_value_t = 5.0, value_name = "SECS", value_parser = positive_secs)]
        duration_secs: f64,
        /// Write the baseline here instead of the configuration folder.
        #[arg(long, value_name = "FILE")]
        calibration: Option<PathBuf>,
        /// Calibrate this profile of the config file (`[profiles.NAME]`, as `posture desk
        /// --profile NAME`): its camera unless a source is given, saved where the profile keeps
        /// its calibration (its `calibration` key, else ~/.config/posture/calibration/profile-NAME.json).
        #[arg(long, value_name = "NAME", conflicts_with = "calibration")]
        profile: Option<String>,
        /// The config file, for --profile [default: ~/.config/posture/config.toml].
        #[arg(long, value_name = "FILE", requires = "profile")]
        config: Option<PathBuf>,
        /// Keypoints scoring below this are not measured.
        #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = unit_score)]
        score_threshold: f32,
    },
    /// Find the keypoints in images and judge each posture on its own: one JSON line per image
    /// (format `posture.analyze` v1).
    ///
    /// Exits 0 when every image was analysed, 2 when any failed (the others are still analysed).
    Analyze {
        /// Image files, or folders searched for images.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
        /// Write the JSON lines to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write each image with its skeleton drawn to DIR/<name>.overlay.png.
        #[arg(long, value_name = "DIR")]
        overlay: Option<PathBuf>,
        /// Keypoints scoring below this are not drawn or measured.
        #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = unit_score)]
        score_threshold: f32,
        /// Judge each image against this upright baseline (from `posture calibrate`).
        #[arg(long, value_name = "FILE")]
        calibration: Option<PathBuf>,
        /// Judge with these thresholds (default: calibration/thresholds.toml, built in).
        #[arg(long, value_name = "FILE")]
        thresholds: Option<PathBuf>,
    },
    /// Run the product on rendered data with exact truth (images with their JSON, videos with
    /// their truth file) and print how far to trust it: per-metric error, verdict agreement per
    /// view (calibrated on each subject's neutral render, and not), reps counted against the
    /// expected ones, and the stability of the side-view angles over still holds.
    Eval(eval::EvalArgs),
    /// Measure the pose hot loop on this machine: p50/p95/p99 milliseconds per stage.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Frames to measure (after 10 warm-up frames).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
        frames: u32,
        /// Frame width in pixels.
        #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(1..=8192))]
        width: u32,
        /// Frame height in pixels.
        #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u32).range(1..=8192))]
        height: u32,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Idle this many milliseconds before every other measured frame, as the inference
        /// thread idles between a slow camera's frames (200 is a 5 fps camera): shows what a cold
        /// start costs, apart from the pipeline's threads. With --profile-ops, every profiled run
        /// also comes after the idle time (a profile of cold runs).
        #[arg(long, allow_negative_numbers = true, default_value_t = 0.0, value_parser = idle_ms, conflicts_with_all = ["compare_engines", "pipeline", "desk"])]
        idle_ms: f64,
        /// Also time every node of the network and print the time per kind of op (tract's
        /// profile), to see where inference spends its time.
        #[arg(long, conflicts_with = "pipeline")]
        profile_ops: bool,
        /// With --profile-ops: the time of every node instead of every kind of op, each named
        /// with its shapes and kernel (tract's description of it).
        #[arg(long, requires = "profile_ops")]
        by_node: bool,
        /// Time the `fast`, `fast-fused` and `tract-plain` engines against each other, one
        /// frame each in turn (so a noisy machine slows them alike), and print each and the
        /// ratios of `fast` to the others.
        #[arg(long, conflicts_with_all = ["profile_ops", "pipeline"])]
        compare_engines: bool,
        /// Force the kernel family posture's ops run (as the POSTURE_KERNELS environment
        /// variable does for every command), instead of the best this CPU runs; exit 2 when the
        /// CPU lacks it.
        #[arg(long, value_enum, conflicts_with_all = ["pipeline", "desk"])]
        kernels: Option<KernelsArg>,
        /// With the fast engine: `measured` (default) runs each layer on posture's op or
        /// tract's, whichever was faster on this CPU (timed at the first load, cached);
        /// `posture` runs every layer on posture's op.
        #[arg(long, value_enum, default_value_t = LayersArg::Measured, conflicts_with_all = ["pipeline", "desk"])]
        layers: LayersArg,
        /// Measure the whole live pipeline instead: a synthetic camera at --camera-fps feeding
        /// the capture and inference threads, for --duration-secs; prints latency percentiles,
        /// drops, and the latency of the first and last ten minutes (thirds of a shorter run: a growing
        /// backlog shows there), with the process's RSS and open files after each.
        #[arg(long)]
        pipeline: bool,
        /// Measure the desk mode instead: its loop on a synthetic camera at --camera-fps whose
        /// person sits well, slouches, then recovers; prints CPU % of one core (getrusage), the
        /// frames analysed and the time from the slouch to the alert (exit 1 when later than the
        /// onset delay + 1 s).
        #[arg(long, conflicts_with_all = ["profile_ops", "pipeline", "compare_engines"])]
        desk: bool,
        /// With --pipeline or --desk: the synthetic camera's frame rate.
        #[arg(long, allow_negative_numbers = true, default_value_t = 30.0, value_parser = positive_fps)]
        camera_fps: f64,
        /// With --pipeline (default 20) or --desk (default 60): how long to run.
        #[arg(long, allow_negative_numbers = true, value_parser = positive_secs)]
        duration_secs: Option<f64>,
    },
}

/// `s` as a finite number up to `hi`, above `lo` (or from `lo` on when `lo_allowed`); otherwise
/// the usage message naming `what` was expected and the range.
fn finite_in(s: &str, what: &str, lo: f64, lo_allowed: bool, hi: f64) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (v > lo || (lo_allowed && v == lo)) && v <= hi => Ok(v),
        _ if lo_allowed => Err(format!("expected {what} from {lo} to {hi}, got `{s}`")),
        _ => Err(format!(
            "expected {what} greater than {lo} and at most {hi}, got `{s}`"
        )),
    }
}

/// `--...-secs` values: a finite number of seconds greater than 0.
pub(crate) fn positive_secs(s: &str) -> Result<f64, String> {
    finite_in(s, "a number of seconds", 0.0, false, 1e6)
}

/// `--hold-secs`: greater than 0 and at most a day, the bound an exercise file's `hold_secs` has.
pub(crate) fn hold_secs(s: &str) -> Result<f64, String> {
    finite_in(s, "a number of seconds", 0.0, false, 86_400.0)
}

/// Seconds that may be 0 (`--reconnect-secs 0`: do not retry), finite.
pub(crate) fn non_negative_secs(s: &str) -> Result<f64, String> {
    finite_in(s, "a number of seconds", 0.0, true, 1e6)
}

/// A frame rate: finite, greater than 0, at most 1000.
pub(crate) fn positive_fps(s: &str) -> Result<f64, String> {
    finite_in(s, "frames per second", 0.0, false, 1000.0)
}

/// `--profile NAME` for `monitor` and `exercise`.
#[derive(Debug, clap::Args)]
pub struct ProfileArgs {
    /// Run as this profile of the config file (`[profiles.NAME]`, as `posture desk --profile
    /// NAME`): its camera unless a source is given, its calibration unless --calibration is
    /// given, and its thresholds unless --thresholds is given.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// The config file, for --profile [default: ~/.config/posture/config.toml].
    #[arg(long, value_name = "FILE", requires = "profile")]
    config: Option<PathBuf>,
}

impl ProfileArgs {
    /// Puts the profile's settings (if a profile was named) into what the flags left unset.
    fn apply(&self, source: &mut SourceArgs, live: &mut LiveArgs) -> anyhow::Result<()> {
        let Some(name) = &self.profile else {
            return Ok(());
        };
        let p = desk::profile_settings(self.config.as_deref(), name)?;
        source.default_camera(p.camera);
        live.use_profile(name, p.calibration, p.thresholds);
        Ok(())
    }
}

/// `--idle-ms`: from 0 to 10 s.
pub(crate) fn idle_ms(s: &str) -> Result<f64, String> {
    finite_in(s, "milliseconds", 0.0, true, 10_000.0)
}

/// A keypoint score threshold: from 0 to 1.
pub(crate) fn unit_score(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a score from 0 to 1, got `{s}`")),
    }
}

/// An error and its causes on one line, each cause said once: error types whose message already
/// includes their source (`cannot read X: No such file`) are not followed by the source again.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// A clap usage error as one line: its message, without clap's `error:` prefix, usage and tips,
/// plus where to look.
pub fn usage_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    // clap's message runs until its usage; its lines after the first list the arguments concerned
    // (e.g. the missing ones), so they are kept, joined into one line.
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error:").unwrap_or(&message).trim();
    let message = if message.is_empty() {
        "invalid arguments"
    } else {
        message
    };
    format!("{message} (see `posture --help`)")
}

/// Whether `e` is a write to a closed pipe (`posture analyze | head`), which is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    fn pipe(c: &(dyn std::error::Error + 'static)) -> bool {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }
    e.chain().any(|c| {
        // A sink writing to stdout fails inside the pipeline's handler: look into its error.
        let inner = c
            .downcast_ref::<posture::run::pipeline::PipelineError>()
            .and_then(posture::run::pipeline::PipelineError::caller_error)
            .map(|inner| -> &(dyn std::error::Error + 'static) { inner });
        pipe(c) || std::iter::successors(inner, |e| e.source()).any(pipe)
    })
}

/// Runs the parsed command.
///
/// # Errors
/// Any error that ends the command; per-image errors of `analyze` are reported and counted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Analyze {
            paths,
            model,
            out,
            overlay,
            score_threshold,
            calibration,
            thresholds,
        } => {
            let judge = Judge {
                settings: Settings::load_or_default(thresholds.as_deref())?,
                baseline: calibration.as_deref().map(Baseline::load).transpose()?,
                threshold: score_threshold,
            };
            analyze_cmd(&paths, &model, out.as_deref(), overlay.as_deref(), &judge)
        }
        Command::Monitor {
            mut source,
            model,
            mut live,
            profile,
        } => {
            profile.apply(&mut source, &mut live)?;
            let analyzer = live.analyzer(&source.calibration_key())?;
            let opened = source.open("monitor")?;
            let estimator = model.load_tracked()?;
            live::run(opened, estimator, &live, analyzer)
        }
        Command::Demo { model, live, loops } => {
            let analyzer = live.analyzer("demo")?;
            let source = live::demo_source(loops)?;
            let estimator = model.load_tracked()?;
            live::run(source, estimator, &live, analyzer)
        }
        Command::Calibrate {
            mut source,
            model,
            duration_secs,
            mut calibration,
            profile,
            config,
            score_threshold,
        } => {
            let mut key = source.calibration_key();
            if let Some(p) = &profile {
                let desk::ProfileSettings {
                    camera,
                    calibration: path,
                    ..
                } = desk::profile_settings(config.as_deref(), p)?;
                source.default_camera(camera);
                key = format!("profile {p}");
                calibration = Some(path);
            }
            let opened = source.open("calibrate")?;
            let estimator = model.load_tracked()?;
            live::calibrate(
                opened,
                estimator,
                &key,
                duration_secs,
                calibration,
                score_threshold,
            )
        }
        Command::Cameras => live::cameras(),
        Command::Eval(args) => eval::eval(&args),
        Command::Desk(args) => desk::desk(args),
        Command::Config(args) => desk::show_config(args),
        Command::Today { dir, json } => desk::today(dir.as_deref(), json),
        Command::Replay {
            session,
            calibration,
            thresholds,
            exercise,
            score_threshold,
        } => live::replay(
            &session,
            calibration.as_deref(),
            thresholds.as_deref(),
            exercise.as_deref(),
            score_threshold,
        ),
        Command::Export {
            session,
            csv: _,
            out,
        } => live::export_csv(&session, out.as_deref()),
        Command::Report {
            sessions,
            out,
            json,
        } => report::report(&sessions, &out, json),
        Command::History { dir, json } => report::history(dir.as_deref(), json),
        Command::Exercise {
            name,
            reps,
            hold_secs,
            mut source,
            model,
            mut live,
            profile,
        } => {
            profile.apply(&mut source, &mut live)?;
            let mut def = posture::exercise::Definition::find(&name)?;
            if let Some(h) = hold_secs {
                def = def.with_hold_secs(h);
            }
            let reps = reps.unwrap_or(def.reps);
            let analyzer = live.analyzer(&source.calibration_key())?;
            let opened = source.open(&format!("exercise {name}"))?;
            let estimator = model.load_tracked()?;
            live::exercise(opened, estimator, &live, analyzer, def, reps)
        }
        Command::Bench {
            model,
            frames,
            width,
            height,
            compare_engines: true,
            json,
            kernels,
            layers,
            ..
        } => compare_engines_cmd(
            &model,
            &bench_options(&model, kernels, layers),
            frames as usize,
            Resolution::new(width, height),
            json,
        ),
        Command::Bench {
            model,
            width,
            height,
            desk: true,
            camera_fps,
            duration_secs,
            json,
            ..
        } => desk::bench_desk(
            &model,
            Resolution::new(width, height),
            camera_fps,
            duration_secs.unwrap_or(60.0),
            json,
        ),
        Command::Bench {
            model,
            width,
            height,
            pipeline: true,
            camera_fps,
            duration_secs,
            json,
            ..
        } => live::bench_pipeline(
            &model,
            Resolution::new(width, height),
            camera_fps,
            duration_secs.unwrap_or(20.0),
            json,
        ),
        Command::Bench {
            model,
            frames,
            width,
            height,
            json,
            profile_ops,
            by_node,
            idle_ms,
            kernels,
            layers,
            ..
        } => bench_cmd(
            &model,
            &bench_options(&model, kernels, layers),
            frames as usize,
            Resolution::new(width, height),
            json,
            profile_ops.then_some(by_node),
            Duration::from_secs_f64(idle_ms / 1000.0),
        ),
    }
}

/// `--kernels`, as clap parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KernelsArg {
    /// Plain Rust loops.
    Portable,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// AVX-512F (x86-64).
    Avx512,
    /// NEON (aarch64).
    Neon,
}

/// `--layers`, as clap parses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LayersArg {
    /// Each layer on whichever op was faster on this CPU.
    Measured,
    /// Every layer on posture's op.
    Posture,
}

/// `posture bench`'s model options with its `--kernels` and `--layers`.
fn bench_options(model: &ModelArgs, kernels: Option<KernelsArg>, layers: LayersArg) -> OnnxOptions {
    OnnxOptions {
        kernels: kernels.map(|k| match k {
            KernelsArg::Portable => Kernel::Portable,
            KernelsArg::Avx2 => Kernel::Avx2Fma,
            KernelsArg::Avx512 => Kernel::Avx512,
            KernelsArg::Neon => Kernel::Neon,
        }),
        layers: match layers {
            LayersArg::Measured => LayerChoice::Measured,
            LayersArg::Posture => LayerChoice::Posture,
        },
        ..model.options()
    }
}

fn bench_cmd(
    model: &ModelArgs,
    options: &OnnxOptions,
    frames: usize,
    resolution: Resolution,
    json: bool,
    // `Some(by_node)` to profile the network's ops (by node or by kind of op).
    profile_ops: Option<bool>,
    idle: Duration,
) -> anyhow::Result<ExitCode> {
    let mut estimator = OnnxEstimator::load(&model.model, options)?;
    let frame = bench::synthetic_frame(resolution);
    let report = bench::run(
        &mut estimator,
        &frame,
        usize::from(model.threads),
        10,
        frames,
        model.crop == CropArg::Auto,
        idle,
    )?;
    let ops = match profile_ops {
        Some(by_node) => Some(estimator.profile_ops(frames, by_node, idle)?),
        None => None,
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(&report)?;
        if let (Some(ops), Some(obj)) = (&ops, value.as_object_mut()) {
            obj.insert("ops".into(), serde_json::to_value(ops)?);
        }
        serde_json::to_writer(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{report}")?;
        if let Some(ops) = &ops {
            let total: f64 = ops.iter().map(|o| o.ms_per_run).sum();
            writeln!(
                stdout,
                "\n{:<28} {:>6} {:>9} {:>6}",
                "tract op", "nodes", "ms/run", "share"
            )?;
            for o in ops {
                let share = 100.0 * o.ms_per_run / total.max(f64::MIN_POSITIVE);
                write!(
                    stdout,
                    "{:<28} {:>6} {:>9.3} {:>5.1}%",
                    o.op, o.nodes, o.ms_per_run, share
                )?;
                match &o.node {
                    Some(node) => writeln!(stdout, "  {node}")?,
                    None => writeln!(stdout)?,
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compare_engines_cmd(
    model: &ModelArgs,
    options: &OnnxOptions,
    frames: usize,
    resolution: Resolution,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let load = |engine| {
        let options = OnnxOptions {
            engine,
            ..options.clone()
        };
        OnnxEstimator::load(&model.model, &options)
    };
    let (mut fast, mut fused, mut plain) = (
        load(Engine::Fast)?,
        load(Engine::FastFused)?,
        load(Engine::TractPlain)?,
    );
    let frame = bench::synthetic_frame(resolution);
    let comparison = bench::Comparison {
        model: model.model.to_string(),
        threads: usize::from(model.threads),
        frames,
        width_px: resolution.width,
        height_px: resolution.height,
        fast_kernels: fast.kernels(),
        engines: bench::compare(&mut [&mut fast, &mut fused, &mut plain], &frame, 10, frames)?,
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut stdout, &comparison)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{comparison}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How `analyze` judges each image: alone, with these settings and baseline.
struct Judge {
    settings: Settings,
    baseline: Option<Baseline>,
    threshold: f32,
}

fn analyze_cmd(
    paths: &[PathBuf],
    model: &ModelArgs,
    out: Option<&Path>,
    overlay: Option<&Path>,
    judge: &Judge,
) -> anyhow::Result<ExitCode> {
    let mut estimator = model.load()?;
    // `--out` is written beside and renamed over the file at the end: a failed run leaves the
    // previous file as it was.
    let mut file = out.map(AtomicFile::create).transpose()?;
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let sink: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    if let Some(dir) = overlay {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create overlay folder {}", dir.display()))?;
    }
    let mut failed = 0usize;
    for input in image_file::expand_inputs(paths) {
        let (path, result) = match input {
            Ok(path) => {
                let result = analyze_one(&mut estimator, &path, overlay, judge);
                (path, result)
            }
            Err(e) => (e.path().to_owned(), Err(e.into())),
        };
        match result {
            Ok(record) => serde_json::to_writer(&mut *sink, &record)?,
            Err(e) => {
                failed += 1;
                // Each error message names the file it is about.
                let line = error_line(&e);
                eprintln!("posture: error: {line}");
                serde_json::to_writer(&mut *sink, &FailureRecord::new(&path, &line))?;
            }
        }
        writeln!(sink)?;
    }
    sink.flush()?;
    if let Some(f) = file {
        f.commit()?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn analyze_one(
    estimator: &mut OnnxEstimator,
    path: &Path,
    overlay: Option<&Path>,
    judge: &Judge,
) -> anyhow::Result<AnalysisRecord> {
    let threshold = judge.threshold;
    let (image, read_time) = image_file::read_image_timed(path)?;
    let estimate = estimator
        .estimate(image.view())
        .with_context(|| format!("pose estimation failed on {}", path.display()))?;
    if let Some(dir) = overlay {
        let r = image.resolution();
        let mut rgb = image.to_rgb8();
        if let Some(mut canvas) = RgbCanvas::new(&mut rgb, r.width, r.height) {
            draw::skeleton(&mut canvas, &estimate.pose, threshold, Placement::IDENTITY);
        }
        let target = overlay_path(dir, path);
        let mut png = std::io::Cursor::new(Vec::new());
        image::write_buffer_with_format(
            &mut png,
            &rgb,
            r.width,
            r.height,
            image::ExtendedColorType::Rgb8,
            image::ImageFormat::Png,
        )
        .with_context(|| format!("cannot encode overlay {}", target.display()))?;
        posture::output::write_atomically(&target, png.get_ref())?;
    }
    Ok(AnalysisRecord::new(
        path,
        &image,
        (estimator.model_name(), estimator.model_sha256()),
        &estimate,
        read_time,
    )
    .with_posture(&judge_alone(
        &estimate.pose,
        &judge.settings,
        judge.baseline.clone(),
        threshold,
        estimator.model_name(),
    )))
}
/// The file name for `image`'s overlay in `dir`: `<stem>.overlay.png`.
fn overlay_path(dir: &Path, image: &Path) -> PathBuf {
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    dir.join(format!("{stem}.overlay.png"))
}
