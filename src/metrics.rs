//! Posture metrics from keypoints: clinical-angle proxies for side views, relative measures for
//! front views, and the view and stance. Pure functions of one pose.
//!
//! A keypoint angle is a proxy for the clinical angle, with an offset (see the README's "Posture
//! science"): the judge compares side-view neck angles with the user's calibrated baseline and
//! applies absolute bands only where they hold (trunk flexion). Every metric is `None` when a
//! keypoint it needs scores below the threshold (never NaN), and carries a confidence: the lowest
//! score among its keypoints.

use serde::{Deserialize, Serialize};

use crate::geometry::{Point, midpoint};
use crate::pose::{Joint, Pose};

/// A metric's value and confidence (0..1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Degrees for angles, a plain ratio for `*_ratio` metrics.
    pub value: f32,
    /// The lowest keypoint score the value depends on.
    pub confidence: f32,
}

/// Where the camera sees the person from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Facing the camera (a desk webcam).
    Front,
    /// Seen from the side.
    Side,
    /// In between.
    Oblique,
}

/// Whether the person sits or stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// Thighs well away from vertical.
    Seated,
    /// Thighs and shins near vertical.
    Standing,
    /// Legs not seen well enough to tell.
    Unknown,
}

/// Face yaw (nose offset from the ears' midpoint over half the ear span) beyond which the face is
/// in profile (frontal faces measure ≤ 0.1, profiles ≥ 7 on the synthetic set; the man leaning
/// over the tripod 2.3).
pub const PROFILE_YAW: f32 = 1.0;
/// The yaw reported when only one ear is seen at all (a profile); finite so JSON stays plain.
pub const PROFILE_ONE_EAR_YAW: f32 = 99.0;
/// Face yaw below which the face is frontal.
pub const FRONTAL_YAW: f32 = 0.5;
/// Lowest score at which an ear's position still serves the yaw cue (a hidden ear's position is
/// a guess, but on the right side of the head).
pub const YAW_EAR_MIN_SCORE: f32 = 0.1;

/// Shoulder span over the shoulder-to-ear height below which a pose is a side view.
pub const SIDE_VIEW_RATIO: f32 = 0.6;
/// ... and above which it is a front view (side views measure ≤ 0.35 and front views ≥ 1.5 on
/// the synthetic development set).
pub const FRONT_VIEW_RATIO: f32 = 1.0;

/// The metrics of one pose. Side-view fields are measured on the side nearer the camera (the
/// one whose ear and shoulder score higher), signed so that forward (where the nose points) is
/// positive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PostureMetrics {
    /// Shoulder span over shoulder-to-ear height: the body's view cue.
    pub view_ratio: Option<f32>,
    /// Nose offset from the ears' midpoint over half the ear span: the face's view cue (0 when
    /// facing the camera, large in profile).
    pub face_yaw_ratio: Option<f32>,
    /// This frame's view (unsmoothed).
    pub view: Option<View>,
    /// This frame's stance (unsmoothed).
    pub stance: Option<Stance>,
    /// Side: angle above horizontal of the shoulder → ear line (the craniovertebral-angle proxy).
    pub cva_proxy_deg: Option<Measure>,
    /// Side: the ear's forward angle from the vertical through the shoulder (90° − CVA proxy).
    pub neck_flexion_deg: Option<Measure>,
    /// Side: the head's own pitch, angle below horizontal of the ear → nose line.
    pub head_pitch_deg: Option<Measure>,
    /// Side: forward angle from vertical of the hip → shoulder line.
    pub trunk_flexion_deg: Option<Measure>,
    /// Side: how far the ear is ahead of the shoulder, over the trunk length.
    pub head_forward_ratio: Option<Measure>,
    /// Front: angle of the right → left shoulder line; positive when the person's left shoulder
    /// is higher.
    pub shoulder_tilt_deg: Option<Measure>,
    /// Front: angle of the right → left eye line (ears when the eyes are not seen); positive
    /// when the head tilts toward the person's right (left eye higher).
    pub head_tilt_deg: Option<Measure>,
    /// Front: angle from vertical of the hip-centre → shoulder-centre line; positive toward the
    /// person's left.
    pub lateral_lean_deg: Option<Measure>,
    /// Front: the nose's height above the shoulder line over the shoulder width (falls as the
    /// head drops).
    pub head_drop_ratio: Option<Measure>,
    /// Front: eye spacing over shoulder width (grows as the head comes toward the camera).
    pub head_size_ratio: Option<Measure>,
}

struct Seen<'a> {
    pose: &'a Pose,
    threshold: f32,
}

impl Seen<'_> {
    fn get(&self, j: Joint) -> Option<(Point, f32)> {
        self.pose
            .visible(j, self.threshold)
            .map(|k| ((k.x_px, k.y_px), k.score))
    }
}

fn deg(y: f32, x: f32) -> f32 {
    y.atan2(x).to_degrees()
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

fn m(value: f32, confidence: f32) -> Option<Measure> {
    value.is_finite().then_some(Measure { value, confidence })
}

/// Measures everything the keypoints allow.
pub fn measure(pose: &Pose, threshold: f32) -> PostureMetrics {
    let s = Seen { pose, threshold };
    let mut out = PostureMetrics::default();
    let (ls, rs) = (s.get(Joint::LeftShoulder), s.get(Joint::RightShoulder));
    let (le, re) = (s.get(Joint::LeftEar), s.get(Joint::RightEar));

    // Body cue: shoulder span against the shoulder-to-ear height, both shoulders needed.
    if let (Some((lsp, _)), Some((rsp, _))) = (ls, rs) {
        let ear_y = match (le, re) {
            (Some((a, _)), Some((b, _))) => Some((a.1 + b.1) / 2.0),
            (Some((a, _)), None) | (None, Some((a, _))) => Some(a.1),
            (None, None) => None,
        };
        if let Some(ey) = ear_y {
            let height = (lsp.1 + rsp.1) / 2.0 - ey;
            if height > 0.0 {
                out.view_ratio = Some((lsp.0 - rsp.0).abs() / height);
            }
        }
    }
    // Face cue: where the nose sits between the ears (positions of faintly seen ears included).
    if let Some((nose, _)) = s.get(Joint::Nose) {
        let faint = |j| {
            pose.visible(j, YAW_EAR_MIN_SCORE.min(threshold))
                .map(|k| k.x_px)
        };
        out.face_yaw_ratio = match (faint(Joint::LeftEar), faint(Joint::RightEar)) {
            (Some(l), Some(r)) if l != r => {
                Some((nose.0 - (l + r) / 2.0).abs() / ((l - r).abs() / 2.0))
            }
            // One ear only: a profile.
            (Some(_), None) | (None, Some(_)) => Some(PROFILE_ONE_EAR_YAW),
            _ => None,
        };
    }
    out.view = view_of(out.view_ratio, out.face_yaw_ratio);
    side_metrics(&s, &mut out);
    front_metrics(&s, &mut out);
    out.stance = stance(&s);
    out
}

/// The view from the body cue (shoulder span ratio) and the face cue (yaw ratio): a profile face
/// over shoulders that are not square to the camera is a side view (a three-quarter body leaning
/// over still shows its neck and trunk from the side); a frontal face over square shoulders is a
/// front view.
pub fn view_of(ratio: Option<f32>, yaw: Option<f32>) -> Option<View> {
    match (ratio, yaw) {
        (Some(r), _) if r < SIDE_VIEW_RATIO => Some(View::Side),
        (Some(r), Some(y)) if y > PROFILE_YAW => {
            Some(if r < 3.0 { View::Side } else { View::Oblique })
        }
        (Some(r), Some(y)) if y < FRONTAL_YAW => Some(if r > FRONT_VIEW_RATIO {
            View::Front
        } else {
            View::Oblique
        }),
        (Some(r), None) => Some(if r > FRONT_VIEW_RATIO {
            View::Front
        } else {
            View::Oblique
        }),
        (Some(_), Some(_)) => Some(View::Oblique),
        (None, Some(y)) if y > PROFILE_YAW => Some(View::Side),
        (None, Some(y)) if y < FRONTAL_YAW => Some(View::Front),
        (None, _) => None,
    }
}

fn side_metrics(s: &Seen<'_>, out: &mut PostureMetrics) {
    let score =
        |e: Joint, sh: Joint| s.get(e).map_or(0.0, |k| k.1) + s.get(sh).map_or(0.0, |k| k.1);
    let (ear_j, sh_j, hip_j, eye_j) = if score(Joint::LeftEar, Joint::LeftShoulder)
        >= score(Joint::RightEar, Joint::RightShoulder)
    {
        (
            Joint::LeftEar,
            Joint::LeftShoulder,
            Joint::LeftHip,
            Joint::LeftEye,
        )
    } else {
        (
            Joint::RightEar,
            Joint::RightShoulder,
            Joint::RightHip,
            Joint::RightEye,
        )
    };
    let (Some((ear, ec)), Some((sh, sc))) = (s.get(ear_j), s.get(sh_j)) else {
        return;
    };
    // Facing: the way the nose (or the near eye) points from the ear.
    let Some((front, fc)) = s.get(Joint::Nose).or_else(|| s.get(eye_j)) else {
        return;
    };
    if front.0 == ear.0 {
        return;
    }
    let f = (front.0 - ear.0).signum();
    let up = sh.1 - ear.1;
    let ahead = (ear.0 - sh.0) * f;
    if up != 0.0 || ahead != 0.0 {
        let cva = deg(up, ahead);
        let c = ec.min(sc).min(fc);
        out.cva_proxy_deg = m(cva, c);
        out.neck_flexion_deg = m(90.0 - cva, c);
    }
    if let Some((nose, nc)) = s.get(Joint::Nose) {
        out.head_pitch_deg = m(deg(nose.1 - ear.1, (nose.0 - ear.0) * f), ec.min(nc));
    }
    if let Some((hip, hc)) = s.get(hip_j) {
        let (dx, dy) = ((sh.0 - hip.0) * f, hip.1 - sh.1);
        if dx != 0.0 || dy != 0.0 {
            out.trunk_flexion_deg = m(deg(dx, dy), sc.min(hc).min(fc));
        }
        let trunk = dist(sh, hip);
        if trunk > 0.0 {
            out.head_forward_ratio = m(ahead / trunk, ec.min(sc).min(hc).min(fc));
        }
    }
}

/// Angle of the line from the person's right point `r` to their left point `l`, positive when
/// `l` is higher; the horizontal component is taken as its magnitude so the person's own sides
/// define the sign whichever way they face.
fn right_to_left_deg(r: Point, l: Point) -> f32 {
    deg(r.1 - l.1, (l.0 - r.0).abs())
}

fn front_metrics(s: &Seen<'_>, out: &mut PostureMetrics) {
    let (Some((ls, lc)), Some((rs, rc))) =
        (s.get(Joint::LeftShoulder), s.get(Joint::RightShoulder))
    else {
        return;
    };
    let width = dist(ls, rs);
    if width <= 0.0 {
        return;
    }
    let shoulders_c = lc.min(rc);
    out.shoulder_tilt_deg = m(right_to_left_deg(rs, ls), shoulders_c);
    let eyes = s.get(Joint::RightEye).zip(s.get(Joint::LeftEye));
    let ears = s.get(Joint::RightEar).zip(s.get(Joint::LeftEar));
    if let Some(((r, rc2), (l, lc2))) = eyes.or(ears)
        && r != l
    {
        out.head_tilt_deg = m(right_to_left_deg(r, l), rc2.min(lc2));
    }
    if let Some(((r, rc2), (l, lc2))) = eyes {
        out.head_size_ratio = m(dist(r, l) / width, rc2.min(lc2).min(shoulders_c));
    }
    if let Some((nose, nc)) = s.get(Joint::Nose) {
        // Height of the nose above the shoulder line, measured perpendicular to the line.
        let (dx, dy) = ((ls.0 - rs.0) / width, (ls.1 - rs.1) / width);
        let (vx, vy) = (nose.0 - rs.0, nose.1 - rs.1);
        let above = (vx * dy - vy * dx) * (ls.0 - rs.0).signum();
        out.head_drop_ratio = m(above / width, nc.min(shoulders_c));
    }
    if let (Some((lh, lhc)), Some((rh, rhc))) = (s.get(Joint::LeftHip), s.get(Joint::RightHip)) {
        let (shm, hm) = (midpoint(ls, rs), midpoint(lh, rh));
        let toward_left = (ls.0 - rs.0).signum();
        let (dx, dy) = ((shm.0 - hm.0) * toward_left, hm.1 - shm.1);
        if dx != 0.0 || dy != 0.0 {
            out.lateral_lean_deg = m(deg(dx, dy), shoulders_c.min(lhc).min(rhc));
        }
    }
}

fn stance(s: &Seen<'_>) -> Option<Stance> {
    // The better-seen leg: thigh angle from vertical.
    let thigh = |hip: Joint, knee: Joint| {
        let ((h, hc), (k, kc)) = (s.get(hip)?, s.get(knee)?);
        let (dx, dy) = ((k.0 - h.0).abs(), k.1 - h.1);
        (dx != 0.0 || dy != 0.0).then(|| (deg(dx, dy), hc.min(kc)))
    };
    let best = [
        thigh(Joint::LeftHip, Joint::LeftKnee),
        thigh(Joint::RightHip, Joint::RightKnee),
    ]
    .into_iter()
    .flatten()
    .max_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((a, _)) if a > 50.0 => Some(Stance::Seated),
        Some((a, _)) if a < 25.0 => Some(Stance::Standing),
        Some(_) => Some(Stance::Unknown),
        None => s
            .get(Joint::LeftShoulder)
            .or(s.get(Joint::RightShoulder))
            .map(|_| Stance::Unknown),
    }
}
