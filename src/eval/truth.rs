//! Ground truth of the rendered development data (`media/synthetic/README.md`): the JSON beside
//! each image and the `*.truth.json` (or reduced `*.phases.json`) beside each video.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::eval::EvalError;
use crate::science::metrics::View;

/// The development data's verdict on a posture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Neck flexion ≤ 10°, trunk flexion ≤ 10° and |shoulder tilt| ≤ 5°.
    Good,
    /// Neck flexion ≥ 30° or trunk flexion ≥ 20°.
    Poor,
}

impl Label {
    /// The label as written in tables and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Label::Good => "good",
            Label::Poor => "poor",
        }
    }
}

/// The data's rule: good = neck ≤ 10°, trunk ≤ 10° and |tilt| ≤ 5°; poor = neck ≥ 30° or
/// trunk ≥ 20°; anything in between is not scored (`None`).
pub fn truth_label(neck_deg: f64, trunk_deg: f64, tilt_deg: f64) -> Option<Label> {
    if neck_deg <= 10.0 && trunk_deg <= 10.0 && tilt_deg.abs() <= 5.0 {
        Some(Label::Good)
    } else if neck_deg >= 30.0 || trunk_deg >= 20.0 {
        Some(Label::Poor)
    } else {
        None
    }
}

/// The truth of one rendered image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageTruth {
    /// The camera: `front` (desk webcam) or `side`.
    pub view: View,
    /// The rendered person (`subject.seed`).
    pub subject: Option<u32>,
    /// Head rotation forward relative to the upper chest, degrees.
    pub neck_flexion_deg: f64,
    /// Forward angle from vertical of the hip-centre → shoulder-centre line, degrees.
    pub trunk_flexion_deg: f64,
    /// Angle of the right → left shoulder line, degrees (positive: left shoulder higher).
    pub shoulder_tilt_deg: f64,
    /// The numeric fields of `gt_angles.image` (angles in the image plane), by name.
    pub image: BTreeMap<String, f64>,
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn number(v: &Value, path: &[&str], file: &Path) -> Result<f64, EvalError> {
    field(v, path)
        .and_then(Value::as_f64)
        .ok_or_else(|| EvalError::Truth {
            path: file.to_owned(),
            reason: format!("no number at {}", path.join(".")),
        })
}

fn view_named(name: &str) -> Option<View> {
    match name {
        "front" => Some(View::Front),
        "side" => Some(View::Side),
        _ => None,
    }
}

impl ImageTruth {
    /// Parses an image's truth JSON; `file` names it in errors.
    ///
    /// # Errors
    /// [`EvalError::Truth`] when it is not JSON or lacks the view or the pose parameters.
    pub fn parse(text: &str, file: &Path) -> Result<Self, EvalError> {
        let bad = |reason: String| EvalError::Truth {
            path: file.to_owned(),
            reason,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let view = v
            .get("view")
            .and_then(Value::as_str)
            .and_then(view_named)
            .ok_or_else(|| bad("no `view` of \"front\" or \"side\"".into()))?;
        let image = field(&v, &["gt_angles", "image"])
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, x)| x.as_f64().map(|x| (k.clone(), x)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            view,
            subject: field(&v, &["subject", "seed"])
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok()),
            neck_flexion_deg: number(&v, &["pose_params", "neck_flexion_deg"], file)?,
            trunk_flexion_deg: number(&v, &["pose_params", "trunk_flexion_deg"], file)?,
            shoulder_tilt_deg: number(&v, &["pose_params", "shoulder_tilt_deg"], file)?,
            image,
        })
    }

    /// The data's verdict on this posture.
    pub fn label(&self) -> Option<Label> {
        truth_label(
            self.neck_flexion_deg,
            self.trunk_flexion_deg,
            self.shoulder_tilt_deg,
        )
    }

    /// A field of `gt_angles.image`.
    pub fn image_angle(&self, name: &str) -> Option<f64> {
        self.image.get(name).copied()
    }
}

/// One frame of a sequence's truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TruthFrame {
    /// Media time, seconds.
    pub t_secs: f64,
    /// `slouched`, `transition`, `tall`, `dip` or `relaxed`.
    pub phase: String,
}

/// The truth of one "sit tall" video.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SequenceTruth {
    /// Frames per second of the video.
    pub fps: f64,
    /// Reps that hold long enough.
    pub expected_valid_reps: u32,
    /// The camera, when the file says.
    pub view: Option<View>,
    /// Every frame's time and phase.
    pub frames: Vec<TruthFrame>,
}

impl SequenceTruth {
    /// Parses a `*.truth.json` or `*.phases.json`; `file` names it in errors.
    ///
    /// # Errors
    /// [`EvalError::Truth`] when it is not JSON or lacks fps, the expected reps or the frames.
    pub fn parse(text: &str, file: &Path) -> Result<Self, EvalError> {
        let bad = |reason: String| EvalError::Truth {
            path: file.to_owned(),
            reason,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let fps = number(&v, &["fps"], file)?;
        if !(fps > 0.0 && fps.is_finite()) {
            return Err(bad(format!("fps is {fps}")));
        }
        let reps = field(&v, &["expected_valid_reps"])
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad("no whole number at expected_valid_reps".into()))?;
        let frames = field(&v, &["frames"])
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `frames` list".into()))?
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let t = f.get("t").and_then(Value::as_f64);
                let phase = f.get("phase").and_then(Value::as_str);
                match (t, phase) {
                    (Some(t), Some(p)) => Ok(TruthFrame {
                        t_secs: t,
                        phase: p.to_owned(),
                    }),
                    _ => Err(bad(format!("frames[{i}] has no `t` and `phase`"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            fps,
            expected_valid_reps: reps,
            view: v.get("view").and_then(Value::as_str).and_then(view_named),
            frames,
        })
    }

    /// The still holds: maximal runs of at least `min_frames` consecutive `tall` frames, as
    /// (first, last) indices into [`SequenceTruth::frames`].
    pub fn still_holds(&self, min_frames: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, f) in self.frames.iter().enumerate() {
            match (f.phase == "tall", start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    if i - s >= min_frames {
                        out.push((s, i - 1));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start
            && self.frames.len() - s >= min_frames
        {
            out.push((s, self.frames.len() - 1));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_rule_matches_the_data_readme() {
        assert_eq!(truth_label(10.0, 10.0, -5.0), Some(Label::Good));
        assert_eq!(truth_label(10.0, 10.0, 6.0), None);
        assert_eq!(truth_label(30.0, 0.0, 0.0), Some(Label::Poor));
        assert_eq!(truth_label(0.0, 20.0, 8.0), Some(Label::Poor));
        assert_eq!(truth_label(20.0, 15.0, 0.0), None);
    }

    #[test]
    fn holds_are_maximal_runs_of_tall_frames() {
        let phases = [
            "slouched", "tall", "tall", "tall", "dip", "tall", "tall", "tall",
        ];
        let t = SequenceTruth {
            fps: 5.0,
            expected_valid_reps: 1,
            view: None,
            frames: phases
                .iter()
                .enumerate()
                .map(|(i, p)| TruthFrame {
                    t_secs: i as f64 / 5.0,
                    phase: (*p).into(),
                })
                .collect(),
        };
        assert_eq!(t.still_holds(3), vec![(1, 3), (5, 7)]);
        assert_eq!(t.still_holds(4), vec![]);
    }
}
