#!/usr/bin/env python3
"""eval_issue14.py: measures the built binary against issue 14's targets on the synthetic development data.

  python3 scripts/eval_issue14.py BINARY SYNTHETIC_DIR [--model lightning] [--videos]

Per image (one frame, no smoothing: `posture monitor --images ONE.png --json --as-fast-as-possible`), uncalibrated
and calibrated on the subject's neutral render (`posture calibrate --images NEUTRAL.png --calibration F`):
side-view CVA proxy and trunk flexion MAE/bias against `gt_angles.image.*_near_side_deg`, and verdict agreement
against the data's rule (good = neck <= 10, trunk <= 10, |tilt| <= 5; poor = neck >= 30 or trunk >= 20; else
unscored). "Confident wrong" = a good/poor verdict that is wrong. Figures are split into tuned subjects (101-108)
and held-out ones (109-111). With --videos: each `sequences/*.mp4` is calibrated on `ffmpeg -ss 5 -t 4` of it,
then `posture exercise sit-tall --video V --calibration C --headless --as-fast-as-possible` must count
`expected_valid_reps`. Runs with XDG_CONFIG_HOME pointed at an empty folder so no saved calibration is used.
"""
import glob, json, os, re, subprocess, sys, tempfile

B, SYN = sys.argv[1], sys.argv[2]
MODEL = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else "lightning"
HELD = {109, 110, 111}
TMP = tempfile.mkdtemp(prefix="eval14-")
ENV = dict(os.environ, XDG_CONFIG_HOME=os.path.join(TMP, "cfg"))


def subject(png):
    b = os.path.basename(png)
    m = re.match(r"dev(\d\d)_", b)
    return 101 + int(m.group(1)) % 3 if m else int(re.search(r"_s(\d{3})_", b).group(1))


def neutral(png):
    s, v = subject(png), ("side" if png.endswith("_side.png") else "front")
    return f"{SYN}/images/neutral_s{s}_{v}.png" if s <= 103 else f"{SYN}/users/dev2_s{s}_neutral_{v}.png"


def label(pp):
    n, t, tilt = pp["neck_flexion_deg"], pp["trunk_flexion_deg"], pp["shoulder_tilt_deg"]
    if n <= 10 and t <= 10 and abs(tilt) <= 5:
        return "good"
    if n >= 30 or t >= 20:
        return "poor"
    return None


def calibrate(args, out):
    r = subprocess.run([B, "calibrate", *args, "--model", MODEL, "--calibration", out], capture_output=True, text=True, env=ENV)
    return r.returncode == 0, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""


def monitor(png, cal=None):
    cmd = [B, "monitor", "--images", png, "--json", "--as-fast-as-possible", "--model", MODEL]
    if cal:
        cmd += ["--calibration", cal]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    for line in r.stdout.splitlines():
        d = json.loads(line)
        if d.get("kind") == "frame":
            return d["posture"]
    return None


def mae_bias(e):
    return (sum(abs(x) for x in e) / len(e), sum(e) / len(e), len(e)) if e else (float("nan"),) * 2 + (0,)


neutrals = sorted(glob.glob(f"{SYN}/images/neutral_s*_*.png") + glob.glob(f"{SYN}/users/dev2_s*_neutral_*.png"))
cals, refused = {}, []
for n in neutrals:
    out = os.path.join(TMP, os.path.basename(n) + ".json")
    ok, msg = calibrate(["--images", n], out)
    if ok:
        cals[n] = out
        want = "side" if n.endswith("_side.png") else "front"
        got = json.load(open(out))["view"]
        if got != want:
            refused.append(f"{os.path.basename(n)}: view {got}")
    else:
        refused.append(f"{os.path.basename(n)}: {msg}")
print(f"calibration on {len(neutrals)} neutral renders: {len(neutrals) - len(refused)} accepted with the right view;"
      f" refused or wrong: {refused or 'none'}")

images = sorted(glob.glob(f"{SYN}/images/dev*_*.png")) + sorted(glob.glob(f"{SYN}/users/dev2_s*_p*_*.png"))
err = {}
agree = {}
misses = []
for im in images:
    tj = json.load(open(im[:-4] + ".json"))
    view = "side" if im.endswith("_side.png") else "front"
    grp = "held" if subject(im) in HELD else "tuned"
    lab = label(tj["pose_params"])
    for cal in (False, True):
        p = monitor(im, cals.get(neutral(im)) if cal else None)
        if view == "side" and not cal and p and p["metrics"]:
            g = tj["gt_angles"]["image"]
            for k, gk in (("cva_proxy_deg", "cva_proxy_near_side_deg"), ("trunk_flexion_deg", "trunk_flexion_near_side_deg")):
                if p["metrics"].get(k):
                    err.setdefault((k, grp), []).append(p["metrics"][k]["value"] - g[gk])
        if lab is None:
            continue
        band = (p or {}).get("band") or ("none" if not (p and p["person"]) else "not judged")
        a = agree.setdefault((view, cal, grp), [0, 0, 0, 0])
        a[0] += band == lab
        a[1] += band in ("good", "poor") and band != lab
        a[2] += band == "not judged"
        a[3] += 1
        if band != lab:
            misses.append(f"  {os.path.basename(im):26s} {'cal' if cal else 'unc'} truth {lab} got {band}: {(p or {}).get('reason')}")
print("\nside-view angles per image (uncalibrated; MAE / bias, n):")
for k in ("trunk_flexion_deg", "cva_proxy_deg"):
    for grp in ("tuned", "held"):
        m, b, n = mae_bias(err.get((k, grp), []))
        print(f"  {k:18s} {grp:5s}: MAE {m:.2f}  bias {b:+.2f}  (n={n})")
print("\nverdict agreement (agree / labelled; CW = confident wrong; NJ = not judged):")
for view in ("side", "front"):
    for cal in (False, True):
        for grp in ("tuned", "held"):
            a = agree.get((view, cal, grp), [0, 0, 0, 0])
            print(f"  {view:5s} {'calibrated  ' if cal else 'uncalibrated'} {grp:5s}: {a[0]}/{a[3]} = {100 * a[0] / max(a[3], 1):.0f}%"
                  f"  CW {a[1]} ({100 * a[1] / max(a[3], 1):.0f}%)  NJ {a[2]}")
if "-v" in sys.argv:
    print("\n".join(misses))

if "--videos" in sys.argv:
    print("\nvideos (calibrated on ffmpeg -ss 5 -t 4 of the first hold):")
    for v in sorted(glob.glob(f"{SYN}/sequences/*.mp4")):
        truth = json.load(open(v[:-4] + ".truth.json"))
        clip = os.path.join(TMP, os.path.basename(v)[:-4] + "_clip.mp4")
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-ss", "5", "-t", "4", "-i", v, clip], check=True)
        cal = os.path.join(TMP, os.path.basename(v) + ".cal.json")
        ok, msg = calibrate(["--video", clip], cal)
        cmd = [B, "exercise", "sit-tall", "--reps", str(truth["expected_valid_reps"]), "--video", v, "--headless", "--as-fast-as-possible", "--model", MODEL]
        if ok:
            cmd += ["--calibration", cal]
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
        m = re.search(r"(\d+) reps done", r.stderr)
        got = int(m.group(1)) if m else -1
        exp = truth["expected_valid_reps"]
        print(f"  {os.path.basename(v):28s} calibration {'accepted' if ok else 'REFUSED: ' + msg}; reps {got}/{exp}"
              f" {'OK' if got == exp else 'WRONG'} (exit {r.returncode})")
