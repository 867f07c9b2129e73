//! Posture metrics from keypoints: clinical-angle proxies for side views, relative measures for
//! front views, and the view and stance. Pure functions of one pose.
//!
//! A keypoint angle is a proxy for the clinical angle, with an offset (see the README's "Posture
//! science"): the judge compares side-view neck angles with the user's calibrated baseline and
//! applies absolute bands only where they hold (trunk flexion). Every metric is `None` when a
//! keypoint it needs scores below the threshold (never NaN), and carries a confidence: the lowest
//! score among its keypoints.

use serde::{Deserialize, Serialize};

use crate::pose::{Joint, Pose};
use crate::science::geometry::{Point, deg, dist, midpoint};

/// A metric's value and confidence (0..1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// Degrees for angles, a plain ratio for `*_ratio` metrics.
    pub value: f32,
    /// The lowest keypoint score the value depends on.
    pub confidence: f32,
}

/// Where the camera sees the person from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// The metrics of one pose. Side-view fields are signed so that forward (where the nose points,
/// see [`facing`]) is positive; the CVA proxy, trunk flexion and head lead are measured on the
/// score-weighted average of the left and right ear, shoulder and hip, the neck flexion and head
/// pitch on the side nearer the camera.
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
    /// Side: angle above horizontal of the shoulder → ear line (the craniovertebral-angle proxy),
    /// both sides' points averaged by score.
    pub cva_proxy_deg: Option<Measure>,
    /// Side: the near ear's forward angle from the vertical through the near shoulder (90° − the
    /// near side's CVA proxy).
    pub neck_flexion_deg: Option<Measure>,
    /// Side: the head's own pitch, angle below horizontal of the near ear → nose line.
    pub head_pitch_deg: Option<Measure>,
    /// Side: forward angle from vertical of the hip → shoulder line (both sides averaged by
    /// score), plus the model's trunk offset when measured with one.
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

/// A metric's unit: its JSON name ends in `_deg` or `_ratio`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Degrees.
    Degrees,
    /// A plain ratio of two lengths.
    Ratio,
}

impl Unit {
    /// The unit as written after a value: ` deg`, or nothing for a ratio.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Degrees => " deg",
            Unit::Ratio => "",
        }
    }
}

/// The one registry of posture metrics: each metric's JSON name, unit, the view that measures
/// it, the spread a calibration accepts, and its label for people. Baselines, reports, exercise
/// conditions, the CSV and the HUD all go through it, so a metric is added in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Side: angle above horizontal of the shoulder → ear line (craniovertebral-angle proxy).
    CvaProxyDeg,
    /// Side: the ear's forward angle from the vertical through the shoulder.
    NeckFlexionDeg,
    /// Side: the head's own pitch (ear → nose line below horizontal).
    HeadPitchDeg,
    /// Side: forward angle from vertical of the hip → shoulder line.
    TrunkFlexionDeg,
    /// Side: the ear's lead over the shoulder, over the trunk length.
    HeadForwardRatio,
    /// Front: angle of the right → left shoulder line.
    ShoulderTiltDeg,
    /// Front: angle of the right → left eye line.
    HeadTiltDeg,
    /// Front: sideways angle from vertical of the hip-centre → shoulder-centre line.
    LateralLeanDeg,
    /// Front: the nose's height above the shoulder line over the shoulder width.
    HeadDropRatio,
    /// Front: eye spacing over shoulder width.
    HeadSizeRatio,
}

impl Metric {
    /// Every metric, in the order of records and tables.
    pub const ALL: [Metric; 10] = [
        Metric::CvaProxyDeg,
        Metric::NeckFlexionDeg,
        Metric::HeadPitchDeg,
        Metric::TrunkFlexionDeg,
        Metric::HeadForwardRatio,
        Metric::ShoulderTiltDeg,
        Metric::HeadTiltDeg,
        Metric::LateralLeanDeg,
        Metric::HeadDropRatio,
        Metric::HeadSizeRatio,
    ];

    /// The JSON key, e.g. `trunk_flexion_deg`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CvaProxyDeg => "cva_proxy_deg",
            Metric::NeckFlexionDeg => "neck_flexion_deg",
            Metric::HeadPitchDeg => "head_pitch_deg",
            Metric::TrunkFlexionDeg => "trunk_flexion_deg",
            Metric::HeadForwardRatio => "head_forward_ratio",
            Metric::ShoulderTiltDeg => "shoulder_tilt_deg",
            Metric::HeadTiltDeg => "head_tilt_deg",
            Metric::LateralLeanDeg => "lateral_lean_deg",
            Metric::HeadDropRatio => "head_drop_ratio",
            Metric::HeadSizeRatio => "head_size_ratio",
        }
    }

    /// The metric whose JSON key is `name`.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Degrees or a ratio.
    pub fn unit(self) -> Unit {
        match self {
            Metric::HeadForwardRatio | Metric::HeadDropRatio | Metric::HeadSizeRatio => Unit::Ratio,
            _ => Unit::Degrees,
        }
    }

    /// The view that measures it: a side-view metric computed on a front view (or the reverse)
    /// is an artefact of the formula, not a measurement.
    pub fn view(self) -> View {
        match self {
            Metric::CvaProxyDeg
            | Metric::NeckFlexionDeg
            | Metric::HeadPitchDeg
            | Metric::TrunkFlexionDeg
            | Metric::HeadForwardRatio => View::Side,
            _ => View::Front,
        }
    }

    /// How far from its calibration median a frame's value may lie and still count as holding
    /// still, in the metric's unit: 4° for angles, 0.05 for the head drop (and the side view's
    /// head lead), 0.02 for the head size. A calibration is refused as movement when more than
    /// [`crate::science::calibration::MAX_MOVING_SHARE`] of the frames lie farther.
    pub fn calibration_tolerance(self) -> f32 {
        match self {
            Metric::HeadSizeRatio => 0.02,
            Metric::HeadDropRatio | Metric::HeadForwardRatio => 0.05,
            _ => 4.0,
        }
    }

    /// Whether a view measures this metric: side metrics in a side view, front metrics in a
    /// front or oblique view (an oblique view is judged like a front one).
    pub fn measured_in(self, view: View) -> bool {
        match view {
            View::Side => self.view() == View::Side,
            View::Front | View::Oblique => self.view() == View::Front,
        }
    }

    /// Largest magnitude a value of this metric can have (a check on files read back).
    pub fn limit(self) -> f32 {
        match self.unit() {
            Unit::Degrees => 180.0,
            Unit::Ratio => 100.0,
        }
    }

    /// Its name for people, as the HUD and the report show it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::CvaProxyDeg => "CVA proxy",
            Metric::NeckFlexionDeg => "neck flexion",
            Metric::HeadPitchDeg => "head pitch",
            Metric::TrunkFlexionDeg => "trunk flexion",
            Metric::HeadForwardRatio => "head forward",
            Metric::ShoulderTiltDeg => "shoulder tilt",
            Metric::HeadTiltDeg => "head tilt",
            Metric::LateralLeanDeg => "lateral lean",
            Metric::HeadDropRatio => "head drop",
            Metric::HeadSizeRatio => "head size",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PostureMetrics {
    /// The value of `metric`, when measured.
    pub fn get(&self, metric: Metric) -> Option<Measure> {
        match metric {
            Metric::CvaProxyDeg => self.cva_proxy_deg,
            Metric::NeckFlexionDeg => self.neck_flexion_deg,
            Metric::HeadPitchDeg => self.head_pitch_deg,
            Metric::TrunkFlexionDeg => self.trunk_flexion_deg,
            Metric::HeadForwardRatio => self.head_forward_ratio,
            Metric::ShoulderTiltDeg => self.shoulder_tilt_deg,
            Metric::HeadTiltDeg => self.head_tilt_deg,
            Metric::LateralLeanDeg => self.lateral_lean_deg,
            Metric::HeadDropRatio => self.head_drop_ratio,
            Metric::HeadSizeRatio => self.head_size_ratio,
        }
    }

    /// These metrics with only those `view` measures kept (all of them without a view): a
    /// side-view metric computed on a front view is an artefact, not a measurement.
    pub fn only_view(mut self, view: Option<View>) -> Self {
        if let Some(view) = view {
            for metric in Metric::ALL {
                if !metric.measured_in(view) {
                    *self.slot(metric) = None;
                }
            }
        }
        self
    }

    fn slot(&mut self, metric: Metric) -> &mut Option<Measure> {
        match metric {
            Metric::CvaProxyDeg => &mut self.cva_proxy_deg,
            Metric::NeckFlexionDeg => &mut self.neck_flexion_deg,
            Metric::HeadPitchDeg => &mut self.head_pitch_deg,
            Metric::TrunkFlexionDeg => &mut self.trunk_flexion_deg,
            Metric::HeadForwardRatio => &mut self.head_forward_ratio,
            Metric::ShoulderTiltDeg => &mut self.shoulder_tilt_deg,
            Metric::HeadTiltDeg => &mut self.head_tilt_deg,
            Metric::LateralLeanDeg => &mut self.lateral_lean_deg,
            Metric::HeadDropRatio => &mut self.head_drop_ratio,
            Metric::HeadSizeRatio => &mut self.head_size_ratio,
        }
    }

    /// Every metric with its value, in [`Metric::ALL`] order.
    pub fn all(&self) -> [(Metric, Option<Measure>); 10] {
        Metric::ALL.map(|m| (m, self.get(m)))
    }
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

fn m(value: f32, confidence: f32) -> Option<Measure> {
    value.is_finite().then_some(Measure { value, confidence })
}

/// Measures everything the keypoints allow, as pure geometry (no model correction).
pub fn measure(pose: &Pose, threshold: f32) -> PostureMetrics {
    measure_with(pose, threshold, 0.0)
}

/// Measures everything the keypoints allow, adding `trunk_offset_deg` to the trunk flexion: the
/// pose model's own offset (its shoulder keypoint sits behind the joint centre), a property of
/// the model (see `[model.*]` in the thresholds file).
pub fn measure_with(pose: &Pose, threshold: f32, trunk_offset_deg: f32) -> PostureMetrics {
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
    side_metrics(&s, trunk_offset_deg, &mut out);
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

/// The way the person faces in the image: +1 toward image-right, -1 toward image-left. From the
/// face's front points (the nose and the eyes' midpoint) against the ears' midpoint, using every
/// point the model placed (score above 0) whatever its score: the model places a hidden ear or eye
/// on the right side of the head, and this cue was right on every side-view image and frame of
/// the development set (issue 14's research), where the per-frame "better scored side" was not.
/// Falls back to the seen points alone; `None` when no front point or no ear is placed.
pub fn facing(pose: &Pose) -> Option<f32> {
    let placed = |j: Joint| {
        let k = pose.get(j);
        (k.score > 0.0 && k.x_px.is_finite()).then_some(k.x_px)
    };
    let mean = |xs: &[Option<f32>]| {
        let v: Vec<f32> = xs.iter().flatten().copied().collect();
        (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
    };
    let eyes = mean(&[placed(Joint::LeftEye), placed(Joint::RightEye)]);
    let front = mean(&[placed(Joint::Nose), eyes])?;
    let ears = mean(&[placed(Joint::LeftEar), placed(Joint::RightEar)])?;
    (front != ears).then(|| (front - ears).signum())
}

/// The score-weighted point of a left/right pair, whatever each score (the model places both),
/// and the better of the two scores; `None` when neither reaches `threshold`.
fn weighted_pair(pose: &Pose, a: Joint, b: Joint, threshold: f32) -> Option<(Point, f32)> {
    let (ka, kb) = (pose.get(a), pose.get(b));
    let best = ka.score.max(kb.score);
    if best < threshold {
        return None;
    }
    let (wa, wb) = (ka.score.max(0.0), kb.score.max(0.0));
    let w = wa + wb;
    (w > 0.0).then(|| {
        (
            (
                (ka.x_px * wa + kb.x_px * wb) / w,
                (ka.y_px * wa + kb.y_px * wb) / w,
            ),
            best,
        )
    })
}

fn side_metrics(s: &Seen<'_>, trunk_offset_deg: f32, out: &mut PostureMetrics) {
    let Some(f) = facing(s.pose) else { return };
    let t = s.threshold;
    // The CVA proxy, trunk flexion and head lead from the score-weighted average of both sides:
    // steadiest on still holds and closest to the truth (issue 14's research).
    let ear = weighted_pair(s.pose, Joint::LeftEar, Joint::RightEar, t);
    let sh = weighted_pair(s.pose, Joint::LeftShoulder, Joint::RightShoulder, t);
    let hip = weighted_pair(s.pose, Joint::LeftHip, Joint::RightHip, t);
    if let (Some((e, ec)), Some((sp, sc))) = (ear, sh) {
        let (up, ahead) = (sp.1 - e.1, (e.0 - sp.0) * f);
        if up != 0.0 || ahead != 0.0 {
            out.cva_proxy_deg = m(deg(up, ahead), ec.min(sc));
        }
        if let Some((h, hc)) = hip {
            let trunk = dist(sp, h);
            if trunk > 0.0 {
                out.head_forward_ratio = m(ahead / trunk, ec.min(sc).min(hc));
            }
        }
    }
    if let (Some((sp, sc)), Some((h, hc))) = (sh, hip) {
        let (dx, dy) = ((sp.0 - h.0) * f, h.1 - sp.1);
        if dx != 0.0 || dy != 0.0 {
            out.trunk_flexion_deg = m(deg(dx, dy) + trunk_offset_deg, sc.min(hc));
        }
    }
    // The neck and the head's pitch from the near side (the person's left when they face
    // image-left), or the other side when the near one is not seen: the judge's inputs, which
    // separate good from poor best on the development data.
    let near = |left: bool| {
        let (ej, sj) = if left {
            (Joint::LeftEar, Joint::LeftShoulder)
        } else {
            (Joint::RightEar, Joint::RightShoulder)
        };
        s.get(ej).zip(s.get(sj))
    };
    let Some(((e, ec), (sp, sc))) = near(f < 0.0).or_else(|| near(f > 0.0)) else {
        return;
    };
    let (up, ahead) = (sp.1 - e.1, (e.0 - sp.0) * f);
    if up != 0.0 || ahead != 0.0 {
        out.neck_flexion_deg = m(90.0 - deg(up, ahead), ec.min(sc));
    }
    if let Some((nose, nc)) = s.get(Joint::Nose) {
        out.head_pitch_deg = m(deg(nose.1 - e.1, (nose.0 - e.0) * f), ec.min(nc));
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
