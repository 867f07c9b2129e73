//! `posture desk`: the all-day background monitor (no window; notifications; adaptive frame
//! rate; pause through the control socket or SIGUSR1, which closes the camera), and
//! `posture bench --desk`, its CPU budget on a synthetic camera with a scripted person.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::{Duration, Instant};

use anyhow::Context;

use posture::bench::StageStats;
use posture::desk::autostart;
use posture::desk::breaks::BreakTimer;
use posture::desk::config::{self, ConfigFile, Layer, Layers, Origin, Sourced};
use posture::desk::control::{self, ControlError, ControlServer, DeskControl, unix_now};
use posture::desk::cpu::{percent_of_one_core, process_cpu_time, thread_cpu_times};
use posture::desk::locked::LockWatcher;
use posture::desk::pause::PauseFor;
use posture::desk::rate::{RateConfig, RateSink};
use posture::desk::runner::{
    self, DeskEnd, DeskHooks, DeskOptions, DeskState, OpenError, SharedEstimator,
};
use posture::desk::scripted::{DeskScript, ScriptedEstimator};
use posture::event::Event;
use posture::format::session::Header;
use posture::frame::Resolution;
use posture::pose::DEFAULT_SCORE_THRESHOLD;
use posture::run::{self, Flow, FrameUpdate, PipelineOptions, RunOptions, Sink, StopHandle};
use posture::science::analysis::{Analyzer, Settings};
use posture::science::calibration::{self, Baseline};
use posture::sink::json::{JsonFormat, JsonLines};
use posture::sink::notify::{BreakSink, DbusNotifier, Notifier, NotifySink, SIT_TALL_ACTION};
use posture::sink::recorder::Recorder;
use posture::sink::tray::{Tray, TrayHandle, TrayLook, TrayRequest, TraySink};
use posture::source::gate::RateGate;
use posture::source::synthetic::SyntheticSource;
use posture::source::{FrameSource, SourceError};

use crate::cli::ModelArgs;
use crate::cli::live::SourceArgs;

/// `posture desk`'s arguments.
#[derive(Debug, clap::Args)]
pub struct DeskArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Pause the desk monitor that is running for DUR (30m, 1h, 90s, 1h30m, tomorrow = until
    /// 06:00, forever = until resumed), through its control socket; the camera is closed
    /// while paused.
    #[arg(long, value_name = "DUR", value_parser = pause_arg, conflicts_with_all = ["resume", "status"])]
    pause: Option<PauseFor>,
    /// Resume the desk monitor that is running.
    #[arg(long, conflicts_with = "status")]
    resume: bool,
    /// Say whether the desk monitor that is running is watching or paused.
    #[arg(long)]
    status: bool,
    /// The user's upright baseline (default: the one `posture calibrate` saved for this camera).
    #[arg(long, value_name = "FILE")]
    calibration: Option<PathBuf>,
    /// Judge thresholds and alert timing (default: calibration/thresholds.toml, built in).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Keypoints scoring below this are not measured.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = crate::cli::unit_score)]
    score_threshold: f32,
    /// Frames per second analysed while posture is steady and good [default: 2].
    #[arg(long, allow_negative_numbers = true, value_name = "FPS", value_parser = crate::cli::positive_fps)]
    steady_fps: Option<f64>,
    /// Frames per second analysed once posture has been steady and good for half a minute more
    /// [default: 1.2].
    #[arg(long, allow_negative_numbers = true, value_name = "FPS", value_parser = crate::cli::positive_fps)]
    calm_fps: Option<f64>,
    /// Frames per second analysed on change, the alert logic's full rate [default: 10].
    #[arg(long, allow_negative_numbers = true, value_name = "FPS", value_parser = crate::cli::positive_fps)]
    active_fps: Option<f64>,
    /// How often a busy or missing camera is tried again, seconds [default: 60].
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = crate::cli::positive_secs)]
    retry_secs: Option<f64>,
    /// Alerts as desktop notifications (with a terminal fallback) or terminal lines only
    /// [default: desktop].
    #[arg(long, value_name = "desktop|terminal", value_parser = ["desktop", "terminal"])]
    notifications: Option<String>,
    /// The config file [default: ~/.config/posture/config.toml; a missing file is no config].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A profile of the config file (`[profiles.NAME]`): its camera, calibration and settings.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Record the day's sessions in DIR (default: your data folder, e.g.
    /// ~/.local/share/posture/sessions), a new file after each pause.
    #[arg(long, value_name = "DIR", conflicts_with = "no_record")]
    record: Option<PathBuf>,
    /// Do not record.
    #[arg(long)]
    no_record: bool,
    /// Also print the events as JSON lines (`posture.live` v1) on stdout.
    #[arg(long)]
    json: bool,
    /// No tray icon.
    #[arg(long)]
    no_tray: bool,
    /// Start `posture desk` with the desktop session: write the XDG autostart entry
    /// ~/.config/autostart/posture-desk.desktop (with --profile, if given), then exit.
    #[arg(long, conflicts_with = "uninstall_autostart")]
    install_autostart: bool,
    /// Remove the autostart entry, then exit.
    #[arg(long)]
    uninstall_autostart: bool,
    /// Read a video or image folder as fast as possible, sampled by its own time (to try desk
    /// mode on a recording).
    #[arg(long)]
    as_fast_as_possible: bool,
}

fn pause_arg(s: &str) -> Result<PauseFor, String> {
    PauseFor::parse(s)
}

/// Local time's offset from UTC now, seconds (0 where unknown).
fn utc_offset_secs() -> i64 {
    #[cfg(unix)]
    {
        let now = unix_now() as libc::time_t;
        let mut tm = std::mem::MaybeUninit::<libc::tm>::zeroed();
        // SAFETY: both pointers are valid for the call; localtime_r reports failure by
        // returning null, checked before `tm` is read.
        let ok = unsafe { !libc::localtime_r(&now, tm.as_mut_ptr()).is_null() };
        if ok {
            // SAFETY: localtime_r succeeded, so `tm` is initialised (it was zeroed besides).
            return i64::from(unsafe { tm.assume_init() }.tm_gmtoff as i32);
        }
    }
    0
}

/// `14:30` local time for a Unix time.
fn clock(unix: f64) -> String {
    let local = unix as i64 + utc_offset_secs();
    let secs = local.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// The desk's effective settings and where each came from.
struct Effective {
    config_path: Option<PathBuf>,
    config_found: bool,
    camera: Sourced<u32>,
    model: Sourced<String>,
    calibration: Sourced<Option<PathBuf>>,
    thresholds: Sourced<Option<PathBuf>>,
    steady_fps: Sourced<f64>,
    calm_fps: Sourced<f64>,
    active_fps: Sourced<f64>,
    retry_secs: Sourced<f64>,
    notifications: Sourced<String>,
    break_after_mins: Sourced<f64>,
    break_length_mins: Sourced<f64>,
}

/// The config file (`--config FILE`, else the default place): its path and contents (`None`:
/// there is no file there, which is only an error when it was named).
fn load_config(
    given: Option<&std::path::Path>,
) -> anyhow::Result<(Option<PathBuf>, Option<ConfigFile>)> {
    let config_path = given
        .map(std::path::Path::to_path_buf)
        .or_else(config::default_path);
    let file = match &config_path {
        Some(p) => ConfigFile::load(p)?,
        None => None,
    };
    if given.is_some()
        && file.is_none()
        && let Some(p) = &config_path
    {
        anyhow::bail!("config file {} not found", p.display());
    }
    Ok((config_path, file))
}

/// The calibration file's name (without `.json`) of a profile; without a profile, each camera
/// has its own.
fn calibration_key(profile: Option<&str>, camera: u32) -> String {
    match profile {
        Some(p) => format!("profile-{p}"),
        None => format!("camera-{camera}"),
    }
}

/// What `monitor`, `exercise` and `calibrate` take from a profile of the config file.
pub struct ProfileSettings {
    /// The profile's camera, when the file gives one.
    pub camera: Option<u32>,
    /// The file its calibration is kept in.
    pub calibration: PathBuf,
    /// Its thresholds file, when the file gives one.
    pub thresholds: Option<PathBuf>,
}

/// The profile's camera, the file its calibration is kept in (the profile's `calibration`, else
/// `~/.config/posture/calibration/profile-NAME.json`) and its thresholds, as `posture desk
/// --profile NAME` reads them.
///
/// # Errors
/// An unknown profile, a malformed config file, no configuration folder.
pub fn profile_settings(
    config_file: Option<&std::path::Path>,
    profile: &str,
) -> anyhow::Result<ProfileSettings> {
    let (config_path, file) = load_config(config_file)?;
    let shown = config_path
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    let layers = Layers::new(file.as_ref(), &shown, Some(profile), Layer::default())?;
    let camera = layers.get(|l| l.camera, 0);
    let camera = (camera.origin != Origin::Default).then_some(camera.value);
    let calibration = match layers.get(|l| l.calibration.clone(), PathBuf::new()) {
        Sourced {
            origin: Origin::Default,
            ..
        } => calibration::default_path(&calibration_key(Some(profile), 0)).context(
            "no configuration folder is known on this system; give the profile a `calibration` file in the config",
        )?,
        given => given.value,
    };
    let thresholds = layers.get(|l| l.thresholds.clone().map(Some), None).value;
    Ok(ProfileSettings {
        camera,
        calibration,
        thresholds,
    })
}

fn effective(args: &DeskArgs) -> anyhow::Result<Effective> {
    let (config_path, file) = load_config(args.config.as_deref())?;
    let shown = config_path
        .as_ref()
        .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    // --model has a default: it counts as given only when it is on the command line.
    let model_given = std::env::args().any(|a| a == "--model" || a.starts_with("--model="));
    let flags = Layer {
        camera: args.source.camera,
        model: model_given.then(|| args.model.model.to_string()),
        calibration: args.calibration.clone(),
        thresholds: args.thresholds.clone(),
        steady_fps: args.steady_fps,
        calm_fps: args.calm_fps,
        active_fps: args.active_fps,
        retry_secs: args.retry_secs,
        notifications: args.notifications.clone(),
        break_after_mins: None,
        break_length_mins: None,
    };
    let layers = Layers::new(file.as_ref(), &shown, args.profile.as_deref(), flags)?;
    let camera = layers.get(|l| l.camera, 0);
    let calibration = match layers.get(|l| l.calibration.clone().map(Some), None) {
        Sourced { value: None, .. } => {
            // Each profile has its own calibration; without one, each camera has.
            let key = calibration_key(args.profile.as_deref(), camera.value);
            Sourced {
                value: calibration::default_path(&key),
                origin: Origin::Default,
            }
        }
        given => given,
    };
    Ok(Effective {
        config_found: file.is_some(),
        config_path,
        camera,
        model: layers.get(|l| l.model.clone(), "lightning".to_owned()),
        calibration,
        thresholds: layers.get(|l| l.thresholds.clone().map(Some), None),
        steady_fps: layers.get(|l| l.steady_fps, RateConfig::default().steady_fps),
        calm_fps: layers.get(|l| l.calm_fps, RateConfig::default().calm_fps),
        active_fps: layers.get(|l| l.active_fps, RateConfig::default().active_fps),
        retry_secs: layers.get(|l| l.retry_secs, 60.0),
        notifications: layers.get(|l| l.notifications.clone(), "desktop".to_owned()),
        break_after_mins: layers.get(|l| l.break_after_mins, 50.0),
        break_length_mins: layers.get(|l| l.break_length_mins, 2.0),
    })
}

/// `posture config`: the effective desk settings and where each came from.
pub fn show_config(args: DeskArgs) -> anyhow::Result<ExitCode> {
    let e = effective(&args)?;
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
    };
    println!(
        "# config file: {} ({})",
        path(&e.config_path),
        if e.config_found {
            "read"
        } else {
            "not there: defaults"
        }
    );
    if let Some(p) = &args.profile {
        println!("# profile: {p}");
    }
    let rows: [(&str, String, &Origin); 12] = [
        ("camera", e.camera.value.to_string(), &e.camera.origin),
        ("model", format!("\"{}\"", e.model.value), &e.model.origin),
        (
            "calibration",
            format!("\"{}\"", path(&e.calibration.value)),
            &e.calibration.origin,
        ),
        (
            "thresholds",
            format!("\"{}\"", path(&e.thresholds.value)),
            &e.thresholds.origin,
        ),
        (
            "steady_fps",
            e.steady_fps.value.to_string(),
            &e.steady_fps.origin,
        ),
        ("calm_fps", e.calm_fps.value.to_string(), &e.calm_fps.origin),
        (
            "active_fps",
            e.active_fps.value.to_string(),
            &e.active_fps.origin,
        ),
        (
            "retry_secs",
            e.retry_secs.value.to_string(),
            &e.retry_secs.origin,
        ),
        (
            "notifications",
            format!("\"{}\"", e.notifications.value),
            &e.notifications.origin,
        ),
        (
            "break_after_mins",
            e.break_after_mins.value.to_string(),
            &e.break_after_mins.origin,
        ),
        (
            "break_length_mins",
            e.break_length_mins.value.to_string(),
            &e.break_length_mins.origin,
        ),
        (
            "schema_version",
            config::SCHEMA_VERSION.to_string(),
            &Origin::Default,
        ),
    ];
    for (key, value, origin) in rows {
        println!("{key} = {value}  # {origin}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `posture desk`.
pub fn desk(mut args: DeskArgs) -> anyhow::Result<ExitCode> {
    if args.pause.is_some() || args.resume || args.status {
        return control_command(&args);
    }
    if args.install_autostart || args.uninstall_autostart {
        let path =
            autostart::default_path().context("no configuration folder is known on this system")?;
        if args.uninstall_autostart {
            let had = autostart::uninstall(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            println!(
                "{} {}",
                if had { "removed" } else { "there was no" },
                path.display()
            );
        } else {
            let exe = std::env::current_exe().context("cannot find this program's path")?;
            let extra: Vec<String> = args
                .profile
                .iter()
                .flat_map(|p| ["--profile".to_owned(), p.clone()])
                .collect();
            autostart::install(&path, &exe, &extra)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {}: posture desk starts with your session",
                path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let eff = effective(&args)?;
    if args.source.video.is_none() && args.source.images.is_none() {
        args.source.camera = Some(eff.camera.value);
    }
    args.model.model = eff
        .model
        .value
        .parse()
        .map_err(|e| anyhow::anyhow!("config: model: {e}"))?;
    args.calibration = eff
        .calibration
        .value
        .clone()
        // A file named in the config or a profile may not be recorded yet (Recalibrate writes
        // it); one given as a flag must exist.
        .filter(|p| eff.calibration.origin == Origin::Flag || p.exists());
    args.thresholds = eff.thresholds.value.clone();
    let control = DeskControl::new();
    // The handlers come before the control socket: once the socket answers, a SIGUSR1 must
    // toggle the pause, not kill the process (its default action) while the model loads.
    {
        let c = control.clone();
        ctrlc::set_handler(move || c.quit())
            .context("cannot install the Ctrl-C (SIGINT, SIGTERM, SIGHUP) handler")?;
    }
    #[cfg(unix)]
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, control.toggle_flag())
        .context("cannot install the SIGUSR1 handler")?;
    // One desk per user: the control socket says whether one runs.
    let server = match control::socket_path() {
        Ok(path) => match ControlServer::start(&path, control.clone()) {
            Ok(s) => Some(s),
            Err(e @ ControlError::AlreadyRunning(_)) => return Err(e.into()),
            Err(e) => {
                eprintln!("posture: warning: {e}; pause with SIGUSR1 instead");
                None
            }
        },
        Err(e) => {
            eprintln!("posture: warning: {e}; pause with SIGUSR1 instead");
            None
        }
    };
    let settings = Settings::load_or_default(args.thresholds.as_deref())?;
    let key = match &args.profile {
        Some(p) => format!("profile {p}"),
        None => args.source.calibration_key(),
    };
    let baseline = match &args.calibration {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };
    if baseline.is_none() {
        eprintln!(
            "posture: no calibration for {key}: judging with the clinical defaults (run `posture calibrate` to judge against your own upright posture)"
        );
    }
    let mut analyzer = Analyzer::new(args.score_threshold, settings, baseline.clone());
    let estimator = args.model.load()?;
    let (model_name, model_sha) = (
        estimator.model_name().to_owned(),
        estimator.model_sha256().to_owned(),
    );
    let estimator = SharedEstimator::new(Box::new(estimator));

    // The locked screen closes the camera like a pause (skipped quietly without logind).
    let lock_watch = LockWatcher::start(control.clone(), Duration::from_secs(2));
    let gate = RateGate::new();
    let rate = RateConfig {
        steady_fps: eff.steady_fps.value,
        calm_fps: eff.calm_fps.value,
        active_fps: eff.active_fps.value,
        ..RateConfig::default()
    };
    let mut rate_sink = RateSink::new(rate, gate.clone());
    let (request_tx, request_rx) = crossbeam_channel::bounded::<TrayRequest>(4);
    let tray = if args.no_tray {
        None
    } else {
        let tx = request_tx.clone();
        match Tray::start(
            control.clone(),
            utc_offset_secs(),
            Arc::new(move |r| {
                let _ = tx.try_send(r);
            }),
        ) {
            Ok(t) => Some(t),
            Err(why) => {
                eprintln!("posture: no tray icon ({why}); going on without it");
                None
            }
        }
    };
    let mut tray_sink = tray.as_ref().map(|t| TraySink::new(t.handle()));
    let notifier = if eff.notifications.value == "terminal" {
        Err("notifications = \"terminal\"".to_owned())
    } else {
        DbusNotifier::connect().map(|n| Box::new(n) as Box<dyn Notifier>)
    };
    let desktop = notifier.is_ok();
    let mut notify = NotifySink::new(notifier, std::io::stderr())?;
    let break_notifier = if desktop {
        DbusNotifier::connect()
            .ok()
            .map(|n| Box::new(n) as Box<dyn Notifier>)
    } else {
        None
    };
    let mut breaks = BreakSink::new(
        BreakTimer::new(
            eff.break_after_mins.value * 60.0,
            eff.break_length_mins.value * 60.0,
        ),
        break_notifier,
        std::io::stderr(),
    );
    // The break notification's "Sit tall" button starts the exercise.
    let action_listener = if desktop {
        let (tx, break_id) = (request_tx.clone(), breaks.notification_id());
        let listening = DbusNotifier::connect().and_then(|n| {
            n.listen_actions(move |id, key| {
                if key == SIT_TALL_ACTION && id != 0 && id == break_id.load(AtomicOrdering::SeqCst)
                {
                    let _ = tx.try_send(TrayRequest::SitTall);
                }
            })
        });
        match listening {
            Ok(l) => Some(l),
            Err(why) => {
                eprintln!(
                    "posture: warning: {why}; the break notification's button will do nothing"
                );
                None
            }
        }
    } else {
        None
    };
    drop(request_tx);
    let mut json = args
        .json
        .then(|| JsonLines::new(std::io::stdout().lock(), JsonFormat::Live));
    let record_dir = if args.no_record {
        None
    } else {
        match args
            .record
            .clone()
            .or_else(posture::format::session::default_dir)
        {
            Some(d) => Some(d),
            None => {
                eprintln!(
                    "posture: warning: no data folder is known on this system; pass --record DIR; going on without recording"
                );
                None
            }
        }
    };
    let closed = CameraClosed::default();
    let stop_requests = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let requests = {
        let stop_t = Arc::clone(&stop_requests);
        let control = control.clone();
        let how = Requests {
            program: std::env::var_os(COMMAND_ENV)
                .map(PathBuf::from)
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| PathBuf::from("posture")),
            source: args.source.to_args(),
            calibration: eff.calibration.value.clone(),
            thresholds: args.thresholds.clone(),
            profile: args.profile.clone(),
            config: args.config.clone(),
            record_dir: record_dir.clone(),
            stdout_to_stderr: args.json,
            closed: closed.clone(),
            exercised: breaks.exercised_flag(),
        };
        std::thread::Builder::new()
            .name("posture-desk-requests".into())
            .spawn(move || serve_requests(&request_rx, &control, &how, &stop_t))
            .context("cannot start the tray's request thread")?
    };
    let described = Rc::new(RefCell::new(String::new()));
    let mut recorder = SegmentRecorder {
        dir: record_dir,
        header: Box::new(move |source: &str| {
            Header::new(&model_name, &model_sha, baseline.clone(), source, None)
        }),
        source: Rc::clone(&described),
        current: None,
        saved: Vec::new(),
    };

    let options = DeskOptions {
        run: RunOptions {
            pipeline: PipelineOptions {
                pace: !args.as_fast_as_possible,
                drop_stale: !args.as_fast_as_possible,
                gate: Some(gate.clone()),
                ..PipelineOptions::default()
            },
            score_threshold: args.score_threshold,
        },
        retry_every: Duration::from_secs_f64(eff.retry_secs.value),
    };
    let mut hooks = Hooks {
        source: &args.source,
        described,
        tray: tray.as_ref().map(Tray::handle),
        reload: Reload {
            calibration: eff.calibration.value.clone(),
            threshold: args.score_threshold,
            thresholds: args.thresholds.clone(),
            loaded_mtime: None,
        },
        closed,
    };
    if let Some(s) = &server {
        eprintln!(
            "posture: desk mode; pause with `posture desk --pause 30m` (socket {}) or `kill -USR1 {}`",
            s.path().display(),
            std::process::id()
        );
    }
    let result = {
        let mut sinks: Vec<&mut dyn Sink> =
            vec![&mut rate_sink, &mut notify, &mut breaks, &mut recorder];
        if let Some(j) = &mut json {
            sinks.push(j);
        }
        if let Some(t) = &mut tray_sink {
            sinks.push(t);
        }
        runner::run(
            &mut hooks,
            &estimator,
            &mut analyzer,
            &mut sinks,
            &options,
            &control,
        )
    };
    drop(server);
    drop(lock_watch);
    drop(tray_sink);
    drop(hooks);
    drop(tray);
    drop(action_listener);
    stop_requests.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = requests.join();
    for p in &recorder.saved {
        eprintln!("posture: session saved to {}", p.display());
    }
    let outcome = result?;
    let (shown, withdrawn) = notify.counts();
    let (suggested, taken) = breaks.counts();
    eprintln!(
        "posture: desk {}: {} frames analysed of {} captured ({} skipped before decoding), {} alert(s) shown, {} withdrawn, {} break(s) suggested, {} taken",
        match outcome.end {
            DeskEnd::Quit => "stopped",
            DeskEnd::EndOfStream => "end of stream",
            DeskEnd::SinkStopped => "window closed",
        },
        outcome.analysed,
        outcome.captured + gate.skipped(),
        gate.skipped(),
        shown,
        withdrawn,
        suggested,
        taken
    );
    Ok(ExitCode::SUCCESS)
}

fn control_command(args: &DeskArgs) -> anyhow::Result<ExitCode> {
    let path = control::socket_path()?;
    let line = match args.pause {
        Some(p) => match p.deadline(unix_now(), utc_offset_secs()) {
            Some(t) => format!("pause-until {t:.0}"),
            None => "pause-forever".to_owned(),
        },
        None if args.resume => "resume".to_owned(),
        None => "status".to_owned(),
    };
    let reply = match control::send(&path, &line) {
        Ok(r) => r,
        Err(e @ ControlError::NotRunning(_)) => {
            eprintln!("posture: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    match reply.strip_prefix("ok ") {
        Some(rest) => {
            let words = match rest.strip_prefix("paused until ") {
                Some(t) => match t.parse::<f64>() {
                    Ok(t) => format!("paused until {}", clock(t)),
                    Err(_) => rest.to_owned(),
                },
                None => rest.to_owned(),
            };
            println!("posture desk: {words}");
            Ok(ExitCode::SUCCESS)
        }
        None => anyhow::bail!("the running desk refused `{line}`: {reply}"),
    }
}

struct Hooks<'a> {
    source: &'a SourceArgs,
    /// The open source's description, for the recording's header.
    described: Rc<RefCell<String>>,
    tray: Option<TrayHandle>,
    reload: Reload,
    closed: CameraClosed,
}

/// Loads the calibration again when its file changed (the tray's "Recalibrate").
struct Reload {
    calibration: Option<PathBuf>,
    threshold: f32,
    thresholds: Option<PathBuf>,
    /// The file's time when last looked at (`None`: not yet looked at).
    loaded_mtime: Option<Option<std::time::SystemTime>>,
}

impl Reload {
    fn path(&self) -> Option<PathBuf> {
        self.calibration.clone()
    }

    fn mtime(&self) -> Option<std::time::SystemTime> {
        self.path()
            .and_then(|p| std::fs::metadata(p).ok())
            .and_then(|m| m.modified().ok())
    }

    /// A new analyzer when the calibration file changed since it was last loaded.
    fn changed(&mut self) -> Option<Analyzer> {
        let now = self.mtime();
        let before = self.loaded_mtime.replace(now)?;
        if now == before || now.is_none() {
            return None;
        }
        let baseline = Baseline::load(&self.path()?).ok()?;
        let settings = Settings::load_or_default(self.thresholds.as_deref()).ok()?;
        eprintln!("posture: using the new calibration");
        Some(Analyzer::new(self.threshold, settings, Some(baseline)))
    }
}

/// The environment variable naming a program the desk runs instead of this `posture` for the
/// tray's Recalibrate and live window and the break's Sit tall (it gets posture's arguments).
pub const COMMAND_ENV: &str = "POSTURE_DESK_COMMAND";

/// Whether the desk has closed its source (it is not watching), with a condition to wait on.
#[derive(Clone, Default)]
struct CameraClosed(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl CameraClosed {
    fn set(&self, closed: bool) {
        let (m, c) = &*self.0;
        *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = closed;
        c.notify_all();
    }

    /// Waits up to `timeout` for the source to be closed; whether it is.
    fn wait(&self, timeout: Duration) -> bool {
        let (m, c) = &*self.0;
        let guard = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (guard, _) = c
            .wait_timeout_while(guard, timeout, |closed| !*closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }
}

/// What the request thread needs to carry out the tray's and the notifications' requests.
struct Requests {
    /// The program to run (this posture, or [`COMMAND_ENV`]'s).
    program: PathBuf,
    /// The desk's source, as arguments.
    source: Vec<std::ffi::OsString>,
    /// The calibration the desk judges with (and Recalibrate writes).
    calibration: Option<PathBuf>,
    thresholds: Option<PathBuf>,
    /// The desk's profile and config file: a child run before the profile's calibration is
    /// recorded gets `--profile`, so it too judges without a baseline rather than with the
    /// camera's default one.
    profile: Option<String>,
    config: Option<PathBuf>,
    /// Where today's figures are read from.
    record_dir: Option<PathBuf>,
    /// The children's standard output goes to standard error (the desk's own is JSON).
    stdout_to_stderr: bool,
    closed: CameraClosed,
    /// Set when a Sit tall set ends with every rep done: the break sink counts it as a break.
    exercised: Arc<std::sync::atomic::AtomicBool>,
}

impl Requests {
    /// The command a request runs (`None`: today's figures, shown without one).
    fn command(&self, request: TrayRequest) -> Option<std::process::Command> {
        let mut command = std::process::Command::new(&self.program);
        let judge = |command: &mut std::process::Command| {
            if let Some(c) = self.calibration.as_ref().filter(|c| c.exists()) {
                command.arg("--calibration").arg(c);
            } else if let Some(p) = &self.profile {
                command.arg("--profile").arg(p);
                if let Some(f) = &self.config {
                    command.arg("--config").arg(f);
                }
            }
            if let Some(t) = &self.thresholds {
                command.arg("--thresholds").arg(t);
            }
        };
        match request {
            TrayRequest::Recalibrate => {
                command.arg("calibrate").args(&self.source);
                if let Some(c) = &self.calibration {
                    command.arg("--calibration").arg(c);
                }
            }
            TrayRequest::OpenWindow => {
                command.arg("monitor").args(&self.source);
                judge(&mut command);
            }
            TrayRequest::SitTall => {
                command.args(["exercise", "sit-tall"]).args(&self.source);
                judge(&mut command);
            }
            TrayRequest::ShowToday => return None,
        }
        if self.stdout_to_stderr {
            #[cfg(unix)]
            if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
                command.stdout(std::process::Stdio::from(fd));
            }
        }
        Some(command)
    }

    /// Today's figures as a notification (a line on stderr without a notification server).
    fn show_today(&self, shown_id: &mut u32) {
        let words = match Today::load(self.record_dir.as_deref()) {
            Ok(t) => t.words(),
            Err(e) => format!("cannot read today's recordings: {e:#}"),
        };
        let shown = DbusNotifier::connect()
            .and_then(|mut n| n.show(*shown_id, "Posture: today", &words, true, &[]));
        match shown {
            Ok(id) => *shown_id = id,
            Err(_) => eprintln!("posture: today: {words}"),
        }
    }

    /// Pauses the desk (closing the camera), runs the request's `posture` command, and puts the
    /// pause back as it was when the command ends.
    fn run_with_camera(&self, control: &DeskControl, request: TrayRequest) {
        let Some(mut command) = self.command(request) else {
            return;
        };
        let before = control.paused(unix_now());
        control.pause(None);
        let closed = self.closed.wait(Duration::from_secs(10));
        if !closed {
            eprintln!("posture: warning: the desk has not closed the camera yet; going on");
        }
        let what = format!("{:?}", command.get_args().next().unwrap_or_default());
        match command.status() {
            // Counted when the desk's next segment starts, so only when this one ended.
            Ok(status) if status.success() && request == TrayRequest::SitTall && closed => {
                self.exercised.store(true, AtomicOrdering::SeqCst);
            }
            Ok(_) => {}
            Err(e) => eprintln!("posture: cannot run {} {what}: {e}", self.program.display()),
        }
        match before {
            Some(p) => control.pause(p.until_unix),
            None => control.resume(),
        }
    }
}

/// Carries out the requests that need the program, one at a time: Recalibrate, the live window
/// and Sit tall pause the desk (closing the camera), run `posture calibrate`, `posture monitor`
/// or `posture exercise sit-tall` on the same source, and resume when it ends; today's figures
/// are shown as a notification.
fn serve_requests(
    requests: &crossbeam_channel::Receiver<TrayRequest>,
    control: &DeskControl,
    how: &Requests,
    stop: &std::sync::atomic::AtomicBool,
) {
    let mut today_id = 0;
    loop {
        let request = match requests.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        match request {
            TrayRequest::ShowToday => how.show_today(&mut today_id),
            other => how.run_with_camera(control, other),
        }
    }
}

impl DeskHooks for Hooks<'_> {
    fn open(&mut self) -> Result<Box<dyn FrameSource>, OpenError> {
        match self.source.open_source() {
            Ok(s) => {
                *self.described.borrow_mut() = s.describe();
                Ok(s)
            }
            Err(e) => match e.downcast::<SourceError>() {
                Ok(se) => Err(se.into()),
                Err(e) => Err(OpenError::Fatal(e.into())),
            },
        }
    }

    fn before_segment(&mut self, analyzer: &mut Analyzer) {
        if let Some(a) = self.reload.changed() {
            *analyzer = a;
        }
    }

    fn state(&mut self, state: &DeskState) {
        self.closed
            .set(!matches!(state, DeskState::Watching { .. }));
        if let Some(t) = &self.tray {
            let (look, detail) = match state {
                DeskState::Watching { source } => (TrayLook::Starting, source.clone()),
                DeskState::Paused {
                    until_unix: Some(u),
                } => (TrayLook::Paused, format!("until {}", clock(*u))),
                DeskState::Paused { until_unix: None } => {
                    (TrayLook::Paused, "until resumed".to_owned())
                }
                DeskState::ScreenLocked => (TrayLook::Paused, "screen locked".to_owned()),
                DeskState::CameraBusy { error } => (TrayLook::CameraBusy, error.clone()),
            };
            t.show(look, &detail);
        }
        let line = match state {
            DeskState::Watching { source } => format!("watching {source}"),
            DeskState::Paused {
                until_unix: Some(t),
            } => format!("paused until {}: the camera is closed", clock(*t)),
            DeskState::Paused { until_unix: None } => {
                "paused until resumed: the camera is closed".to_owned()
            }
            DeskState::ScreenLocked => "the screen is locked: the camera is closed".to_owned(),
            DeskState::CameraBusy { error } => {
                format!("cannot use the camera ({error}); trying again every minute")
            }
        };
        eprintln!("posture: {line}");
    }
}

/// A recording per segment: a new session file after each pause, the last one finished when
/// the segment ends.
struct SegmentRecorder {
    dir: Option<PathBuf>,
    header: Box<dyn Fn(&str) -> Header>,
    source: Rc<RefCell<String>>,
    current: Option<Recorder>,
    saved: Vec<PathBuf>,
}

impl SegmentRecorder {
    fn recorder(&mut self) -> Option<&mut Recorder> {
        if self.current.is_none()
            && let Some(dir) = &self.dir
        {
            match Recorder::start(dir, &(self.header)(&self.source.borrow())) {
                Ok(r) => self.current = Some(r),
                Err(e) => {
                    eprintln!("posture: warning: {e}; going on without recording");
                    self.dir = None;
                }
            }
        }
        self.current.as_mut()
    }
}

impl Sink for SegmentRecorder {
    fn event(&mut self, t_secs: f64, event: &Event) -> std::io::Result<()> {
        match self.recorder() {
            Some(r) => r.event(t_secs, event),
            None => Ok(()),
        }
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        match self.recorder() {
            Some(r) => r.frame(update),
            None => Ok(Flow::Continue),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self.current.take() {
            Some(mut r) => {
                let result = r.finish();
                if r.complete() {
                    self.saved.push(r.path().to_owned());
                }
                result
            }
            None => Ok(()),
        }
    }

    fn take_warnings(&mut self) -> Vec<String> {
        self.current
            .as_mut()
            .map(Sink::take_warnings)
            .unwrap_or_default()
    }
}

/// Notes the first alert after the slouch and stops after the bench's duration.
struct DeskBenchSink {
    origin: Instant,
    until: Duration,
    slouch_at: f64,
    alert_at: Option<f64>,
    cleared_at: Option<f64>,
    cpu_at_slouch: Option<Duration>,
    /// Each analysed frame's hot loop (letterbox, network, decoding).
    hot_loop: Vec<Duration>,
    /// CPU time per thread name, read just before the run stops (the threads are gone after).
    threads: Option<Vec<(String, Duration)>>,
}

impl Sink for DeskBenchSink {
    fn event(&mut self, _: f64, event: &Event) -> std::io::Result<()> {
        let t = self.origin.elapsed().as_secs_f64();
        match event {
            Event::Alert { .. } if self.alert_at.is_none() && t >= self.slouch_at => {
                self.alert_at = Some(t)
            }
            Event::AlertCleared { .. } if self.alert_at.is_some() => {
                self.cleared_at.get_or_insert(t);
            }
            _ => {}
        }
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        let elapsed = self.origin.elapsed();
        self.hot_loop
            .push(update.processed.estimate.timings.total());
        if self.cpu_at_slouch.is_none() && elapsed.as_secs_f64() >= self.slouch_at {
            self.cpu_at_slouch = process_cpu_time();
        }
        Ok(if elapsed >= self.until {
            self.threads = thread_cpu_times();
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

/// `posture bench --desk`: the desk loop (adaptive rate, gate before "decoding") on a
/// synthetic camera whose scripted person sits well, slouches for the onset delay plus 10 s
/// from 60 % of the run, and recovers; CPU time from getrusage.
pub fn bench_desk(
    model: &ModelArgs,
    resolution: Resolution,
    camera_fps: f64,
    duration_secs: f64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::default();
    let onset = settings.alerts.onset_secs;
    let slouch_for = onset + 10.0;
    // Sitting well for the first 60% of the run (at least 10 s), slouching, then 5 s or more
    // of recovery.
    let shortest = 10.0 + slouch_for + 5.0;
    if duration_secs < shortest {
        anyhow::bail!(
            "bench --desk needs --duration-secs of at least {shortest:.0} (the person sits well for 10 s, slouches for {slouch_for:.0} s, then recovers)"
        );
    }
    let slouch_at = (duration_secs * 0.6).clamp(10.0, duration_secs - slouch_for - 5.0);
    let estimator = model.load()?;
    let mut analyzer = Analyzer::new(DEFAULT_SCORE_THRESHOLD, settings, None);
    let gate = RateGate::new();
    let mut rate = RateSink::new(RateConfig::default(), gate.clone());
    let source = SyntheticSource::new(resolution, camera_fps);
    let origin = Instant::now();
    let script = DeskScript {
        slouch_from_secs: slouch_at,
        slouch_for_secs: slouch_for,
    };
    let estimator = ScriptedEstimator::new(estimator, script, origin);
    let mut bench = DeskBenchSink {
        origin,
        until: Duration::from_secs_f64(duration_secs),
        slouch_at,
        alert_at: None,
        cleared_at: None,
        cpu_at_slouch: None,
        hot_loop: Vec::new(),
        threads: None,
    };
    let cpu_start = process_cpu_time().context("getrusage is not available here")?;
    let options = RunOptions {
        pipeline: PipelineOptions {
            gate: Some(gate.clone()),
            ..PipelineOptions::default()
        },
        score_threshold: DEFAULT_SCORE_THRESHOLD,
    };
    let outcome = run::run(
        Box::new(source),
        Box::new(estimator),
        &mut analyzer,
        None,
        &mut [&mut rate, &mut bench],
        &options,
        &StopHandle::new(),
    )?;
    let wall = origin.elapsed();
    let cpu = process_cpu_time()
        .context("getrusage is not available here")?
        .saturating_sub(cpu_start);
    let cpu_well = bench
        .cpu_at_slouch
        .map(|c| c.saturating_sub(cpu_start))
        .unwrap_or(cpu);
    let percent = percent_of_one_core(cpu, wall);
    let percent_well = percent_of_one_core(cpu_well, Duration::from_secs_f64(slouch_at));
    let latency = bench.alert_at.map(|a| a - slouch_at);
    let on_time = latency.is_some_and(|l| l <= onset + 1.0);
    let captured = outcome.summary.captured + gate.skipped();
    let summary = &outcome.summary;
    let hot_loop = StageStats::from_samples(&bench.hot_loop);
    let cpu_ms_per_frame = 1000.0 * cpu.as_secs_f64() / (summary.processed.max(1) as f64);
    let threads: Vec<serde_json::Value> = bench
        .threads
        .iter()
        .flatten()
        .map(|(name, d)| serde_json::json!({"thread": name, "cpu_secs": d.as_secs_f64()}))
        .collect();
    if json {
        let v = serde_json::json!({
            "model": model.model.to_string(), "threads": model.threads,
            "camera_fps": camera_fps, "width_px": resolution.width, "height_px": resolution.height,
            "duration_secs": wall.as_secs_f64(), "cpu_secs": cpu.as_secs_f64(),
            "cpu_percent_of_one_core": percent,
            "cpu_percent_of_one_core_sitting_well": percent_well,
            "frames_delivered": captured, "frames_analysed": summary.processed,
            "frames_skipped_before_decoding": gate.skipped(),
            "frames_dropped_stale": summary.dropped,
            "analysed_fps": summary.processed as f64 / wall.as_secs_f64(),
            "slouch_at_secs": slouch_at, "slouch_for_secs": slouch_for, "onset_secs": onset,
            "alert_at_secs": bench.alert_at, "slouch_to_alert_secs": latency,
            "cleared_at_secs": bench.cleared_at, "alert_on_time": on_time,
            "hot_loop_ms": hot_loop, "cpu_ms_per_analysed_frame": cpu_ms_per_frame,
            "cpu_by_thread": threads,
        });
        println!("{v}");
    } else {
        println!(
            "desk: {} {} thread(s), synthetic camera {resolution} @ {camera_fps} fps, {:.1} s",
            model.model,
            model.threads,
            wall.as_secs_f64()
        );
        println!(
            "CPU: {:.2} s, {percent:.2}% of one core ({percent_well:.2}% while sitting well, the first {slouch_at:.0} s)",
            cpu.as_secs_f64()
        );
        println!(
            "frames: {captured} delivered by the camera, {} analysed ({:.2} fps), {} skipped before decoding",
            summary.processed,
            summary.processed as f64 / wall.as_secs_f64(),
            gate.skipped()
        );
        println!(
            "per analysed frame: {cpu_ms_per_frame:.1} ms of CPU in all; the hot loop (letterbox, network, decoding) {:.1} ms p50",
            hot_loop.p50_ms
        );
        if let Some(t) = &bench.threads {
            let list: Vec<String> = t
                .iter()
                .map(|(n, d)| format!("{n} {:.2} s", d.as_secs_f64()))
                .collect();
            println!("CPU by thread: {}", list.join(", "));
        }
        match latency {
            Some(l) => println!(
                "slouch at {slouch_at:.1} s → alert at {:.2} s: {l:.2} s (onset {onset:.0} s + {:.2} s){}",
                slouch_at + l,
                l - onset,
                if on_time { "" } else { " LATE" }
            ),
            None => println!("slouch at {slouch_at:.1} s: NO ALERT"),
        }
    }
    let _ = std::io::stdout().flush();
    Ok(if on_time {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Today's figures: the recordings since local midnight.
struct Today {
    dir: PathBuf,
    midnight: i64,
    sessions: usize,
    watched: f64,
    good: f64,
    fair: f64,
    poor: f64,
    alerts: u32,
    reps: u32,
    breaks_suggested: u32,
    breaks_taken: u32,
}

impl Today {
    /// Reads the session files in `dir` (default: the data folder) started since local midnight.
    fn load(dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        use posture::report::SessionDigest;
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => posture::format::session::default_dir().context(
                "no data directory on this system: pass --dir with the folder of your recordings",
            )?,
        };
        let offset = utc_offset_secs();
        let now = unix_now() as i64;
        let midnight = (now + offset).div_euclid(86_400) * 86_400 - offset;
        let mut t = Today {
            dir,
            midnight,
            sessions: 0,
            watched: 0.0,
            good: 0.0,
            fair: 0.0,
            poor: 0.0,
            alerts: 0,
            reps: 0,
            breaks_suggested: 0,
            breaks_taken: 0,
        };
        let entries: Vec<PathBuf> = match std::fs::read_dir(&t.dir) {
            Ok(e) => e.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", t.dir.display())),
        };
        for p in entries {
            if p.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            // Session files are named by their start: older ones are not read.
            let started = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("session-"))
                .and_then(|s| s.parse::<i64>().ok());
            if started.is_some_and(|s| s < midnight) {
                continue;
            }
            let d = match SessionDigest::load(&p) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("posture: warning: skipped: {e}");
                    continue;
                }
            };
            if (d.header.started_unix_secs as i64) < midnight {
                continue;
            }
            let s = &d.summary;
            t.sessions += 1;
            t.watched += s.duration_secs;
            t.good += s.good_secs;
            t.fair += s.fair_secs;
            t.poor += s.poor_secs;
            t.alerts += s.alerts;
            t.reps += s.reps;
            t.breaks_suggested += d.breaks_suggested;
            t.breaks_taken += d.breaks_taken;
        }
        Ok(t)
    }

    /// One line of words, without the leading `today: `.
    fn words(&self) -> String {
        use posture::report::duration;
        if self.sessions == 0 {
            return format!(
                "nothing recorded yet in {} (posture desk records there)",
                self.dir.display()
            );
        }
        let judged = (self.good + self.fair + self.poor).max(f64::MIN_POSITIVE);
        format!(
            "{} watched in {} session(s): good {} ({:.0}%), fair {} ({:.0}%), poor {} ({:.0}%); {} alert(s), {} break(s) taken ({} suggested), {} rep(s)",
            duration(self.watched),
            self.sessions,
            duration(self.good),
            100.0 * self.good / judged,
            duration(self.fair),
            100.0 * self.fair / judged,
            duration(self.poor),
            100.0 * self.poor / judged,
            self.alerts,
            self.breaks_taken,
            self.breaks_suggested,
            self.reps,
        )
    }
}

/// `posture today`: the good, fair and poor time, alerts, breaks and reps recorded since local
/// midnight (desk runs record by default).
pub fn today(dir: Option<&std::path::Path>, json: bool) -> anyhow::Result<ExitCode> {
    let t = Today::load(dir)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "format": "posture.today", "version": 1,
                "day_start_unix_secs": t.midnight, "sessions": t.sessions,
                "watched_secs": t.watched, "good_secs": t.good, "fair_secs": t.fair,
                "poor_secs": t.poor, "alerts": t.alerts, "reps": t.reps,
                "breaks_taken": t.breaks_taken, "breaks_suggested": t.breaks_suggested,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("today: {}", t.words());
    Ok(ExitCode::SUCCESS)
}
