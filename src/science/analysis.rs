//! Per-frame posture analysis, shared by live runs, exercises and replays: smoothing, metrics,
//! view and stance with hysteresis, the judgement and alerts. Pure: time comes in with the data.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::pose::{Joint, Pose};
use crate::science::alerts::{AlertConfig, Alerter};
use crate::science::calibration::{Baseline, CalibrationError};
use crate::science::judge::{Band, Component, Judgement, Thresholds, judge};
use crate::science::metrics::{Metric, PostureMetrics, Stance, View, measure_with};
use crate::science::smooth::{Dwell, PoseSmoother};

/// The thresholds file shipped in `calibration/thresholds.toml` (embedded).
pub const DEFAULT_SETTINGS_TOML: &str = include_str!("../../calibration/thresholds.toml");

/// Judge thresholds and alert timing, as read from a thresholds file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Always 1.
    pub schema_version: u32,
    /// Score thresholds.
    pub judge: Thresholds,
    /// Alert timing.
    pub alerts: AlertConfig,
    /// Per pose model (by its name, `lightning` or `thunder`), the corrections of its keypoint
    /// convention; a model not listed gets none.
    #[serde(default)]
    pub model: BTreeMap<String, ModelSettings>,
}

/// What one pose model's keypoints need to measure the body's angles.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Degrees added to the hip → shoulder keypoint line's angle to get the trunk flexion: the
    /// model's shoulder keypoint sits behind the shoulder joint (measured on the development
    /// renders: +3.6° Lightning, +4.2° Thunder). With a baseline it cancels.
    pub trunk_offset_deg: f32,
}

impl Default for Settings {
    fn default() -> Self {
        let model = [("lightning", 3.6), ("thunder", 4.2)]
            .into_iter()
            .map(|(name, trunk_offset_deg)| (name.to_owned(), ModelSettings { trunk_offset_deg }))
            .collect();
        Self {
            schema_version: 1,
            judge: Thresholds::default(),
            alerts: AlertConfig::default(),
            model,
        }
    }
}

impl Settings {
    /// Parses a thresholds file's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`CalibrationError::Thresholds`] with the parser's message (line and field).
    pub fn parse(text: &str, path: &std::path::Path) -> Result<Self, CalibrationError> {
        let s: Settings = toml::from_str(text).map_err(|e| CalibrationError::Thresholds {
            path: path.to_owned(),
            reason: e.to_string().trim().replace('\n', " "),
        })?;
        if s.schema_version != 1 {
            return Err(CalibrationError::Thresholds {
                path: path.to_owned(),
                reason: format!("schema_version {} is not 1", s.schema_version),
            });
        }
        Ok(s)
    }

    /// The trunk offset of the pose model named `model` (0 for a model not listed).
    pub fn trunk_offset_deg(&self, model: &str) -> f32 {
        self.model.get(model).map_or(0.0, |m| m.trunk_offset_deg)
    }

    /// Reads `path`, or the built-in `calibration/thresholds.toml` without one.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_or_default(path: Option<&std::path::Path>) -> Result<Self, CalibrationError> {
        match path {
            Some(p) => Self::load(p),
            None => Self::parse(
                DEFAULT_SETTINGS_TOML,
                std::path::Path::new("calibration/thresholds.toml"),
            ),
        }
    }

    /// Reads a thresholds file.
    ///
    /// # Errors
    /// [`CalibrationError`] naming the file.
    pub fn load(path: &std::path::Path) -> Result<Self, CalibrationError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CalibrationError::ThresholdsRead {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text, path)
    }
}

/// Keypoints that must be seen for a person to count as present.
pub const MIN_KEYPOINTS_FOR_PERSON: usize = 4;

/// The analysis of one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Media time of the frame.
    pub t_secs: f64,
    /// Whether a person is seen (enough keypoints, a shoulder among them).
    pub person: bool,
    /// The metrics of the smoothed pose that its (smoothed) view measures: a side view carries
    /// no front metric and the reverse.
    pub metrics: PostureMetrics,
    /// The view after hysteresis.
    pub view: Option<View>,
    /// The stance after hysteresis.
    pub stance: Option<Stance>,
    /// The verdict.
    pub judgement: Judgement,
    /// An alert event raised on this frame.
    pub alert: Option<Event>,
    /// Whether scoring is paused because nobody has been seen for a while.
    pub away: bool,
    /// Something the user should know, raised once (e.g. the view differs from the calibrated
    /// one); the run loop passes it on as an [`Event::Warning`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// How long before the loss the poses are looked at for a lean out of view.
pub const LEAN_OUT_WINDOW_SECS: f64 = 1.0;
/// How long a lost person who was leaning out of view is judged "poor: leaning out of view"
/// before the usual nobody-seen (and away) handling takes over.
pub const LEAN_OUT_MAX_SECS: f64 = 10.0;
/// The nose moving down at least this many frame heights per second is leaning (or dropping)
/// out of view.
pub const LEAN_OUT_DESCENT_PER_SEC: f32 = 0.1;
/// The nose within this share of the frame height of its bottom edge is about to leave it.
pub const LEAN_OUT_BOTTOM_SHARE: f32 = 0.15;
/// The front view's head drop falling by at least this much (shoulder widths) over the window is
/// the head going down.
pub const LEAN_OUT_HEAD_DROP_FALL: f32 = 0.05;
/// The reason given while a person leaning out of view is lost.
pub const LEANING_OUT_OF_VIEW: &str = "leaning out of view";

/// One seen frame, as the lean-out rule remembers it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    t_secs: f64,
    nose_y: Option<f32>,
    head_drop: Option<f32>,
}

/// Whether `pose` shows a person: at least [`MIN_KEYPOINTS_FOR_PERSON`] keypoints and a shoulder.
pub fn person_seen(pose: &Pose, threshold: f32) -> bool {
    let seen = pose
        .keypoints
        .iter()
        .filter(|k| k.score >= threshold)
        .count();
    seen >= MIN_KEYPOINTS_FOR_PERSON
        && (pose.visible(Joint::LeftShoulder, threshold).is_some()
            || pose.visible(Joint::RightShoulder, threshold).is_some())
}

/// The per-frame analysis state.
#[derive(Clone, Debug)]
pub struct Analyzer {
    threshold: f32,
    settings: Settings,
    baseline: Option<Baseline>,
    smoother: PoseSmoother,
    view: Dwell<View>,
    stance: Dwell<Stance>,
    alerter: Alerter,
    trunk_offset_deg: f32,
    recent: VecDeque<Seen>,
    lean_out_since: Option<f64>,
    view_warned: bool,
}

impl Analyzer {
    /// An analyzer with keypoint score `threshold`, `settings`, and the user's `baseline`.
    pub fn new(threshold: f32, settings: Settings, baseline: Option<Baseline>) -> Self {
        let alerter = Alerter::new(settings.alerts.clone());
        Self {
            threshold,
            settings,
            baseline,
            smoother: PoseSmoother::new(threshold),
            view: Dwell::new(0.7),
            stance: Dwell::new(1.0),
            alerter,
            trunk_offset_deg: 0.0,
            recent: VecDeque::new(),
            lean_out_since: None,
            view_warned: false,
        }
    }

    /// This analyzer measuring the keypoints of the pose model named `model` (its
    /// [`Settings::trunk_offset_deg`]); without it, angles are pure keypoint geometry.
    pub fn with_model(mut self, model: &str) -> Self {
        self.trunk_offset_deg = self.settings.trunk_offset_deg(model);
        self
    }

    /// The trunk offset in use, degrees.
    pub fn trunk_offset_deg(&self) -> f32 {
        self.trunk_offset_deg
    }

    /// The baseline in use.
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Analyses the pose of the frame at `t_secs` (frame size unknown).
    pub fn update(&mut self, t_secs: f64, pose: &Pose) -> Analysis {
        self.update_in_frame(t_secs, pose, None)
    }

    /// Analyses the pose of the frame at `t_secs`, in a frame `frame_height_px` high (which lets
    /// a person leaving by the bottom edge be told from one who walks away).
    pub fn update_in_frame(
        &mut self,
        t_secs: f64,
        pose: &Pose,
        frame_height_px: Option<f32>,
    ) -> Analysis {
        if !person_seen(pose, self.threshold) {
            let since = match self.lean_out_since {
                Some(since) => Some(since),
                None if self.leaning_out(t_secs, frame_height_px) => Some(t_secs),
                None => None,
            };
            self.recent.clear();
            self.lean_out_since = since;
            // Leaning out of view is judged poor for a while; otherwise nobody is there.
            let (judgement, reason) = if since.is_some_and(|s| t_secs - s <= LEAN_OUT_MAX_SECS) {
                (leaning_out_judgement(), LEANING_OUT_OF_VIEW)
            } else {
                (Judgement::NoPerson, "")
            };
            let alert = self.alerter.update(t_secs, judgement.score(), reason);
            return Analysis {
                t_secs,
                person: false,
                metrics: PostureMetrics::default(),
                view: self.view.current(),
                stance: self.stance.current(),
                judgement,
                alert,
                away: self.alerter.is_away(),
                warning: None,
            };
        }
        self.lean_out_since = None;
        let raw = measure_with(pose, self.threshold, self.trunk_offset_deg);
        self.remember(t_secs, pose, &raw);
        let smoothed = self.smoother.smooth(t_secs, pose);
        let metrics = measure_with(&smoothed, self.threshold, self.trunk_offset_deg);
        let view = self.view.update(t_secs, metrics.view);
        let stance = self
            .stance
            .update(t_secs, metrics.stance.filter(|s| *s != Stance::Unknown));
        let metrics = metrics.only_view(view);
        let judgement = judge(&metrics, view, self.baseline.as_ref(), &self.settings.judge);
        let alert = match &judgement {
            Judgement::Judged { score, reason, .. } => {
                self.alerter.update(t_secs, Some(*score), reason)
            }
            Judgement::NoPerson | Judgement::NotJudged { .. } => None,
        };
        let warning = self.view_warning(view);
        Analysis {
            t_secs,
            person: true,
            metrics,
            view,
            stance,
            judgement,
            alert,
            away: self.alerter.is_away(),
            warning,
        }
    }

    /// Once per run: the view seen differs from the calibrated one (side against front or
    /// oblique), so the baseline does not apply.
    fn view_warning(&mut self, view: Option<View>) -> Option<String> {
        let (Some(b), Some(v)) = (self.baseline.as_ref(), view) else {
            return None;
        };
        let side = |v: View| v == View::Side;
        if self.view_warned || side(b.view) == side(v) {
            return None;
        }
        self.view_warned = true;
        let name = |v: View| if side(v) { "side" } else { "front" };
        Some(format!(
            "the camera sees a {} view but the calibration was taken from the {}: it does not apply; run `posture calibrate` for this camera position",
            name(v),
            name(b.view)
        ))
    }

    fn remember(&mut self, t_secs: f64, pose: &Pose, m: &PostureMetrics) {
        self.recent.push_back(Seen {
            t_secs,
            nose_y: pose.visible(Joint::Nose, self.threshold).map(|k| k.y_px),
            head_drop: m.get(Metric::HeadDropRatio).map(|x| x.value),
        });
        while self
            .recent
            .front()
            .is_some_and(|s| t_secs - s.t_secs > LEAN_OUT_WINDOW_SECS)
        {
            self.recent.pop_front();
        }
    }

    /// Whether the person's last poses (about a second) were going down and out of view: the
    /// nose descending fast, or near the bottom edge and not rising, or the head dropping
    /// toward the shoulders while the nose does not rise.
    fn leaning_out(&self, t_secs: f64, frame_height_px: Option<f32>) -> bool {
        let (Some(first), Some(last)) = (self.recent.front(), self.recent.back()) else {
            return false;
        };
        // A person lost long after the last seen pose is not followed.
        if t_secs - last.t_secs > LEAN_OUT_WINDOW_SECS {
            return false;
        }
        let dt = (last.t_secs - first.t_secs) as f32;
        let nose = self
            .recent
            .iter()
            .filter_map(|s| s.nose_y.map(|y| (s.t_secs, y)));
        let (n0, n1) = (nose.clone().next(), nose.clone().next_back());
        let descent = match (n0, n1) {
            (Some((t0, y0)), Some((t1, y1))) if t1 > t0 => Some((y1 - y0) / (t1 - t0) as f32),
            _ => None,
        };
        let not_rising = descent.is_none_or(|d| d >= 0.0);
        // A frame much smaller than the pose (a replay of a recording without the frame's
        // height, a test's stand-in) is not the pose's frame: its height is ignored.
        let lowest = self
            .recent
            .iter()
            .filter_map(|s| s.nose_y)
            .fold(f32::NEG_INFINITY, f32::max);
        if let Some(h) = frame_height_px.filter(|h| *h > 0.0 && lowest <= 1.5 * h) {
            if descent.is_some_and(|d| d >= LEAN_OUT_DESCENT_PER_SEC * h) {
                return true;
            }
            if not_rising && n1.is_some_and(|(_, y)| y >= (1.0 - LEAN_OUT_BOTTOM_SHARE) * h) {
                return true;
            }
        }
        let dropping = match (first.head_drop, last.head_drop) {
            (Some(a), Some(b)) => dt > 0.0 && a - b >= LEAN_OUT_HEAD_DROP_FALL,
            _ => false,
        };
        dropping && not_rising
    }
}

fn leaning_out_judgement() -> Judgement {
    let score = 20.0;
    Judgement::Judged {
        score,
        band: Band::of(score),
        reason: LEANING_OUT_OF_VIEW.to_owned(),
        components: vec![Component {
            part: "trunk".into(),
            deviation: 0.0,
            penalty: 0.8,
            reason: LEANING_OUT_OF_VIEW.to_owned(),
        }],
    }
}
