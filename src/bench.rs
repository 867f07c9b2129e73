//! `posture bench`: per-stage latency percentiles of the pose hot loop on this machine.

use std::time::Duration;

use serde::Serialize;

use crate::frame::{OwnedImage, PixelFormat, Resolution};
use crate::pose::{Crop, OnnxEstimator, PoseError, PoseEstimator};

/// Percentiles of one stage, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageStats {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl StageStats {
    /// Nearest-rank percentiles of `samples` (empty gives zeros).
    pub fn from_samples(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let pick = |p: f64| {
            let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[rank.clamp(1, ms.len()) - 1]
        };
        Self {
            p50_ms: pick(50.0),
            p95_ms: pick(95.0),
            p99_ms: pick(99.0),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// What `posture bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Model name.
    pub model: String,
    /// `fast` (prepared graph, posture's kernels) or `tract-plain`.
    pub engine: String,
    /// The kernel family posture's ops run and how many convolution layers run on them and on
    /// tract's ops.
    pub kernels: crate::pose::kernels::choice::KernelSummary,
    /// Model input side in pixels.
    pub input_size_px: u32,
    /// tract threads.
    pub threads: usize,
    /// Frame width.
    pub width_px: u32,
    /// Frame height.
    pub height_px: u32,
    /// Frames measured (after warm-up).
    pub frames: usize,
    /// Idle time before every other measured frame, milliseconds (`--idle-ms`; 0: all frames
    /// back to back). A camera at 5 fps leaves the inference thread ~190 ms idle between frames.
    pub idle_ms: f64,
    /// With `idle_ms` > 0: the network's time on the frames that came after the idle time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_after_idle: Option<StageStats>,
    /// With `idle_ms` > 0: the network's time on the frames run right after another, in the
    /// same run (the warm baseline for `inference_after_idle`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_back_to_back: Option<StageStats>,
    /// The side of the tracking crop read instead of the whole frame (`--crop auto`), pixels.
    pub crop_px: Option<u32>,
    /// Letterbox and conversion.
    pub letterbox: StageStats,
    /// Network.
    pub inference: StageStats,
    /// Output decoding.
    pub decode: StageStats,
    /// Frame in → keypoints out.
    pub total: StageStats,
    /// Drawing the frame scaled into a 960x720 window buffer with the skeleton and the HUD
    /// (done on the main thread in live runs, not in `total`).
    pub render: StageStats,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "model {} ({}x{} input, engine {}), {} thread(s), {}x{} frame, {} frames",
            self.model,
            self.input_size_px,
            self.input_size_px,
            self.engine,
            self.threads,
            self.width_px,
            self.height_px,
            self.frames
        )?;
        let k = &self.kernels;
        writeln!(
            f,
            "kernels {}: {} convolution layers on posture's ops, {} on tract's; {} blocks fused",
            k.family.map_or("none", |k| k.name()),
            k.posture_layers,
            k.tract_layers,
            k.fused_blocks
        )?;
        if self.idle_ms > 0.0 {
            writeln!(
                f,
                "idle {:.0} ms before every other frame (as between a slow camera's frames)",
                self.idle_ms
            )?;
        }
        if let Some(side) = self.crop_px {
            writeln!(
                f,
                "tracking crop: a {side}x{side} square of the frame, moved by a pixel every frame"
            )?;
        }
        writeln!(
            f,
            "{:<14} {:>9} {:>9} {:>9} {:>9}",
            "stage", "p50 ms", "p95 ms", "p99 ms", "mean ms"
        )?;
        let split = [
            ("  after idle", self.inference_after_idle),
            ("  back to back", self.inference_back_to_back),
        ];
        for (name, s) in [("letterbox", self.letterbox), ("inference", self.inference)]
            .into_iter()
            .chain(split.into_iter().filter_map(|(n, s)| Some((n, s?))))
            .chain([
                ("decode", self.decode),
                ("total", self.total),
                ("render", self.render),
            ])
        {
            writeln!(
                f,
                "{name:<14} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                s.p50_ms, s.p95_ms, s.p99_ms, s.mean_ms
            )?;
        }
        Ok(())
    }
}

/// A deterministic RGB test frame: smooth gradients with a bright figure-like blob, so the
/// model sees structured content. Inference cost does not depend on the content.
pub fn synthetic_frame(resolution: Resolution) -> OwnedImage {
    let (w, h) = (resolution.width.max(1), resolution.height.max(1));
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let d = ((fx - 0.5).powi(2) * 4.0 + (fy - 0.45).powi(2)).sqrt();
            let blob = if d < 0.3 { 120.0 } else { 0.0 };
            data.push((fx * 200.0 + blob).min(255.0) as u8);
            data.push((fy * 180.0 + blob).min(255.0) as u8);
            data.push((((x ^ y) & 63) as f32 * 2.0 + blob).min(255.0) as u8);
        }
    }
    // Invariant: exactly w * h * 3 bytes were pushed.
    OwnedImage::new(Resolution::new(w, h), PixelFormat::Rgb8, data)
        .unwrap_or_else(|_| unreachable!("synthetic frame has the size it declares"))
}

/// The tracking crop `posture bench --crop auto` reads: a square of 0.6 x the frame's shorter
/// side around the synthetic figure, one pixel further right on odd frames (so the letterbox is
/// refitted every frame, as when the person moves).
pub fn bench_crop(resolution: Resolution, frame_index: usize) -> Crop {
    let side = (resolution.width.min(resolution.height) * 3 / 5).max(1);
    let x0 = (resolution.width.saturating_sub(side) / 2) as i32;
    Crop {
        x0: x0 + (frame_index % 2) as i32,
        y0: (resolution.height.saturating_sub(side) / 2) as i32,
        side,
    }
}

/// Runs `warmup` then `frames` estimates on `frame` (on its [`bench_crop`] when `crop`) and
/// summarises each stage.
///
/// # Errors
/// When inference fails.
pub fn run(
    estimator: &mut OnnxEstimator,
    frame: &OwnedImage,
    threads: usize,
    warmup: usize,
    frames: usize,
    crop: bool,
    idle: Duration,
) -> Result<BenchReport, PoseError> {
    let r = frame.resolution();
    let mut estimate = |i: usize| match crop {
        true => estimator.estimate_crop(frame.view(), bench_crop(r, i)),
        false => estimator.estimate(frame.view()),
    };
    for i in 0..warmup {
        estimate(i)?;
    }
    let mut stages: [Vec<Duration>; 5] = Default::default();
    let mut live_frame = crate::frame::Frame::default();
    live_frame
        .resize(frame.resolution())
        .copy_from_slice(&frame.to_rgb8());
    let mut renderer = crate::sink::render::Renderer::new(960, 720);
    let hud = crate::sink::render::Hud {
        lines: vec![
            "view side  seated".into(),
            "trunk +12.0 deg".into(),
            "neck  +31.0 deg".into(),
            "trunk leaning 12 deg forward".into(),
        ],
        status: "30.0 fps  latency 35 ms  dropped 0".into(),
        score: Some((72.0, [80, 220, 100])),
        banner: None,
    };
    // With an idle time, every other frame comes after it; the others run right after the
    // previous frame, so the two are compared within one run on a noisy machine.
    let mut after_idle = Vec::new();
    let mut back_to_back = Vec::new();
    for i in 0..frames {
        let idled = !idle.is_zero() && i % 2 == 0;
        if idled {
            std::thread::sleep(idle);
        }
        let e = estimate(i)?;
        if !idle.is_zero() {
            match idled {
                true => after_idle.push(e.timings.inference),
                false => back_to_back.push(e.timings.inference),
            }
        }
        let t = e.timings;
        let r0 = std::time::Instant::now();
        renderer.render(&live_frame, Some(&e.pose), 0.0, &hud);
        std::hint::black_box(renderer.buffer());
        for (v, d) in
            stages
                .iter_mut()
                .zip([t.letterbox, t.inference, t.decode, t.total(), r0.elapsed()])
        {
            v.push(d);
        }
    }
    Ok(BenchReport {
        model: estimator.model_name().to_owned(),
        engine: estimator.engine().to_string(),
        kernels: estimator.kernels(),
        input_size_px: estimator.input_size(),
        threads,
        width_px: r.width,
        height_px: r.height,
        frames,
        idle_ms: idle.as_secs_f64() * 1000.0,
        inference_after_idle: (!after_idle.is_empty())
            .then(|| StageStats::from_samples(&after_idle)),
        inference_back_to_back: (!back_to_back.is_empty())
            .then(|| StageStats::from_samples(&back_to_back)),
        crop_px: crop.then(|| bench_crop(r, 0).side),
        letterbox: StageStats::from_samples(&stages[0]),
        inference: StageStats::from_samples(&stages[1]),
        decode: StageStats::from_samples(&stages[2]),
        total: StageStats::from_samples(&stages[3]),
        render: StageStats::from_samples(&stages[4]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = StageStats::from_samples(&samples);
        assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms), (50.0, 95.0, 99.0));
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        let one = StageStats::from_samples(&[Duration::from_millis(7)]);
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        assert_eq!(StageStats::from_samples(&[]), StageStats::default());
    }
}

/// What `posture bench --compare-engines` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Model name.
    pub model: String,
    /// tract threads.
    pub threads: usize,
    /// Frames measured per engine (after warm-up).
    pub frames: usize,
    /// Frame width.
    pub width_px: u32,
    /// Frame height.
    pub height_px: u32,
    /// The fast engine's kernel family and how many convolution layers run on posture's ops
    /// and on tract's.
    pub fast_kernels: crate::pose::kernels::choice::KernelSummary,
    /// Each engine's hot loop, in the order run.
    pub engines: Vec<EngineTiming>,
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "model {}, {} thread(s), {}x{} frame, {} frames per engine, interleaved",
            self.model, self.threads, self.width_px, self.height_px, self.frames
        )?;
        let k = &self.fast_kernels;
        writeln!(
            f,
            "fast: {} kernels, {} convolution layers on posture's ops, {} on tract's; {} blocks fused",
            k.family.map_or("none", |k| k.name()),
            k.posture_layers,
            k.tract_layers,
            k.fused_blocks
        )?;
        writeln!(
            f,
            "{:<12} {:>9} {:>9} {:>9} {:>9}",
            "engine", "p50 ms", "p95 ms", "p99 ms", "mean ms"
        )?;
        for t in &self.engines {
            let s = t.total;
            writeln!(
                f,
                "{:<12} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                t.engine, s.p50_ms, s.p95_ms, s.p99_ms, s.mean_ms
            )?;
        }
        if let [a, others @ ..] = self.engines.as_slice() {
            for b in others {
                writeln!(
                    f,
                    "{} / {} at p50: {:.2}",
                    a.engine,
                    b.engine,
                    a.total.p50_ms / b.total.p50_ms.max(f64::MIN_POSITIVE)
                )?;
            }
        }
        Ok(())
    }
}

/// One engine's hot-loop time in an interleaved comparison.
#[derive(Clone, Debug, Serialize)]
pub struct EngineTiming {
    /// `fast`, `fast-fused` or `tract-plain`.
    pub engine: String,
    /// Frame in → keypoints out.
    pub total: StageStats,
}

/// Runs the estimators in turn on the same frame, one frame each per round, so that a noisy
/// machine slows them alike; returns each one's hot-loop percentiles (after `warmup` rounds).
///
/// # Errors
/// The first estimation error.
pub fn compare(
    estimators: &mut [&mut OnnxEstimator],
    frame: &OwnedImage,
    warmup: usize,
    frames: usize,
) -> Result<Vec<EngineTiming>, PoseError> {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(frames); estimators.len()];
    for round in 0..warmup + frames {
        for (est, times) in estimators.iter_mut().zip(samples.iter_mut()) {
            let t0 = std::time::Instant::now();
            est.estimate(frame.view())?;
            if round >= warmup {
                times.push(t0.elapsed());
            }
        }
    }
    Ok(estimators
        .iter()
        .zip(samples)
        .map(|(est, times)| EngineTiming {
            engine: est.engine().to_string(),
            total: StageStats::from_samples(&times),
        })
        .collect())
}
