//! Calibration: the user's own upright posture, recorded once per camera, and the thresholds
//! file. A baseline is the mean (and spread) of every metric over a few seconds of sitting or
//! standing tall; the judge compares later frames with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::{Measure, PostureMetrics, View};

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

/// Mean and standard deviation of one metric over the calibration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f32,
    /// Standard deviation.
    pub std: f32,
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
    /// Frames used.
    pub frames: u32,
    /// Per metric (named as in [`PostureMetrics`]).
    pub metrics: BTreeMap<String, Stat>,
}

impl Baseline {
    /// The baseline mean of metric `name`.
    pub fn mean(&self, name: &str) -> Option<f32> {
        self.metrics.get(name).map(|s| s.mean)
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

    /// Whether every figure is one a calibration can produce: finite means within the range of
    /// their metric (angles within ±180°, ratios within ±100), spreads from 0 to those limits.
    fn check(&self) -> Result<(), String> {
        for (name, stat) in &self.metrics {
            let limit = if name.ends_with("_ratio") {
                100.0
            } else {
                180.0
            };
            if !stat.mean.is_finite() || stat.mean.abs() > limit {
                return Err(format!(
                    "metrics.{name}.mean is {}, outside -{limit}..{limit}",
                    stat.mean
                ));
            }
            if !stat.std.is_finite() || !(0.0..=limit).contains(&stat.std) {
                return Err(format!(
                    "metrics.{name}.std is {}, outside 0..{limit}",
                    stat.std
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

/// The named metrics of a frame, as stored in a baseline.
pub fn named(m: &PostureMetrics) -> [(&'static str, Option<Measure>); 10] {
    [
        ("cva_proxy_deg", m.cva_proxy_deg),
        ("neck_flexion_deg", m.neck_flexion_deg),
        ("head_pitch_deg", m.head_pitch_deg),
        ("trunk_flexion_deg", m.trunk_flexion_deg),
        ("head_forward_ratio", m.head_forward_ratio),
        ("shoulder_tilt_deg", m.shoulder_tilt_deg),
        ("head_tilt_deg", m.head_tilt_deg),
        ("lateral_lean_deg", m.lateral_lean_deg),
        ("head_drop_ratio", m.head_drop_ratio),
        ("head_size_ratio", m.head_size_ratio),
    ]
}

/// Largest spread accepted for an angle during calibration, degrees: more means the user moved
/// or the keypoints are unreliable.
pub const MAX_ANGLE_STD_DEG: f32 = 4.0;
/// Largest spread accepted for a ratio.
pub const MAX_RATIO_STD: f32 = 0.05;
/// Share of frames that must see a person.
pub const MIN_PERSON_SHARE: f32 = 0.6;

/// Collects frames of upright posture into a baseline.
#[derive(Debug, Default)]
pub struct Calibrator {
    frames: u32,
    with_person: u32,
    views: BTreeMap<&'static str, u32>,
    sums: BTreeMap<&'static str, (f64, f64, u32)>,
}

impl Calibrator {
    /// An empty calibrator.
    pub fn new() -> Self {
        Self::default()
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
        *self
            .views
            .entry(match view {
                View::Front => "front",
                View::Side => "side",
                View::Oblique => "oblique",
            })
            .or_default() += 1;
        for (name, v) in named(m) {
            if let Some(v) = v {
                let e = self.sums.entry(name).or_default();
                e.0 += f64::from(v.value);
                e.1 += f64::from(v.value).powi(2);
                e.2 += 1;
            }
        }
    }

    /// The baseline, or why it is refused: too few frames with a person, or metrics that
    /// moved too much.
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
                "nobody was seen in {:.0}% of the frames; sit (or stand) in view of the camera with your head and shoulders visible",
                (1.0 - share) * 100.0
            )));
        }
        let (view, _) = self
            .views
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(v, n)| (*v, *n))
            .unwrap_or(("front", 0));
        let view = match view {
            "side" => View::Side,
            "oblique" => View::Oblique,
            _ => View::Front,
        };
        let mut metrics = BTreeMap::new();
        for (name, &(sum, sq, n)) in &self.sums {
            // Only metrics seen in most frames make a baseline.
            if (n as f32) < 0.5 * self.with_person as f32 {
                continue;
            }
            let mean = sum / f64::from(n);
            let std = (sq / f64::from(n) - mean * mean).max(0.0).sqrt();
            let limit = if name.ends_with("_ratio") {
                MAX_RATIO_STD
            } else {
                MAX_ANGLE_STD_DEG
            };
            if std as f32 > limit {
                return Err(CalibrationError::Refused(format!(
                    "{name} varied by ±{std:.1} during calibration (at most ±{limit} is accepted); hold still in your upright posture and try again"
                )));
            }
            metrics.insert(
                (*name).to_owned(),
                Stat {
                    mean: mean as f32,
                    std: std as f32,
                    frames: n,
                },
            );
        }
        if metrics.is_empty() {
            return Err(CalibrationError::Refused("no posture metric could be measured; make sure your head and shoulders are in view".into()));
        }
        Ok(Baseline {
            schema_version: SCHEMA_VERSION,
            camera: camera.to_owned(),
            created_unix_secs: now_unix_secs,
            view,
            frames: self.with_person,
            metrics,
        })
    }
}
