#!/usr/bin/env python3
"""Write the golden files of tests/golden/ from the reference implementation dcsr_ref.py.

Run with a python that has torch (Debian's torch 1.13 is /usr/bin/python3):

    /usr/bin/python3 tests/reference/make_goldens.py [--out DIR] [--check]

Deterministic: fixed seeds, one thread, so every run with one torch writes the same bytes. `--check`
regenerates into memory and compares with the files in DIR instead of writing: the same bytes, or (another
torch version) the same tensors with every float value within 1e-12 relative (golden_io.compare_goldens);
exit 1 on anything else.
The tensor names of every file are documented in tests/reference/README.md.
"""
import argparse
import collections
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import dcsr_ref as R  # noqa: E402
import golden_io  # noqa: E402

DT = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def rand(g, *shape, lo=0.0, hi=1.0):
    return torch.rand(*shape, generator=g, dtype=DT) * (hi - lo) + lo


def randn(g, *shape, std=1.0):
    return torch.randn(*shape, generator=g, dtype=DT) * std


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def grads(out, inputs, gy):
    return torch.autograd.grad(out, inputs, gy, allow_unused=False)


def i64(*vals):
    return torch.tensor(vals, dtype=torch.int64)


def scalar(v):
    return torch.as_tensor(v, dtype=DT).detach().reshape(1)


def require(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ============================================================================================

def make_bicubic():
    g = gen(101)
    t = collections.OrderedDict()
    x = rand(g, 1, 2, 5, 7)
    t["x"] = x
    for ac in (0, 1):
        for (oh, ow) in ((10, 14), (2, 3), (9, 11), (3, 4)):
            p = "ac%d_%dx%d" % (ac, oh, ow)
            xl = leaf(x)
            y = R.bicubic(xl, (oh, ow), align_corners=bool(ac))
            gy = randn(g, *y.shape)
            (dx,) = grads(y, [xl], gy)
            t[p + ".y"], t[p + ".gy"], t[p + ".dx"] = y.detach(), gy, dx
    xe = rand(g, 1, 2, 6, 8)
    xl = leaf(xe)
    y = R.half_bic(xl)
    y4 = R._four_tap_half(xe)
    require(torch.allclose(y.detach(), y4, atol=1e-15, rtol=0), "4-tap filter != bicubic x0.5")
    gy = randn(g, *y.shape)
    (dx,) = grads(y, [xl], gy)
    t["half_even.x"] = xe
    t["half_even.y"] = y.detach()
    t["half_even.y4tap"] = y4
    t["half_even.filter"] = torch.tensor([-0.09375, 0.59375, 0.59375, -0.09375], dtype=DT)
    t["half_even.gy"], t["half_even.dx"] = gy, dx
    return t


def make_reflect_pad():
    g = gen(102)
    t = collections.OrderedDict()
    x = rand(g, 1, 2, 4, 5)
    t["x"] = x
    for pad in ((1, 1, 1, 1), (2, 1, 0, 3)):
        p = "pad_%d_%d_%d_%d" % pad
        xl = leaf(x)
        y = R.reflect_pad(xl, pad)
        gy = randn(g, *y.shape)
        (dx,) = grads(y, [xl], gy)
        t[p + ".pad"] = i64(*pad)
        t[p + ".y"], t[p + ".gy"], t[p + ".dx"] = y.detach(), gy, dx
    return t


def make_unfold_fold():
    g = gen(103)
    t = collections.OrderedDict()
    x = rand(g, 1, 3, 6, 8)
    t["x"] = x
    for (k, pad, s) in ((3, 1, 1), (2, 0, 2), (4, 0, 4)):
        p = "k%dp%ds%d" % (k, pad, s)
        t[p + ".params"] = i64(k, pad, s)
        xl = leaf(x)
        u = F.unfold(xl, kernel_size=k, padding=pad, stride=s)
        gy = randn(g, *u.shape)
        (dx,) = grads(u, [xl], gy)
        t[p + ".unfold"], t[p + ".unfold_gy"], t[p + ".unfold_dx"] = u.detach(), gy, dx
        cols = leaf(randn(g, *u.shape))
        y = F.fold(cols, output_size=(6, 8), kernel_size=k, padding=pad, stride=s)
        gy2 = randn(g, *y.shape)
        (dc,) = grads(y, [cols], gy2)
        t[p + ".fold_in"], t[p + ".fold"] = cols.detach(), y.detach()
        t[p + ".fold_gy"], t[p + ".fold_dcols"] = gy2, dc
    return t


def make_conv2d():
    g = gen(104)
    t = collections.OrderedDict()
    # name: (x shape, cout, k, stride, groups)
    cases = [("k3s1", (2, 3, 9, 8), 4, 3, 1, 1), ("k3s2", (2, 3, 9, 8), 4, 3, 2, 1),
             ("k5s2", (1, 3, 10, 7), 5, 5, 2, 1), ("k5s4", (1, 4, 16, 12), 3, 5, 4, 1),
             ("k7s1", (1, 2, 9, 8), 3, 7, 1, 1), ("k7s2", (1, 4, 11, 9), 2, 7, 2, 1),
             ("k1s1", (2, 3, 5, 6), 4, 1, 1, 1), ("k3s4", (1, 3, 9, 10), 2, 3, 4, 1),
             ("dw3", (1, 3, 7, 6), 3, 3, 1, 3)]
    for name, xs, cout, k, s, groups in cases:
        x = leaf(randn(g, *xs))
        cin = xs[1]
        w = leaf(randn(g, cout, cin // groups, k, k, std=1.0 / math.sqrt(cin // groups * k * k)))
        b = leaf(randn(g, cout, std=0.1))
        y = F.conv2d(x, w, b, stride=s, padding=k // 2, groups=groups)
        gy = randn(g, *y.shape)
        dx, dw, db = grads(y, [x, w, b], gy)
        t[name + ".params"] = i64(s, k // 2, groups)
        for n_, v in (("x", x), ("w", w), ("b", b), ("y", y), ("gy", gy), ("dx", dx), ("dw", dw), ("db", db)):
            t[name + "." + n_] = v.detach()
    return t


def make_pool():
    g = gen(105)
    t = collections.OrderedDict()
    # distinct values: a random permutation of a spread grid plus a small jitter
    x = (torch.randperm(84, generator=g).to(DT) / 84.0 + rand(g, 84) * 1e-3).reshape(1, 2, 6, 7)
    t["x"] = x
    for name, fn in (("maxpool", lambda v: F.max_pool2d(v, 2, 2)), ("avgpool", lambda v: F.avg_pool2d(v, 2, 2))):
        xl = leaf(x)
        y = fn(xl)
        gy = randn(g, *y.shape)
        (dx,) = grads(y, [xl], gy)
        t[name + ".y"], t[name + ".gy"], t[name + ".dx"] = y.detach(), gy, dx
    return t


def top2_gap(S):
    """Smallest difference between the best and second-best key over all queries."""
    top = torch.topk(S, 2, dim=1).values
    return float((top[:, 0] - top[:, 1]).min())


def make_patch_match():
    g = gen(106)
    t = collections.OrderedDict()
    # --- random case
    q = leaf(randn(g, 1, 4, 5, 6))
    k = leaf(randn(g, 1, 4, 7, 8))
    conf, index, S = R.patch_match(q, k)
    require(top2_gap(S.detach()) > 1e-6, "patch_match: near tie in the random case")
    require(torch.equal(index, torch.from_numpy(np.argmax(S.detach().numpy(), axis=1))), "argmax mismatch")
    gy = randn(g, *conf.shape)
    dq, dk = grads(conf, [q, k], gy)
    for n_, v in (("q", q), ("k", k), ("S", S), ("conf", conf), ("index", index), ("gy", gy), ("dq", dq), ("dk", dk)):
        t["rand." + n_] = v.detach()
    t["rand.q_hat"] = R.l2_normalize(R.descriptors3x3(q.detach()), 1)
    t["rand.k_hat"] = R.l2_normalize(R.descriptors3x3(k.detach()), 1)

    # --- ties: constant regions and duplicated neighbourhoods in the key map
    kt = randn(g, 1, 4, 7, 8)
    cvec = torch.tensor([0.75, -0.5, 0.25, 1.0], dtype=DT).view(1, 4, 1, 1)
    kt[:, :, 0:4, 3:8] = cvec  # constant 4x5 region: keys (1..2, 4..6) and border keys share descriptors
    kt[:, :, 4:7, 0:3] = kt[:, :, 4:7, 4:7][:, :, :, 0:3].clone()  # neighbourhood (5,5) copied to (5,1)
    qt = randn(g, 1, 4, 5, 6)
    qt[:, :, 0:3, 0:3] = cvec  # query (1,1) sees the constant descriptor
    qt[:, :, 2:5, 3:6] = kt[:, :, 4:7, 4:7]  # query (3,4) = key (5,5) neighbourhood = key (5,1)
    qt = leaf(qt)
    kt = leaf(kt)
    conf, index, S = R.patch_match(qt, kt)
    Sd = S.detach()
    first = torch.from_numpy(np.argmax(Sd.numpy(), axis=1))  # numpy: first occurrence
    require(torch.equal(index, first), "torch.max did not return the lowest index on ties")
    nties = (Sd == Sd.max(dim=1, keepdim=True).values).sum(dim=1)
    require(int(nties[0, 1 * 6 + 1]) >= 2, "tie case: query (1,1) has no tie")
    require(int(nties[0, 3 * 6 + 4]) >= 2, "tie case: query (3,4) has no tie")
    require(int(index[0, 3 * 6 + 4]) == 5 * 8 + 1, "tie case: expected key (5,1) for query (3,4)")
    gy = randn(g, *conf.shape)
    dq, dk = grads(conf, [qt, kt], gy)
    for n_, v in (("q", qt), ("k", kt), ("S", S), ("conf", conf), ("index", index), ("gy", gy), ("dq", dq), ("dk", dk)):
        t["ties." + n_] = v.detach()
    t["ties.n_max"] = nties
    print("  patch_match ties: %d queries with tied maxima (max %d-way)"
          % (int((nties > 1).sum()), int(nties.max())))
    return t


def make_block_transfer():
    g = gen(107)
    t = collections.OrderedDict()
    for k in (1, 2, 4):
        p = "k%d" % k
        v = leaf(randn(g, 1, 3, 3 * k, 4 * k))  # 3x4 = 12 blocks
        index = torch.randint(0, 12, (1, 6), generator=g)
        index[0, 3] = index[0, 0]  # a repeated block: backward must accumulate
        index[0, 5] = 11  # the last block
        y = R.block_gather(v, index, k, (2, 3))
        gy = randn(g, *y.shape)
        (dv,) = grads(y, [v], gy)
        t[p + ".value"], t[p + ".index"], t[p + ".grid"] = v.detach(), index, i64(2, 3)
        t[p + ".y"], t[p + ".gy"], t[p + ".dvalue"] = y.detach(), gy, dv
    return t


def _sampler_case(t, name, X, raw, k, g, expect_border=None):
    Xl, rl = leaf(X), leaf(raw)
    y, info = R.aligned_sample(Xl, rl, k, return_info=True)
    # keep the case away from kinks: sample coordinates off integers, raw + 1 off the clamp bounds
    for P in (info["p_r"], info["p_c"]):
        frac = (P - torch.round(P)).abs()
        require(float(frac.min()) > 1e-6 or name.endswith("identity"), "%s: sample on an integer" % name)
    a = raw + 1
    require(float(torch.min((a - 3).abs().min(), (a + 3).abs().min())) > 1e-6, "%s: raw on a clamp bound" % name)
    gy = randn(g, *y.shape)
    dX, draw = grads(y, [Xl, rl], gy)
    B, C, H, W = X.shape
    h, w = H // k, W // k
    border = info["border"].reshape(B, h, w, k, k).permute(0, 1, 3, 2, 4).reshape(B, 1, H, W)
    nb = int(border.sum())
    if expect_border is not None:
        require((nb > 0) == expect_border, "%s: border samples %d" % (name, nb))
    t[name + ".k"] = i64(k)
    t[name + ".X"], t[name + ".raw"], t[name + ".y"] = X, raw, y.detach()
    t[name + ".gy"], t[name + ".dX"], t[name + ".draw"] = gy, dX, draw
    t[name + ".border"] = border.to(torch.int64)
    print("  aligned_sampler %-12s k=%d: %3d of %4d samples hit the border double-count rule, "
          "%d of %d blocks clamp a" % (name, k, nb, border.numel(), int(info["clamped_a"].any(1).sum()), h * w))
    return nb


def make_aligned_sampler():
    g = gen(108)
    t = collections.OrderedDict()
    _sampler_case(t, "k2", randn(g, 1, 3, 8, 10), randn(g, 1, 3, 4, 5, std=0.4), 2, g, expect_border=False)
    _sampler_case(t, "k4", randn(g, 1, 3, 16, 12), randn(g, 1, 3, 4, 3, std=0.3), 4, g)
    _sampler_case(t, "k2_stress", randn(g, 1, 3, 8, 10), rand(g, 1, 3, 4, 5, lo=-5.0, hi=5.0), 2, g,
                  expect_border=True)
    _sampler_case(t, "k4_stress", randn(g, 1, 3, 16, 12), rand(g, 1, 3, 4, 3, lo=-5.0, hi=5.0), 4, g,
                  expect_border=True)
    X = randn(g, 1, 3, 8, 10)
    _sampler_case(t, "k2_identity", X, torch.zeros(1, 3, 4, 5, dtype=DT), 2, g, expect_border=False)
    require(torch.equal(t["k2_identity.y"], X), "identity warp is not exact")
    # cross-check the vectorised sampler against a plain per-sample loop
    for name in ("k2", "k4", "k2_stress", "k4_stress"):
        require(np.allclose(_naive_sampler(t[name + ".X"].numpy(), t[name + ".raw"].numpy(), int(t[name + ".k"])),
                            t[name + ".y"].numpy(), atol=1e-13, rtol=0), "naive sampler mismatch " + name)
    return t


def _naive_sampler(X, raw, k):
    """Per-sample loop transcription of §5 steps 4-8 (independent of the vectorised version)."""
    B, C, H, W = X.shape
    Xp = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")  # numpy 'reflect' = no edge repeat
    Hp, Wp = H + 2, W + 2
    out = np.zeros_like(X)
    for b in range(B):
        for u in range(H // k):
            for v in range(W // k):
                a = np.clip(raw[b, :, u, v] + 1, -3, 3)
                sr, sc, th = a[0], a[1], (a[2] - 1) * 1.0472
                for i in range(k):
                    for j in range(k):
                        orr, occ = i - (k - 1) / 2, j - (k - 1) / 2
                        pr = k * u + 1 + (k - 1) / 2 + orr * sr * math.cos(th) - occ * sc * math.sin(th)
                        pc = k * v + 1 + (k - 1) / 2 + orr * sr * math.sin(th) + occ * sc * math.cos(th)
                        q0r, q0c = math.floor(pr), math.floor(pc)
                        q1r, q1c = min(max(q0r + 1, 0), Hp - 1), min(max(q0c + 1, 0), Wp - 1)
                        q0r, q0c = min(max(q0r, 0), Hp - 1), min(max(q0c, 0), Wp - 1)
                        pr, pc = min(max(pr, 0), Hp - 1), min(max(pc, 0), Wp - 1)
                        wr = (1 + q0r - pr, 1 - (q1r - pr))
                        wc = (1 + q0c - pc, 1 - (q1c - pc))
                        val = 0
                        for rr, wrr in ((q0r, wr[0]), (q1r, wr[1])):
                            for cc, wcc in ((q0c, wc[0]), (q1c, wc[1])):
                                val = val + wrr * wcc * Xp[b, :, rr, cc]
                        out[b, :, k * u + i, k * v + j] = val
    return out


def make_blur():
    g = gen(109)
    t = collections.OrderedDict()
    kern = torch.from_numpy(R.gaussian_kernel3())
    t["kernel"] = kern
    t["kernel1d"] = torch.from_numpy(R.gaussian_kernel1d())
    x = leaf(rand(g, 1, 3, 6, 7))
    y = R.blur(x, kern)
    gy = randn(g, *y.shape)
    (dx,) = grads(y, [x], gy)
    t["x"], t["y"], t["gy"], t["dx"] = x.detach(), y.detach(), gy, dx
    return t


def _cx_gaps(parts):
    d, cx_ij = parts["d"], parts["cx_ij"]
    ds = torch.sort(d, dim=2).values
    cs = torch.sort(cx_ij, dim=1, descending=True).values
    return float((ds[:, :, 1] - ds[:, :, 0]).min()), float((cs[:, 0] - cs[:, 1]).min())


def make_contextual():
    g = gen(110)
    t = collections.OrderedDict()
    x = leaf(randn(g, 2, 5, 4, 3))
    y = leaf(randn(g, 2, 5, 3, 4))
    loss, parts = R.contextual_loss(x, y, return_parts=True)
    gmin, gmax = _cx_gaps(parts)
    require(gmin > 1e-6 and gmax > 1e-9, "contextual: near tie (%g, %g)" % (gmin, gmax))
    gy = randn(g, 1)
    dx, dy = grads(loss, [x, y], gy.reshape(()))
    t["x"], t["y"], t["loss"], t["gy"], t["dx"], t["dy"] = x.detach(), y.detach(), scalar(loss), gy, dx, dy
    for n_ in ("mu", "d", "cx_ij", "m", "istar", "c", "cx"):
        t["parts." + n_] = parts[n_].detach()
    sym = R.contextual_loss(x, y) + R.contextual_loss(y, x)
    gy2 = randn(g, 1)
    dx2, dy2 = grads(sym, [x, y], gy2.reshape(()))
    t["sym.loss"], t["sym.gy"], t["sym.dx"], t["sym.dy"] = scalar(sym), gy2, dx2, dy2
    return t


def make_losses():
    g = gen(111)
    t = collections.OrderedDict()
    sr, tg = leaf(rand(g, 1, 3, 8, 10)), leaf(rand(g, 1, 3, 8, 10))
    v = R.blurred_l1(sr, tg)
    gy = rand(g, 1, lo=0.5, hi=1.5)
    dsr, dtg = grads(v, [sr, tg], gy.reshape(()))
    t.update([("bl1_same.sr", sr.detach()), ("bl1_same.target", tg.detach()), ("bl1_same.loss", scalar(v)),
              ("bl1_same.gy", gy), ("bl1_same.dsr", dsr), ("bl1_same.dtarget", dtg)])
    sr, tg = leaf(rand(g, 1, 3, 12, 10)), rand(g, 1, 3, 6, 5)
    v = R.blurred_l1(sr, tg)
    gy = rand(g, 1, lo=0.5, hi=1.5)
    (dsr,) = grads(v, [sr], gy.reshape(()))
    t.update([("bl1_sra.sr", sr.detach()), ("bl1_sra.target", tg), ("bl1_sra.sr_down", R.half_bic(sr.detach())),
              ("bl1_sra.loss", scalar(v)), ("bl1_sra.gy", gy), ("bl1_sra.dsr", dsr)])
    for name, fn in (("mse", F.mse_loss), ("l1", F.l1_loss)):
        a, b = leaf(rand(g, 2, 3, 4, 5)), leaf(rand(g, 2, 3, 4, 5))
        v = fn(a, b)
        gy = rand(g, 1, lo=0.5, hi=1.5)
        da, db = grads(v, [a, b], gy.reshape(()))
        t.update([(name + ".a", a.detach()), (name + ".b", b.detach()), (name + ".loss", scalar(v)),
                  (name + ".gy", gy), (name + ".da", da), (name + ".db", db)])
    # feature spaces
    x = leaf(rand(g, 1, 3, 8, 12))
    f = R.patch4_features(x)
    gy = randn(g, *f.shape)
    (dx,) = grads(f, [x], gy)
    t.update([("patch4.x", x.detach()), ("patch4.y", f.detach()), ("patch4.gy", gy), ("patch4.dx", dx)])
    vgg = R.seeded_vgg19(1234)
    x = leaf(rand(g, 1, 3, 8, 8))
    f = vgg(x)
    gy = randn(g, *f.shape)
    (dx,) = grads(f, [x], gy)
    t.update([("vgg.x", x.detach()), ("vgg.y", f.detach()), ("vgg.gy", gy), ("vgg.dx", dx)])
    return t


def make_seeded():
    t = collections.OrderedDict()
    zs = [0, 1, 0x9E3779B97F4A7C15, (1 << 64) - 1, 12345678901234567]
    t["splitmix64.in"] = torch.tensor([z - (1 << 64) if z >= 1 << 63 else z for z in zs], dtype=torch.int64)
    outs = [R.splitmix64_int(z) for z in zs]
    t["splitmix64.out"] = torch.tensor([z - (1 << 64) if z >= 1 << 63 else z for z in outs], dtype=torch.int64)
    t["u42_7"] = R.seeded_uniform(42, 7, (2, 5), 1.0)
    t["u0_0"] = R.seeded_uniform(0, 0, (6,), 0.25)
    vgg = R.seeded_vgg19(1234)
    for i, idx in enumerate(R.VGG19_CONV_INDICES):
        m = vgg.features[idx]
        t["vgg1234.features.%d.weight.head" % idx] = m.weight.detach().reshape(-1)[:8].clone()
        t["vgg1234.features.%d.weight.sum" % idx] = scalar(m.weight.detach().sum())
        t["vgg1234.features.%d.bias.head" % idx] = m.bias.detach()[:8].clone()
    return t


def make_coarse_search():
    g = gen(112)
    t = collections.OrderedDict()
    th, tw = 20, 28  # lr_s 2x3 (20/8 = 2.5, 28/8 = 3.5)
    Hr, Wr = 72, 104  # ref_s 4x6 (4.5, 6.5): the two resize rules sample differently
    for attempt in range(200):
        low = rand(g, 1, 3, 6, 8)
        ref = R.bicubic(low, (Hr, Wr)).clamp(0, 1) + rand(g, 1, 3, Hr, Wr, lo=-0.02, hi=0.02)
        ref = ref.to(torch.float32).to(DT)  # values exactly representable in float32 (stored as float32)
        r0 = int(torch.randint(0, Hr - 2 * th + 1, (1,), generator=g))
        c0 = int(torch.randint(0, Wr - 2 * tw + 1, (1,), generator=g))
        tile = F.avg_pool2d(ref[:, :, r0:r0 + 2 * th, c0:c0 + 2 * tw], 2) + rand(g, 1, 3, th, tw, lo=-0.02, hi=0.02)
        tile = tile.to(torch.float32).to(DT)
        w14, p14 = R.coarse_search(tile, ref, "torch14", return_parts=True)
        w16, p16 = R.coarse_search(tile, ref, "torch16", return_parts=True)
        c = torch.sort(p14["cost"].reshape(-1)).values
        if w14 != w16 and float(c[1] - c[0]) > 1e-4 * float(c[0]):
            break
    else:
        raise AssertionError("coarse_search: no seed where the resize rules disagree")
    print("  coarse_search: true offset (%d,%d); torch14 window %s; torch16 window %s (attempt %d)"
          % (r0, c0, w14, w16, attempt))
    t["tile"] = tile.to(torch.float32)
    t["ref"] = ref.to(torch.float32)
    t["ref_s"], t["lr_s"], t["cost"] = p14["ref_s"], p14["lr_s"], p14["cost"]
    t["window"] = i64(*w14)
    t["window_torch16"] = i64(*w16)
    t["cost_torch16"] = p16["cost"]
    return t


# ============================================================================================

LOSS_BASIC = "1*L1+0.05*CX_ref+0.01*CX_hr"
LOSS_SRA = "1*L1+0.1*CX_ref"


MODEL_SEED = 2


def make_model_tiny():
    g = gen(113)
    t = collections.OrderedDict()
    # Weights are not stored (they would take 1.4 MB): every trainable tensor is regenerated from
    # seeded_uniform(MODEL_SEED, its position in the state dict, shape, 1/sqrt(fan_in)), the bound of
    # PyTorch's default conv init for both weight and bias. `init.<name>` records (index, bound, sum)
    # so the C++ side can check that it regenerated the same values.
    model = R.DCSR(8).double()
    with torch.no_grad():
        weights = dict(model.state_dict())
        for index, (name, p) in enumerate(model.state_dict().items()):
            if name.startswith("feature_match.sub_mean."):
                t["param." + name] = p.clone()  # the fixed MeanShift (ImageNet mean/std)
                continue
            w = weights[name[: -len("bias")] + "weight"] if name.endswith(".bias") else p
            fan_in = int(w.shape[1] * w.shape[2] * w.shape[3])
            bound = 1.0 / math.sqrt(fan_in)
            p.copy_(R.seeded_uniform(MODEL_SEED, index, tuple(p.shape), bound))
            t["init." + name] = torch.tensor([float(index), bound, float(p.sum())], dtype=DT)
    t["init_seed"] = i64(MODEL_SEED)
    # inputs: a smooth random image plus strong noise (values roughly in [-0.3, 1.3], deliberately not
    # clamped: clamped flat regions and low-contrast images give near-ties in the contextual loss);
    # HR; Ref = the same scene shifted by (3,5) with its own noise; LR = 2x2 average of HR + noise
    base = R.bicubic(rand(g, 1, 3, 8, 8), (56, 56))
    hr = base[:, :, 2:50, 1:49] + rand(g, 1, 3, 48, 48, lo=-0.3, hi=0.3)
    ref = base[:, :, 5:53, 6:54] + rand(g, 1, 3, 48, 48, lo=-0.3, hi=0.3)
    lr = F.avg_pool2d(hr, 2) + rand(g, 1, 3, 24, 24, lo=-0.02, hi=0.02)
    t["lr"], t["ref"], t["hr"] = lr, ref, hr
    feats = R.patch4_features
    for mode, f8 in (("4k", False), ("8k", True)):
        model.zero_grad()
        # record the raw aligner predictions for debugging
        with R.recording_aligner_raws(model) as raws:
            sr, C, I = model(lr, ref, flag_8k=f8)
        # robustness: matching maxima well separated
        with torch.no_grad():
            q = model.feature_match.features(lr, not f8)
            kf = model.feature_match.features(F.avg_pool2d(ref, 2), not f8)
            _, I2, S = R.patch_match(q, kf)
            require(torch.equal(I2, I), "index recomputation differs")
            gap = top2_gap(S)
            require(gap > 1e-7, "model %s: near tie in matching (gap %g)" % (mode, gap))
        k_big = 4 if f8 else 2
        for aa in ("aa1", "aa3"):  # aligner sample points well away from integers (floor jumps)
            mos = torch.zeros(1, 1, k_big * raws[aa].shape[-2], k_big * raws[aa].shape[-1], dtype=DT)
            _, info = R.aligned_sample(mos, raws[aa], k_big, return_info=True)
            fr = min(float((P - torch.round(P)).abs().min()) for P in (info["p_r"], info["p_c"]))
            require(fr > 1e-9, "model %s %s: sample point %g from an integer" % (mode, aa, fr))
            require(not bool(info["border"].any()), "model %s %s: border samples" % (mode, aa))
        srl = leaf(sr)
        losses = R.compute_losses(srl, hr, ref, LOSS_BASIC, feats)
        for term in ("L1", "CX_ref", "CX_hr"):
            t["loss%s.%s" % (mode, term)] = scalar(losses[term])
        t["loss%s.total" % mode] = scalar(losses["total"])
        (dsr,) = torch.autograd.grad(losses["total"], [srl])
        with torch.no_grad():
            for a_, b_ in ((srl, ref), (srl, hr), (hr, srl)):
                _, parts = R.contextual_loss(feats(a_), feats(b_), return_parts=True)
                gmin, gmax = _cx_gaps(parts)
                require(gmin > 1e-7 and gmax > 1e-9, "model %s: CX near tie (%g, %g)" % (mode, gmin, gmax))
        sr.backward(dsr)
        t["out%s.sr" % mode] = sr.detach()
        t["out%s.conf" % mode] = C.detach()
        t["out%s.index" % mode] = I
        t["out%s.aa1_raw" % mode] = raws["aa1"]
        t["out%s.aa3_raw" % mode] = raws["aa3"]
        t["loss%s.dsr" % mode] = dsr
        print("  model_tiny %s: total %.10f (L1 %.6f CX_ref %.6f CX_hr %.6f), match gap %.2e"
              % (mode, float(losses["total"]), float(losses["L1"]), float(losses["CX_ref"]),
                 float(losses["CX_hr"]), gap))
        nograd = []
        for name, p in model.named_parameters():
            if p.requires_grad:
                require(p.grad is not None, "no gradient for " + name)
                t["grad%s.%s" % (mode, name)] = p.grad.to(torch.float32)
            else:
                nograd.append(name)
        require(nograd == ["feature_match.sub_mean.weight", "feature_match.sub_mean.bias"], str(nograd))
        if f8:
            with torch.no_grad():
                sra = R.compute_losses(sr, lr, ref, LOSS_SRA, feats)
            t["loss8k_sra.L1"] = scalar(sra["L1"])
            t["loss8k_sra.total"] = scalar(sra["total"])
        else:
            sr4k = sr.detach()
    # VGG feature space with seeded weights: CX_ref(SR_4k, Ref)
    vgg = R.seeded_vgg19(1234)
    srl = leaf(sr4k)
    fr = vgg(ref)
    v = R.contextual_loss(vgg(srl), fr)
    (dsr,) = torch.autograd.grad(v, [srl])
    t["vgg.seed"] = i64(1234)
    t["vgg.cx_ref"] = scalar(v)
    t["vgg.dsr"] = dsr
    t["vgg.ref_feat_mean"] = fr.mean(dim=(0, 2, 3)).detach()
    print("  model_tiny vgg CX_ref(SR4k, Ref) = %.10f; relu3_4 of Ref: %.1f%% zeros"
          % (float(v), 100.0 * float((fr == 0).to(DT).mean())))
    return t


FILES = [("bicubic.bin", make_bicubic), ("reflect_pad.bin", make_reflect_pad),
         ("unfold_fold.bin", make_unfold_fold), ("conv2d.bin", make_conv2d), ("pool.bin", make_pool),
         ("patch_match.bin", make_patch_match), ("block_transfer.bin", make_block_transfer),
         ("aligned_sampler.bin", make_aligned_sampler), ("blur.bin", make_blur),
         ("contextual.bin", make_contextual), ("losses.bin", make_losses), ("seeded.bin", make_seeded),
         ("coarse_search.bin", make_coarse_search), ("model_tiny.bin", make_model_tiny)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "golden"))
    ap.add_argument("--check", action="store_true", help="compare with the existing files instead of writing")
    ap.add_argument("--only", nargs="*", help="file names to (re)generate")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    total, bad = 0, 0
    for fname, fn in FILES:
        if args.only and fname not in args.only:
            continue
        tensors = fn()
        path = os.path.join(args.out, fname)
        data = golden_io.encode_tensors(tensors)
        if args.check:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    same, text = golden_io.compare_goldens(f.read(), data)
            else:
                same, text = False, "DIFFERS: no such file"
            bad += not same
            print("%-22s %9d bytes  %3d tensors  %s" % (fname, len(data), len(tensors), text))
        else:
            golden_io.write_tensors(path, tensors)
            print("%-22s %9d bytes  %3d tensors" % (fname, len(data), len(tensors)))
        total += len(data)
    print("total %d bytes (%.2f MB)" % (total, total / 1e6))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
