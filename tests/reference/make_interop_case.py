#!/usr/bin/env python3
"""Write one PyTorch -> C++ interop case into a folder (used by tests/test_interop.cpp).

    python3 tests/reference/make_interop_case.py OUT_DIR

Needs torch (exit 77 without it: the ctest skip code). Unlike tests/golden/, nothing here is
committed: the point is to exercise the whole path a user takes with published weights, on files
PyTorch itself wrote. The published checkpoints could not be inspected (spec §16), so the models are
randomly initialised ones of the same architecture:

  1. DCSR (tests/reference/dcsr_ref.py) at n_feats 8 with PyTorch's default init under a fixed seed
     (float32, like a trained model), saved with torch.save(state_dict) as `dcsr.pt` and converted
     with tools/convert_weights.py into `dcsr.ckpt`;
  2. a torchvision-layout VGG19 state dict (`features.N.*` and `classifier.N.*`) built by hand with
     random He-scaled values, saved as `vgg19.pth` and converted into `vgg19.ckpt` (the converter keeps
     conv1_1 ... conv3_4);
  3. `golden.bin` (tests/reference/golden_io.py format): float64 outputs of the converted models.

Tensors of golden.bin (float64 unless noted; LR 1x3x20x28 and Ref 1x3x40x56, deliberately not square):

  lr, ref                      the input pair (smooth scene + noise, Ref = the scene shifted)
  out{4k,8k}.sr                SR of the DCSR model run in float64 (model.double() of the saved weights)
  out{4k,8k}.conf, .index      matching confidence and index (index int64)
  out{4k,8k}.aa1_raw, .aa3_raw raw aligner predictions
  vgg.x, vgg.features          an RGB image (1x3x20x28) and its relu3_4 features (1x256x5x7) through the
                               converted VGG19, ImageNet normalisation included
  vgginit.phi{4k,8k}           Phi(lr) of the matching extractor after copying VGG19 features.{0,2,5}
                               into feature_extract.{0,2,5} (DcsrNet::init_matching_from_vgg)
  vgginit.out{4k,8k}.sr, .conf, .index   the whole DCSR after that initialisation
  min_gap, min_frac            (1) the smallest top-2 matching gap and the smallest distance of an
                               aligner sample point to an integer over all cases (robustness record)

The script refuses to write a case whose result hinges on rounding (matching gaps < 5e-6, sample points
within 1e-7 of an integer, border samples): the C++ float32 run compares the index exactly too.
"""
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIPPED: no torch (run with a python that has torch)")
    sys.exit(77)

import convert_weights  # noqa: E402
import dcsr_ref as R  # noqa: E402
import golden_io  # noqa: E402

DT = torch.float64
N_FEATS = 8
SEED = 20240614
LR_SIZE, REF_SIZE = (20, 28), (40, 56)
MIN_GAP, MIN_FRAC = 5e-6, 1e-7


def require(cond, msg):
    if not cond:
        raise SystemExit("make_interop_case: " + msg + " (choose another SEED)")


def inputs(g):
    """A smooth random scene plus noise; Ref shows the same scene shifted by (3, 5) at the LR grid's
    double density, LR = 2x2 average of the scene + small noise."""
    h, w = LR_SIZE
    hr_h, hr_w = REF_SIZE
    scene = R.bicubic(torch.rand(1, 3, 8, 10, generator=g, dtype=DT), (hr_h + 8, hr_w + 8))
    noise = lambda *s, a: (torch.rand(*s, generator=g, dtype=DT) * 2 - 1) * a  # noqa: E731
    hr = scene[:, :, 2:2 + hr_h, 1:1 + hr_w] + noise(1, 3, hr_h, hr_w, a=0.2)
    ref = scene[:, :, 5:5 + hr_h, 6:6 + hr_w] + noise(1, 3, hr_h, hr_w, a=0.2)
    lr = F.avg_pool2d(hr, 2) + noise(1, 3, h, w, a=0.02)
    return lr, ref


def vgg19_state_dict(g):
    """torchvision's VGG19 key layout. The 16 kept tensors (conv1_1 ... conv3_4) get their real shapes
    and He-scaled normal values (std sqrt(2 / fan_in): activations neither vanish nor explode through
    8 ReLU layers), biases N(0, 0.05^2); the deeper convs and the classifier, which the converter drops,
    get tiny placeholders (the real classifier has 120 M weights)."""
    sd = collections.OrderedDict()
    for idx, cin, cout in convert_weights.VGG19_KEPT:
        sd["features.%d.weight" % idx] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        sd["features.%d.bias" % idx] = torch.randn(cout, generator=g) * 0.05
    for idx in convert_weights.VGG19_DEEPER_CONVS:
        sd["features.%d.weight" % idx] = torch.randn(2, 2, 3, 3, generator=g)
        sd["features.%d.bias" % idx] = torch.randn(2, generator=g)
    for idx in convert_weights.VGG19_CLASSIFIER:
        sd["classifier.%d.weight" % idx] = torch.randn(3, 2, generator=g)
        sd["classifier.%d.bias" % idx] = torch.randn(3, generator=g)
    return sd


def convert(kind, src, dst):
    """tools/convert_weights.py's command line, run in this interpreter (saves a second torch import)."""
    rc = convert_weights.main([kind, src, dst])
    require(rc == 0, "convert_weights.py %s %s failed (status %d)" % (kind, src, rc))


def top2_gap(S):
    top = torch.topk(S, 2, dim=1).values
    return float((top[:, 0] - top[:, 1]).min())


def run_model(model, lr, ref, f8, t, prefix, stats, raw=True):
    """Forward in float64; records SR, C, I (and the raw aligner outputs) under `prefix`, and checks that
    neither the matching argmax nor an aligner floor() is within rounding of flipping."""
    with torch.no_grad():
        with R.recording_aligner_raws(model) as raws:
            sr, C, I = model(lr, ref, flag_8k=f8)
        q = model.feature_match.features(lr, not f8)
        kf = model.feature_match.features(F.avg_pool2d(ref, 2), not f8)
        _, I2, S = R.patch_match(q, kf)
        require(torch.equal(I, I2), "index recomputation differs")
        gap = top2_gap(S)
        require(gap > MIN_GAP, "%s: near tie in matching (gap %g)" % (prefix, gap))
        stats["gap"] = min(stats["gap"], gap)
        k_big = 4 if f8 else 2
        for aa in ("aa1", "aa3"):
            mos = torch.zeros(1, 1, k_big * raws[aa].shape[-2], k_big * raws[aa].shape[-1], dtype=DT)
            _, info = R.aligned_sample(mos, raws[aa], k_big, return_info=True)
            frac = min(float((P - torch.round(P)).abs().min()) for P in (info["p_r"], info["p_c"]))
            require(frac > MIN_FRAC, "%s %s: sample point %g from an integer" % (prefix, aa, frac))
            require(not bool(info["border"].any()), "%s %s: border samples" % (prefix, aa))
            require(not bool(info["clamped_a"].any()), "%s %s: clamped aligner output" % (prefix, aa))
            stats["frac"] = min(stats["frac"], frac)
    t[prefix + ".sr"] = sr
    t[prefix + ".conf"] = C
    t[prefix + ".index"] = I
    if raw:
        t[prefix + ".aa1_raw"] = raws["aa1"]
        t[prefix + ".aa3_raw"] = raws["aa3"]


def main(argv):
    if len(argv) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic reductions
    torch.manual_seed(SEED)  # PyTorch's default init of every conv draws from the global generator
    g = torch.Generator().manual_seed(SEED + 1)

    # 1. DCSR: save as PyTorch would (float32 state dict), convert, run the saved weights in float64.
    model = R.DCSR(N_FEATS)
    dcsr_pt, dcsr_ckpt = os.path.join(out, "dcsr.pt"), os.path.join(out, "dcsr.ckpt")
    torch.save(model.state_dict(), dcsr_pt)
    convert("dcsr", dcsr_pt, dcsr_ckpt)
    model = model.double().eval()
    lr, ref = inputs(g)
    t = collections.OrderedDict([("lr", lr), ("ref", ref)])
    stats = {"gap": float("inf"), "frac": float("inf")}
    for mode, f8 in (("4k", False), ("8k", True)):
        run_model(model, lr, ref, f8, t, "out" + mode, stats)

    # 2. VGG19: the loss network alone, then the matching extractor initialised from it.
    vsd = vgg19_state_dict(g)
    vgg_pth, vgg_ckpt = os.path.join(out, "vgg19.pth"), os.path.join(out, "vgg19.ckpt")
    torch.save(vsd, vgg_pth)
    convert("vgg19", vgg_pth, vgg_ckpt)
    vgg = R.VGG19Features().double()
    vgg.load_state_dict({k: vsd[k].double() for k in convert_weights.vgg19_expected_shapes()})
    x = torch.rand(1, 3, LR_SIZE[0], LR_SIZE[1], generator=g, dtype=DT)
    with torch.no_grad():
        feats = vgg(x)
    require(0.05 < float((feats > 0).to(DT).mean()) < 0.95, "VGG19 features mostly zero or mostly positive")
    t["vgg.x"], t["vgg.features"] = x, feats

    with torch.no_grad():
        for src, dst in ((0, 0), (2, 2), (5, 5)):  # torchvision features.N -> feature_extract.N
            layer = model.feature_match.feature_extract[dst]
            layer.weight.copy_(vsd["features.%d.weight" % src])
            layer.bias.copy_(vsd["features.%d.bias" % src])
        for mode, f8 in (("4k", False), ("8k", True)):
            t["vgginit.phi" + mode] = model.feature_match.features(lr, not f8)
    for mode, f8 in (("4k", False), ("8k", True)):
        run_model(model, lr, ref, f8, t, "vgginit.out" + mode, stats, raw=False)

    t["min_gap"] = torch.tensor([stats["gap"]], dtype=DT)
    t["min_frac"] = torch.tensor([stats["frac"]], dtype=DT)
    golden_io.write_tensors(os.path.join(out, "golden.bin"), t)
    print("interop case in %s: torch %s, DCSR n_feats %d, matching gap >= %.2e, sample points >= %.2e from "
          "integers" % (out, torch.__version__, N_FEATS, stats["gap"], stats["frac"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
