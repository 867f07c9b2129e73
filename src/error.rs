//! The crate's one [`Error`]: every module's error converts into it. Each error type lives with
//! its module and is re-exported here.

pub use crate::frame::FrameError;
pub use crate::pose::PoseError;
pub use crate::source::image_file::ImageReadError;

/// Every error the library returns: each module's error converts into it.
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
    /// See [`crate::source::SourceError`].
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// See [`crate::run::pipeline::PipelineError`].
    #[error(transparent)]
    Pipeline(#[from] crate::run::pipeline::PipelineError),
    /// See [`crate::science::calibration::CalibrationError`].
    #[error(transparent)]
    Calibration(#[from] crate::science::calibration::CalibrationError),
    /// See [`crate::format::session::SessionError`].
    #[error(transparent)]
    Session(#[from] crate::format::session::SessionError),
    /// See [`crate::exercise::ExerciseError`].
    #[error(transparent)]
    Exercise(#[from] crate::exercise::ExerciseError),
    /// See [`crate::output::OutputError`].
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
