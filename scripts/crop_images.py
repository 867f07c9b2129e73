#!/usr/bin/env python3
"""crop_images.py: the tracking crop on still images with truth (issue 14), through `posture monitor --images`.

  python3 scripts/crop_images.py make OUT IMAGE.png [...]
      links each image twice into OUT (…_0_full.png, …_1_crop.png) followed by a black frame, so that a monitor run
      sees every image first whole (the run is untracked after a black frame) and then cropped around that pose:
      the crop MoveNet's video pipeline would use on a still person.
  posture monitor --images OUT --crop always|auto --json --as-fast-as-possible --headless > RUN.jsonl
  python3 scripts/crop_images.py eval OUT RUN.jsonl [...]
      per view (from the name: *_front / *_side): head+torso keypoint error (px, truth visibility 2) of the whole
      frame against the second (cropped, when the rule crops) frame; mean, median and the count of images whose
      error grew by more than 5 px. Pure python.
"""
import json
import math
import os
import struct
import sys
import zlib

CORE = [0, 1, 2, 3, 4, 5, 6, 11, 12]


def black_png(path, w=640, h=480):
    raw = b"".join(b"\x00" + b"\x00" * (w * 3) for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(png)


def make(out, images):
    os.makedirs(out, exist_ok=True)
    black = os.path.join(out, "black.src.png")
    black_png(black)
    index = []
    for i, im in enumerate(sorted(images)):
        stem = os.path.splitext(os.path.basename(im))[0]
        for k, tag in enumerate(("0_full", "1_crop")):
            os.symlink(os.path.abspath(im), os.path.join(out, f"{i:04d}_{k}_{stem}.png"))
        os.symlink(os.path.abspath(black), os.path.join(out, f"{i:04d}_2_black.png"))
        index.append(os.path.abspath(im))
    json.dump(index, open(os.path.join(out, "index.json"), "w"), indent=0)


def median(v):
    s = sorted(v)
    return s[len(s) // 2] if s else float("nan")


def evaluate(out, run):
    index = json.load(open(os.path.join(out, "index.json")))
    frames = [json.loads(l) for l in open(run)]
    frames = [d for d in frames if d.get("kind") == "frame"]
    by_seq = {d["seq"]: d for d in frames}
    res = {}
    for i, im in enumerate(index):
        truth = json.load(open(os.path.splitext(im)[0] + ".json"))["keypoints_2d"]
        errs = []
        for k in (0, 1):
            d = by_seq.get(3 * i + k)
            if d is None or "keypoints" not in d:
                errs = None
                break
            kps = d["keypoints"]
            e = [math.hypot(kps[j]["x_px"] - truth[j][0], kps[j]["y_px"] - truth[j][1]) for j in CORE
                 if truth[j][2] == 2]
            errs.append(sum(e) / len(e) if e else float("nan"))
        view = "front" if "_front" in im else "side"
        if errs:
            res.setdefault(view, []).append(errs)
    for view, rows in sorted(res.items()):
        full = [r[0] for r in rows]
        crop = [r[1] for r in rows]
        worse = sum(1 for a, b in rows if b > a + 5)
        print(f"{os.path.basename(run):40s} {view:5s} n {len(rows):3d} | whole {sum(full) / len(full):5.2f} px"
              f" (median {median(full):4.2f}) | second frame {sum(crop) / len(crop):5.2f} px"
              f" (median {median(crop):4.2f}) | worse by > 5 px: {worse}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3:])
    else:
        for r in sys.argv[3:]:
            evaluate(sys.argv[2], r)
