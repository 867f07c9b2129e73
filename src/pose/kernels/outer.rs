//! posture's outer difference for tract: `PostureOuterSub`.
//!
//! MoveNet's decoder measures, for each of the 17 keypoints, how far every heatmap cell lies from
//! the regressed position: `grid[48, 48, 1] - keypoint[1, 1, 17]`, twice (rows and columns). tract
//! runs such a `Sub` through its general broadcasting loop (about 0.06 ms each for 39 thousand
//! values). This op computes the same outer difference `out[i, k] = a[i] - b[k]` in one pass, and
//! [`rewrite_outer_subs`] puts it in place of each such `Sub` at load, for the `fast` engines.
//!
//! The decoder then picks each keypoint's best cell, an `ArgMax` over the middle axis of `[1,
//! 2304, 17]`, which tract walks one strided column at a time (0.05 ms); [`ArgMaxRows`] reads the
//! rows in order and keeps all the columns' best at once, with tract's rule (the first of equal
//! maxima; a column with nothing above `f32::MIN` gives 0). [`rewrite_argmaxes`] puts it in place.

use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer};
use tract_onnx::tract_hir::internal::*;

use super::ops::replace_nodes;

/// The op's name in tract's graph and profiles.
pub const OP_NAME: &str = "PostureOuterSub";

/// [`ArgMaxRows`]'s name in tract's graph and profiles.
pub const ARGMAX_NAME: &str = "PostureArgMaxRows";

/// tract op: `a[..., 1] - b[1, ..., 1, k]` into `[..., k]`, all f32.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OuterSub {
    a_shape: TVec<usize>,
    b_shape: TVec<usize>,
    out_shape: TVec<usize>,
}

impl OuterSub {
    /// The op for inputs of `a_shape` (last axis 1) and `b_shape` (every axis 1 but the last,
    /// `k`), of the same rank: `None` for any other pair.
    pub fn new(a_shape: &[usize], b_shape: &[usize]) -> Option<Self> {
        let (&1, a_rest) = a_shape.split_last()? else {
            return None;
        };
        let (&k, b_rest) = b_shape.split_last()?;
        if a_shape.len() != b_shape.len() || b_rest.iter().any(|&d| d != 1) {
            return None;
        }
        let out_shape = a_rest.iter().copied().chain([k]).collect();
        Some(Self {
            a_shape: a_shape.into(),
            b_shape: b_shape.into(),
            out_shape,
        })
    }

    /// `out[i * k + j] = a[i] - b[j]`.
    ///
    /// # Errors
    /// When a slice length does not match.
    pub fn run(&self, a: &[f32], b: &[f32], out: &mut [f32]) -> TractResult<()> {
        ensure!(
            a.len() == self.a_shape.iter().product::<usize>()
                && b.len() == self.b_shape.iter().product::<usize>()
                && out.len() == a.len() * b.len(),
            "{OP_NAME}: {} - {} into {} values",
            a.len(),
            b.len(),
            out.len()
        );
        if b.is_empty() {
            return Ok(());
        }
        for (row, &x) in out.chunks_exact_mut(b.len()).zip(a) {
            for (o, &y) in row.iter_mut().zip(b) {
                *o = x - y;
            }
        }
        Ok(())
    }
}

impl Op for OuterSub {
    fn name(&self) -> StaticName {
        OP_NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?} - {:?} -> {:?}",
            self.a_shape, self.b_shape, self.out_shape
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for OuterSub {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 2, "{OP_NAME}: {} inputs", inputs.len());
        ensure!(
            inputs[0].shape() == &*self.a_shape && inputs[1].shape() == &*self.b_shape,
            "{OP_NAME}: input shapes {:?} and {:?}, expected {:?} and {:?}",
            inputs[0].shape(),
            inputs[1].shape(),
            self.a_shape,
            self.b_shape
        );
        // SAFETY: `run` writes every output value before anyone reads it (or fails, and the
        // tensor is dropped unread).
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.out_shape)? };
        {
            let a = inputs[0].try_as_plain_ram()?;
            let b = inputs[1].try_as_plain_ram()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            self.run(
                a.as_slice::<f32>()?,
                b.as_slice::<f32>()?,
                dst.as_slice_mut::<f32>()?,
            )?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for OuterSub {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec![f32::fact(&*self.out_shape)])
    }

    as_op!();
}

/// Puts one [`OuterSub`] in place of each f32 `Sub` of concrete shapes `[..., 1]` and `[1, ...,
/// 1, k]` in `model`, and returns how many it replaced.
///
/// # Errors
/// When tract refuses the patched graph.
pub fn rewrite_outer_subs(model: &mut TypedModel) -> TractResult<usize> {
    let found: Vec<(usize, OuterSub)> = model
        .nodes()
        .iter()
        .filter(|n| {
            n.op_as::<TypedBinOp>()
                .is_some_and(|op| op.0.name() == "Sub" && op.1.is_none())
        })
        .filter_map(|n| {
            let [a, b] = n.inputs.as_slice() else {
                return None;
            };
            let facts = [model.outlet_fact(*a).ok()?, model.outlet_fact(*b).ok()?];
            if facts.iter().any(|f| f.datum_type != f32::datum_type()) {
                return None;
            }
            let op = OuterSub::new(facts[0].shape.as_concrete()?, facts[1].shape.as_concrete()?)?;
            let out = model.outlet_fact(OutletId::new(n.id, 0)).ok()?;
            (out.shape.as_concrete()? == &*op.out_shape).then_some((n.id, op))
        })
        .collect();
    let count = found.len();
    for (id, op) in found {
        let node = model.node(id);
        let (name, inputs) = (format!("{}.posture", node.name), node.inputs.clone());
        replace_nodes(model, name, op, &inputs, id, &[id])?;
    }
    Ok(count)
}

/// tract op: the index of the largest value along axis 1 of a `[a, n, k]` f32 tensor, as i64
/// `[a, 1, k]` (the first of equal maxima, 0 when no value exceeds `f32::MIN`: tract's rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgMaxRows {
    shape: [usize; 3],
}

impl ArgMaxRows {
    /// The op for inputs of `shape` (`[a, n, k]`).
    pub fn new(shape: [usize; 3]) -> Self {
        Self { shape }
    }

    /// `input` (`[a, n, k]`) into `out` (`[a, k]`).
    ///
    /// # Errors
    /// When a slice length does not match.
    pub fn run(&self, input: &[f32], out: &mut [i64]) -> TractResult<()> {
        let [a, n, k] = self.shape;
        ensure!(
            input.len() == a * n * k && out.len() == a * k,
            "{ARGMAX_NAME}: {} values into {} for {:?}",
            input.len(),
            out.len(),
            self.shape
        );
        if k == 0 || n == 0 {
            out.fill(0);
            return Ok(());
        }
        let mut best = vec![f32::MIN; k];
        for (plane, out) in input.chunks_exact(n * k).zip(out.chunks_exact_mut(k)) {
            best.fill(f32::MIN);
            out.fill(0);
            for (i, row) in plane.chunks_exact(k).enumerate() {
                for ((b, o), &v) in best.iter_mut().zip(out.iter_mut()).zip(row) {
                    if v > *b {
                        *b = v;
                        *o = i as i64;
                    }
                }
            }
        }
        Ok(())
    }

    fn output_shape(&self) -> [usize; 3] {
        [self.shape[0], 1, self.shape[2]]
    }
}

impl Op for ArgMaxRows {
    fn name(&self) -> StaticName {
        ARGMAX_NAME.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} along axis 1", self.shape)])
    }

    op_as_typed_op!();
}

impl EvalOp for ArgMaxRows {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 1, "{ARGMAX_NAME}: {} inputs", inputs.len());
        ensure!(
            inputs[0].shape() == self.shape,
            "{ARGMAX_NAME}: input shape {:?}, expected {:?}",
            inputs[0].shape(),
            self.shape
        );
        let mut output = Tensor::zero::<i64>(&self.output_shape())?;
        {
            let src = inputs[0].try_as_plain_ram()?;
            let mut dst = output.try_as_plain_ram_mut()?;
            self.run(src.as_slice::<f32>()?, dst.as_slice_mut::<i64>()?)?;
        }
        Ok(tvec![output.into_tvalue()])
    }
}

impl TypedOp for ArgMaxRows {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()));
        Ok(tvec![i64::fact(self.output_shape())])
    }

    as_op!();
}

/// Puts one [`ArgMaxRows`] in place of each first-maximum `ArgMax` over axis 1 of a concrete
/// `[a, n, k]` f32 tensor in `model`, and returns how many it replaced.
///
/// # Errors
/// When tract refuses the patched graph.
pub fn rewrite_argmaxes(model: &mut TypedModel) -> TractResult<usize> {
    let found: Vec<(usize, [usize; 3])> = model
        .nodes()
        .iter()
        .filter(|n| {
            n.op_as::<Reduce>().is_some_and(|r| {
                r.axes.as_slice() == [1] && matches!(r.reducer, Reducer::ArgMax(false))
            })
        })
        .filter_map(|n| {
            let [input] = n.inputs.as_slice() else {
                return None;
            };
            let fact = model.outlet_fact(*input).ok()?;
            let shape: [usize; 3] = fact.shape.as_concrete()?.try_into().ok()?;
            let out = model.outlet_fact(OutletId::new(n.id, 0)).ok()?;
            (fact.datum_type == f32::datum_type() && out.datum_type == i64::datum_type())
                .then_some((n.id, shape))
        })
        .collect();
    let count = found.len();
    for (id, shape) in found {
        let node = model.node(id);
        let (name, input) = (format!("{}.posture", node.name), node.inputs[0]);
        replace_nodes(model, name, ArgMaxRows::new(shape), &[input], id, &[id])?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::kernels::ops::test_values;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Equals tract's broadcasting `Sub` on the same tensors.
        #[test]
        fn equals_tracts_broadcast_sub(
            h in 1usize..12,
            w in 1usize..12,
            k in 1usize..20,
            seed in any::<u64>(),
        ) {
            let mut state = seed | 1;
            let a = test_values(h * w, &mut state);
            let b = test_values(k, &mut state);
            let ta = Tensor::from_shape(&[h, w, 1], &a).unwrap();
            let tb = Tensor::from_shape(&[1, 1, k], &b).unwrap();
            let expected = tract_onnx::tract_core::ops::math::sub()
                .eval(&EvalContext::out_of_plan(), tvec![ta.into_tvalue(), tb.into_tvalue()])
                .unwrap();
            let expected = expected[0].try_as_plain_ram().unwrap();
            let op = OuterSub::new(&[h, w, 1], &[1, 1, k]).unwrap();
            let mut got = vec![f32::NAN; h * w * k];
            op.run(&a, &b, &mut got).unwrap();
            prop_assert_eq!(got.as_slice(), expected.as_slice::<f32>().unwrap());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Equals tract's `ArgMax` over axis 1, ties included (values drawn from a few levels).
        #[test]
        fn argmax_equals_tracts(
            a in 1usize..3,
            n in 1usize..40,
            k in 1usize..20,
            seed in any::<u64>(),
        ) {
            let mut state = seed | 1;
            let x: Vec<f32> = test_values(a * n * k, &mut state)
                .into_iter()
                .map(|v| (v * 2.0).round())
                .collect();
            let t = Tensor::from_shape(&[a, n, k], &x).unwrap();
            let reduce = Reduce::new(tvec![1], Reducer::ArgMax(false));
            let expected = reduce
                .eval(&EvalContext::out_of_plan(), tvec![t.into_tvalue()])
                .unwrap();
            let expected = expected[0].try_as_plain_ram().unwrap();
            let mut got = vec![-1i64; a * k];
            ArgMaxRows::new([a, n, k]).run(&x, &mut got).unwrap();
            prop_assert_eq!(got.as_slice(), expected.as_slice::<i64>().unwrap());
        }
    }

    #[test]
    fn only_an_outer_pair_of_shapes_is_taken() {
        assert!(OuterSub::new(&[48, 48, 1], &[1, 1, 17]).is_some());
        assert!(OuterSub::new(&[48, 48, 2], &[1, 1, 17]).is_none());
        assert!(OuterSub::new(&[48, 48, 1], &[1, 2, 17]).is_none());
        assert!(OuterSub::new(&[48, 1], &[1, 1, 17]).is_none());
        assert!(OuterSub::new(&[], &[]).is_none());
        let op = OuterSub::new(&[2, 1], &[1, 3]).unwrap();
        assert!(op.run(&[0.0; 2], &[0.0; 3], &mut [0.0; 5]).is_err());
        let mut out = [0.0; 6];
        op.run(&[10.0, 20.0], &[1.0, 2.0, 3.0], &mut out).unwrap();
        assert_eq!(out, [9.0, 8.0, 7.0, 19.0, 18.0, 17.0]);
    }

    /// Lightning's two decoder subtractions and two arg-maxes are replaced and the network's
    /// output is unchanged.
    #[test]
    fn movenets_decoder_subs_are_rewritten_and_the_output_is_unchanged() {
        use crate::pose::ModelSpec;
        use crate::pose::kernels::ops::{run_on_test_values, typed_model};
        let plain = typed_model(&ModelSpec::Lightning);
        let mut rewritten = plain.clone();
        assert_eq!(rewrite_outer_subs(&mut rewritten).unwrap(), 2);
        assert_eq!(rewrite_outer_subs(&mut rewritten).unwrap(), 0);
        assert_eq!(rewrite_argmaxes(&mut rewritten).unwrap(), 2);
        assert_eq!(
            run_on_test_values(plain, 13),
            run_on_test_values(rewritten, 13)
        );
    }
}
