#!/usr/bin/env python3
"""hold_stability.py: the 5th-95th percentile range of the side-view angles over every still hold of the side videos.

  python3 scripts/hold_stability.py BINARY SYNTHETIC_DIR [--model lightning]

Runs `posture monitor --video V --json --as-fast-as-possible` (smoothed, as a user sees it) on each
`sequences/dev_seq_side*.mp4`. A still hold is a maximal run of >= 10 frames whose truth phase is `tall`; for each,
the range between the 5th and 95th percentile (linear interpolation) of `cva_proxy_deg` and `trunk_flexion_deg`.
Target (issue 14): <= 3 deg on every hold.
"""
import glob, json, math, os, subprocess, sys, tempfile

B, SYN = sys.argv[1], sys.argv[2]
MODEL = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else "lightning"
ENV = dict(os.environ, XDG_CONFIG_HOME=tempfile.mkdtemp())


def pct(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q / 100
    f = math.floor(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


worst = 0.0
for v in sorted(glob.glob(f"{SYN}/sequences/dev_seq_side*.mp4")):
    truth = json.load(open(v[:-4] + ".truth.json"))
    phases = [f["phase"] for f in truth["frames"]]
    r = subprocess.run([B, "monitor", "--video", v, "--json", "--as-fast-as-possible", "--model", MODEL],
                       capture_output=True, text=True, env=ENV)
    frames = [json.loads(l) for l in r.stdout.splitlines() if '"kind":"frame"' in l]
    holds, start = [], None
    for i, p in enumerate(phases + ["end"]):
        if p == "tall" and start is None:
            start = i
        elif p != "tall" and start is not None:
            if i - start >= 10:
                holds.append((start, i))
            start = None
    cells = []
    for a, b in holds:
        row = []
        for k in ("cva_proxy_deg", "trunk_flexion_deg"):
            xs = [f["posture"]["metrics"][k]["value"] for f in frames[a:b] if f["posture"]["metrics"].get(k)]
            rng = pct(xs, 95) - pct(xs, 5) if xs else float("nan")
            worst = max(worst, rng)
            row.append(f"{k[:5]} {rng:.1f} (n={len(xs)})")
        cells.append(f"{truth['frames'][a]['t']:.0f}-{truth['frames'][b - 1]['t']:.0f} s: " + ", ".join(row))
    print(os.path.basename(v), f"({len(frames)} frames):")
    for c in cells:
        print("  " + c)
print(f"worst 5-95% range over all holds: {worst:.1f} deg")
