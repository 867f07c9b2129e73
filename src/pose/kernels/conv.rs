//! posture's own dense convolution for tract: `PostureConv2d`.
//!
//! A 1x1 convolution on an NCHW plane is the matrix product `Y[Co, HW] = W[Co, Ci] · X[Ci, HW]`;
//! any other convolution is the same product on the input's im2col matrix `[Ci·kh·kw, Ho·Wo]`.
//! tract runs these as general matrix products: it copies ("packs") the input into panels on
//! every run, builds its im2col lazily one panel at a time (slow for MoveNet's first layer, a 3x3
//! stride-2 convolution of the 3-channel image), and leaves the following ReLU6 or residual `Add`
//! as passes of their own. The dense convolutions are most of MoveNet's arithmetic (253 of 271
//! million multiply-adds in Lightning), so posture does them itself: the weights are packed once,
//! when the model loads, into panels of `mr` output channels; a 1x1 layer reads its input in
//! place and any other builds its im2col matrix once per run; bias, clipping (ReLU6, ReLU) and
//! the residual add are applied while a tile is still in registers.
//!
//! The kernel is chosen at run time: AVX-512 (channels x columns tiles of 12x32, 8x32, 16x16 or
//! 24x16 with the columns along the vectors, or 32x12 with the channels along the vectors for
//! planes too small to fill column vectors; the first, in that order, padded within 3 % of the
//! least padded), AVX2+FMA (6x16, or
//! 16x6 with the channels along the vectors; whichever measured faster on the layer at load),
//! NEON on aarch64 (8x12, [`neon`]), or plain loops. `models/prepare.py` rewrites each dense
//! `Conv` (with the `Clip`, `Relu` or residual `Add` after it) into one node of this op;
//! [`register`] teaches tract-onnx to build it.

use std::cell::RefCell;

use tract_onnx::model::OnnxOpRegister;
use tract_onnx::tract_hir::internal::*;

use super::choice;
#[cfg(target_arch = "x86_64")]
use super::ops::l2_bytes;
use super::ops::{
    Backend, Clip, ConvAttrs, Geometry, Kernel, PostureNode, constant_f32, register_node, shape4,
    tract_conv_plan, wire_tract_chain,
};

/// The ONNX op type `models/prepare.py` writes (domain `posture`).
pub const OP_TYPE: &str = "PostureConv2d";

#[cfg(target_arch = "aarch64")]
mod neon;

thread_local! {
    // The im2col matrix of a non-1x1 layer, reused across calls on the inference thread.
    static IM2COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Writes the im2col matrix of `input` (`[C, H, W]`) for `g` (`channels` = C) into `out`:
/// row `(c, ky, kx)` holds, for every output pixel, the input value tap `(ky, kx)` of channel `c`
/// reads there (0 in the padding), so a convolution is `W[Co, C·kh·kw] · out`.
///
/// # Errors
/// When the kernel does not fit or `input` does not match `g`.
pub fn im2col(g: &Geometry, input: &[f32], out: &mut Vec<f32>) -> TractResult<()> {
    let (ho, wo) = g
        .out_hw()
        .ok_or_else(|| format_err!("convolution kernel larger than its padded input: {g:?}"))?;
    let (h, w) = g.in_hw;
    let (kh, kw) = g.kernel;
    let (sh, sw) = g.stride;
    let (pt, pl) = (g.pads[0], g.pads[1]);
    ensure!(
        input.len() == g.channels * h * w,
        "im2col input: {} values for {g:?}",
        input.len()
    );
    out.clear();
    out.resize(g.channels * kh * kw * ho * wo, 0.0);
    let rows = out.chunks_exact_mut(ho * wo);
    let taps = (0..g.channels)
        .flat_map(|c| (0..kh).flat_map(move |ky| (0..kw).map(move |kx| (c, ky, kx))));
    for (row, (c, ky, kx)) in rows.zip(taps) {
        let plane = &input[c * h * w..][..h * w];
        // Output columns x whose input column x * sw + kx - pl lies inside 0..w.
        let x_lo = pl.saturating_sub(kx).div_ceil(sw);
        let x_hi = (w + pl).saturating_sub(kx).div_ceil(sw).min(wo);
        for (y, dst) in row.chunks_exact_mut(wo).enumerate() {
            let Some(iy) = (y * sh + ky).checked_sub(pt).filter(|&iy| iy < h) else {
                continue;
            };
            let src = &plane[iy * w..][..w];
            if x_lo >= x_hi {
                continue;
            }
            let dst = &mut dst[x_lo..x_hi];
            let start = x_lo * sw + kx - pl;
            if sw == 1 {
                dst.copy_from_slice(&src[start..start + dst.len()]);
            } else {
                // Whole strides first (a loop the compiler vectorises), then the last column,
                // whose stride may run past the row.
                let (body, last) = dst.split_at_mut(dst.len() - 1);
                for (d, s) in body.iter_mut().zip(src[start..].chunks_exact(sw)) {
                    *d = s[0];
                }
                last[0] = src[start + body.len() * sw];
            }
        }
    }
    Ok(())
}

/// The block of the output a kernel computes at a time, fixed when the weights are packed (each
/// belongs to one kernel). "Rows" tiles put the columns (pixels) along the vectors and broadcast
/// one weight per output channel; the "channels" tile puts the output channels along the vectors
/// and broadcasts one input value per column, for planes too small to fill column vectors (6x6
/// is 36 columns, which 16-wide vectors pad to 48, 12-column tiles not at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// AVX-512: 12 output channels x 32 columns (24 accumulators of the 32 registers).
    Avx512Rows12x32,
    /// AVX-512: 8 output channels x 32 columns.
    Avx512Rows8x32,
    /// AVX-512: 16 output channels x 16 columns.
    Avx512Rows16x16,
    /// AVX-512: 24 output channels x 16 columns.
    Avx512Rows24x16,
    /// AVX-512: 32 output channels (two vectors) x 12 columns.
    Avx512Channels32x12,
    /// AVX2+FMA: 6 output channels x 16 columns (12 accumulators of the 16 registers).
    Avx2Rows6x16,
    /// AVX2+FMA: 16 output channels (two vectors) x 6 columns.
    Avx2Channels16x6,
    /// NEON: 8 output channels x 12 columns (24 accumulators of the 32 registers).
    NeonRows8x12,
    /// Plain loops: one output channel at a time, whole rows.
    PortableRow,
}

impl Tile {
    /// (output channels, columns) per tile; the channels are also the rows of a weight panel.
    pub fn shape(self) -> (usize, usize) {
        match self {
            Tile::Avx512Rows12x32 => (12, 32),
            Tile::Avx512Rows8x32 => (8, 32),
            Tile::Avx512Rows16x16 => (16, 16),
            Tile::Avx512Rows24x16 => (24, 16),
            Tile::Avx512Channels32x12 => (32, 12),
            Tile::Avx2Rows6x16 => (6, 16),
            Tile::Avx2Channels16x6 => (16, 6),
            Tile::NeonRows8x12 => (8, 12),
            Tile::PortableRow => (1, 1),
        }
    }

    /// The tiles `kernel` runs, in order of preference when they pad a layer alike (within 3 %).
    fn for_kernel(kernel: Kernel) -> &'static [Tile] {
        match kernel {
            Kernel::Avx512 => &[
                Tile::Avx512Rows12x32,
                Tile::Avx512Rows8x32,
                Tile::Avx512Rows16x16,
                Tile::Avx512Rows24x16,
                Tile::Avx512Channels32x12,
            ],
            Kernel::Avx2Fma => &[Tile::Avx2Rows6x16, Tile::Avx2Channels16x6],
            Kernel::Neon => &[Tile::NeonRows8x12],
            Kernel::Portable => &[Tile::PortableRow],
        }
    }
}

/// A layer's weights, packed for one tile and input size: panels of `mr` (the tile's output
/// channels) rows, each `[ci][mr]`, the last panel zero-filled past `co`.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedWeights {
    co: usize,
    ci: usize,
    hw: usize,
    tile: Tile,
    panels: Vec<f32>,
    // Bias per output channel, zero-filled like the panels.
    bias: Vec<f32>,
}

impl PackedWeights {
    /// Packs `weights` `[co, ci]` (row-major) and `bias` `[co]` for `kernel` and inputs of `hw`
    /// pixels, choosing the first tile shape (in the kernel's order of preference) whose padded
    /// size on this layer is at most 3 % above the least padded one's.
    ///
    /// # Errors
    /// When the lengths do not match `co` and `ci`, or a size is 0.
    pub fn new(
        kernel: Kernel,
        co: usize,
        ci: usize,
        hw: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> TractResult<Self> {
        let padded = |tile: Tile| {
            let (rows, cols) = tile.shape();
            co.div_ceil(rows) * rows * hw.div_ceil(cols) * cols
        };
        // The first tile padded within 3 % of the least padded. Exact fits alone chose 8x32 for
        // Thunder's 8x8 layers of 280, 560 and 1280 channels (12x32 pads them 0.3-2.9 %), where
        // 12x32, with its 24 sums to 8x32's 16, measured 9-17 % faster (per-node profile, Intel
        // AVX-512 machine).
        let least = Tile::for_kernel(kernel)
            .iter()
            .map(|&t| padded(t))
            .min()
            .unwrap_or(0);
        let tile = Tile::for_kernel(kernel)
            .iter()
            .copied()
            .find(|&t| padded(t) * 100 <= least * 103)
            .unwrap_or(Tile::PortableRow);
        Self::with_tile(tile, co, ci, hw, weights, bias)
    }

    /// Packs `weights` `[co, ci]` (row-major) and `bias` `[co]` for `tile` and inputs of `hw`
    /// pixels.
    ///
    /// # Errors
    /// When the lengths do not match `co` and `ci`, or a size is 0.
    pub fn with_tile(
        tile: Tile,
        co: usize,
        ci: usize,
        hw: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> TractResult<Self> {
        ensure!(
            co > 0 && ci > 0 && hw > 0,
            "convolution layer {co}x{ci} on {hw} pixels"
        );
        ensure!(
            weights.len() == co * ci,
            "convolution weights: {} values for {co}x{ci}",
            weights.len()
        );
        ensure!(bias.len() == co, "convolution bias: {} values", bias.len());
        let mr = tile.shape().0;
        let n_panels = co.div_ceil(mr);
        let mut panels = vec![0.0; n_panels * ci * mr];
        for (o, row) in weights.chunks_exact(ci).enumerate() {
            let (p, r) = (o / mr, o % mr);
            for (k, &w) in row.iter().enumerate() {
                panels[(p * ci + k) * mr + r] = w;
            }
        }
        let mut padded_bias = vec![0.0; n_panels * mr];
        padded_bias[..co].copy_from_slice(bias);
        Ok(Self {
            co,
            ci,
            hw,
            tile,
            panels,
            bias: padded_bias,
        })
    }

    /// The tile the kernel runs: output channels by input columns.
    pub fn tile(&self) -> (usize, usize) {
        self.tile.shape()
    }

    /// The weights `[co, ci]` (row-major) and bias `[co]` as they were given to
    /// [`PackedWeights::new`], for repacking them for another input size.
    pub fn unpacked(&self) -> (Vec<f32>, Vec<f32>) {
        let mr = self.tile.shape().0;
        let mut weights = vec![0.0; self.co * self.ci];
        for (o, row) in weights.chunks_exact_mut(self.ci).enumerate() {
            let (p, r) = (o / mr, o % mr);
            for (k, w) in row.iter_mut().enumerate() {
                *w = self.panels[(p * self.ci + k) * mr + r];
            }
        }
        (weights, self.bias[..self.co].to_vec())
    }

    /// Output channels, input channels (rows of the input matrix) and input columns.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.co, self.ci, self.hw)
    }
}

/// `output[co, hw] = clip(W · input + bias) (+ residual)`: the convolution as a matrix product,
/// `input` being `[ci, hw]` row-major (a 1x1 layer's input as it is, any other layer's im2col
/// matrix), run by the kernel of the tile `weights` were packed for (plain loops if this CPU
/// lacks it: they take any tile's panels).
/// `residual`, when given, is `[co, hw]` and added after the clip.
///
/// # Errors
/// When a slice length does not match the layer.
pub fn gemm(
    weights: &PackedWeights,
    input: &[f32],
    clip: Clip,
    residual: Option<&[f32]>,
    output: &mut [f32],
) -> TractResult<()> {
    let (co, ci, hw) = (weights.co, weights.ci, weights.hw);
    ensure!(
        input.len() == ci * hw,
        "gemm input: {} values for {ci}x{hw}",
        input.len()
    );
    ensure!(
        output.len() == co * hw,
        "gemm output: {} values for {co}x{hw}",
        output.len()
    );
    if let Some(r) = residual {
        ensure!(
            r.len() == co * hw,
            "gemm residual: {} values for {co}x{hw}",
            r.len()
        );
    }
    let job = Job {
        w: weights,
        input,
        clip,
        residual,
    };
    let cpu = Kernel::detect();
    // SAFETY (each arm): the CPU has the instructions (checked) and the weights are packed for
    // the tile the kernel runs; the lengths are checked above.
    match weights.tile {
        #[cfg(target_arch = "x86_64")]
        Tile::Avx512Rows12x32 if cpu == Kernel::Avx512 => unsafe {
            avx512::tiles::<12, 2>(&job, output)
        },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx512Rows8x32 if cpu == Kernel::Avx512 => unsafe {
            avx512::tiles::<8, 2>(&job, output)
        },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx512Rows16x16 if cpu == Kernel::Avx512 => unsafe {
            avx512::tiles::<16, 1>(&job, output)
        },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx512Rows24x16 if cpu == Kernel::Avx512 => unsafe {
            avx512::tiles::<24, 1>(&job, output)
        },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx512Channels32x12 if cpu == Kernel::Avx512 => unsafe {
            avx512_channels::tiles::<12>(&job, output)
        },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx2Rows6x16 if cpu != Kernel::Portable => unsafe { avx2::tiles(&job, output) },
        #[cfg(target_arch = "x86_64")]
        Tile::Avx2Channels16x6 if cpu != Kernel::Portable => unsafe {
            avx2_channels::tiles(&job, output)
        },
        #[cfg(target_arch = "aarch64")]
        Tile::NeonRows8x12 if cpu == Kernel::Neon => unsafe { neon::tiles(&job, output) },
        _ => portable(&job, output),
    }
    Ok(())
}

/// One call's operands, lengths checked.
struct Job<'a> {
    w: &'a PackedWeights,
    input: &'a [f32],
    clip: Clip,
    residual: Option<&'a [f32]>,
}

fn portable(job: &Job<'_>, output: &mut [f32]) {
    let w = job.w;
    let (ci, hw, mr) = (w.ci, w.hw, w.tile.shape().0);
    for (o, out) in output.chunks_exact_mut(hw).enumerate() {
        let (p, r) = (o / mr, o % mr);
        out.fill(w.bias[o]);
        for (k, x) in job.input.chunks_exact(hw).enumerate() {
            let a = w.panels[(p * ci + k) * mr + r];
            for (y, &v) in out.iter_mut().zip(x) {
                *y += a * v;
            }
        }
        for y in out.iter_mut() {
            *y = y.max(job.clip.lo).min(job.clip.hi);
        }
        if let Some(res) = job.residual {
            for (y, &v) in out.iter_mut().zip(&res[o * hw..][..hw]) {
                *y += v;
            }
        }
    }
}

/// Walks the output in tiles of `mr` channels by `nr` columns and calls `tile` with the tile's
/// weight panel, input, residual and output pointers, the columns it holds, the rows to store
/// and the panel after its own, to prefetch. The columns go in blocks whose input rows take a
/// quarter of L2; in each block, panel by panel, strip by strip: the block's input stays in L2
/// for every panel, and each panel writes its output rows along the block instead of every
/// panel writing a strip in turn (for a large plane that is hundreds of output rows a plane
/// apart, each written a strip at a time).
///
/// # Safety
/// `output` has `co * hw` values (as `job`'s layer); `tile` must stay within the pointers'
/// tiles as described.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn for_each_tile<F>(job: &Job<'_>, nr: usize, output: &mut [f32], mut tile: F)
where
    F: FnMut(*const f32, *const f32, *const f32, *mut f32, &[f32], usize, usize, NextPanel),
{
    let w = job.w;
    let (co, ci, hw, mr) = (w.co, w.ci, w.hw, w.tile.shape().0);
    let res = job.residual.map_or(std::ptr::null(), <[f32]>::as_ptr);
    // Blocks of columns whose input rows take a quarter of L2 (at least one strip).
    let nc = (l2_bytes() / 4 / (4 * ci) / nr).max(1) * nr;
    let mut b0 = 0;
    while b0 < hw {
        let b1 = (b0 + nc).min(hw);
        let mut m0 = 0;
        while m0 < co {
            let rows = (co - m0).min(mr);
            let mut n0 = b0;
            while n0 < b1 {
                let cols = (hw - n0).min(nr);
                // SAFETY: panel m0 / mr starts at m0 * ci (ci * mr values); row m0, column n0
                // is inside input, output and residual (m0 < co, n0 < hw).
                unsafe {
                    let r = if res.is_null() {
                        res
                    } else {
                        res.add(m0 * hw + n0)
                    };
                    let next = NextPanel::after(&w.panels, m0, mr, co, ci, (n0 - b0) / nr);
                    tile(
                        w.panels.as_ptr().add(m0 * ci),
                        job.input.as_ptr().add(n0),
                        r,
                        output.as_mut_ptr().add(m0 * hw + n0),
                        &w.bias[m0..m0 + mr],
                        cols,
                        rows,
                        next,
                    );
                }
                n0 += nr;
            }
            m0 += mr;
        }
        b0 = b1;
    }
}

/// Input rows from which a tile prefetches the next strip's columns of each row as it goes:
/// with that many rows a plane apart, the hardware prefetchers do not follow them all. First
/// set at 64 from Lightning's layers (those of 96 and more rows gained); Thunder's layers of 40
/// and 56 rows on 64x64 and 128x128 planes then ran 1.5-2.4x slower than with the prefetch
/// (56 to 32 channels on 128x128: 0.88 -> 0.56 ms), and Lightning's of 16-32 rows measured the
/// same or slightly faster with it (Intel AVX-512 machine, per-node profile).
#[cfg(target_arch = "x86_64")]
const PREFETCH_MIN_ROWS: usize = 16;

/// The panel of weights after the one a tile runs, prefetched to L2 one cache line per input
/// row: `first` is the line this tile starts at (its strip's index in the panel's walk times
/// the input rows), and `lines` the panel's lines (0 when no panel follows). A layer's weights
/// come from L3 on every frame (the model's weights do not fit L2); left to the hardware, each
/// panel arrives at the pace of the first strip that reads it, a fraction of the panel's compute.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct NextPanel {
    ptr: *const f32,
    first: usize,
    lines: usize,
}

#[cfg(target_arch = "x86_64")]
impl NextPanel {
    /// The panel after the `mr * ci` weights at `panels[m0 * ci..]`, for the `strip`-th tile of
    /// its walk.
    fn after(panels: &[f32], m0: usize, mr: usize, co: usize, ci: usize, strip: usize) -> Self {
        let next = m0 + mr < co;
        NextPanel {
            ptr: panels.as_ptr().wrapping_add((m0 + mr) * ci),
            first: strip * ci,
            lines: if next { (mr * ci).div_ceil(16) } else { 0 },
        }
    }

    /// The line for input row `k`, if the panel has it.
    #[inline(always)]
    fn prefetch(self, k: usize) {
        let line = self.first + k;
        if line < self.lines {
            // SAFETY: a prefetch never faults; the address is inside the next panel.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                    self.ptr.wrapping_add(line * 16) as *const i8,
                )
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Job, PREFETCH_MIN_ROWS, for_each_tile};
    use std::arch::x86_64::*;

    /// Tiles of `MR` output channels by `NV` vectors of 16 columns.
    ///
    /// # Safety
    /// AVX-512F; slice lengths as checked by `gemm`; weights packed `MR` rows high.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tiles<const MR: usize, const NV: usize>(
        job: &Job<'_>,
        output: &mut [f32],
    ) {
        let (ci, hw) = (job.w.ci, job.w.hw);
        let (vlo, vhi) = (_mm512_set1_ps(job.clip.lo), _mm512_set1_ps(job.clip.hi));
        // SAFETY: every tile reads `ci` rows of `cols` input columns (masked), its panel of
        // ci * MR weights and MR biases, and writes `rows` rows of `cols` columns (masked).
        unsafe {
            for_each_tile(
                job,
                16 * NV,
                output,
                |a, b, res, c, bias, cols, rows, next| {
                    let masks: [__mmask16; NV] = std::array::from_fn(|j| {
                        let n = cols.saturating_sub(16 * j).min(16);
                        ((1u32 << n) - 1) as __mmask16
                    });
                    let mut acc: [[__m512; NV]; MR] =
                        std::array::from_fn(|r| [_mm512_set1_ps(bias[r]); NV]);
                    let prefetch = ci >= PREFETCH_MIN_ROWS;
                    for k in 0..ci {
                        next.prefetch(k);
                        let bv: [__m512; NV] = std::array::from_fn(|j| {
                            _mm512_maskz_loadu_ps(masks[j], b.add(k * hw + 16 * j))
                        });
                        if prefetch {
                            // The next strip's columns of this row (past the plane's end for the
                            // last strip: a prefetch of any address is harmless).
                            for j in 0..NV {
                                _mm_prefetch::<_MM_HINT_T0>(
                                    b.wrapping_add(k * hw + 16 * NV + 16 * j) as *const i8,
                                );
                            }
                        }
                        for (r, row) in acc.iter_mut().enumerate() {
                            let av = _mm512_set1_ps(*a.add(k * MR + r));
                            for (v, &x) in row.iter_mut().zip(&bv) {
                                *v = _mm512_fmadd_ps(av, x, *v);
                            }
                        }
                    }
                    for (r, row) in acc.iter().enumerate().take(rows) {
                        for (j, &v) in row.iter().enumerate() {
                            let off = r * hw + 16 * j;
                            let mut y = _mm512_min_ps(_mm512_max_ps(v, vlo), vhi);
                            if !res.is_null() {
                                y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(masks[j], res.add(off)));
                            }
                            _mm512_mask_storeu_ps(c.add(off), masks[j], y);
                        }
                    }
                },
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512_channels {
    use super::{Job, NextPanel};
    use std::arch::x86_64::*;

    /// Tiles of 32 output channels (two vectors) by `MP` columns: for each input row, two
    /// vectors of weights and one broadcast input value per column. The results go to the
    /// channel-major output through a transpose in registers, one masked store per channel.
    ///
    /// # Safety
    /// AVX-512F; slice lengths as checked by `gemm`; weights packed 32 rows high.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tiles<const MP: usize>(job: &Job<'_>, output: &mut [f32]) {
        let w = job.w;
        let (co, ci, hw) = (w.co, w.ci, w.hw);
        let (vlo, vhi) = (_mm512_set1_ps(job.clip.lo), _mm512_set1_ps(job.clip.hi));
        let input = job.input.as_ptr();
        let mut m0 = 0;
        while m0 < co {
            let a = w.panels[m0 * ci..][..ci * 32].as_ptr();
            let bias: [__m512; 2] = std::array::from_fn(|j| unsafe {
                _mm512_loadu_ps(w.bias[m0 + 16 * j..][..16].as_ptr())
            });
            let mut p0 = 0;
            while p0 < hw {
                let cols = (hw - p0).min(MP);
                // Columns past the plane read its last column (valid memory); their sums are
                // never stored.
                let col: [usize; MP] = std::array::from_fn(|p| (p0 + p).min(hw - 1));
                let next = NextPanel::after(&w.panels, m0, 32, co, ci, p0 / MP);
                let mut acc: [[__m512; 2]; MP] = [bias; MP];
                for k in 0..ci {
                    next.prefetch(k);
                    // SAFETY: the panel has ci * 32 values; input row k has hw values and
                    // col[p] < hw.
                    unsafe {
                        let av = [
                            _mm512_loadu_ps(a.add(k * 32)),
                            _mm512_loadu_ps(a.add(k * 32 + 16)),
                        ];
                        let row = input.add(k * hw);
                        for (p, pair) in acc.iter_mut().enumerate() {
                            let x = _mm512_set1_ps(*row.add(col[p]));
                            pair[0] = _mm512_fmadd_ps(av[0], x, pair[0]);
                            pair[1] = _mm512_fmadd_ps(av[1], x, pair[1]);
                        }
                    }
                }
                // Each vector of 16 channels, clipped, turned into 16 rows of the tile's
                // columns, stored (with the residual added) along the output's channel rows.
                let keep = ((1u32 << cols) - 1) as __mmask16;
                for j in 0..2 {
                    let c0 = m0 + 16 * j;
                    if c0 >= co {
                        break;
                    }
                    let mut m = [_mm512_setzero_ps(); 16];
                    for (v, pair) in m.iter_mut().zip(&acc) {
                        *v = _mm512_min_ps(_mm512_max_ps(pair[j], vlo), vhi);
                    }
                    let rows = transpose16(m);
                    for (c, &row) in rows.iter().enumerate().take(co - c0) {
                        let base = (c0 + c) * hw + p0;
                        // SAFETY: channel c0 + c < co, columns p0.. p0 + cols <= hw: inside the
                        // output (and residual) for the lanes `keep` keeps.
                        unsafe {
                            let y = match job.residual {
                                Some(res) => _mm512_add_ps(
                                    row,
                                    _mm512_maskz_loadu_ps(keep, res.as_ptr().add(base)),
                                ),
                                None => row,
                            };
                            _mm512_mask_storeu_ps(output.as_mut_ptr().add(base), keep, y);
                        }
                    }
                }
                p0 += MP;
            }
            m0 += 32;
        }
    }

    /// The 16x16 matrix whose rows are `r`, transposed: lane `l` of row `i` becomes lane `i` of
    /// row `l` (unpacks within 128-bit lanes, then moves of whole 128-bit lanes).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        // Lane q of t[2i] holds (a[4q], b[4q], a[4q + 1], b[4q + 1]) of rows a = r[2i] and
        // b = r[2i + 1]; t[2i + 1] the same for elements 4q + 2 and 4q + 3.
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(a, b)
            } else {
                _mm512_unpackhi_ps(a, b)
            }
        });
        // Lane q of u[4g + k] holds element 4q + k of rows 4g..4g + 4.
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (g, k) = (i / 4, i % 4);
            let (x, y) = (t[4 * g + k / 2], t[4 * g + 2 + k / 2]);
            if k % 2 == 0 {
                _mm512_shuffle_ps::<0x44>(x, y)
            } else {
                _mm512_shuffle_ps::<0xEE>(x, y)
            }
        });
        // v[k], v[4 + k]: lanes 0, 2 (0x88) and 1, 3 (0xDD) of u[k] then u[4 + k] (rows 0..8);
        // v[8 + k], v[12 + k] the same for rows 8..16.
        let v: [__m512; 16] = std::array::from_fn(|i| {
            let (h, k) = (i / 4, i % 4);
            let (x, y) = if h < 2 {
                (u[k], u[4 + k])
            } else {
                (u[8 + k], u[12 + k])
            };
            if h % 2 == 0 {
                _mm512_shuffle_f32x4::<0x88>(x, y)
            } else {
                _mm512_shuffle_f32x4::<0xDD>(x, y)
            }
        });
        // Row e = 4q + k: element e of rows 0..4, 4..8, 8..12, 12..16, the lanes that v[k]
        // and v[8 + k] (q even) or v[4 + k] and v[12 + k] (q odd) hold at 0, 2 (e < 8) or 1, 3.
        std::array::from_fn(|e| {
            let k = e % 4;
            let (x, y) = if (e / 4) % 2 == 0 {
                (v[k], v[8 + k])
            } else {
                (v[4 + k], v[12 + k])
            };
            if e < 8 {
                _mm512_shuffle_f32x4::<0x88>(x, y)
            } else {
                _mm512_shuffle_f32x4::<0xDD>(x, y)
            }
        })
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Job, NextPanel, PREFETCH_MIN_ROWS, for_each_tile};
    use std::arch::x86_64::*;

    const MR: usize = 6;

    /// Tiles of 6 output channels by 16 columns.
    ///
    /// # Safety
    /// AVX2 and FMA; slice lengths as checked by `gemm`; weights packed 6 rows high.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tiles(job: &Job<'_>, output: &mut [f32]) {
        let (ci, hw) = (job.w.ci, job.w.hw);
        let clip = (_mm256_set1_ps(job.clip.lo), _mm256_set1_ps(job.clip.hi));
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        // SAFETY: as in the AVX-512 kernel, with 8-lane masks.
        unsafe {
            for_each_tile(job, 16, output, |a, b, res, c, bias, cols, rows, next| {
                let masks: [__m256i; 2] = std::array::from_fn(|j| {
                    let n = cols.saturating_sub(8 * j).min(8) as i32;
                    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane)
                });
                let t = Tile {
                    ci,
                    hw,
                    a,
                    b,
                    res,
                    c,
                    rows,
                    next,
                };
                // Whole strips with plain loads and stores (a masked load costs an ALU
                // operation beside the load on many CPUs), the plane's last strip masked.
                if cols == 16 {
                    tile::<true>(&t, bias, masks, clip)
                } else {
                    tile::<false>(&t, bias, masks, clip)
                }
            });
        }
    }

    /// One tile's pointers and sizes, as `for_each_tile` gives them.
    struct Tile {
        ci: usize,
        hw: usize,
        a: *const f32,
        b: *const f32,
        res: *const f32,
        c: *mut f32,
        rows: usize,
        next: NextPanel,
    }

    /// One tile: `FULL` when all 16 columns are in the plane (then `masks` are all on).
    ///
    /// # Safety
    /// AVX2 and FMA; `t` as `for_each_tile` describes its tile, `masks` its columns.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const FULL: bool>(
        t: &Tile,
        bias: &[f32],
        masks: [__m256i; 2],
        (vlo, vhi): (__m256, __m256),
    ) {
        let (ci, hw) = (t.ci, t.hw);
        // SAFETY (loads and stores): lanes the masks keep are inside the tile's rows.
        let load = |p: *const f32, j: usize| unsafe {
            if FULL {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, masks[j])
            }
        };
        let mut acc: [[__m256; 2]; MR] = std::array::from_fn(|r| [_mm256_set1_ps(bias[r]); 2]);
        let prefetch = ci >= PREFETCH_MIN_ROWS;
        for k in 0..ci {
            t.next.prefetch(k);
            // SAFETY: row k of the strip, and the panel's row k (MR values).
            unsafe {
                let bv: [__m256; 2] = std::array::from_fn(|j| load(t.b.add(k * hw + 8 * j), j));
                if prefetch {
                    // As in the AVX-512 tiles: the next strip's columns of this row.
                    _mm_prefetch::<_MM_HINT_T0>(t.b.wrapping_add(k * hw + 16) as *const i8);
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_ps(*t.a.add(k * MR + r));
                    for (v, &x) in row.iter_mut().zip(&bv) {
                        *v = _mm256_fmadd_ps(av, x, *v);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate().take(t.rows) {
            for (j, &v) in row.iter().enumerate() {
                let off = r * hw + 8 * j;
                let mut y = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
                // SAFETY: row r < rows of the tile's output (and residual), its columns.
                unsafe {
                    if !t.res.is_null() {
                        y = _mm256_add_ps(y, load(t.res.add(off), j));
                    }
                    if FULL {
                        _mm256_storeu_ps(t.c.add(off), y)
                    } else {
                        _mm256_maskstore_ps(t.c.add(off), masks[j], y)
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2_channels {
    use super::{Job, NextPanel};
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    thread_local! {
        // The input packed tile by tile, reused across calls on the inference thread.
        static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// Columns per tile.
    const NP: usize = 6;

    /// Tiles of 16 output channels (two vectors) by 6 columns: for each input row, two vectors
    /// of weights and one broadcast input value per column, 12 sums. The input is first packed
    /// tile by tile (each tile's 6 columns of every row side by side, so a tile reads one
    /// stream instead of one cache line per row); then panel by panel, each along the whole
    /// plane. The sums go to the channel-major output through a small buffer on the stack
    /// (AVX2 has no scatter).
    ///
    /// # Safety
    /// AVX2 and FMA; slice lengths as checked by `gemm`; weights packed 16 rows high.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tiles(job: &Job<'_>, output: &mut [f32]) {
        let w = job.w;
        let (co, ci, hw) = (w.co, w.ci, w.hw);
        let (vlo, vhi) = (_mm256_set1_ps(job.clip.lo), _mm256_set1_ps(job.clip.hi));
        let tiles = hw.div_ceil(NP);
        PACKED.with(|cell| {
            let mut packed = cell.borrow_mut();
            packed.clear();
            packed.resize(tiles * ci * NP, 0.0);
            // The input as [tile][k][NP]: each tile's columns of each row side by side; columns
            // past the plane repeat its last column (their sums are never stored).
            for (k, row) in job.input.chunks_exact(hw).enumerate() {
                for t in 0..tiles {
                    let dst = &mut packed[(t * ci + k) * NP..][..NP];
                    for (p, d) in dst.iter_mut().enumerate() {
                        *d = row[(t * NP + p).min(hw - 1)];
                    }
                }
            }
            let input = packed.as_ptr();
            let mut m0 = 0;
            while m0 < co {
                let rows = (co - m0).min(16);
                let a = w.panels[m0 * ci..][..ci * 16].as_ptr();
                let bias: [__m256; 2] = std::array::from_fn(|j| unsafe {
                    _mm256_loadu_ps(w.bias[m0 + 8 * j..][..8].as_ptr())
                });
                let mut p0 = 0;
                while p0 < hw {
                    let cols = (hw - p0).min(NP);
                    let tile = input.wrapping_add(p0 / NP * ci * NP);
                    let next = NextPanel::after(&w.panels, m0, 16, co, ci, p0 / NP);
                    let mut acc: [[__m256; 2]; NP] = [bias; NP];
                    for k in 0..ci {
                        next.prefetch(k);
                        // SAFETY: the panel has ci * 16 values, the packed tile ci * NP.
                        unsafe {
                            let av = [
                                _mm256_loadu_ps(a.add(k * 16)),
                                _mm256_loadu_ps(a.add(k * 16 + 8)),
                            ];
                            let row = tile.add(k * NP);
                            for (p, pair) in acc.iter_mut().enumerate() {
                                let x = _mm256_broadcast_ss(&*row.add(p));
                                pair[0] = _mm256_fmadd_ps(av[0], x, pair[0]);
                                pair[1] = _mm256_fmadd_ps(av[1], x, pair[1]);
                            }
                        }
                    }
                    // Column-major on the stack: buf[p][r] is channel m0 + r at column p0 + p.
                    let mut buf = [[0.0f32; 16]; NP];
                    for (b, pair) in buf.iter_mut().zip(&acc) {
                        for (j, &v) in pair.iter().enumerate() {
                            let y = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
                            // SAFETY: b has 16 values; j < 2.
                            unsafe { _mm256_storeu_ps(b.as_mut_ptr().add(8 * j), y) };
                        }
                    }
                    for (p, b) in buf.iter().enumerate().take(cols) {
                        for (r, &v) in b.iter().enumerate().take(rows) {
                            let i = (m0 + r) * hw + p0 + p;
                            output[i] = v + job.residual.map_or(0.0, |res| res[i]);
                        }
                    }
                    p0 += NP;
                }
                m0 += 16;
            }
        });
    }
}

/// tract op: a dense convolution (group 1) with its packed weights and bias, clip, and an
/// optional second input added after the clip (a residual connection).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    weights: Arc<PackedWeights>,
    // Input geometry (`channels` = input channels). 1x1, stride 1, no padding reads the input as
    // it is; anything else goes through im2col, or on AVX-512 or AVX2 a 3x3 layer of stride 1
    // or 2 with few input channels through the direct kernel (`direct`).
    geometry: Geometry,
    clip: Clip,
    residual: bool,
    // Only x86-64 has the direct kernel.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    direct: Option<Arc<DirectWeights>>,
}

/// A layer's weights for [`super::dwconv::direct::Direct::dense`]: `[ci * 9][cop]` tap-major
/// and the bias `[cop]`, `cop` being the output channels rounded up to 8 (zeros past them).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct DirectWeights {
    weights: Vec<f32>,
    bias: Vec<f32>,
    // The layer's column chunks and masks, worked out once.
    #[cfg(target_arch = "x86_64")]
    kernel: super::dwconv::direct::Direct,
}

impl DirectWeights {
    /// For `kernel` and the layer of `g` (weights `[co, C, 3, 3]`), when the direct kernel
    /// takes it: AVX-512 or AVX2, 3x3, stride (1, 1) or (2, 2), at most
    /// [`super::dwconv::direct::DENSE_MAX_CHANNELS`] input channels, no residual.
    #[allow(unused_variables)]
    fn new(
        kernel: Kernel,
        g: &Geometry,
        co: usize,
        weights: &[f32],
        bias: &[f32],
        residual: bool,
    ) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let taken =
                !residual && (1..=super::dwconv::direct::DENSE_MAX_CHANNELS).contains(&g.channels);
            if !taken || weights.len() != co * g.channels * 9 || bias.len() != co {
                return None;
            }
            // 3x3 of stride (1, 1) or (2, 2), or none.
            let (ho, wo) = g.out_hw()?;
            let direct = super::dwconv::direct::Direct::new(kernel, g, ho, wo)?;
            let cop = co.next_multiple_of(8);
            let k = g.channels * 9;
            let mut packed = vec![0.0; k * cop];
            for (o, row) in weights.chunks_exact(k).enumerate() {
                for (t, &v) in row.iter().enumerate() {
                    packed[t * cop + o] = v;
                }
            }
            let mut b = vec![0.0; cop];
            b[..co].copy_from_slice(bias);
            Some(Self {
                weights: packed,
                bias: b,
                kernel: direct,
            })
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }
}

// The weights are finite (a model's), so equality is an equivalence.
impl Eq for Conv2d {}

impl Conv2d {
    /// The layer on `[1, C, H, W]` inputs of `geometry`, with `weights` `[co, C, kh, kw]` (flat)
    /// and `bias` `[co]` packed for `kernel`; with `residual`, the op takes a second input of the
    /// output's shape and adds it after the clip.
    ///
    /// # Errors
    /// When the kernel does not fit or the sizes disagree.
    pub fn new(
        kernel: Kernel,
        geometry: Geometry,
        co: usize,
        weights: &[f32],
        bias: &[f32],
        clip: Clip,
        residual: bool,
    ) -> TractResult<Self> {
        let [_, _, ho, wo] = geometry.output_shape(co)?;
        let inner = geometry.channels * geometry.kernel.0 * geometry.kernel.1;
        let direct = DirectWeights::new(kernel, &geometry, co, weights, bias, residual);
        let weights = PackedWeights::new(kernel, co, inner, ho * wo, weights, bias)?;
        Ok(Self {
            weights: Arc::new(weights),
            geometry,
            clip,
            residual,
            direct: direct.map(Arc::new),
        })
    }

    /// The same layer with its weights (`weights` and `bias` as given to [`Conv2d::new`])
    /// packed for `tile`.
    ///
    /// # Errors
    /// When the sizes disagree.
    fn repacked(&self, tile: Tile, weights: &[f32], bias: &[f32]) -> TractResult<Self> {
        let (co, ci, hw) = self.weights.dims();
        Ok(Self {
            weights: Arc::new(PackedWeights::with_tile(tile, co, ci, hw, weights, bias)?),
            ..self.clone()
        })
    }

    /// Where `kernel` has two tile layouts (AVX2: rows and channels) and the layer runs as a
    /// matrix product: the layer packed for whichever measured faster on it, timed at load and
    /// cached like the per-layer choice ([`choice::prefer_second_tile`]). Otherwise, or outside
    /// a measured load, `self` as [`Conv2d::new`] packed it (by [`PackedWeights::new`]'s
    /// padding rule).
    ///
    /// # Errors
    /// When a timing run fails.
    fn with_measured_tile(
        self,
        kernel: Kernel,
        weights: &[f32],
        bias: &[f32],
    ) -> TractResult<Self> {
        let &[first, second] = Tile::for_kernel(kernel) else {
            return Ok(self);
        };
        if self.direct.is_some() || !choice::measuring() {
            return Ok(self);
        }
        // Both packings and the sample input only when the timing is not cached yet.
        let second_wins = choice::prefer_second_tile(&self.shape_key(), || {
            let a = self.repacked(first, weights, bias)?;
            let b = self.repacked(second, weights, bias)?;
            let inputs = self.sample_inputs()?;
            let ctx = EvalContext::out_of_plan();
            choice::time_pair(
                || a.eval(&ctx, inputs.clone()).map(drop),
                || b.eval(&ctx, inputs.clone()).map(drop),
            )
        })?;
        let tile = if second_wins { second } else { first };
        if self.weights.tile == tile {
            Ok(self)
        } else {
            self.repacked(tile, weights, bias)
        }
    }

    /// Reproducible inputs for timing the layer: the input and, with a residual, the residual.
    fn sample_inputs(&self) -> TractResult<TVec<TValue>> {
        let g = &self.geometry;
        let x = Tensor::from_shape(
            &g.input_shape(),
            &choice::sample_values(g.input_shape().iter().product()),
        )?
        .into_tvalue();
        let mut inputs = tvec![x];
        if self.residual {
            let out_shape = self.output_shape()?;
            let r = choice::sample_values(out_shape.iter().product());
            inputs.push(Tensor::from_shape(&out_shape, &r)?.into_tvalue());
        }
        Ok(inputs)
    }

    /// The layer's shape as the per-layer choice keys its timing: everything its cost depends
    /// on, not the weights' values.
    pub(crate) fn shape_key(&self) -> String {
        format!(
            "dense {} co{} clip {} residual {}",
            self.geometry.shape_key(),
            self.weights.co,
            self.clip != Clip::NONE,
            self.residual
        )
    }

    /// Times this op against tract's convolution of the same layer (`weights` and `bias` as
    /// given to [`Conv2d::new`]), on one thread: see [`choice::time_pair`].
    fn calibrate(&self, weights: &[f32], bias: &[f32]) -> TractResult<choice::Timing> {
        let g = &self.geometry;
        let inputs = self.sample_inputs()?;
        let x = inputs[0].clone();
        let plan = tract_conv_plan(g, self.weights.co, 1, weights, bias)?;
        let mut state = plan.spawn()?;
        let ctx = EvalContext::out_of_plan();
        choice::time_pair(
            || self.eval(&ctx, inputs.clone()).map(drop),
            || state.run(tvec![x.clone()]).map(drop),
        )
    }

    /// The packed weights, input geometry, clip and whether a residual is added: what
    /// [`super::fused`] needs to take the layer into a fused block.
    pub(crate) fn parts(&self) -> (&PackedWeights, &Geometry, Clip, bool) {
        (&self.weights, &self.geometry, self.clip, self.residual)
    }

    pub(crate) fn is_1x1(&self) -> bool {
        let g = &self.geometry;
        g.kernel == (1, 1) && g.stride == (1, 1) && g.pads == [0; 4]
    }

    fn output_shape(&self) -> TractResult<[usize; 4]> {
        self.geometry.output_shape(self.weights.co)
    }

    /// Runs the layer with the direct kernel when it has one and the CPU runs it; whether it
    /// did.
    #[allow(unused_variables)]
    fn run_direct(&self, input: &[f32], output: &mut [f32]) -> TractResult<bool> {
        #[cfg(target_arch = "x86_64")]
        if let Some(d) = &self.direct
            && d.kernel.kernel().supported()
        {
            let g = &self.geometry;
            let [_, co, ho, wo] = self.output_shape()?;
            ensure!(
                input.len() == g.channels * g.in_hw.0 * g.in_hw.1 && output.len() == co * ho * wo
            );
            // SAFETY: the CPU runs the layout's family; the weights and chunks were laid out for
            // this layer.
            unsafe {
                d.kernel
                    .dense(g.channels, input, &d.weights, &d.bias, self.clip, output)
            };
            return Ok(true);
        }
        Ok(false)
    }
}

impl Op for Conv2d {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let w = &self.weights;
        Ok(vec![format!(
            "{} filters on {:?}, tile {:?}, clip {:?}, residual {}",
            w.co, self.geometry, w.tile, self.clip, self.residual
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Conv2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let g = &self.geometry;
        let in_shape = g.input_shape();
        ensure!(
            inputs.len() == 1 + usize::from(self.residual),
            "{OP_TYPE}: {} inputs",
            inputs.len()
        );
        ensure!(
            inputs[0].shape() == in_shape,
            "{OP_TYPE}: input shape {:?}, expected {in_shape:?}",
            inputs[0].shape(),
        );
        let out_shape = self.output_shape()?;
        if let Some(r) = inputs.get(1) {
            ensure!(
                r.shape() == out_shape,
                "{OP_TYPE}: residual shape {:?}, expected {out_shape:?}",
                r.shape()
            );
        }
        // SAFETY: `gemm` writes every value of the output before anyone reads it (or fails, and
        // the tensor is dropped unread).
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        {
            let src = inputs[0].try_as_plain_ram()?;
            let src = src.as_slice::<f32>()?;
            let res = inputs.get(1).map(|r| r.try_as_plain_ram()).transpose()?;
            let res = res.as_ref().map(|r| r.as_slice::<f32>()).transpose()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            let dst = dst.as_slice_mut::<f32>()?;
            if self.is_1x1() {
                gemm(&self.weights, src, self.clip, res, dst)?;
            } else if !self.run_direct(src, dst)? {
                IM2COL.with(|cell| {
                    let mut cols = cell.borrow_mut();
                    im2col(g, src, &mut cols)?;
                    gemm(&self.weights, &cols, self.clip, res, dst)
                })?;
            }
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for Conv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec![f32::fact(self.output_shape()?)])
    }

    as_op!();
}

/// The ONNX node as parsed, before shapes are known.
#[derive(Clone, Debug, PartialEq)]
struct ConvExpansion(ConvAttrs, Backend);

impl Expansion for ConvExpansion {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        if inputs.len() != 3 && inputs.len() != 4 {
            bail!("{OP_TYPE} takes 3 or 4 inputs, got {}", inputs.len());
        }
        s.equals(&outputs[0].shape[1], &inputs[1].shape[0])?;
        if let Some(r) = inputs.get(3) {
            s.equals(&r.shape, &outputs[0].shape)?;
        }
        self.0.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let [n, ci, h, w] = shape4(model, inputs[0], prefix, "the input")?;
        let [co, wci, kh, kw] = shape4(model, inputs[1], prefix, "the weights")?;
        ensure!(
            n == 1 && wci == ci,
            "{prefix}: input [{n}, {ci}, ..] and weights [{co}, {wci}, ..], expected [1, C, H, W] and [Co, C, kh, kw]"
        );
        if self.1 == Backend::Tract {
            choice::count_tract_layer();
            return wire_tract_chain(&self.0, 1, prefix, model, inputs);
        }
        let residual = inputs.len() == 4;
        let weights = constant_f32(model, inputs[1], prefix, "the weights")?;
        let bias = constant_f32(model, inputs[2], prefix, "the bias")?;
        let kernel = choice::loading_family().unwrap_or(self.0.kernel);
        let op = Conv2d::new(
            kernel,
            self.0.geometry(ci, (h, w), (kh, kw)),
            co,
            &weights,
            &bias,
            self.0.clip,
            residual,
        )?
        .with_measured_tile(kernel, &weights, &bias)?;
        if choice::prefer_tract(&op.shape_key(), || op.calibrate(&weights, &bias))? {
            return wire_tract_chain(&self.0, 1, prefix, model, inputs);
        }
        let wired: TVec<OutletId> = if residual {
            tvec![inputs[0], inputs[3]]
        } else {
            tvec![inputs[0]]
        };
        model.wire_node(prefix, op, &wired)
    }
}

impl PostureNode for ConvExpansion {
    const OP_TYPE: &'static str = OP_TYPE;
    fn new(attrs: ConvAttrs, backend: Backend) -> Self {
        ConvExpansion(attrs, backend)
    }
}

/// Lets tract-onnx build `PostureConv2d` nodes, run by `backend`'s code.
pub fn register(ops: &mut OnnxOpRegister, backend: Backend) {
    register_node::<ConvExpansion>(ops, backend);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::kernels::ops::{test_values, tract_reference};
    use proptest::prelude::*;

    /// Every kernel this CPU runs, with each of its tiles, gives tract's result (then clipped,
    /// then the residual added).
    fn check(g: Geometry, co: usize, seed: u64, clip: Option<(f32, f32)>, residual: bool) {
        let clip = clip.map_or(Clip::NONE, |(lo, hi)| Clip::new(lo, hi));
        let (c, (h, w), (kh, kw)) = (g.channels, g.in_hw, g.kernel);
        let mut state = seed | 1;
        let input = test_values(c * h * w, &mut state);
        let weights = test_values(co * c * kh * kw, &mut state);
        let bias = test_values(co, &mut state);
        let (ho, wo) = g.out_hw().unwrap();
        let res = residual.then(|| test_values(co * ho * wo, &mut state));
        let expected: Vec<f32> = tract_reference(&g, co, 1, &input, &weights, &bias, clip)
            .iter()
            .enumerate()
            .map(|(i, v)| v + res.as_ref().map_or(0.0, |r| r[i]))
            .collect();
        // Sums of K = c*kh*kw products of values below 2 in size: within 1e-5 of the largest
        // possible sum, 4K (f32 sums of the same products in another order differ by far less).
        let tol = 1e-5 * (4.0 * (c * kh * kw) as f32).max(1.0);
        let runs = Kernel::ALL
            .into_iter()
            .filter(|k| k.supported())
            .flat_map(|k| Tile::for_kernel(k).iter().map(move |&t| (k, t)));
        for (kernel, tile) in runs {
            // Every tile the family has, not only the one the padding rule or a timing picks.
            let op = Conv2d::new(kernel, g, co, &weights, &bias, clip, residual)
                .unwrap()
                .repacked(tile, &weights, &bias)
                .unwrap();
            let mut inputs = tvec![
                Tensor::from_shape(&[1, c, h, w], &input)
                    .unwrap()
                    .into_tvalue()
            ];
            if let Some(r) = &res {
                inputs.push(
                    Tensor::from_shape(&[1, co, ho, wo], r)
                        .unwrap()
                        .into_tvalue(),
                );
            }
            let got = op.eval(&EvalContext::out_of_plan(), inputs).unwrap();
            let got = got[0].try_as_plain_ram().unwrap();
            let got = got.as_slice::<f32>().unwrap();
            assert_eq!(got.len(), expected.len());
            for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= tol,
                    "{kernel:?} tile {:?} {g:?} co {co} at {i}: {a} vs tract {b}",
                    op.weights.tile()
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn one_by_one_layers_match_tract(
            co in 1usize..70,
            ci in 1usize..40,
            h in 1usize..20,
            w in 1usize..20,
            clip in proptest::option::of((-1.0f32..0.0, 0.5f32..6.0)),
            residual in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let g = Geometry { channels: ci, in_hw: (h, w), kernel: (1, 1), stride: (1, 1), pads: [0; 4] };
            check(g, co, seed, clip, residual);
        }

        /// 3x3 layers of stride 1 and 2 with few input channels (AVX-512's direct kernel), on
        /// planes wider than one vector.
        #[test]
        fn three_by_three_layers_of_few_channels_match_tract(
            co in 1usize..20,
            ci in 1usize..6,
            h in 1usize..30,
            w in 1usize..50,
            stride in 1usize..3,
            pads in proptest::array::uniform4(0usize..3),
            clip in proptest::option::of((-1.0f32..0.0, 0.5f32..6.0)),
            seed in any::<u64>(),
        ) {
            let g = Geometry { channels: ci, in_hw: (h, w), kernel: (3, 3), stride: (stride, stride), pads };
            prop_assume!(g.out_hw().is_some());
            check(g, co, seed, clip, false);
        }

        #[test]
        fn strided_padded_layers_match_tract(
            co in 1usize..40,
            ci in 1usize..6,
            h in 1usize..24,
            w in 1usize..24,
            kh in 1usize..4,
            kw in 1usize..4,
            sh in 1usize..4,
            sw in 1usize..4,
            pads in proptest::array::uniform4(0usize..3),
            clip in proptest::option::of((-1.0f32..0.0, 0.5f32..6.0)),
            seed in any::<u64>(),
        ) {
            let g = Geometry { channels: ci, in_hw: (h, w), kernel: (kh, kw), stride: (sh, sw), pads };
            prop_assume!(g.out_hw().is_some());
            check(g, co, seed, clip, false);
        }
    }

    #[test]
    fn matches_tract_on_movenets_layer_shapes() {
        // The first layer (3x3, stride 2, padded bottom/right) and 1x1 layers of every plane
        // size, with the channel counts that pad the tiles least and most.
        let first = Geometry {
            channels: 3,
            in_hw: (192, 192),
            kernel: (3, 3),
            stride: (2, 2),
            pads: [0, 0, 1, 1],
        };
        check(first, 32, 1, Some((0.0, 6.0)), false);
        for (co, ci, s) in [
            (96, 16, 96),
            (24, 144, 48),
            (17, 96, 48),
            (1, 96, 48),
            (192, 32, 24),
            (576, 96, 12),
            (1280, 320, 6),
            (64, 1280, 6),
        ] {
            let g = Geometry {
                channels: ci,
                in_hw: (s, s),
                kernel: (1, 1),
                stride: (1, 1),
                pads: [0; 4],
            };
            check(g, co, (co * ci + s) as u64, None, s == 12);
        }
    }

    #[test]
    fn the_first_tile_padded_about_the_least_is_chosen() {
        let packed = |co, hw| {
            PackedWeights::new(Kernel::Avx512, co, 1, hw, &vec![0.0; co], &vec![0.0; co])
                .unwrap()
                .tile()
        };
        // 36 pixels: 12-column channel tiles pad nothing, 16-wide column vectors pad to 48.
        assert_eq!(packed(1280, 36), (32, 12));
        // 17 channels: 32-channel tiles would waste 15, so column vectors.
        assert_eq!(packed(17, 36).1, 16);
        // 9216 pixels and 96 channels: nothing pads, the first preference wins.
        assert_eq!(packed(96, 9216), (12, 32));
        // 16 channels: 8-row panels pad nothing.
        assert_eq!(packed(16, 9216), (8, 32));
        // 560 channels: 8-row panels pad nothing, 12-row ones 0.7 %: within 3 %, and first.
        assert_eq!(packed(560, 64), (12, 32));
        // 56 channels: 12-row panels pad 7 %, too much.
        assert_eq!(packed(56, 64), (8, 32));
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        assert!(PackedWeights::new(Kernel::Portable, 2, 3, 4, &[0.0; 5], &[0.0; 2]).is_err());
        assert!(PackedWeights::new(Kernel::Portable, 2, 3, 4, &[0.0; 6], &[0.0; 3]).is_err());
        assert!(PackedWeights::new(Kernel::Portable, 0, 3, 4, &[], &[]).is_err());
        let w = PackedWeights::new(Kernel::Portable, 2, 3, 4, &[0.0; 6], &[0.0; 2]).unwrap();
        let mut out = [0.0; 8];
        assert!(gemm(&w, &[0.0; 11], Clip::NONE, None, &mut out).is_err());
        assert!(gemm(&w, &[0.0; 12], Clip::NONE, Some(&[0.0; 7]), &mut out).is_err());
        assert!(gemm(&w, &[0.0; 12], Clip::NONE, None, &mut out[..7]).is_err());
        let g = Geometry {
            channels: 1,
            in_hw: (2, 2),
            kernel: (3, 3),
            stride: (1, 1),
            pads: [0; 4],
        };
        assert!(Conv2d::new(Kernel::Portable, g, 1, &[0.0; 9], &[0.0], Clip::NONE, false).is_err());
    }
}
