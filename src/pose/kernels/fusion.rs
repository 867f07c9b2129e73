//! The graph rewrite that puts [`super::fused::InvertedResidual`] in place of each
//! inverted-residual chain of posture's ops in a loaded model.
//!
//! A chain is `PostureConv2d` (1x1, stride 1, unpadded, no residual) → `PostureDepthwiseConv2d`
//! → `PostureConv2d` (1x1, stride 1, unpadded, with or without a residual input), each of the
//! first two read by the next alone and neither a model output. The rewrite runs on the typed
//! model (after tract-onnx has built posture's ops, before tract optimises the graph), at load;
//! the prepared ONNX file itself is unchanged, so the default `fast` engine runs the very same
//! graph layer by layer.

use tract_onnx::tract_hir::internal::*;

use super::choice;
use super::conv::Conv2d;
use super::dwconv::DepthwiseConv2d;
use super::fused::{Depthwise, InvertedResidual, Pointwise, default_band_rows};
use super::ops::replace_nodes;

/// Which blocks [`fuse_inverted_residuals`] fuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fuse {
    /// Every block (the `fast-fused` engine).
    All,
    /// The blocks where the fused op measured faster than the three unfused ops on this CPU, by
    /// [`super::choice::FUSED_MARGIN`] at least (the `fast` engine; timed at load and cached
    /// like the per-layer choice, see [`super::choice`]). Outside a load that measures, none.
    WhereFaster,
}

/// One chain found: the three nodes and the inputs of the fused op (the block's input, and the
/// residual when the projection has one).
struct Chain {
    expand: usize,
    depthwise: usize,
    project: usize,
    op: InvertedResidual,
    inputs: TVec<OutletId>,
}

/// The only reader of `node`'s single output, when it is one node reading it as its first input
/// and the output is not a model output.
fn sole_reader(model: &TypedModel, node: usize) -> TractResult<Option<usize>> {
    let n = model.node(node);
    let [out] = n.outputs.as_slice() else {
        return Ok(None);
    };
    let is_output = model.output_outlets()?.contains(&OutletId::new(node, 0));
    Ok(match out.successors.as_slice() {
        [inlet] if inlet.slot == 0 && !is_output => Some(inlet.node),
        _ => None,
    })
}

/// The chain ending in the depthwise node `dw`, if `dw` is the middle of one.
fn chain_at(model: &TypedModel, dw: usize) -> TractResult<Option<Chain>> {
    let node = model.node(dw);
    let Some(d) = node.op_as::<DepthwiseConv2d>() else {
        return Ok(None);
    };
    let Some(&input) = node.inputs.first() else {
        return Ok(None);
    };
    let expand_node = model.node(input.node);
    let Some(e) = expand_node.op_as::<Conv2d>() else {
        return Ok(None);
    };
    let (Some(reader), Some(project)) = (sole_reader(model, input.node)?, sole_reader(model, dw)?)
    else {
        return Ok(None);
    };
    let project_node = model.node(project);
    let Some(p) = project_node.op_as::<Conv2d>() else {
        return Ok(None);
    };
    let (ew, _, eclip, eres) = e.parts();
    let (dg, dweights, dbias, dclip, kernel) = d.parts();
    let (pw, _, pclip, pres) = p.parts();
    if reader != dw || !e.is_1x1() || !p.is_1x1() || eres {
        return Ok(None);
    }
    let pointwise = |weights: &super::conv::PackedWeights, clip| {
        let (weights, bias) = weights.unpacked();
        Pointwise {
            weights,
            bias,
            clip,
        }
    };
    let depthwise = Depthwise {
        geometry: *dg,
        weights: dweights.to_vec(),
        bias: dbias.to_vec(),
        clip: dclip,
    };
    let Ok(op) = InvertedResidual::new(
        kernel,
        &pointwise(ew, eclip),
        &depthwise,
        &pointwise(pw, pclip),
        pres,
        default_band_rows(dg),
    ) else {
        // A layer the fused op does not take (its sizes disagree): the chain stays as it is.
        return Ok(None);
    };
    let mut inputs = tvec![expand_node.inputs[0]];
    if pres {
        inputs.push(project_node.inputs[1]);
    }
    Ok(Some(Chain {
        expand: input.node,
        depthwise: dw,
        project,
        op,
        inputs,
    }))
}

/// Replaces the inverted-residual chains of posture's ops in `model` that `which` says by one
/// [`InvertedResidual`] node each, and returns how many it replaced. Chains whose sizes the
/// fused op does not take stay as they are.
///
/// # Errors
/// When tract refuses the patched graph, or a block's timing fails.
pub fn fuse_inverted_residuals(model: &mut TypedModel, which: Fuse) -> TractResult<usize> {
    let mut fused = 0;
    // Depthwise nodes whose chain was timed and stays unfused.
    let mut kept = std::collections::HashSet::new();
    // One chain at a time: a block's input is often the last block's output, which each patch
    // replaces, so the graph is searched again after every patch.
    'search: loop {
        for dw in model.eval_order()? {
            let name = model.node(dw).name.clone();
            if kept.contains(&name) {
                continue;
            }
            let Some(chain) = chain_at(model, dw)? else {
                continue;
            };
            if which == Fuse::WhereFaster
                && !choice::prefer_fused(&block_key(model, &chain)?, || time_block(model, &chain))?
            {
                kept.insert(name);
                continue;
            }
            let name = format!("{}.fused", model.node(chain.project).name);
            replace_nodes(
                model,
                name,
                chain.op,
                &chain.inputs,
                chain.project,
                &[chain.expand, chain.depthwise, chain.project],
            )?;
            choice::count_fused_block();
            fused += 1;
            continue 'search;
        }
        return Ok(fused);
    }
}

/// The three layers of `chain`.
fn layers<'m>(
    model: &'m TypedModel,
    chain: &Chain,
) -> TractResult<(&'m Conv2d, &'m DepthwiseConv2d, &'m Conv2d)> {
    let node = |n: usize| model.node(n);
    let changed = || {
        format_err!(
            "inverted-residual chain at node {} changed",
            chain.depthwise
        )
    };
    Ok((
        node(chain.expand).op_as::<Conv2d>().ok_or_else(changed)?,
        node(chain.depthwise)
            .op_as::<DepthwiseConv2d>()
            .ok_or_else(changed)?,
        node(chain.project).op_as::<Conv2d>().ok_or_else(changed)?,
    ))
}

/// The block's shape as the choice keys its timing: its three layers' shapes.
fn block_key(model: &TypedModel, chain: &Chain) -> TractResult<String> {
    let (e, d, p) = layers(model, chain)?;
    Ok(format!(
        "block [{}] [{}] [{}]",
        e.shape_key(),
        d.shape_key(),
        p.shape_key()
    ))
}

/// Times the fused op (`posture_us`) against the block's three ops run one after the other
/// (`tract_us`), as tract runs them (each output a new tensor): see [`choice::time_pair`].
fn time_block(model: &TypedModel, chain: &Chain) -> TractResult<choice::Timing> {
    let (e, d, p) = layers(model, chain)?;
    let tensor = |shape: &[usize]| -> TractResult<TValue> {
        let n = shape.iter().product();
        Ok(Tensor::from_shape(shape, &choice::sample_values(n))?.into_tvalue())
    };
    let x = tensor(&chain.op.input_shape())?;
    let r = if chain.inputs.len() == 2 {
        Some(tensor(&chain.op.output_shape())?)
    } else {
        None
    };
    let ctx = EvalContext::out_of_plan();
    let with_residual = |v: TValue| {
        let mut inputs = tvec![v];
        inputs.extend(r.clone());
        inputs
    };
    let first = |mut out: TVec<TValue>| out.swap_remove(0);
    choice::time_pair(
        || chain.op.eval(&ctx, with_residual(x.clone())).map(drop),
        || {
            let y = first(e.eval(&ctx, tvec![x.clone()])?);
            let y = first(d.eval(&ctx, tvec![y])?);
            p.eval(&ctx, with_residual(y)).map(drop)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::ModelSpec;
    use crate::pose::kernels::fused::default_band_rows;
    use crate::pose::kernels::ops::{Kernel, test_values, typed_model};

    fn eval(op: &dyn EvalOp, inputs: TVec<TValue>) -> Tensor {
        let out = op.eval(&EvalContext::out_of_plan(), inputs).unwrap();
        out[0].clone().into_tensor()
    }

    /// Every inverted-residual block of Lightning and Thunder (their real weights), fused, on
    /// every kernel this CPU runs and in the default bands and bands of one and two rows,
    /// equals the block's three unfused ops run one after the other.
    #[test]
    fn movenets_real_blocks_fused_equal_their_unfused_chain() {
        for (spec, blocks) in [(ModelSpec::Lightning, 16), (ModelSpec::Thunder, 16)] {
            let model = typed_model(&spec);
            let mut found = 0;
            for dw in model.eval_order().unwrap() {
                let Some(chain) = chain_at(&model, dw).unwrap() else {
                    continue;
                };
                found += 1;
                let e = model.node(chain.expand).op_as::<Conv2d>().unwrap();
                let d = model
                    .node(chain.depthwise)
                    .op_as::<DepthwiseConv2d>()
                    .unwrap();
                let p = model.node(chain.project).op_as::<Conv2d>().unwrap();
                let in_shape = chain.op.input_shape();
                let out_shape = chain.op.output_shape();
                let mut state = ((dw as u64) << 7) | 1;
                let n_in: usize = in_shape.iter().product();
                let n_out: usize = out_shape.iter().product();
                let input = test_values(n_in, &mut state);
                let residual = (chain.inputs.len() == 2).then(|| test_values(n_out, &mut state));
                let tensor = |shape: &[usize], v: &[f32]| Tensor::from_shape(shape, v).unwrap();
                let x = eval(e, tvec![tensor(&in_shape, &input).into_tvalue()]);
                let x = eval(d, tvec![x.into_tvalue()]);
                let mut last = tvec![x.into_tvalue()];
                if let Some(r) = &residual {
                    last.push(tensor(&out_shape, r).into_tvalue());
                }
                let expected = eval(p, last);
                let expected = expected.try_as_plain_ram().unwrap();
                let expected = expected.as_slice::<f32>().unwrap();
                let (ew, _, eclip, _) = e.parts();
                let (g, dweights, dbias, dclip, _) = d.parts();
                let (pw, _, pclip, pres) = p.parts();
                let pointwise = |w: &super::super::conv::PackedWeights, clip| {
                    let (weights, bias) = w.unpacked();
                    Pointwise {
                        weights,
                        bias,
                        clip,
                    }
                };
                let layers = (
                    pointwise(ew, eclip),
                    Depthwise {
                        geometry: *g,
                        weights: dweights.to_vec(),
                        bias: dbias.to_vec(),
                        clip: dclip,
                    },
                    pointwise(pw, pclip),
                );
                // As in the dense layers' tests: 1e-5 of the largest possible sum of the
                // projection (ce products of a clamped value up to 6 and a weight; MoveNet's
                // weights are below 2 in size, as is the residual).
                let ce = g.channels as f32;
                let tol = 1e-5 * 12.0 * ce + 1e-5;
                for kernel in Kernel::ALL.into_iter().filter(|k| k.supported()) {
                    for rows in [default_band_rows(g), 1, 2] {
                        let op = InvertedResidual::new(
                            kernel, &layers.0, &layers.1, &layers.2, pres, rows,
                        )
                        .unwrap();
                        let mut got = vec![f32::NAN; n_out];
                        op.run(&input, residual.as_deref(), &mut got).unwrap();
                        for (i, (a, b)) in got.iter().zip(expected).enumerate() {
                            assert!(
                                (a - b).abs() <= tol,
                                "{spec} block at node {dw}, {kernel:?}, bands of {rows} at {i}: {a} vs unfused {b}"
                            );
                        }
                    }
                }
            }
            assert_eq!(found, blocks, "{spec}: inverted-residual blocks found");
        }
    }

    /// The rewrite replaces every block: none of the chains is left, each fused op sits where
    /// its block was, and the model still has its input and output.
    #[test]
    fn the_rewrite_leaves_no_chain_and_one_op_per_block() {
        let mut model = typed_model(&ModelSpec::Lightning);
        let ops_named =
            |m: &TypedModel, name: &str| m.nodes().iter().filter(|n| n.op.name() == name).count();
        let (dense, dw) = (
            ops_named(&model, super::super::conv::OP_TYPE),
            ops_named(&model, super::super::dwconv::OP_TYPE),
        );
        assert_eq!(fuse_inverted_residuals(&mut model, Fuse::All).unwrap(), 16);
        let model = model.into_decluttered().unwrap();
        assert_eq!(ops_named(&model, super::super::fused::OP_NAME), 16);
        assert_eq!(ops_named(&model, super::super::conv::OP_TYPE), dense - 32);
        assert_eq!(ops_named(&model, super::super::dwconv::OP_TYPE), dw - 16);
        for dw in model.eval_order().unwrap() {
            assert!(chain_at(&model, dw).unwrap().is_none());
        }
        assert_eq!(
            model.output_fact(0).unwrap().shape.as_concrete(),
            Some(&[1, 1, 17, 3][..])
        );
    }
}
