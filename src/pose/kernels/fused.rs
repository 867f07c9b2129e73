//! posture's fused inverted-residual block for tract: `PostureInvertedResidual`.
//!
//! A MobileNetV2 inverted-residual block is three layers: a 1x1 convolution that expands `ci`
//! channels to `ce` (with its ReLU6), a depthwise convolution of the `ce` channels (with its
//! ReLU6), and a 1x1 convolution that projects them to `cp` (plus the block's input when the
//! block is residual). Run layer by layer, the expanded tensor (up to 96 channels of 96x96 in
//! Lightning, 3.5 MB) is written out by the first layer and read back by the second, twice over
//! through the last-level cache.
//!
//! This op runs the three as one, in bands of output rows sized so a band's expanded rows stay in
//! L2: for each band it expands only the input rows the band's depthwise taps read that the last
//! band did not already expand (the overlap, `kh - stride` rows, is carried over), runs the
//! depthwise layer on those rows, projects the result and stores it (adding the residual). The
//! expanded and depthwise tensors live only in per-thread scratch of a band's size.
//!
//! The inner loops are the unfused layers' own ([`super::conv::gemm`] and
//! [`super::dwconv::depthwise`], here with each band's depthwise layout worked out at load) with
//! the weights packed for the band's sizes, run by the [`Kernel`] the block's layers were built
//! for; so every kernel family runs the fused op, with the same arithmetic per value as the
//! unfused chain. [`super::fusion`] finds the blocks in a loaded graph and puts this op in their
//! place.

use std::cell::RefCell;

use tract_onnx::tract_hir::internal::*;

use super::conv::{PackedWeights, gemm};
use super::dwconv::{Layout, depthwise_with, direct_layout};
use super::ops::{Clip, Geometry, Kernel};

/// The op's name in tract's graph and profiles.
pub const OP_NAME: &str = "PostureInvertedResidual";

/// Bytes a band's expanded rows may take: half of this machine class's 512 KB L2 per core, so
/// the band, its depthwise output and the weights stay in L2 together.
pub const BAND_BYTES: usize = 256 * 1024;

/// One 1x1 convolution of a block: weights `[co, ci]` (row-major), bias `[co]` and the range
/// its outputs are clamped to.
#[derive(Clone, Debug, PartialEq)]
pub struct Pointwise {
    /// Weights `[co, ci]`, row-major.
    pub weights: Vec<f32>,
    /// Bias `[co]`.
    pub bias: Vec<f32>,
    /// The clamp after the bias.
    pub clip: Clip,
}

/// The depthwise convolution of a block: its input geometry (`channels` = the expanded
/// channels), weights `[C, kh, kw]`, bias `[C]` and clamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Depthwise {
    /// The layer's input geometry.
    pub geometry: Geometry,
    /// Weights `[C, kh, kw]`.
    pub weights: Vec<f32>,
    /// Bias `[C]`.
    pub bias: Vec<f32>,
    /// The clamp after the bias.
    pub clip: Clip,
}

/// One band of output rows `y0..y1`: the depthwise layer reads expanded rows `a..e` (the input
/// rows inside the image; `pad_top`/`pad_bottom` zero rows stand for the rest), of which the
/// first `keep` were expanded for the band before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Band {
    y0: usize,
    y1: usize,
    a: usize,
    e: usize,
    keep: usize,
    pad_top: usize,
    pad_bottom: usize,
}

/// The depthwise layer's input geometry for `band`: its expanded rows, padded on top and at the
/// bottom only where the band reaches the plane's edges.
fn band_geometry(dw: &Geometry, band: &Band) -> Geometry {
    Geometry {
        in_hw: (band.e - band.a, dw.in_hw.1),
        pads: [band.pad_top, dw.pads[1], band.pad_bottom, dw.pads[3]],
        ..*dw
    }
}

/// tract op: an inverted-residual block (1x1 expand, depthwise, 1x1 project, with their clamps,
/// and the residual add when the block has one) computed in bands of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct InvertedResidual {
    kernel: Kernel,
    ci: usize,
    ce: usize,
    cp: usize,
    // The depthwise layer's input geometry (= the block's input plane).
    dw: Geometry,
    out_hw: (usize, usize),
    dw_weights: Arc<Vec<f32>>,
    dw_bias: Arc<Vec<f32>>,
    dw_clip: Clip,
    expand_clip: Clip,
    project_clip: Clip,
    residual: bool,
    bands: Vec<Band>,
    // Each band's depthwise direct layout (AVX-512 or AVX2), worked out here rather than every
    // frame.
    layouts: Vec<Option<Layout>>,
    // The expansion packed for each number of input pixels a band expands, and the projection
    // for each number of output pixels a band holds (two or three sizes each).
    expand: Vec<Arc<PackedWeights>>,
    project: Vec<Arc<PackedWeights>>,
}

// The weights are finite (a model's), so equality is an equivalence.
impl Eq for InvertedResidual {}

/// The reusable buffers of the inference thread: the input rows a band expands, the expanded
/// rows (this band's and the last one's), the depthwise output and the projection.
#[derive(Default)]
struct Scratch {
    input: Vec<f32>,
    fresh: Vec<f32>,
    expanded: Vec<f32>,
    previous: Vec<f32>,
    depthwise: Vec<f32>,
    projected: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl InvertedResidual {
    /// The block on `[1, ci, H, W]` inputs (`depthwise.geometry.in_hw` = (H, W)), run by
    /// `kernel`'s loops in bands of `band_rows` output rows (≥ 1; [`default_band_rows`] fits
    /// them to L2). With `residual`, the op takes a second input of the output's shape, added
    /// after the projection's clamp.
    ///
    /// # Errors
    /// When the sizes disagree, or the depthwise kernel does not fit its padded input.
    pub fn new(
        kernel: Kernel,
        expand: &Pointwise,
        dw: &Depthwise,
        project: &Pointwise,
        residual: bool,
        band_rows: usize,
    ) -> TractResult<Self> {
        let g = dw.geometry;
        let ce = g.channels;
        let cp = project.bias.len();
        ensure!(
            ce > 0 && cp > 0 && band_rows > 0,
            "{OP_NAME}: {ce} expanded, {cp} projected channels, bands of {band_rows} rows"
        );
        ensure!(
            expand.bias.len() == ce && expand.weights.len().is_multiple_of(ce),
            "{OP_NAME}: expansion of {} weights and {} biases to {ce} channels",
            expand.weights.len(),
            expand.bias.len()
        );
        let ci = expand.weights.len() / ce;
        ensure!(ci > 0, "{OP_NAME}: no input channels");
        ensure!(
            project.weights.len() == cp * ce,
            "{OP_NAME}: projection of {} weights for {cp}x{ce}",
            project.weights.len()
        );
        ensure!(
            dw.weights.len() == ce * g.kernel.0 * g.kernel.1 && dw.bias.len() == ce,
            "{OP_NAME}: depthwise weights {} and bias {} for {g:?}",
            dw.weights.len(),
            dw.bias.len()
        );
        let (ho, wo) = g
            .out_hw()
            .ok_or_else(|| format_err!("{OP_NAME}: depthwise kernel does not fit: {g:?}"))?;
        let (h, w) = g.in_hw;
        let bands = plan_bands(&g, ho, band_rows)?;
        let mut expand_sizes: Vec<usize> = bands
            .iter()
            .map(|b| (b.e - b.a - b.keep) * w)
            .filter(|&n| n > 0)
            .collect();
        let mut project_sizes: Vec<usize> = bands.iter().map(|b| (b.y1 - b.y0) * wo).collect();
        for sizes in [&mut expand_sizes, &mut project_sizes] {
            sizes.sort_unstable();
            sizes.dedup();
        }
        let pack = |p: &Pointwise, co: usize, ci: usize, hw: usize| {
            PackedWeights::new(kernel, co, ci, hw, &p.weights, &p.bias).map(Arc::new)
        };
        let expand_packed = expand_sizes
            .iter()
            .map(|&hw| pack(expand, ce, ci, hw))
            .collect::<TractResult<_>>()?;
        let project_packed = project_sizes
            .iter()
            .map(|&hw| pack(project, cp, ce, hw))
            .collect::<TractResult<_>>()?;
        debug_assert!(h > 0);
        let layouts = bands
            .iter()
            .map(|b| direct_layout(kernel, &band_geometry(&g, b)))
            .collect();
        Ok(Self {
            kernel,
            ci,
            ce,
            cp,
            dw: g,
            out_hw: (ho, wo),
            dw_weights: Arc::new(dw.weights.clone()),
            dw_bias: Arc::new(dw.bias.clone()),
            dw_clip: dw.clip,
            expand_clip: expand.clip,
            project_clip: project.clip,
            residual,
            bands,
            layouts,
            expand: expand_packed,
            project: project_packed,
        })
    }

    /// The input shape, `[1, ci, H, W]`.
    pub fn input_shape(&self) -> [usize; 4] {
        [1, self.ci, self.dw.in_hw.0, self.dw.in_hw.1]
    }

    /// The output shape, `[1, cp, Ho, Wo]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [1, self.cp, self.out_hw.0, self.out_hw.1]
    }

    /// Output rows per band (the last band may hold fewer).
    pub fn band_rows(&self) -> usize {
        self.bands.first().map_or(0, |b| b.y1 - b.y0)
    }

    /// The block on `input` (`[ci, H, W]`), with `residual` (`[cp, Ho, Wo]`) when the block has
    /// one, into `output` (`[cp, Ho, Wo]`).
    ///
    /// # Errors
    /// When a slice length does not match the block.
    pub fn run(
        &self,
        input: &[f32],
        residual: Option<&[f32]>,
        output: &mut [f32],
    ) -> TractResult<()> {
        let (h, w) = self.dw.in_hw;
        let (ho, wo) = self.out_hw;
        let (ci, ce, cp) = (self.ci, self.ce, self.cp);
        ensure!(
            input.len() == ci * h * w,
            "{OP_NAME}: {} input values",
            input.len()
        );
        ensure!(
            output.len() == cp * ho * wo,
            "{OP_NAME}: {} output values",
            output.len()
        );
        ensure!(
            residual.is_some() == self.residual && residual.is_none_or(|r| r.len() == output.len()),
            "{OP_NAME}: residual given {}, expected {}",
            residual.is_some(),
            self.residual
        );
        let find = |packed: &[Arc<PackedWeights>], hw: usize| {
            packed
                .iter()
                .find(|p| p.dims().2 == hw)
                .cloned()
                .ok_or_else(|| format_err!("{OP_NAME}: no weights packed for {hw} pixels"))
        };
        SCRATCH.with(|cell| {
            let s = &mut *cell.borrow_mut();
            let mut prev_rows = 0;
            for (band, layout) in self.bands.iter().zip(&self.layouts) {
                let rows = band.e - band.a;
                let fresh_lo = band.a + band.keep;
                let n_new = band.e - fresh_lo;
                let out_rows = band.y1 - band.y0;
                let whole = out_rows == ho;
                s.expanded.resize(ce * rows * w, 0.0);
                if n_new > 0 {
                    let weights = find(&self.expand, n_new * w)?;
                    // The input rows to expand, [ci, n_new * w]: the input itself when the band
                    // reads every row.
                    let src: &[f32] = if n_new == h {
                        input
                    } else {
                        s.input.resize(ci * n_new * w, 0.0);
                        for (dst, plane) in s
                            .input
                            .chunks_exact_mut(n_new * w)
                            .zip(input.chunks_exact(h * w))
                        {
                            dst.copy_from_slice(&plane[fresh_lo * w..][..n_new * w]);
                        }
                        &s.input
                    };
                    if band.keep == 0 {
                        gemm(&weights, src, self.expand_clip, None, &mut s.expanded)?;
                    } else {
                        s.fresh.resize(ce * n_new * w, 0.0);
                        gemm(&weights, src, self.expand_clip, None, &mut s.fresh)?;
                    }
                }
                if band.keep > 0 {
                    // This band's planes: the last band's last `keep` rows, then the fresh ones.
                    let (keep, prev) = (band.keep * w, prev_rows * w);
                    let fresh = n_new * w;
                    for (c, dst) in s.expanded.chunks_exact_mut(rows * w).enumerate() {
                        dst[..keep].copy_from_slice(&s.previous[c * prev + prev - keep..][..keep]);
                        if fresh > 0 {
                            dst[keep..].copy_from_slice(&s.fresh[c * fresh..][..fresh]);
                        }
                    }
                }
                let g = band_geometry(&self.dw, band);
                s.depthwise.resize(ce * out_rows * wo, 0.0);
                depthwise_with(
                    self.kernel,
                    &g,
                    layout.as_ref(),
                    &s.expanded,
                    &self.dw_weights,
                    &self.dw_bias,
                    self.dw_clip,
                    &mut s.depthwise,
                )?;
                let weights = find(&self.project, out_rows * wo)?;
                if whole {
                    gemm(&weights, &s.depthwise, self.project_clip, residual, output)?;
                } else {
                    let n = out_rows * wo;
                    s.projected.resize(cp * n, 0.0);
                    gemm(
                        &weights,
                        &s.depthwise,
                        self.project_clip,
                        None,
                        &mut s.projected,
                    )?;
                    let start = band.y0 * wo;
                    for (c, src) in s.projected.chunks_exact(n).enumerate() {
                        let dst = &mut output[c * ho * wo + start..][..n];
                        match residual {
                            Some(r) => {
                                let r = &r[c * ho * wo + start..][..n];
                                for ((d, &v), &x) in dst.iter_mut().zip(src).zip(r) {
                                    *d = v + x;
                                }
                            }
                            None => dst.copy_from_slice(src),
                        }
                    }
                }
                std::mem::swap(&mut s.expanded, &mut s.previous);
                prev_rows = rows;
            }
            Ok(())
        })
    }
}

/// Output rows per band for a block whose depthwise layer has input `g` (`channels` = the
/// expanded channels): as many as keep the band's expanded rows within [`BAND_BYTES`], at least
/// one.
pub fn default_band_rows(g: &Geometry) -> usize {
    let (h, w) = g.in_hw;
    let row_bytes = (g.channels * w * std::mem::size_of::<f32>()).max(1);
    let rows_in = (BAND_BYTES / row_bytes).min(h + g.pads[0] + g.pads[2]);
    // A band of r output rows reads (r - 1) * stride + kh input rows.
    (rows_in.saturating_sub(g.kernel.0) / g.stride.0.max(1) + 1).max(1)
}

/// Splits the `ho` output rows of the depthwise layer `g` into bands of `band_rows`.
fn plan_bands(g: &Geometry, ho: usize, band_rows: usize) -> TractResult<Vec<Band>> {
    let h = g.in_hw.0;
    let (kh, sh, pt) = (g.kernel.0, g.stride.0, g.pads[0]);
    let mut bands = Vec::with_capacity(ho.div_ceil(band_rows));
    let mut prev_e: usize = 0;
    let mut y0 = 0;
    while y0 < ho {
        let y1 = (y0 + band_rows).min(ho);
        // Padded rows y0 * sh ..= (y1 - 1) * sh + kh - 1; the image's row r is padded row r + pt.
        let lo = y0 * sh;
        let hi = (y1 - 1) * sh + kh;
        let a = lo.saturating_sub(pt).min(h);
        let e = hi.saturating_sub(pt).min(h);
        ensure!(
            a < e,
            "{OP_NAME}: output rows {y0}..{y1} read no input row of {g:?}"
        );
        let pad_top = pt.saturating_sub(lo);
        let pad_bottom = (hi - pt).saturating_sub(h);
        let keep = prev_e.saturating_sub(a);
        bands.push(Band {
            y0,
            y1,
            a,
            e,
            keep,
            pad_top,
            pad_bottom,
        });
        prev_e = e;
        y0 = y1;
    }
    Ok(bands)
}

impl Op for InvertedResidual {
    fn name(&self) -> StaticName {
        OP_NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} -> {} channels on {:?}, stride {:?}, bands of {} rows, residual {}, {:?}",
            self.ci,
            self.ce,
            self.cp,
            self.dw.in_hw,
            self.dw.stride,
            self.band_rows(),
            self.residual,
            self.kernel
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for InvertedResidual {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 1 + usize::from(self.residual),
            "{OP_NAME}: {} inputs",
            inputs.len()
        );
        let (in_shape, out_shape) = (self.input_shape(), self.output_shape());
        ensure!(
            inputs[0].shape() == in_shape,
            "{OP_NAME}: input shape {:?}, expected {in_shape:?}",
            inputs[0].shape()
        );
        if let Some(r) = inputs.get(1) {
            ensure!(
                r.shape() == out_shape,
                "{OP_NAME}: residual shape {:?}, expected {out_shape:?}",
                r.shape()
            );
        }
        // SAFETY: `run` writes every output value before anyone reads it (or fails, and the
        // tensor is dropped unread).
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        {
            let src = inputs[0].try_as_plain_ram()?;
            let res = inputs.get(1).map(|r| r.try_as_plain_ram()).transpose()?;
            let res = res.as_ref().map(|r| r.as_slice::<f32>()).transpose()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            self.run(src.as_slice::<f32>()?, res, dst.as_slice_mut::<f32>()?)?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for InvertedResidual {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec![f32::fact(self.output_shape())])
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::kernels::dwconv::depthwise;
    use crate::pose::kernels::ops::test_values;
    use proptest::prelude::*;

    /// A random block: `ci` -> `ce` -> `cp` channels on `h` x `w`, depthwise 3x3 of `stride`
    /// with MoveNet's padding (1 all round at stride 1; bottom/right only at stride 2).
    fn block(
        ci: usize,
        ce: usize,
        cp: usize,
        (h, w): (usize, usize),
        stride: usize,
        seed: u64,
    ) -> (Pointwise, Depthwise, Pointwise) {
        let mut state = seed | 1;
        let relu6 = Clip::new(0.0, 6.0);
        let expand = Pointwise {
            weights: test_values(ce * ci, &mut state),
            bias: test_values(ce, &mut state),
            clip: relu6,
        };
        let pads = if stride == 1 { [1; 4] } else { [0, 0, 1, 1] };
        let dw = Depthwise {
            geometry: Geometry {
                channels: ce,
                in_hw: (h, w),
                kernel: (3, 3),
                stride: (stride, stride),
                pads,
            },
            weights: test_values(ce * 9, &mut state),
            bias: test_values(ce, &mut state),
            clip: relu6,
        };
        let project = Pointwise {
            weights: test_values(cp * ce, &mut state),
            bias: test_values(cp, &mut state),
            clip: Clip::NONE,
        };
        (expand, dw, project)
    }

    /// The unfused chain, layer by layer with posture's own kernels: the reference.
    fn unfused(
        kernel: Kernel,
        (expand, dw, project): &(Pointwise, Depthwise, Pointwise),
        input: &[f32],
        residual: Option<&[f32]>,
    ) -> Vec<f32> {
        let g = dw.geometry;
        let (ce, (h, w)) = (g.channels, g.in_hw);
        let ci = expand.weights.len() / ce;
        let cp = project.bias.len();
        let (ho, wo) = g.out_hw().unwrap();
        let pe = PackedWeights::new(kernel, ce, ci, h * w, &expand.weights, &expand.bias).unwrap();
        let mut e = vec![f32::NAN; ce * h * w];
        gemm(&pe, input, expand.clip, None, &mut e).unwrap();
        let mut d = vec![f32::NAN; ce * ho * wo];
        depthwise(kernel, &g, &e, &dw.weights, &dw.bias, dw.clip, &mut d).unwrap();
        let pp =
            PackedWeights::new(kernel, cp, ce, ho * wo, &project.weights, &project.bias).unwrap();
        let mut out = vec![f32::NAN; cp * ho * wo];
        gemm(&pp, &d, project.clip, residual, &mut out).unwrap();
        out
    }

    /// The fused op in bands of `band_rows` equals the unfused chain on every kernel this CPU
    /// runs. Tolerance: the dense layers' (1e-5 of the largest possible sum) on the projection's
    /// sum of `ce` products of values up to 6 (the clamped depthwise output) and 2 (weights).
    fn check(
        (ci, ce, cp): (usize, usize, usize),
        hw: (usize, usize),
        stride: usize,
        residual: bool,
        band_rows: usize,
        seed: u64,
    ) {
        let layers = block(ci, ce, cp, hw, stride, seed);
        let (ho, wo) = layers.1.geometry.out_hw().unwrap();
        let mut state = (seed ^ 0x9e37_79b9_7f4a_7c15) | 1;
        let input = test_values(ci * hw.0 * hw.1, &mut state);
        let res = residual.then(|| test_values(cp * ho * wo, &mut state));
        let tol = 1e-5 * (12.0 * ce as f32).max(1.0);
        for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
            let expected = unfused(kernel, &layers, &input, res.as_deref());
            let op =
                InvertedResidual::new(kernel, &layers.0, &layers.1, &layers.2, residual, band_rows)
                    .unwrap();
            let mut got = vec![f32::NAN; cp * ho * wo];
            op.run(&input, res.as_deref(), &mut got).unwrap();
            for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= tol,
                    "{kernel:?} {ci}->{ce}->{cp} on {hw:?} stride {stride} bands of {band_rows} at {i}: {a} vs unfused {b}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn fused_blocks_equal_the_unfused_chain(
            ci in 1usize..24,
            ce in 1usize..40,
            cp in 1usize..24,
            h in 1usize..20,
            w in 1usize..20,
            stride in 1usize..3,
            residual in any::<bool>(),
            band_rows in 1usize..8,
            seed in any::<u64>(),
        ) {
            // A stride-2 layer pads only bottom and right: its 3x3 kernel needs 2 rows and columns.
            prop_assume!(stride == 1 || (h >= 2 && w >= 2));
            check((ci, ce, cp), (h, w), stride, residual, band_rows, seed);
        }
    }

    #[test]
    fn bands_cover_every_output_row_once_and_expand_every_input_row_once() {
        for (h, stride, pads, band_rows) in [
            (96, 2, [0, 0, 1, 1], 3),
            (48, 1, [1; 4], 7),
            (5, 2, [0, 0, 1, 1], 2),
            (7, 1, [1; 4], 1),
            (6, 1, [1; 4], 6),
        ] {
            let g = Geometry {
                channels: 8,
                in_hw: (h, 4),
                kernel: (3, 3),
                stride: (stride, stride),
                pads,
            };
            let (ho, _) = g.out_hw().unwrap();
            let bands = plan_bands(&g, ho, band_rows).unwrap();
            let out_rows: Vec<usize> = bands.iter().flat_map(|b| b.y0..b.y1).collect();
            assert_eq!(out_rows, (0..ho).collect::<Vec<_>>(), "{g:?}");
            let expanded: Vec<usize> = bands.iter().flat_map(|b| b.a + b.keep..b.e).collect();
            assert_eq!(expanded, (0..h).collect::<Vec<_>>(), "{g:?}");
        }
    }

    #[test]
    fn default_bands_fit_the_budget() {
        let g = Geometry {
            channels: 96,
            in_hw: (96, 96),
            kernel: (3, 3),
            stride: (2, 2),
            pads: [0, 0, 1, 1],
        };
        let r = default_band_rows(&g);
        // (r - 1) * 2 + 3 rows of 96 channels x 96 columns within the budget, one more row not.
        let bytes = |r: usize| ((r - 1) * 2 + 3) * 96 * 96 * 4;
        assert!(bytes(r) <= BAND_BYTES && bytes(r + 1) > BAND_BYTES, "{r}");
        // A small plane fits whole: one band.
        let small = Geometry {
            channels: 960,
            in_hw: (6, 6),
            stride: (1, 1),
            pads: [1; 4],
            ..g
        };
        assert!(default_band_rows(&small) >= 6);
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        let (e, d, p) = block(4, 8, 4, (6, 6), 1, 3);
        assert!(InvertedResidual::new(Kernel::Portable, &e, &d, &p, false, 0).is_err());
        let short = Pointwise {
            weights: vec![0.0; 31],
            ..p.clone()
        };
        assert!(InvertedResidual::new(Kernel::Portable, &e, &d, &short, false, 2).is_err());
        let op = InvertedResidual::new(Kernel::Portable, &e, &d, &p, false, 2).unwrap();
        let mut out = vec![0.0; 4 * 36];
        assert!(op.run(&[0.0; 4 * 36 - 1], None, &mut out).is_err());
        assert!(
            op.run(&[0.0; 4 * 36], Some(&[0.0; 4 * 36]), &mut out)
                .is_err()
        );
        assert!(op.run(&[0.0; 4 * 36], None, &mut out).is_ok());
    }
}
