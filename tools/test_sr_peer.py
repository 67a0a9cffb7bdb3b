#!/usr/bin/env python3
"""End-to-end check of `dcsr sr` against tools/sr_peer.py (the PyTorch reference network, tiled the
same way) on one whole image, in both modes. Run by ctest (sr_peer_matches_dcsr_sr):

    tools/test_sr_peer.py PATH/TO/dcsr [--all]

A randomly initialised n_feats-8 DCSR (tests/reference/dcsr_ref.py, seed 0) is converted to a
checkpoint; the demo's wide frame, resized to 1280x1280 and made into a pair by `dcsr prepare`
(LR/x2 and Ref/x2, 640x640), is super-resolved by both. 8K mode cuts it into 3x4 tiles (Ref windows
A, B, C and E of §8 step 3); with --all, 4K mode too: 6x6 tiles, every window category and the
coarse search. --all is not in ctest: the reference computes each 4K tile's whole 27556 x 30976
score matrix, about 11 s a tile on 2 cores (7 minutes for the 36 tiles; 8K mode takes 25 s).

Both sides compute in float32 in different orders, so a product may round across a quantisation
step or a near-tie in the patch matching may pick another key, which changes a few values by a few
levels (measured: at most 3 levels in 0.06% of the values in 4K mode, 2 levels in 0.02% in 8K
mode). A mistake in the tiling (a window, a core, a context off by a pixel) changes whole tiles. The
check: PSNR between the two 8-bit outputs at least 60 dB and at most 0.5% of the values differing.

Exit status 0 when the checks pass, 1 on a failure, 77 when torch is not importable (ctest skip code).
"""
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

from torch_test_setup import REPO  # noqa: E402  (exits 77 without torch)

import torch  # noqa: E402

import convert_weights  # noqa: E402
import dcsr_ref as R  # noqa: E402
import sr_peer  # noqa: E402


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def main():
    args = sys.argv[1:]
    run_all = "--all" in args
    args = [a for a in args if a != "--all"]
    if len(args) != 1:
        print(__doc__)
        return 2
    dcsr = args[0]
    failures = []
    env = dict(os.environ, DCSR_NUM_THREADS=os.environ.get("DCSR_NUM_THREADS", "2"))
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        pt, ckpt = os.path.join(tmp, "tiny.pt"), os.path.join(tmp, "tiny.ckpt")
        torch.save(R.DCSR(n_feats=8).state_dict(), pt)
        convert_weights.convert_dcsr(pt, ckpt)
        os.makedirs(os.path.join(tmp, "photo"))
        run([dcsr, "resize", "--in", os.path.join(REPO, "demo", "wide.jpg"), "--out",
             os.path.join(tmp, "photo", "p.png"), "--size", "1280x1280"], env)
        # The classic simulation, whose Ref is the canonical layout up to small perturbations;
        # `dcsr sr --registration none` then tiles it exactly as sr_peer.py does (with `auto` it would
        # register the perturbation and resample the Ref, which the reference network never does).
        run([dcsr, "prepare", "--sim", "classic", "--photos", os.path.join(tmp, "photo"), "--out",
             os.path.join(tmp, "ds")], env)
        lr, ref = os.path.join(tmp, "ds", "LR", "x2", "p.png"), os.path.join(tmp, "ds", "Ref", "x2", "p.png")
        modes = (("8k", False), ("4k", True)) if run_all else (("8k", False),)
        for mode, want_coarse in modes:
            ours = os.path.join(tmp, "ours_%s.png" % mode)
            run([dcsr, "sr", "--registration", "none", "--lr", lr, "--ref", ref, "--out", ours, "--mode", mode,
                 "--model", ckpt, "--quiet"], env)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = sr_peer.main(["--lr", lr, "--ref", ref, "--mode", mode, "--model", ckpt, "--threads", "2",
                                   "--compare", ours])
            if rc != 0:
                failures.append("%s: sr_peer exited %d" % (mode, rc))
                continue
            r = json.loads(out.getvalue())
            d = r["vs_ours"]
            print("%s mode: %d tiles, windows %s; vs dcsr sr: max |diff| %d, %.4f%% of values differ, PSNR %s dB; "
                  "PyTorch tiled inference %.1f s" % (mode, r["tiles"], r["windows"], d["max_abs_u8"],
                                                      100 * d["share_differing"], d["psnr_db"],
                                                      r["tiled_inference_s"]))
            if d["psnr_db"] is not None and (d["psnr_db"] < 60.0 or d["share_differing"] > 5e-3):
                failures.append("%s: the outputs differ by up to %d levels in %.4f%% of the values"
                                % (mode, d["max_abs_u8"], 100 * d["share_differing"]))
            if want_coarse and (r["windows"]["coarse"] == 0 or min(r["windows"].values()) == 0):
                failures.append("%s: expected every window category and the coarse search, got %s"
                                % (mode, r["windows"]))
    for f in failures:
        print("FAILED: " + f)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
