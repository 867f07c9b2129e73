//! What posture's two tract ops share ([`super::conv`]'s dense and [`super::dwconv`]'s depthwise
//! convolution): the CPU kernel choice and its L2 size, a layer's geometry, the ONNX attributes
//! both take (`strides`, `pads`, `clip_min`/`clip_max`), and reading the graph while wiring them.

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Geometry of one convolution layer's input (NCHW, batch 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Input channels (= output channels for a depthwise layer).
    pub channels: usize,
    /// Input height and width.
    pub in_hw: (usize, usize),
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Vertical and horizontal stride (≥ 1).
    pub stride: (usize, usize),
    /// Zero padding: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Geometry {
    /// Everything of the geometry a layer's cost depends on, as the per-layer choice keys its
    /// timings (`c32 96x96 k3x3 s2x2 p[0, 0, 1, 1]`).
    pub fn shape_key(&self) -> String {
        format!(
            "c{} {}x{} k{}x{} s{}x{} p{:?}",
            self.channels,
            self.in_hw.0,
            self.in_hw.1,
            self.kernel.0,
            self.kernel.1,
            self.stride.0,
            self.stride.1,
            self.pads
        )
    }

    /// Output height and width, or `None` when the kernel does not fit the padded input.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let (h, w) = self.in_hw;
        let hp = h + self.pads[0] + self.pads[2];
        let wp = w + self.pads[1] + self.pads[3];
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || hp < kh || wp < kw {
            return None;
        }
        Some(((hp - kh) / sh + 1, (wp - kw) / sw + 1))
    }

    /// The input tensor's shape, `[1, C, H, W]`.
    pub fn input_shape(&self) -> [usize; 4] {
        [1, self.channels, self.in_hw.0, self.in_hw.1]
    }

    /// The output tensor's shape with `filters` output channels, `[1, filters, Ho, Wo]`.
    ///
    /// # Errors
    /// When the kernel does not fit the padded input.
    pub fn output_shape(&self, filters: usize) -> TractResult<[usize; 4]> {
        let (ho, wo) = self
            .out_hw()
            .ok_or_else(|| format_err!("kernel larger than its padded input: {self:?}"))?;
        Ok([1, filters, ho, wo])
    }
}

/// Which inner loop runs: a kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust loops (auto-vectorised for the build's baseline CPU).
    Portable,
    /// AVX2 + FMA intrinsics (x86-64 only; chosen when the CPU has both).
    Avx2Fma,
    /// AVX-512F intrinsics where posture has them (the dense convolution, small depthwise
    /// planes), AVX2 + FMA elsewhere (x86-64 only; chosen when the CPU has all three).
    Avx512,
    /// NEON intrinsics (aarch64 only, where NEON is always present): the 3x3 depthwise planes
    /// and the dense convolution's tiles.
    Neon,
}

/// The environment variable that forces a kernel family (`portable`, `avx2`, `avx512`, `neon`)
/// instead of the best one this CPU runs.
pub const KERNELS_ENV: &str = "POSTURE_KERNELS";

/// A kernel family that cannot run: unknown, or not on this CPU.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// Not a family name.
    #[error("unknown kernel family `{0}`: expected portable, avx2, avx512 or neon")]
    Unknown(String),
    /// This CPU lacks the family's instructions.
    #[error("this CPU cannot run posture's {family} kernels (it runs: {available})")]
    Unsupported {
        /// The family asked for.
        family: &'static str,
        /// The families this CPU runs, comma-separated.
        available: String,
    },
}

impl Kernel {
    /// The best kernel this CPU can run.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                if std::is_x86_feature_detected!("avx512f") {
                    return Kernel::Avx512;
                }
                return Kernel::Avx2Fma;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon") {
                return Kernel::Neon;
            }
        }
        Kernel::Portable
    }

    /// Whether this CPU can run `self`.
    pub fn supported(self) -> bool {
        match (self, Kernel::detect()) {
            (Kernel::Portable, _) | (Kernel::Avx2Fma | Kernel::Avx512, Kernel::Avx512) => true,
            (Kernel::Avx2Fma, best) => best == Kernel::Avx2Fma,
            (Kernel::Neon, best) => best == Kernel::Neon,
            (Kernel::Avx512, _) => false,
        }
    }

    /// Every kernel, simplest first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Portable,
        Kernel::Avx2Fma,
        Kernel::Avx512,
        Kernel::Neon,
    ];

    /// The family's name as [`KERNELS_ENV`] and `--kernels` take it: `portable`, `avx2`,
    /// `avx512` or `neon`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Avx2Fma => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
        }
    }

    /// `self` if this CPU runs it.
    ///
    /// # Errors
    /// [`KernelError::Unsupported`], naming the families it does run.
    pub fn require(self) -> Result<Self, KernelError> {
        if self.supported() {
            return Ok(self);
        }
        let available: Vec<&str> = Kernel::ALL
            .into_iter()
            .filter(|k| k.supported())
            .map(Kernel::name)
            .collect();
        Err(KernelError::Unsupported {
            family: self.name(),
            available: available.join(", "),
        })
    }

    /// The family [`KERNELS_ENV`] forces (checked against this CPU), or [`Kernel::detect`]'s
    /// when it is unset or empty.
    ///
    /// # Errors
    /// When the variable names no family, or one this CPU cannot run.
    pub fn from_env() -> Result<Self, KernelError> {
        match std::env::var(KERNELS_ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse::<Kernel>()?.require(),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Kernel::detect()),
            Err(std::env::VarError::NotUnicode(v)) => {
                Err(KernelError::Unknown(v.to_string_lossy().into_owned()))
            }
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Kernel {
    type Err = KernelError;

    /// A family's [`Kernel::name`] (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Kernel::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| KernelError::Unknown(s.to_owned()))
    }
}

/// Whose code runs posture's nodes in a prepared graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// posture's own kernels (the `fast` engine).
    Posture,
    /// tract's own ops, the chain the node was fused from (the `tract-plain` engine).
    Tract,
}

/// The range every output of a layer is clamped to (ReLU6 is 0..6, ReLU 0..+inf, none
/// -inf..+inf). Compared by bits, so the ops that hold one are `Eq`.
#[derive(Clone, Copy, Debug)]
pub struct Clip {
    /// Lower bound.
    pub lo: f32,
    /// Upper bound.
    pub hi: f32,
}

impl Clip {
    /// No clamping.
    pub const NONE: Clip = Clip {
        lo: f32::NEG_INFINITY,
        hi: f32::INFINITY,
    };

    /// Clamp to `lo..=hi`.
    pub const fn new(lo: f32, hi: f32) -> Self {
        Clip { lo, hi }
    }
}

impl PartialEq for Clip {
    fn eq(&self, other: &Self) -> bool {
        self.lo.to_bits() == other.lo.to_bits() && self.hi.to_bits() == other.hi.to_bits()
    }
}

impl Eq for Clip {}

/// The attributes `models/prepare.py` writes on both ops, and the kernel chosen for this CPU.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ConvAttrs {
    pub(crate) strides: (usize, usize),
    pub(crate) pads: [usize; 4],
    pub(crate) clip: Clip,
    pub(crate) kernel: Kernel,
}

impl ConvAttrs {
    /// The node's `strides` (default 1, 1), `pads` (default 0s) and `clip_min`/`clip_max`
    /// (both or neither).
    pub(crate) fn parse(node: &NodeProto) -> TractResult<Self> {
        let strides = node
            .get_attr_opt_tvec::<usize>("strides")?
            .unwrap_or_else(|| tvec!(1, 1));
        let pads = node
            .get_attr_opt_tvec::<usize>("pads")?
            .unwrap_or_else(|| tvec!(0, 0, 0, 0));
        ensure!(
            strides.len() == 2 && pads.len() == 4,
            "strides {strides:?} / pads {pads:?}"
        );
        let clip = match (
            node.get_attr_opt::<f32>("clip_min")?,
            node.get_attr_opt::<f32>("clip_max")?,
        ) {
            (Some(lo), Some(hi)) => Clip::new(lo, hi),
            (None, None) => Clip::NONE,
            _ => bail!("clip_min and clip_max come together"),
        };
        Ok(Self {
            strides: (strides[0], strides[1]),
            pads: [pads[0], pads[1], pads[2], pads[3]],
            clip,
            kernel: Kernel::detect(),
        })
    }

    /// The geometry of a layer of these attributes.
    pub(crate) fn geometry(
        &self,
        channels: usize,
        in_hw: (usize, usize),
        kernel: (usize, usize),
    ) -> Geometry {
        Geometry {
            channels,
            in_hw,
            kernel,
            stride: self.strides,
            pads: self.pads,
        }
    }

    /// The shape rules both ops share: input 0 (`[N, C, H, W]`) and output 0 are rank-4 of one
    /// type and batch, and the output's H and W follow from the input's and the weights' (input
    /// 1, `[_, _, kh, kw]`). The output's channels are the caller's rule.
    pub(crate) fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, x, w| {
            let (Ok(h), Ok(wd), Ok(kh), Ok(kw)) = (
                x[2].to_usize(),
                x[3].to_usize(),
                w[2].to_usize(),
                w[3].to_usize(),
            ) else {
                return Ok(());
            };
            let g = self.geometry(0, (h, wd), (kh, kw));
            let (ho, wo) = g
                .out_hw()
                .ok_or_else(|| format_err!("kernel does not fit: {g:?}"))?;
            s.equals(&outputs[0].shape[2], ho.to_dim())?;
            s.equals(&outputs[0].shape[3], wo.to_dim())
        })
    }
}

/// tract's own convolution (hir `Conv`, NCHW, weights `[Co, C / group, kh, kw]`, bias as input 2)
/// in `group` groups with `stride` and explicit `pads` (top, left, bottom, right).
fn hir_conv(
    group: usize,
    stride: (usize, usize),
    pads: [usize; 4],
) -> tract_onnx::tract_hir::ops::cnn::Conv {
    use tract_onnx::tract_hir::ops::cnn::{Conv, PaddingSpec};
    Conv::default()
        .group(group)
        .strides(tvec![stride.0, stride.1])
        .padding(PaddingSpec::Explicit(
            tvec![pads[0], pads[1]],
            tvec![pads[2], pads[3]],
        ))
        .bias_input(2)
}

/// The `tract-plain` engine's reading of one of posture's nodes: the chain `models/prepare.py`
/// fused it from, as tract's own ops — tract's convolution (hir `Conv` in `group` groups, with the
/// bias, input 2), then the clip (when the node has one), then the residual add (input 3, when
/// present). So one embedded prepared graph runs either on posture's kernels or on tract's.
///
/// # Errors
/// When tract refuses the layer.
pub(crate) fn wire_tract_chain(
    attrs: &ConvAttrs,
    group: usize,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
) -> TractResult<TVec<OutletId>> {
    let conv = hir_conv(group, attrs.strides, attrs.pads);
    let mut wire = conv.wire(prefix, model, &inputs[..3])?;
    if attrs.clip != Clip::NONE {
        let bound = |v: f32| v.is_finite().then_some(v);
        let clip = tract_onnx::tract_hir::ops::activations::Clip::new(
            bound(attrs.clip.lo),
            bound(attrs.clip.hi),
        );
        wire = clip.wire(&format!("{prefix}.clip"), model, &wire)?;
    }
    if let Some(&residual) = inputs.get(3) {
        wire = tract_onnx::tract_hir::ops::logic::wire_with_rank_broadcast(
            format!("{prefix}.residual"),
            model,
            tract_onnx::tract_hir::ops::math::add(),
            &[wire[0], residual],
        )?;
    }
    Ok(wire)
}

/// One of posture's ONNX node types (`PostureConv2d`, `PostureDepthwiseConv2d`) as parsed: its
/// attributes and whose code runs it.
pub(crate) trait PostureNode: Expansion + Sized {
    /// The ONNX op type `models/prepare.py` writes.
    const OP_TYPE: &'static str;
    /// The node of these attributes, run by `backend`.
    fn new(attrs: ConvAttrs, backend: Backend) -> Self;
}

fn parse_node<N: PostureNode>(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((
        expand(N::new(ConvAttrs::parse(node)?, Backend::Posture)),
        vec![],
    ))
}

fn parse_node_as_tract<N: PostureNode>(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((
        expand(N::new(ConvAttrs::parse(node)?, Backend::Tract)),
        vec![],
    ))
}

/// Lets tract-onnx build `N` nodes, run by `backend`'s code.
pub(crate) fn register_node<N: PostureNode>(ops: &mut OnnxOpRegister, backend: Backend) {
    match backend {
        Backend::Posture => ops.insert(N::OP_TYPE, parse_node::<N>),
        Backend::Tract => ops.insert(N::OP_TYPE, parse_node_as_tract::<N>),
    }
}

/// The fixed 4-D shape of `outlet`, or an error naming the node (`prefix`) and `what` it is.
pub(crate) fn shape4(
    model: &TypedModel,
    outlet: OutletId,
    prefix: &str,
    what: &str,
) -> TractResult<[usize; 4]> {
    let shape = &model.outlet_fact(outlet)?.shape;
    shape
        .as_concrete()
        .and_then(|s| <[usize; 4]>::try_from(s).ok())
        .ok_or_else(|| format_err!("{prefix}: {what} must have a fixed 4-D shape, not {shape:?}"))
}

/// The values of the constant `outlet` as f32, or an error naming the node and `what` it is.
pub(crate) fn constant_f32(
    model: &TypedModel,
    outlet: OutletId,
    prefix: &str,
    what: &str,
) -> TractResult<Vec<f32>> {
    let fact = model.outlet_fact(outlet)?;
    let t = fact
        .konst
        .as_ref()
        .ok_or_else(|| format_err!("{prefix}: {what} must be a constant"))?
        .cast_to::<f32>()?;
    Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}

/// tract's own convolution of `g` (a one-node model: hir `Conv` with `co` filters in `group`
/// groups and a bias, optimised), without clip or residual: the reference posture's kernels are
/// checked and benchmarked against. Input `[1, C, H, W]` f32; `weights`
/// `[co, C / group, kh, kw]`.
///
/// # Errors
/// When tract refuses the layer.
pub fn tract_conv_plan(
    g: &Geometry,
    co: usize,
    group: usize,
    weights: &[f32],
    bias: &[f32],
) -> TractResult<Arc<TypedSimplePlan>> {
    let (c, (h, w), (kh, kw)) = (g.channels, g.in_hw, g.kernel);
    ensure!(
        group > 0 && c % group == 0,
        "{c} channels in {group} groups"
    );
    let mut model = InferenceModel::default();
    let x = model.add_source("x", f32::fact([1, c, h, w]).into())?;
    let k = model.add_const("k", Tensor::from_shape(&[co, c / group, kh, kw], weights)?)?;
    let b = model.add_const("b", Tensor::from_shape(&[co], bias)?)?;
    let conv = hir_conv(group, g.stride, g.pads);
    let y = model.wire_node("conv", expand(conv), &[x, k, b])?;
    model.select_output_outlets(&y)?;
    model.into_optimized()?.into_runnable()
}

/// tract's convolution of `input` (see [`tract_conv_plan`]), each output then clamped to `clip`:
/// what the ops' tests compare with.
#[cfg(test)]
pub(crate) fn tract_reference(
    g: &Geometry,
    co: usize,
    group: usize,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    clip: Clip,
) -> Vec<f32> {
    let plan = tract_conv_plan(g, co, group, weights, bias).unwrap();
    let x = Tensor::from_shape(&g.input_shape(), input).unwrap();
    let out = plan.run(tvec![x.into_tvalue()]).unwrap();
    let view = out[0].try_as_plain_ram().unwrap();
    view.as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.max(clip.lo).min(clip.hi))
        .collect()
}

/// Replaces the nodes `remove` of `model` by one node `op` named `name`, reading `inputs`, whose
/// output takes the place of node `output_of`'s (one of `remove`): the load-time rewrites' one
/// patch.
///
/// # Errors
/// When tract refuses the patch.
pub(crate) fn replace_nodes<O: TypedOp>(
    model: &mut TypedModel,
    name: String,
    op: O,
    inputs: &[OutletId],
    output_of: usize,
    remove: &[usize],
) -> TractResult<()> {
    let mut patch = TypedModelPatch::new(format!("posture {name}"));
    let taps = patch.taps(model, inputs)?;
    let out = patch.wire_node(name, op, &taps)?;
    patch.shunt_outside(model, OutletId::new(output_of, 0), out[0])?;
    for &node in remove {
        patch.obliterate(node)?;
    }
    patch.apply(model)
}

/// A bundled model's prepared graph, typed, with posture's ops (before any load-time rewrite),
/// for the rewrites' tests.
#[cfg(test)]
pub(crate) fn typed_model(spec: &crate::pose::ModelSpec) -> TypedModel {
    use tract_onnx::prelude::Framework;
    let mut onnx = tract_onnx::onnx();
    super::dwconv::register(&mut onnx.op_register, Backend::Posture);
    super::conv::register(&mut onnx.op_register, Backend::Posture);
    let bytes = spec.bytes().unwrap();
    onnx.model_for_read(&mut &*bytes.bytes)
        .unwrap()
        .into_typed()
        .unwrap()
}

/// The first output of `model` run on reproducible values (seeded by `seed`), for the rewrites'
/// tests.
#[cfg(test)]
pub(crate) fn run_on_test_values(model: TypedModel, seed: u64) -> Vec<f32> {
    let shape = model
        .input_fact(0)
        .unwrap()
        .shape
        .as_concrete()
        .unwrap()
        .to_vec();
    let mut state = seed;
    let x = Tensor::from_shape(&shape, &test_values(shape.iter().product(), &mut state)).unwrap();
    let out = model
        .into_runnable()
        .unwrap()
        .run(tvec![x.into_tvalue()])
        .unwrap();
    let out = out[0].try_as_plain_ram().unwrap();
    out.as_slice::<f32>().unwrap().to_vec()
}

/// `n` reproducible values in [-2, 2) from `state` (xorshift), for the ops' tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, state: &mut u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

/// This CPU's L2 cache per core in bytes, as Linux's sysfs gives it for CPU 0 (512 KB where it
/// says nothing).
pub fn l2_bytes() -> usize {
    static L2: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
        let read = |i: usize, f: &str| std::fs::read_to_string(dir.join(format!("index{i}/{f}")));
        (0..8)
            .filter(|&i| read(i, "level").is_ok_and(|l| l.trim() == "2"))
            .filter(|&i| read(i, "type").is_ok_and(|t| t.trim() != "Instruction"))
            .find_map(|i| parse_cache_size(&read(i, "size").ok()?))
            .unwrap_or(512 * 1024)
    })
}

/// A sysfs cache size (`2048K`, `2M`, `524288`) in bytes.
fn parse_cache_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        _ => return None,
    };
    Some(n * scale).filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_cache_size("2048K\n"), Some(2 << 20));
        assert_eq!(parse_cache_size("2M"), Some(2 << 20));
        assert_eq!(parse_cache_size("524288"), Some(512 << 10));
        assert_eq!(parse_cache_size("lots"), None);
        assert_eq!(parse_cache_size("0K"), None);
        assert!(l2_bytes() >= 1024);
    }
}
