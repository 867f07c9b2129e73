//! The locked screen: logind's `LockedHint` on the system bus, looked at every few seconds by a
//! thread (`posture-lock-watch`) that tells [`DeskControl`]; the desk loop then closes the camera
//! as when paused. Where there is no system bus or no logind session, nothing is watched, quietly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zbus::zvariant::OwnedValue;

use crate::desk::control::DeskControl;

const LOGIND: &str = "org.freedesktop.login1";
const SESSION: &str = "/org/freedesktop/login1/session/auto";

fn locked_hint(connection: &zbus::blocking::Connection) -> Option<bool> {
    let reply = connection
        .call_method(
            Some(LOGIND),
            SESSION,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.login1.Session", "LockedHint"),
        )
        .ok()?;
    let value: OwnedValue = reply.body().deserialize().ok()?;
    bool::try_from(value).ok()
}

/// The watching thread; stopped and joined when dropped.
#[derive(Debug)]
pub struct LockWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LockWatcher {
    /// Watches `LockedHint` every `every`; `None` where it cannot be read (no system bus, no
    /// logind, no session).
    pub fn start(control: DeskControl, every: Duration) -> Option<Self> {
        let connection = zbus::blocking::connection::Builder::system()
            .ok()?
            .method_timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        control.set_screen_locked(locked_hint(&connection)?);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_t = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("posture-lock-watch".into())
            .spawn(move || {
                let mut next = Instant::now() + every;
                while !stop_t.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                    if Instant::now() < next {
                        continue;
                    }
                    next = Instant::now() + every;
                    if let Some(locked) = locked_hint(&connection) {
                        control.set_screen_locked(locked);
                    }
                }
            })
            .ok()?;
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LockWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
