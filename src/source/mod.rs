//! Frame sources: camera, video file, image folder, an embedded MJPEG clip, and a synthetic
//! source for tests. Everything downstream sees only [`Frame`]s.

#[cfg(feature = "camera")]
pub mod camera;
pub mod decode;
pub mod gate;
pub mod image_file;
pub mod images;
pub mod mjpeg;
pub mod modes;
pub mod synthetic;
#[cfg(all(feature = "camera", target_os = "linux"))]
pub mod v4l2;
pub mod video;

use std::path::PathBuf;

use crate::frame::Frame;

/// Why a source could not deliver a frame.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No camera could be opened.
    #[error(
        "no camera available ({detail}); connect one, or read a video with --video FILE (or images with --images DIR)"
    )]
    NoCamera {
        /// What the camera backend said.
        detail: String,
    },
    /// The camera is there but offers no format posture can decode (or refused the one chosen).
    #[error("camera {index} cannot be used: {reason}")]
    CameraFormat {
        /// Device index.
        index: u32,
        /// What the camera offers, or what it refused.
        reason: String,
    },
    /// A camera that was working stopped delivering frames.
    #[error("camera stopped delivering frames: {0}")]
    CameraLost(String),
    /// An external tool (ffmpeg, ffprobe) is missing.
    #[error(
        "cannot read video {path}: `{tool}` was not found; install ffmpeg (e.g. `apt-get install ffmpeg`)"
    )]
    MissingTool {
        /// The video.
        path: PathBuf,
        /// The tool.
        tool: &'static str,
    },
    /// The video cannot be opened (missing, unreadable, unsupported codec).
    #[error("cannot open video {path}: {reason}")]
    VideoOpen {
        /// The video.
        path: PathBuf,
        /// What ffprobe said.
        reason: String,
    },
    /// Decoding failed part-way.
    #[error("cannot decode video {path} at frame {frame}: {reason}")]
    VideoDecode {
        /// The video.
        path: PathBuf,
        /// Index of the frame that failed.
        frame: u64,
        /// What ffmpeg said.
        reason: String,
    },
    /// An image of a sequence failed.
    #[error(transparent)]
    Image(#[from] crate::source::image_file::ImageReadError),
    /// A folder or pattern matched no images.
    #[error(
        "no images found in {0}; give a folder of png/jpg files or a pattern like 'frames/*.jpg'"
    )]
    NoImages(String),
    /// Bytes of an MJPEG stream that do not decode.
    #[error("cannot decode frame {frame} of {name}: {reason}")]
    Mjpeg {
        /// The stream.
        name: String,
        /// Index of the frame.
        frame: u64,
        /// Why.
        reason: String,
    },
    /// The source does not support reconnecting.
    #[error("this source cannot reconnect")]
    CannotReconnect,
    /// Injected by the synthetic source in tests.
    #[error("synthetic failure: {0}")]
    Synthetic(String),
}

/// Something that produces frames.
pub trait FrameSource: Send {
    /// Fills `frame` with the next frame: its size, RGB bytes and `t_secs` (media time). The
    /// caller sets `seq` and `captured_at`. `Ok(false)` means the stream has ended.
    ///
    /// # Errors
    /// When a frame cannot be produced; for a live source, [`FrameSource::reconnect`] may then
    /// bring it back.
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError>;

    /// A short description for status lines and recordings, e.g. `camera 0 (640x480 @ 30 fps)`.
    fn describe(&self) -> String;

    /// Frames per second: a camera's own rate, or the rate a file should be paced at.
    fn fps(&self) -> f64;

    /// Whether frames arrive at their own pace (a camera). Files and images are not live: the
    /// pipeline paces them by `t_secs` unless asked to run as fast as possible.
    fn is_live(&self) -> bool;

    /// How many frames the source will produce, when known (for progress bars).
    fn frames_hint(&self) -> Option<u64> {
        None
    }

    /// Whether the source numbers its frames itself (`Frame::seq`), as a replay does with the
    /// recorded numbers; otherwise the pipeline numbers them in capture order.
    fn numbers_frames(&self) -> bool {
        false
    }

    /// Hands the source a rate gate to consult as each frame arrives, before decoding it (a
    /// camera: refused buffers go back to the driver undecoded). Returns whether it does; when
    /// not (files, images), the pipeline drops the refused frames after reading them.
    fn gate_before_decoding(&mut self, _gate: &gate::RateGate) -> bool {
        false
    }

    /// Tries to reopen the source after a failure (a camera unplugged and plugged back).
    ///
    /// # Errors
    /// When it cannot (yet); the caller retries with backoff.
    fn reconnect(&mut self) -> Result<(), SourceError> {
        Err(SourceError::CannotReconnect)
    }
}
