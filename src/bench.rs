//! `posture bench`: per-stage latency percentiles of the pose hot loop on this machine.

use std::time::Duration;

use serde::Serialize;

use crate::error::PoseError;
use crate::frame::{OwnedImage, PixelFormat, Resolution};
use crate::pose::{OnnxEstimator, PoseEstimator};

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
        writeln!(
            f,
            "{:<10} {:>9} {:>9} {:>9} {:>9}",
            "stage", "p50 ms", "p95 ms", "p99 ms", "mean ms"
        )?;
        for (name, s) in [
            ("letterbox", self.letterbox),
            ("inference", self.inference),
            ("decode", self.decode),
            ("total", self.total),
            ("render", self.render),
        ] {
            writeln!(
                f,
                "{name:<10} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
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

/// Runs `warmup` then `frames` estimates on `frame` and summarises each stage.
///
/// # Errors
/// When inference fails.
pub fn run(
    estimator: &mut OnnxEstimator,
    frame: &OwnedImage,
    threads: usize,
    warmup: usize,
    frames: usize,
) -> Result<BenchReport, PoseError> {
    for _ in 0..warmup {
        estimator.estimate(frame.view())?;
    }
    let mut stages: [Vec<Duration>; 5] = Default::default();
    let mut live_frame = crate::frame::Frame::default();
    live_frame
        .resize(frame.resolution())
        .copy_from_slice(&frame.to_rgb8());
    let mut renderer = crate::render::Renderer::new(960, 720);
    let hud = crate::render::Hud {
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
    for _ in 0..frames {
        let e = estimator.estimate(frame.view())?;
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
    let r = frame.resolution();
    Ok(BenchReport {
        model: estimator.model_name().to_owned(),
        engine: estimator.engine().to_string(),
        input_size_px: estimator.input_size(),
        threads,
        width_px: r.width,
        height_px: r.height,
        frames,
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
        if let [a, b] = self.engines.as_slice() {
            writeln!(
                f,
                "{} / {} at p50: {:.2}",
                a.engine,
                b.engine,
                a.total.p50_ms / b.total.p50_ms.max(f64::MIN_POSITIVE)
            )?;
        }
        Ok(())
    }
}

/// One engine's hot-loop time in an interleaved comparison.
#[derive(Clone, Debug, Serialize)]
pub struct EngineTiming {
    /// `fast` or `tract-plain`.
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
