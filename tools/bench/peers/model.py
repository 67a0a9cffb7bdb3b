"""DCSR model peers: the same work as apps/bench/bench_model.cpp, done by the
independent PyTorch reference (tests/reference/dcsr_ref.py), float32.

    dcsr_train_step  one training step (forward, loss, backward, Adam) at batch 1
                     spec: lr_size, ref_size, n_feats, loss ("1*L1", "1*L1+0.05*CX_ref+0.01*CX_hr"),
                           features ("patch4" | "vgg": the seeded VGG19 of the reference)
    dcsr_infer_tile  one 4K-mode tile under no_grad: spec lr_size, ref_size, n_feats

Each returns the median ms and the peak RSS of this process (MB).
"""
import os
import resource
import sys

import torch

from peers.timing import median_ms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "reference"))
import dcsr_ref as R  # noqa: E402


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _inputs(spec, g):
    h = int(spec["lr_size"])
    hr = int(spec["ref_size"])
    lr = torch.rand(1, 3, h, h, generator=g)
    ref = torch.rand(1, 3, hr, hr, generator=g)
    target = torch.rand(1, 3, 2 * h, 2 * h, generator=g)
    return lr, ref, target


def train_step(spec):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = R.DCSR(int(spec.get("n_feats", 64)))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    lr, ref, hr = _inputs(spec, g)
    loss_string = spec.get("loss", "1*L1")
    if spec.get("features", "patch4") == "vgg":
        vgg = R.seeded_vgg19(1234, torch.float32)
        features = vgg
    else:
        features = R.patch4_features

    def step():
        opt.zero_grad()
        sr, _, _ = model(lr, ref, flag_8k=False)
        total = R.compute_losses(sr, hr, ref, loss_string, features)["total"]
        total.backward()
        opt.step()

    quick = spec.get("quick")
    ms = median_ms(step, 1, 2 if quick else 3)
    return {"ms": ms, "peak_rss_mb": _peak_rss_mb()}


def infer_tile(spec):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = R.DCSR(int(spec.get("n_feats", 64)))
    lr, ref, _ = _inputs(spec, g)

    def run():
        with torch.no_grad():
            model(lr, ref, flag_8k=False)

    quick = spec.get("quick")
    ms = median_ms(run, 1, 2 if quick else 3)
    return {"ms": ms, "peak_rss_mb": _peak_rss_mb()}


OPS = {"dcsr_train_step": train_step, "dcsr_infer_tile": infer_tile}
