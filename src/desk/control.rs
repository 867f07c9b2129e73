//! The desk run's shared state (paused until when, quit) and the control socket through which
//! another `posture desk --pause 30m` (or `--resume`) reaches the running instance. `SIGUSR1`
//! toggles pause through a flag that [`DeskControl::wait`] looks at.
//!
//! The socket is `$XDG_RUNTIME_DIR/posture/desk.sock`; one line in, one line out:
//! `pause-until UNIX_SECS`, `pause-forever`, `resume`, `toggle`, `status`, `quit`; replies start
//! with `ok ` or `error `.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A pause: until a moment (Unix seconds) or until resumed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pause {
    /// When it ends; `None`: when resumed.
    pub until_unix: Option<f64>,
}

#[derive(Debug, Default)]
struct State {
    paused: Option<Pause>,
    locked: bool,
    quit: bool,
    generation: u64,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    toggle: Arc<AtomicBool>,
}

/// Pause, resume and quit, shared by the desk loop, the control socket, the tray and signal
/// handlers. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct DeskControl {
    inner: Arc<Shared>,
}

impl DeskControl {
    /// Watching, not paused.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state();
        f(&mut s);
        s.generation += 1;
        self.inner.changed.notify_all();
    }

    /// The flag a signal handler sets to toggle pause (`signal_hook::flag::register`).
    pub fn toggle_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.inner.toggle)
    }

    /// Pauses until `until_unix` (`None`: until resumed).
    pub fn pause(&self, until_unix: Option<f64>) {
        self.change(|s| s.paused = Some(Pause { until_unix }));
    }

    /// Resumes watching.
    pub fn resume(&self) {
        self.change(|s| s.paused = None);
    }

    /// Pauses (until resumed) when watching, resumes when paused.
    pub fn toggle(&self) {
        self.change(|s| {
            s.paused = match s.paused {
                Some(_) => None,
                None => Some(Pause { until_unix: None }),
            }
        });
    }

    /// Ends the desk run.
    pub fn quit(&self) {
        self.change(|s| s.quit = true);
    }

    /// The screen was locked (true) or unlocked: while locked the camera is closed, as paused.
    pub fn set_screen_locked(&self, locked: bool) {
        if self.state().locked != locked {
            self.change(|s| s.locked = locked);
        }
    }

    /// Whether the screen is locked.
    pub fn screen_locked(&self) -> bool {
        self.state().locked
    }

    /// Whether the run should end.
    pub fn is_quit(&self) -> bool {
        self.state().quit
    }

    /// The pause in force at `now_unix` (a pause whose time is up ends here).
    pub fn paused(&self, now_unix: f64) -> Option<Pause> {
        let mut s = self.state();
        if let Some(Pause {
            until_unix: Some(until),
        }) = s.paused
            && now_unix >= until
        {
            s.paused = None;
            s.generation += 1;
        }
        s.paused
    }

    /// A counter that moves at every change.
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Waits up to `timeout` for a change after `generation`, applying a signal's toggle
    /// within 200 ms; returns the generation now.
    pub fn wait(&self, generation: u64, timeout: Duration) -> u64 {
        let until = std::time::Instant::now() + timeout;
        loop {
            if self.inner.toggle.swap(false, Ordering::SeqCst) {
                self.toggle();
            }
            let s = self.state();
            let left = until.saturating_duration_since(std::time::Instant::now());
            if s.generation != generation || left.is_zero() {
                return s.generation;
            }
            let (s, _) = self
                .inner
                .changed
                .wait_timeout_while(s, left.min(Duration::from_millis(200)), |s| {
                    s.generation == generation
                })
                .unwrap_or_else(PoisonError::into_inner);
            if s.generation != generation {
                return s.generation;
            }
        }
    }

    /// Carries out one control line; the reply line.
    pub fn apply(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("pause-until"), Some(t)) => match t.parse::<f64>() {
                Ok(t) if t.is_finite() => {
                    self.pause(Some(t));
                    self.status_line()
                }
                _ => format!("error not a time: {t}"),
            },
            (Some("pause-forever"), None) => {
                self.pause(None);
                self.status_line()
            }
            (Some("resume"), None) => {
                self.resume();
                self.status_line()
            }
            (Some("toggle"), None) => {
                self.toggle();
                self.status_line()
            }
            (Some("status"), None) => self.status_line(),
            (Some("quit"), None) => {
                self.quit();
                "ok quitting".to_owned()
            }
            _ => format!("error unknown command: {}", line.trim()),
        }
    }

    /// `ok watching`, `ok paused until UNIX_SECS` or `ok paused`.
    pub fn status_line(&self) -> String {
        match self.paused(unix_now()) {
            None => "ok watching".to_owned(),
            Some(Pause {
                until_unix: Some(t),
            }) => format!("ok paused until {t:.0}"),
            Some(Pause { until_unix: None }) => "ok paused".to_owned(),
        }
    }
}

/// Why the control socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another desk run answers on the socket.
    #[error(
        "posture desk is already running (control socket {0}); pause it with `posture desk --pause 30m`, or stop it first"
    )]
    AlreadyRunning(PathBuf),
    /// No desk run answers.
    #[error("no posture desk is running (no answer on {0})")]
    NotRunning(PathBuf),
    /// No runtime folder is known.
    #[error("XDG_RUNTIME_DIR is not set: no place for the control socket")]
    NoRuntimeDir,
    /// The socket could not be made or used.
    #[error("control socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The control thread could not start.
    #[error("cannot start the control thread: {0}")]
    Spawn(std::io::Error),
}

/// `$XDG_RUNTIME_DIR/posture/desk.sock`.
///
/// # Errors
/// [`ControlError::NoRuntimeDir`] when the variable is not set.
pub fn socket_path() -> Result<PathBuf, ControlError> {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d).join("posture").join("desk.sock")),
        _ => Err(ControlError::NoRuntimeDir),
    }
}

/// Sends one control line to the running desk; its reply.
///
/// # Errors
/// [`ControlError::NotRunning`] when nothing answers.
pub fn send(path: &Path, line: &str) -> Result<String, ControlError> {
    let stream =
        UnixStream::connect(path).map_err(|_| ControlError::NotRunning(path.to_owned()))?;
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let mut writer = &stream;
    writeln!(writer, "{line}").map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
    Ok(reply.trim().to_owned())
}

/// The control socket's listening thread (`posture-control`); stopped, joined and its socket
/// removed when dropped.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Listens on `path` for `control`.
    ///
    /// # Errors
    /// [`ControlError::AlreadyRunning`] when another desk run answers there; a stale socket
    /// (nothing answers) is replaced.
    pub fn start(path: &Path, control: DeskControl) -> Result<Self, ControlError> {
        let io = |source| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::AlreadyRunning(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let listener = UnixListener::bind(path).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_t = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("posture-control".into())
            .spawn(move || serve(&listener, &control, &stop_t))
            .map_err(ControlError::Spawn)?;
        Ok(Self {
            path: path.to_owned(),
            stop,
            thread: Some(thread),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn serve(listener: &UnixListener, control: &DeskControl, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = answer(&stream, control);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn answer(stream: &UnixStream, control: &DeskControl) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(stream).take(4096).read_line(&mut line)?;
    let reply = control.apply(&line);
    let mut w = stream;
    writeln!(w, "{reply}")
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_expire_toggle_and_answer_control_lines() {
        let c = DeskControl::new();
        let until = (unix_now() + 1000.0).round();
        assert_eq!(c.paused(100.0), None);
        assert_eq!(
            c.apply(&format!("pause-until {until}")),
            format!("ok paused until {until}")
        );
        assert_eq!(
            c.paused(until - 1.0),
            Some(Pause {
                until_unix: Some(until)
            })
        );
        // Its time is up: watching again.
        assert_eq!(c.paused(until), None);
        c.toggle();
        assert_eq!(c.paused(1e12), Some(Pause { until_unix: None }));
        assert_eq!(c.apply("toggle"), "ok watching");
        // A signal's flag is applied at the next wait.
        let g = c.generation();
        c.toggle_flag().store(true, Ordering::SeqCst);
        assert_ne!(c.wait(g, Duration::from_millis(1)), g);
        assert_eq!(c.apply("status"), "ok paused");
        assert!(c.apply("pause-until x").starts_with("error"));
        assert!(c.apply("dance").starts_with("error unknown command"));
        assert!(!c.is_quit());
        assert_eq!(c.apply("quit"), "ok quitting");
        assert!(c.is_quit());
    }

    #[test]
    fn the_socket_carries_commands_refuses_a_second_server_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("posture").join("desk.sock");
        assert!(matches!(
            send(&path, "status"),
            Err(ControlError::NotRunning(_))
        ));
        let control = DeskControl::new();
        let server = ControlServer::start(&path, control.clone()).unwrap();
        assert!(matches!(
            ControlServer::start(&path, DeskControl::new()),
            Err(ControlError::AlreadyRunning(_))
        ));
        assert_eq!(send(&path, "pause-forever").unwrap(), "ok paused");
        assert!(control.paused(unix_now()).is_some());
        assert_eq!(send(&path, "resume").unwrap(), "ok watching");
        drop(server);
        assert!(!path.exists());
        // A socket file nobody answers on is stale: replaced.
        let stale = UnixListener::bind(&path).unwrap();
        drop(stale);
        let _server = ControlServer::start(&path, control).unwrap();
        assert_eq!(send(&path, "status").unwrap(), "ok watching");
    }
}
