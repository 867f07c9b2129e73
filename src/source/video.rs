//! Video files through ffmpeg: any container and codec the installed ffmpeg reads (mp4/H.264,
//! webm/VP9, avi, mov...), decoded to RGB frames on a pipe.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use super::{FrameSource, SourceError};
use crate::frame::{Frame, Resolution};

/// A video file decoded by an `ffmpeg` child process.
pub struct VideoSource {
    path: PathBuf,
    resolution: Resolution,
    fps: f64,
    frames: Option<u64>,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    next: u64,
}

fn spawn_error(path: &Path, tool: &'static str, e: std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::MissingTool {
            path: path.to_owned(),
            tool,
        }
    } else {
        SourceError::VideoOpen {
            path: path.to_owned(),
            reason: format!("cannot run {tool}: {e}"),
        }
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no details")
        .trim()
        .to_owned()
}

/// `path` as ffmpeg's `file:` URL, so that no file name is read as an option (`-dash.mp4`) or
/// as another protocol (`a:b.mp4`).
pub fn ffmpeg_file_url(path: &Path) -> std::ffi::OsString {
    let mut url = std::ffi::OsString::from("file:");
    url.push(path.as_os_str());
    url
}

/// Size (after rotation metadata), frame rate and frame count (when the container says), from
/// ffprobe.
fn probe(path: &Path) -> Result<(Resolution, f64, Option<u64>), SourceError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames:stream_side_data=rotation",
            "-of",
            "json",
            "-i",
        ])
        .arg(ffmpeg_file_url(path))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(path, "ffprobe", e))?;
    let open_err = |reason: String| SourceError::VideoOpen {
        path: path.to_owned(),
        reason,
    };
    if !out.status.success() {
        return Err(open_err(last_line(&String::from_utf8_lossy(&out.stderr))));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| open_err(format!("unreadable ffprobe output: {e}")))?;
    let stream = doc["streams"]
        .get(0)
        .ok_or_else(|| open_err("no video stream".into()))?;
    let dim = |k: &str| {
        stream[k]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|&v| v > 0)
    };
    let (Some(mut w), Some(mut h)) = (dim("width"), dim("height")) else {
        return Err(open_err(
            "the video stream has no size (unsupported codec?)".into(),
        ));
    };
    let rotation = stream["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|s| s["rotation"].as_i64()))
        .unwrap_or(0);
    if rotation.rem_euclid(180) == 90 {
        std::mem::swap(&mut w, &mut h);
    }
    let rate = |k: &str| {
        let s = stream[k].as_str()?;
        let (n, d) = s.split_once('/')?;
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0.0 && d > 0.0).then_some(n / d)
    };
    let fps = rate("avg_frame_rate")
        .or_else(|| rate("r_frame_rate"))
        .unwrap_or(30.0);
    let frames = stream["nb_frames"].as_str().and_then(|n| n.parse().ok());
    Ok((Resolution::new(w, h), fps, frames))
}

impl VideoSource {
    /// Probes and starts decoding `path`.
    ///
    /// # Errors
    /// [`SourceError::MissingTool`] without ffmpeg/ffprobe, [`SourceError::VideoOpen`] for a
    /// missing, unreadable or unsupported file.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        if let Err(e) = std::fs::File::open(path) {
            return Err(SourceError::VideoOpen {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        let (resolution, fps, frames) = probe(path)?;
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(ffmpeg_file_url(path))
            .args([
                "-map",
                "0:v:0",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-vsync",
                "passthrough",
                "pipe:1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_error(path, "ffmpeg", e))?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(SourceError::VideoOpen {
                path: path.to_owned(),
                reason: "ffmpeg pipes missing".into(),
            });
        };
        // Drain stderr on its own thread so that a chatty ffmpeg can never block on it.
        let stderr = std::thread::Builder::new()
            .name("posture-ffmpeg-stderr".into())
            .spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
            .map_err(|e| SourceError::VideoOpen {
                path: path.to_owned(),
                reason: format!("cannot start a thread: {e}"),
            })?;
        Ok(Self {
            path: path.to_owned(),
            resolution,
            fps,
            frames,
            child,
            stdout,
            stderr: Some(stderr),
            next: 0,
        })
    }

    /// What ffmpeg reported (it runs with `-v error`, so any output is an error), once it ended.
    fn ffmpeg_error(&mut self) -> Option<String> {
        let _ = self.child.wait();
        let text = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (!text.trim().is_empty()).then(|| last_line(&text))
    }
}

impl FrameSource for VideoSource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        let buf = frame.resize(self.resolution);
        let mut filled = 0;
        while filled < buf.len() {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(SourceError::VideoDecode {
                        path: self.path.clone(),
                        frame: self.next,
                        reason: e.to_string(),
                    });
                }
            }
        }
        if filled < buf.len() {
            // End of the pipe: a clean end, or ffmpeg failed (truncated file, bad data).
            let status = self.child.wait().ok();
            let reported = self.ffmpeg_error();
            let exited_badly = status.is_none_or(|s| !s.success());
            if exited_badly || filled > 0 || reported.is_some() {
                let reason = reported.unwrap_or_else(|| {
                    if filled > 0 {
                        "the stream ends inside a frame".into()
                    } else {
                        "ffmpeg failed".into()
                    }
                });
                return Err(SourceError::VideoDecode {
                    path: self.path.clone(),
                    frame: self.next,
                    reason,
                });
            }
            return Ok(false);
        }
        frame.t_secs = self.next as f64 / self.fps;
        self.next += 1;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!(
            "video {} ({} @ {:.2} fps)",
            self.path.display(),
            self.resolution,
            self.fps
        )
    }

    fn fps(&self) -> f64 {
        self.fps
    }

    fn is_live(&self) -> bool {
        false
    }

    fn frames_hint(&self) -> Option<u64> {
        self.frames
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.stderr.take() {
            let _ = h.join();
        }
    }
}
