//! Command-line arguments and the commands they run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use posture::analyze::{self, AnalysisRecord, FailureRecord};
use posture::bench;
use posture::draw::{self, Placement, RgbCanvas};
use posture::frame::Resolution;
use posture::pose::{
    DEFAULT_SCORE_THRESHOLD, ModelSpec, OnnxEstimator, OnnxOptions, PoseEstimator,
};

/// Watches how you sit or stand, from a camera, a video or images.
#[derive(Debug, Parser)]
#[command(name = "posture", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Options of the pose model, shared by the commands that run it.
#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// Pose model: `lightning` (fast, default), `thunder` (accurate) or the path of a MoveNet
    /// SinglePose .onnx file.
    #[arg(
        long,
        default_value = "lightning",
        value_name = "lightning|thunder|PATH"
    )]
    model: ModelSpec,
    /// Threads for the network's kernels (1 gives the steadiest latency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
}

impl ModelArgs {
    fn load(&self) -> anyhow::Result<OnnxEstimator> {
        Ok(OnnxEstimator::load(
            &self.model,
            &OnnxOptions {
                threads: usize::from(self.threads),
            },
        )?)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Find the keypoints in images: one JSON line per image (format `posture.analyze` v1).
    ///
    /// Exits 0 when every image was analysed, 2 when any failed (the others are still analysed).
    Analyze {
        /// Image files, or folders searched for images.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
        /// Write the JSON lines to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write each image with its skeleton drawn to DIR/<name>.overlay.png.
        #[arg(long, value_name = "DIR")]
        overlay: Option<PathBuf>,
        /// Keypoints scoring below this are not drawn.
        #[arg(long, default_value_t = DEFAULT_SCORE_THRESHOLD)]
        score_threshold: f32,
    },
    /// Measure the pose hot loop on this machine: p50/p95/p99 milliseconds per stage.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Frames to measure (after 10 warm-up frames).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
        frames: u32,
        /// Frame width in pixels.
        #[arg(long, default_value_t = 640, value_parser = clap::value_parser!(u32).range(1..=8192))]
        width: u32,
        /// Frame height in pixels.
        #[arg(long, default_value_t = 480, value_parser = clap::value_parser!(u32).range(1..=8192))]
        height: u32,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Whether `e` is a write to a closed pipe (`posture analyze | head`), which is not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs the parsed command.
///
/// # Errors
/// Any error that ends the command; per-image errors of `analyze` are reported and counted.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Analyze {
            paths,
            model,
            out,
            overlay,
            score_threshold,
        } => analyze_cmd(
            &paths,
            &model,
            out.as_deref(),
            overlay.as_deref(),
            score_threshold,
        ),
        Command::Bench {
            model,
            frames,
            width,
            height,
            json,
        } => {
            let mut estimator = model.load()?;
            let frame = bench::synthetic_frame(Resolution::new(width, height));
            let report = bench::run(
                &mut estimator,
                &frame,
                usize::from(model.threads),
                10,
                frames as usize,
            )?;
            let mut stdout = std::io::stdout().lock();
            if json {
                serde_json::to_writer(&mut stdout, &report)?;
                writeln!(stdout)?;
            } else {
                write!(stdout, "{report}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn analyze_cmd(
    paths: &[PathBuf],
    model: &ModelArgs,
    out: Option<&Path>,
    overlay: Option<&Path>,
    threshold: f32,
) -> anyhow::Result<ExitCode> {
    let mut estimator = model.load()?;
    let mut sink: Box<dyn Write> = match out {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot create output file {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    if let Some(dir) = overlay {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create overlay folder {}", dir.display()))?;
    }
    let mut failed = 0usize;
    for input in analyze::expand_inputs(paths) {
        let (path, result) = match input {
            Ok(path) => {
                let result = analyze_one(&mut estimator, &path, overlay, threshold);
                (path, result)
            }
            Err(e) => (e.path().to_owned(), Err(e.into())),
        };
        match result {
            Ok(record) => serde_json::to_writer(&mut sink, &record)?,
            Err(e) => {
                failed += 1;
                // Each error message names the file it is about.
                eprintln!("posture: error: {e:#}");
                serde_json::to_writer(&mut sink, &FailureRecord::new(&path, &format!("{e:#}")))?;
            }
        }
        writeln!(sink)?;
    }
    sink.flush()?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn analyze_one(
    estimator: &mut OnnxEstimator,
    path: &Path,
    overlay: Option<&Path>,
    threshold: f32,
) -> anyhow::Result<AnalysisRecord> {
    let (image, read_time) = analyze::read_image_timed(path)?;
    let estimate = estimator
        .estimate(image.view())
        .with_context(|| format!("pose estimation failed on {}", path.display()))?;
    if let Some(dir) = overlay {
        let r = image.resolution();
        let mut rgb = image.to_rgb8();
        if let Some(mut canvas) = RgbCanvas::new(&mut rgb, r.width, r.height) {
            draw::skeleton(&mut canvas, &estimate.pose, threshold, Placement::IDENTITY);
        }
        let target = analyze::overlay_path(dir, path);
        image::save_buffer(
            &target,
            &rgb,
            r.width,
            r.height,
            image::ExtendedColorType::Rgb8,
        )
        .with_context(|| format!("cannot write overlay {}", target.display()))?;
    }
    Ok(AnalysisRecord::new(
        path,
        &image,
        (estimator.model_name(), estimator.model_sha256()),
        &estimate,
        read_time,
    ))
}
