//! Desk mode: the desk loop's pause closing and reopening the source; `posture desk` on a private
//! D-Bus session bus with a test notification server that records what posture sends; the
//! control socket and SIGUSR1; bad input.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use posture::desk::control::DeskControl;
use posture::desk::runner::{
    self, DeskEnd, DeskHooks, DeskOptions, DeskState, OpenError, SharedEstimator,
};
use posture::error::PoseError;
use posture::frame::{Frame, ImageView, Resolution};
use posture::pose::{Estimate, PoseEstimator};
use posture::run::{PipelineOptions, RunOptions};
use posture::science::analysis::{Analyzer, Settings};
use posture::source::{FrameSource, SourceError};

use crate::fixture;

/// A live source of tiny frames at 50 fps that counts how many are open.
struct CountedSource {
    open: Arc<AtomicUsize>,
    n: u64,
    started: Instant,
}

impl Drop for CountedSource {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FrameSource for CountedSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        std::thread::sleep(Duration::from_millis(20));
        frame.resize(Resolution::new(2, 2)).fill(0);
        frame.t_secs = self.started.elapsed().as_secs_f64();
        self.n += 1;
        Ok(true)
    }
    fn describe(&self) -> String {
        "counted".into()
    }
    fn fps(&self) -> f64 {
        50.0
    }
    fn is_live(&self) -> bool {
        true
    }
}

struct Nobody;

impl PoseEstimator for Nobody {
    fn estimate(&mut self, _: ImageView<'_>) -> Result<Estimate, PoseError> {
        Ok(Estimate {
            pose: Default::default(),
            timings: Default::default(),
        })
    }
}

struct CountingHooks {
    open: Arc<AtomicUsize>,
    opened: usize,
    busy_first: bool,
    states: Arc<Mutex<Vec<DeskState>>>,
}

impl DeskHooks for CountingHooks {
    fn open(&mut self) -> Result<Box<dyn FrameSource>, OpenError> {
        if self.busy_first {
            self.busy_first = false;
            return Err(OpenError::Busy("held by a video call".into()));
        }
        self.opened += 1;
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(CountedSource {
            open: Arc::clone(&self.open),
            n: 0,
            started: Instant::now(),
        }))
    }
    fn state(&mut self, state: &DeskState) {
        self.states.lock().unwrap().push(state.clone());
    }
}

/// Waits up to 60 s for `cond` (generous: a loaded machine starts processes slowly).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pausing_the_desk_closes_the_source_and_resuming_opens_it_again_and_a_busy_camera_is_retried() {
    let open = Arc::new(AtomicUsize::new(0));
    let states = Arc::new(Mutex::new(Vec::new()));
    let control = DeskControl::new();
    let driver = {
        let (control, open, states) = (control.clone(), Arc::clone(&open), Arc::clone(&states));
        // The runner closes the source before it looks at why it stopped and says so: each step
        // waits for the closed source *and* the state said, or a quick unlock could race the
        // runner's look at the lock (then the lock is, correctly, never announced).
        let said = move |n: usize| states.lock().unwrap().len() >= n;
        std::thread::spawn(move || {
            // The busy camera is retried (every 50 ms here), then watched.
            eventually("watching", || open.load(Ordering::SeqCst) == 1 && said(2));
            control.pause(None);
            eventually("closed while paused", || {
                open.load(Ordering::SeqCst) == 0 && said(3)
            });
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(open.load(Ordering::SeqCst), 0, "stays closed while paused");
            control.resume();
            eventually("reopened", || open.load(Ordering::SeqCst) == 1 && said(4));
            // A timed pause ends by itself.
            control.pause(Some(posture::desk::control::unix_now() + 0.3));
            eventually("closed again", || {
                open.load(Ordering::SeqCst) == 0 && said(5)
            });
            eventually("reopened after the pause", || {
                open.load(Ordering::SeqCst) == 1 && said(6)
            });
            control.set_screen_locked(true);
            eventually("closed while locked", || {
                open.load(Ordering::SeqCst) == 0 && said(7)
            });
            control.set_screen_locked(false);
            eventually("reopened on unlock", || {
                open.load(Ordering::SeqCst) == 1 && said(8)
            });
            control.quit();
        })
    };
    let mut hooks = CountingHooks {
        open: Arc::clone(&open),
        opened: 0,
        busy_first: true,
        states: Arc::clone(&states),
    };
    let options = DeskOptions {
        run: RunOptions {
            pipeline: PipelineOptions::default(),
            score_threshold: 0.3,
        },
        retry_every: Duration::from_millis(50),
    };
    let outcome = runner::run(
        &mut hooks,
        &SharedEstimator::new(Box::new(Nobody)),
        &mut Analyzer::new(0.3, Settings::default(), None),
        &mut [],
        &options,
        &control,
    )
    .unwrap();
    driver.join().unwrap();
    assert_eq!(outcome.end, DeskEnd::Quit);
    assert_eq!((hooks.opened, outcome.segments), (4, 4));
    assert_eq!(open.load(Ordering::SeqCst), 0, "closed at the end");
    let states = states.lock().unwrap();
    let kinds: Vec<&str> = states
        .iter()
        .map(|s| match s {
            DeskState::Watching { .. } => "watching",
            DeskState::Paused { until_unix: None } => "paused",
            DeskState::Paused { .. } => "paused-until",
            DeskState::ScreenLocked => "locked",
            DeskState::CameraBusy { .. } => "busy",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "busy",
            "watching",
            "paused",
            "watching",
            "paused-until",
            "watching",
            "locked",
            "watching"
        ]
    );
}

// ---- a private session bus and a test notification server ----

/// `dbus-daemon --session` on a private address, killed when dropped.
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    /// A new private session bus; `None` (said loudly) where dbus-daemon is not installed,
    /// unless POSTURE_REQUIRE_DBUS=1 (CI), which fails instead.
    fn start(test: &str) -> Option<Bus> {
        let child = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("POSTURE_REQUIRE_DBUS").as_deref() != Ok("1"),
                    "{test}: dbus-daemon not found ({e}) and POSTURE_REQUIRE_DBUS=1: install dbus"
                );
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: dbus-daemon not found (install dbus to run the D-Bus tests)"
                );
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        Some(Bus {
            child,
            address: line.trim().to_owned(),
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test server was asked.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Notify {
        replaces_id: u32,
        summary: String,
        body: String,
        urgency: Option<u8>,
        /// The action keys (the spec's list is key, label, key, label...).
        actions: Vec<String>,
    },
    Close(u32),
}

struct NotificationServer {
    calls: Arc<Mutex<Vec<Call>>>,
    next_id: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotificationServer {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        _app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| u8::try_from(v).ok());
        self.calls.lock().unwrap().push(Call::Notify {
            replaces_id,
            summary,
            body,
            urgency,
            actions: actions.iter().step_by(2).cloned().collect(),
        });
        if replaces_id != 0 {
            return replaces_id;
        }
        self.next_id += 1;
        self.next_id
    }

    fn close_notification(&mut self, id: u32) {
        self.calls.lock().unwrap().push(Call::Close(id));
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "posture-test".into(),
            "posture".into(),
            "1".into(),
            "1.2".into(),
        )
    }
}

/// Serves the test notification server on `bus`; the calls it records.
fn serve_notifications(bus: &Bus) -> (zbus::blocking::Connection, Arc<Mutex<Vec<Call>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let server = NotificationServer {
        calls: Arc::clone(&calls),
        next_id: 40,
    };
    let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .serve_at("/org/freedesktop/Notifications", server)
        .unwrap()
        .build()
        .unwrap();
    (connection, calls)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A baseline from the neutral side photo, and thresholds with a 2 s onset.
fn calibration_and_thresholds(dir: &std::path::Path) -> (String, String) {
    let cal = dir.join("cal.json");
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "calibrate",
            "--images",
            fixture("sequences/neutral_s102_side.png").to_str().unwrap(),
            "--duration-secs",
            "1",
            "--calibration",
            cal.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let thresholds = dir.join("thresholds.toml");
    let builtin = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("calibration/thresholds.toml"),
    )
    .unwrap();
    let short = builtin
        .replace("onset_secs = 10.0", "onset_secs = 2.0")
        .replace("cooldown_secs = 60.0", "cooldown_secs = 600.0");
    assert_ne!(short, builtin);
    std::fs::write(&thresholds, short).unwrap();
    (
        cal.to_str().unwrap().to_owned(),
        thresholds.to_str().unwrap().to_owned(),
    )
}

/// `posture desk` on the slouching video, on `bus`.
fn desk_on_video(bus: &Bus, dir: &std::path::Path, cal: &str, thresholds: &str) -> Output {
    let video = fixture("sequences/dev_seq_side.mp4");
    Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "desk",
            "--video",
            video.to_str().unwrap(),
            "--as-fast-as-possible",
            "--no-record",
            "--calibration",
            cal,
            "--thresholds",
            thresholds,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .unwrap()
}

#[test]
fn a_desk_run_on_a_slouching_video_shows_one_notification_with_the_reason_then_withdraws_it() {
    let test = "a_desk_run_on_a_slouching_video_shows_one_notification";
    if !crate::ffmpeg_available(test) {
        return;
    }
    let Some(bus) = Bus::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cal, thresholds) = calibration_and_thresholds(dir.path());
    let (_server, calls) = serve_notifications(&bus);
    let o = desk_on_video(&bus, dir.path(), &cal, &thresholds);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("no desktop notifications"), "{err}");
    let calls = calls.lock().unwrap().clone();
    // Exactly one notification for the episode, with the reason in words, then its withdrawal.
    assert_eq!(calls.len(), 2, "{calls:?}\n{err}");
    let Call::Notify {
        replaces_id,
        summary,
        body,
        urgency,
        ..
    } = &calls[0]
    else {
        panic!("{calls:?}")
    };
    assert_eq!(*replaces_id, 0);
    assert_eq!(summary, "Posture: time to sit up");
    assert!(body.contains('°') && body.contains(" for "), "{body}");
    assert_eq!(*urgency, Some(0), "the first warning is calm");
    assert_eq!(calls[1], Call::Close(41));
    assert!(err.contains("1 alert(s) shown, 1 withdrawn"), "{err}");
}

#[test]
fn with_no_notification_server_on_the_bus_the_desk_says_so_once_falls_back_and_exits_0() {
    let test = "with_no_notification_server_on_the_bus_the_desk_falls_back";
    if !crate::ffmpeg_available(test) {
        return;
    }
    let Some(bus) = Bus::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cal, thresholds) = calibration_and_thresholds(dir.path());
    let o = desk_on_video(&bus, dir.path(), &cal, &thresholds);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("no desktop notifications").count(), 1, "{err}");
    assert_eq!(err.matches("time to sit up").count(), 1, "{err}");
    assert!(err.contains('\x07'), "a bell: {err}");
    assert!(err.contains("posture recovered after"), "{err}");
    // No session bus at all: the same.
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "desk",
            "--video",
            fixture("sequences/dev_seq_side.mp4").to_str().unwrap(),
            "--as-fast-as-possible",
            "--no-record",
            "--calibration",
            &cal,
            "--thresholds",
            &thresholds,
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("no desktop notifications").count(), 1, "{err}");
}

/// `posture desk` on a camera that does not exist: it waits for it, so it runs until stopped.
fn spawn_waiting_desk(runtime: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["desk", "--camera", "99", "--no-record"])
        .env("XDG_RUNTIME_DIR", runtime)
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn control(runtime: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_posture"))
        .arg("desk")
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_running_desk_is_paused_and_resumed_through_its_socket_and_sigusr1_and_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing runs yet.
    let o = control(dir.path(), &["--status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no posture desk is running"),
        "{}",
        stderr(&o)
    );

    let desk = spawn_waiting_desk(dir.path());
    let socket = dir.path().join("posture/desk.sock");
    eventually("the control socket", || socket.exists());
    std::thread::sleep(Duration::from_millis(200));
    let o = control(dir.path(), &["--status"]);
    assert_eq!(
        stdout(&o).trim(),
        "posture desk: watching",
        "{}",
        stderr(&o)
    );

    let o = control(dir.path(), &["--pause", "30m"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("posture desk: paused until "),
        "{}",
        stdout(&o)
    );
    let o = control(dir.path(), &["--resume"]);
    assert_eq!(stdout(&o).trim(), "posture desk: watching");

    // SIGUSR1 toggles.
    let pid = desk.id().to_string();
    let kill = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        )
    };
    kill("-USR1");
    eventually("paused by SIGUSR1", || {
        stdout(&control(dir.path(), &["--status"])).trim() == "posture desk: paused"
    });
    kill("-USR1");
    eventually("resumed by SIGUSR1", || {
        stdout(&control(dir.path(), &["--status"])).trim() == "posture desk: watching"
    });

    // A second desk: one clear line, exit 2.
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["desk", "--camera", "99", "--no-record"])
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("already running"), "{err}");

    kill("-TERM");
    let out = desk.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("trying again every minute"), "{err}");
    assert!(
        err.contains("paused until resumed: the camera is closed"),
        "{err}"
    );
    assert!(!socket.exists(), "the socket is removed at the end");
}

#[test]
fn a_bad_pause_is_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = control(dir.path(), &["--pause", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("expected a pause like 30m"), "{err}");
}

// ---- the tray, over D-Bus ----

/// A StatusNotifierWatcher that records the items registering with it.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
}

/// A StatusNotifierWatcher on `bus` (what a desktop's tray host provides), and the items that
/// registered with it; the watcher lives as long as the connection.
fn serve_tray_watcher(bus: &Bus) -> (zbus::blocking::Connection, Arc<Mutex<Vec<String>>>) {
    let items = Arc::new(Mutex::new(Vec::new()));
    let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .serve_at(
            "/StatusNotifierWatcher",
            Watcher {
                items: Arc::clone(&items),
            },
        )
        .unwrap()
        .build()
        .unwrap();
    (connection, items)
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.items.lock().unwrap().push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// Stderr lines of a child, gathered by a thread.
fn gather_lines(child: &mut Child) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stderr.take().unwrap();
    let l = Arc::clone(&lines);
    let t = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    (lines, t)
}

/// Waits up to `secs` for `cond`.
fn within(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tray's menu: label → item id, in id order, from com.canonical.dbusmenu.
fn menu_items(conn: &zbus::blocking::Connection, service: &str) -> Vec<(String, i32)> {
    use zbus::zvariant::OwnedValue;
    let reply = conn
        .call_method(
            Some(service),
            "/MenuBar",
            Some("com.canonical.dbusmenu"),
            "GetGroupProperties",
            &(Vec::<i32>::new(), Vec::<String>::new()),
        )
        .unwrap();
    let mut items: Vec<(i32, HashMap<String, OwnedValue>)> = reply.body().deserialize().unwrap();
    items.sort_by_key(|(id, _)| *id);
    items
        .into_iter()
        .filter_map(|(id, props)| {
            let label = String::try_from(props.get("label")?.try_clone().ok()?).ok()?;
            (!label.is_empty()).then_some((label, id))
        })
        .collect()
}

fn click(conn: &zbus::blocking::Connection, service: &str, id: i32) {
    conn.call_method(
        Some(service),
        "/MenuBar",
        Some("com.canonical.dbusmenu"),
        "Event",
        &(id, "clicked", zbus::zvariant::Value::I32(0), 0u32),
    )
    .unwrap();
}

fn sni_property(conn: &zbus::blocking::Connection, service: &str, name: &str) -> String {
    let reply = conn
        .call_method(
            Some(service),
            "/StatusNotifierItem",
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.kde.StatusNotifierItem", name),
        )
        .unwrap();
    let v: zbus::zvariant::OwnedValue = reply.body().deserialize().unwrap();
    String::try_from(v).unwrap()
}

#[test]
fn the_tray_menu_pauses_closing_the_source_resumes_reopening_it_and_quits() {
    let test = "the_tray_menu_pauses_closing_the_source_resumes_reopening_it_and_quits";
    if !crate::ffmpeg_available(test) {
        return;
    }
    let Some(bus) = Bus::start(test) else {
        return;
    };
    let (_watcher, items) = serve_tray_watcher(&bus);
    let dir = tempfile::tempdir().unwrap();
    let mut desk = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "desk",
            "--video",
            fixture("sequences/dev_seq_side.mp4").to_str().unwrap(),
            "--no-record",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, reader) = gather_lines(&mut desk);
    let count = |text: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    };
    within(60, "the tray registers", || {
        !items.lock().unwrap().is_empty()
    });
    let service = items.lock().unwrap()[0].clone();
    within(60, "watching", || count("posture: watching") == 1);
    let conn = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .unwrap();
    let menu = menu_items(&conn, &service);
    let labels: Vec<&str> = menu.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, posture::sink::tray::MENU_LABELS, "{menu:?}");
    let id = |label: &str| menu.iter().find(|(l, _)| l == label).unwrap().1;
    assert_eq!(sni_property(&conn, &service, "Id"), "posture");

    // Pause for 15 min: the segment ends and the source is closed; the tray says paused.
    click(&conn, &service, id("Pause for 15 min"));
    within(60, "paused", || count("the camera is closed") == 1);
    within(60, "the tray shows it", || {
        sni_property(&conn, &service, "Title").contains("paused")
    });
    let o = control(dir.path(), &["--status"]);
    assert!(
        stdout(&o).starts_with("posture desk: paused until "),
        "{}",
        stdout(&o)
    );
    // Resume: the source is opened again.
    click(&conn, &service, id("Resume"));
    within(60, "watching again", || count("posture: watching") == 2);
    // Quit ends the run, exit 0.
    click(&conn, &service, id("Quit"));
    let status = desk.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{:?}", lines.lock().unwrap());
}

/// A program the desk runs instead of posture for the tray's Recalibrate and live window and
/// the break's Sit tall: it writes its arguments to $POSTURE_TEST_LOG, copies $POSTURE_TEST_CAL
/// to `calibrate`'s --calibration file, and ends when the test creates $POSTURE_TEST_GO.
fn hook_script(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("hook.sh");
    std::fs::write(
        &path,
        r#"#!/bin/sh
echo "$*" >> "$POSTURE_TEST_LOG"
prev=
for a in "$@"; do
  if [ "$1" = calibrate ] && [ "$prev" = --calibration ]; then cp "$POSTURE_TEST_CAL" "$a"; fi
  prev=$a
done
while [ ! -e "$POSTURE_TEST_GO" ]; do sleep 0.05; done
rm -f "$POSTURE_TEST_GO"
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn notifications_titled(calls: &Mutex<Vec<Call>>, title: &str) -> Vec<Call> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| matches!(c, Call::Notify { summary, .. } if summary == title))
        .cloned()
        .collect()
}

#[test]
fn the_tray_menu_and_the_break_button_run_sit_tall_recalibrate_the_window_today_and_pause_until_tomorrow()
 {
    let test = "the_tray_menu_and_the_break_button_run_sit_tall_recalibrate_the_window_today";
    if !crate::ffmpeg_available(test) {
        return;
    }
    let Some(bus) = Bus::start(test) else {
        return;
    };
    let (_watcher, items) = serve_tray_watcher(&bus);
    let (server, calls) = serve_notifications(&bus);
    let dir = tempfile::tempdir().unwrap();
    let (cal, _) = calibration_and_thresholds(dir.path());
    let profile_cal = dir.path().join("docked.json");
    let config = dir.path().join("config.toml");
    // A break is suggested after 3 s seated.
    std::fs::write(
        &config,
        format!(
            "schema_version = 1\n[desk]\nbreak_after_mins = 0.05\n[profiles.docked]\ncalibration = \"{}\"\n",
            profile_cal.display()
        ),
    )
    .unwrap();
    let (log, go) = (dir.path().join("hook.log"), dir.path().join("go"));
    let video = fixture("sequences/dev_seq_side.mp4");
    let rec = dir.path().join("rec");
    let mut desk = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args(["desk", "--video", video.to_str().unwrap(), "--record"])
        .arg(&rec)
        .arg("--config")
        .arg(&config)
        .args(["--profile", "docked"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("TZ", "UTC-3")
        .env("POSTURE_DESK_COMMAND", hook_script(dir.path()))
        .env("POSTURE_TEST_LOG", &log)
        .env("POSTURE_TEST_CAL", &cal)
        .env("POSTURE_TEST_GO", &go)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, reader) = gather_lines(&mut desk);
    let count = |text: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .count()
    };
    let all = || lines.lock().unwrap().join("\n");
    let socket = dir.path().join("posture/desk.sock");
    let status = || posture::desk::control::send(&socket, "status").unwrap();
    let hook_calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Each request: the desk closes the camera, runs the hook, and when it ends watches again.
    let request_runs = |n: usize, starts: &str, watching_after: usize| {
        within(60, &format!("the hook runs `{starts}`"), || {
            hook_calls().len() == n
        });
        let got = hook_calls()[n - 1].clone();
        assert!(got.starts_with(starts), "{got}");
        assert_eq!(status(), "ok paused", "paused while it runs");
        assert_eq!(
            count("paused until resumed: the camera is closed"),
            n,
            "{}",
            all()
        );
        std::fs::write(&go, "").unwrap();
        within(60, "watching again", || {
            count("posture: watching") == watching_after
        });
        within(60, "resumed", || status() == "ok watching");
        got
    };
    within(60, "the tray registers", || {
        !items.lock().unwrap().is_empty()
    });
    let service = items.lock().unwrap()[0].clone();
    within(60, "watching", || count("posture: watching") == 1);
    assert!(count("no calibration for profile docked") == 1, "{}", all());

    // The break notification carries a Sit tall button; clicking it runs the exercise on the
    // desk's source, with the profile's calibration once there is one.
    within(60, "a break is suggested", || {
        !notifications_titled(&calls, "Posture: time for a break").is_empty()
    });
    let Call::Notify { actions, .. } =
        &notifications_titled(&calls, "Posture: time for a break")[0]
    else {
        unreachable!()
    };
    assert_eq!(actions, &["sit-tall"]);
    // The server gave the break notification its id: 40 + the new notifications up to it.
    let so_far = calls.lock().unwrap().clone();
    let at = so_far
        .iter()
        .position(
            |c| matches!(c, Call::Notify { summary, .. } if summary == "Posture: time for a break"),
        )
        .unwrap();
    let break_id = 40
        + so_far[..=at]
            .iter()
            .filter(|c| matches!(c, Call::Notify { replaces_id: 0, .. }))
            .count() as u32;
    // Another program's notification with the same key does nothing.
    server
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
            "ActionInvoked",
            &(break_id + 100, "sit-tall"),
        )
        .unwrap();
    server
        .emit_signal(
            None::<&str>,
            "/org/freedesktop/Notifications",
            "org.freedesktop.Notifications",
            "ActionInvoked",
            &(break_id, "sit-tall"),
        )
        .unwrap();
    let v = video.to_str().unwrap();
    let got = request_runs(1, "exercise sit-tall --video ", 2);
    assert_eq!(
        got,
        format!(
            "exercise sit-tall --video {v} --profile docked --config {}",
            config.display()
        ),
        "no calibration yet: the profile's, so no other set-up's baseline"
    );
    // The set ended with exit 0 (every rep done): that is the break, however short, so the
    // suggestion is withdrawn.
    within(60, "the break notification is withdrawn", || {
        calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Call::Close(id) if *id == break_id))
    });

    let conn = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .unwrap();
    let menu = menu_items(&conn, &service);
    let id = |label: &str| menu.iter().find(|(l, _)| l == label).unwrap().1;

    // Recalibrate: `posture calibrate` on the same source, into the profile's calibration file;
    // the desk judges with the new baseline after it.
    click(&conn, &service, id("Recalibrate"));
    let got = request_runs(2, "calibrate ", 3);
    assert_eq!(
        got,
        format!(
            "calibrate --video {v} --calibration {}",
            profile_cal.display()
        )
    );
    within(60, "the new calibration", || {
        count("using the new calibration") == 1
    });

    // The live window: `posture monitor` on the same source with that calibration.
    click(&conn, &service, id("Open the live window"));
    let got = request_runs(3, "monitor ", 4);
    assert_eq!(
        got,
        format!(
            "monitor --video {v} --calibration {}",
            profile_cal.display()
        )
    );

    // Today's figures: a notification, from the desk's recordings (the break is there).
    click(&conn, &service, id("Today's figures"));
    within(60, "today's figures", || {
        !notifications_titled(&calls, "Posture: today").is_empty()
    });
    let Call::Notify { body, .. } = &notifications_titled(&calls, "Posture: today")[0] else {
        unreachable!()
    };
    assert!(
        body.contains(" watched in ") && body.contains("1 break(s) taken ("),
        "{body}"
    );
    assert_eq!(hook_calls().len(), 3, "no program is run for it");

    // Until tomorrow: paused until 06:00 local time (UTC+3 here) the next day.
    click(&conn, &service, id("Pause until tomorrow"));
    within(60, "paused", || status().starts_with("ok paused until "));
    let until: i64 = status()
        .strip_prefix("ok paused until ")
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let local_day = (now + 3 * 3600).div_euclid(86_400);
    assert_eq!(until, (local_day + 1) * 86_400 + 6 * 3600 - 3 * 3600);
    within(60, "the camera is closed", || {
        count("the camera is closed") == 4
    });

    click(&conn, &service, id("Quit"));
    let end = desk.wait().unwrap();
    reader.join().unwrap();
    assert!(end.success(), "{}", all());
}

#[test]
fn today_prints_the_breaks_the_desk_recorded() {
    let test = "today_prints_the_breaks_the_desk_recorded";
    if !crate::ffmpeg_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "schema_version = 1\n[desk]\nbreak_after_mins = 0.05\n",
    )
    .unwrap();
    let rec = dir.path().join("rec");
    let o = Command::new(env!("CARGO_BIN_EXE_posture"))
        .args([
            "desk",
            "--video",
            fixture("sequences/dev_seq_side.mp4").to_str().unwrap(),
            "--as-fast-as-possible",
            "--no-tray",
            "--record",
        ])
        .arg(&rec)
        .arg("--config")
        .arg(&config)
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("1 break(s) suggested, 0 taken"), "{err}");
    let today = |json: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_posture"));
        c.args(["today", "--dir"]).arg(&rec);
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let line = today(false);
    assert!(
        line.starts_with("today: ") && line.contains("0 break(s) taken (1 suggested)"),
        "{line}"
    );
    // The session file has the event; a break taken (as one is recorded) counts too.
    let files: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let suggested = text
        .lines()
        .filter(|l| l.contains(r#""event":"break_suggested""#))
        .count();
    assert_eq!(suggested, 1, "{text}");
    let mut with_break: Vec<&str> = text.lines().collect();
    with_break.insert(
        1,
        r#"{"kind":"event","t_secs":1.0,"event":{"event":"break_taken","seated_secs":3000.0}}"#,
    );
    let stem = files[0].file_stem().unwrap().to_str().unwrap();
    let started: u64 = stem.strip_prefix("session-").unwrap().parse().unwrap();
    std::fs::write(
        rec.join(format!("session-{}.jsonl", started + 1)),
        with_break.join("\n") + "\n",
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(today(true).trim()).unwrap();
    assert_eq!(v["format"], "posture.today");
    assert_eq!(v["sessions"], 2);
    assert_eq!(v["breaks_suggested"], 2);
    assert_eq!(v["breaks_taken"], 1);
}

#[test]
fn calibrate_with_a_profile_writes_where_the_desk_reads_that_profile_and_an_unknown_one_is_exit_2()
{
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let config = dir.path().join("config.toml");
    let laptop = dir.path().join("laptop.json");
    std::fs::write(
        &config,
        format!(
            "schema_version = 1\n[profiles.docked]\ncamera = 2\n[profiles.laptop]\ncalibration = \"{}\"\n",
            laptop.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_posture"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .unwrap()
    };
    let photo = fixture("sequences/neutral_s102_side.png");
    let calibrate = |profile: &str| {
        run(&[
            "calibrate",
            "--profile",
            profile,
            "--images",
            photo.to_str().unwrap(),
            "--duration-secs",
            "1",
        ])
    };
    // Without a `calibration` key: the profile's own file in the configuration folder.
    let o = calibrate("docked");
    assert!(o.status.success(), "{}", stderr(&o));
    let docked = home.join(".config/posture/calibration/profile-docked.json");
    assert!(docked.exists(), "{}", stderr(&o));
    assert!(stderr(&o).contains("profile docked"), "{}", stderr(&o));
    // The desk's effective calibration for that profile is that file.
    let o = run(&["config", "--profile", "docked"]);
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l == format!("calibration = \"{}\"  # default", docked.display())),
        "{out}"
    );
    // `monitor` and `exercise` judge with the profile's calibration too: it is the baseline in
    // their recordings.
    let header_calibration = |args: &[&str], rec: &std::path::Path| {
        let mut all = args.to_vec();
        all.extend(["--headless", "--record", rec.to_str().unwrap()]);
        let o = run(&all);
        let file = std::fs::read_dir(rec)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .unwrap_or_else(|| panic!("no recording: {}", stderr(&o)));
        let text = std::fs::read_to_string(file).unwrap();
        let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        (o, header["calibration"].clone())
    };
    let images = ["--images", photo.to_str().unwrap()];
    let (o, baseline) = header_calibration(
        &[&["monitor", "--profile", "docked"][..], &images[..]].concat(),
        &dir.path().join("rec-monitor"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let docked_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docked).unwrap()).unwrap();
    assert!(!baseline["metrics"].is_null(), "{}", stderr(&o));
    assert_eq!(baseline["metrics"], docked_file["metrics"]);
    let (o, baseline) = header_calibration(
        &[
            &["exercise", "sit-tall", "--reps", "1", "--profile", "docked"][..],
            &images[..],
        ]
        .concat(),
        &dir.path().join("rec-exercise"),
    );
    assert!(o.status.code().is_some(), "{}", stderr(&o));
    assert_eq!(
        baseline["metrics"],
        docked_file["metrics"],
        "{}",
        stderr(&o)
    );
    // A profile not calibrated yet is judged on the clinical defaults, and says so, even where
    // the source has a default calibration of its own (another set-up's).
    let images_default = home.join(".config/posture/calibration/images.json");
    std::fs::copy(&docked, &images_default).unwrap();
    let (o, baseline) = header_calibration(
        &[&["monitor", "--profile", "laptop"][..], &images[..]].concat(),
        &dir.path().join("rec-laptop"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(baseline.is_null(), "{}", stderr(&o));
    std::fs::remove_file(&images_default).unwrap();
    assert!(
        stderr(&o).contains("no calibration for profile laptop yet"),
        "{}",
        stderr(&o)
    );
    // With one: that file.
    assert!(!laptop.exists());
    let o = calibrate("laptop");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(laptop.exists());
    assert_ne!(
        std::fs::read_to_string(&laptop).unwrap(),
        "",
        "a baseline was written"
    );
    // The desk with that profile judges with it (no "no calibration" line).
    if crate::ffmpeg_available("calibrate_with_a_profile (desk part)") {
        let o = run(&[
            "desk",
            "--profile",
            "docked",
            "--video",
            fixture("sequences/dev_seq_side.mp4").to_str().unwrap(),
            "--as-fast-as-possible",
            "--no-record",
            "--no-tray",
            "--notifications",
            "terminal",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("no calibration"), "{}", stderr(&o));
    }
    // An unknown profile: one line, exit 2, nothing written.
    let o = calibrate("office");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown profile `office`") && err.contains("docked, laptop"),
        "{err}"
    );
    assert!(
        !home
            .join(".config/posture/calibration/profile-office.json")
            .exists()
    );
}

// ---- the adaptive rate on a synthetic camera ----

/// Records when (wall time since `origin`) alerts come and frames are analysed.
struct Timeline {
    origin: Instant,
    alert_at: Option<f64>,
    cleared_at: Option<f64>,
    frames_at: Vec<f64>,
    until: f64,
}

impl posture::run::Sink for Timeline {
    fn event(&mut self, _: f64, event: &posture::event::Event) -> std::io::Result<()> {
        let t = self.origin.elapsed().as_secs_f64();
        match event {
            posture::event::Event::Alert { .. } => {
                self.alert_at.get_or_insert(t);
            }
            posture::event::Event::AlertCleared { .. } => {
                self.cleared_at.get_or_insert(t);
            }
            _ => {}
        }
        Ok(())
    }
    fn frame(&mut self, _: &posture::run::FrameUpdate<'_>) -> std::io::Result<posture::run::Flow> {
        let t = self.origin.elapsed().as_secs_f64();
        self.frames_at.push(t);
        Ok(if t >= self.until {
            posture::run::Flow::Stop
        } else {
            posture::run::Flow::Continue
        })
    }
}

#[test]
fn steady_good_posture_is_sampled_at_2_fps_before_decoding_and_a_slouch_alerts_within_onset_plus_1_s()
 {
    use posture::desk::rate::{RateConfig, RateSink};
    use posture::desk::scripted::{DeskScript, ScriptedEstimator};
    use posture::source::gate::RateGate;
    use posture::source::synthetic::SyntheticSource;

    let mut settings = Settings::default();
    settings.alerts.onset_secs = 1.5;
    let onset = settings.alerts.onset_secs;
    let mut analyzer = Analyzer::new(0.3, settings, None);
    let gate = RateGate::new();
    let mut rate = RateSink::new(RateConfig::default(), gate.clone());
    let origin = Instant::now();
    let script = DeskScript {
        slouch_from_secs: 6.0,
        slouch_for_secs: 3.0,
    };
    let mut timeline = Timeline {
        origin,
        alert_at: None,
        cleared_at: None,
        frames_at: Vec::new(),
        until: 12.0,
    };
    let options = RunOptions {
        pipeline: PipelineOptions {
            gate: Some(gate.clone()),
            ..PipelineOptions::default()
        },
        score_threshold: 0.3,
    };
    posture::run::run(
        Box::new(SyntheticSource::new(Resolution::new(64, 48), 30.0)),
        Box::new(ScriptedEstimator::new(Nobody, script, origin)),
        &mut analyzer,
        None,
        &mut [&mut rate, &mut timeline],
        &options,
        &posture::run::StopHandle::new(),
    )
    .unwrap();
    // Sitting well from 3 s (settled) to 6 s: about 2 frames a second were analysed; the others
    // were refused before they were drawn.
    let steady = timeline
        .frames_at
        .iter()
        .filter(|&&t| (3.5..6.0).contains(&t))
        .count();
    assert!(
        (4..=6).contains(&steady),
        "{steady} frames in 2.5 s: {:?}",
        timeline.frames_at
    );
    assert!(gate.skipped() > 200, "{} skipped", gate.skipped());
    // The alert: within the onset delay + 1 s of the slouch's start; cleared after it.
    let alert = timeline.alert_at.expect("an alert");
    let latency = alert - script.slouch_from_secs;
    assert!(
        latency >= onset && latency <= onset + 1.0,
        "alert {latency:.2} s after the slouch"
    );
    let cleared = timeline.cleared_at.expect("cleared");
    assert!(cleared > script.slouch_from_secs + script.slouch_for_secs);
    assert!(cleared < script.slouch_from_secs + script.slouch_for_secs + 1.0);
}

#[test]
fn config_prints_each_value_with_its_origin_and_bad_config_or_profile_is_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "schema_version = 1\n[desk]\nsteady_fps = 1.5\nbreak_length_mins = 2.5\n[profiles.docked]\ncamera = 2\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_posture"))
            .args(args)
            .env("XDG_RUNTIME_DIR", dir.path())
            .output()
            .unwrap()
    };
    let f = file.to_str().unwrap();
    let o = run(&[
        "config",
        "--config",
        f,
        "--profile",
        "docked",
        "--active-fps",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "camera = 2  # profile docked",
        "steady_fps = 1.5  # file",
        "active_fps = 5  # flag",
        "retry_secs = 60  # default",
        "break_length_mins = 2.5  # file",
    ] {
        assert!(out.lines().any(|l| l == line), "{line}:\n{out}");
    }
    // An unknown profile, a malformed file: one line each, exit 2.
    let o = run(&["desk", "--config", f, "--profile", "office"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown profile `office`") && err.contains("docked"),
        "{err}"
    );
    std::fs::write(&file, "schema_version = 1\n[desk]\nsteady_fsp = 2\n").unwrap();
    let o = run(&["desk", "--config", f]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("config.toml") && err.contains("line 3") && err.contains("steady_fsp"),
        "{err}"
    );
}
