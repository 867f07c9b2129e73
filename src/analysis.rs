//! Per-frame posture analysis, shared by live runs, exercises and replays: smoothing, metrics,
//! view and stance with hysteresis, the judgement and alerts. Pure: time comes in with the data.

use serde::{Deserialize, Serialize};

use crate::alerts::{AlertConfig, AlertEvent, Alerter};
use crate::calibration::{Baseline, CalibrationError};
use crate::judge::{Judgement, Thresholds, judge};
use crate::metrics::{PostureMetrics, Stance, View, measure};
use crate::pose::{Joint, Pose};
use crate::smooth::{Dwell, PoseSmoother};

/// The thresholds file shipped in `calibration/thresholds.toml` (embedded).
pub const DEFAULT_SETTINGS_TOML: &str = include_str!("../calibration/thresholds.toml");

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            schema_version: 1,
            judge: Thresholds::default(),
            alerts: AlertConfig::default(),
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
    /// The metrics of the smoothed pose.
    pub metrics: PostureMetrics,
    /// The view after hysteresis.
    pub view: Option<View>,
    /// The stance after hysteresis.
    pub stance: Option<Stance>,
    /// The verdict.
    pub judgement: Judgement,
    /// An alert event raised on this frame.
    pub alert: Option<AlertEvent>,
    /// Whether scoring is paused because nobody has been seen for a while.
    pub away: bool,
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
        }
    }

    /// The baseline in use.
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Analyses the pose of the frame at `t_secs`.
    pub fn update(&mut self, t_secs: f64, pose: &Pose) -> Analysis {
        if !person_seen(pose, self.threshold) {
            let alert = self.alerter.update(t_secs, None, "");
            return Analysis {
                t_secs,
                person: false,
                metrics: PostureMetrics::default(),
                view: self.view.current(),
                stance: self.stance.current(),
                judgement: Judgement::NoPerson,
                alert,
                away: self.alerter.is_away(),
            };
        }
        let smoothed = self.smoother.smooth(t_secs, pose);
        let metrics = measure(&smoothed, self.threshold);
        let view = self.view.update(t_secs, metrics.view);
        let stance = self
            .stance
            .update(t_secs, metrics.stance.filter(|s| *s != Stance::Unknown));
        let judgement = judge(&metrics, view, self.baseline.as_ref(), &self.settings.judge);
        let alert = match &judgement {
            Judgement::Judged { score, reason, .. } => {
                self.alerter.update(t_secs, Some(*score), reason)
            }
            Judgement::NoPerson => None,
        };
        Analysis {
            t_secs,
            person: true,
            metrics,
            view,
            stance,
            judgement,
            alert,
            away: self.alerter.is_away(),
        }
    }
}
