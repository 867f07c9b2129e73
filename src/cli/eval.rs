//! `posture eval`: runs the product on rendered data with truth and prints the figures.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use posture::eval::run::{Options, evaluate_images, evaluate_video};
use posture::eval::{Dataset, Report, features_csv};
use posture::exercise::Definition;
use posture::pose::{DEFAULT_SCORE_THRESHOLD, OnnxEstimator, PoseEstimator};
use posture::science::analysis::Settings;

use crate::cli::ModelArgs;

/// `posture eval`'s arguments.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Folders (searched recursively) or files: PNG images with their truth JSON beside them,
    /// and videos `X.mp4` with `X.truth.json` (or `X.phases.json`).
    #[arg(required = true, value_name = "DIR")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Subjects to report in a separate held-out column, e.g. `109,110,111`.
    #[arg(long, value_name = "S,S,...", value_delimiter = ',')]
    holdout: Vec<u32>,
    /// Print the report as one JSON object (`posture.eval` v1) instead of the table.
    #[arg(long)]
    json: bool,
    /// Write one CSV row of features per posture image here (the input of
    /// `scripts/fit_thresholds.py`).
    #[arg(long, value_name = "FILE")]
    features_out: Option<PathBuf>,
    /// Judge with these thresholds (default: calibration/thresholds.toml, built in).
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Images only: skip the videos.
    #[arg(long)]
    no_videos: bool,
    /// Keypoints scoring below this are not measured.
    #[arg(long, allow_negative_numbers = true, default_value_t = DEFAULT_SCORE_THRESHOLD, value_parser = crate::cli::unit_score)]
    score_threshold: f32,
}

/// Runs `posture eval`.
pub fn eval(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load_or_default(args.thresholds.as_deref())?;
    let ds = Dataset::discover(&args.paths)?;
    let held_out: BTreeSet<u32> = args.holdout.iter().copied().collect();
    let opts = Options {
        settings,
        score_threshold: args.score_threshold,
        held_out: held_out.clone(),
        model: String::new(),
    };
    let exercise = Definition::find("sit-tall")?;
    let mut estimator = args.model.load()?;
    let opts = Options {
        model: estimator.model_name().to_owned(),
        ..opts
    };
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let images = evaluate_images(&ds, &mut estimator, &opts, &mut |done, total| {
        if interactive {
            eprint!("\rposture: eval: image {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    })?;
    let mut videos = Vec::new();
    if !args.no_videos {
        let mut load = || -> Result<Box<dyn PoseEstimator>, String> {
            OnnxEstimator::load(&args.model.model, &args.model.options())
                .map(|e| Box::new(e) as Box<dyn PoseEstimator>)
                .map_err(|e| e.to_string())
        };
        for v in &ds.videos {
            if interactive {
                eprintln!("posture: eval: video {}", v.path.display());
            }
            videos.push(evaluate_video(v, &mut load, &exercise, &opts)?);
        }
    }
    let report = Report::new(&args.model.model.to_string(), &held_out, images, videos);
    if let Some(path) = &args.features_out {
        posture::output::write_atomically(path, features_csv(&report.images).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", report.table())?;
    }
    for p in &ds.skipped {
        eprintln!(
            "posture: warning: skipped {} (no truth file beside it)",
            p.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
