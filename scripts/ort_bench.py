#!/usr/bin/env python3
"""onnxruntime's bare inference time for the bundled models: the baseline `posture bench` is compared with.

Run it right after `posture bench`, on the same machine (these VMs are noisy):
    python3 -m venv /tmp/ortenv && /tmp/ortenv/bin/pip install onnxruntime numpy
    /tmp/ortenv/bin/python scripts/ort_bench.py
"""
import pathlib
import time

import numpy as np
import onnxruntime as ort

MODELS = pathlib.Path(__file__).resolve().parent.parent / "models"
SIZES = {"lightning": 192, "thunder": 256}


def bare_inference(model):
    """onnxruntime on the original `model`, one thread, a fixed random input: returns a function
    timing `runs` runs after `warmup` untimed ones, milliseconds sorted."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(MODELS / f"movenet_singlepose_{model}_v4.onnx"), so, providers=["CPUExecutionProvider"])
    size = SIZES[model]
    x = np.random.default_rng(0).integers(0, 255, (1, size, size, 3)).astype(np.int32)
    name = sess.get_inputs()[0].name

    def timed(runs, warmup=10):
        for _ in range(warmup):
            sess.run(None, {name: x})
        ms = []
        for _ in range(runs):
            t = time.perf_counter()
            sess.run(None, {name: x})
            ms.append((time.perf_counter() - t) * 1e3)
        return sorted(ms)

    return timed


if __name__ == "__main__":
    for model in SIZES:
        ms = bare_inference(model)(200)
        print(f"{model}: onnxruntime {ort.__version__}, 1 thread, p50 {ms[100]:.2f} ms, p95 {ms[190]:.2f} ms")
