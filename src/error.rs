//! Error types: one enum per boundary, gathered in [`Error`].

use std::path::PathBuf;

use crate::frame::Resolution;

/// A frame whose bytes do not match its declared size.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Zero width or height.
    #[error("image is empty ({resolution})")]
    Empty {
        /// The declared size.
        resolution: Resolution,
    },
    /// The buffer length does not match width x height x bytes per pixel.
    #[error("image buffer holds {got} bytes, expected {expected} for {resolution}")]
    SizeMismatch {
        /// The declared size.
        resolution: Resolution,
        /// Bytes the size requires.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Loading or running the pose model.
#[derive(Debug, thiserror::Error)]
pub enum PoseError {
    /// The model file could not be read.
    #[error(
        "cannot read pose model {path}: {source}; pass --model lightning, thunder or the path of a MoveNet .onnx file"
    )]
    ModelRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are not a usable MoveNet ONNX model.
    #[error(
        "pose model {name} is not a usable MoveNet SinglePose ONNX model ({reason}); pass --model lightning, thunder or the path of a MoveNet .onnx file"
    )]
    ModelInvalid {
        /// The file or built-in name.
        name: String,
        /// What is wrong, from the loader.
        reason: String,
    },
    /// A thread pool for `--threads` could not be made.
    #[error("cannot start {threads} inference threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// Why not.
        reason: String,
    },
    /// Running the network failed.
    #[error("pose inference failed: {0}")]
    Inference(String),
    /// The frame is unusable.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Reading an image file.
#[derive(Debug, thiserror::Error)]
pub enum ImageReadError {
    /// Could not open or read the file.
    #[error("cannot read image {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("cannot read image {path}: the file is empty (0 bytes)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not a decodable image.
    #[error(
        "cannot decode image {path}: {reason}; is it a PNG, JPEG, BMP, WebP, TIFF, GIF or PNM file?"
    )]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// Decoded, but of no usable size.
    #[error("cannot use image {path}: {source}")]
    Frame {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FrameError,
    },
}

impl ImageReadError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            ImageReadError::Io { path, .. }
            | ImageReadError::EmptyFile { path }
            | ImageReadError::Decode { path, .. }
            | ImageReadError::Frame { path, .. } => path,
        }
    }
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`FrameError`].
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// See [`PoseError`].
    #[error(transparent)]
    Pose(#[from] PoseError),
    /// See [`ImageReadError`].
    #[error(transparent)]
    ImageRead(#[from] ImageReadError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
