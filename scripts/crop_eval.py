#!/usr/bin/env python3
"""crop_eval.py: keypoint and side-view angle error of `posture monitor` runs against the truth of
the synthetic sit-tall videos (issue 14, tracking crop). Pure python, no numpy.

Usage:
  posture monitor --video V.mp4 --model M --crop auto|off --json --as-fast-as-possible --headless > RUN.jsonl
  python3 scripts/crop_eval.py [--max-fraction F] V.truth.json RUN.jsonl [RUN2.jsonl ...]

Per run, over every frame (`kind: frame`, matched to the truth by `seq`):
  - kp: mean distance (px) from the predicted to the truth keypoints (`keypoints_2d`, visibility 2) over the
    head and torso (nose, eyes, ears, shoulders, hips), and its median over frames;
  - side videos: the CVA proxy and trunk flexion measured on the predicted keypoints with the truth's near side
    (so the figure is the keypoints' accuracy, not the side rule), MAE, bias (predicted - truth) and sd (the
    MAE left once the bias is removed, as a fitted offset or a calibration would) against
    `gt_angles.image.cva_proxy_near_side_deg` / `trunk_flexion_near_side_deg`; and the same for the product's
    own reported `cva_proxy_deg` / `trunk_flexion_deg` (what the user sees, with today's side rule);
  - crop: frames `--crop auto` would crop (replayed from the previous frame's keypoints: mean head+torso score
    >= 0.3, 1.25 x the confident keypoints' box <= F (default 1) x the frame's shorter side) - an estimate, the
    binary does not report it;
  - ms: mean letterbox and inference milliseconds per frame as the run reported them.
"""
import json
import math
import sys

CORE = [0, 1, 2, 3, 4, 5, 6, 11, 12]
EAR, SHO, HIP = {"left": 3, "right": 4}, {"left": 5, "right": 6}, {"left": 11, "right": 12}


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def median(v):
    s = sorted(v)
    n = len(s)
    return float("nan") if n == 0 else (s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2)


def side_angles(kps, near, facing):
    """CVA proxy (ear-shoulder line above horizontal) and trunk flexion (hip->shoulder forward of vertical)."""
    fwd = -1.0 if facing == "left" else 1.0
    ex, ey = kps[EAR[near]][:2]
    sx, sy = kps[SHO[near]][:2]
    hx, hy = kps[HIP[near]][:2]
    cva = math.degrees(math.atan2(sy - ey, abs(ex - sx)))
    trunk = math.degrees(math.atan2(fwd * (sx - hx), hy - sy))
    return cva, trunk


MAX_FRACTION = 1.0


def would_crop(prev, w, h):
    if prev is None:
        return False
    if mean([prev[j][2] for j in CORE]) < 0.3:
        return False
    pts = [(x, y) for x, y, s in prev if s >= 0.3]
    if len(pts) < 2:
        return False
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    side = max(32, math.ceil(1.25 * max(max(xs) - min(xs), max(ys) - min(ys))))
    return side <= MAX_FRACTION * min(w, h)


def evaluate(truth, run):
    frames = {f["index"]: f for f in truth["frames"]}
    side = truth["view"] == "side"
    kp, cva_e, trunk_e, pcva_e, ptrunk_e, lb, inf = [], [], [], [], [], [], []
    cropped, prev, n = 0, None, 0
    for line in open(run):
        d = json.loads(line)
        if d.get("kind") != "frame" or "keypoints" not in d:
            continue
        t = frames.get(d["seq"])
        if t is None:
            continue
        n += 1
        kps = [(k["x_px"], k["y_px"], k["score"]) for k in d["keypoints"]]
        cropped += would_crop(prev, d["width_px"], d["height_px"]) and mean([kps[j][2] for j in CORE]) >= 0.3
        prev = kps
        lb.append(d.get("letterbox_ms", 0.0))
        inf.append(d.get("inference_ms", 0.0))
        errs = [math.hypot(kps[j][0] - t["keypoints_2d"][j][0], kps[j][1] - t["keypoints_2d"][j][1])
                for j in CORE if t["keypoints_2d"][j][2] == 2]
        if errs:
            kp.append(mean(errs))
        if side:
            g = t["gt_angles"]["image"]
            cva, trunk = side_angles(kps, g["near_side"], g["facing_image_direction"])
            cva_e.append(cva - g["cva_proxy_near_side_deg"])
            trunk_e.append(trunk - g["trunk_flexion_near_side_deg"])
            m = (d.get("posture") or {}).get("metrics") or {}
            if "cva_proxy_deg" in m:
                pcva_e.append(m["cva_proxy_deg"]["value"] - g["cva_proxy_near_side_deg"])
            if "trunk_flexion_deg" in m:
                ptrunk_e.append(m["trunk_flexion_deg"]["value"] - g["trunk_flexion_near_side_deg"])
    r = {"frames": n, "cropped": cropped, "kp_mean": mean(kp), "kp_median": median(kp),
         "letterbox_ms": mean(lb), "inference_ms": mean(inf)}
    for name, e in (("cva", cva_e), ("trunk", trunk_e), ("product_cva", pcva_e), ("product_trunk", ptrunk_e)):
        if e:
            r[name + "_mae"] = mean([abs(x) for x in e])
            r[name + "_bias"] = mean(e)
            r[name + "_sd"] = mean([abs(x - mean(e)) for x in e])
    return r


def main():
    global MAX_FRACTION
    args = sys.argv[1:]
    if args[0] == "--max-fraction":
        MAX_FRACTION, args = float(args[1]), args[2:]
    truth = json.load(open(args[0]))
    for run in args[1:]:
        r = evaluate(truth, run)
        line = (f"{run:60s} frames {r['frames']:3d} cropped {r['cropped']:3d} | head+torso {r['kp_mean']:5.2f} px"
                f" (median {r['kp_median']:5.2f})")
        if "cva_mae" in r:
            line += (f" | near-side CVA MAE {r['cva_mae']:4.2f} (bias {r['cva_bias']:+5.2f} sd {r['cva_sd']:4.2f})"
                     f" trunk MAE {r['trunk_mae']:4.2f} (bias {r['trunk_bias']:+5.2f} sd {r['trunk_sd']:4.2f})")
        if "product_cva_mae" in r:
            line += (f" | product CVA MAE {r['product_cva_mae']:4.2f} (bias {r['product_cva_bias']:+5.2f})"
                     f" trunk {r['product_trunk_mae']:4.2f} ({r['product_trunk_bias']:+5.2f})")
        line += f" | letterbox {r['letterbox_ms']:.3f} ms inference {r['inference_ms']:.2f} ms"
        print(line)


if __name__ == "__main__":
    main()
