//! posture's own depthwise convolution for tract: `PostureDepthwiseConv2d`.
//!
//! tract 0.23's x86 depthwise kernel vectorises along W only for stride 1 (stride-2 layers run
//! scalar) and leaves the ReLU6 that follows every MobileNet depthwise layer as two more passes.
//! `models/prepare.py` replaces each depthwise `Conv` (and the `Clip` after it) with one node of
//! this op; [`register`] teaches tract-onnx to build it. The kernel works on NCHW planes, any
//! kernel size and stride, with bias and clipping fused, and picks its inner loop at run time:
//! AVX2+FMA on x86-64 CPUs that have it, NEON on aarch64 ([`neon`]), plain loops (which the
//! compiler vectorises) elsewhere.
//!
//! On AVX-512 and AVX2 a 3x3 layer of stride 1 or 2 (all of MoveNet's) is computed straight from
//! the input planes ([`direct`]): 16 (AVX-512) or 8 (AVX2) output columns per vector, each tap a
//! masked load of an input row (lanes over the padding read 0; stride 2 splits twice the loaded
//! columns into even and odd lanes), several output rows at a time so each input row is loaded
//! once for all the rows that read it. The same layout serves the dense first layer
//! ([`direct::Direct::dense`]).
//!
//! Otherwise each plane is first copied into a zero-padded scratch buffer split into `stride`
//! column phases (phase `k` holds padded columns `k, k + s, k + 2s, ...`), so every tap of every
//! stride reads contiguous memory: output column `x` under tap `kx` reads phase `kx % s` at
//! `x + kx / s`.

use std::cell::RefCell;

use tract_onnx::model::OnnxOpRegister;
use tract_onnx::tract_hir::internal::*;

use super::choice;
use super::ops::{
    Backend, Clip, ConvAttrs, Geometry, Kernel, PostureNode, constant_f32, register_node, shape4,
    tract_conv_plan, wire_tract_chain,
};

/// The ONNX op type `models/prepare.py` writes (domain `posture`).
pub const OP_TYPE: &str = "PostureDepthwiseConv2d";

/// The inference thread's reusable buffer: the padded stride phases of one plane.
struct Scratch {
    phases: Vec<f32>,
}

thread_local! {
    // Per-plane phase buffer, reused across calls on the inference thread.
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            phases: Vec::new(),
        })
    };
}

/// Depthwise convolution of `input` (`[C, H, W]`, row-major) into `output` (`[C, Ho, Wo]`), with
/// `weights` `[C, kh, kw]`, `bias` `[C]`, and each output clamped to `clip` when given.
///
/// # Errors
/// When a slice length does not match `geometry`.
pub fn depthwise(
    kernel: Kernel,
    g: &Geometry,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    clip: Clip,
    output: &mut [f32],
) -> TractResult<()> {
    depthwise_with(kernel, g, None, input, weights, bias, clip, output)
}

/// A depthwise layer's direct layout: on x86-64 the direct kernel's column chunks and masks
/// (for AVX-512 or AVX2); elsewhere there is none.
#[cfg(target_arch = "x86_64")]
pub(crate) type Layout = direct::Direct;

/// A depthwise layer's direct layout: on x86-64 the direct kernel's column chunks and masks;
/// elsewhere there is none.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout;

/// The direct layout (AVX-512 or AVX2) of a depthwise layer of geometry `g`, worked out once,
/// at load, for [`depthwise_with`]; `None` where `kernel` does not run the direct kernel on
/// this geometry.
pub(crate) fn direct_layout(kernel: Kernel, g: &Geometry) -> Option<Layout> {
    #[cfg(target_arch = "x86_64")]
    {
        let (ho, wo) = g.out_hw()?;
        matches!(kernel, Kernel::Avx512 | Kernel::Avx2Fma)
            .then(|| direct::Direct::new(kernel, g, ho, wo))
            .flatten()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kernel, g);
        None
    }
}

/// [`depthwise`] with the layer's direct layout already worked out
/// ([`direct_layout`] of the same `kernel` and `g`), so a frame allocates nothing for it; with
/// `None` it is worked out here when needed.
///
/// # Errors
/// When a slice length does not match `geometry`, or when `layout` was made for another
/// geometry or kernel family (checked where the direct kernel runs; elsewhere the layout is not
/// used).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_with(
    kernel: Kernel,
    g: &Geometry,
    layout: Option<&Layout>,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
    clip: Clip,
    output: &mut [f32],
) -> TractResult<()> {
    let (ho, wo) = g
        .out_hw()
        .ok_or_else(|| format_err!("depthwise kernel larger than its padded input: {g:?}"))?;
    let (h, w) = g.in_hw;
    let (kh, kw) = g.kernel;
    let c = g.channels;
    ensure!(
        input.len() == c * h * w,
        "depthwise input: {} values for {g:?}",
        input.len()
    );
    ensure!(
        weights.len() == c * kh * kw,
        "depthwise weights: {} values",
        weights.len()
    );
    ensure!(bias.len() == c, "depthwise bias: {} values", bias.len());
    ensure!(
        output.len() == c * ho * wo,
        "depthwise output: {} values",
        output.len()
    );
    let (sh, sw) = g.stride;
    let hp = h + g.pads[0] + g.pads[2];
    // Width of one phase row: enough for every tap of every output column.
    let we = wo + (kw - 1) / sw;
    // Where tap column kx reads: phase kx % sw at offset kx / sw (divisions done once, here).
    let cols = (0..kw).map(|kx| (kx % sw, kx / sw)).collect();
    let plane = Plane {
        hp,
        we,
        sw,
        sh,
        ho,
        wo,
        kh,
        kw,
        cols,
    };
    let cpu = Kernel::detect();
    let simd3x3 = kh == 3 && kw == 3 && cpu != Kernel::Portable;
    // AVX-512 or AVX2, 3x3, stride 1 or 2: straight from the input, no scratch
    // (`direct::Direct`).
    #[cfg(target_arch = "x86_64")]
    if (kernel == Kernel::Avx512 && cpu == Kernel::Avx512)
        || (kernel == Kernel::Avx2Fma && cpu != Kernel::Portable)
    {
        let built;
        let direct = match layout {
            Some(d) => {
                ensure!(
                    d.fits(g) && d.kernel() == kernel,
                    "depthwise layout made for another geometry or kernel family than {g:?} \
                     ({kernel:?})"
                );
                Some(d)
            }
            None => {
                built = direct::Direct::new(kernel, g, ho, wo);
                built.as_ref()
            }
        };
        if let Some(d) = direct {
            // SAFETY: the layout is this geometry's and `kernel`'s, whose instructions the CPU
            // has (both checked above); the lengths are checked above.
            unsafe { d.layer(input, weights, bias, clip, output) };
            return Ok(());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = layout;
    SCRATCH.with(|cell| {
        let Scratch { phases: scratch } = &mut *cell.borrow_mut();
        // All zeros: the padding cells (never written below) must read 0.
        scratch.clear();
        scratch.resize(sw * hp * we, 0.0);
        for ch in 0..c {
            let src = &input[ch * h * w..][..h * w];
            fill_phases(g, &plane, src, scratch);
            let taps = &weights[ch * kh * kw..][..kh * kw];
            let out = &mut output[ch * ho * wo..][..ho * wo];
            match kernel {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2Fma | Kernel::Avx512 if simd3x3 => {
                    // SAFETY: the CPU has AVX2 and FMA and the kernel is 3x3 (`simd3x3`).
                    unsafe { avx2::plane3x3(&plane, scratch, taps, bias[ch], clip, out) }
                }
                #[cfg(target_arch = "aarch64")]
                Kernel::Neon if simd3x3 => {
                    // SAFETY: the CPU has NEON and the kernel is 3x3 (`simd3x3`).
                    unsafe { neon::plane3x3(&plane, scratch, taps, bias[ch], clip, out) }
                }
                _ => portable_plane(&plane, scratch, taps, bias[ch], clip, out),
            }
        }
    });
    Ok(())
}

#[cfg(target_arch = "aarch64")]
mod neon;

struct Plane {
    hp: usize,
    we: usize,
    sw: usize,
    sh: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    cols: TVec<(usize, usize)>,
}

impl Plane {
    /// The `wo` values tap (`ky`, `kx`) reads for output row `y`.
    #[inline(always)]
    fn taps_row<'a>(&self, scratch: &'a [f32], y: usize, ky: usize, kx: usize) -> &'a [f32] {
        let (phase, offset) = self.cols[kx];
        &scratch[(phase * self.hp + y * self.sh + ky) * self.we + offset..][..self.wo]
    }
}

// Writes the input plane into the phase rows of `scratch`. Only the cells that hold input values
// are written: `scratch` is zeroed once per layer and the padding cells are the same for every
// channel, so they stay zero.
fn fill_phases(g: &Geometry, p: &Plane, src: &[f32], scratch: &mut [f32]) {
    let (h, w) = g.in_hw;
    let (pt, pl) = (g.pads[0], g.pads[1]);
    let row_of = |k: usize, r: usize| (k * p.hp + r) * p.we..(k * p.hp + r + 1) * p.we;
    // Phase k, column i holds input column i * sw + k - pl: the first inside one is at
    // i = first(k), input column x0(k) < sw.
    let first = |k: usize| pl.saturating_sub(k).div_ceil(p.sw);
    let x0 = |k: usize| first(k) * p.sw + k - pl;
    for (iy, row) in src.chunks_exact(w).enumerate().take(h) {
        let r = iy + pt;
        if r >= p.hp {
            break;
        }
        if p.sw == 1 {
            let dst = &mut scratch[row_of(0, r)];
            let start = pl.min(p.we);
            let n = w.min(p.we - start);
            dst[start..start + n].copy_from_slice(&row[..n]);
        } else if p.sw == 2 {
            // Two phases: one takes the even input columns, the other the odd ones.
            let (ke, ko) = if x0(0) == 0 { (0, 1) } else { (1, 0) };
            let (fe, fo) = (first(ke), first(ko));
            let (lo, hi) = scratch.split_at_mut(row_of(1, r).start);
            let (even_row, odd_row) = if ke == 0 {
                (&mut lo[row_of(0, r)], &mut hi[..p.we])
            } else {
                (&mut hi[..p.we], &mut lo[row_of(0, r)])
            };
            let evens = &mut even_row[fe.min(p.we)..];
            let odds = &mut odd_row[fo.min(p.we)..];
            // Pairs while both sides have room (this loop vectorises), then whatever is left.
            let n = (w / 2).min(evens.len()).min(odds.len());
            for (pair, (e, o)) in row
                .chunks_exact(2)
                .zip(evens.iter_mut().zip(odds.iter_mut()))
                .take(n)
            {
                *e = pair[0];
                *o = pair[1];
            }
            for (j, e) in evens.iter_mut().enumerate().skip(n) {
                match row.get(2 * j) {
                    Some(&v) => *e = v,
                    None => break,
                }
            }
            for (j, o) in odds.iter_mut().enumerate().skip(n) {
                match row.get(2 * j + 1) {
                    Some(&v) => *o = v,
                    None => break,
                }
            }
        } else {
            for k in 0..p.sw {
                let dst = &mut scratch[row_of(k, r)];
                let (first, x0) = (first(k), x0(k));
                if x0 < w && first < dst.len() {
                    for (d, &v) in dst[first..].iter_mut().zip(row[x0..].iter().step_by(p.sw)) {
                        *d = v;
                    }
                }
            }
        }
    }
}

fn portable_plane(
    p: &Plane,
    scratch: &[f32],
    taps: &[f32],
    bias: f32,
    Clip { lo, hi }: Clip,
    out: &mut [f32],
) {
    for (y, out_row) in out.chunks_exact_mut(p.wo).enumerate().take(p.ho) {
        out_row.fill(bias);
        for ky in 0..p.kh {
            for kx in 0..p.kw {
                let wgt = taps[ky * p.kw + kx];
                let src = p.taps_row(scratch, y, ky, kx);
                for (o, &s) in out_row.iter_mut().zip(src) {
                    *o += wgt * s;
                }
            }
        }
        for o in out_row.iter_mut() {
            *o = o.max(lo).min(hi);
        }
    }
}

/// Adds input row `iy0 + $i` into the sums `acc` of a direct depthwise block of `R` output rows
/// at stride `S` (one per output row): output row `j` of the block reads it with kernel row
/// `$i - S j`. A row outside the plane adds nothing. `row_taps` is the calling module's, `fmadd`
/// its vector multiply-add. One input row of [`block_sums`].
#[cfg(target_arch = "x86_64")]
macro_rules! block_input_row {
    ($i:literal, $S:ident, $R:ident, $iy0:ident, $h:ident, $w:ident, $src:ident, $c:ident,
     $acc:ident, $wv:ident, $fmadd:ident) => {
        let iy = $iy0 + $i;
        if $i < $S * ($R - 1) + 3 && (0..$h).contains(&iy) {
            let row = $src.as_ptr().wrapping_offset(iy * $w as isize);
            // SAFETY: `row` is a row of `src` (0 <= iy < h) and `c` this layer's chunk.
            let xs = unsafe { row_taps::<$S>($c, row) };
            for (j, a) in $acc.iter_mut().enumerate() {
                let ky = $i - ($S * j) as isize;
                if (0..3).contains(&ky) {
                    for (kx, &x) in xs.iter().enumerate() {
                        *a = $fmadd(x, $wv[3 * ky as usize + kx], *a);
                    }
                }
            }
        }
    };
}

/// The sums of one block of a direct depthwise layer (the AVX-512 and AVX2 `rows`): every input
/// row the block reads, each loaded once and added into every output row that reads it. The
/// rows are literals, so that the tests on them are decided at compile time and the block is
/// straight-line code: as a loop, with those tests at run time, the AVX-512 stride-1 kernel took
/// about 20 cycles per output vector.
/// Prefetches into L1 the output lines the next block of a direct depthwise layer stores for
/// one chunk (the AVX-512 and AVX2 `rows`): rows `y0 + R..y0 + 2R`, from column `x0` to `x0 +
/// lanes - 1` (a vector's columns may straddle two lines). Writing output whose memory the gap
/// between frames has left out of the caches, each store waited for its line: on the Intel
/// AVX-512 VM, per node after 200 ms idle, the stride-1 layers ran 15-27 % faster with this (warm
/// 7-10 %), the whole model warm 0.98 of before. After a plane's last block these are the next
/// plane's first rows (past the output's end after the last plane: a prefetch never faults,
/// wherever it points).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_next_block_output<const R: usize>(
    out: &[f32],
    y0: usize,
    wo: usize,
    x0: usize,
    lanes: usize,
) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    for j in R..2 * R {
        let at = out.as_ptr().wrapping_add((y0 + j) * wo + x0);
        // SAFETY: a prefetch only hints; it reads nothing and never faults.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(at as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(lanes - 1) as *const i8);
        }
    }
}

#[cfg(target_arch = "x86_64")]
macro_rules! block_sums {
    ($S:ident, $R:ident, $($rest:tt)*) => {
        const { assert!($S * ($R - 1) + 3 <= 10) };
        block_input_row!(0, $S, $R, $($rest)*);
        block_input_row!(1, $S, $R, $($rest)*);
        block_input_row!(2, $S, $R, $($rest)*);
        block_input_row!(3, $S, $R, $($rest)*);
        block_input_row!(4, $S, $R, $($rest)*);
        block_input_row!(5, $S, $R, $($rest)*);
        block_input_row!(6, $S, $R, $($rest)*);
        block_input_row!(7, $S, $R, $($rest)*);
        block_input_row!(8, $S, $R, $($rest)*);
        block_input_row!(9, $S, $R, $($rest)*);
    };
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::direct::{Chunk, DENSE_MAX_CHANNELS, Direct};
    use super::{Clip, Plane};
    use std::arch::x86_64::*;

    /// Every plane of the layer (see [`Direct::layer`]), 8 output columns per vector.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `d` was made for `Avx2Fma`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn layer(
        d: &Direct,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        clip: Clip,
        output: &mut [f32],
    ) {
        let planes = input
            .chunks_exact(d.h * d.w)
            .zip(output.chunks_exact_mut(d.ho * d.wo));
        for ((src, out), (taps, &b)) in planes.zip(weights.chunks_exact(9).zip(bias)) {
            // SAFETY: as this function's; `Direct::new` takes strides (1, 1) and (2, 2) only.
            unsafe {
                if d.sw == 2 {
                    rows::<2, 2>(d, src, taps, b, clip, out)
                } else {
                    rows::<1, ROWS>(d, src, taps, b, clip, out)
                }
            }
        }
    }

    /// Output rows per block at stride 1 (6: 6 sums, 3 taps and the 9 weights fill the 16
    /// registers with two weights read from memory; 4 measured 5-10 % slower); stride 2 takes
    /// 2 (3 measured slower on the 96x96 plane).
    const ROWS: usize = 6;

    /// One plane at stride `S`, `R` output rows at a time, as the AVX-512 kernel's `rows` (with
    /// its prefetch of the output lines, without that of the input rows), 8 columns per vector;
    /// at stride 2 the sums are in [`row_taps`]' lane order until the store.
    ///
    /// # Safety
    /// AVX2 and FMA; `S` is the layer's stride both ways.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const S: usize, const R: usize>(
        d: &Direct,
        src: &[f32],
        taps: &[f32],
        bias: f32,
        Clip { lo, hi }: Clip,
        out: &mut [f32],
    ) {
        assert!(src.len() == d.h * d.w && out.len() == d.ho * d.wo);
        assert!(taps.len() == 9);
        let wv: [__m256; 9] = std::array::from_fn(|i| _mm256_set1_ps(taps[i]));
        let (vb, vlo, vhi) = (_mm256_set1_ps(bias), _mm256_set1_ps(lo), _mm256_set1_ps(hi));
        let (h, w, pt) = (d.h as isize, d.w, d.pt as isize);
        let mut y0 = 0;
        while y0 < d.ho {
            for c in &d.chunks {
                super::prefetch_next_block_output::<R>(out, y0, d.wo, c.x0, 8);
                let mut acc = [vb; R];
                let iy0 = (y0 * S) as isize - pt;
                block_sums!(S, R, iy0, h, w, src, c, acc, wv, _mm256_fmadd_ps);
                for (j, &a) in acc.iter().enumerate().take(d.ho - y0) {
                    let mut v = _mm256_min_ps(_mm256_max_ps(a, vlo), vhi);
                    if S == 2 {
                        v = in_order(v);
                    }
                    // SAFETY: the store mask keeps columns x0..min(x0 + 8, wo) of row
                    // y0 + j < ho.
                    unsafe { store(out.as_mut_ptr().add((y0 + j) * d.wo + c.x0), c.store, v) };
                }
            }
            y0 += R;
        }
    }

    /// A 3x3 plane, 16 then 8 output columns at a time, the last 1..7 with masked loads.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `p.kh == p.kw == 3`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn plane3x3(
        p: &Plane,
        scratch: &[f32],
        taps: &[f32],
        bias: f32,
        Clip { lo, hi }: Clip,
        out: &mut [f32],
    ) {
        assert!(p.kh == 3 && p.kw == 3 && taps.len() == 9 && out.len() >= p.ho * p.wo);
        if p.ho == 0 || p.wo == 0 {
            return;
        }
        let w: [__m256; 9] = std::array::from_fn(|i| _mm256_set1_ps(taps[i]));
        let (vb, vlo, vhi) = (_mm256_set1_ps(bias), _mm256_set1_ps(lo), _mm256_set1_ps(hi));
        let wo = p.wo;
        let row_step = p.sh * p.we;
        // Offset of each tap's first value for output row 0. The last row's taps end inside
        // `scratch` (checked once here: that bounds every read below).
        let off: [usize; 9] = std::array::from_fn(|i| {
            let (phase, offset) = p.cols[i % 3];
            (phase * p.hp + i / 3) * p.we + offset
        });
        let last = off.iter().max().copied().unwrap_or(0) + (p.ho - 1) * row_step + wo;
        assert!(last <= scratch.len());
        let rest = wo % 8;
        // Lanes 0..rest on: lane j is on when j < rest.
        let mask = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(rest as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        let base = scratch.as_ptr();
        let clamp = |v: __m256| _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);
        for y in 0..p.ho {
            // SAFETY (all loads and stores below): a tap's reads for row y are
            // off[i] + y * row_step + [0, wo), within `last` (asserted); stores are to
            // out[y * wo + [0, wo)], within out.len() (asserted); masked lanes are not touched.
            unsafe {
                let src: [*const f32; 9] = std::array::from_fn(|i| base.add(off[i] + y * row_step));
                let dst = out.as_mut_ptr().add(y * wo);
                let mut x = 0;
                while x + 16 <= wo {
                    let (mut a, mut b) = (vb, vb);
                    for i in 0..9 {
                        a = _mm256_fmadd_ps(_mm256_loadu_ps(src[i].add(x)), w[i], a);
                        b = _mm256_fmadd_ps(_mm256_loadu_ps(src[i].add(x + 8)), w[i], b);
                    }
                    _mm256_storeu_ps(dst.add(x), clamp(a));
                    _mm256_storeu_ps(dst.add(x + 8), clamp(b));
                    x += 16;
                }
                if x + 8 <= wo {
                    let mut a = vb;
                    for i in 0..9 {
                        a = _mm256_fmadd_ps(_mm256_loadu_ps(src[i].add(x)), w[i], a);
                    }
                    _mm256_storeu_ps(dst.add(x), clamp(a));
                    x += 8;
                }
                if rest > 0 {
                    let mut a = vb;
                    for i in 0..9 {
                        a = _mm256_fmadd_ps(_mm256_maskload_ps(src[i].add(x), mask), w[i], a);
                    }
                    _mm256_maskstore_ps(dst.add(x), mask, clamp(a));
                }
            }
        }
    }
    /// The dense layer of [`Direct::dense`], 8 output columns per vector.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `d` was made for `Avx2Fma`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dense(
        d: &Direct,
        ci: usize,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        Clip { lo, hi }: Clip,
        output: &mut [f32],
    ) {
        let (h, w, ho, wo) = (d.h, d.w, d.ho, d.wo);
        let cop = bias.len();
        let co = output.len() / (ho * wo).max(1);
        assert!(ci <= DENSE_MAX_CHANNELS && cop.is_multiple_of(8) && co <= cop);
        assert!(input.len() == ci * h * w && weights.len() == ci * 9 * cop);
        assert!(output.len() == co * ho * wo);
        let (vlo, vhi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        let k = 9 * ci;
        // The tap vectors of one output row, chunk after chunk: `k` per chunk.
        let mut taps = vec![_mm256_setzero_ps(); k * d.chunks.len()];
        for y in 0..ho {
            for (c, row_taps_out) in d.chunks.iter().zip(taps.chunks_exact_mut(k)) {
                for (ch, plane) in input.chunks_exact(h * w).enumerate() {
                    for ky in 0..3 {
                        let iy = (y * d.sw + ky) as isize - d.pt as isize;
                        let xs = if (0..h as isize).contains(&iy) {
                            let row = plane[iy as usize * w..].as_ptr();
                            // SAFETY: `row` is a row of `plane`, `c` this layer's chunk.
                            unsafe {
                                if d.sw == 2 {
                                    row_taps::<2>(c, row)
                                } else {
                                    row_taps::<1>(c, row)
                                }
                            }
                        } else {
                            [_mm256_setzero_ps(); 3]
                        };
                        row_taps_out[9 * ch + 3 * ky..][..3].copy_from_slice(&xs);
                    }
                }
            }
            // Eight output channels at a time, each along the whole row.
            for g0 in (0..co).step_by(8) {
                let b = &bias[g0..g0 + 8];
                for (c, x) in d.chunks.iter().zip(taps.chunks_exact(k)) {
                    let mut acc: [__m256; 8] = std::array::from_fn(|r| _mm256_set1_ps(b[r]));
                    for (t, &x) in x.iter().enumerate() {
                        let wt = &weights[t * cop + g0..][..8];
                        for (a, &v) in acc.iter_mut().zip(wt) {
                            *a = _mm256_fmadd_ps(_mm256_set1_ps(v), x, *a);
                        }
                    }
                    for (r, &a) in acc.iter().enumerate().take(co - g0) {
                        let v = _mm256_min_ps(_mm256_max_ps(a, vlo), vhi);
                        let v = if d.sw == 2 { in_order(v) } else { v };
                        // SAFETY: the chunk's columns x0..min(x0 + 8, wo) of row y of output
                        // channel g0 + r < co.
                        unsafe {
                            store(
                                output.as_mut_ptr().add(((g0 + r) * ho + y) * wo + c.x0),
                                c.store,
                                v,
                            )
                        };
                    }
                }
            }
        }
    }

    /// The lanes `j < 8` set in `bits`, as a load or store mask.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mask_of(bits: u16) -> __m256i {
        let lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        _mm256_cmpeq_epi32(
            _mm256_and_si256(_mm256_set1_epi32(i32::from(bits)), lane),
            lane,
        )
    }

    /// Eight columns of `row` from `start`, those outside the mask read as 0.
    ///
    /// # Safety
    /// AVX2; every lane the mask keeps is a column of the row `row` points at.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load(row: *const f32, (start, bits): (isize, u16)) -> __m256 {
        // SAFETY: as this function's; masked-off lanes are not read, so the address of a
        // partial load may lie outside the row (wrapping_offset claims nothing).
        unsafe {
            match bits {
                0xff => _mm256_loadu_ps(row.offset(start)),
                0 => _mm256_setzero_ps(),
                _ => _mm256_maskload_ps(row.wrapping_offset(start), mask_of(bits)),
            }
        }
    }

    /// Stores the lanes of `v` set in `bits` to `dst`.
    ///
    /// # Safety
    /// AVX2; every lane the mask keeps is writable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store(dst: *mut f32, bits: u16, v: __m256) {
        // SAFETY: as this function's.
        unsafe {
            if bits == 0xff {
                _mm256_storeu_ps(dst, v)
            } else {
                _mm256_maskstore_ps(dst, mask_of(bits), v)
            }
        }
    }

    /// The three tap vectors (kx = 0, 1, 2) of input row `row` for chunk `c` at stride `S`:
    /// masked loads (lanes over the padding read 0). At stride 2 the even and odd columns
    /// come out in the lane order output columns 0, 1, 4, 5, 2, 3, 6, 7 (one in-lane shuffle
    /// each); every sum over them keeps that order and [`in_order`] undoes it once.
    ///
    /// # Safety
    /// AVX2; `row` points at a row of the layer's input and `c` is one of its chunks.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn row_taps<const S: usize>(c: &Chunk, row: *const f32) -> [__m256; 3] {
        // SAFETY: the chunk's masks keep only columns of the row (`Direct::new`).
        let ld = |l: (isize, u16)| unsafe { load(row, l) };
        if S == 1 {
            [ld(c.loads[0]), ld(c.loads[1]), ld(c.loads[2])]
        } else {
            let (a0, a1) = (ld(c.loads[0]), ld(c.loads[1]));
            let (b0, b1) = (ld(c.loads[2]), ld(c.loads[3]));
            [
                _mm256_shuffle_ps::<0b10_00_10_00>(a0, a1),
                _mm256_shuffle_ps::<0b11_01_11_01>(a0, a1),
                _mm256_shuffle_ps::<0b10_00_10_00>(b0, b1),
            ]
        }
    }

    /// Puts lanes in the order [`row_taps`] leaves at stride 2 (output columns 0, 1, 4, 5, 2, 3,
    /// 6, 7) back in column order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn in_order(v: __m256) -> __m256 {
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod direct {
    //! The layout the direct 3x3 kernels ([`super::avx512`], [`super::avx2`]) share: the
    //! layer's column chunks of one vector each and their load and store masks.

    use super::{Clip, Geometry, Kernel};

    /// Most input channels [`Direct::dense`] takes.
    pub(crate) const DENSE_MAX_CHANNELS: usize = 4;

    /// Lanes `j < n` (of at most 16) whose column `start + j` lies in `0..w`.
    fn lanes(start: isize, w: usize, n: usize) -> u16 {
        (0..n.min(16))
            .filter(|&j| (0..w as isize).contains(&(start + j as isize)))
            .fold(0u16, |m, j| m | 1 << j)
    }

    /// A 3x3 layer of stride (1, 1) or (2, 2) computed straight from the unpadded input planes,
    /// one vector of output columns at a time (16 with AVX-512, 8 with AVX2): every tap is a
    /// masked load of the input row (lanes over the padding read 0), so no plane is copied.
    /// Stride 2 loads twice the columns and splits them into even and odd lanes. The masks
    /// depend only on the column chunk, so they are worked out once per layer.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) struct Direct {
        // `Avx512` (16 lanes) or `Avx2Fma` (8 lanes).
        pub(super) kernel: Kernel,
        pub(super) h: usize,
        pub(super) w: usize,
        pub(super) ho: usize,
        pub(super) wo: usize,
        // Stride both ways: 1 or 2.
        pub(super) sw: usize,
        pub(super) pt: usize,
        // Per chunk of one vector of output columns: its first column, the store mask, and per
        // load the offset of its first column in the input row and its mask (stride 1: taps
        // kx = 0, 1, 2; stride 2: the low and high halves of the pairs at kx = 0 and kx = 2).
        pub(super) chunks: Vec<Chunk>,
        // The geometry it was made for.
        geometry: Geometry,
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) struct Chunk {
        pub(super) x0: usize,
        pub(super) store: u16,
        pub(super) loads: [(isize, u16); 4],
    }

    impl Direct {
        /// The layer of `g` (output `ho` x `wo`) for `kernel`, when `kernel` is `Avx512` or
        /// `Avx2Fma` and the layer is 3x3 with stride (1, 1) or (2, 2).
        pub(crate) fn new(kernel: Kernel, g: &Geometry, ho: usize, wo: usize) -> Option<Self> {
            let n = match kernel {
                Kernel::Avx512 => 16,
                Kernel::Avx2Fma => 8,
                _ => return None,
            };
            let (h, w) = g.in_hw;
            let (sh, sw) = g.stride;
            if g.kernel != (3, 3) || !matches!((sh, sw), (1, 1) | (2, 2)) {
                return None;
            }
            let pl = g.pads[1] as isize;
            let chunks = (0..wo)
                .step_by(n)
                .map(|x0| {
                    let cols = (wo - x0).min(n);
                    let loads = if sw == 1 {
                        std::array::from_fn(|k| {
                            let start = x0 as isize + k.min(2) as isize - pl;
                            (start, lanes(start, w, cols))
                        })
                    } else {
                        // Pair p (kx = 0 or 2) starts at column 2 x0 + kx - pl; half 0 holds
                        // its lanes 0..n, half 1 lanes n..2n.
                        std::array::from_fn(|k| {
                            let start = 2 * x0 as isize + 2 * (k / 2) as isize - pl
                                + (n * (k % 2)) as isize;
                            (start, lanes(start, w, n))
                        })
                    };
                    Chunk {
                        x0,
                        store: lanes(0, cols, n),
                        loads,
                    }
                })
                .collect();
            Some(Self {
                kernel,
                h,
                w,
                ho,
                wo,
                sw,
                pt: g.pads[0],
                chunks,
                geometry: *g,
            })
        }

        /// The family this layout was made for.
        pub(crate) fn kernel(&self) -> Kernel {
            self.kernel
        }

        /// Whether this is the layout of geometry `g`.
        pub(crate) fn fits(&self, g: &Geometry) -> bool {
            self.geometry == *g
        }

        /// Every plane of a depthwise layer: `input` `[C, h, w]`, `weights` `[C, 3, 3]`,
        /// `bias` `[C]`, `output` `[C, ho, wo]`. With AVX2 the padded-copy loops had measured
        /// as fast as an earlier direct kernel (2026-12-02, AMD EPYC); since each block runs
        /// as straight-line code (`rows`), the direct kernel is the faster on the Intel machine
        /// with AVX2 forced: 6x6 to 24x24 planes 30-60 % faster, 96x96 10-15 %, 48x48 the same.
        ///
        /// # Safety
        /// The CPU must run [`Direct::kernel`]'s instructions.
        pub(crate) unsafe fn layer(
            &self,
            input: &[f32],
            weights: &[f32],
            bias: &[f32],
            clip: Clip,
            output: &mut [f32],
        ) {
            // SAFETY: as this function's.
            unsafe {
                if self.kernel == Kernel::Avx512 {
                    super::avx512::layer(self, input, weights, bias, clip, output)
                } else {
                    super::avx2::layer(self, input, weights, bias, clip, output)
                }
            }
        }

        /// A dense 3x3 layer of at most [`DENSE_MAX_CHANNELS`] input channels (MoveNet's first
        /// layer: 3) on this geometry: for each output row and chunk of columns, the `9 ci` tap
        /// vectors of the input are loaded once (as the depthwise rows load them) and every
        /// output channel is their weighted sum, 8 channels at a time. No im2col matrix is
        /// written.
        ///
        /// `input` `[ci, h, w]`; `weights` `[ci * 9][cop]` (tap-major, `cop` = `co` rounded up
        /// to 8, zero past `co`); `bias` `[cop]`; `output` `[co, ho, wo]`.
        ///
        /// # Safety
        /// The CPU must run [`Direct::kernel`]'s instructions.
        pub(crate) unsafe fn dense(
            &self,
            ci: usize,
            input: &[f32],
            weights: &[f32],
            bias: &[f32],
            clip: Clip,
            output: &mut [f32],
        ) {
            // SAFETY: as this function's.
            unsafe {
                if self.kernel == Kernel::Avx512 {
                    super::avx512::dense(self, ci, input, weights, bias, clip, output)
                } else {
                    super::avx2::dense(self, ci, input, weights, bias, clip, output)
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Clip;
    use super::direct::{Chunk, DENSE_MAX_CHANNELS, Direct};
    use std::arch::x86_64::*;

    /// Every plane of the layer (see [`Direct::layer`]), 16 output columns per vector.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `d` was made for `Avx512`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn layer(
        d: &Direct,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        clip: Clip,
        output: &mut [f32],
    ) {
        // An input larger than L2 comes from L3 (the layer before could not leave it in L2):
        // then the rows of each next block are prefetched. In MoveNet's profile on an Intel
        // AVX-512 machine that made the 96x96 stride-2 layer (3.5 MB in) 15 % faster; on inputs
        // that fit L2 it gained nothing or lost (up to 10 % on the 6x6 and 12x12 planes).
        let prefetch = 4 * input.len() > super::super::ops::l2_bytes();
        let planes = input
            .chunks_exact(d.h * d.w)
            .zip(output.chunks_exact_mut(d.ho * d.wo));
        for ((src, out), (taps, &b)) in planes.zip(weights.chunks_exact(9).zip(bias)) {
            // SAFETY: as this function's; `Direct::new` takes strides (1, 1) and (2, 2) only.
            unsafe {
                if d.sw == 2 {
                    rows::<2, 4>(d, src, taps, b, clip, prefetch, out)
                } else {
                    rows::<1, 8>(d, src, taps, b, clip, prefetch, out)
                }
            }
        }
    }

    /// One plane (`src` `[h, w]`, `out` `[ho, wo]`) at stride `S`, `R` output rows at a
    /// time: each input row the block reads is loaded once (three tap vectors) and added
    /// into every output row of the block that reads it, `R` independent sums. The output lines
    /// the next block writes go to L1 while this one runs, and with `prefetch` its input rows.
    ///
    /// # Safety
    /// AVX-512F; `S` is the layer's stride both ways.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const S: usize, const R: usize>(
        d: &Direct,
        src: &[f32],
        taps: &[f32],
        bias: f32,
        Clip { lo, hi }: Clip,
        prefetch: bool,
        out: &mut [f32],
    ) {
        assert!(src.len() == d.h * d.w && out.len() == d.ho * d.wo);
        assert!(taps.len() == 9);
        let wv: [__m512; 9] = std::array::from_fn(|i| _mm512_set1_ps(taps[i]));
        let (vb, vlo, vhi) = (_mm512_set1_ps(bias), _mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let (h, w, pt) = (d.h as isize, d.w, d.pt as isize);
        // Row blocks outer, column chunks inner: the plane is read from top to bottom once
        // (chunk-major order read each row once per chunk; in the model, where the input
        // comes from L3, that measured slower).
        let mut y0 = 0;
        while y0 < d.ho {
            // The input rows the next block reads and this one does not (past the plane's end:
            // the next plane's first rows, which the layer reads next), on large planes only.
            let last = (y0 * S) as isize - pt + (S * (R - 1) + 2) as isize;
            for c in &d.chunks {
                if prefetch {
                    // The chunk's input columns: from its first load's (16 wide at stride 1,
                    // 32 at stride 2: two lines from there).
                    let x = c.loads[0].0.max(0);
                    for r in 1..=(S * R) as isize {
                        let at = ((last + r) * w as isize + x).max(0) as usize;
                        // A prefetch never faults, wherever it points.
                        for line in 0..S {
                            _mm_prefetch::<_MM_HINT_T0>(
                                src.as_ptr().wrapping_add(at + 16 * line) as *const i8
                            );
                        }
                    }
                }
                super::prefetch_next_block_output::<R>(out, y0, d.wo, c.x0, 16);
                let mut acc = [vb; R];
                // Input rows y0 S - pt + i, i = 0..S (R - 1) + 3 (`block_sums`).
                let iy0 = (y0 * S) as isize - pt;
                block_sums!(S, R, iy0, h, w, src, c, acc, wv, _mm512_fmadd_ps);
                for (j, &a) in acc.iter().enumerate().take(d.ho - y0) {
                    let v = _mm512_min_ps(_mm512_max_ps(a, vlo), vhi);
                    // SAFETY: the store mask keeps columns x0..min(x0 + 16, wo) of row
                    // y0 + j < ho.
                    unsafe {
                        _mm512_mask_storeu_ps(
                            out.as_mut_ptr().add((y0 + j) * d.wo + c.x0),
                            c.store,
                            v,
                        )
                    };
                }
            }
            y0 += R;
        }
    }

    /// The dense layer of [`Direct::dense`], 16 output columns per vector.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `d` was made for `Avx512`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dense(
        d: &Direct,
        ci: usize,
        input: &[f32],
        weights: &[f32],
        bias: &[f32],
        Clip { lo, hi }: Clip,
        output: &mut [f32],
    ) {
        let (h, w, ho, wo) = (d.h, d.w, d.ho, d.wo);
        let cop = bias.len();
        let co = output.len() / (ho * wo).max(1);
        assert!(ci <= DENSE_MAX_CHANNELS && cop.is_multiple_of(8) && co <= cop);
        assert!(input.len() == ci * h * w && weights.len() == ci * 9 * cop);
        assert!(output.len() == co * ho * wo);
        let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let k = 9 * ci;
        // The tap vectors of one output row, chunk after chunk: `k` per chunk.
        let mut taps = vec![_mm512_setzero_ps(); k * d.chunks.len()];
        for y in 0..ho {
            for (c, row_taps_out) in d.chunks.iter().zip(taps.chunks_exact_mut(k)) {
                for (ch, plane) in input.chunks_exact(h * w).enumerate() {
                    for ky in 0..3 {
                        let iy = (y * d.sw + ky) as isize - d.pt as isize;
                        let xs = if (0..h as isize).contains(&iy) {
                            let row = plane[iy as usize * w..].as_ptr();
                            // SAFETY: `row` is a row of `plane`, `c` this layer's chunk.
                            unsafe {
                                if d.sw == 2 {
                                    row_taps::<2>(c, row)
                                } else {
                                    row_taps::<1>(c, row)
                                }
                            }
                        } else {
                            [_mm512_setzero_ps(); 3]
                        };
                        row_taps_out[9 * ch + 3 * ky..][..3].copy_from_slice(&xs);
                    }
                }
            }
            // Eight output channels at a time, each along the whole row: the stores run
            // along eight rows of the output, not across all its planes.
            for g0 in (0..co).step_by(8) {
                let b = &bias[g0..g0 + 8];
                for (c, x) in d.chunks.iter().zip(taps.chunks_exact(k)) {
                    let mut acc: [__m512; 8] = std::array::from_fn(|r| _mm512_set1_ps(b[r]));
                    for (t, &x) in x.iter().enumerate() {
                        let wt = &weights[t * cop + g0..][..8];
                        for (a, &v) in acc.iter_mut().zip(wt) {
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(v), x, *a);
                        }
                    }
                    for (r, &a) in acc.iter().enumerate().take(co - g0) {
                        let v = _mm512_min_ps(_mm512_max_ps(a, vlo), vhi);
                        // SAFETY: the store mask keeps columns x0..min(x0 + 16, wo) of row
                        // y of output channel g0 + r < co.
                        unsafe {
                            _mm512_mask_storeu_ps(
                                output.as_mut_ptr().add(((g0 + r) * ho + y) * wo + c.x0),
                                c.store,
                                v,
                            )
                        };
                    }
                }
            }
        }
    }

    /// The three tap vectors (kx = 0, 1, 2) of input row `row` for chunk `c` at stride `S`:
    /// masked loads (lanes over the padding read 0), split into even and odd lanes at stride 2.
    ///
    /// # Safety
    /// AVX-512F; `row` points at a row of the layer's input and `c` is one of its chunks.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn row_taps<const S: usize>(c: &Chunk, row: *const f32) -> [__m512; 3] {
        // SAFETY: every lane a mask keeps reads a column in 0..w of this row (`lanes`);
        // masked-off lanes are not read, so the address may lie outside the row
        // (wrapping_offset claims nothing).
        let load = |(start, mask): (isize, u16)| unsafe {
            _mm512_maskz_loadu_ps(mask, row.wrapping_offset(start))
        };
        if S == 1 {
            [load(c.loads[0]), load(c.loads[1]), load(c.loads[2])]
        } else {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            let (a0, a1) = (load(c.loads[0]), load(c.loads[1]));
            let (b0, b1) = (load(c.loads[2]), load(c.loads[3]));
            [
                _mm512_permutex2var_ps(a0, even, a1),
                _mm512_permutex2var_ps(a0, odd, a1),
                _mm512_permutex2var_ps(b0, even, b1),
            ]
        }
    }
}

/// tract op: depthwise convolution with its weights, bias and optional clip baked in.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthwiseConv2d {
    geometry: Geometry,
    weights: Arc<Vec<f32>>,
    bias: Arc<Vec<f32>>,
    clip: Clip,
    kernel: Kernel,
    // The direct layout, worked out at load (`direct_layout`).
    layout: Option<Layout>,
}

// The weights are finite (a model's), so equality is an equivalence.
impl Eq for DepthwiseConv2d {}

impl DepthwiseConv2d {
    /// The layer, for inputs of `geometry`, with `weights` `[C, kh, kw]` and `bias` `[C]`.
    ///
    /// # Errors
    /// When the sizes do not agree with `geometry`.
    pub fn new(
        geometry: Geometry,
        weights: Vec<f32>,
        bias: Vec<f32>,
        clip: Clip,
        kernel: Kernel,
    ) -> TractResult<Self> {
        let c = geometry.channels;
        geometry.output_shape(c)?;
        ensure!(weights.len() == c * geometry.kernel.0 * geometry.kernel.1);
        ensure!(bias.len() == c);
        Ok(Self {
            layout: direct_layout(kernel, &geometry),
            geometry,
            weights: Arc::new(weights),
            bias: Arc::new(bias),
            clip,
            kernel,
        })
    }

    fn output_shape(&self) -> TractResult<[usize; 4]> {
        self.geometry.output_shape(self.geometry.channels)
    }

    /// The layer's shape as the per-layer choice keys its timing.
    pub(crate) fn shape_key(&self) -> String {
        format!(
            "depthwise {} clip {}",
            self.geometry.shape_key(),
            self.clip != Clip::NONE
        )
    }

    /// Times this op against tract's depthwise convolution of the same layer, on one thread:
    /// see [`choice::time_pair`].
    fn calibrate(&self) -> TractResult<choice::Timing> {
        let g = &self.geometry;
        let c = g.channels;
        let x = Tensor::from_shape(
            &g.input_shape(),
            &choice::sample_values(g.input_shape().iter().product()),
        )?
        .into_tvalue();
        let plan = tract_conv_plan(g, c, c, &self.weights, &self.bias)?;
        let mut state = plan.spawn()?;
        let ctx = EvalContext::out_of_plan();
        choice::time_pair(
            || self.eval(&ctx, tvec![x.clone()]).map(drop),
            || state.run(tvec![x.clone()]).map(drop),
        )
    }

    /// The geometry, weights `[C, kh, kw]`, bias `[C]`, clip and kernel: what [`super::fused`]
    /// needs to take the layer into a fused block.
    pub(crate) fn parts(&self) -> (&Geometry, &[f32], &[f32], Clip, Kernel) {
        (
            &self.geometry,
            &self.weights,
            &self.bias,
            self.clip,
            self.kernel,
        )
    }
}

impl Op for DepthwiseConv2d {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} clip {:?} {:?}",
            self.geometry, self.clip, self.kernel
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let g = &self.geometry;
        ensure!(
            input.shape() == g.input_shape(),
            "{OP_TYPE}: input shape {:?}, expected {:?}",
            input.shape(),
            g.input_shape()
        );
        // SAFETY: `depthwise` writes every output value before anyone reads it (or fails, and
        // the tensor is dropped unread).
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.output_shape()?)? };
        {
            let src = input.try_as_plain_ram()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            depthwise_with(
                self.kernel,
                g,
                self.layout.as_ref(),
                src.as_slice::<f32>()?,
                &self.weights,
                &self.bias,
                self.clip,
                dst.as_slice_mut::<f32>()?,
            )?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for DepthwiseConv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1 && inputs[0].datum_type == f32::datum_type());
        Ok(tvec![f32::fact(self.output_shape()?)])
    }

    as_op!();
}

/// The ONNX node as parsed, before shapes are known.
#[derive(Clone, Debug, PartialEq)]
struct DepthwiseExpansion(ConvAttrs, Backend);

impl Expansion for DepthwiseExpansion {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        s.equals(&outputs[0].shape[1], &inputs[0].shape[1])?;
        self.0.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let [n, ci, h, w] = shape4(model, inputs[0], prefix, "the input")?;
        let [c, one, kh, kw] = shape4(model, inputs[1], prefix, "the weights")?;
        ensure!(
            n == 1 && one == 1 && c == ci,
            "{prefix}: input [{n}, {ci}, ..] and weights [{c}, {one}, ..], expected [1, C, H, W] and [C, 1, kh, kw]"
        );
        if self.1 == Backend::Tract {
            choice::count_tract_layer();
            return wire_tract_chain(&self.0, c, prefix, model, inputs);
        }
        let op = DepthwiseConv2d::new(
            self.0.geometry(c, (h, w), (kh, kw)),
            constant_f32(model, inputs[1], prefix, "the weights")?,
            constant_f32(model, inputs[2], prefix, "the bias")?,
            self.0.clip,
            choice::loading_family().unwrap_or(self.0.kernel),
        )?;
        if choice::prefer_tract(&op.shape_key(), || op.calibrate())? {
            return wire_tract_chain(&self.0, c, prefix, model, inputs);
        }
        model.wire_node(prefix, op, &inputs[..1])
    }
}

impl PostureNode for DepthwiseExpansion {
    const OP_TYPE: &'static str = OP_TYPE;
    fn new(attrs: ConvAttrs, backend: Backend) -> Self {
        DepthwiseExpansion(attrs, backend)
    }
}

/// Lets tract-onnx build `PostureDepthwiseConv2d` nodes, run by `backend`'s code.
pub fn register(ops: &mut OnnxOpRegister, backend: Backend) {
    register_node::<DepthwiseExpansion>(ops, backend);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::kernels::ops::{test_values, tract_reference};
    use proptest::prelude::*;

    fn check(g: Geometry, seed: u64, clip: Option<(f32, f32)>) {
        let clip = clip.map_or(Clip::NONE, |(lo, hi)| Clip::new(lo, hi));
        let (c, (h, w), (kh, kw)) = (g.channels, g.in_hw, g.kernel);
        let mut state = seed | 1;
        let input = test_values(c * h * w, &mut state);
        let weights = test_values(c * kh * kw, &mut state);
        let bias = test_values(c, &mut state);
        let expected = tract_reference(&g, g.channels, g.channels, &input, &weights, &bias, clip);
        let (ho, wo) = g.out_hw().unwrap();
        for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
            let mut out = vec![f32::NAN; c * ho * wo];
            depthwise(kernel, &g, &input, &weights, &bias, clip, &mut out).unwrap();
            assert_eq!(out.len(), expected.len());
            for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "{kernel:?} {g:?} at {i}: {a} vs tract {b}"
                );
            }
            // The layout worked out at load (as the op keeps it) gives the same values.
            let layout = direct_layout(kernel, &g);
            let mut planned = vec![f32::NAN; c * ho * wo];
            depthwise_with(
                kernel,
                &g,
                layout.as_ref(),
                &input,
                &weights,
                &bias,
                clip,
                &mut planned,
            )
            .unwrap();
            assert!(
                out.iter()
                    .zip(&planned)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kernel:?} {g:?}: the layout made at load changed the output"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn matches_tracts_depthwise_convolution_on_random_layers(
            channels in 1usize..12,
            h in 1usize..28,
            w in 1usize..28,
            kh in 1usize..4,
            kw in 1usize..4,
            sh in 1usize..4,
            sw in 1usize..4,
            pads in proptest::array::uniform4(0usize..3),
            clip in proptest::option::of((-1.0f32..0.0, 0.5f32..6.0)),
            seed in any::<u64>(),
        ) {
            let g = Geometry { channels, in_hw: (h, w), kernel: (kh, kw), stride: (sh, sw), pads };
            prop_assume!(g.out_hw().is_some());
            check(g, seed, clip);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// The 3x3 layers of stride 1 and 2 (the direct path, AVX-512 and AVX2), on planes wider than one
        /// vector and any padding.
        #[test]
        fn three_by_three_layers_of_stride_one_and_two_match_tract(
            channels in 1usize..5,
            h in 1usize..40,
            w in 1usize..70,
            stride in 1usize..3,
            pads in proptest::array::uniform4(0usize..3),
            clip in proptest::option::of((-1.0f32..0.0, 0.5f32..6.0)),
            seed in any::<u64>(),
        ) {
            let g = Geometry {
                channels,
                in_hw: (h, w),
                kernel: (3, 3),
                stride: (stride, stride),
                pads,
            };
            prop_assume!(g.out_hw().is_some());
            check(g, seed, clip);
        }
    }

    #[test]
    fn matches_tract_on_movenets_layer_shapes() {
        // Every distinct depthwise geometry of Lightning (stride 1 "same", stride 2 pad bottom/right).
        for (c, s) in [
            (32, 96),
            (96, 96),
            (144, 48),
            (192, 24),
            (384, 12),
            (576, 12),
            (960, 6),
        ] {
            for (stride, pads) in [(1, [1, 1, 1, 1]), (2, [0, 0, 1, 1])] {
                let g = Geometry {
                    channels: c,
                    in_hw: (s, s),
                    kernel: (3, 3),
                    stride: (stride, stride),
                    pads,
                };
                check(g, (c * s + stride) as u64, Some((0.0, 6.0)));
            }
        }
    }

    /// A layout made for one geometry, given with another, is an error on AVX-512 (it would
    /// compute the wrong planes or leave part of the output unwritten), both ways round.
    #[test]
    fn a_layout_made_for_another_geometry_is_refused() {
        let g = |w| Geometry {
            channels: 2,
            in_hw: (8, w),
            kernel: (3, 3),
            stride: (1, 1),
            pads: [1; 4],
        };
        for kernel in [Kernel::Avx512, Kernel::Avx2Fma] {
            let layout = direct_layout(kernel, &g(8));
            if !kernel.supported() {
                continue;
            }
            assert!(layout.is_some());
            let wide_layout = direct_layout(kernel, &g(40));
            for (made_for, given) in [(&layout, 40), (&wide_layout, 8)] {
                let mut out = vec![0.0; 2 * 8 * given];
                let result = depthwise_with(
                    kernel,
                    &g(given),
                    made_for.as_ref(),
                    &vec![0.0; 2 * 8 * given],
                    &[0.0; 18],
                    &[0.0; 2],
                    Clip::NONE,
                    &mut out,
                );
                assert!(
                    result.is_err(),
                    "{kernel:?}: a layout used on width {given}"
                );
            }
        }
        // A layout made for one family is refused by the other (an AVX-512 layout would
        // otherwise run AVX-512 code where only AVX2 was checked).
        if Kernel::Avx512.supported() {
            for (made, run) in [
                (Kernel::Avx512, Kernel::Avx2Fma),
                (Kernel::Avx2Fma, Kernel::Avx512),
            ] {
                let layout = direct_layout(made, &g(8));
                let mut out = vec![0.0; 2 * 8 * 8];
                let result = depthwise_with(
                    run,
                    &g(8),
                    layout.as_ref(),
                    &[0.0; 2 * 8 * 8],
                    &[0.0; 18],
                    &[0.0; 2],
                    Clip::NONE,
                    &mut out,
                );
                assert!(result.is_err(), "a {made:?} layout run as {run:?}");
            }
        }
    }

    #[test]
    fn a_kernel_larger_than_its_padded_input_is_refused() {
        let g = Geometry {
            channels: 1,
            in_hw: (2, 2),
            kernel: (3, 3),
            stride: (1, 1),
            pads: [0; 4],
        };
        assert!(g.out_hw().is_none());
        assert!(
            DepthwiseConv2d::new(g, vec![0.0; 9], vec![0.0], Clip::NONE, Kernel::Portable).is_err()
        );
        let mut out = [];
        assert!(
            depthwise(
                Kernel::Portable,
                &g,
                &[0.0; 4],
                &[0.0; 9],
                &[0.0],
                Clip::NONE,
                &mut out
            )
            .is_err()
        );
    }
}
