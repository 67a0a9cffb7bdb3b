"""DCSR model peers: the same work as apps/bench/bench_model.cpp, done by the
independent PyTorch reference (tests/reference/dcsr_ref.py), float32.

    dcsr_train_step  one training step (forward, loss, backward, Adam) at batch 1
                     spec: lr_size, ref_size, n_feats, loss ("1*L1", "1*L1+0.05*CX_ref+0.01*CX_hr"),
                           features ("patch4" | "vgg": the seeded VGG19 of the reference)
    dcsr_infer_tile  one tile under no_grad: spec lr_size, ref_size (each a number for a square, or
                     [h, w]), n_feats, mode ("4k", default, or "8k": the reference's flag_8k)
    conv2d_forward   one F.conv2d forward on our side's inputs (peers/image.py, make_conv2d_workload)
    The model ops take spec "formulation": "fast" (default; peers/fast_ops.py: chunked matching, single-pass
    contextual loss) or "reference" (the reference code's dense matrices).

Each returns the median ms and the peak RSS of this process (MB). make_workload(spec, device) builds
the same work as a function that runs one unit (tools/bench_peer.py drives it run by run).
"""
import os
import resource
import sys

import torch

from peers.timing import median_ms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "reference"))
import dcsr_ref as R  # noqa: E402
from peers import fast_ops  # noqa: E402


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _hw(size):
    """A spec size: one number (a square) or [h, w]."""
    return (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))


def _inputs(spec, g, device):
    h, w = _hw(spec["lr_size"])
    hr, wr = _hw(spec["ref_size"])
    lr = torch.rand(1, 3, h, w, generator=g)
    ref = torch.rand(1, 3, hr, wr, generator=g)
    target = torch.rand(1, 3, 2 * h, 2 * w, generator=g)
    return lr.to(device), ref.to(device), target.to(device)


def _finish(device):
    """A unit of work ends when its results exist: CUDA kernels run asynchronously."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def make_workload(spec, device="cpu"):
    """(check, run) for the op of `spec` on `device`: check runs one unit and validates it (the
    warm-up; it may return a dict of what it measured, e.g. the conv's difference from ours), run runs
    one unit."""
    if spec["op"] == "conv2d_forward":  # F.conv2d is both formulations
        from peers import image
        return image.make_conv2d_workload(spec, device)
    # "fast" (default): chunked matching and the single-pass contextual loss, the
    # strongest honest peer; "reference": the reference code's dense matrices.
    formulation = spec.get("formulation", "fast")
    if formulation == "fast":
        fast_ops.check_against_reference(R)  # same results as the reference's operators, or an error
    fast_ops.use_formulation(R, formulation)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = R.DCSR(int(spec.get("n_feats", 64))).to(device)
    if spec["op"] == "dcsr_infer_tile":
        lr, ref, _ = _inputs(spec, g, device)
        mode = spec.get("mode", "4k")
        if mode not in ("4k", "8k"):
            raise ValueError("dcsr_infer_tile: mode %r (4k | 8k)" % mode)

        def run():
            with torch.no_grad():
                sr, _, _ = model(lr, ref, flag_8k=mode == "8k")
            _finish(device)
            return sr

        def check():
            sr = run()
            if tuple(sr.shape) != (1, 3, 2 * lr.shape[-2], 2 * lr.shape[-1]):
                raise RuntimeError("dcsr_infer_tile: wrong output shape %s" % (tuple(sr.shape),))
        return check, run

    if spec["op"] != "dcsr_train_step":
        raise ValueError("unknown model op %r" % spec["op"])
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    lr, ref, hr = _inputs(spec, g, device)
    loss_string = spec.get("loss", "1*L1")
    if spec.get("features", "patch4") == "vgg":
        features = R.seeded_vgg19(1234, torch.float32).to(device)
    else:
        features = R.patch4_features

    def run():
        opt.zero_grad()
        sr, _, _ = model(lr, ref, flag_8k=False)
        total = R.compute_losses(sr, hr, ref, loss_string, features)["total"]
        total.backward()
        opt.step()
        _finish(device)
        return float(total.detach())

    def check():
        value = run()
        if not value == value or value in (float("inf"), float("-inf")):
            raise RuntimeError("dcsr_train_step: loss is not finite")
    return check, run


def _timed(spec):
    check, run = make_workload(spec)
    check()  # the warm-up
    ms = median_ms(run, 0, 2 if spec.get("quick") else 3)
    return {"ms": ms, "peak_rss_mb": _peak_rss_mb()}


OPS = {"dcsr_train_step": _timed, "dcsr_infer_tile": _timed}
