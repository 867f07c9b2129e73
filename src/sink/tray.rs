//! The desk mode's tray icon: a StatusNotifierItem over D-Bus (the `ksni` crate, pure Rust).
//! Its colour follows the band (good, fair, poor) and the desk's state (paused, away, camera
//! busy); its menu pauses for 15 min / 1 h / until tomorrow, resumes, and asks the caller to
//! recalibrate, open the live window, show today's figures or quit.

use std::sync::Arc;

use ksni::blocking::TrayMethods;
use ksni::menu::{MenuItem, StandardItem};

use crate::desk::control::{DeskControl, unix_now};
use crate::event::Event;
use crate::run::{Flow, FrameUpdate, Sink};
use crate::science::judge::Band;

/// What the icon shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayLook {
    /// Not judged yet.
    Starting,
    /// Good posture.
    Good,
    /// Fair posture.
    Fair,
    /// Poor posture.
    Poor,
    /// Nobody there.
    Away,
    /// Paused or screen locked: the camera is closed.
    Paused,
    /// The camera is busy or missing.
    CameraBusy,
}

impl TrayLook {
    /// The icon's colour (RGB).
    pub fn rgb(self) -> [u8; 3] {
        match self {
            TrayLook::Good => Band::Good.rgb(),
            TrayLook::Fair => Band::Fair.rgb(),
            TrayLook::Poor => Band::Poor.rgb(),
            TrayLook::Away => [90, 120, 160],
            TrayLook::Paused | TrayLook::Starting => [140, 140, 140],
            TrayLook::CameraBusy => [60, 60, 60],
        }
    }

    /// In words, for the tooltip.
    pub fn words(self) -> &'static str {
        match self {
            TrayLook::Starting => "starting",
            TrayLook::Good => "posture good",
            TrayLook::Fair => "posture fair",
            TrayLook::Poor => "posture poor",
            TrayLook::Away => "nobody there",
            TrayLook::Paused => "paused: the camera is closed",
            TrayLook::CameraBusy => "waiting for the camera",
        }
    }
}

/// Menu entries (and the break notification's button) the desk run carries out itself: they
/// need the program, not the library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayRequest {
    /// Run `posture calibrate`.
    Recalibrate,
    /// Open the live window.
    OpenWindow,
    /// Show today's figures.
    ShowToday,
    /// Run `posture exercise sit-tall` (the break notification's "Sit tall" button).
    SitTall,
}

/// The tray item's state and menu.
pub struct PostureTray {
    look: TrayLook,
    detail: String,
    control: DeskControl,
    utc_offset_secs: i64,
    requests: Arc<dyn Fn(TrayRequest) + Send + Sync>,
}

/// A filled circle of `rgb` on transparency, `size` pixels square, ARGB32 big-endian.
pub fn circle_icon(size: i32, rgb: [u8; 3]) -> ksni::Icon {
    let mut data = Vec::with_capacity((size * size * 4) as usize);
    let c = (size as f32 - 1.0) / 2.0;
    let r = size as f32 / 2.0 - 1.0;
    for y in 0..size {
        for x in 0..size {
            let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
            let alpha = ((r + 0.5 - d).clamp(0.0, 1.0) * 255.0) as u8;
            data.extend_from_slice(&[alpha, rgb[0], rgb[1], rgb[2]]);
        }
    }
    ksni::Icon {
        width: size,
        height: size,
        data,
    }
}

/// The menu's labels, in order (separators left out).
pub const MENU_LABELS: [&str; 8] = [
    "Pause for 15 min",
    "Pause for 1 h",
    "Pause until tomorrow",
    "Resume",
    "Recalibrate",
    "Open the live window",
    "Today's figures",
    "Quit",
];

impl ksni::Tray for PostureTray {
    fn id(&self) -> String {
        "posture".into()
    }

    fn title(&self) -> String {
        format!("posture: {}", self.look.words())
    }

    fn status(&self) -> ksni::Status {
        match self.look {
            TrayLook::Poor => ksni::Status::NeedsAttention,
            _ => ksni::Status::Active,
        }
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        [16, 22, 32, 48]
            .into_iter()
            .map(|s| circle_icon(s, self.look.rgb()))
            .collect()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: format!("posture: {}", self.look.words()),
            description: self.detail.clone(),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        fn item(
            label: &str,
            enabled: bool,
            act: impl Fn(&mut PostureTray) + Send + Sync + 'static,
        ) -> MenuItem<PostureTray> {
            StandardItem {
                label: label.into(),
                enabled,
                activate: Box::new(act),
                ..Default::default()
            }
            .into()
        }
        let paused = self.look == TrayLook::Paused;
        let [p15, p1h, ptomorrow, resume, recal, window, today, quit] = MENU_LABELS;
        vec![
            item(p15, true, |t| t.control.pause(Some(unix_now() + 900.0))),
            item(p1h, true, |t| t.control.pause(Some(unix_now() + 3600.0))),
            item(ptomorrow, true, |t| {
                let until =
                    crate::desk::pause::PauseFor::Tomorrow.deadline(unix_now(), t.utc_offset_secs);
                t.control.pause(until);
            }),
            item(resume, paused, |t| t.control.resume()),
            MenuItem::Separator,
            item(recal, true, |t| (t.requests)(TrayRequest::Recalibrate)),
            item(window, true, |t| (t.requests)(TrayRequest::OpenWindow)),
            item(today, true, |t| (t.requests)(TrayRequest::ShowToday)),
            MenuItem::Separator,
            item(quit, true, |t| t.control.quit()),
        ]
    }
}

/// The running tray item; shut down when dropped.
pub struct Tray {
    handle: ksni::blocking::Handle<PostureTray>,
}

/// Updates the tray's look from anywhere (cloned freely).
#[derive(Clone)]
pub struct TrayHandle(ksni::blocking::Handle<PostureTray>);

impl Tray {
    /// Puts the item on the session bus and registers it with the desktop's tray.
    /// `requests` carries out the menu entries that need the program; `utc_offset_secs` is local
    /// time's offset, for "until tomorrow".
    ///
    /// # Errors
    /// No session bus, or no tray on it (no StatusNotifierWatcher or host), in words.
    pub fn start(
        control: DeskControl,
        utc_offset_secs: i64,
        requests: Arc<dyn Fn(TrayRequest) + Send + Sync>,
    ) -> Result<Self, String> {
        let tray = PostureTray {
            look: TrayLook::Starting,
            detail: String::new(),
            control,
            utc_offset_secs,
            requests,
        };
        let handle = tray.spawn().map_err(|e| match e {
            ksni::Error::Dbus(e) => format!("no D-Bus session bus: {e}"),
            other => format!("no tray on this desktop: {other}"),
        })?;
        Ok(Self { handle })
    }

    /// A handle that updates the icon.
    pub fn handle(&self) -> TrayHandle {
        TrayHandle(self.handle.clone())
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        self.handle.shutdown().wait();
    }
}

impl TrayHandle {
    /// Shows `look`, with `detail` in the tooltip.
    pub fn show(&self, look: TrayLook, detail: &str) {
        let detail = detail.to_owned();
        self.0.update(move |t| {
            t.look = look;
            t.detail = detail;
        });
    }
}

/// A sink that keeps the tray's colour on the current band.
pub struct TraySink {
    tray: TrayHandle,
    last: Option<TrayLook>,
}

impl TraySink {
    /// Drives `tray`.
    pub fn new(tray: TrayHandle) -> Self {
        Self { tray, last: None }
    }
}

impl Sink for TraySink {
    fn event(&mut self, _: f64, _: &Event) -> std::io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        let a = update.analysis;
        let look = if a.away {
            Some(TrayLook::Away)
        } else {
            a.judgement.band().map(|b| match b {
                Band::Good => TrayLook::Good,
                Band::Fair => TrayLook::Fair,
                Band::Poor => TrayLook::Poor,
            })
        };
        if let Some(look) = look
            && self.last != Some(look)
        {
            self.last = Some(look);
            let detail = a.judgement.reason().unwrap_or_default().to_owned();
            self.tray.show(look, &detail);
        }
        Ok(Flow::Continue)
    }

    /// A segment ended (paused, or the end): the next frame sets the colour again.
    fn finish(&mut self) -> std::io::Result<()> {
        self.last = None;
        Ok(())
    }
}
