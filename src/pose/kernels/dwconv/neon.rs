//! The depthwise convolution's NEON inner loop (aarch64, where NEON is always present).

use std::arch::aarch64::*;

use super::{Clip, Plane};

/// A 3x3 plane, 8 then 4 output columns at a time, the last 1..3 one by one.
///
/// # Safety
/// The CPU must support NEON; `p.kh == p.kw == 3`.
#[target_feature(enable = "neon")]
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
    let base = scratch.as_ptr();
    // SAFETY (all loads and stores below): a tap's reads for row y are off[i] + y * row_step +
    // [0, wo), within `last` (asserted); stores are to out[y * wo + [0, wo)], within out.len()
    // (asserted).
    unsafe {
        let w: [float32x4_t; 9] = std::array::from_fn(|i| vdupq_n_f32(taps[i]));
        let (vb, vlo, vhi) = (vdupq_n_f32(bias), vdupq_n_f32(lo), vdupq_n_f32(hi));
        let clamp = |v: float32x4_t| vminq_f32(vmaxq_f32(v, vlo), vhi);
        for y in 0..p.ho {
            let src: [*const f32; 9] = std::array::from_fn(|i| base.add(off[i] + y * row_step));
            let dst = out.as_mut_ptr().add(y * wo);
            let mut x = 0;
            while x + 8 <= wo {
                let (mut a, mut b) = (vb, vb);
                for i in 0..9 {
                    a = vfmaq_f32(a, vld1q_f32(src[i].add(x)), w[i]);
                    b = vfmaq_f32(b, vld1q_f32(src[i].add(x + 4)), w[i]);
                }
                vst1q_f32(dst.add(x), clamp(a));
                vst1q_f32(dst.add(x + 4), clamp(b));
                x += 8;
            }
            if x + 4 <= wo {
                let mut a = vb;
                for i in 0..9 {
                    a = vfmaq_f32(a, vld1q_f32(src[i].add(x)), w[i]);
                }
                vst1q_f32(dst.add(x), clamp(a));
                x += 4;
            }
            while x < wo {
                let mut a = bias;
                for i in 0..9 {
                    a += taps[i] * *src[i].add(x);
                }
                *dst.add(x) = a.max(lo).min(hi);
                x += 1;
            }
        }
    }
}
