//! Replaying a recording through the run loop: a [`FrameSource`] that yields one tiny frame per
//! recorded frame (with its recorded time and number) and a [`PoseEstimator`] that yields the
//! recorded pose for it. Run offline (every frame, in order), the loop then judges the
//! recording again exactly as it judged it live, without camera or model.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::format::session::{Header, Line, SessionError, SessionReader};
use crate::frame::{Frame, ImageView, Resolution};
use crate::pose::PoseError;
use crate::pose::{Estimate, Keypoint, Pose, PoseEstimator};
use crate::source::{FrameSource, SourceError};

/// The poses read but not yet estimated, in frame order, and the reader's warnings.
#[derive(Debug, Default)]
struct Shared {
    poses: VecDeque<Pose>,
    warnings: Vec<String>,
}

/// The recorded frames of a session, as a source.
pub struct ReplaySource {
    reader: SessionReader,
    shared: Arc<Mutex<Shared>>,
    description: String,
}

/// The recorded poses of a session, as an estimator (paired with its [`ReplaySource`]).
#[derive(Debug)]
pub struct ReplayEstimator {
    shared: Arc<Mutex<Shared>>,
}

/// What is known of a replay besides its frames: the header, and the reader's warnings once
/// the run is over.
#[derive(Debug, Clone)]
pub struct ReplayInfo {
    /// The recording's header.
    pub header: Header,
    shared: Arc<Mutex<Shared>>,
}

impl ReplayInfo {
    /// One warning per skipped line of the file (corrupt, or cut off by a crash).
    pub fn warnings(&self) -> Vec<String> {
        self.shared
            .lock()
            .map(|s| s.warnings.clone())
            .unwrap_or_default()
    }
}

/// Opens the session file at `path` for replay.
///
/// # Errors
/// [`SessionError`] when it cannot be read or is not a session of this version.
pub fn open(path: &Path) -> Result<(ReplaySource, ReplayEstimator, ReplayInfo), SessionError> {
    let reader = SessionReader::open(path)?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let info = ReplayInfo {
        header: reader.header().clone(),
        shared: Arc::clone(&shared),
    };
    Ok((
        ReplaySource {
            reader,
            shared: Arc::clone(&shared),
            description: format!("recording {}", path.display()),
        },
        ReplayEstimator { shared },
        info,
    ))
}

fn lost() -> SourceError {
    SourceError::Synthetic("the replay's shared state was poisoned".into())
}

impl FrameSource for ReplaySource {
    fn read_into(&mut self, frame: &mut Frame) -> Result<bool, SourceError> {
        loop {
            let Some(line) = self.reader.next_line() else {
                let warnings = self.reader.warnings();
                self.shared.lock().map_err(|_| lost())?.warnings = warnings;
                return Ok(false);
            };
            let Line::Frame(f) = line else { continue };
            let mut pose = Pose::default();
            for (k, [x, y, s]) in pose.keypoints.iter_mut().zip(f.keypoints.iter().copied()) {
                *k = Keypoint {
                    x_px: x,
                    y_px: y,
                    score: s,
                };
            }
            self.shared
                .lock()
                .map_err(|_| lost())?
                .poses
                .push_back(pose);
            // The image is never looked at: one black column as high as the recorded frame (the
            // analysis uses the height) carries the time and number.
            frame
                .resize(Resolution::new(1, f.height_px.unwrap_or(1).max(1)))
                .fill(0);
            frame.t_secs = f.t_secs;
            frame.seq = f.seq;
            return Ok(true);
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn fps(&self) -> f64 {
        // Unpaced: a replay runs as fast as it can.
        0.0
    }

    fn is_live(&self) -> bool {
        false
    }

    fn numbers_frames(&self) -> bool {
        true
    }
}

impl PoseEstimator for ReplayEstimator {
    fn estimate(&mut self, _image: ImageView<'_>) -> Result<Estimate, PoseError> {
        let next = self
            .shared
            .lock()
            .map_err(|_| PoseError::Replay("the replay's shared state was poisoned".into()))?
            .poses
            .pop_front();
        match next {
            Some(pose) => Ok(Estimate {
                pose,
                timings: Default::default(),
            }),
            None => Err(PoseError::Replay(
                "a frame arrived without its recorded pose (frames must be replayed in order, none dropped)"
                    .into(),
            )),
        }
    }
}
