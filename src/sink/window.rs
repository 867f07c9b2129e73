//! The live window (minifb). Shows what [`crate::sink::render::Renderer`] draws; closing it or pressing
//! Escape ends the run.
//!
//! A lost X display (logout, an ssh drop, the X server ending) would make Xlib print its own line
//! and exit the process on the spot, losing the recording. On libX11 1.7 and later, posture
//! installs IO error handlers that only note the loss: Xlib then marks the display dead and
//! returns, [`LiveWindow::show`] answers [`Flow::Stop`] and the run ends as if the window had
//! been closed, recording finalised.

use std::mem::ManuallyDrop;

use minifb::{Key, Window, WindowOptions};

use std::time::Instant;

use crate::event::Event;
use crate::frame::Frame;
use crate::pose::Pose;
use crate::run::{Flow, FrameUpdate, Sink};
use crate::sink::render::{Hud, Renderer, hud};
use crate::sink::status::StatusTracker;

/// A window showing the frames, skeleton and HUD.
pub struct LiveWindow {
    // Not closed when the display is lost: Xlib calls on a dead display are best avoided.
    window: ManuallyDrop<Window>,
    renderer: Renderer,
}

impl Drop for LiveWindow {
    fn drop(&mut self) {
        if !display_lost() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.window) };
        }
    }
}

/// Whether the X display was lost (this process's windows can no longer be shown).
pub fn display_lost() -> bool {
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        x11::LOST.load(std::sync::atomic::Ordering::SeqCst)
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        false
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
mod x11 {
    //! libX11's IO error hooks, looked up at run time in the libX11 minifb already loaded.
    use std::ffi::{c_int, c_void};
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static LOST: AtomicBool = AtomicBool::new(false);

    type IoErrorHandler = unsafe extern "C" fn(*mut c_void) -> c_int;
    type IoExitHandler = unsafe extern "C" fn(*mut c_void, *mut c_void);
    type SetIoErrorHandler = unsafe extern "C" fn(Option<IoErrorHandler>) -> Option<IoErrorHandler>;
    type SetIoExitHandler = unsafe extern "C" fn(*mut c_void, Option<IoExitHandler>, *mut c_void);

    unsafe extern "C" fn on_io_error(_: *mut c_void) -> c_int {
        LOST.store(true, Ordering::SeqCst);
        0
    }

    // Returning (instead of exiting, Xlib's default) leaves the display marked dead: later
    // Xlib calls on it return at once.
    unsafe extern "C" fn on_io_exit(_: *mut c_void, _: *mut c_void) {
        LOST.store(true, Ordering::SeqCst);
    }

    /// Installs the hooks for `display`; false when this libX11 has no exit hook (before 1.7),
    /// and then nothing is changed.
    pub fn install(display: *mut c_void) -> bool {
        // SAFETY: dlopen with RTLD_NOLOAD only finds the library already loaded; the symbols
        // have the C signatures of Xlib.h (1.7+), and the handlers only store an atomic flag.
        unsafe {
            let lib = libc::dlopen(c"libX11.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
            if lib.is_null() {
                return false;
            }
            let set_io = libc::dlsym(lib, c"XSetIOErrorHandler".as_ptr());
            let set_exit = libc::dlsym(lib, c"XSetIOErrorExitHandler".as_ptr());
            if set_io.is_null() || set_exit.is_null() {
                return false;
            }
            let set_io = std::mem::transmute::<*mut c_void, SetIoErrorHandler>(set_io);
            let set_exit = std::mem::transmute::<*mut c_void, SetIoExitHandler>(set_exit);
            set_io(Some(on_io_error));
            set_exit(display, Some(on_io_exit), std::ptr::null_mut());
            true
        }
    }
}

impl LiveWindow {
    /// Opens a `width` x `height` window.
    ///
    /// # Errors
    /// The windowing system's message (e.g. no display).
    pub fn open(title: &str, width: u32, height: u32) -> Result<Self, String> {
        let window = Window::new(
            title,
            width as usize,
            height as usize,
            WindowOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
            if let Ok(h) = window.display_handle()
                && let RawDisplayHandle::Xlib(x) = h.as_raw()
                && let Some(display) = x.display
            {
                x11::install(display.as_ptr());
            }
        }
        Ok(Self {
            window: ManuallyDrop::new(window),
            renderer: Renderer::new(width, height),
        })
    }

    /// Draws and shows one frame; [`Flow::Stop`] once the window is closed or Escape pressed.
    pub fn show(&mut self, frame: &Frame, pose: Option<&Pose>, threshold: f32, hud: &Hud) -> Flow {
        if display_lost() || !self.window.is_open() || self.window.is_key_down(Key::Escape) {
            return Flow::Stop;
        }
        self.renderer.render(frame, pose, threshold, hud);
        let (w, h) = self.renderer.size();
        match self
            .window
            .update_with_buffer(self.renderer.buffer(), w as usize, h as usize)
        {
            Ok(()) if !display_lost() => Flow::Continue,
            _ => Flow::Stop,
        }
    }

    /// Keeps the window responsive while no frame arrives.
    pub fn idle(&mut self) -> Flow {
        if display_lost() || !self.window.is_open() || self.window.is_key_down(Key::Escape) {
            return Flow::Stop;
        }
        self.window.update();
        if display_lost() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// The live window as a run's sink: the frame, the skeleton and the HUD, with the alert in
/// progress as a banner. Closing the window (or Escape, or a lost display) stops the run.
pub struct WindowSink {
    window: LiveWindow,
    status: StatusTracker,
    alert: Option<String>,
}

impl WindowSink {
    /// Opens a window titled `title`.
    ///
    /// # Errors
    /// The windowing system's message (e.g. no display).
    pub fn open(title: &str) -> Result<Self, String> {
        Ok(Self {
            window: LiveWindow::open(title, 960, 720)?,
            status: StatusTracker::new(Instant::now()),
            alert: None,
        })
    }
}

impl Sink for WindowSink {
    fn event(&mut self, _: f64, event: &Event) -> std::io::Result<()> {
        match event {
            Event::Alert { reason, .. } => self.alert = Some(reason.clone()),
            Event::AlertCleared { .. } | Event::Away => self.alert = None,
            _ => {}
        }
        Ok(())
    }

    fn frame(&mut self, update: &FrameUpdate<'_>) -> std::io::Result<Flow> {
        self.status
            .observe(update.processed, update.analysis.person);
        self.status.set_posture(update.analysis);
        self.status.tick(Instant::now());
        let hud = hud(update, self.alert.as_deref(), self.status.short_line());
        Ok(self.window.show(
            &update.processed.frame,
            Some(update.pose()),
            update.score_threshold,
            &hud,
        ))
    }
}
