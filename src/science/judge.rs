//! Judgement: a score from 0 to 100, a band, and the reason in words.
//!
//! Side views use absolute clinical bands where a keypoint angle supports them (trunk flexion,
//! RULA; neck flexion relative to the trunk with the keypoint offset removed) and, with a
//! calibration, the deviation from the user's upright baseline. Front views can only be judged
//! relative to the baseline (head drop, head coming forward), plus the directly visible tilts.
//! Each judged quantity maps to a penalty: 0 at no deviation, 0.3 at its `good_max`, 0.7 at its
//! `poor_min`, 1 at 1.5x `poor_min`; the score is 100 x (1 - the worst penalty) and the worst
//! one is the reason. Bands: good >= 70, fair >= 30, poor below.

use serde::{Deserialize, Serialize};

use crate::science::calibration::Baseline;
use crate::science::metrics::{Metric, PostureMetrics, View};

/// A good/poor threshold pair in the metric's unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band2 {
    /// Up to here is good.
    pub good_max: f32,
    /// From here on is poor; between is fair.
    pub poor_min: f32,
}

/// All thresholds of the judge (the defaults and their sources are in `calibration/thresholds.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Side view, absolute: forward trunk flexion from vertical, degrees (RULA trunk bands).
    pub trunk_flexion_deg: Band2,
    /// Side view, absolute: neck flexion relative to the trunk, degrees, after removing
    /// `neck_keypoint_offset_deg` (RULA neck bands).
    pub neck_flexion_rel_trunk_deg: Band2,
    /// The ear–shoulder keypoint line's forward angle from vertical when the neck is upright.
    pub neck_keypoint_offset_deg: f32,
    /// Side view, relative to the baseline: extra forward angle of the ear–shoulder line.
    pub neck_forward_of_baseline_deg: Band2,
    /// Side view, relative to the baseline: extra trunk flexion.
    pub trunk_forward_of_baseline_deg: Band2,
    /// Side view, relative to the baseline: extra downward head pitch.
    pub head_pitch_down_of_baseline_deg: Band2,
    /// Side view, absolute (without a baseline): the head's own downward pitch, degrees.
    #[serde(default = "default_head_pitch")]
    pub head_pitch_deg: Band2,
    /// Front view, absolute: shoulder tilt magnitude, degrees.
    pub shoulder_tilt_deg: Band2,
    /// Front view, absolute: head tilt magnitude, degrees.
    pub head_tilt_deg: Band2,
    /// Front view, absolute: lateral trunk lean magnitude, degrees.
    pub lateral_lean_deg: Band2,
    /// Front view, relative to the baseline: drop of the nose toward the shoulder line, in
    /// shoulder widths.
    pub head_drop_of_baseline: Band2,
    /// Front view, relative to the baseline: growth of the eye spacing over shoulder width
    /// (head toward the camera), as a fraction of the baseline.
    pub head_forward_of_baseline: Band2,
    /// Front view without a baseline: poor when the nose is less than this many shoulder
    /// widths above the shoulder line; otherwise the view is not judged ("calibrate to judge
    /// this view"), never called good.
    #[serde(default = "default_front_uncalibrated_poor")]
    pub front_uncalibrated_poor_head_drop_below: f32,
}

fn default_head_pitch() -> Band2 {
    Band2 {
        good_max: 22.0,
        poor_min: 22.0,
    }
}

fn default_front_uncalibrated_poor() -> f32 {
    0.1
}

/// The reason given for a front (or oblique) view without a baseline that is not judged.
pub const CALIBRATE_TO_JUDGE: &str = "calibrate to judge this view";

impl Default for Thresholds {
    fn default() -> Self {
        let b = |good_max, poor_min| Band2 { good_max, poor_min };
        Self {
            trunk_flexion_deg: b(11.0, 20.0),
            neck_flexion_rel_trunk_deg: b(17.0, 17.0),
            neck_keypoint_offset_deg: 10.0,
            neck_forward_of_baseline_deg: b(15.0, 15.0),
            trunk_forward_of_baseline_deg: b(11.0, 11.0),
            head_pitch_down_of_baseline_deg: b(29.0, 29.0),
            head_pitch_deg: default_head_pitch(),
            shoulder_tilt_deg: b(5.0, 12.0),
            head_tilt_deg: b(6.0, 25.0),
            lateral_lean_deg: b(6.0, 15.0),
            head_drop_of_baseline: b(0.16, 0.16),
            head_forward_of_baseline: b(0.07, 0.25),
            front_uncalibrated_poor_head_drop_below: default_front_uncalibrated_poor(),
        }
    }
}

/// The verdict's band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Score ≥ 70.
    Good,
    /// 30 ≤ score < 70.
    Fair,
    /// Score < 30.
    Poor,
}

impl Band {
    /// The band's colour (RGB) on screen and in reports: green, amber, red, readable both over
    /// video and on a white page.
    pub const fn rgb(self) -> [u8; 3] {
        match self {
            Band::Good => [46, 160, 67],
            Band::Fair => [219, 150, 20],
            Band::Poor => [207, 34, 46],
        }
    }

    /// The band of `score`.
    pub fn of(score: f32) -> Band {
        if score >= 70.0 {
            Band::Good
        } else if score >= 30.0 {
            Band::Fair
        } else {
            Band::Poor
        }
    }
}

/// One judged quantity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// Which part of the body: `trunk`, `neck`, `head`, `shoulders`.
    pub part: String,
    /// The deviation judged, in its unit (degrees or ratio).
    pub deviation: f32,
    /// 0 (fine) to 1 (as bad as it gets).
    pub penalty: f32,
    /// In words, e.g. "trunk leaning 25° forward".
    pub reason: String,
}

/// The verdict on one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Judgement {
    /// Nobody (or too little of a person) is seen: nothing is judged.
    NoPerson,
    /// A person is seen but this view cannot be judged trustworthily as it is (a front view
    /// without a baseline): no score and no band, only the reason, e.g. "calibrate to judge this
    /// view".
    NotJudged {
        /// Why, in words.
        reason: String,
    },
    /// A person was judged.
    Judged {
        /// 0 (poor) to 100 (good).
        score: f32,
        /// The band of the score.
        band: Band,
        /// The worst component in words, or "posture looks good".
        reason: String,
        /// Every judged quantity.
        components: Vec<Component>,
    },
}

impl Judgement {
    /// The score, when judged.
    pub fn score(&self) -> Option<f32> {
        match self {
            Judgement::Judged { score, .. } => Some(*score),
            Judgement::NoPerson | Judgement::NotJudged { .. } => None,
        }
    }

    /// The band, when judged.
    pub fn band(&self) -> Option<Band> {
        match self {
            Judgement::Judged { band, .. } => Some(*band),
            Judgement::NoPerson | Judgement::NotJudged { .. } => None,
        }
    }

    /// The reason in words, when judged or when not judged for a reason.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Judgement::Judged { reason, .. } | Judgement::NotJudged { reason } => Some(reason),
            Judgement::NoPerson => None,
        }
    }
}

/// Maps a deviation to its penalty (see the module docs).
pub fn penalty(deviation: f32, band: Band2) -> f32 {
    let d = deviation.max(0.0);
    let (g, p) = (
        band.good_max.max(1e-6),
        band.poor_min.max(band.good_max + 1e-6),
    );
    let v = if d <= g {
        0.3 * d / g
    } else if d <= p {
        0.3 + 0.4 * (d - g) / (p - g)
    } else {
        0.7 + 0.3 * (d - p) / (0.5 * p)
    };
    v.clamp(0.0, 1.0)
}

fn component(part: &str, deviation: f32, band: Band2, reason: String) -> Component {
    Component {
        part: part.into(),
        deviation,
        penalty: penalty(deviation, band),
        reason,
    }
}

/// Judges one frame's metrics in `view` (the smoothed view), against `baseline` when there is
/// one.
pub fn judge(
    m: &PostureMetrics,
    view: Option<View>,
    baseline: Option<&Baseline>,
    t: &Thresholds,
) -> Judgement {
    let mut parts = Vec::new();
    let base = |metric: Metric| baseline.and_then(|b| b.value(metric));
    match view {
        Some(View::Side) => {
            if let Some(trunk) = m.trunk_flexion_deg {
                parts.push(component(
                    "trunk",
                    trunk.value,
                    t.trunk_flexion_deg,
                    format!("trunk leaning {:.0}° forward", trunk.value),
                ));
                if let Some(b) = base(Metric::TrunkFlexionDeg) {
                    let d = trunk.value - b;
                    parts.push(component(
                        "trunk",
                        d,
                        t.trunk_forward_of_baseline_deg,
                        format!("trunk {d:.0}° forward of your baseline"),
                    ));
                }
            }
            if let Some(neck) = m.neck_flexion_deg {
                // With a baseline the neck is judged against it only: the keypoint angle's offset
                // from the anatomical one differs between people and cameras (docs/science.md); the
                // absolute band on the neck relative to the trunk, with a typical offset removed,
                // is the fallback.
                if let Some(b) = base(Metric::NeckFlexionDeg) {
                    let d = neck.value - b;
                    parts.push(component(
                        "neck",
                        d,
                        t.neck_forward_of_baseline_deg,
                        format!("head {d:.0}° forward of your baseline"),
                    ));
                } else {
                    let trunk = m.trunk_flexion_deg.map_or(0.0, |x| x.value);
                    let rel = neck.value - trunk - t.neck_keypoint_offset_deg;
                    parts.push(component(
                        "neck",
                        rel,
                        t.neck_flexion_rel_trunk_deg,
                        format!("neck bent {rel:.0}° forward of your trunk"),
                    ));
                }
            }
            if let Some(p) = m.head_pitch_deg {
                if let Some(b) = base(Metric::HeadPitchDeg) {
                    let d = p.value - b;
                    parts.push(component(
                        "head",
                        d,
                        t.head_pitch_down_of_baseline_deg,
                        format!("head tipped {d:.0}° down from your baseline"),
                    ));
                } else {
                    parts.push(component(
                        "head",
                        p.value,
                        t.head_pitch_deg,
                        format!("head tipped {:.0}° down", p.value),
                    ));
                }
            }
        }
        Some(View::Front | View::Oblique) if base(Metric::HeadDropRatio).is_none() => {
            // Without a baseline a forward slouch does not show (it tilts nothing), and the
            // nose's absolute height depends on the camera's: never "good"; "poor" only when the
            // nose is at the shoulder line.
            return match m.head_drop_ratio {
                Some(d) if d.value < t.front_uncalibrated_poor_head_drop_below => {
                    let reason = format!(
                        "head down at your shoulders ({:.0}% of a shoulder width above them)",
                        d.value * 100.0
                    );
                    // 0.7 at the threshold (score 30), 1 with the nose at the shoulder line.
                    let below = t.front_uncalibrated_poor_head_drop_below.max(1e-6);
                    let penalty = (0.7 + 0.3 * (below - d.value) / below).clamp(0.7, 1.0);
                    let c = Component {
                        part: "head".into(),
                        deviation: d.value,
                        penalty,
                        reason: reason.clone(),
                    };
                    Judgement::Judged {
                        score: (100.0 * (1.0 - penalty)).min(29.9),
                        band: Band::Poor,
                        reason,
                        components: vec![c],
                    }
                }
                _ => Judgement::NotJudged {
                    reason: CALIBRATE_TO_JUDGE.into(),
                },
            };
        }
        Some(View::Front | View::Oblique) => {
            // Tilts from the baseline's, so a camera that is not level (or a body that is not
            // symmetric) does not count against the user.
            let tilt = |metric: Metric, v: f32| v - base(metric).unwrap_or(0.0);
            if let Some(s) = m.shoulder_tilt_deg {
                let d = tilt(Metric::ShoulderTiltDeg, s.value);
                let side = if d > 0.0 { "left" } else { "right" };
                parts.push(component(
                    "shoulders",
                    d.abs(),
                    t.shoulder_tilt_deg,
                    format!("shoulders tilted {:.0}° ({side} higher)", d.abs()),
                ));
            }
            if let Some(h) = m.head_tilt_deg {
                let d = tilt(Metric::HeadTiltDeg, h.value);
                parts.push(component(
                    "head",
                    d.abs(),
                    t.head_tilt_deg,
                    format!("head tilted {:.0}° to the side", d.abs()),
                ));
            }
            if let Some(l) = m.lateral_lean_deg {
                let d = tilt(Metric::LateralLeanDeg, l.value);
                parts.push(component(
                    "trunk",
                    d.abs(),
                    t.lateral_lean_deg,
                    format!("trunk leaning {:.0}° to the side", d.abs()),
                ));
            }
            if let (Some(d), Some(b)) = (m.head_drop_ratio, base(Metric::HeadDropRatio)) {
                let drop = b - d.value;
                parts.push(component(
                    "head",
                    drop,
                    t.head_drop_of_baseline,
                    format!(
                        "head {:.0}% of a shoulder width lower than your baseline",
                        drop * 100.0
                    ),
                ));
            }
            if let (Some(s), Some(b)) = (m.head_size_ratio, base(Metric::HeadSizeRatio))
                && b > 0.0
            {
                let growth = s.value / b - 1.0;
                parts.push(component(
                    "head",
                    growth,
                    t.head_forward_of_baseline,
                    format!(
                        "head {:.0}% closer to the camera than your baseline",
                        growth * 100.0
                    ),
                ));
            }
        }
        None => {}
    }
    if parts.is_empty() {
        return Judgement::NoPerson;
    }
    let worst = parts
        .iter()
        .max_by(|a, b| a.penalty.total_cmp(&b.penalty))
        .map(|c| (c.penalty, c.reason.clone()));
    let (p, reason) = worst.unwrap_or((0.0, String::new()));
    let score = 100.0 * (1.0 - p);
    let band = Band::of(score);
    let reason = if band == Band::Good {
        "posture looks good".to_owned()
    } else {
        reason
    };
    Judgement::Judged {
        score,
        band,
        reason,
        components: parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_is_continuous_and_hits_its_anchors() {
        let b = Band2 {
            good_max: 10.0,
            poor_min: 20.0,
        };
        assert_eq!(penalty(0.0, b), 0.0);
        assert!((penalty(10.0, b) - 0.3).abs() < 1e-6);
        assert!((penalty(20.0, b) - 0.7).abs() < 1e-6);
        assert_eq!(penalty(30.0, b), 1.0);
        assert_eq!(penalty(-5.0, b), 0.0);
        let mut last = 0.0;
        for i in 0..400 {
            let p = penalty(i as f32 * 0.1, b);
            assert!(
                p >= last && p - last < 0.02,
                "monotonic and continuous at {i}"
            );
            last = p;
        }
    }

    #[test]
    fn bands_split_the_score() {
        assert_eq!(Band::of(100.0), Band::Good);
        assert_eq!(Band::of(70.0), Band::Good);
        assert_eq!(Band::of(69.9), Band::Fair);
        assert_eq!(Band::of(29.9), Band::Poor);
    }
}
