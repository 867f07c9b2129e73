//! Calibration: the user's own upright posture, recorded once per camera, and the thresholds
//! file. A baseline is the median (and median absolute deviation) of every metric of the
//! calibrated view over a few seconds of sitting or standing tall; the judge compares later
//! frames with it. A recording is refused for absence (a person in under 60% of the frames) or
//! movement (more than 10% of the frames farther than [`Metric::calibration_tolerance`] from the
//! median), and the refusal says which.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::science::metrics::{Metric, PostureMetrics, View};

/// The schema version written into calibration files.
pub const SCHEMA_VERSION: u32 = 1;

/// Problems with calibration files or recordings.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The file cannot be read.
    #[error("cannot read calibration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a calibration file.
    #[error(
        "calibration file {path} is not valid ({reason}); run `posture calibrate` again or pass another --calibration file"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// A schema this program does not know.
    #[error(
        "calibration file {path} has schema version {found}, this posture reads version {SCHEMA_VERSION}; run `posture calibrate` again"
    )]
    UnknownVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
    },
    /// The file cannot be written.
    #[error("cannot write calibration file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The recorded posture is not usable as a baseline.
    #[error("calibration refused: {0}")]
    Refused(String),
    /// A thresholds file cannot be read.
    #[error("cannot read thresholds file {path}: {source}; pass another --thresholds file")]
    ThresholdsRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A thresholds file is not valid.
    #[error("thresholds file {path} is not valid: {reason}")]
    Thresholds {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// The baseline value and spread of one metric over the calibration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The median: the baseline value (read from `mean` in files written before medians).
    #[serde(alias = "mean")]
    pub median: f32,
    /// The median absolute deviation from the median (unscaled): the keypoints' noise while
    /// holding still (read from `std` in older files).
    #[serde(alias = "std")]
    pub mad: f32,
    /// Frames that measured it.
    pub frames: u32,
}

/// The user's upright posture for one camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The camera (or source) it was taken with, e.g. `camera-0`.
    pub camera: String,
    /// When, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// The view seen during calibration.
    pub view: View,
    /// The pose model it was measured with (`lightning`, `thunder`, or a file), when known;
    /// absent in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Frames used.
    pub frames: u32,
    /// Per metric of the calibrated view, keyed by its JSON name.
    pub metrics: BTreeMap<Metric, Stat>,
}

impl Baseline {
    /// The baseline value (median) of `metric`.
    pub fn value(&self, metric: Metric) -> Option<f32> {
        self.metrics.get(&metric).map(|s| s.median)
    }

    /// The baseline value of `metric` (the same as [`Baseline::value`]; kept for callers written
    /// when it was a mean).
    pub fn mean(&self, metric: Metric) -> Option<f32> {
        self.value(metric)
    }

    /// Reads and checks a calibration file.
    ///
    /// # Errors
    /// [`CalibrationError`] naming the file: unreadable, malformed, or of an unknown version.
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalibrationError::Read {
            path: path.to_owned(),
            source,
        })?;
        let malformed = |reason: String| CalibrationError::Malformed {
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        let version = match value.get("schema_version") {
            None => return Err(malformed("no schema_version".into())),
            Some(v) => match v.as_u64() {
                Some(n) => n,
                None => {
                    return Err(malformed(format!(
                        "schema_version is {v}, expected the number {SCHEMA_VERSION}"
                    )));
                }
            },
        };
        if version != u64::from(SCHEMA_VERSION) {
            return Err(CalibrationError::UnknownVersion {
                path: path.to_owned(),
                found: version,
            });
        }
        let baseline: Baseline =
            serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        baseline.check().map_err(malformed)?;
        Ok(baseline)
    }

    /// Whether every figure is one a calibration can produce: finite medians within the range of
    /// their metric (angles within ±180°, ratios within ±100), spreads from 0 to those limits.
    fn check(&self) -> Result<(), String> {
        for (name, stat) in &self.metrics {
            let limit = name.limit();
            if !stat.median.is_finite() || stat.median.abs() > limit {
                return Err(format!(
                    "metrics.{name}.median is {}, outside -{limit}..{limit}",
                    stat.median
                ));
            }
            if !stat.mad.is_finite() || !(0.0..=limit).contains(&stat.mad) {
                return Err(format!(
                    "metrics.{name}.mad is {}, outside 0..{limit}",
                    stat.mad
                ));
            }
        }
        Ok(())
    }

    /// Writes the baseline as JSON, creating the folder.
    ///
    /// # Errors
    /// [`CalibrationError::Write`] naming the file.
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let write = |source| CalibrationError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let text =
            serde_json::to_string_pretty(self).map_err(|e| write(std::io::Error::other(e)))?;
        // Write beside, then rename: a crash never leaves half a calibration.
        crate::output::write_atomically(path, (text + "\n").as_bytes()).map_err(|e| write(e.source))
    }
}

/// Where the calibration of `camera` lives by default: `<config dir>/posture/calibration/<camera>.json`.
pub fn default_path(camera: &str) -> Option<PathBuf> {
    let safe: String = camera
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dirs::config_dir().map(|d| {
        d.join("posture")
            .join("calibration")
            .join(format!("{safe}.json"))
    })
}

/// Share of frames that must see a person.
pub const MIN_PERSON_SHARE: f32 = 0.6;

/// Largest share of frames that may lie farther than a metric's
/// [`Metric::calibration_tolerance`] from its median: more is movement.
pub const MAX_MOVING_SHARE: f32 = 0.1;

/// Share of the frames with a person in which a metric must be measured to enter the baseline.
pub const MIN_METRIC_SHARE: f32 = 0.5;

/// Collects frames of upright posture into a baseline.
#[derive(Debug, Default)]
pub struct Calibrator {
    frames: u32,
    with_person: u32,
    views: BTreeMap<View, u32>,
    values: BTreeMap<Metric, Vec<f32>>,
    model: Option<String>,
}

fn median(sorted: &[f32]) -> f32 {
    let n = sorted.len();
    match n {
        0 => f32::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

impl Calibrator {
    /// An empty calibrator.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty calibrator whose baseline records `model` (the pose model's name).
    pub fn with_model(model: &str) -> Self {
        Self {
            model: Some(model.to_owned()),
            ..Self::default()
        }
    }

    /// Frames added so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Adds one frame's metrics (`None` view: nobody seen).
    pub fn add(&mut self, m: &PostureMetrics) {
        self.frames += 1;
        let Some(view) = m.view else { return };
        self.with_person += 1;
        *self.views.entry(view).or_default() += 1;
        for (metric, v) in m.all() {
            if let Some(v) = v {
                self.values.entry(metric).or_default().push(v.value);
            }
        }
    }

    /// The baseline, or why it is refused: absence (a person in fewer than
    /// [`MIN_PERSON_SHARE`] of the frames) or movement of a named metric. Only the metrics of
    /// the view seen most are kept and checked.
    ///
    /// # Errors
    /// [`CalibrationError::Refused`] with the reason.
    pub fn finish(&self, camera: &str, now_unix_secs: u64) -> Result<Baseline, CalibrationError> {
        if self.frames == 0 {
            return Err(CalibrationError::Refused("no frames were captured".into()));
        }
        let share = self.with_person as f32 / self.frames as f32;
        if self.with_person == 0 || share < MIN_PERSON_SHARE {
            return Err(CalibrationError::Refused(format!(
                "absence: nobody was seen in {:.0}% of the frames; sit (or stand) in view of the camera with your head and shoulders visible",
                (1.0 - share) * 100.0
            )));
        }
        let view = self
            .views
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or(View::Front, |(v, _)| *v);
        let mut metrics = BTreeMap::new();
        for (metric, values) in &self.values {
            // Only the calibrated view's metrics, seen in most frames, make a baseline.
            if !metric.measured_in(view)
                || (values.len() as f32) < MIN_METRIC_SHARE * self.with_person as f32
            {
                continue;
            }
            let mut sorted = values.clone();
            sorted.sort_by(f32::total_cmp);
            let med = median(&sorted);
            let mut dev: Vec<f32> = sorted.iter().map(|v| (v - med).abs()).collect();
            dev.sort_by(f32::total_cmp);
            let tolerance = metric.calibration_tolerance();
            let far = dev.iter().filter(|d| **d > tolerance).count();
            let far_share = far as f32 / values.len() as f32;
            if far_share > MAX_MOVING_SHARE {
                return Err(CalibrationError::Refused(format!(
                    "movement: {metric} was more than {tolerance}{} from its median in {:.0}% of the frames (at most {:.0}% is accepted); hold still in your upright posture and try again",
                    metric.unit().suffix(),
                    far_share * 100.0,
                    MAX_MOVING_SHARE * 100.0
                )));
            }
            metrics.insert(
                *metric,
                Stat {
                    median: med,
                    mad: median(&dev),
                    frames: values.len() as u32,
                },
            );
        }
        if metrics.is_empty() {
            return Err(CalibrationError::Refused(format!(
                "no {} posture metric could be measured; make sure your head and shoulders are in view",
                match view {
                    View::Side => "side-view",
                    _ => "front-view",
                }
            )));
        }
        Ok(Baseline {
            schema_version: SCHEMA_VERSION,
            camera: camera.to_owned(),
            created_unix_secs: now_unix_secs,
            view,
            model: self.model.clone(),
            frames: self.with_person,
            metrics,
        })
    }
}
