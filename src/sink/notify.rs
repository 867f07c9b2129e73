//! Alerts as desktop notifications (`org.freedesktop.Notifications` on the session bus, through
//! zbus): one notification per episode, replaced while it lasts, withdrawn when posture
//! recovers ([`crate::desk::episode`] decides; this sink carries it out). Where there is no
//! session bus or no notification server, it says so once and falls back to a terminal line
//! with a bell; it never stops the run.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zbus::zvariant::Value;

use crate::desk::breaks::{BreakAction, BreakTimer};
use crate::desk::episode::{Episodes, NoticeAction, duration_words};
use crate::event::Event;
use crate::run::{Flow, FrameUpdate, Sink};
use crate::science::metrics::Stance;

/// The well-known name, path and interface of the notification server.
pub const NOTIFICATIONS: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
/// The application name notifications are sent under.
pub const APP_NAME: &str = "posture";

/// Somewhere notifications can be shown.
pub trait Notifier: Send {
    /// Shows (or replaces `replaces_id`'s) notification, with `actions` (key, label) as
    /// buttons; the id the server gave.
    ///
    /// # Errors
    /// What went wrong, in words.
    fn show(
        &mut self,
        replaces_id: u32,
        summary: &str,
        body: &str,
        calm: bool,
        actions: &[(&str, &str)],
    ) -> Result<u32, String>;

    /// Withdraws notification `id`.
    ///
    /// # Errors
    /// What went wrong, in words.
    fn withdraw(&mut self, id: u32) -> Result<(), String>;
}

/// The desktop's notification server over D-Bus.
#[derive(Debug)]
pub struct DbusNotifier {
    connection: zbus::blocking::Connection,
}

impl DbusNotifier {
    /// Connects to the session bus and checks that a notification server answers.
    ///
    /// # Errors
    /// No session bus, or no notification server on it, in words.
    pub fn connect() -> Result<Self, String> {
        let connection = zbus::blocking::connection::Builder::session()
            .and_then(|b| b.method_timeout(Duration::from_secs(5)).build())
            .map_err(|e| format!("no D-Bus session bus: {e}"))?;
        connection
            .call_method(
                Some(NOTIFICATIONS),
                PATH,
                Some(NOTIFICATIONS),
                "GetServerInformation",
                &(),
            )
            .map_err(|e| format!("no notification server on the session bus: {e}"))?;
        Ok(Self { connection })
    }
}

/// Listens for the notification server's `ActionInvoked` signals (a button of a notification
/// was clicked) on its own thread; stopped and joined when dropped.
pub struct ActionListener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DbusNotifier {
    /// Calls `on_action(notification id, action key)` for each `ActionInvoked` signal until the
    /// listener is dropped. The match rule is in place when this returns: no later click is
    /// missed.
    ///
    /// # Errors
    /// The bus refused the match rule, or the thread could not start, in words.
    pub fn listen_actions(
        &self,
        on_action: impl Fn(u32, &str) + Send + 'static,
    ) -> Result<ActionListener, String> {
        use futures_lite::StreamExt;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(NOTIFICATIONS)
            .and_then(|b| b.member("ActionInvoked"))
            .and_then(|b| b.path(PATH))
            .map_err(|e| format!("bad match rule: {e}"))?
            .build();
        let connection = self.connection.inner().clone();
        let mut stream = zbus::block_on(zbus::MessageStream::for_match_rule(
            rule,
            &connection,
            Some(16),
        ))
        .map_err(|e| format!("cannot listen for notification actions: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("posture-notify-actions".into())
            .spawn(move || {
                zbus::block_on(async move {
                    loop {
                        // Wake every 200 ms to see whether the listener was dropped.
                        let tick = async {
                            async_io::Timer::after(Duration::from_millis(200)).await;
                            None
                        };
                        let next =
                            futures_lite::future::or(async { Some(stream.next().await) }, tick);
                        match next.await {
                            None if stopped.load(Ordering::SeqCst) => return,
                            None | Some(Some(Err(_))) => {}
                            Some(None) => return,
                            Some(Some(Ok(message))) => {
                                if let Ok((id, key)) = message.body().deserialize::<(u32, String)>()
                                {
                                    on_action(id, &key);
                                }
                            }
                        }
                    }
                });
            })
            .map_err(|e| format!("cannot start the notification actions thread: {e}"))?;
        Ok(ActionListener {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ActionListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Notifier for DbusNotifier {
    fn show(
        &mut self,
        replaces_id: u32,
        summary: &str,
        body: &str,
        calm: bool,
        actions: &[(&str, &str)],
    ) -> Result<u32, String> {
        let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
        // Urgency 0 (low) for the calm first warning, 1 (normal) after; no sound at first.
        hints.insert("urgency", Value::U8(if calm { 0 } else { 1 }));
        hints.insert("suppress-sound", Value::Bool(calm));
        hints.insert("desktop-entry", Value::from(APP_NAME));
        // The spec's flat list: key, label, key, label...
        let actions: Vec<&str> = actions.iter().flat_map(|&(k, l)| [k, l]).collect();
        // Expiry 0: stays until withdrawn (the episode's end withdraws it).
        let reply = self
            .connection
            .call_method(
                Some(NOTIFICATIONS),
                PATH,
                Some(NOTIFICATIONS),
                "Notify",
                &(
                    APP_NAME,
                    replaces_id,
                    "",
                    summary,
                    body,
                    actions,
                    hints,
                    0i32,
                ),
            )
            .map_err(|e| format!("the notification server failed: {e}"))?;
        reply
            .body()
            .deserialize::<u32>()
            .map_err(|e| format!("the notification server answered oddly: {e}"))
    }

    fn withdraw(&mut self, id: u32) -> Result<(), String> {
        self.connection
            .call_method(
                Some(NOTIFICATIONS),
                PATH,
                Some(NOTIFICATIONS),
                "CloseNotification",
                &(id,),
            )
            .map(|_| ())
            .map_err(|e| format!("the notification server failed: {e}"))
    }
}

/// Alert episodes as notifications, or terminal lines (with a bell) where there are none.
pub struct NotifySink<W: Write> {
    episodes: Episodes,
    notifier: Option<Box<dyn Notifier>>,
    out: W,
    shown: u64,
    withdrawn: u64,
}

impl<W: Write> NotifySink<W> {
    /// Notifies through `notifier`; when it is an error, says so once on `out` and writes the
    /// alerts there instead.
    ///
    /// # Errors
    /// When `out` cannot be written.
    pub fn new(notifier: Result<Box<dyn Notifier>, String>, mut out: W) -> io::Result<Self> {
        let notifier = match notifier {
            Ok(n) => Some(n),
            Err(why) => {
                say_fallback(&mut out, &why)?;
                None
            }
        };
        Ok(Self {
            episodes: Episodes::new(),
            notifier,
            out,
            shown: 0,
            withdrawn: 0,
        })
    }

    /// Whether notifications go to the desktop (not the terminal).
    pub fn on_desktop(&self) -> bool {
        self.notifier.is_some()
    }

    /// Notifications shown (or terminal alerts written) and withdrawn so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.shown, self.withdrawn)
    }

    fn act(&mut self, action: NoticeAction) -> io::Result<()> {
        if let Some(n) = self.notifier.as_mut() {
            let result = match &action {
                NoticeAction::Show {
                    replaces_id,
                    summary,
                    body,
                    calm,
                } => n.show(*replaces_id, summary, body, *calm, &[]).map(Some),
                NoticeAction::Withdraw { id: 0, .. } => Ok(None),
                NoticeAction::Withdraw { id, .. } => n.withdraw(*id).map(|()| None),
            };
            match result {
                Ok(id) => {
                    if let Some(id) = id {
                        self.episodes.shown(id);
                        self.shown += 1;
                    } else {
                        self.withdrawn += 1;
                    }
                    return Ok(());
                }
                Err(why) => {
                    self.notifier = None;
                    say_fallback(&mut self.out, &why)?;
                }
            }
        }
        match action {
            NoticeAction::Show { summary, body, .. } => {
                self.shown += 1;
                writeln!(self.out, "posture: {summary}: {body}\x07")?;
            }
            NoticeAction::Withdraw { why, .. } => {
                self.withdrawn += 1;
                writeln!(self.out, "posture: {why}")?;
            }
        }
        self.out.flush()
    }
}

fn say_fallback(out: &mut impl Write, why: &str) -> io::Result<()> {
    writeln!(
        out,
        "posture: no desktop notifications ({why}); alerts are written here, with a bell"
    )?;
    out.flush()
}

impl<W: Write> Sink for NotifySink<W> {
    fn event(&mut self, _: f64, event: &Event) -> io::Result<()> {
        match self.episodes.on_event(event) {
            Some(a) => self.act(a),
            None => Ok(()),
        }
    }

    fn frame(&mut self, _: &FrameUpdate<'_>) -> io::Result<Flow> {
        Ok(Flow::Continue)
    }

    /// The run ends or pauses: an open episode's notification is withdrawn.
    fn finish(&mut self) -> io::Result<()> {
        match self.episodes.end() {
            Some(a) => self.act(a),
            None => Ok(()),
        }
    }
}

/// The break notification's action that starts `posture exercise sit-tall`.
pub const SIT_TALL_ACTION: &str = "sit-tall";

/// Break suggestions after a long time seated, as a notification with a "Sit tall" button (or a
/// terminal line with a bell), withdrawn when the break is taken. Each suggestion and each break
/// is raised as an event ([`Event::BreakSuggested`], [`Event::BreakTaken`]), so recordings keep
/// them. Time runs on across segments: the time the camera was closed between two segments
/// counts as not seated (a long pause is a break).
pub struct BreakSink<W: Write> {
    timer: BreakTimer,
    notifier: Option<Box<dyn Notifier>>,
    out: W,
    id: Arc<AtomicU32>,
    suggested: u32,
    raised: Vec<Event>,
    /// Added to a segment's media time: the clock of the whole desk run.
    offset_secs: f64,
    /// The last frame's time on that clock.
    last_secs: Option<f64>,
    /// When the last segment ended (`None`: a segment is running, or none has run).
    ended_at: Option<Instant>,
    /// Set when a set of exercises was completed while the camera was closed.
    exercised: Arc<AtomicBool>,
}

impl<W: Write> BreakSink<W> {
    /// Suggests through `notifier` (terminal lines on `out` when `None`).
    pub fn new(timer: BreakTimer, notifier: Option<Box<dyn Notifier>>, out: W) -> Self {
        Self {
            timer,
            notifier,
            out,
            id: Arc::new(AtomicU32::new(0)),
            suggested: 0,
            raised: Vec::new(),
            offset_secs: 0.0,
            last_secs: None,
            ended_at: None,
            exercised: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Breaks suggested and breaks taken so far.
    pub fn counts(&self) -> (u32, u32) {
        (self.suggested, self.timer.breaks())
    }

    /// The id of the break notification on screen (0: none), to match its actions to.
    pub fn notification_id(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.id)
    }

    /// Set it when a set of exercises (the break's "Sit tall") was completed while the camera
    /// was closed: when watching starts again, that counts as a break.
    pub fn exercised_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.exercised)
    }

    fn act(&mut self, action: BreakAction) -> io::Result<()> {
        match action {
            BreakAction::Suggest { seated_secs } => {
                self.suggested += 1;
                self.raised.push(Event::BreakSuggested { seated_secs });
                let summary = "Posture: time for a break";
                let body = format!(
                    "seated for {}: stand up and move, or do a set of sit-tall (posture exercise sit-tall)",
                    duration_words(seated_secs)
                );
                let shown = self
                    .notifier
                    .as_mut()
                    .map(|n| n.show(0, summary, &body, true, &[(SIT_TALL_ACTION, "Sit tall")]));
                match shown {
                    Some(Ok(id)) => self.id.store(id, Ordering::SeqCst),
                    _ => {
                        self.notifier = None;
                        writeln!(self.out, "posture: {summary}: {body}\x07")?;
                    }
                }
            }
            BreakAction::Taken {
                seated_secs,
                suggested,
            } => {
                self.raised.push(Event::BreakTaken { seated_secs });
                if suggested {
                    let id = self.id.swap(0, Ordering::SeqCst);
                    match self.notifier.as_mut() {
                        Some(n) if id != 0 => {
                            let _ = n.withdraw(id);
                        }
                        _ => writeln!(self.out, "posture: break taken")?,
                    }
                }
            }
        }
        Ok(())
    }
}

impl<W: Write> Sink for BreakSink<W> {
    fn event(&mut self, _: f64, _: &Event) -> io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> io::Result<Flow> {
        let t_segment = update.t_secs();
        if let Some(ended) = self.ended_at.take() {
            // A new segment: its media time starts again; the closed camera's time is unseen.
            let last = self.last_secs.unwrap_or(0.0);
            let resumed = last + ended.elapsed().as_secs_f64();
            self.offset_secs = resumed - t_segment;
            let exercised = self.exercised.swap(false, Ordering::SeqCst);
            let action = match self.timer.unseen(last, resumed) {
                Some(a) => Some(a),
                None if exercised => self.timer.exercised(last),
                None => None,
            };
            if let Some(a) = action {
                self.act(a)?;
            }
        }
        let t = t_segment + self.offset_secs;
        self.last_secs = Some(t);
        let a = update.analysis;
        let seated = a.person && !a.away && a.stance == Some(Stance::Seated);
        if let Some(action) = self.timer.update(t, seated) {
            self.act(action)?;
        }
        Ok(Flow::Continue)
    }

    /// A segment ended (a pause, a locked screen, a busy camera, or the end).
    fn finish(&mut self) -> io::Result<()> {
        if self.last_secs.is_some() {
            self.ended_at = Some(Instant::now());
        }
        Ok(())
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.raised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records calls; fails from call `fail_at` on.
    struct Fake {
        calls: Arc<Mutex<Vec<String>>>,
        fail_at: usize,
    }

    impl Notifier for Fake {
        fn show(
            &mut self,
            r: u32,
            s: &str,
            b: &str,
            calm: bool,
            _: &[(&str, &str)],
        ) -> Result<u32, String> {
            let mut c = self.calls.lock().unwrap();
            if c.len() >= self.fail_at {
                return Err("server gone".into());
            }
            c.push(format!("show {r} {s} | {b} | {calm}"));
            Ok(7)
        }
        fn withdraw(&mut self, id: u32) -> Result<(), String> {
            self.calls.lock().unwrap().push(format!("withdraw {id}"));
            Ok(())
        }
    }

    fn alert(level: u32) -> Event {
        Event::Alert {
            level,
            reason: "trunk 30° forward".into(),
            bad_for_secs: 12.0,
        }
    }

    #[test]
    fn an_episode_is_one_notification_replaced_then_withdrawn_and_a_lost_server_falls_back() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            calls: Arc::clone(&calls),
            fail_at: 3,
        };
        let mut sink = NotifySink::new(Ok(Box::new(fake)), Vec::new()).unwrap();
        sink.event(1.0, &alert(1)).unwrap();
        sink.event(2.0, &alert(2)).unwrap();
        sink.event(3.0, &Event::AlertCleared { bad_for_secs: 20.0 })
            .unwrap();
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "show 0 Posture: time to sit up | trunk 30° forward for 12 s | true",
                "show 7 Posture: still slouching (reminder 2) | trunk 30° forward for 12 s | false",
                "withdraw 7"
            ]
        );
        assert!(sink.out.is_empty());
        // The server goes away: said once, then the terminal with a bell.
        sink.event(4.0, &alert(1)).unwrap();
        assert!(!sink.on_desktop());
        sink.finish().unwrap();
        let text = String::from_utf8(sink.out.clone()).unwrap();
        assert_eq!(
            text.matches("no desktop notifications").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("time to sit up: trunk 30° forward for 12 s\x07"),
            "{text}"
        );
        assert!(
            text.contains("monitoring paused: alert withdrawn"),
            "{text}"
        );
    }

    #[test]
    fn without_a_server_it_says_so_once_and_writes_alerts_with_a_bell() {
        let mut sink = NotifySink::new(Err("no D-Bus session bus".into()), Vec::new()).unwrap();
        sink.event(1.0, &alert(1)).unwrap();
        sink.event(2.0, &Event::AlertCleared { bad_for_secs: 3.0 })
            .unwrap();
        let text = String::from_utf8(sink.out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains("no D-Bus session bus"));
        assert!(lines[1].ends_with('\x07'));
        assert_eq!(lines[2], "posture: posture recovered after 3 s");
        assert_eq!(sink.counts(), (1, 1));
    }
}
