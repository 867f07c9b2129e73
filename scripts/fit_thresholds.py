#!/usr/bin/env python3
"""fit_thresholds.py: fits the judge's thresholds on the development data and writes a thresholds file.

Usage (pure python 3, no packages):

    posture eval ../shared/media/synthetic/images ../shared/media/synthetic/users \\
        --holdout 109,110,111 --no-videos --features-out features.csv
    python3 scripts/fit_thresholds.py features.csv --out fitted.toml [--lambda 3] [--trunk-offset 0] \\
        [--base calibration/thresholds.toml] [-v]
    posture eval ... --thresholds fitted.toml        # check the fit with the product itself

Input: the CSV of `posture eval --features-out` (one row per posture image: every metric the product measured,
the baseline from the subject's neutral render and the change from it, the truth label, the subject and whether it
is held out). Output: the thresholds TOML (format of calibration/thresholds.toml) on --out or standard output; the
fit's agreement on tuned and held-out subjects on standard error.

The verdict rule is the judge's, with one Band2 {good_max, poor_min} per feature: POOR when any feature is above
its poor_min; GOOD when every feature is at or below its good_max; FAIR otherwise (FAIR = not confident, never a
confident wrong). Fitted separately for each view x {calibrated, uncalibrated}, on the subjects NOT held out only:

  1. poor_min: a grid over each feature's observed values (midpoints, thinned so that at most MAX_COMBINATIONS
     bound combinations are tried, plus +inf = unused),
     maximising (#poor called poor) - LAMBDA * (#good called poor);
  2. good_max: the same grid, given step 1, maximising (#good called good) - LAMBDA * (#poor called good).
  Ties are broken by the widest margin: the bounds farthest (in each feature's spread) from any tuned sample.
  A bound the fit leaves unused keeps the base file's value, and clinical bands (CLINICAL_POOR: RULA's trunk
  flexion from 20 degrees) are kept, not fitted.

LAMBDA (default 3): one confident wrong costs three right verdicts. Tilts only gate "good" (the truth rule's poor is
neck or trunk only). Thresholds are rounded (angles to 1 degree, ratios to 0.01), then evaluated on the tuned and
the held-out subjects. The method is the research's (RESEARCH14.md section 4), on the product's own metrics.

Features (view, calibrated?):
  side, cal:   trunk, d_trunk = trunk - base, d_neck = neck - base_neck, d_pitch = pitch - base_pitch
  side, unc:   trunk, neck_rel = neck - trunk, pitch, cva (as 90 - cva)
  (neck = neck_flexion_deg, the near side's ear-shoulder line from vertical, as the judge uses it)
  front, cal:  d_drop = base_drop - drop, g_size = size / base_size - 1, tilt = |shoulder tilt|, htilt = |head tilt|
  front, unc:  drop_inv = -drop, size, tilt, htilt
"""
import csv
import itertools
import re
import sys

INF = float("inf")
OFF = 999.0  # a Band2 bound that is never reached: the feature does not gate that side
GOOD_ONLY = {"tilt", "htilt"}
RATIOS = {"d_drop", "g_size", "drop_inv", "size"}

# Only the features the judge has a key for are fitted, so the fit's verdicts are the judge's. The front view
# without a baseline is not fitted: the judge's fixed rule stands (see MAPPING).
CONFIGS = {
    ("side", "cal"): ["trunk", "d_trunk", "d_neck", "d_pitch"],
    ("side", "unc"): ["trunk", "neck_rel", "pitch"],
    ("front", "cal"): ["d_drop", "g_size", "tilt", "htilt"],
}

# Clinical bands kept where they apply: the feature's poor_min is not fitted but read from the base file's key
# (RULA: trunk flexion from 20° scores as poor); its good_max is still fitted.
CLINICAL_POOR = {("side", "unc", "trunk"): "trunk_flexion_deg", ("side", "cal", "trunk"): "trunk_flexion_deg"}

# ==== THE MAPPING: fitted feature -> key of [judge] in the thresholds file ===================================
# The one place that knows the judge's keys (src/science/judge.rs `Thresholds`). When the judge changes, change this
# table only. A feature mapped to None has no key in the judge yet: its fit is written as a comment.
# `extra` sets other keys so the judge computes exactly the fitted feature.
MAPPING = {
    ("side", "cal", "d_trunk"): "trunk_forward_of_baseline_deg",
    ("side", "cal", "d_neck"): "neck_forward_of_baseline_deg",  # judge: neck - base_neck
    ("side", "cal", "d_pitch"): "head_pitch_down_of_baseline_deg",
    ("side", "cal", "trunk"): None,  # the judge has one absolute trunk band: the uncalibrated fit sets it
    ("side", "unc", "trunk"): "trunk_flexion_deg",
    ("side", "unc", "neck_rel"): "neck_flexion_rel_trunk_deg",  # minus neck_keypoint_offset_deg (OFFSET_BY)
    ("side", "unc", "pitch"): "head_pitch_deg",
    ("side", "unc", "cva"): None,  # no absolute neck band in the judge yet
    ("front", "cal", "d_drop"): "head_drop_of_baseline",
    ("front", "cal", "g_size"): "head_forward_of_baseline",
    ("front", "cal", "tilt"): "shoulder_tilt_deg",  # the judge uses one tilt band with and without a baseline
    ("front", "cal", "htilt"): "head_tilt_deg",
    ("front", "unc", "tilt"): None,
    ("front", "unc", "htilt"): None,
    # Not fitted on purpose: without a baseline the nose's height above the shoulders depends on the camera's
    # height, which this data does not vary; the judge keeps its fixed safe rule
    # (front_uncalibrated_poor_head_drop_below, docs/science.md).
    ("front", "unc", "drop_inv"): None,
    ("front", "unc", "size"): None,
}
# The judge subtracts this key's value (read from the base file) from the feature before comparing: the fitted
# bounds are written less it.
OFFSET_BY = {"neck_flexion_rel_trunk_deg": "neck_keypoint_offset_deg"}
# ===============================================================================================================


def num(row, name):
    v = row.get(name, "")
    try:
        return float(v) if v != "" else None
    except ValueError:
        return None


def features(row, cal, trunk_offset):
    """The features of one CSV row, or None when nobody was seen (or no baseline for a calibrated fit)."""
    if row.get("person") != "1":
        return None
    if cal == "cal" and row.get("calibrated") != "1":
        return None
    v = lambda n: num(row, n)
    f = {}
    if row["view"] == "side":
        t, c, p = v("trunk_flexion_deg"), v("cva_proxy_deg"), v("head_pitch_deg")
        f["trunk"] = t + trunk_offset if t is not None else None
        n = v("neck_flexion_deg")  # the near side's ear-shoulder line from vertical (what the judge uses)
        if cal == "cal":
            f["d_trunk"] = v("delta_trunk_flexion_deg")
            f["d_neck"] = v("delta_neck_flexion_deg")
            f["d_pitch"] = v("delta_head_pitch_deg")
        else:
            f["neck_rel"] = n - t if n is not None and t is not None else None
            f["pitch"] = p
            f["cva"] = 90 - c if c is not None else None
    else:
        st, ht, dr, sz = v("shoulder_tilt_deg"), v("head_tilt_deg"), v("head_drop_ratio"), v("head_size_ratio")
        f["tilt"] = abs(st) if st is not None else None
        f["htilt"] = abs(ht) if ht is not None else None
        if cal == "cal":
            d = v("delta_head_drop_ratio")
            f["d_drop"] = -d if d is not None else None
            b = v("base_head_size_ratio")
            f["g_size"] = sz / b - 1 if sz is not None and b else None
        else:
            f["drop_inv"] = -dr if dr is not None else None
            f["size"] = sz
    return f


def verdict(vals, G, P):
    if vals is None:
        return "none"
    if any(v is not None and v > p for v, p in zip(vals, P)):
        return "poor"
    if all(v is None or v <= g for v, g in zip(vals, G)) and any(v is not None for v in vals):
        return "good"
    return "fair"


def grid(xs, size):
    """Midpoints between the observed values, thinned to `size`, plus +inf (unused)."""
    xs = sorted(set(x for x in xs if x is not None))
    mids = [(a + b) / 2 for a, b in zip(xs, xs[1:])]
    if len(mids) > size:
        step = len(mids) / size
        mids = [mids[int(i * step)] for i in range(size)]
    return mids + [INF]


def spread(xs):
    """The standard deviation of the observed values (1 when there are too few)."""
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return 1.0
    m = sum(xs) / len(xs)
    return (sum((x - m) ** 2 for x in xs) / len(xs)) ** 0.5 or 1.0


def margin(V, bounds, spreads):
    """The smallest distance, in each feature's spread, from a used bound to a tuned sample: among bounds that
    score the same, the fit takes the one farthest from the data (the widest margin), not one that sits on the
    last tuned sample."""
    m = INF
    for i, b in enumerate(bounds):
        if b in (INF, -INF):
            continue
        for v in V:
            if v is not None and v[i] is not None:
                m = min(m, abs(v[i] - b) / spreads[i])
    return m


# The search tries at most about this many bound combinations per step (pure python: about a minute).
MAX_COMBINATIONS = 400_000


def vectors(rows, names, cal, off):
    out = []
    for r in rows:
        f = features(r, cal, off)
        out.append([f.get(n) for n in names] if f is not None else None)
    return out


def base_band(base_text, key):
    """(good_max, poor_min) of `key` in the base thresholds file, or None."""
    m = re.search(rf"(?m)^{re.escape(key)}\s*=\s*\{{\s*good_max\s*=\s*([-0-9.]+)\s*,\s*poor_min\s*=\s*([-0-9.]+)", base_text)
    return (float(m.group(1)), float(m.group(2))) if m else None


def fit(rows, names, cal, lam, off, fixed_poor=None):
    """Fits (good_max, poor_min) per feature; `fixed_poor` maps a feature to a poor_min that is not fitted."""
    fixed_poor = fixed_poor or {}
    V = vectors(rows, names, cal, off)
    Y = [r["label"] for r in rows]
    size = max(8, int(MAX_COMBINATIONS ** (1 / len(names))) - 1)
    spreads = [spread([v[i] for v in V if v]) for i in range(len(names))]
    grids = [grid([v[i] for v in V if v], size) for i in range(len(names))]
    pgrids = [[INF] if n in GOOD_ONLY else [fixed_poor[n]] if n in fixed_poor else g for n, g in zip(names, grids)]
    scored = []
    for P in itertools.product(*pgrids):
        vs = [verdict(v, [-INF] * len(P), P) for v in V]
        tp = sum(1 for x, y in zip(vs, Y) if y == "poor" and x == "poor")
        fp = sum(1 for x, y in zip(vs, Y) if y == "good" and x == "poor")
        scored.append(((tp - lam * fp, margin(V, P, spreads)), P))
    P = max(scored, key=lambda sp: sp[0])[1]
    gg = [[g for g in grids[i] if g <= P[i]] + ([P[i]] if P[i] != INF else []) for i in range(len(names))]
    scored = []
    for G in itertools.product(*gg):
        vs = [verdict(v, G, P) for v in V]
        tg = sum(1 for x, y in zip(vs, Y) if y == "good" and x == "good")
        fg = sum(1 for x, y in zip(vs, Y) if y == "poor" and x == "good")
        scored.append(((tg - lam * fg, margin(V, G, spreads)), G))
    return list(max(scored, key=lambda sg: sg[0])[1]), list(P)


def rnd(name, x):
    if x in (INF, -INF):
        return x
    return round(x, 2) if name in RATIOS else float(round(x))


def evaluate(rows, names, cal, G, P, off, verbose=False):
    vs = [verdict(v, G, P) for v in vectors(rows, names, cal, off)]
    n = len(rows)
    agree = sum(1 for v, r in zip(vs, rows) if v == r["label"])
    cw = sum(1 for v, r in zip(vs, rows) if v in ("good", "poor") and v != r["label"])
    fair = sum(1 for v in vs if v == "fair")
    none = sum(1 for v in vs if v == "none")
    if verbose:
        for v, r in zip(vs, rows):
            if v != r["label"]:
                print(f"        {r['image']}: truth {r['label']}, fitted {v}", file=sys.stderr)
    return agree, cw, fair, none, n


def toml_band(g, p):
    g = OFF if g == INF else g
    p = OFF if p == INF else p
    return "{ good_max = %s, poor_min = %s }" % (repr(float(g)), repr(float(max(p, g))))


def write_toml(base_text, fits, lam, off):
    """The base thresholds file with the fitted keys replaced, each with a comment saying where it came from."""
    text = base_text
    notes = []
    for (view, cal, feat), key in MAPPING.items():
        if (view, cal) not in fits:
            continue
        names, G, P = fits[(view, cal)]
        if feat not in names:
            continue
        g, p = G[names.index(feat)], P[names.index(feat)]
        desc = f"{view}, {'calibrated' if cal == 'cal' else 'uncalibrated'}, feature {feat}: good <= {g}, poor > {p}"
        if key is None:
            notes.append(f"# not in the judge yet: {desc}")
            continue
        if key in OFFSET_BY:
            m = re.search(rf"(?m)^{re.escape(OFFSET_BY[key])}\s*=\s*([-0-9.]+)", base_text)
            k = float(m.group(1)) if m else 0.0
            g, p = (g - k if g != INF else g), (p - k if p != INF else p)
            desc += f"; written less {OFFSET_BY[key]} = {k}"
        old = base_band(base_text, key)
        if old is not None:
            # A bound the fit leaves unused keeps the base file's (clinical or earlier guidance) value.
            g = old[0] if g == INF else g
            p = old[1] if p == INF else p
        line = f"# fitted by scripts/fit_thresholds.py ({desc})\n{key} = {toml_band(g, p)}"
        text, n = re.subn(rf"(?m)^{re.escape(key)}\s*=.*$", lambda _m: line, text, count=1)
        if n == 0:
            text = text.replace("[alerts]", f"{line}\n\n[alerts]", 1)
    head = (f"# Fitted by scripts/fit_thresholds.py (lambda {lam}, trunk offset {off}) on the subjects not held out.\n"
            + "\n".join(notes) + "\n")
    return head + text


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2

    def opt(name, default):
        return argv[argv.index(name) + 1] if name in argv else default

    path = argv[1]
    lam = float(opt("--lambda", "3"))
    off = float(opt("--trunk-offset", "0"))
    base = opt("--base", "calibration/thresholds.toml")
    out = opt("--out", None)
    verbose = "-v" in argv
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh)]
        with open(base) as fh:
            base_text = fh.read()
    except OSError as e:
        print(f"fit_thresholds.py: error: {e}", file=sys.stderr)
        return 2
    need = {"view", "label", "held_out", "person", "calibrated"}
    if not rows or not need <= set(rows[0]):
        print(f"fit_thresholds.py: error: {path} is not a `posture eval --features-out` CSV", file=sys.stderr)
        return 2
    labelled = [r for r in rows if r["label"] in ("good", "poor")]
    fits = {}
    for (view, cal), names in CONFIGS.items():
        tuned = [r for r in labelled if r["view"] == view and r["held_out"] != "1"]
        held = [r for r in labelled if r["view"] == view and r["held_out"] == "1"]
        if not tuned:
            continue
        fixed = {f: base_band(base_text, k)[1] for (v, c, f), k in CLINICAL_POOR.items()
                 if (v, c) == (view, cal) and f in names and base_band(base_text, k)}
        G, P = fit(tuned, names, cal, lam, off, fixed)
        G = [rnd(k, g) for k, g in zip(names, G)]
        P = [rnd(k, p) for k, p in zip(names, P)]
        fits[(view, cal)] = (names, G, P)
        used = ", ".join(f"{k} good<={g} poor>{p}" for k, g, p in zip(names, G, P) if not (g == INF and p == INF))
        print(f"{view:5s} {cal}: {used}", file=sys.stderr)
        for grp, rs in (("tuned", tuned), ("held-out", held)):
            if not rs:
                continue
            a, cw, fair, none, n = evaluate(rs, names, cal, G, P, off, verbose)
            print(f"      {grp:8s}: agree {a}/{n} = {100 * a / n:.0f}%  confident wrong {cw} ({100 * cw / n:.0f}%)"
                  f"  fair {fair}  no person {none}", file=sys.stderr)
    text = write_toml(base_text, fits, lam, off)
    if out:
        with open(out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
