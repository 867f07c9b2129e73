//! The dense convolution's NEON tiles (aarch64, where NEON is always present): 8 output
//! channels by 12 columns, 24 accumulators of the 32 vector registers, each weight taken from a
//! register lane (`fmla` by element) so a step of the inner loop is 5 loads and 24 multiply-adds.

use std::arch::aarch64::*;

use super::Job;

/// Output channels per tile (the weight panels' height).
pub(super) const MR: usize = 8;
/// Columns per tile: three vectors of 4.
const NR: usize = 12;

/// `output = clip(W · input + bias) (+ residual)` in tiles of 8 channels by 12 columns, columns
/// outer (one strip of the input serves every panel while it is in cache). A last strip of fewer
/// than 12 columns is copied, zero-padded, into a buffer first; its tiles are stored through a
/// small buffer too.
///
/// # Safety
/// The CPU must support NEON; slice lengths as checked by `gemm`; weights packed 8 rows high.
#[target_feature(enable = "neon")]
pub(super) unsafe fn tiles(job: &Job<'_>, output: &mut [f32]) {
    let w = job.w;
    let (co, ci, hw) = (w.co, w.ci, w.hw);
    assert!(
        w.tile.shape().0 == MR
            && w.panels.len() >= co.div_ceil(MR) * ci * MR
            && w.bias.len() >= co.div_ceil(MR) * MR
            && job.input.len() >= ci * hw
            && output.len() >= co * hw
            && job.residual.is_none_or(|r| r.len() >= co * hw)
    );
    let mut strip = Vec::new();
    let mut n0 = 0;
    while n0 < hw {
        let cols = (hw - n0).min(NR);
        // The tile's input: rows of `stride` values from `b`, the first `cols` of each real.
        let (b, stride) = if cols == NR {
            // SAFETY: n0 < hw, so the pointer is inside `input`.
            (unsafe { job.input.as_ptr().add(n0) }, hw)
        } else {
            strip.clear();
            strip.resize(ci * NR, 0.0);
            for (dst, src) in strip.chunks_exact_mut(NR).zip(job.input.chunks_exact(hw)) {
                dst[..cols].copy_from_slice(&src[n0..n0 + cols]);
            }
            (strip.as_ptr(), NR)
        };
        let mut m0 = 0;
        while m0 < co {
            let rows = (co - m0).min(MR);
            // SAFETY: row k of the tile's input is b + k * stride + [0, 12): inside `input`
            // for a whole strip (n0 + 12 <= hw), inside `strip` otherwise; panel m0 / 8 is
            // panels[m0 * ci..][..ci * 8]; bias[m0..m0 + 8] is inside the padded bias.
            let acc = unsafe {
                tile(
                    w.panels.as_ptr().add(m0 * ci),
                    &w.bias[m0..m0 + MR],
                    b,
                    stride,
                    ci,
                )
            };
            for (r, row) in acc.iter().enumerate().take(rows) {
                let at = (m0 + r) * hw + n0;
                let mut y = [0.0f32; NR];
                // SAFETY: `y` holds 12 values.
                unsafe {
                    let (vlo, vhi) = (vdupq_n_f32(job.clip.lo), vdupq_n_f32(job.clip.hi));
                    for (j, &v) in row.iter().enumerate() {
                        vst1q_f32(y.as_mut_ptr().add(4 * j), vminq_f32(vmaxq_f32(v, vlo), vhi));
                    }
                }
                let dst = &mut output[at..at + cols];
                match job.residual {
                    Some(res) => {
                        for ((d, &v), &s) in dst.iter_mut().zip(&y).zip(&res[at..at + cols]) {
                            *d = v + s;
                        }
                    }
                    None => dst.copy_from_slice(&y[..cols]),
                }
            }
            m0 += MR;
        }
        n0 += NR;
    }
}

/// One tile's sums: bias plus `ci` steps of an 8-weight column of the panel `a` times a 12-value
/// row of the input `b` (rows `stride` apart).
///
/// # Safety
/// NEON; `a` has `ci * 8` values, `bias` 8, and `b + k * stride` 12 for every k < ci.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn tile(
    a: *const f32,
    bias: &[f32],
    b: *const f32,
    stride: usize,
    ci: usize,
) -> [[float32x4_t; 3]; MR] {
    // SAFETY: reads as the caller guarantees.
    unsafe {
        let mut acc: [[float32x4_t; 3]; MR] = std::array::from_fn(|r| [vdupq_n_f32(bias[r]); 3]);
        for k in 0..ci {
            let bk = b.add(k * stride);
            let x = [vld1q_f32(bk), vld1q_f32(bk.add(4)), vld1q_f32(bk.add(8))];
            let lo = vld1q_f32(a.add(k * MR));
            let hi = vld1q_f32(a.add(k * MR + 4));
            macro_rules! row {
                ($r:expr, $v:expr, $lane:literal) => {
                    for j in 0..3 {
                        acc[$r][j] = vfmaq_laneq_f32::<$lane>(acc[$r][j], x[j], $v);
                    }
                };
            }
            row!(0, lo, 0);
            row!(1, lo, 1);
            row!(2, lo, 2);
            row!(3, lo, 3);
            row!(4, hi, 0);
            row!(5, hi, 1);
            row!(6, hi, 2);
            row!(7, hi, 3);
        }
        acc
    }
}
