//! Per-frame cost of the pose hot loop.
//!
//! Groups:
//! - `letterbox`: a 640x480 and a 1280x720 RGB frame into Lightning's 192x192 int32 input
//!   (the resampling and conversion, no inference).
//! - `inference`: the network alone on a prepared input, Lightning and Thunder, one thread.
//! - `decode`: the output tensor into keypoints in frame pixels.
//! - `hot_loop`: frame in → keypoints out (letterbox + inference + decode) for a 640x480 frame.
//!
//! Read the `time` column as milliseconds per frame on this machine; compare groups from the
//! same run only (these machines are noisy). `posture bench` measures the same stages as
//! percentiles.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use posture::bench::synthetic_frame;
use posture::frame::Resolution;
use posture::pose::{Letterbox, ModelSpec, OnnxEstimator, OnnxOptions, PoseEstimator};

fn letterbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("letterbox");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let frame = synthetic_frame(Resolution::new(w, h));
        let lb = Letterbox::new(frame.resolution(), 192);
        let mut out = vec![0i32; 192 * 192 * 3];
        g.throughput(Throughput::Elements(u64::from(w * h)));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{w}x{h}")),
            &frame,
            |b, frame| b.iter(|| lb.fill_rgb_i32(black_box(frame.view()), &mut out)),
        );
    }
    g.finish();
}

fn estimator(spec: ModelSpec) -> OnnxEstimator {
    OnnxEstimator::load(&spec, &OnnxOptions::default())
        .unwrap_or_else(|e| panic!("bundled model loads: {e}"))
}

fn inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("inference");
    g.sample_size(30);
    let frame = synthetic_frame(Resolution::new(640, 480));
    for (name, spec) in [
        ("lightning", ModelSpec::Lightning),
        ("thunder", ModelSpec::Thunder),
    ] {
        let mut est = estimator(spec);
        est.preprocess(frame.view())
            .unwrap_or_else(|e| panic!("{e}"));
        g.bench_function(name, |b| b.iter(|| est.infer()));
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let frame = synthetic_frame(Resolution::new(640, 480));
    let mut est = estimator(ModelSpec::Lightning);
    est.estimate(frame.view()).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("decode", |b| b.iter(|| black_box(est.decode())));
}

fn hot_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_loop");
    g.sample_size(30);
    let frame = synthetic_frame(Resolution::new(640, 480));
    for (name, spec) in [
        ("lightning_640x480", ModelSpec::Lightning),
        ("thunder_640x480", ModelSpec::Thunder),
    ] {
        let mut est = estimator(spec);
        g.bench_function(name, |b| {
            b.iter(|| est.estimate(black_box(frame.view())).map(|e| e.pose))
        });
    }
    g.finish();
}

criterion_group!(benches, letterbox, inference, decode, hot_loop);
criterion_main!(benches);
