//! Per-frame cost of the pose hot loop.
//!
//! Groups (the `tract-plain` and `fast` engines side by side where they differ, see `--engine`):
//! - `mjpeg`: a 640x480 and a 1280x720 MJPEG camera frame (a real picture, JPEG quality 85)
//!   decoded to RGB into a reused frame by posture's decoder (zune-jpeg); with
//!   `--features bench-mozjpeg` also by nokhwa's own decoder (mozjpeg, which posture no longer
//!   builds: it needs nasm), for comparison.
//! - `letterbox`: a 640x480 and a 1280x720 RGB frame into Lightning's 192x192 input: int32 NHWC
//!   (an original model file's input) or normalised f32 NCHW (the embedded prepared graph's); the
//!   resampling and conversion, no inference; `crop_nchw_f32`: the same from a square crop of
//!   0.6 x the frame's height (the tracking crop), its taps recomputed every frame as when the
//!   person moves.
//! - `depthwise`: all 24 depthwise layers of Lightning, then of Thunder (their real shapes,
//!   random weights):
//!   tract's own kernel vs posture's (`posture_avx512` and `posture_avx2` where the CPU has
//!   them, and the portable loops).
//! - `dense`: all 50 dense layers of Lightning, then of Thunder (the first 3x3 stride-2 layer
//!   and the 49 1x1 layers; real shapes, random weights, no clip): tract's convolution vs posture's
//!   (`posture_avx512`, `posture_avx2` where the CPU has them, and the portable loops).
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
use posture::pose::kernels::conv;
use posture::pose::kernels::dwconv;
use posture::pose::kernels::ops::{self, Clip, Geometry, Kernel};
use posture::pose::{
    Crop, Engine, Letterbox, ModelSpec, OnnxEstimator, OnnxOptions, PoseEstimator,
};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{EvalContext, EvalOp};

const ENGINES: [(&str, Engine); 2] = [("tract-plain", Engine::TractPlain), ("fast", Engine::Fast)];

fn letterbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("letterbox");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let frame = synthetic_frame(Resolution::new(w, h));
        let lb = Letterbox::new(frame.resolution(), 192);
        let mut out = vec![0i32; 192 * 192 * 3];
        let mut planar = vec![0f32; 192 * 192 * 3];
        g.throughput(Throughput::Elements(u64::from(w * h)));
        g.bench_with_input(
            BenchmarkId::new("nhwc_i32", format!("{w}x{h}")),
            &frame,
            |b, frame| b.iter(|| lb.fill_rgb_i32(black_box(frame.view()), &mut out)),
        );
        g.bench_with_input(
            BenchmarkId::new("nchw_f32", format!("{w}x{h}")),
            &frame,
            |b, frame| {
                b.iter(|| {
                    lb.fill_planar_f32(black_box(frame.view()), 1.0 / 127.5, 1.0, &mut planar)
                })
            },
        );
        let side = h * 3 / 5;
        let crop = Crop {
            x0: (w / 3) as i32,
            y0: (h / 5) as i32,
            side,
        };
        let mut cropped = Letterbox::with_crop(frame.resolution(), 192, None);
        g.bench_with_input(
            BenchmarkId::new("crop_nchw_f32", format!("{w}x{h}")),
            &frame,
            |b, frame| {
                b.iter(|| {
                    cropped.refit(frame.resolution(), Some(black_box(crop)));
                    cropped.fill_planar_f32(black_box(frame.view()), 1.0 / 127.5, 1.0, &mut planar)
                })
            },
        );
    }
    g.finish();
}

/// A camera-like MJPEG frame of `w`x`h`: the demo clip's first picture resized, JPEG quality 85.
fn mjpeg_frame(w: u32, h: u32) -> Vec<u8> {
    use posture::source::decode::{PixelLayout, decode_into};
    use posture::source::mjpeg::DEMO_CLIP;
    let end = DEMO_CLIP
        .windows(2)
        .position(|p| p == [0xFF, 0xD9])
        .map_or(DEMO_CLIP.len(), |i| i + 2);
    let mut first = posture::frame::Frame::default();
    decode_into(
        PixelLayout::Mjpeg,
        Resolution::new(1, 1),
        &DEMO_CLIP[..end],
        &mut first,
    )
    .unwrap_or_else(|e| panic!("the demo clip decodes: {e}"));
    let res = first.resolution();
    let img = image::RgbImage::from_raw(res.width, res.height, first.rgb().to_vec())
        .unwrap_or_else(|| panic!("a whole frame"));
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .unwrap_or_else(|e| panic!("encodes: {e}"));
    jpeg
}

fn mjpeg(c: &mut Criterion) {
    use posture::source::decode::{PixelLayout, decode_into};
    let mut g = c.benchmark_group("mjpeg");
    for (w, h) in [(640u32, 480u32), (1280, 720)] {
        let jpeg = mjpeg_frame(w, h);
        let res = Resolution::new(w, h);
        g.throughput(Throughput::Elements(u64::from(w * h)));
        let mut frame = posture::frame::Frame::default();
        g.bench_with_input(
            BenchmarkId::new("posture", format!("{w}x{h}")),
            &jpeg,
            |b, jpeg| b.iter(|| decode_into(PixelLayout::Mjpeg, res, black_box(jpeg), &mut frame)),
        );
        #[cfg(feature = "bench-mozjpeg")]
        {
            use nokhwa::pixel_format::RgbFormat;
            let buffer = nokhwa::Buffer::new(
                nokhwa::utils::Resolution::new(w, h),
                &jpeg,
                nokhwa::utils::FrameFormat::MJPEG,
            );
            let mut out = vec![0u8; (w * h * 3) as usize];
            g.bench_function(
                BenchmarkId::new("nokhwa_mozjpeg", format!("{w}x{h}")),
                |b| b.iter(|| buffer.decode_image_to_buffer::<RgbFormat>(black_box(&mut out))),
            );
        }
    }
    g.finish();
}

fn estimator(spec: ModelSpec, engine: Engine) -> OnnxEstimator {
    let options = OnnxOptions {
        engine,
        ..OnnxOptions::default()
    };
    OnnxEstimator::load(&spec, &options).unwrap_or_else(|e| panic!("bundled model loads: {e}"))
}

/// (channels, input side, stride) of Lightning's 24 depthwise layers, in graph order.
const LIGHTNING_DEPTHWISE: [(usize, usize, usize); 24] = [
    (32, 96, 1),
    (96, 96, 2),
    (144, 48, 1),
    (144, 48, 2),
    (192, 24, 1),
    (192, 24, 1),
    (192, 24, 2),
    (384, 12, 1),
    (384, 12, 1),
    (384, 12, 1),
    (384, 12, 1),
    (576, 12, 1),
    (576, 12, 1),
    (576, 12, 2),
    (960, 6, 1),
    (960, 6, 1),
    (960, 6, 1),
    (64, 12, 1),
    (32, 24, 1),
    (24, 48, 1),
    (24, 48, 1),
    (24, 48, 1),
    (24, 48, 1),
    (24, 48, 1),
];

fn depthwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("depthwise");
    g.sample_size(30);
    for (model, shapes) in [
        ("lightning", &LIGHTNING_DEPTHWISE),
        ("thunder", &THUNDER_DEPTHWISE),
    ] {
        depthwise_model(&mut g, model, shapes);
    }
    g.finish();
}

fn depthwise_model(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    model: &str,
    shapes: &[(usize, usize, usize)],
) {
    struct Layer {
        g: Geometry,
        input: Vec<f32>,
        weights: Vec<f32>,
        bias: Vec<f32>,
        output: Vec<f32>,
        tract: Arc<TypedSimplePlan>,
        tract_input: TValue,
    }
    let mut layers: Vec<Layer> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(ch, side, stride))| {
            let pads = if stride == 1 {
                [1, 1, 1, 1]
            } else {
                [0, 0, 1, 1]
            };
            let g = Geometry {
                channels: ch,
                in_hw: (side, side),
                kernel: (3, 3),
                stride: (stride, stride),
                pads,
            };
            let (ho, wo) = g.out_hw().unwrap_or_else(|| panic!("layer {i} fits"));
            let value = |k: usize| ((k * 7919 + i) % 1000) as f32 / 500.0 - 1.0;
            let input: Vec<f32> = (0..ch * side * side).map(value).collect();
            let weights: Vec<f32> = (0..ch * 9).map(|k| value(k + 3)).collect();
            let bias: Vec<f32> = (0..ch).map(|k| value(k + 5)).collect();
            let tract = ops::tract_conv_plan(&g, ch, ch, &weights, &bias)
                .unwrap_or_else(|e| panic!("tract builds layer {i}: {e}"));
            let tract_input = Tensor::from_shape(&[1, ch, side, side], &input)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_tvalue();
            Layer {
                g,
                input,
                weights,
                bias,
                output: vec![0.0; ch * ho * wo],
                tract,
                tract_input,
            }
        })
        .collect();
    g.bench_function(format!("{model}_24_layers/tract"), |b| {
        b.iter(|| {
            for l in &layers {
                black_box(
                    l.tract
                        .run(tvec![l.tract_input.clone()])
                        .unwrap_or_else(|e| panic!("{e}")),
                );
            }
        })
    });
    for (name, kernel) in [
        ("posture_portable", Kernel::Portable),
        ("posture_avx2", Kernel::Avx2Fma),
        ("posture_avx512", Kernel::Avx512),
        ("posture_neon", Kernel::Neon),
    ] {
        if !kernel.supported() {
            continue;
        }
        g.bench_function(format!("{model}_24_layers/{name}"), |b| {
            b.iter(|| {
                for l in layers.iter_mut() {
                    dwconv::depthwise(
                        kernel,
                        &l.g,
                        &l.input,
                        &l.weights,
                        &l.bias,
                        Clip::new(0.0, 6.0),
                        &mut l.output,
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                }
            })
        });
    }
}

/// (output channels, input channels, input side) of Lightning's 49 1x1 layers, in graph order;
/// the 50th dense layer, the first (3x3, stride 2 of the 3-channel image), is added in `dense`.
const LIGHTNING_1X1: [(usize, usize, usize); 49] = [
    (16, 32, 96),
    (96, 16, 96),
    (24, 96, 48),
    (144, 24, 48),
    (24, 144, 48),
    (144, 24, 48),
    (32, 144, 24),
    (192, 32, 24),
    (32, 192, 24),
    (192, 32, 24),
    (32, 192, 24),
    (192, 32, 24),
    (64, 192, 12),
    (384, 64, 12),
    (64, 384, 12),
    (384, 64, 12),
    (64, 384, 12),
    (384, 64, 12),
    (64, 384, 12),
    (384, 64, 12),
    (96, 384, 12),
    (576, 96, 12),
    (96, 576, 12),
    (576, 96, 12),
    (96, 576, 12),
    (576, 96, 12),
    (160, 576, 6),
    (960, 160, 6),
    (160, 960, 6),
    (960, 160, 6),
    (160, 960, 6),
    (960, 160, 6),
    (320, 960, 6),
    (1280, 320, 6),
    (64, 1280, 6),
    (64, 64, 12),
    (32, 64, 12),
    (32, 32, 24),
    (24, 32, 24),
    (24, 24, 48),
    (24, 24, 48),
    (96, 24, 48),
    (34, 96, 48),
    (96, 24, 48),
    (34, 96, 48),
    (96, 24, 48),
    (17, 96, 48),
    (96, 24, 48),
    (1, 96, 48),
];

/// (channels, input side, stride) of Thunder's 24 depthwise layers, in graph order.
const THUNDER_DEPTHWISE: [(usize, usize, usize); 24] = [
    (56, 128, 1),
    (192, 128, 2),
    (240, 64, 1),
    (240, 64, 2),
    (336, 32, 1),
    (336, 32, 1),
    (336, 32, 2),
    (672, 16, 1),
    (672, 16, 1),
    (672, 16, 1),
    (672, 16, 1),
    (1008, 16, 1),
    (1008, 16, 1),
    (1008, 16, 2),
    (1680, 8, 1),
    (1680, 8, 1),
    (1680, 8, 1),
    (64, 16, 1),
    (32, 32, 1),
    (24, 64, 1),
    (24, 64, 1),
    (24, 64, 1),
    (24, 64, 1),
    (24, 64, 1),
];

/// (output channels, input channels, input side) of Thunder's 49 1x1 layers, in graph order.
const THUNDER_1X1: [(usize, usize, usize); 49] = [
    (32, 56, 128),
    (192, 32, 128),
    (40, 192, 64),
    (240, 40, 64),
    (40, 240, 64),
    (240, 40, 64),
    (56, 240, 32),
    (336, 56, 32),
    (56, 336, 32),
    (336, 56, 32),
    (56, 336, 32),
    (336, 56, 32),
    (112, 336, 16),
    (672, 112, 16),
    (112, 672, 16),
    (672, 112, 16),
    (112, 672, 16),
    (672, 112, 16),
    (112, 672, 16),
    (672, 112, 16),
    (168, 672, 16),
    (1008, 168, 16),
    (168, 1008, 16),
    (1008, 168, 16),
    (168, 1008, 16),
    (1008, 168, 16),
    (280, 1008, 8),
    (1680, 280, 8),
    (280, 1680, 8),
    (1680, 280, 8),
    (280, 1680, 8),
    (1680, 280, 8),
    (560, 1680, 8),
    (1280, 560, 8),
    (64, 1280, 8),
    (64, 112, 16),
    (32, 64, 16),
    (32, 56, 32),
    (24, 32, 32),
    (24, 40, 64),
    (24, 24, 64),
    (96, 24, 64),
    (34, 96, 64),
    (96, 24, 64),
    (34, 96, 64),
    (96, 24, 64),
    (17, 96, 64),
    (96, 24, 64),
    (1, 96, 64),
];

fn dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("dense");
    g.sample_size(20);
    for (model, first_filters, side, shapes) in [
        ("lightning", 32, 192, &LIGHTNING_1X1),
        ("thunder", 56, 256, &THUNDER_1X1),
    ] {
        dense_model(&mut g, model, first_filters, side, shapes);
    }
    g.finish();
}

fn dense_model(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    model: &str,
    first_filters: usize,
    side: usize,
    shapes: &[(usize, usize, usize)],
) {
    struct Layer {
        ops: Vec<(Kernel, conv::Conv2d)>,
        tract: Arc<TypedSimplePlan>,
        input: TValue,
    }
    let first = (
        first_filters,
        Geometry {
            channels: 3,
            in_hw: (side, side),
            kernel: (3, 3),
            stride: (2, 2),
            pads: [0, 0, 1, 1],
        },
    );
    let one_by_one = shapes.iter().map(|&(co, ci, side)| {
        let g = Geometry {
            channels: ci,
            in_hw: (side, side),
            kernel: (1, 1),
            stride: (1, 1),
            pads: [0; 4],
        };
        (co, g)
    });
    let layers: Vec<Layer> = std::iter::once(first)
        .chain(one_by_one)
        .enumerate()
        .map(|(i, (co, g))| {
            let (ci, (h, w), (kh, kw)) = (g.channels, g.in_hw, g.kernel);
            let value = |k: usize| ((k * 7919 + i) % 1000) as f32 / 500.0 - 1.0;
            let input: Vec<f32> = (0..ci * h * w).map(value).collect();
            let weights: Vec<f32> = (0..co * ci * kh * kw).map(|k| value(k + 3)).collect();
            let bias: Vec<f32> = (0..co).map(|k| value(k + 5)).collect();
            let tract = ops::tract_conv_plan(&g, co, 1, &weights, &bias)
                .unwrap_or_else(|e| panic!("tract builds layer {i}: {e}"));
            let ops = Kernel::ALL
                .into_iter()
                .filter(|k| k.supported())
                .map(|k| {
                    let op = conv::Conv2d::new(k, g, co, &weights, &bias, Clip::NONE, false)
                        .unwrap_or_else(|e| panic!("layer {i}: {e}"));
                    (k, op)
                })
                .collect();
            let input = Tensor::from_shape(&[1, ci, h, w], &input)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_tvalue();
            Layer { ops, tract, input }
        })
        .collect();
    g.bench_function(format!("{model}_50_layers/tract"), |b| {
        b.iter(|| {
            for l in &layers {
                black_box(
                    l.tract
                        .run(tvec![l.input.clone()])
                        .unwrap_or_else(|e| panic!("{e}")),
                );
            }
        })
    });
    for (k, name) in [
        (Kernel::Portable, "posture_portable"),
        (Kernel::Avx2Fma, "posture_avx2"),
        (Kernel::Avx512, "posture_avx512"),
        (Kernel::Neon, "posture_neon"),
    ] {
        if !k.supported() {
            continue;
        }
        g.bench_function(format!("{model}_50_layers/{name}"), |b| {
            b.iter(|| {
                for l in &layers {
                    for (_, op) in l.ops.iter().filter(|(kernel, _)| *kernel == k) {
                        black_box(
                            op.eval(&EvalContext::out_of_plan(), tvec![l.input.clone()])
                                .unwrap_or_else(|e| panic!("{e}")),
                        );
                    }
                }
            })
        });
    }
}

fn inference(c: &mut Criterion) {
    let mut g = c.benchmark_group("inference");
    g.sample_size(30);
    let frame = synthetic_frame(Resolution::new(640, 480));
    for (name, spec) in [
        ("lightning", ModelSpec::Lightning),
        ("thunder", ModelSpec::Thunder),
    ] {
        for (engine_name, engine) in ENGINES {
            let mut est = estimator(spec.clone(), engine);
            est.preprocess(frame.view())
                .unwrap_or_else(|e| panic!("{e}"));
            g.bench_function(format!("{name}/{engine_name}"), |b| b.iter(|| est.infer()));
        }
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let frame = synthetic_frame(Resolution::new(640, 480));
    let mut est = estimator(ModelSpec::Lightning, Engine::Fast);
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
        for (engine_name, engine) in ENGINES {
            let mut est = estimator(spec.clone(), engine);
            g.bench_function(format!("{name}/{engine_name}"), |b| {
                b.iter(|| est.estimate(black_box(frame.view())).map(|e| e.pose))
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches, mjpeg, letterbox, depthwise, dense, inference, decode, hot_loop
);
criterion_main!(benches);
