//! posture's separable resize for tract: `PostureResize`.
//!
//! `models/prepare.py` turns each of MoveNet's bilinear x2 `Resize` nodes into two matrix
//! products with constant interpolation matrices: `resize{n}_matmul_cols` (`X[1, C, H, W] ·
//! Cᵀ[W, Wo]`) and `resize{n}_matmul_rows` (`R[Ho, H] · that`). tract runs them as general
//! matrix products, with transposes and packing around them that cost more than the arithmetic
//! (about 0.25 ms a frame for Lightning's three, on 0.1 million outputs). Each row of a bilinear
//! interpolation matrix has at most two non-zero weights, so at load [`rewrite_resizes`] puts
//! one op in place of each pair that walks those weights only: per channel, each output column
//! of each input row, then each output row, in the products' order (the zero terms the matrix
//! products add change nothing).
//!
//! The `fast` engines apply the rewrite; `tract-plain` keeps the matrix products, so the
//! integration tests comparing the two check it on every fixture.

use tract_onnx::tract_hir::internal::*;

use super::ops::replace_nodes;

/// The op's name in tract's graph and profiles.
pub const OP_NAME: &str = "PostureResize";

/// The non-zero weights of one output position: `(input position, weight)`.
type Taps = Vec<(usize, f32)>;

/// tract op: `Y[c] = R · X[c] · Cᵀ` for each channel `c` of a `[1, C, H, W]` input, with `R`
/// (`[Ho, H]`) and `Cᵀ` (`[W, Wo]`) kept as their non-zero weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    channels: usize,
    in_hw: (usize, usize),
    // Per output row, the input rows it mixes; per output column, the input columns.
    rows: Vec<Taps>,
    cols: Vec<Taps>,
    // `cols` as exactly two taps each (a missing one of weight 0), when none has more.
    pairs: Option<Vec<(usize, f32, usize, f32)>>,
}

// The weights are finite (a model's), so equality is an equivalence.
impl Eq for Resize {}

impl Resize {
    /// The op for `[1, channels, H, W]` inputs (`in_hw`), from `rows` (`R`, `[Ho, H]`
    /// row-major) and `cols_t` (`Cᵀ`, `[W, Wo]` row-major).
    ///
    /// # Errors
    /// When the matrices' sizes do not fit `in_hw`, or a weight is not finite.
    pub fn new(
        channels: usize,
        in_hw: (usize, usize),
        rows: &[f32],
        cols_t: &[f32],
    ) -> TractResult<Self> {
        let (h, w) = in_hw;
        ensure!(
            channels > 0 && h > 0 && w > 0,
            "{OP_NAME}: {channels} channels of {h}x{w}"
        );
        ensure!(
            !rows.is_empty() && rows.len().is_multiple_of(h),
            "{OP_NAME}: {} row weights for {h} input rows",
            rows.len()
        );
        ensure!(
            !cols_t.is_empty() && cols_t.len().is_multiple_of(w),
            "{OP_NAME}: {} column weights for {w} input columns",
            cols_t.len()
        );
        ensure!(
            rows.iter().chain(cols_t).all(|v| v.is_finite()),
            "{OP_NAME}: a weight is not finite"
        );
        let wo = cols_t.len() / w;
        let taps = |of: &dyn Fn(usize) -> f32, n: usize| -> Taps {
            (0..n)
                .filter_map(|i| Some((i, of(i))).filter(|&(_, v)| v != 0.0))
                .collect()
        };
        let cols: Vec<Taps> = (0..wo).map(|x| taps(&|j| cols_t[j * wo + x], w)).collect();
        let pairs = cols
            .iter()
            .map(|t| match t[..] {
                [] => Some((0, 0.0, 0, 0.0)),
                [(j, v)] => Some((j, v, j, 0.0)),
                [(j0, v0), (j1, v1)] => Some((j0, v0, j1, v1)),
                _ => None,
            })
            .collect();
        Ok(Self {
            channels,
            in_hw,
            rows: rows.chunks_exact(h).map(|r| taps(&|i| r[i], h)).collect(),
            cols,
            pairs,
        })
    }

    /// The input shape, `[1, C, H, W]`.
    pub fn input_shape(&self) -> [usize; 4] {
        [1, self.channels, self.in_hw.0, self.in_hw.1]
    }

    /// The output shape, `[1, C, Ho, Wo]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [1, self.channels, self.rows.len(), self.cols.len()]
    }

    /// The op on `input` (`[C, H, W]`) into `output` (`[C, Ho, Wo]`).
    ///
    /// # Errors
    /// When a slice length does not match.
    pub fn run(&self, input: &[f32], output: &mut [f32]) -> TractResult<()> {
        let (h, w) = self.in_hw;
        let (ho, wo) = (self.rows.len(), self.cols.len());
        ensure!(
            input.len() == self.channels * h * w,
            "{OP_NAME}: {} input values",
            input.len()
        );
        ensure!(
            output.len() == self.channels * ho * wo,
            "{OP_NAME}: {} output values",
            output.len()
        );
        // One channel's input rows resized to the output's width.
        let mut wide = vec![0.0f32; h * wo];
        for (plane, out) in input
            .chunks_exact(h * w)
            .zip(output.chunks_exact_mut(ho * wo))
        {
            for (src, dst) in plane.chunks_exact(w).zip(wide.chunks_exact_mut(wo)) {
                match &self.pairs {
                    // Two taps per column (bilinear): no inner loop.
                    Some(pairs) => {
                        for (d, &(j0, v0, j1, v1)) in dst.iter_mut().zip(pairs) {
                            *d = src[j0] * v0 + src[j1] * v1;
                        }
                    }
                    None => {
                        for (d, taps) in dst.iter_mut().zip(&self.cols) {
                            *d = taps.iter().map(|&(j, v)| src[j] * v).sum();
                        }
                    }
                }
            }
            for (dst, taps) in out.chunks_exact_mut(wo).zip(&self.rows) {
                dst.fill(0.0);
                for &(i, v) in taps {
                    for (d, &s) in dst.iter_mut().zip(&wide[i * wo..][..wo]) {
                        *d += v * s;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Op for Resize {
    fn name(&self) -> StaticName {
        OP_NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} channels, {:?} -> {:?}",
            self.channels,
            self.in_hw,
            (self.rows.len(), self.cols.len())
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Resize {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 1, "{OP_NAME}: {} inputs", inputs.len());
        let in_shape = self.input_shape();
        ensure!(
            inputs[0].shape() == in_shape,
            "{OP_NAME}: input shape {:?}, expected {in_shape:?}",
            inputs[0].shape()
        );
        // SAFETY: `run` writes every output value before anyone reads it (or fails, and the
        // tensor is dropped unread).
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.output_shape())? };
        {
            let src = inputs[0].try_as_plain_ram()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            self.run(src.as_slice::<f32>()?, dst.as_slice_mut::<f32>()?)?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for Resize {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec![f32::fact(self.output_shape())])
    }

    as_op!();
}

/// The constant at `outlet` as `f32` values with its shape, if it is one.
fn constant(model: &TypedModel, outlet: OutletId) -> Option<(Vec<usize>, Vec<f32>)> {
    let konst = model.outlet_fact(outlet).ok()?.konst.clone()?;
    let plain = konst.try_as_plain_ram().ok()?;
    let values = plain.as_slice::<f32>().ok()?.to_vec();
    Some((konst.shape().to_vec(), values))
}

/// The concrete shape of `outlet`, if it has one.
fn shape(model: &TypedModel, outlet: OutletId) -> Option<Vec<usize>> {
    let fact = model.outlet_fact(outlet).ok()?;
    fact.shape.as_concrete().map(<[usize]>::to_vec)
}

/// The op for the pair of products `resize{n}_matmul_cols` → `resize{n}_matmul_rows` (node ids),
/// with the pair's input, when the two are what `models/prepare.py` wrote: `X[1, C, H, W] ·
/// Cᵀ[W, Wo]`, read only by `R[Ho, H] · that`, with constant matrices and concrete shapes.
fn pair(model: &TypedModel, cols: usize, rows: usize) -> Option<(Resize, OutletId)> {
    let (c, r) = (model.node(cols), model.node(rows));
    if c.op.name() != "EinSum" || r.op.name() != "EinSum" {
        return None;
    }
    let ([x, ct], [rm, mid]) = (c.inputs.as_slice(), r.inputs.as_slice()) else {
        return None;
    };
    let [out] = c.outputs.as_slice() else {
        return None;
    };
    let only_reader = matches!(out.successors.as_slice(), [s] if s.node == rows && s.slot == 1);
    let is_output = model
        .output_outlets()
        .ok()?
        .contains(&OutletId::new(cols, 0));
    if *mid != OutletId::new(cols, 0) || !only_reader || is_output {
        return None;
    }
    let (ct_shape, ct) = constant(model, *ct)?;
    let (r_shape, rm) = constant(model, *rm)?;
    let [1, ch, h, w] = shape(model, *x)?[..] else {
        return None;
    };
    let [wc, wo] = ct_shape[..] else { return None };
    let [ho, hr] = r_shape[..] else { return None };
    let expected = [1, ch, ho, wo];
    if wc != w || hr != h || shape(model, OutletId::new(rows, 0))?[..] != expected {
        return None;
    }
    Some((Resize::new(ch, (h, w), &rm, &ct).ok()?, *x))
}

/// Puts one [`Resize`] in place of each pair of products `models/prepare.py` wrote for a
/// `Resize` (`resize{n}_matmul_cols`, `resize{n}_matmul_rows`, n = 0, 1, ...) in `model`, and
/// returns how many it replaced. A pair that is not as expected stays as it is.
///
/// # Errors
/// When tract refuses the patched graph.
pub fn rewrite_resizes(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for n in 0.. {
        let find = |suffix: &str| {
            let name = format!("resize{n}_matmul_{suffix}");
            model
                .nodes()
                .iter()
                .find(|node| node.name == name)
                .map(|node| node.id)
        };
        let (Some(cols), Some(rows)) = (find("cols"), find("rows")) else {
            return Ok(replaced);
        };
        let Some((op, input)) = pair(model, cols, rows) else {
            continue;
        };
        let name = format!("resize{n}.posture");
        replace_nodes(model, name, op, &[input], rows, &[cols, rows])?;
        replaced += 1;
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::kernels::ops::test_values;
    use proptest::prelude::*;

    /// `R · X[c] · Cᵀ` with plain loops over the dense matrices.
    fn dense(x: &[f32], c: usize, (h, w): (usize, usize), r: &[f32], ct: &[f32]) -> Vec<f32> {
        let (ho, wo) = (r.len() / h, ct.len() / w);
        let mut out = vec![0.0; c * ho * wo];
        for ch in 0..c {
            for y in 0..ho {
                for x_ in 0..wo {
                    let mut sum = 0.0;
                    for i in 0..h {
                        for j in 0..w {
                            sum += r[y * h + i] * x[(ch * h + i) * w + j] * ct[j * wo + x_];
                        }
                    }
                    out[(ch * ho + y) * wo + x_] = sum;
                }
            }
        }
        out
    }

    /// Bilinear x2, half-pixel, edge-clamped: `models/prepare.py`'s `interp_matrix`.
    fn interp(n: usize) -> Vec<f32> {
        let mut m = vec![0.0; 2 * n * n];
        for o in 0..2 * n {
            let x = ((o as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, n as f32 - 1.0);
            let x0 = x.floor() as usize;
            let x1 = (x0 + 1).min(n - 1);
            let f = x - x0 as f32;
            m[o * n + x0] += 1.0 - f;
            m[o * n + x1] += f;
        }
        m
    }

    fn transpose(m: &[f32], rows: usize) -> Vec<f32> {
        let cols = m.len() / rows;
        (0..cols * rows)
            .map(|k| m[(k % rows) * cols + k / rows])
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Any matrices (some weights zeroed) give the dense products' result.
        #[test]
        fn equals_the_two_matrix_products(
            c in 1usize..4,
            h in 1usize..9,
            w in 1usize..9,
            ho in 1usize..12,
            wo in 1usize..12,
            seed in any::<u64>(),
        ) {
            let mut state = seed | 1;
            let x = test_values(c * h * w, &mut state);
            let zero_some = |v: Vec<f32>| -> Vec<f32> {
                v.into_iter().map(|v| if v > 1.0 { 0.0 } else { v }).collect()
            };
            let r = zero_some(test_values(ho * h, &mut state));
            let ct = zero_some(test_values(w * wo, &mut state));
            let op = Resize::new(c, (h, w), &r, &ct).unwrap();
            let mut got = vec![f32::NAN; c * ho * wo];
            op.run(&x, &mut got).unwrap();
            for (a, b) in got.iter().zip(dense(&x, c, (h, w), &r, &ct)) {
                prop_assert!((a - b).abs() <= 1e-4 * (h * w) as f32, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn bilinear_x2_keeps_two_weights_per_output_and_a_constant_plane() {
        let (h, w) = (6, 12);
        let op = Resize::new(2, (h, w), &interp(h), &transpose(&interp(w), 2 * w)).unwrap();
        assert_eq!(op.output_shape(), [1, 2, 12, 24]);
        assert!(
            op.rows
                .iter()
                .chain(&op.cols)
                .all(|t| (1..=2).contains(&t.len()))
        );
        let x = vec![3.5; 2 * h * w];
        let mut out = vec![0.0; 2 * 12 * 24];
        op.run(&x, &mut out).unwrap();
        assert!(out.iter().all(|v| (v - 3.5).abs() < 1e-6));
    }

    /// Lightning's three pairs are replaced (Thunder's are alike, and the integration tests run
    /// both engines on both models), and the network's output stays that of the products.
    #[test]
    fn movenets_resizes_are_rewritten_and_the_output_is_unchanged() {
        use crate::pose::ModelSpec;
        use crate::pose::kernels::ops::{run_on_test_values, typed_model};
        let plain = typed_model(&ModelSpec::Lightning);
        let mut rewritten = plain.clone();
        assert_eq!(rewrite_resizes(&mut rewritten).unwrap(), 3);
        assert_eq!(rewrite_resizes(&mut rewritten).unwrap(), 0, "twice");
        let (a, b) = (
            run_on_test_values(plain, 7),
            run_on_test_values(rewritten, 7),
        );
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-4, "{p} vs {q}");
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(Resize::new(1, (2, 2), &[1.0; 3], &[1.0; 4]).is_err());
        assert!(Resize::new(1, (2, 2), &[1.0; 4], &[1.0; 3]).is_err());
        assert!(Resize::new(0, (2, 2), &[1.0; 4], &[1.0; 4]).is_err());
        assert!(Resize::new(1, (2, 2), &[f32::NAN; 4], &[1.0; 4]).is_err());
        let op = Resize::new(1, (2, 2), &[1.0; 4], &[1.0; 4]).unwrap();
        assert!(op.run(&[0.0; 3], &mut [0.0; 4]).is_err());
        assert!(op.run(&[0.0; 4], &mut [0.0; 3]).is_err());
    }
}
