//! The live window (minifb). Shows what [`crate::render::Renderer`] draws; closing it or pressing
//! Escape ends the run.

use minifb::{Key, Window, WindowOptions};

use crate::frame::Frame;
use crate::pipeline::Flow;
use crate::pose::Pose;
use crate::render::{Hud, Renderer};

/// A window showing the frames, skeleton and HUD.
pub struct LiveWindow {
    window: Window,
    renderer: Renderer,
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
        Ok(Self {
            window,
            renderer: Renderer::new(width, height),
        })
    }

    /// Draws and shows one frame; [`Flow::Stop`] once the window is closed or Escape pressed.
    pub fn show(&mut self, frame: &Frame, pose: Option<&Pose>, threshold: f32, hud: &Hud) -> Flow {
        if !self.window.is_open() || self.window.is_key_down(Key::Escape) {
            return Flow::Stop;
        }
        self.renderer.render(frame, pose, threshold, hud);
        let (w, h) = self.renderer.size();
        match self
            .window
            .update_with_buffer(self.renderer.buffer(), w as usize, h as usize)
        {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    /// Keeps the window responsive while no frame arrives.
    pub fn idle(&mut self) -> Flow {
        if !self.window.is_open() || self.window.is_key_down(Key::Escape) {
            return Flow::Stop;
        }
        self.window.update();
        Flow::Continue
    }
}
