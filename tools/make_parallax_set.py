"""Evaluation sets with real parallax and a true HR, from the stereo and optical-flow pairs of
../shared/data/stereo-multiview (Middlebury Aloe and Motorcycle stereo, with ground-truth disparity;
Middlebury RubberWhale and Basketball flow pairs, small motion).

The dual-camera layout of `dcsr eval` (docs/app.md, "Dataset layout") with a second camera that really
stands elsewhere: HR is the left (first) image, LR/x2 its half (`dcsr resize`, the project's resampler),
and Ref/x2 the right (second) image's window over HR's central half, at HR's density. A phone's two
cameras sit about 1-2 cm apart; Middlebury's stood 16 cm apart, so these references carry parallax
(objects at different depths shifted by different amounts, occlusions) well beyond a phone's at the same
distance. They test whether the aligned attention copes, against a ground truth no real phone pair has.

Two sets are written, each a `dcsr eval` dataset (HR, LR/x2, Ref/x2):
  OUT/registered    the right window shifted by the median ground-truth disparity over HR's central
                    half: what a perfect similarity registration gives (the median depth aligned, the
                    rest left as parallax). The flow pairs, without ground truth here, are not shifted.
  OUT/unregistered  the right window at the same pixels as HR's central half, as `--registration none`
                    takes a pair: the whole disparity left for the matching.

Usage: /work/venv/bin/python tools/make_parallax_set.py --data ../shared/data --dcsr build/bin/dcsr --out DIR
Needs numpy and Pillow. Refuses an existing OUT; writes into OUT.tmp-<pid> and renames it at the end.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

# name: (left, right, disparity of the left image or None; paths under stereo-multiview/)
PAIRS = {
    "aloe": ("middlebury-aloe/aloeL.jpg", "middlebury-aloe/aloeR.jpg", "middlebury-aloe/aloeGT.png"),
    "motorcycle": ("middlebury-motorcycle/motorcycle_left.png", "middlebury-motorcycle/motorcycle_right.png",
                   "middlebury-motorcycle/motorcycle_disp.npz"),
    "rubberwhale": ("middlebury-flow-rubberwhale/rubberwhale1.png", "middlebury-flow-rubberwhale/rubberwhale2.png",
                    None),
    "basketball": ("middlebury-flow-basketball/basketball1.png", "middlebury-flow-basketball/basketball2.png", None),
}


def fail(message):
    print(f"make_parallax_set: error: {message}", file=sys.stderr)
    sys.exit(1)


def load_disparity(path):
    """The left image's disparity in pixels (x_left - x_right); NaN where unknown."""
    if path.endswith(".npz"):
        d = np.load(path)["arr_0"].astype(np.float64)  # Middlebury 2014 PFM as saved by skimage: inf = unknown
        d[~np.isfinite(d)] = np.nan
    else:
        d = np.asarray(Image.open(path), dtype=np.float64)  # Middlebury 2006 full size: the value is the disparity, 0 = unknown
        d[d == 0] = np.nan
    return d


def median_disparity(disparity, top, left, height, width):
    window = disparity[top:top + height, left:left + width]
    known = window[np.isfinite(window)]
    if known.size < window.size // 4:
        fail(f"fewer than a quarter of the disparities known over the central half ({known.size} of {window.size})")
    return float(np.median(known))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the shared data folder (holds stereo-multiview/)")
    parser.add_argument("--dcsr", required=True, help="the dcsr binary (its resize makes LR/x2)")
    parser.add_argument("--out", required=True, help="the folder to create")
    args = parser.parse_args()
    root = os.path.join(args.data, "stereo-multiview")
    if not os.path.isdir(root):
        fail(f"'{root}' is not a folder")
    if os.path.lexists(args.out):
        fail(f"'{args.out}' exists; give a new folder")
    work = f"{args.out}.tmp-{os.getpid()}"
    report = {}
    try:
        for variant in ("registered", "unregistered"):
            for sub in ("HR", "LR/x2", "Ref/x2"):
                os.makedirs(os.path.join(work, variant, sub))
        for name, (left_path, right_path, disparity_path) in PAIRS.items():
            left = Image.open(os.path.join(root, left_path)).convert("RGB")
            right = Image.open(os.path.join(root, right_path)).convert("RGB")
            if left.size != right.size:
                fail(f"{name}: the two images differ in size ({left.size} and {right.size})")
            W, H = left.size[0] // 4 * 4, left.size[1] // 4 * 4  # HR = 2 x LR, LR = 2 x the central half's step
            h, w = H // 2, W // 2  # LR size = Ref/x2 size = HR's central half
            top, left_edge = H // 4, W // 4
            shift = 0.0
            if disparity_path is not None:
                shift = median_disparity(load_disparity(os.path.join(root, disparity_path)), top, left_edge, h, w)
            report[name] = {"hr": [W, H], "median_disparity_px": shift}
            for variant, dx in (("registered", int(round(shift))), ("unregistered", 0)):
                x0 = left_edge - dx  # x_right = x_left - disparity
                if x0 < 0 or x0 + w > right.size[0]:
                    fail(f"{name}: the shifted window leaves the right image")
                base = os.path.join(work, variant)
                hr_file = os.path.join(base, "HR", f"{name}.png")
                left.crop((0, 0, W, H)).save(hr_file)
                right.crop((x0, top, x0 + w, top + h)).save(os.path.join(base, "Ref/x2", f"{name}.png"))
                subprocess.run([args.dcsr, "resize", "--in", hr_file, "--out", os.path.join(base, "LR/x2", f"{name}.png"),
                                "--size", f"{w}x{h}"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(work, "parallax_set.json"), "w") as f:
            json.dump(report, f, indent=1)
        os.rename(work, args.out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    for name, r in report.items():
        print(f"{name}: HR {r['hr'][0]}x{r['hr'][1]}, median disparity {r['median_disparity_px']:.1f} px")


if __name__ == "__main__":
    main()
