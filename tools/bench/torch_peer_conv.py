#!/usr/bin/env python3
"""PyTorch peer numbers for the conv2d benchmarks (apps/bench/bench_conv.cpp).

Times F.conv2d 64->64 3x3 (padding 1, bias, batch 1) at 128x128 and 256x256,
forward and forward+backward (input, weight and bias gradients), float32 on
the CPU with a fixed thread count, and prints one JSON object per line:

  {"name": "torch.conv2d_64x64_k3.fwd.256", "ms": ..., "gflops": ..., "threads": 2,
   "allocator": "default", "torch": "1.13.1", "mkldnn": true}

It runs every case twice, in two child processes: with glibc's default
allocator settings ("default": big buffers are mmap'ed and returned to the OS
on free, so every call page-faults its activations in again), and with
MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ raised so freed blocks stay
in the process ("glibc_keep": closer to our caching allocator).

Usage: /usr/bin/python3 tools/bench/torch_peer_conv.py [--threads N] [--reps N] [--sizes 128,256]
(exits 77 when torch is missing, so a caller can report "skipped").
"""
import argparse
import json
import os
import subprocess
import sys
import time

KEEP_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 62)}


def measure(threads, reps, sizes, allocator):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    channels, k = 64, 3
    for size in sizes:
        x = torch.randn(1, channels, size, size)
        w = torch.randn(channels, channels, k, k) * 0.05
        b = torch.randn(channels)
        flops = 2.0 * channels * channels * k * k * size * size  # one conv, multiply-adds counted twice

        def forward():
            with torch.no_grad():
                F.conv2d(x, w, b, padding=k // 2)

        xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
        gy = torch.randn(1, channels, size, size)

        def forward_backward():
            for t in (xg, wg, bg):
                t.grad = None
            F.conv2d(xg, wg, bg, padding=k // 2).backward(gy)

        for label, fn, work in (("fwd", forward, flops), ("fwd_bwd", forward_backward, 3 * flops)):
            for _ in range(3):  # warm-up
                fn()
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            times.sort()
            ms = times[len(times) // 2] * 1e3
            print(json.dumps({
                "name": f"torch.conv2d_{channels}x{channels}_k{k}.{label}.{size}",
                "ms": round(ms, 4),
                "gflops": round(work / ms / 1e6, 2),
                "threads": threads,
                "allocator": allocator,
                "torch": torch.__version__,
                "mkldnn": bool(torch.backends.mkldnn.is_available()),
            }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("DCSR_NUM_THREADS", "2")))
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--child", choices=["default", "glibc_keep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch_peer_conv: no torch in this python (try /usr/bin/python3)", file=sys.stderr)
        return 77
    if args.child:
        measure(args.threads, args.reps, sizes, args.child)
        return 0
    for allocator in ("default", "glibc_keep"):
        env = dict(os.environ)
        for key in KEEP_ENV:
            env.pop(key, None)
        if allocator == "glibc_keep":
            env.update(KEEP_ENV)
        env["OMP_NUM_THREADS"] = str(args.threads)
        cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads), "--reps", str(args.reps),
               "--sizes", args.sizes, "--child", allocator]
        result = subprocess.run(cmd, env=env)
        if result.returncode:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
