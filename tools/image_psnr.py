#!/usr/bin/env python3
"""PSNR between two 8-bit images of one size, and the share of values that differ.

    image_psnr.py A.png B.png [--label TEXT] [--min DB]

Prints one line; with --min, exits 1 when the PSNR is below DB. Needs numpy
and Pillow (the GPU machine's python has both; tools/gpu_check.sh uses it for
its quality guards).
"""
import argparse
import sys

import numpy as np
from PIL import Image


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--label", default="images")
    parser.add_argument("--min", type=float, default=None)
    args = parser.parse_args()
    a = np.asarray(Image.open(args.a), dtype=np.float64)
    b = np.asarray(Image.open(args.b), dtype=np.float64)
    if a.shape != b.shape:
        print(f"{args.label}: {args.a} is {a.shape} but {args.b} is {b.shape}")
        return 1
    mse = float(np.mean((a - b) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    print(f"{args.label}: PSNR {psnr:.2f} dB, {100 * np.mean(a != b):.4f}% of values differ")
    return 0 if args.min is None or psnr >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
