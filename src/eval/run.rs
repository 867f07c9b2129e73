//! Running the product on the data: images through the estimator and a fresh analyzer each,
//! videos through the run loop ([`crate::run::run`]) with the video source.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use crate::eval::{
    CALIBRATION_SECS, CALIBRATION_START_SECS, Dataset, EvalError, ImageItem, ImageRecord,
    STABILITY_METRICS, Verdict, VideoCalibration, VideoItem, VideoRecord, hold_stability,
};
use crate::event::Event;
use crate::exercise::{Definition, Engine};
use crate::pose::{Pose, PoseEstimator};
use crate::run::calibrate::{CalibrationSink, frame_metrics};
use crate::run::{
    self, Exercise, Flow, FrameUpdate, PipelineOptions, RunOptions, Sink, StopHandle,
};
use crate::science::analysis::{Analysis, Analyzer, Settings};
use crate::science::calibration::{Baseline, Calibrator};
use crate::science::metrics::{PostureMetrics, View};
use crate::source::FrameSource;
use crate::source::image_file::read_image;
use crate::source::video::VideoSource;

/// How the product is run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Judge thresholds and alert timing.
    pub settings: Settings,
    /// Keypoints scoring below this are not measured.
    pub score_threshold: f32,
    /// Subjects reported in the held-out column.
    pub held_out: BTreeSet<u32>,
    /// The pose model's name (`lightning`, `thunder`): its trunk offset applies.
    pub model: String,
}

/// The analysis of one image judged on its own: a fresh analyzer, one update at media time 0,
/// as `posture monitor --images ONE.png --json` judges it (nothing smoothed or held back: the
/// first pose passes the smoother as it is, and the first view is taken at once).
pub fn judge_alone(
    pose: &Pose,
    settings: &Settings,
    baseline: Option<Baseline>,
    threshold: f32,
    model: &str,
) -> Analysis {
    Analyzer::new(threshold, settings.clone(), baseline)
        .with_model(model)
        .update(0.0, pose)
}

/// The baseline `posture calibrate --images NEUTRAL.png` makes of one pose.
///
/// # Errors
/// Calibration's refusal, in words.
pub fn calibrate_on(
    pose: &Pose,
    threshold: f32,
    settings: &Settings,
    model: &str,
) -> Result<Baseline, String> {
    let mut c = Calibrator::with_model(model);
    c.add(&frame_metrics(
        pose,
        threshold,
        settings.trunk_offset_deg(model),
    ));
    c.finish("eval", 0).map_err(|e| e.to_string())
}

fn pose_of(estimator: &mut dyn PoseEstimator, path: &Path) -> Result<Pose, EvalError> {
    let image = read_image(path)?;
    estimator
        .estimate(image.view())
        .map(|e| e.pose)
        .map_err(|source| EvalError::Pose {
            path: path.to_owned(),
            source,
        })
}

/// Judges every posture image of `ds` (neutral renders serve as baselines only); `progress` is
/// called after each image with the number done and the total.
///
/// # Errors
/// The first image that cannot be read or estimated.
pub fn evaluate_images(
    ds: &Dataset,
    estimator: &mut dyn PoseEstimator,
    opts: &Options,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ImageRecord>, EvalError> {
    let thr = opts.score_threshold;
    let mut baselines: HashMap<PathBuf, Result<Baseline, String>> = HashMap::new();
    let postures: Vec<&ImageItem> = ds.images.iter().filter(|i| !i.neutral).collect();
    let mut out = Vec::with_capacity(postures.len());
    for (done, item) in postures.iter().enumerate() {
        let neutral = ds.neutral_of(item);
        let baseline = match neutral {
            Some(n) => {
                if !baselines.contains_key(&n.path) {
                    let pose = pose_of(estimator, &n.path)?;
                    baselines.insert(
                        n.path.clone(),
                        calibrate_on(&pose, thr, &opts.settings, &opts.model),
                    );
                }
                baselines.get(&n.path).cloned()
            }
            None => None,
        };
        let pose = pose_of(estimator, &item.path)?;
        let label = item.truth.label();
        let plain = judge_alone(&pose, &opts.settings, None, thr, &opts.model);
        let calibrated = match &baseline {
            Some(Ok(b)) => Some(judge_alone(
                &pose,
                &opts.settings,
                Some(b.clone()),
                thr,
                &opts.model,
            )),
            _ => None,
        };
        let refused = match (&baseline, neutral) {
            (None, _) | (_, None) => Some("no neutral render of this subject and view".into()),
            (Some(Err(e)), _) => Some(e.clone()),
            (Some(Ok(_)), _) => None,
        };
        let base_values = match &baseline {
            Some(Ok(b)) => b.metrics.iter().map(|(m, s)| (*m, s.median)).collect(),
            _ => BTreeMap::new(),
        };
        out.push(ImageRecord {
            image: item.path.display().to_string(),
            subject: item.truth.subject,
            held_out: item
                .truth
                .subject
                .is_some_and(|s| opts.held_out.contains(&s)),
            view: item.truth.view,
            label,
            truth: item.truth.clone(),
            metrics: plain.metrics,
            uncalibrated: Verdict::of(&plain, label),
            calibrated: calibrated.as_ref().map(|a| Verdict::of(a, label)),
            neutral: neutral.map(|n| n.path.display().to_string()),
            calibration_refused: refused,
            baseline: base_values,
        });
        progress(done + 1, postures.len());
    }
    Ok(out)
}

/// Keeps each frame's media time, metrics and view.
#[derive(Default)]
struct FrameLog {
    frames: Vec<(f64, PostureMetrics)>,
    views: BTreeMap<&'static str, usize>,
}

impl Sink for FrameLog {
    fn event(&mut self, _: f64, _: &Event) -> io::Result<()> {
        Ok(())
    }

    fn frame(&mut self, u: &FrameUpdate<'_>) -> io::Result<Flow> {
        if u.analysis.person {
            self.frames.push((u.t_secs(), u.analysis.metrics));
            let v = match u.analysis.view {
                Some(View::Side) => "side",
                Some(View::Front) => "front",
                Some(View::Oblique) => "oblique",
                None => "none",
            };
            *self.views.entry(v).or_default() += 1;
        }
        Ok(Flow::Continue)
    }
}

/// A source for the estimator: called once per run of a video.
pub type LoadEstimator<'a> = dyn FnMut() -> Result<Box<dyn PoseEstimator>, String> + 'a;

fn video_error(path: &Path, reason: impl std::fmt::Display) -> EvalError {
    EvalError::Video {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn open(path: &Path) -> Result<Box<dyn FrameSource>, EvalError> {
    VideoSource::open(path)
        .map(|s| Box::new(s) as Box<dyn FrameSource>)
        .map_err(|e| video_error(path, e))
}

/// Runs one video as a user would: `posture calibrate` on media time 5–9 s, then
/// `posture exercise sit-tall` on the whole video with that baseline (without it when refused),
/// every frame analysed (offline pacing). Each run has its own stop handle (a run that ends
/// sets it).
///
/// # Errors
/// [`EvalError::Video`] when the video cannot be read or the estimator fails.
pub fn evaluate_video(
    item: &VideoItem,
    load: &mut LoadEstimator<'_>,
    exercise: &Definition,
    opts: &Options,
) -> Result<VideoRecord, EvalError> {
    let path = &item.path;
    let run_options = RunOptions {
        pipeline: PipelineOptions::offline(),
        score_threshold: opts.score_threshold,
    };
    let mut cal = CalibrationSink::window(CALIBRATION_START_SECS, CALIBRATION_SECS)
        .for_model(&opts.model, opts.settings.trunk_offset_deg(&opts.model));
    let mut plain = Analyzer::new(opts.score_threshold, Settings::default(), None);
    run::run(
        open(path)?,
        load().map_err(|e| video_error(path, e))?,
        &mut plain,
        None,
        &mut [&mut cal],
        &run_options,
        &StopHandle::new(),
    )
    .map_err(|e| video_error(path, e))?;
    let frames_used = cal.calibrator.frames();
    let (baseline, calibration) = match cal.calibrator.finish("eval", 0) {
        Ok(b) => {
            let c = VideoCalibration {
                accepted: true,
                frames: frames_used,
                view: Some(b.view),
                refused: None,
            };
            (Some(b), c)
        }
        Err(e) => (
            None,
            VideoCalibration {
                accepted: false,
                frames: frames_used,
                view: None,
                refused: Some(e.to_string()),
            },
        ),
    };
    let mut analyzer = Analyzer::new(opts.score_threshold, opts.settings.clone(), baseline)
        .with_model(&opts.model);
    let mut ex = Exercise {
        engine: Engine::new(exercise.clone()),
        // Every rep of the video is counted, however many the definition asks for.
        reps: u32::MAX,
    };
    let mut log = FrameLog::default();
    let outcome = run::run(
        open(path)?,
        load().map_err(|e| video_error(path, e))?,
        &mut analyzer,
        Some(&mut ex),
        &mut [&mut log],
        &run_options,
        &StopHandle::new(),
    )
    .map_err(|e| video_error(path, e))?;
    let view = item.truth.view.or_else(|| {
        match log.views.iter().max_by_key(|(_, n)| **n).map(|(v, _)| *v) {
            Some("side") => Some(View::Side),
            Some("front") => Some(View::Front),
            _ => None,
        }
    });
    let holds = if view == Some(View::Side) {
        hold_stability(&item.truth, &log.frames)
    } else {
        Vec::new()
    };
    let mut worst = BTreeMap::new();
    for m in STABILITY_METRICS {
        let w = holds
            .iter()
            .filter_map(|h| h.p5_p95_range_deg.get(&m).copied())
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
        if let Some(w) = w {
            worst.insert(m, w);
        }
    }
    Ok(VideoRecord {
        video: path.display().to_string(),
        view,
        frames: u32::try_from(outcome.summary.processed).unwrap_or(u32::MAX),
        calibration,
        expected_valid_reps: item.truth.expected_valid_reps,
        counted_reps: u32::try_from(ex.engine.reps().len()).unwrap_or(u32::MAX),
        rejected_attempts: ex.engine.rejected(),
        holds,
        worst_p5_p95_range_deg: worst,
    })
}
