//! Where a run's results go, one [`crate::run::Sink`] each: JSON lines, the status line, the
//! window, the recording and the video; with the drawing and rendering the window uses.

pub mod draw;
pub mod json;
pub mod notify;
pub mod recorder;
pub mod render;
pub mod status;
pub mod tray;
pub mod video;
#[cfg(feature = "window")]
pub mod window;
