//! MoveNet SinglePose through tract-onnx.
//!
//! The model is loaded and optimised once for its fixed input shape; the runnable state and the
//! input tensor are kept and reused, so a frame costs no allocation in this code after the first
//! (tract allocates its own intermediate tensors).

use std::sync::Arc;
use std::time::Instant;

use tract_linalg::multithread::Executor;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::runtime::RunOptions;

use super::PoseError;
use super::kernels::choice::{self, KernelSummary, LayerChoice};
use super::kernels::ops::{Backend, Kernel};
use super::letterbox::{Crop, Letterbox};
use super::model::{Engine, ModelSpec};
use super::{Estimate, Joint, Keypoint, Pose, PoseEstimator, StageTimings};
use crate::frame::ImageView;

/// How to run the model.
#[derive(Clone, Debug)]
pub struct OnnxOptions {
    /// Threads for tract's kernels. 1 (the default) runs on the calling thread only, which gives
    /// the most predictable latency; more hands tract a rayon pool of that size.
    pub threads: usize,
    /// Which graph of a bundled model runs: the prepared one with posture's kernels (default) or
    /// the original one with tract alone.
    pub engine: Engine,
    /// The kernel family posture's ops run: `None` (the default) for the one the
    /// `POSTURE_KERNELS` environment variable names, else the best this CPU runs.
    pub kernels: Option<Kernel>,
    /// With the `fast` engine, whether each layer runs on posture's op or tract's by their
    /// measured speed (the default), or on posture's always.
    pub layers: LayerChoice,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            engine: Engine::Fast,
            kernels: None,
            layers: LayerChoice::Measured,
        }
    }
}

/// The normalisation MoveNet's original graph applies to its 0..255 input (`Mul` by the f32 with
/// bits `0x3c008000`, about 1/127.5, then `Sub 1`); prepared graphs expect it done already.
const INPUT_SCALE: f32 = f32::from_bits(0x3c00_8000);
const INPUT_OFFSET: f32 = 1.0;

/// The two input layouts posture can feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// The original graph: int32 `[1, S, S, 3]`, 0..255.
    NhwcI32,
    /// A prepared graph: f32 `[1, 3, S, S]`, normalised.
    NchwF32,
}

/// Time spent in one kind of tract op, or in one node, per run of the network.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OpProfile {
    /// tract's op name, e.g. `DepthWiseConv`.
    pub op: String,
    /// With a profile by node: the node's name in the optimised graph and what tract says of
    /// its op (shapes, kernel, tile), e.g. `conv2d_3 [..]`; `None` in a profile by kind of op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Milliseconds per run.
    pub ms_per_run: f64,
    /// Nodes of this op in the optimised graph (1 in a profile by node).
    pub nodes: usize,
}

/// MoveNet SinglePose (Lightning or Thunder) run by tract on the CPU.
pub struct OnnxEstimator {
    name: String,
    sha256: String,
    size: u32,
    layout: Layout,
    engine: Engine,
    kernels: KernelSummary,
    state: TypedSimpleState,
    // Invariant: shape and type as `layout` says. Shared with tract only during `infer`, so it is
    // exclusively ours (and writable in place) between runs.
    input: Arc<Tensor>,
    letterbox: Option<Letterbox>,
    // (y, x, score) per joint, normalised to the padded square.
    raw: [[f32; 3]; Joint::COUNT],
}

fn invalid(name: &str, e: impl std::fmt::Display) -> PoseError {
    PoseError::ModelInvalid {
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

fn square_input_side(model: &TypedModel) -> Result<(u32, Layout), String> {
    let fact = model.input_fact(0).map_err(|e| e.to_string())?;
    let shape: Vec<usize> = fact
        .shape
        .as_concrete()
        .ok_or("input shape is not fixed")?
        .to_vec();
    let (side, layout) = match (fact.datum_type, shape.as_slice()) {
        (dt, &[1, h, w, 3]) if dt == i32::datum_type() && h == w => (h, Layout::NhwcI32),
        (dt, &[1, 3, h, w]) if dt == f32::datum_type() && h == w => (h, Layout::NchwF32),
        (dt, _) => {
            return Err(format!(
                "input is {dt:?} {shape:?}, expected int32 [1, S, S, 3] or (prepared) float [1, 3, S, S]"
            ));
        }
    };
    let out = model.output_fact(0).map_err(|e| e.to_string())?;
    let out_shape = out.shape.as_concrete().ok_or("output shape is not fixed")?;
    if out_shape != [1, 1, 17, 3] {
        return Err(format!(
            "output shape is {out_shape:?}, expected [1, 1, 17, 3]"
        ));
    }
    Ok((
        u32::try_from(side).map_err(|_| "input side too large".to_owned())?,
        layout,
    ))
}

/// tract-onnx that reads posture's ops in prepared graphs, run by posture's kernels (`fast`) or
/// as the tract ops they were fused from (`tract-plain`).
fn onnx_with_posture_ops(engine: Engine) -> tract_onnx::Onnx {
    let backend = match engine {
        Engine::Fast | Engine::FastFused => Backend::Posture,
        Engine::TractPlain => Backend::Tract,
    };
    let mut onnx = onnx();
    super::kernels::dwconv::register(&mut onnx.op_register, backend);
    super::kernels::conv::register(&mut onnx.op_register, backend);
    onnx
}

impl OnnxEstimator {
    /// Loads and optimises `spec` for its fixed input shape.
    ///
    /// # Errors
    /// [`PoseError::ModelRead`] for an unreadable file, [`PoseError::ModelInvalid`] for bytes that
    /// are not a MoveNet SinglePose ONNX model, [`PoseError::ThreadPool`] when the pool for
    /// `threads > 1` cannot start, [`PoseError::Kernels`] when the kernel family asked for
    /// (`options.kernels` or `POSTURE_KERNELS`) is unknown or this CPU cannot run it.
    pub fn load(spec: &ModelSpec, options: &OnnxOptions) -> Result<Self, PoseError> {
        let family = match options.kernels {
            Some(k) => k.require(),
            None => Kernel::from_env(),
        }?;
        let model = spec.bytes()?;
        let name = model.name;
        // Each of posture's layers is built for `family`, on posture's op or tract's as
        // `options.layers` says (see `kernels::choice`); the fused-block rewrite runs after.
        let (typed, kernels) = choice::while_loading(family, options.layers, || {
            onnx_with_posture_ops(options.engine)
                .model_for_read(&mut &*model.bytes)
                .and_then(|m| m.into_typed())
                .and_then(|mut m| {
                    use super::kernels::fusion::{Fuse, fuse_inverted_residuals};
                    if options.engine != Engine::TractPlain {
                        super::kernels::resize::rewrite_resizes(&mut m)?;
                        super::kernels::outer::rewrite_outer_subs(&mut m)?;
                        super::kernels::outer::rewrite_argmaxes(&mut m)?;
                    }
                    match options.engine {
                        Engine::FastFused => {
                            fuse_inverted_residuals(&mut m, Fuse::All)?;
                        }
                        Engine::Fast if choice::measuring() => {
                            fuse_inverted_residuals(&mut m, Fuse::WhereFaster)?;
                        }
                        _ => {}
                    }
                    Ok(m)
                })
        });
        let typed = typed.map_err(|e| invalid(&name, format!("{e:#}")))?;
        let (size, layout) =
            square_input_side(&typed).map_err(|e| invalid(&name, format!("{e:#}")))?;
        let optimized = typed
            .into_optimized()
            .map_err(|e| invalid(&name, format!("{e:#}")))?;
        let mut run_options = RunOptions::default();
        if options.threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(options.threads)
                .thread_name(|i| format!("posture-tract-{i}"))
                .build()
                .map_err(|e| PoseError::ThreadPool {
                    threads: options.threads,
                    reason: e.to_string(),
                })?;
            run_options.executor = Some(Executor::MultiThread(Arc::new(pool)));
        }
        let plan = optimized
            .into_runnable_with_options(&run_options)
            .map_err(|e| invalid(&name, format!("{e:#}")))?;
        let state = plan.spawn().map_err(|e| invalid(&name, format!("{e:#}")))?;
        let side = size as usize;
        let input = match layout {
            Layout::NhwcI32 => Tensor::zero::<i32>(&[1, side, side, 3]),
            Layout::NchwF32 => Tensor::zero::<f32>(&[1, 3, side, side]),
        }
        .map_err(|e| invalid(&name, e))?;
        Ok(Self {
            name,
            sha256: model.sha256,
            size,
            layout,
            engine: options.engine,
            kernels,
            state,
            input: Arc::new(input),
            letterbox: None,
            raw: [[0.0; 3]; Joint::COUNT],
        })
    }

    /// `lightning`, `thunder` or the model file's path.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// Hex sha256 of the model file.
    pub fn model_sha256(&self) -> &str {
        &self.sha256
    }

    /// The side of the model's square input in pixels (192 for Lightning, 256 for Thunder).
    pub fn input_size(&self) -> u32 {
        self.size
    }

    /// The letterbox used for the last frame, if any.
    pub fn letterbox(&self) -> Option<&Letterbox> {
        self.letterbox.as_ref()
    }

    /// Stage 1: letterbox `image` into the input tensor (reusing the taps while the frame size
    /// stays the same).
    ///
    /// # Errors
    /// A frame error when the image is unusable. When tract still holds the last input tensor
    /// (a graph that never consumes its input), this frame goes into a fresh one.
    pub fn preprocess(&mut self, image: ImageView<'_>) -> Result<(), PoseError> {
        self.preprocess_crop(image, None)
    }

    /// Stage 1 for the square `crop` of `image` (the whole frame for `None`): as
    /// [`OnnxEstimator::preprocess`], reading only the crop, at the same cost.
    ///
    /// # Errors
    /// As [`OnnxEstimator::preprocess`].
    pub fn preprocess_crop(
        &mut self,
        image: ImageView<'_>,
        crop: Option<Crop>,
    ) -> Result<(), PoseError> {
        let target = (image.resolution(), crop);
        match &mut self.letterbox {
            Some(lb) if (lb.resolution(), lb.crop()) == target => {}
            Some(lb) => lb.refit(image.resolution(), crop),
            None => {
                self.letterbox = Some(Letterbox::with_crop(image.resolution(), self.size, crop))
            }
        }
        let lb = self
            .letterbox
            .as_ref()
            .ok_or_else(|| PoseError::Inference("letterbox missing".into()))?;
        if Arc::get_mut(&mut self.input).is_none() {
            // tract still holds the last input: a graph whose output does not depend on its
            // input never consumes it. Write this frame into a fresh tensor instead.
            self.input = Arc::new(self.input.deep_clone());
        }
        let tensor = Arc::get_mut(&mut self.input)
            .ok_or_else(|| PoseError::Inference("input tensor still in use by the model".into()))?;
        let mut view = tensor
            .try_as_plain_ram_mut()
            .map_err(|e| PoseError::Inference(e.to_string()))?;
        let wrong = |e: TractError| PoseError::Inference(e.to_string());
        match self.layout {
            Layout::NhwcI32 => {
                lb.fill_rgb_i32(image, view.as_slice_mut::<i32>().map_err(wrong)?)?
            }
            Layout::NchwF32 => lb.fill_planar_f32(
                image,
                INPUT_SCALE,
                INPUT_OFFSET,
                view.as_slice_mut::<f32>().map_err(wrong)?,
            )?,
        }
        Ok(())
    }

    /// Stage 2: run the network on the current input.
    ///
    /// # Errors
    /// [`PoseError::Inference`] when tract fails.
    pub fn infer(&mut self) -> Result<(), PoseError> {
        let outputs = self
            .state
            .run(tvec![TValue::from_const(Arc::clone(&self.input))])
            .map_err(|e| PoseError::Inference(format!("{e:#}")))?;
        let out = outputs
            .first()
            .ok_or_else(|| PoseError::Inference("model gave no output".into()))?;
        let view = out
            .try_as_plain_ram()
            .map_err(|e| PoseError::Inference(e.to_string()))?;
        let values = view
            .as_slice::<f32>()
            .map_err(|e| PoseError::Inference(e.to_string()))?;
        if values.len() != Joint::COUNT * 3 {
            return Err(PoseError::Inference(format!(
                "model gave {} values, expected 51",
                values.len()
            )));
        }
        for (dst, src) in self.raw.iter_mut().zip(values.chunks_exact(3)) {
            dst.copy_from_slice(src);
        }
        Ok(())
    }

    /// Runs the network `runs` times on the current input, timing every node, and returns the
    /// time per run spent in each kind of op (tract's op names), or with `by_node` in each node,
    /// largest first. Slower than [`OnnxEstimator::infer`] by the timing overhead; for finding
    /// where the time goes. With a non-zero `idle`, each run comes after that long idle (a slow
    /// camera's gap between frames), so the profile is of cold runs.
    ///
    /// # Errors
    /// [`PoseError::Inference`] when tract fails.
    pub fn profile_ops(
        &mut self,
        runs: usize,
        by_node: bool,
        idle: std::time::Duration,
    ) -> Result<Vec<OpProfile>, PoseError> {
        // Time and calls per node id; named and grouped once, after the runs.
        let mut per_node: std::collections::BTreeMap<usize, (std::time::Duration, usize)> =
            Default::default();
        for _ in 0..runs {
            if !idle.is_zero() {
                std::thread::sleep(idle);
            }
            let input = tvec![TValue::from_const(Arc::clone(&self.input))];
            self.state
                .run_plan_with_eval(input, |ctx, op_state, node, inputs| {
                    let t0 = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    let entry = per_node.entry(node.id).or_default();
                    entry.0 += t0.elapsed();
                    entry.1 += 1;
                    out
                })
                .map_err(|e| PoseError::Inference(format!("{e:#}")))?;
        }
        let nodes = &self.state.model().nodes;
        let mut by_key: std::collections::BTreeMap<(String, Option<String>), _> =
            Default::default();
        for (id, (time, calls)) in per_node {
            let Some(node) = nodes.get(id) else { continue };
            let node_key = by_node.then(|| {
                let info = node.op.info().unwrap_or_default().join(", ");
                format!("{} [{info}]", node.name)
            });
            let entry: &mut (std::time::Duration, usize) = by_key
                .entry((node.op.name().to_string(), node_key))
                .or_default();
            entry.0 += time;
            entry.1 += calls;
        }
        let runs = runs.max(1);
        let mut profile: Vec<OpProfile> = by_key
            .into_iter()
            .map(|((op, node), (total, calls))| OpProfile {
                op,
                node,
                ms_per_run: total.as_secs_f64() * 1e3 / runs as f64,
                nodes: calls / runs,
            })
            .collect();
        profile.sort_by(|a, b| b.ms_per_run.total_cmp(&a.ms_per_run));
        Ok(profile)
    }

    /// The network's last output as it came: per joint `(y, x, score)`, y and x normalised to
    /// the padded square (0..1).
    pub fn raw_output(&self) -> &[[f32; 3]; Joint::COUNT] {
        &self.raw
    }

    /// Whose kernels run the prepared graph's convolutions (a graph without posture's ops runs on
    /// tract alone whatever the engine).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The kernel family posture's ops run and how many convolution layers run on them and on
    /// tract's ops (none of either for a graph without posture's ops).
    pub fn kernels(&self) -> KernelSummary {
        self.kernels
    }

    /// Stage 3: the last output as keypoints in the last frame's pixels.
    pub fn decode(&self) -> Pose {
        let mut pose = Pose::default();
        if let Some(lb) = &self.letterbox {
            for (k, &[y, x, score]) in pose.keypoints.iter_mut().zip(self.raw.iter()) {
                let (x_px, y_px) = lb.image_from_normalized(x, y);
                *k = Keypoint { x_px, y_px, score };
            }
        }
        pose
    }
}

impl OnnxEstimator {
    fn estimate_in(
        &mut self,
        image: ImageView<'_>,
        crop: Option<Crop>,
    ) -> Result<Estimate, PoseError> {
        let t0 = Instant::now();
        self.preprocess_crop(image, crop)?;
        let t1 = Instant::now();
        self.infer()?;
        let t2 = Instant::now();
        let pose = self.decode();
        let t3 = Instant::now();
        Ok(Estimate {
            pose,
            timings: StageTimings {
                letterbox: t1 - t0,
                inference: t2 - t1,
                decode: t3 - t2,
            },
        })
    }
}

impl PoseEstimator for OnnxEstimator {
    fn estimate(&mut self, image: ImageView<'_>) -> Result<Estimate, PoseError> {
        self.estimate_in(image, None)
    }

    /// Letterboxes the crop straight from the frame: no copy, the cost of the full frame.
    fn estimate_crop(&mut self, image: ImageView<'_>, crop: Crop) -> Result<Estimate, PoseError> {
        self.estimate_in(image, Some(crop))
    }
}
