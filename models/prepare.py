"""Prepare a MoveNet ONNX file for posture's fast tract path: exact graph rewrites, same keypoints.

usage: prepare.py IN.onnx OUT.onnx [--standard-only]

Rewrites (each exact up to float rounding order; the script checks the result with onnxruntime):
 1. Input: the original takes int32 NHWC 0..255 and normalises inside the graph
    (Cast, Split, Sub 0, Mul 1/127.5, Sub 1, Transpose). The prepared model takes the normalised
    float32 NCHW tensor `input_nchw` [1,3,S,S] directly; posture computes `v * K - 1` (K read from the
    graph and printed here) while it letterboxes, so the first convolution sees the same bits.
 2. Each bilinear `Resize` (x2, half_pixel) becomes two MatMuls with constant interpolation matrices:
    Y = Rh @ X @ Rw^T, where each row of Rh/Rw holds the (at most two) linear weights, edges clamped.
 3. Each depthwise `Conv` (group = channels) becomes one `PostureDepthwiseConv2d` node (domain `posture`),
    with the `Clip` that follows it fused in as `clip_min`/`clip_max`. posture registers its own kernel
    for that op in tract (src/pose/dwconv.rs).
 4. Each dense `Conv` (group 1: the 1x1 layers and the first 3x3) becomes one `PostureConv2d` node
    (domain `posture`), with what alone follows it fused in: a `Clip` (`clip_min`/`clip_max`), a `Relu`
    (0, +inf), or a residual `Add` of a same-shaped tensor (a fourth input, added after the clip).
    posture's kernel: src/pose/conv.rs.
    `--standard-only` skips steps 3 and 4, so onnxruntime can run the result; the script always checks
    that standard-only version against the original.

posture itself goes one step further at load, without changing this file: each chain of a 1x1
`PostureConv2d` → `PostureDepthwiseConv2d` → 1x1 `PostureConv2d` (a MobileNetV2 inverted-residual block)
becomes one fused op in tract's graph (src/pose/kernels/fusion.rs, fused.rs; only with `--engine fast-fused`).

Outputs are byte-reproducible for a given input file (onnx.save of a deterministic graph edit).
Needs: numpy, onnx; onnxruntime for the self-check (skipped with a warning when missing).
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper as nh, shape_inference

DOMAIN = "posture"
DW_OP = "PostureDepthwiseConv2d"
CONV_OP = "PostureConv2d"


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def interp_matrix(n_in, scale):
    """Rows: output positions; linear, half_pixel, edge-clamped (ONNX Resize semantics)."""
    n_out = n_in * scale
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for o in range(n_out):
        x = (o + 0.5) / scale - 0.5
        x = min(max(x, 0.0), n_in - 1.0)
        x0 = int(np.floor(x))
        x1 = min(x0 + 1, n_in - 1)
        f = x - x0
        m[o, x0] += 1.0 - f
        m[o, x1] += f
    return m.astype(np.float32)


def inferred_shapes(m):
    """Every tensor's shape as onnx shape inference gives it (standard ops only)."""
    inferred = shape_inference.infer_shapes(m)
    return {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in list(inferred.graph.value_info) + list(inferred.graph.input)}


def consumers_of(g):
    """Tensor name -> the nodes that read it."""
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    return consumers


def conv_inputs_and_attrs(g, n, a, w):
    """A Conv's inputs for a posture op (a zero bias added when it has none: exact, and the op always
    has one) and the geometry attributes the op takes."""
    inputs = list(n.input)
    if len(inputs) == 2:
        bname = f"{n.output[0]}__zero_bias"
        g.initializer.append(nh.from_array(np.zeros(w.shape[0], dtype=np.float32), bname))
        inputs.append(bname)
    kw = dict(strides=a.get("strides", [1, 1]), pads=a.get("pads", [0, 0, 0, 0]),
              kernel_shape=list(w.shape[2:]))
    return inputs, kw


def rewrite_input(g, inits):
    """Drop the in-graph normalisation; return (K, offset) so posture can do it while letterboxing."""
    by_name = {n.output[0]: n for n in g.node}
    consumers = consumers_of(g)
    src = g.input[0]
    chain = []
    t = src.name
    for want in ["Cast", "Split", "Sub", "Mul", "Sub", "Transpose"]:
        (n,) = consumers[t]
        assert n.op_type == want, f"unexpected input chain: {n.op_type} where {want} was expected"
        chain.append(n)
        t = n.output[0]
    sub0 = inits[chain[2].input[1]]
    mul = inits[chain[3].input[1]]
    sub1 = inits[chain[4].input[1]]
    assert np.all(sub0 == 0) and np.all(mul == mul.ravel()[0]) and sub1.size == 1
    assert attrs(chain[5])["perm"] == [0, 3, 1, 2]
    k = np.float32(mul.ravel()[0])
    off = np.float32(sub1.ravel()[0])
    s = src.type.tensor_type.shape.dim[1].dim_value
    new_in = helper.make_tensor_value_info("input_nchw", onnx.TensorProto.FLOAT, [1, 3, s, s])
    for n in g.node:
        for j, i in enumerate(n.input):
            if i == t:
                n.input[j] = "input_nchw"
    for n in chain:
        g.node.remove(n)
    del g.input[:]
    g.input.append(new_in)
    return k, off


def rewrite_resizes(m, inits):
    g = m.graph
    shapes = inferred_shapes(m)
    count = 0
    for idx, n in enumerate(list(g.node)):
        if n.op_type != "Resize":
            continue
        a = attrs(n)
        assert a.get("mode") == b"linear" and a.get("coordinate_transformation_mode") == b"half_pixel"
        scales = inits[n.input[2]]
        assert list(scales) == [1.0, 1.0, 2.0, 2.0], scales
        _, _, h, w = shapes[n.input[0]]
        assert h > 0 and w > 0
        rh = interp_matrix(h, 2)  # [2h, h]
        rwt = interp_matrix(w, 2).T.copy()  # [w, 2w]
        rh_name, rwt_name = f"resize{count}_rows", f"resize{count}_cols_t"
        g.initializer.extend([nh.from_array(rh, rh_name), nh.from_array(rwt, rwt_name)])
        mid = f"{n.output[0]}__cols"
        pos = list(g.node).index(n)
        g.node.remove(n)
        g.node.insert(pos, helper.make_node("MatMul", [n.input[0], rwt_name], [mid], name=f"resize{count}_matmul_cols"))
        g.node.insert(pos + 1, helper.make_node("MatMul", [rh_name, mid], [n.output[0]], name=f"resize{count}_matmul_rows"))
        count += 1
    return count


def rewrite_convs(m, inits, op_type, selects, fusions):
    """Each Conv whose attributes and weights `selects` accepts becomes one `op_type` node, with the one
    node that alone follows it fused in when its kind is in `fusions`: "clip" (a Clip with constant
    bounds, as clip_min/clip_max), "relu" (as clip 0..+inf), "add" (a residual Add of a same-shaped
    tensor, as a fourth input). Returns how many of each kind, and "plain" for none."""
    g = m.graph
    shapes = inferred_shapes(m) if "add" in fusions else {}
    consumers = consumers_of(g)
    counts = {kind: 0 for kind in [*fusions, "plain"]}
    for n in list(g.node):
        if n.op_type != "Conv":
            continue
        a = attrs(n)
        w = inits[n.input[1]]
        if not selects(a, w):
            continue
        assert a.get("dilations", [1, 1]) == [1, 1] and a.get("auto_pad", b"NOTSET") == b"NOTSET"
        inputs, kw = conv_inputs_and_attrs(g, n, a, w)
        out = n.output[0]
        nxt = consumers.get(out, [])
        follower = nxt[0] if len(nxt) == 1 else None
        fused, kind = None, "plain"
        if follower is None:
            pass
        elif "clip" in fusions and follower.op_type == "Clip" and len(follower.input) == 3:
            kw["clip_min"] = float(inits[follower.input[1]])
            kw["clip_max"] = float(inits[follower.input[2]])
            fused, kind = follower, "clip"
        elif "relu" in fusions and follower.op_type == "Relu":
            kw["clip_min"], kw["clip_max"] = 0.0, float("inf")
            fused, kind = follower, "relu"
        elif "add" in fusions and follower.op_type == "Add":
            other = [i for i in follower.input if i != out]
            if (len(other) == 1 and other[0] not in inits and shapes.get(other[0]) == shapes.get(out)
                    and all(d > 0 for d in shapes.get(out, [0]))):
                inputs.append(other[0])
                fused, kind = follower, "add"
        if fused is not None:
            out = fused.output[0]
        counts[kind] += 1
        # At the fused node's place: every input (the residual included) exists by then.
        anchor = fused if fused is not None else n
        pos = list(g.node).index(anchor)
        g.node.insert(pos, helper.make_node(op_type, inputs, [out], name=n.name or out, domain=DOMAIN, **kw))
        g.node.remove(n)
        if fused is not None:
            g.node.remove(fused)
    return counts


def is_depthwise(a, w):
    return a.get("group", 1) != 1 and w.shape[1] == 1 and a["group"] == w.shape[0]


def is_dense(a, w):
    return a.get("group", 1) == 1


def prune_initializers(g):
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)


def self_check(orig_path, prepared, k, off):
    try:
        import onnxruntime as ort
    except ImportError:
        print("prepare: onnxruntime not installed, self-check skipped", file=sys.stderr)
        return
    o = ort.InferenceSession(orig_path, providers=["CPUExecutionProvider"])
    p = ort.InferenceSession(prepared.SerializeToString(), providers=["CPUExecutionProvider"])
    s = o.get_inputs()[0].shape[1]
    rng = np.random.default_rng(7)
    worst = 0.0
    for _ in range(3):
        img = rng.integers(0, 256, size=(1, s, s, 3), dtype=np.int32)
        x = (img.astype(np.float32) * k - off).transpose(0, 3, 1, 2).copy()
        a = o.run(None, {o.get_inputs()[0].name: img})[0]
        b = p.run(None, {"input_nchw": x})[0]
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"prepare: onnxruntime original vs rewritten (standard ops): max |diff| = {worst:.2e}")
    assert worst < 1e-4, "rewritten graph does not match the original"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    standard_only = "--standard-only" in sys.argv
    src, dst = args
    m = onnx.load(src)
    inits = {i.name: nh.to_array(i) for i in m.graph.initializer}
    k, off = rewrite_input(m.graph, inits)
    n_resize = 0 if "--keep-resize" in sys.argv else rewrite_resizes(m, inits)
    prune_initializers(m.graph)
    onnx.checker.check_model(m)
    self_check(src, m, k, off)
    dense = depthwise = {}
    if not standard_only:
        dense = rewrite_convs(m, inits, CONV_OP, is_dense, ["clip", "relu", "add"])
        depthwise = rewrite_convs(m, inits, DW_OP, is_depthwise, ["clip"])
        m.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    prune_initializers(m.graph)
    del m.graph.value_info[:]
    m.doc_string = "posture prepared model: see models/prepare.py"
    onnx.save(m, dst)
    print(f"prepare: {dst}: input normalisation x = v * {k!r} (f32 bits {np.float32(k).view(np.uint32):#010x})"
          f" - {off!r}; {n_resize} Resize -> MatMul; depthwise: {depthwise};"
          f" dense: {dense}")


if __name__ == "__main__":
    main()
