//! A scripted person for `posture bench --desk` and the desk tests: sits well, slouches for a
//! while, then sits well again. [`ScriptedEstimator`] runs the real model on each frame (so the
//! CPU measured is the real cost) and then replaces its pose with the script's at that moment.

use std::time::Instant;

use crate::frame::ImageView;
use crate::pose::{Estimate, Joint, Keypoint, Pose, PoseError, PoseEstimator};

/// A side view of exact geometry: the hip → shoulder line `trunk_deg` forward of vertical, the
/// shoulder → ear line `neck_deg` forward.
pub fn side_pose(trunk_deg: f32, neck_deg: f32) -> Pose {
    let (tr, nr) = (trunk_deg.to_radians(), neck_deg.to_radians());
    let hip = (300.0, 400.0);
    let sh = (hip.0 + 100.0 * tr.sin(), hip.1 - 100.0 * tr.cos());
    let ear = (sh.0 + 40.0 * nr.sin(), sh.1 - 40.0 * nr.cos());
    let nose = (ear.0 + 18.0, ear.1 + 6.0);
    let knee = (hip.0 + 110.0, hip.1 + 5.0);
    let ankle = (knee.0 + 5.0, knee.1 + 100.0);
    let mut p = Pose::default();
    for (j, (x, y)) in [
        (Joint::LeftHip, hip),
        (Joint::LeftShoulder, sh),
        (Joint::LeftEar, ear),
        (Joint::Nose, nose),
        (Joint::LeftKnee, knee),
        (Joint::LeftAnkle, ankle),
    ] {
        p.keypoints[j as usize] = Keypoint {
            x_px: x,
            y_px: y,
            score: 0.9,
        };
    }
    p
}

/// Sitting well, except for one slouch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeskScript {
    /// When the slouch starts, seconds after the script's origin.
    pub slouch_from_secs: f64,
    /// How long it lasts.
    pub slouch_for_secs: f64,
}

impl DeskScript {
    /// The pose at `t_secs` after the origin.
    pub fn pose_at(&self, t_secs: f64) -> Pose {
        if (self.slouch_from_secs..self.slouch_from_secs + self.slouch_for_secs).contains(&t_secs) {
            side_pose(45.0, 80.0)
        } else {
            side_pose(2.0, 5.0)
        }
    }
}

/// Runs `inner` on each frame for its cost, then reports the script's pose at the moment of
/// the estimate (wall time since `origin`).
pub struct ScriptedEstimator<E> {
    inner: E,
    script: DeskScript,
    origin: Instant,
}

impl<E: PoseEstimator> ScriptedEstimator<E> {
    /// The script, timed from `origin`.
    pub fn new(inner: E, script: DeskScript, origin: Instant) -> Self {
        Self {
            inner,
            script,
            origin,
        }
    }
}

impl<E: PoseEstimator> PoseEstimator for ScriptedEstimator<E> {
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
        let mut estimate = self.inner.estimate(image)?;
        estimate.pose = self.script.pose_at(self.origin.elapsed().as_secs_f64());
        Ok(estimate)
    }
}
