//! `posture eval`: the product run on rendered data with exact truth (`media/synthetic`), and
//! the figures that say how far to trust it. Pure apart from reading the files and running the
//! estimator it is given ([`run`]); it never prints: [`Report::table`] renders the table and the
//! report serializes as `posture.eval` version 1 (`docs/formats.md`).
//!
//! - Images (a PNG with its truth JSON beside it): each is judged on its own, with a fresh
//!   [`Analyzer`](crate::science::analysis::Analyzer) and one update, exactly as
//!   `posture monitor --images ONE.png --json` judges it; uncalibrated, and calibrated on the
//!   subject's neutral render from the same camera (one frame, as `posture calibrate --images`).
//!   Per-metric error against the truth angles, and verdict agreement with the data's rule
//!   ([`truth::truth_label`]).
//! - Videos (`X.mp4` with `X.truth.json` or `X.phases.json`): calibrated on 4 s of the first
//!   hold (media time 5–9 s), then the sit-tall exercise through the run loop; reps counted
//!   against the expected ones, and the 5th–95th percentile range of each side-view angle over
//!   every still hold.

pub mod run;
pub mod truth;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::science::analysis::Analysis;
use crate::science::judge::Band;
use crate::science::metrics::{Metric, PostureMetrics, Unit, View};

use self::truth::{ImageTruth, Label, SequenceTruth};

/// The `format` field of the JSON report.
pub const FORMAT: &str = "posture.eval";
/// The `version` field of the JSON report.
pub const VERSION: u32 = 1;

/// Where a video's calibration starts, media time (the first hold is tall from about 4 s).
pub const CALIBRATION_START_SECS: f64 = 5.0;
/// How long a video's calibration lasts (`ffmpeg -ss 5 -t 4`).
pub const CALIBRATION_SECS: f64 = 4.0;
/// A still hold is at least this many consecutive `tall` frames.
pub const MIN_HOLD_FRAMES: usize = 10;

/// Problems with the data to evaluate.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A truth file that cannot be used.
    #[error("truth file {path} is not valid: {reason}")]
    Truth {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file or folder that cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An image that cannot be read.
    #[error(transparent)]
    Image(#[from] crate::error::ImageReadError),
    /// The estimator failed on an image.
    #[error("pose estimation failed on {path}: {source}")]
    Pose {
        /// The image.
        path: PathBuf,
        /// Why.
        source: crate::error::PoseError,
    },
    /// A video run failed (source, estimator, or the model could not be loaded).
    #[error("{path}: {reason}")]
    Video {
        /// The video.
        path: PathBuf,
        /// Why, one line.
        reason: String,
    },
    /// Nothing with truth was found.
    #[error(
        "no images with truth (a PNG with its JSON beside it) or videos with truth (X.mp4 with X.truth.json) in {0}"
    )]
    Nothing(String),
}

/// A rendered image and its truth.
#[derive(Clone, Debug)]
pub struct ImageItem {
    /// The image file.
    pub path: PathBuf,
    /// The JSON beside it.
    pub truth: ImageTruth,
    /// Whether it is a neutral (sitting tall) render: a calibration baseline, not scored.
    pub neutral: bool,
}

/// A rendered video and its truth.
#[derive(Clone, Debug)]
pub struct VideoItem {
    /// The video file.
    pub path: PathBuf,
    /// The truth beside it.
    pub truth: SequenceTruth,
}

/// What was found to evaluate.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Posture images and neutral renders, in path order.
    pub images: Vec<ImageItem>,
    /// Videos, in path order.
    pub videos: Vec<VideoItem>,
    /// Images and videos skipped for want of a truth file beside them.
    pub skipped: Vec<PathBuf>,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn is_video(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "mp4" | "mkv" | "webm" | "avi" | "mov"
        )
    })
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Read {
        path: path.to_owned(),
        source,
    })
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    let meta = std::fs::metadata(path).map_err(|source| EvalError::Read {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| EvalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for c in children {
        walk(&c, out)?;
    }
    Ok(())
}

impl Dataset {
    /// Finds the images and videos with truth in `paths` (folders are searched recursively).
    ///
    /// # Errors
    /// [`EvalError`] for an unreadable folder or truth file, or when nothing was found.
    pub fn discover(paths: &[PathBuf]) -> Result<Self, EvalError> {
        let mut files = Vec::new();
        for p in paths {
            walk(p, &mut files)?;
        }
        let mut ds = Dataset::default();
        for f in files {
            if is_image(&f) {
                let json = f.with_extension("json");
                if !json.is_file() {
                    ds.skipped.push(f);
                    continue;
                }
                let truth = ImageTruth::parse(&read(&json)?, &json)?;
                let neutral = f
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains("neutral"));
                ds.images.push(ImageItem {
                    path: f,
                    truth,
                    neutral,
                });
            } else if is_video(&f) {
                let stem = f.with_extension("");
                let truth = ["truth.json", "phases.json"]
                    .iter()
                    .map(|ext| PathBuf::from(format!("{}.{ext}", stem.display())))
                    .find(|p| p.is_file());
                let Some(tp) = truth else {
                    ds.skipped.push(f);
                    continue;
                };
                let truth = SequenceTruth::parse(&read(&tp)?, &tp)?;
                ds.videos.push(VideoItem { path: f, truth });
            }
        }
        if ds.images.iter().all(|i| i.neutral) && ds.videos.is_empty() {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            return Err(EvalError::Nothing(names.join(", ")));
        }
        Ok(ds)
    }

    /// The neutral render of `item`'s subject and view: from the same folder when there is one
    /// there, else from any folder.
    pub fn neutral_of(&self, item: &ImageItem) -> Option<&ImageItem> {
        let same = |n: &&ImageItem| {
            n.neutral && n.truth.subject == item.truth.subject && n.truth.view == item.truth.view
        };
        let candidates: Vec<&ImageItem> = self.images.iter().filter(same).collect();
        candidates
            .iter()
            .find(|n| n.path.parent() == item.path.parent())
            .or_else(|| candidates.first())
            .copied()
    }
}

/// How one verdict compares with the truth label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The band is the label.
    Agree,
    /// A good or poor verdict that is wrong.
    ConfidentWrong,
    /// A person was seen but the verdict is neither good nor poor (fair, or not judged).
    Abstained,
    /// Nobody was seen.
    NoPerson,
}

/// One verdict on one image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether a person was seen.
    pub person: bool,
    /// The view the analysis used.
    pub view: Option<View>,
    /// 0 to 100, when judged.
    pub score: Option<f32>,
    /// The band, when judged.
    pub band: Option<Band>,
    /// The reason in words, when judged.
    pub reason: Option<String>,
    /// Against the truth label, when the image has one.
    pub outcome: Option<Outcome>,
}

/// The outcome of `band` (with `person` seen or not) against `label`.
pub fn outcome(label: Option<Label>, person: bool, band: Option<Band>) -> Option<Outcome> {
    let label = label?;
    Some(match band {
        _ if !person => Outcome::NoPerson,
        Some(Band::Good) if label == Label::Good => Outcome::Agree,
        Some(Band::Poor) if label == Label::Poor => Outcome::Agree,
        Some(Band::Good | Band::Poor) => Outcome::ConfidentWrong,
        Some(Band::Fair) | None => Outcome::Abstained,
    })
}

impl Verdict {
    /// The verdict of `analysis`, scored against `label`.
    pub fn of(analysis: &Analysis, label: Option<Label>) -> Self {
        let j = &analysis.judgement;
        Self {
            person: analysis.person,
            view: analysis.view,
            score: j.score(),
            band: j.band(),
            reason: j.reason().map(str::to_owned),
            outcome: outcome(label, analysis.person, j.band()),
        }
    }
}

/// Everything measured on one posture image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageRecord {
    /// The image path as found.
    pub image: String,
    /// The rendered person.
    pub subject: Option<u32>,
    /// Whether the subject is one of the held-out ones.
    pub held_out: bool,
    /// The camera (from the truth).
    pub view: View,
    /// The truth's verdict, when the posture is scored.
    pub label: Option<Label>,
    /// The truth.
    pub truth: ImageTruth,
    /// The metrics the product measured (one frame, so unsmoothed).
    pub metrics: PostureMetrics,
    /// Judged without a baseline.
    pub uncalibrated: Verdict,
    /// Judged against the neutral render's baseline, when it was accepted.
    pub calibrated: Option<Verdict>,
    /// The neutral render used as baseline.
    pub neutral: Option<String>,
    /// Why there is no calibrated verdict: no neutral render, or calibration refused it.
    pub calibration_refused: Option<String>,
    /// The baseline's value of each metric.
    pub baseline: BTreeMap<Metric, f32>,
}

/// Mean absolute error and bias of one metric against its truth, in the metric's unit: the
/// `_deg` fields for angles, the `_ratio` fields for ratios (the others are absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ErrorStats {
    /// Images measured.
    pub n: usize,
    /// Mean absolute error, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae_deg: Option<f64>,
    /// Mean signed error (measured − truth), degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias_deg: Option<f64>,
    /// Mean absolute error, as a ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae_ratio: Option<f64>,
    /// Mean signed error (measured − truth), as a ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias_ratio: Option<f64>,
}

impl ErrorStats {
    /// The statistics of `errors` (measured − truth) in `unit`.
    pub fn of(errors: &[f64], unit: Unit) -> Self {
        let n = errors.len();
        if n == 0 {
            return Self::default();
        }
        let mae = Some(errors.iter().map(|e| e.abs()).sum::<f64>() / n as f64);
        let bias = Some(errors.iter().sum::<f64>() / n as f64);
        match unit {
            Unit::Degrees => Self {
                n,
                mae_deg: mae,
                bias_deg: bias,
                ..Self::default()
            },
            Unit::Ratio => Self {
                n,
                mae_ratio: mae,
                bias_ratio: bias,
                ..Self::default()
            },
        }
    }

    /// The mean absolute error, in whichever unit.
    pub fn mae(&self) -> Option<f64> {
        self.mae_deg.or(self.mae_ratio)
    }

    /// The bias, in whichever unit.
    pub fn bias(&self) -> Option<f64> {
        self.bias_deg.or(self.bias_ratio)
    }
}

/// Verdicts over the images labelled good or poor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Images whose truth is good or poor.
    pub labelled: usize,
    /// Verdict equals the label.
    pub agree: usize,
    /// A good or poor verdict that is wrong.
    pub confident_wrong: usize,
    /// Of those, clearly poor postures called good.
    pub poor_called_good: usize,
    /// Neither good nor poor although a person was seen.
    pub abstained: usize,
    /// Nobody seen.
    pub no_person: usize,
    /// `agree` over `labelled`, percent.
    pub agree_pct: Option<f64>,
    /// `confident_wrong` over `labelled`, percent.
    pub confident_wrong_pct: Option<f64>,
}

impl Tally {
    /// Counts one verdict.
    pub fn add(&mut self, label: Label, outcome: Outcome) {
        self.labelled += 1;
        match outcome {
            Outcome::Agree => self.agree += 1,
            Outcome::ConfidentWrong => {
                self.confident_wrong += 1;
                if label == Label::Poor {
                    self.poor_called_good += 1;
                }
            }
            Outcome::Abstained => self.abstained += 1,
            Outcome::NoPerson => self.no_person += 1,
        }
        let pct = |k: usize| 100.0 * k as f64 / self.labelled as f64;
        self.agree_pct = Some(pct(self.agree));
        self.confident_wrong_pct = Some(pct(self.confident_wrong));
    }
}

/// A figure for the subjects tuned on, the held-out ones, and all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Columns<T> {
    /// Subjects not held out.
    pub rest: T,
    /// Held-out subjects.
    pub held_out: T,
    /// All.
    pub all: T,
}

/// One metric against one truth angle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AngleRow {
    /// The view whose images are compared.
    pub view: View,
    /// The product's metric.
    pub metric: Metric,
    /// The truth field of `gt_angles.image`.
    pub truth: String,
    /// Errors per group.
    pub error: Columns<ErrorStats>,
}

/// Verdict agreement for one view, calibrated or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerdictRow {
    /// The view (from the truth).
    pub view: View,
    /// Whether judged against the neutral render's baseline.
    pub calibrated: bool,
    /// Tallies per group.
    pub tally: Columns<Tally>,
}

/// The metric ↔ truth pairs compared, per view: the truth field of `gt_angles.image`.
pub const ANGLE_PAIRS: [(View, Metric, &str); 5] = [
    (
        View::Side,
        Metric::TrunkFlexionDeg,
        "trunk_flexion_near_side_deg",
    ),
    (View::Side, Metric::CvaProxyDeg, "cva_proxy_near_side_deg"),
    (View::Front, Metric::ShoulderTiltDeg, "shoulder_tilt_deg"),
    (View::Front, Metric::LateralLeanDeg, "trunk_lateral_deg"),
    (
        View::Front,
        Metric::HeadDropRatio,
        "nose_above_shoulder_line_over_shoulder_width",
    ),
];

/// The angle errors of `records`, per [`ANGLE_PAIRS`] row.
pub fn angle_rows(records: &[ImageRecord]) -> Vec<AngleRow> {
    ANGLE_PAIRS
        .iter()
        .map(|&(view, metric, truth)| {
            let errors = |keep: &dyn Fn(&ImageRecord) -> bool| -> ErrorStats {
                let e: Vec<f64> = records
                    .iter()
                    .filter(|r| r.view == view && keep(r))
                    .filter_map(|r| {
                        let m = r.metrics.get(metric)?;
                        Some(f64::from(m.value) - r.truth.image_angle(truth)?)
                    })
                    .collect();
                ErrorStats::of(&e, metric.unit())
            };
            AngleRow {
                view,
                metric,
                truth: truth.to_owned(),
                error: Columns {
                    rest: errors(&|r| !r.held_out),
                    held_out: errors(&|r| r.held_out),
                    all: errors(&|_| true),
                },
            }
        })
        .collect()
}

/// Verdict agreement of `records`, per view, uncalibrated then calibrated.
pub fn verdict_rows(records: &[ImageRecord]) -> Vec<VerdictRow> {
    let mut rows = Vec::new();
    for view in [View::Side, View::Front] {
        for calibrated in [false, true] {
            let mut tally = Columns::<Tally>::default();
            for r in records.iter().filter(|r| r.view == view) {
                let Some(label) = r.label else { continue };
                let verdict = if calibrated {
                    r.calibrated.as_ref()
                } else {
                    Some(&r.uncalibrated)
                };
                // No baseline (refused or missing): nothing could be judged calibrated.
                let o = verdict
                    .and_then(|v| v.outcome)
                    .unwrap_or(Outcome::Abstained);
                tally.all.add(label, o);
                if r.held_out {
                    tally.held_out.add(label, o);
                } else {
                    tally.rest.add(label, o);
                }
            }
            rows.push(VerdictRow {
                view,
                calibrated,
                tally,
            });
        }
    }
    rows
}

/// How a video's calibration went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VideoCalibration {
    /// Whether the baseline was accepted.
    pub accepted: bool,
    /// Frames used.
    pub frames: u32,
    /// The baseline's view, when accepted.
    pub view: Option<View>,
    /// Why it was refused.
    pub refused: Option<String>,
}

/// The stability of the side-view angles over one still hold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HoldStability {
    /// Media time of the hold's first `tall` frame.
    pub start_secs: f64,
    /// ... and of its last.
    pub end_secs: f64,
    /// Frames of the hold the product measured.
    pub frames: usize,
    /// 95th minus 5th percentile of each side-view angle over the hold, degrees.
    pub p5_p95_range_deg: BTreeMap<Metric, f64>,
}

/// Everything measured on one video.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VideoRecord {
    /// The video path as found.
    pub video: String,
    /// The camera (from the truth, else the view the product saw most).
    pub view: Option<View>,
    /// Frames analysed in the exercise run.
    pub frames: u32,
    /// The calibration on 4 s of the first hold.
    pub calibration: VideoCalibration,
    /// Valid reps in the truth.
    pub expected_valid_reps: u32,
    /// Reps the exercise counted.
    pub counted_reps: u32,
    /// Attempts the exercise did not count.
    pub rejected_attempts: u32,
    /// Side views: each still hold's stability.
    pub holds: Vec<HoldStability>,
    /// Side views: the worst hold's range per angle, degrees.
    pub worst_p5_p95_range_deg: BTreeMap<Metric, f64>,
}

/// The side-view angles whose stability over holds is measured.
pub const STABILITY_METRICS: [Metric; 3] = [
    Metric::CvaProxyDeg,
    Metric::TrunkFlexionDeg,
    Metric::HeadPitchDeg,
];

/// The `p`-th percentile (0–100) of `values`, linearly interpolated between order statistics
/// (numpy's default); `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// The stability of each still hold of `truth`, from the product's per-frame metrics `frames`
/// (media time and metrics).
pub fn hold_stability(
    truth: &SequenceTruth,
    frames: &[(f64, PostureMetrics)],
) -> Vec<HoldStability> {
    let half = 0.5 / truth.fps;
    truth
        .still_holds(MIN_HOLD_FRAMES)
        .into_iter()
        .filter_map(|(a, b)| {
            let (t0, t1) = (truth.frames.get(a)?.t_secs, truth.frames.get(b)?.t_secs);
            let inside: Vec<&PostureMetrics> = frames
                .iter()
                .filter(|(t, _)| *t >= t0 - half && *t < t1 + half)
                .map(|(_, m)| m)
                .collect();
            let ranges = STABILITY_METRICS
                .iter()
                .filter_map(|&metric| {
                    let v: Vec<f64> = inside
                        .iter()
                        .filter_map(|m| m.get(metric).map(|x| f64::from(x.value)))
                        .collect();
                    Some((metric, percentile(&v, 95.0)? - percentile(&v, 5.0)?))
                })
                .collect();
            Some(HoldStability {
                start_secs: t0,
                end_secs: t1,
                frames: inside.len(),
                p5_p95_range_deg: ranges,
            })
        })
        .collect()
}

/// The whole evaluation (`posture.eval` version 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The model, e.g. `lightning`.
    pub model: String,
    /// Subjects reported in the held-out column.
    pub held_out_subjects: Vec<u32>,
    /// Side-view posture images.
    pub side_images: usize,
    /// Front-view posture images.
    pub front_images: usize,
    /// Per-metric error against the truth.
    pub angles: Vec<AngleRow>,
    /// Verdict agreement per view, uncalibrated and calibrated.
    pub verdicts: Vec<VerdictRow>,
    /// Per video.
    pub videos: Vec<VideoRecord>,
    /// Per image.
    pub images: Vec<ImageRecord>,
}

impl Report {
    /// The report of `images` and `videos`.
    pub fn new(
        model: &str,
        held_out: &BTreeSet<u32>,
        images: Vec<ImageRecord>,
        videos: Vec<VideoRecord>,
    ) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            model: model.to_owned(),
            held_out_subjects: held_out.iter().copied().collect(),
            side_images: images.iter().filter(|r| r.view == View::Side).count(),
            front_images: images.iter().filter(|r| r.view == View::Front).count(),
            angles: angle_rows(&images),
            verdicts: verdict_rows(&images),
            videos,
            images,
        }
    }

    /// The verdict row of `view`, calibrated or not.
    pub fn verdict(&self, view: View, calibrated: bool) -> Option<&VerdictRow> {
        self.verdicts
            .iter()
            .find(|r| r.view == view && r.calibrated == calibrated)
    }

    /// The error row of `metric` in `view`.
    pub fn angle(&self, view: View, metric: Metric) -> Option<&AngleRow> {
        self.angles
            .iter()
            .find(|r| r.view == view && r.metric == metric)
    }

    /// The report as a plain-text table (Markdown), as `posture eval` prints it.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let held: Vec<String> = self.held_out_subjects.iter().map(u32::to_string).collect();
        let held = if held.is_empty() {
            "none".to_owned()
        } else {
            held.join(",")
        };
        let _ = writeln!(
            s,
            "posture eval: model {}, {} side + {} front posture images (held out: {held}), {} videos\n",
            self.model,
            self.side_images,
            self.front_images,
            self.videos.len()
        );
        if !self.images.is_empty() {
            let _ = writeln!(
                s,
                "Per image, one frame, no smoothing. Error = measured - truth (MAE / bias (n)).\n"
            );
            let _ = writeln!(s, "| view | metric vs truth | rest | held-out | all |");
            let _ = writeln!(s, "|---|---|---|---|---|");
            for r in &self.angles {
                let cell = |e: &ErrorStats| match (e.mae(), e.bias()) {
                    (Some(m), Some(b)) if r.metric.name().ends_with("_ratio") => {
                        format!("{m:.3} / {b:+.3} ({})", e.n)
                    }
                    (Some(m), Some(b)) => format!("{m:.2}° / {b:+.2}° ({})", e.n),
                    _ => "-".to_owned(),
                };
                let _ = writeln!(
                    s,
                    "| {} | {} vs {} | {} | {} | {} |",
                    view_name(Some(r.view)),
                    r.metric.name(),
                    r.truth,
                    cell(&r.error.rest),
                    cell(&r.error.held_out),
                    cell(&r.error.all)
                );
            }
            let _ = writeln!(
                s,
                "\nVerdicts on images whose truth is good or poor: agreement (agree/labelled), CW = confident wrong (of which poor called good), abstained, no person.\n"
            );
            let _ = writeln!(s, "| view | calibrated | rest | held-out | all |");
            let _ = writeln!(s, "|---|---|---|---|---|");
            for r in &self.verdicts {
                let cell = |t: &Tally| {
                    if t.labelled == 0 {
                        return "-".to_owned();
                    }
                    format!(
                        "{:.0}% ({}/{}), CW {} ({} poor→good), abst. {}, no person {}",
                        t.agree_pct.unwrap_or(0.0),
                        t.agree,
                        t.labelled,
                        t.confident_wrong,
                        t.poor_called_good,
                        t.abstained,
                        t.no_person
                    )
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    view_name(Some(r.view)),
                    if r.calibrated { "yes" } else { "no" },
                    cell(&r.tally.rest),
                    cell(&r.tally.held_out),
                    cell(&r.tally.all)
                );
            }
        }
        if !self.videos.is_empty() {
            let _ = writeln!(
                s,
                "\nVideos: calibrated on media time {CALIBRATION_START_SECS}-{} s, then sit-tall; stability = worst still hold's 5th-95th percentile range (side views).\n",
                CALIBRATION_START_SECS + CALIBRATION_SECS
            );
            let _ = writeln!(
                s,
                "| video | view | calibration | reps counted / expected | worst hold range: CVA proxy / trunk / head pitch |"
            );
            let _ = writeln!(s, "|---|---|---|---|---|");
            for v in &self.videos {
                let name = Path::new(&v.video)
                    .file_stem()
                    .map_or_else(|| v.video.clone(), |s| s.to_string_lossy().into_owned());
                let cal = if v.calibration.accepted {
                    format!("accepted ({} frames)", v.calibration.frames)
                } else {
                    format!(
                        "refused: {}",
                        v.calibration
                            .refused
                            .as_deref()
                            .map_or("?", |r| r.trim_start_matches("calibration refused: "))
                    )
                };
                let range = |m: Metric| {
                    v.worst_p5_p95_range_deg
                        .get(&m)
                        .map_or("-".to_owned(), |x| format!("{x:.1}°"))
                };
                let stab = if v.holds.is_empty() {
                    "-".to_owned()
                } else {
                    format!(
                        "{} / {} / {} ({} holds)",
                        range(Metric::CvaProxyDeg),
                        range(Metric::TrunkFlexionDeg),
                        range(Metric::HeadPitchDeg),
                        v.holds.len()
                    )
                };
                let _ = writeln!(
                    s,
                    "| {name} | {} | {cal} | {} / {} | {stab} |",
                    view_name(v.view),
                    v.counted_reps,
                    v.expected_valid_reps
                );
            }
        }
        s
    }
}

fn view_name(v: Option<View>) -> &'static str {
    match v {
        Some(View::Front) => "front",
        Some(View::Side) => "side",
        Some(View::Oblique) => "oblique",
        None => "-",
    }
}

fn csv_num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// The features CSV (`posture eval --features-out`): one row per posture image with every metric,
/// the baseline and the change from it, the truth and the label; the input of
/// `scripts/fit_thresholds.py`.
pub fn features_csv(records: &[ImageRecord]) -> String {
    let mut s = String::new();
    let mut header: Vec<String> = [
        "image",
        "subject",
        "held_out",
        "view",
        "label",
        "truth_neck_flexion_deg",
        "truth_trunk_flexion_deg",
        "truth_shoulder_tilt_deg",
        "truth_cva_proxy_near_side_deg",
        "truth_trunk_flexion_near_side_deg",
        "truth_image_shoulder_tilt_deg",
        "truth_nose_above_shoulder_ratio",
        "person",
        "measured_view",
        "calibrated",
    ]
    .iter()
    .map(|x| (*x).to_owned())
    .collect();
    for m in Metric::ALL {
        header.push(m.name().to_owned());
        header.push(format!("base_{}", m.name()));
        header.push(format!("delta_{}", m.name()));
    }
    header.extend(["band_uncalibrated".into(), "band_calibrated".into()]);
    let _ = writeln!(s, "{}", header.join(","));
    let band = |v: Option<&Verdict>| match v.and_then(|v| v.band) {
        Some(Band::Good) => "good",
        Some(Band::Fair) => "fair",
        Some(Band::Poor) => "poor",
        None => "",
    };
    for r in records {
        let t = &r.truth;
        let mut row = vec![
            format!("\"{}\"", r.image.replace('"', "\"\"")),
            r.subject.map(|x| x.to_string()).unwrap_or_default(),
            u8::from(r.held_out).to_string(),
            view_name(Some(r.view)).to_owned(),
            r.label.map(Label::name).unwrap_or("").to_owned(),
            format!("{}", t.neck_flexion_deg),
            format!("{}", t.trunk_flexion_deg),
            format!("{}", t.shoulder_tilt_deg),
            csv_num(t.image_angle("cva_proxy_near_side_deg")),
            csv_num(t.image_angle("trunk_flexion_near_side_deg")),
            csv_num(t.image_angle("shoulder_tilt_deg")),
            csv_num(t.image_angle("nose_above_shoulder_line_over_shoulder_width")),
            u8::from(r.uncalibrated.person).to_string(),
            view_name(r.uncalibrated.view).trim_matches('-').to_owned(),
            u8::from(r.calibrated.is_some()).to_string(),
        ];
        for m in Metric::ALL {
            let v = r.metrics.get(m).map(|x| f64::from(x.value));
            let b = r.baseline.get(&m).map(|x| f64::from(*x));
            row.push(csv_num(v));
            row.push(csv_num(b));
            row.push(csv_num(v.zip(b).map(|(v, b)| v - b)));
        }
        row.push(band(Some(&r.uncalibrated)).to_owned());
        row.push(band(r.calibrated.as_ref()).to_owned());
        let _ = writeln!(s, "{}", row.join(","));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), Some(3.0));
        assert_eq!(percentile(&v, 5.0), Some(1.2));
        assert!((percentile(&v, 95.0).unwrap() - 4.8).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn outcomes_separate_confident_wrong_from_abstaining() {
        use Band::*;
        let o = |l, p, b| outcome(Some(l), p, b);
        assert_eq!(o(Label::Good, true, Some(Good)), Some(Outcome::Agree));
        assert_eq!(
            o(Label::Poor, true, Some(Good)),
            Some(Outcome::ConfidentWrong)
        );
        assert_eq!(
            o(Label::Good, true, Some(Poor)),
            Some(Outcome::ConfidentWrong)
        );
        assert_eq!(o(Label::Good, true, Some(Fair)), Some(Outcome::Abstained));
        assert_eq!(o(Label::Good, true, None), Some(Outcome::Abstained));
        assert_eq!(o(Label::Poor, false, None), Some(Outcome::NoPerson));
        assert_eq!(outcome(None, true, Some(Good)), None);
        let mut t = Tally::default();
        t.add(Label::Poor, Outcome::ConfidentWrong);
        t.add(Label::Good, Outcome::Agree);
        assert_eq!(
            (t.labelled, t.poor_called_good, t.agree_pct),
            (2, 1, Some(50.0))
        );
    }
}
