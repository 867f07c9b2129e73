#!/usr/bin/env python3
"""onnxruntime's own per-node profile of a bundled model, to set beside `posture bench --profile-ops --by-node`.

Runs the original model on one thread (random input, as `ort_bench.py`) with onnxruntime's profiler on, and
prints each node's median time over the runs after a warm-up, largest first, with its op type and the shapes
onnxruntime reports. onnxruntime runs MoveNet in its blocked channel layout (NCHWc), so its shapes may show
channels rounded up to 8 or 16 (24 -> 32, 40 -> 48) where posture's show the model's own.

    python3 -m venv /tmp/ortenv && /tmp/ortenv/bin/pip install onnxruntime numpy
    /tmp/ortenv/bin/python scripts/ort_profile.py [--model lightning|thunder] [--runs 110] [--top 45]
"""
import argparse
import collections
import json
import os
import statistics
import tempfile

import numpy as np
import onnxruntime as ort

from ort_bench import MODELS, SIZES


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lightning", choices=sorted(SIZES))
    ap.add_argument("--runs", type=int, default=110)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--top", type=int, default=45)
    a = ap.parse_args()
    if a.runs <= a.warmup:
        ap.error(f"--runs ({a.runs}) must be more than --warmup ({a.warmup})")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    tmp = tempfile.mkdtemp()
    so.profile_file_prefix = os.path.join(tmp, "ort")
    sess = ort.InferenceSession(str(MODELS / f"movenet_singlepose_{a.model}_v4.onnx"), so,
                                providers=["CPUExecutionProvider"])
    size = SIZES[a.model]
    x = np.random.default_rng(0).integers(0, 255, (1, size, size, 3)).astype(np.int32)
    name = sess.get_inputs()[0].name
    for _ in range(a.runs):
        sess.run(None, {name: x})
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    os.remove(path)
    os.rmdir(tmp)
    times = collections.defaultdict(list)
    info = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            times[node].append(e["dur"] / 1000)
            args = e.get("args", {})
            info[node] = (args.get("op_name", "?"), args.get("input_type_shape"), args.get("output_type_shape"))
    rows = sorted(((statistics.median(v[a.warmup:]), k) for k, v in times.items()), reverse=True)
    print(f"{a.model}, onnxruntime {ort.__version__}, 1 thread, median of {a.runs - a.warmup} runs per node")
    print(f"all nodes: {sum(ms for ms, _ in rows):.3f} ms")
    for ms, node in rows[: a.top]:
        op, inputs, outputs = info[node]
        shapes = [list(s.values())[0] for s in inputs or []]
        out = [list(s.values())[0] for s in outputs or []]
        print(f"{ms:7.3f} ms  {op:<22} {shapes} -> {out}")


if __name__ == "__main__":
    main()
