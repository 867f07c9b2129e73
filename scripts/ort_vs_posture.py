#!/usr/bin/env python3
"""posture's hot loop against onnxruntime's bare inference, in alternating short rounds.

These VMs change speed from minute to minute, so one long run of each says little about their ratio.
Each round times onnxruntime on the original model (random int32 input, 1 thread, FRAMES runs) and then
`posture bench --frames FRAMES --json` (whole hot loop: 640x480 letterbox + inference + decode, 1 thread),
back to back, and prints both medians and their ratio; the summary is the median of the per-round ratios.

    python3 -m venv /tmp/ortenv && /tmp/ortenv/bin/pip install onnxruntime numpy
    cargo build --release
    /tmp/ortenv/bin/python scripts/ort_vs_posture.py [--model lightning|thunder] [--rounds 10] [--frames 50]
        [--engine fast|fast-fused|tract-plain]
"""
import argparse
import json
import pathlib
import statistics
import subprocess

import onnxruntime as ort

from ort_bench import bare_inference

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lightning", choices=["lightning", "thunder"])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--engine", default="fast", choices=["fast", "fast-fused", "tract-plain"])
    ap.add_argument("--posture", default=str(ROOT / "target" / "release" / "posture"))
    a = ap.parse_args()
    onnxruntime_ms = bare_inference(a.model)
    ratios = []
    print(f"{a.model}, onnxruntime {ort.__version__} vs posture --engine {a.engine}, {a.frames} frames per round")
    for r in range(a.rounds):
        o = statistics.median(onnxruntime_ms(a.frames, warmup=5))
        out = subprocess.run([a.posture, "bench", "--model", a.model, "--engine", a.engine,
                              "--frames", str(a.frames), "--json"], check=True, capture_output=True, text=True)
        p = json.loads(out.stdout)["total"]["p50_ms"]
        ratios.append(p / o)
        print(f"round {r + 1:2}: onnxruntime p50 {o:6.2f} ms   posture hot loop p50 {p:6.2f} ms   ratio {p / o:4.2f}")
    print(f"ratio posture / onnxruntime: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f} over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
