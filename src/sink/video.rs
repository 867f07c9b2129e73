//! `--record-video`: the session's frames as a video file next to the session file, through an
//! `ffmpeg` child process (H.264 in MP4). Only ever on the user's explicit request: posture
//! stores no images by default.
//!
//! Frames are copied to a `posture-video` thread over a bounded channel, so a slow encoder never
//! holds up the live loop (a frame that finds the queue full is skipped and counted). Frames are
//! placed by their media time: one the analysis skipped is filled by repeating the previous one,
//! so the video keeps real time. A failure (no ffmpeg, disk full) is reported once and the run
//! goes on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError, bounded};

use crate::frame::{Frame, Resolution};

/// A finished video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoDone {
    /// The file.
    pub path: PathBuf,
    /// Frames repeated in place of ones skipped while the encoder was behind.
    pub repeated_frames: u64,
}

/// Writes frames to a video file.
pub struct VideoWriter {
    path: PathBuf,
    fps: f64,
    resolution: Option<Resolution>,
    tx: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
    child: Option<Child>,
    error: Arc<Mutex<Option<String>>>,
    error_reported: bool,
    t0: Option<f64>,
    skipped: u64,
}

impl VideoWriter {
    /// A writer to `path` at `fps` frames per second; the encoder starts with the first frame
    /// (whose size sets the video's).
    pub fn new(path: &Path, fps: f64) -> Self {
        Self {
            path: path.to_owned(),
            fps: if fps.is_finite() && fps > 0.0 {
                fps
            } else {
                30.0
            },
            resolution: None,
            tx: None,
            thread: None,
            child: None,
            error: Arc::new(Mutex::new(None)),
            error_reported: false,
            t0: None,
            skipped: 0,
        }
    }

    /// The video file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, e: impl std::fmt::Display) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert_with(|| e.to_string());
        }
    }

    fn start(&mut self, resolution: Resolution) {
        let size = format!("{}x{}", resolution.width, resolution.height);
        let child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size])
            .args(["-framerate", &format!("{}", self.fps), "-i", "-"])
            // H.264 needs even sizes: pad by one pixel when odd.
            .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"])
            .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
            .arg(crate::source::video::ffmpeg_file_url(&self.path))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                self.fail(format!(
                    "cannot start ffmpeg ({e}); install ffmpeg to record video"
                ));
                return;
            }
        };
        let Some(mut stdin) = child.stdin.take() else {
            self.fail("ffmpeg has no input pipe");
            return;
        };
        let (tx, rx) = bounded::<(u64, Vec<u8>)>(4);
        let error = Arc::clone(&self.error);
        let thread = std::thread::Builder::new()
            .name("posture-video".into())
            .spawn(move || {
                let mut written = 0u64;
                for (index, rgb) in rx {
                    // Repeat this frame up to its place in time (at least once).
                    let copies = index.saturating_sub(written).max(1);
                    for _ in 0..copies {
                        if let Err(e) = stdin.write_all(&rgb) {
                            if let Ok(mut slot) = error.lock() {
                                slot.get_or_insert_with(|| format!("ffmpeg stopped: {e}"));
                            }
                            return;
                        }
                    }
                    written += copies;
                }
            });
        match thread {
            Ok(t) => {
                self.tx = Some(tx);
                self.thread = Some(t);
                self.child = Some(child);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                self.fail(format!("cannot start the video thread: {e}"));
            }
        }
    }

    /// Queues `frame` (skipped, and counted, when the encoder is behind).
    pub fn frame(&mut self, frame: &Frame) {
        let res = frame.resolution();
        match self.resolution {
            None => {
                self.resolution = Some(res);
                self.start(res);
            }
            Some(r) if r != res => {
                self.fail(format!(
                    "the frame size changed from {}x{} to {}x{}; the video stops there",
                    r.width, r.height, res.width, res.height
                ));
                self.tx = None;
                return;
            }
            Some(_) => {}
        }
        let Some(tx) = &self.tx else { return };
        let t0 = *self.t0.get_or_insert(frame.t_secs);
        let index = ((frame.t_secs - t0) * self.fps).round().max(0.0) as u64 + 1;
        match tx.try_send((index, frame.rgb().to_vec())) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.skipped += 1,
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }

    /// The first failure, once (later calls give `None`).
    pub fn take_error(&mut self) -> Option<String> {
        if self.error_reported {
            return None;
        }
        let e = self.error.lock().ok().and_then(|slot| slot.clone());
        self.error_reported = e.is_some();
        e
    }

    /// Closes the video; returns its path when ffmpeg finished it, or the reason it did not.
    ///
    /// # Errors
    /// A message when the video could not be made.
    pub fn finish(mut self) -> Result<VideoDone, String> {
        self.close_input();
        let out = self.child.take().map(|c| c.wait_with_output());
        if let Some(e) = self.error.lock().ok().and_then(|s| s.clone()) {
            return Err(e);
        }
        match out {
            None => Err("no frames were recorded".into()),
            Some(Err(e)) => Err(format!("ffmpeg failed: {e}")),
            Some(Ok(o)) if !o.status.success() => Err(format!(
                "ffmpeg failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Some(Ok(_)) => Ok(VideoDone {
                path: self.path.clone(),
                repeated_frames: self.skipped,
            }),
        }
    }
}

impl VideoWriter {
    /// Ends ffmpeg's input: the queue closes, the writer thread drains it and exits.
    fn close_input(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        self.close_input();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

/// The video writer as a run's sink: every frame's image goes to the file.
pub struct VideoSink {
    writer: Option<VideoWriter>,
    path: PathBuf,
    done: Option<Result<VideoDone, String>>,
}

impl VideoSink {
    /// Records frames to `path` at `fps` (the encoder starts with the first frame).
    pub fn new(path: &Path, fps: f64) -> Self {
        Self {
            writer: Some(VideoWriter::new(path, fps)),
            path: path.to_owned(),
            done: None,
        }
    }

    /// The video file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// After the run: the finished video, or why there is none.
    pub fn outcome(&self) -> Option<&Result<VideoDone, String>> {
        self.done.as_ref()
    }
}

impl crate::run::Sink for VideoSink {
    fn event(&mut self, _: f64, _: &crate::event::Event) -> std::io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, update: &crate::run::FrameUpdate<'_>) -> std::io::Result<crate::run::Flow> {
        if let Some(w) = &mut self.writer {
            w.frame(&update.processed.frame);
        }
        Ok(crate::run::Flow::Continue)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        if let Some(w) = self.writer.take() {
            self.done = Some(w.finish());
        }
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        let Some(w) = &mut self.writer else {
            return Vec::new();
        };
        w.take_error()
            .map(|e| {
                format!(
                    "video recording to {} failed ({e}); going on without video",
                    w.path().display()
                )
            })
            .into_iter()
            .collect()
    }
}
