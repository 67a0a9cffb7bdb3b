#!/usr/bin/env python3
"""Independent PyTorch reference implementation of DCSR (written from shared/docs/dcsr-spec.md).

Run with a python that has torch (tested with Debian's torch 1.13 as /usr/bin/python3):

    /usr/bin/python3 tests/reference/dcsr_ref.py            # self-test (counts, identity warp, gradcheck)

Everything here is meant to run in float64 (call `model.double()`); the C++ library is checked against
golden files written from these functions by make_goldens.py. Section numbers (§) refer to the spec.

Contents
  * elementary ops with the exact conventions of the spec: bicubic (A = -0.75, both align_corners),
    reflection padding, 3x3 descriptors, L2 normalisation, max/argmax matching, block gather/fold,
    the AlignedConv2d sampler (§5 steps 4-8, with the border double-count rule)
  * the DCSR module tree with the reference state-dict names of §13.7 (194 keys at any n_feats)
  * losses (§9): blurred L1, confidence-weighted contextual loss, loss-string parser,
    feature spaces "vgg" (VGG19 up to relu3_4) and "patch4" (4x4 RGB patches)
  * coarse_search of §8 step 4 with the torch-1.4 resize rule
  * seeded_uniform: deterministic pseudo-random weights that C++ can regenerate
"""
import contextlib
import math
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LRELU_SLOPE = 0.2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
THETA_PER_UNIT = 1.0472  # §5 step 4: literally 1.0472 rad per unit, not math.pi / 3


# ============================================================================================
# Elementary ops
# ============================================================================================

def bicubic(x, size, align_corners=False):
    """Bicubic resize of x (N,C,H,W) to `size` = (out_h, out_w); cubic convolution A = -0.75,
    edge-clamped source indices, no anti-aliasing. The sampling ratio comes from the sizes
    (align_corners False: in/out, src = (dst + 0.5) * in/out - 0.5; True: (in-1)/(out-1))."""
    return F.interpolate(x, size=tuple(int(s) for s in size), mode="bicubic",
                         align_corners=align_corners)


def up2_bic(x):
    """Bicubic x2, align_corners=False (all DCSR upsamplings except the matching one)."""
    return bicubic(x, (2 * x.shape[-2], 2 * x.shape[-1]), align_corners=False)


def up2_bic_ac(x):
    """Bicubic x2, align_corners=True (only inside the matching extractor, 4K mode)."""
    return bicubic(x, (2 * x.shape[-2], 2 * x.shape[-1]), align_corners=True)


def half_bic(x):
    """Bicubic x0.5 to the floor size, align_corners=False (ratio in/out)."""
    return bicubic(x, (x.shape[-2] // 2, x.shape[-1] // 2), align_corners=False)


def reflect_pad(x, pad):
    """ReflectionPad2d; pad = (left, right, top, bottom); mirror without repeating the edge
    (padded[-1] = x[1])."""
    return F.pad(x, tuple(pad), mode="reflect")


def l2_normalize(x, dim):
    """x / max(||x||_2, 1e-12) along `dim` (torch.nn.functional.normalize)."""
    return F.normalize(x, p=2.0, dim=dim, eps=1e-12)


def descriptors3x3(feat):
    """(B,C,H,W) -> (B, C*9, H*W): 3x3 neighbourhoods (stride 1) after reflection padding 1.
    Row order of the 9C dimension = channel, then ky, then kx (unfold order); columns row-major."""
    return F.unfold(reflect_pad(feat, (1, 1, 1, 1)), kernel_size=3, stride=1)


def patch_match(q_feat, k_feat):
    """§4.1 matching. q_feat (B,C,Hq,Wq), k_feat (B,C,Hk,Wk).

    Returns conf (B,1,Hq,Wq) = max_j S[j,i], index (B, Hq*Wq) int64 = argmax_j (lowest j on ties,
    checked in make_goldens), S (B, Hk*Wk, Hq*Wq) = k_hat^T q_hat."""
    B, _, Hq, Wq = q_feat.shape
    q = l2_normalize(descriptors3x3(q_feat), dim=1)  # (B, 9C, Nq)
    k = l2_normalize(descriptors3x3(k_feat), dim=1)  # (B, 9C, Nk)
    S = torch.bmm(k.transpose(1, 2), q)  # (B, Nk, Nq)
    conf, index = torch.max(S, dim=1)  # (B, Nq)
    return conf.view(B, 1, Hq, Wq), index, S


def block_gather(value, index, k, grid):
    """§4.2 transfer. value (B,C,Hv,Wv) with Hv, Wv multiples of k is cut into non-overlapping k x k
    blocks (block grid Hv/k x Wv/k, row-major block numbers). index (B, N) int64 with N = gh*gw;
    grid = (gh, gw). Output (B, C, k*gh, k*gw): output block (i // gw, i % gw) = value block index[i].
    (Equivalent to unfold(k, stride k) -> column gather -> fold(k, stride k) without averaging.)"""
    B, C, Hv, Wv = value.shape
    gh, gw = grid
    if Hv % k or Wv % k:
        raise ValueError("value size %dx%d is not a multiple of the block size %d" % (Hv, Wv, k))
    if index.shape != (B, gh * gw):
        raise ValueError("index shape %s does not match the grid %s" % (tuple(index.shape), grid))
    nb = (Hv // k) * (Wv // k)
    if int(index.min()) < 0 or int(index.max()) >= nb:
        raise ValueError("index out of range for %d blocks" % nb)
    cols = F.unfold(value, kernel_size=k, stride=k)  # (B, C*k*k, nb)
    g = torch.gather(cols, 2, index.unsqueeze(1).expand(B, cols.shape[1], gh * gw))
    return F.fold(g, output_size=(k * gh, k * gw), kernel_size=k, stride=k)


def aligned_sample(X, raw, k, return_info=False):
    """§5 steps 4-8: per-block scale/rotation resampling of the mosaic X.

    X   (B,C,k*h,k*w) : the gathered mosaic
    raw (B,3,h,w)     : raw predictions of p_conv (one triple per k x k block)
    Returns Y (B,C,k*h,k*w). With return_info also a dict with the sample points P (before clamping)
    and a boolean mask of samples that hit the border double-count rule.
    """
    B, C, H, W = X.shape
    h, w = raw.shape[-2:]
    if H != k * h or W != k * w:
        raise ValueError("mosaic %dx%d does not match %dx%d blocks of %d" % (H, W, h, w, k))
    dt, dev = X.dtype, X.device
    a = torch.clamp(raw + 1.0, -3.0, 3.0)
    s_r = a[:, 0].reshape(B, h, w, 1, 1)
    s_c = a[:, 1].reshape(B, h, w, 1, 1)
    theta = ((a[:, 2] - 1.0) * THETA_PER_UNIT).reshape(B, h, w, 1, 1)
    cos_t, sin_t = torch.cos(theta), torch.sin(theta)
    o = torch.arange(k, dtype=dt, device=dev) - (k - 1) / 2.0
    o_r = o.view(1, 1, 1, k, 1)
    o_c = o.view(1, 1, 1, 1, k)
    d_r = o_r * s_r * cos_t - o_c * s_c * sin_t  # (B,h,w,k,k)
    d_c = o_r * s_r * sin_t + o_c * s_c * cos_t
    c_r = (k * torch.arange(h, dtype=dt, device=dev) + 1 + (k - 1) / 2.0).view(1, h, 1, 1, 1)
    c_c = (k * torch.arange(w, dtype=dt, device=dev) + 1 + (k - 1) / 2.0).view(1, 1, w, 1, 1)
    p_r = c_r + d_r
    p_c = c_c + d_c

    Xp = reflect_pad(X, (1, 1, 1, 1))
    Hp, Wp = H + 2, W + 2
    q0r = torch.floor(p_r.detach())
    q0c = torch.floor(p_c.detach())
    q1r = torch.clamp(q0r + 1, 0, Hp - 1)
    q1c = torch.clamp(q0c + 1, 0, Wp - 1)
    q0r = torch.clamp(q0r, 0, Hp - 1)
    q0c = torch.clamp(q0c, 0, Wp - 1)
    pr = torch.clamp(p_r, 0, Hp - 1)
    pc = torch.clamp(p_c, 0, Wp - 1)
    w0r = 1 + (q0r - pr)
    w1r = 1 - (q1r - pr)
    w0c = 1 + (q0c - pc)
    w1c = 1 - (q1c - pc)

    flat = Xp.reshape(B, C, Hp * Wp)

    def corner(qr, qc):
        idx = (qr * Wp + qc).long().reshape(B, 1, -1).expand(B, C, h * w * k * k)
        return torch.gather(flat, 2, idx).reshape(B, C, h, w, k, k)

    def wt(t):
        return t.unsqueeze(1)  # (B,1,h,w,k,k)

    # corner order (q0r,q0c), (q1r,q1c), (q0r,q1c), (q1r,q0c)
    val = (wt(w0r * w0c) * corner(q0r, q0c) + wt(w1r * w1c) * corner(q1r, q1c)
           + wt(w0r * w1c) * corner(q0r, q1c) + wt(w1r * w0c) * corner(q1r, q0c))
    Y = val.permute(0, 1, 2, 4, 3, 5).reshape(B, C, H, W)
    if not return_info:
        return Y
    pr_d, pc_d = p_r.detach(), p_c.detach()
    hit_r = (pr_d < 0) | (pr_d >= Hp - 1)
    hit_c = (pc_d < 0) | (pc_d >= Wp - 1)
    info = {"p_r": pr_d, "p_c": pc_d, "border": hit_r | hit_c,
            "clamped_a": ((raw.detach() + 1.0) < -3.0) | ((raw.detach() + 1.0) > 3.0)}
    return Y, info


# ============================================================================================
# Building blocks (names follow the reference state dict, §13.7)
# ============================================================================================

def conv(cin, cout, k, stride=1, bias=True):
    """Default conv of §1: k x k, zero padding k//2."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias)


def lrelu():
    return nn.LeakyReLU(LRELU_SLOPE)


def basic_block(cin, cout, k, stride=1):
    """BasicBlock = conv -> LReLU(0.2); keys `.0.weight`, `.0.bias`."""
    return nn.Sequential(conv(cin, cout, k, stride), lrelu())


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv: y = (x - mean) / std; weight = diag(1/std), bias = -mean/std (not trainable)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__(3, 3, kernel_size=1)
        std_t = torch.tensor(std, dtype=torch.float64)
        mean_t = torch.tensor(mean, dtype=torch.float64)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1) / std_t.view(3, 1, 1, 1))
            self.bias.copy_(-mean_t / std_t)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    """conv3x3 -> LReLU -> conv3x3 -> + input (no activation after the add)."""

    def __init__(self, n):
        super().__init__()
        self.conv1 = conv(n, n, 3)
        self.relu = lrelu()
        self.conv2 = conv(n, n, 3)

    def forward(self, x):
        return x + self.conv2(self.relu(self.conv1(x)))


class ResList(nn.Module):
    """nb ResBlocks -> conv3x3 -> + input (long skip)."""

    def __init__(self, nb, n):
        super().__init__()
        self.RBs = nn.ModuleList([ResBlock(n) for _ in range(nb)])
        self.conv_tail = conv(n, n, 3)

    def forward(self, x):
        y = x
        for rb in self.RBs:
            y = rb(y)
        return x + self.conv_tail(y)


class EncoderInput(nn.Module):
    """conv3x3(cin->n) -> LReLU -> [x1] -> nb ResBlocks -> conv3x3 -> + x1."""

    def __init__(self, nb, n, cin=3):
        super().__init__()
        self.conv_head = conv(cin, n, 3)
        self.relu = lrelu()
        self.RBs = nn.ModuleList([ResBlock(n) for _ in range(nb)])
        self.conv_tail = conv(n, n, 3)

    def forward(self, x):
        x1 = self.relu(self.conv_head(x))
        y = x1
        for rb in self.RBs:
            y = rb(y)
        return x1 + self.conv_tail(y)


class FeatureMatching(nn.Module):
    """§3.1 / §4.1: Phi = MeanShift -> (4K: bicubic x2 align_corners=True) -> VGG19 features[0..6]
    (conv1_1, relu, conv1_2, relu, maxpool, conv2_1, relu) -> map = (1x1 conv 128->16, LReLU)."""

    def __init__(self):
        super().__init__()
        self.sub_mean = MeanShift()
        fe = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU())
        fe.add_module("map", nn.Sequential(nn.Conv2d(128, 16, 1), lrelu()))
        self.feature_extract = fe

    def features(self, x, upsample):
        x = self.sub_mean(x)
        if upsample:
            x = up2_bic_ac(x)
        return self.feature_extract(x)

    def forward(self, lr, ref, flag_8k):
        q = self.features(lr, not flag_8k)
        k = self.features(F.avg_pool2d(ref, 2), not flag_8k)
        conf, index, _ = patch_match(q, k)
        return conf, index, q.shape[-2:], k.shape[-2:]


class AlignedConv2d(nn.Module):
    """§3.5 / §5: parameter prediction + the per-block sampler. Widths are fixed (32), not n_feats."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(conv(3, 32, 5), lrelu(), ResBlock(32), lrelu())
        # p_conv.0 has stride = block size k; it is applied with the stride of the current mode in
        # forward() so one module (and one checkpoint) serves 4K (k=2) and 8K (k=4) mode.
        self.p_conv = nn.Sequential(nn.Conv2d(64, 32, 5, padding=2), lrelu(), ResBlock(32), lrelu(),
                                    nn.Conv2d(32, 3, 1))

    def predict(self, lr, ref_mosaic, k):
        qf = self.conv1(up2_bic(lr))
        rf = self.conv1(ref_mosaic)
        x = torch.cat([rf, qf], dim=1)
        p0 = self.p_conv[0]
        x = F.conv2d(x, p0.weight, p0.bias, stride=k, padding=2)
        for m in list(self.p_conv)[1:]:
            x = m(x)
        return x  # raw (B,3,h,w)

    def forward(self, x_mosaic, lr, ref_mosaic, k):
        raw = self.predict(lr, ref_mosaic, k)
        return aligned_sample(x_mosaic, raw, k)


class AlignedAttention(nn.Module):
    """§4.2 gather of k x k blocks into a mosaic of size 2 x (first input size), + optional alignment."""

    def __init__(self, align):
        super().__init__()
        if align:
            self.align = AlignedConv2d()
        self.do_align = align

    def forward(self, first, ref, index, value, k):
        H, W = first.shape[-2:]
        if (2 * H) % k or (2 * W) % k:
            raise ValueError("output %dx%d not a multiple of block %d" % (2 * H, 2 * W, k))
        grid = (2 * H // k, 2 * W // k)
        mosaic = block_gather(value, index, k, grid)
        if not self.do_align:
            return mosaic
        ref_mosaic = block_gather(ref, index, k, grid)
        return self.align(mosaic, first, ref_mosaic, k)


class DCSR(nn.Module):
    """The DCSR network (§2, §3, §6, §7). forward(lr, ref) -> (SR, C, I)."""

    def __init__(self, n_feats=64, flag_8k=False):
        super().__init__()
        n = n_feats
        self.flag_8k = flag_8k
        self.feature_match = FeatureMatching()
        self.ref_encoder1 = nn.Sequential(basic_block(3, n, 3), basic_block(n, n, 3))
        self.res1 = ResList(4, n)
        self.ref_encoder2 = nn.Sequential(basic_block(n, n, 3, stride=2), basic_block(n, n, 3))
        self.res2 = ResList(4, n)
        self.input_encoder = EncoderInput(8, n, 3)
        self.fusion1 = nn.Sequential(basic_block(2 * n, n, 5), basic_block(n, n, 3))
        self.decoder1 = ResList(8, n)
        self.fusion2 = nn.Sequential(basic_block(2 * n, n, 5), basic_block(n, n, 3))
        self.decoder2 = ResList(4, n)
        self.decoder_tail = nn.Sequential(conv(n, n // 2, 3), lrelu(), conv(n // 2, 3, 3))
        self.alpha1 = nn.Sequential(basic_block(1, 16, 7), basic_block(16, n, 3))
        self.alpha2 = nn.Sequential(basic_block(1, 16, 7), basic_block(16, n, 3))
        self.alpha3 = nn.Sequential(basic_block(4, 32, 7), basic_block(32, 3, 3))
        self.aa1 = AlignedAttention(align=True)
        self.aa2 = AlignedAttention(align=False)
        self.aa3 = AlignedAttention(align=True)

    def forward(self, lr, ref, flag_8k=None, return_all=False):
        if flag_8k is None:
            flag_8k = self.flag_8k
        h, w = lr.shape[-2:]
        Hr, Wr = ref.shape[-2:]
        if h % 2 or w % 2:
            raise ValueError("LR size must be even (§4.2), got %dx%d" % (h, w))
        m = 4 if flag_8k else 2
        if Hr % m or Wr % m:
            raise ValueError("Ref size must be a multiple of %d in this mode, got %dx%d" % (m, Hr, Wr))
        k_big, k_small = (4, 2) if flag_8k else (2, 1)

        C, I, _, _ = self.feature_match(lr, ref, flag_8k)  # C (B,1,hq,wq), I (B,hq*wq)
        ref_hf = ref - up2_bic(F.avg_pool2d(ref, 2))
        hf_al = self.aa1(lr, ref, I, ref_hf, k_big)
        f_ref1 = self.res1(self.ref_encoder1(ref))
        f_ref2 = self.res2(self.ref_encoder2(f_ref1))
        lr_half = half_bic(lr)  # only its size is used
        f_ref2_w = self.aa2(lr_half, ref, I, f_ref2, k_small)
        f_ref1_al = self.aa3(lr, ref, I, f_ref1, k_big)
        f_lr = self.input_encoder(lr)
        x = self.fusion1(torch.cat([f_ref2_w, f_lr], dim=1))
        c1 = up2_bic(C) if flag_8k else C  # confidence at LR resolution
        g1 = self.alpha1(c1)
        f1 = self.decoder1(f_lr + g1 * x)
        f1u = up2_bic(f1)
        cu = up2_bic(c1)
        y = self.fusion2(torch.cat([f_ref1_al, f1u], dim=1))
        g2 = self.alpha2(cu)
        f2 = self.decoder2(f1u + g2 * y)
        base = self.decoder_tail(f2)
        g3 = self.alpha3(torch.cat([cu, hf_al], dim=1))
        sr = base + hf_al * g3
        if return_all:
            return sr, C, I, {"hf_al": hf_al, "f_ref1_al": f_ref1_al, "f_ref2_w": f_ref2_w,
                              "ref_hf": ref_hf, "base": base}
        return sr, C, I


@contextlib.contextmanager
def recording_aligner_raws(model):
    """Within the block, each forward of the DCSR `model` records the raw predictions of its two
    aligners (AlignedConv2d.predict on the inputs they were called with) into the yielded dict, under
    "aa1" and "aa3". For the generators' robustness checks of the sample points."""
    raws = {}
    hooks = []
    for aa in ("aa1", "aa3"):
        al = getattr(model, aa).align

        def hook(mod, inp, out, aa=aa, al=al):
            raws[aa] = al.predict(inp[1], inp[2], inp[3]).detach()
        hooks.append(al.register_forward_hook(hook))
    try:
        yield raws
    finally:
        for h_ in hooks:
            h_.remove()


def count_parameters(model, trainable_only=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ============================================================================================
# Deterministic pseudo-random weights (C++ regenerates them; nothing is stored)
# ============================================================================================

_M64 = (1 << 64) - 1
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
TENSOR_INDEX_MULT = 0xD1B54A32D192ED03


def splitmix64_int(z):
    """Scalar python-int version (for checking the vectorised one)."""
    z = (z + SPLITMIX_GAMMA) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _splitmix64_np(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(SPLITMIX_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def seeded_uniform(seed, tensor_index, shape, bound, dtype=torch.float64):
    """Element e (flat row-major index) = ((u >> 11) * 2**-53) * (2*bound) - bound in float64, where
    u = splitmix64(seed*0x9E3779B97F4A7C15 + tensor_index*0xD1B54A32D192ED03 + e) (uint64 wraparound).
    Returned as `dtype` (a cast of the float64 value)."""
    n = int(np.prod(shape)) if len(shape) else 1
    base = (seed * SPLITMIX_GAMMA + tensor_index * TENSOR_INDEX_MULT) & _M64
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(base)
    u = _splitmix64_np(z)
    t = (u >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
    v = t * (2.0 * float(bound)) - float(bound)
    return torch.from_numpy(v.reshape(tuple(shape))).to(dtype)


# ============================================================================================
# Losses (§9)
# ============================================================================================

def _correlate1d_reflect(arr, weights, axis):
    """scipy.ndimage.correlate1d(mode='reflect') for a symmetric odd kernel, same summation order
    as scipy's symmetric branch: out = in[i]*w0 + sum_j (in[i-j] + in[i+j]) * w_j."""
    arr = np.moveaxis(np.asarray(arr, dtype=np.float64), axis, -1)
    n = arr.shape[-1]
    r = len(weights) // 2

    def refl(i):  # scipy 'reflect' = half-sample symmetric (d c b a | a b c d | d c b a)
        period = 2 * n
        i = i % period
        return i if i < n else period - 1 - i

    out = np.zeros_like(arr)
    for i in range(n):
        acc = arr[..., i] * weights[r]
        for j in range(1, r + 1):
            acc = acc + (arr[..., refl(i - j)] + arr[..., refl(i + j)]) * weights[r + j]
        out[..., i] = acc
    return np.moveaxis(out, -1, axis)


def _gaussian_phi(sigma, truncate):
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x ** 2)
    return phi / phi.sum()


def gaussian_kernel1d(sigma=1.0, truncate=4.0):
    """The 1-D factor: scipy gaussian_filter1d of a length-3 unit impulse, mode 'reflect'."""
    return _correlate1d_reflect(np.array([0.0, 1.0, 0.0]), _gaussian_phi(sigma, truncate), 0)


def gaussian_kernel3(sigma=1.0, truncate=4.0):
    """§9.1: scipy gaussian_filter(impulse3x3, sigma, truncate, mode='reflect'); returns (3,3) float64.
    1-D weights phi(x) = exp(-0.5/sigma^2 * x^2), x = -r..r, r = int(truncate*sigma + 0.5), normalised,
    applied along rows then along columns."""
    phi = _gaussian_phi(sigma, truncate)
    imp = np.zeros((3, 3))
    imp[1, 1] = 1.0
    k = _correlate1d_reflect(imp, phi, 0)
    k = _correlate1d_reflect(k, phi, 1)
    return k


def blur(x, kernel=None):
    """Depthwise 3x3 Gaussian (same kernel per channel, no bias) after ReflectionPad 2:
    (N,C,H,W) -> (N,C,H+2,W+2)."""
    if kernel is None:
        kernel = torch.from_numpy(gaussian_kernel3())
    C = x.shape[1]
    kern = kernel.to(device=x.device, dtype=x.dtype).view(1, 1, 3, 3).expand(C, 1, 3, 3).contiguous()
    return F.conv2d(reflect_pad(x, (2, 2, 2, 2)), kern, groups=C)


def blurred_l1(sr, target):
    """§9.1: if sizes differ, sr is first bicubic-downsampled x0.5 (floor size, align_corners False);
    then mean |blur(sr) - blur(target)|."""
    if sr.shape[-2:] != target.shape[-2:]:
        sr = half_bic(sr)
        if sr.shape[-2:] != target.shape[-2:]:
            raise ValueError("blurred_l1: sizes %s vs %s after the x0.5 downsample"
                             % (tuple(sr.shape), tuple(target.shape)))
    return F.l1_loss(blur(sr), blur(target))


def contextual_loss(x, y, h=0.5, eps=1e-5, return_parts=False):
    """§9.2 confidence-weighted contextual loss CX(x, y); x (N,C,Hx,Wx), y (N,C,Hy,Wy) features.
    Returns the scalar loss mean_n(-log(cx_n + 1e-5))."""
    N, Cc = x.shape[:2]
    mu = y.mean(dim=(0, 2, 3), keepdim=True)
    xn = l2_normalize((x - mu).reshape(N, Cc, -1), dim=1)  # (N,C,Nx)
    yn = l2_normalize((y - mu).reshape(N, Cc, -1), dim=1)  # (N,C,Ny)
    cos = torch.bmm(xn.transpose(1, 2), yn)  # (N,Nx,Ny)
    d = 1 - cos
    dmin = d.min(dim=2, keepdim=True)[0]  # min over y for each x
    d_tilde = d / (dmin + eps)
    wgt = torch.exp((1 - d_tilde) / h)
    cx_ij = wgt / wgt.sum(dim=2, keepdim=True)  # normalised over y
    m, istar = cx_ij.max(dim=1)  # (N,Ny): max over x for each y
    d_sel = torch.gather(d, 1, istar.unsqueeze(1)).squeeze(1)
    c = torch.exp((1 - d_sel) / 0.5)
    cx = (m * c).sum(dim=1) / c.sum(dim=1)
    loss = torch.mean(-torch.log(cx + eps))
    if return_parts:
        return loss, {"mu": mu, "d": d, "cx_ij": cx_ij, "m": m, "istar": istar, "c": c, "cx": cx}
    return loss


def patch4_features(x):
    """'patch4' feature space: non-overlapping 4x4 RGB patches of the raw [0,1] image,
    F.unfold(x, 4, stride=4) -> (N, 48, H//4, W//4); channel order = (channel, ky, kx)."""
    N, C, H, W = x.shape
    return F.unfold(x, kernel_size=4, stride=4).reshape(N, C * 16, H // 4, W // 4)


VGG19_CONVS_TO_RELU3_4 = [(3, 64), (64, 64), (64, 128), (128, 128),
                          (128, 256), (256, 256), (256, 256), (256, 256)]
VGG19_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16]  # torchvision features.N


class VGG19Features(nn.Module):
    """torchvision VGG19 `features[0..17]` (up to relu3_4); indices and names as in torchvision.
    forward() applies the ImageNet normalisation (x - mean)/std in the input dtype first."""

    def __init__(self):
        super().__init__()
        layers = []
        for i, (cin, cout) in enumerate(VGG19_CONVS_TO_RELU3_4):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        assert [i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)] == VGG19_CONV_INDICES
        for p in self.parameters():
            p.requires_grad = False

    def forward(self, x):
        mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return self.features((x - mean) / std)


def seeded_vgg19(seed=1234, dtype=torch.float64):
    """VGG19Features with seeded_uniform weights: conv i (0-based, conv1_1 ... conv3_4) weight uses
    tensor_index 2*i with bound sqrt(6/fan_in), fan_in = cin*9 (He-uniform: keeps activations alive
    through 8 ReLU layers); bias uses tensor_index 2*i+1 with bound 0.01."""
    vgg = VGG19Features().to(dtype)
    with torch.no_grad():
        for i, idx in enumerate(VGG19_CONV_INDICES):
            m = vgg.features[idx]
            cout, cin = m.weight.shape[:2]
            m.weight.copy_(seeded_uniform(seed, 2 * i, tuple(m.weight.shape), math.sqrt(6.0 / (cin * 9)), dtype))
            m.bias.copy_(seeded_uniform(seed, 2 * i + 1, (cout,), 0.01, dtype))
    return vgg


LOSS_ALIASES = {"l1": "L1", "mse": "MSE", "cx_ref": "CX_ref", "contextual_ref": "CX_ref",
                "cx_hr": "CX_hr", "contextual_hr": "CX_hr"}


def parse_loss_string(s):
    """'1*L1+0.05*CX_ref+0.01*CX_hr' -> [(1.0, 'L1'), (0.05, 'CX_ref'), (0.01, 'CX_hr')].
    Terms are 'weight*type' joined by '+'; types L1 (blurred L1), MSE, CX_ref, CX_hr
    (aliases contextual_ref / contextual_hr, case-insensitive)."""
    terms = []
    for part in s.replace(" ", "").split("+"):
        mt = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\*([A-Za-z_0-9]+)", part)
        if not mt:
            raise ValueError("bad loss term %r in %r" % (part, s))
        name = LOSS_ALIASES.get(mt.group(2).lower())
        if name is None:
            raise ValueError("unknown loss type %r" % mt.group(2))
        terms.append((float(mt.group(1)), name))
    if not terms:
        raise ValueError("empty loss string")
    return terms


def compute_losses(sr, target, ref, loss_string, features):
    """Evaluate a loss string. target = HR (basic) or LR (SRA); features = feature function for CX.
    CX_ref = CX(f(sr), f(ref)); CX_hr = CX(f(sr), f(target)) + CX(f(target), f(sr)).
    Returns dict term -> unweighted value, plus 'total' = sum of weight * value."""
    terms = parse_loss_string(loss_string)
    cache = {}

    def feat(name, t):
        if name not in cache:
            cache[name] = features(t)
        return cache[name]

    out = {}
    total = 0
    for wgt, name in terms:
        if name == "L1":
            v = blurred_l1(sr, target)
        elif name == "MSE":
            v = F.mse_loss(sr, target)
        elif name == "CX_ref":
            v = contextual_loss(feat("sr", sr), feat("ref", ref))
        elif name == "CX_hr":
            fs, ft = feat("sr", sr), feat("target", target)
            v = contextual_loss(fs, ft) + contextual_loss(ft, fs)
        out[name] = v
        total = total + wgt * v
    out["total"] = total
    return out


# ============================================================================================
# Coarse search (§8 step 4), standalone
# ============================================================================================

def coarse_search(tile, ref, rule="torch14", return_parts=False):
    """tile (1,3,th,tw), ref (1,3,Hr,Wr), raw RGB. ref_s = bicubic(ref, 1/16), lr_s = bicubic(tile, 1/8),
    output sizes floor(in/16), floor(in/8), align_corners False.
      rule 'torch14': sampling ratio in/out (torch 1.4, = F.interpolate(size=...)) -- the released setup
      rule 'torch16': sampling ratio 16 and 8 (F.interpolate(scale_factor=...) in torch >= 1.6)
    lr_s slides over ref_s (stride 1, valid); cost = mean |ref_s window - lr_s| over C*h*w;
    t = argmin (lowest on ties); P = W(ref_s) - W(lr_s) + 1; window rows [16*(t//P), +2*th),
    cols [16*(t%P), +2*tw), end clipped. Returns (r0, c0, r1, c1)."""
    th, tw = tile.shape[-2:]
    Hr, Wr = ref.shape[-2:]
    rs, ls = (Hr // 16, Wr // 16), (th // 8, tw // 8)
    if rule == "torch14":
        ref_s = bicubic(ref, rs)
        lr_s = bicubic(tile, ls)
    elif rule == "torch16":
        ref_s = F.interpolate(ref, scale_factor=1.0 / 16, mode="bicubic", align_corners=False,
                              recompute_scale_factor=False)
        lr_s = F.interpolate(tile, scale_factor=1.0 / 8, mode="bicubic", align_corners=False,
                             recompute_scale_factor=False)
        assert tuple(ref_s.shape[-2:]) == rs and tuple(lr_s.shape[-2:]) == ls
    else:
        raise ValueError(rule)
    lh, lw = ls
    patches = F.unfold(ref_s, kernel_size=(lh, lw))  # (1, 3*lh*lw, L)
    cost = (patches - lr_s.reshape(1, -1, 1)).abs().mean(dim=1)[0]  # (L,)
    t = int(np.argmin(cost.detach().cpu().numpy()))  # first minimum
    P = rs[1] - lw + 1
    r0, c0 = 16 * (t // P), 16 * (t % P)
    win = (r0, c0, min(r0 + 2 * th, Hr), min(c0 + 2 * tw, Wr))
    if return_parts:
        return win, {"ref_s": ref_s, "lr_s": lr_s, "cost": cost.reshape(rs[0] - lh + 1, P), "t": t}
    return win


# ============================================================================================
# Self-test
# ============================================================================================

REF_BLOCK_COUNTS_64 = {  # spec §12
    "feature_match": 114640 + 12, "ref_encoder1": 38720, "res1": 332352, "ref_encoder2": 73856,
    "res2": 332352, "input_encoder": 629568, "fusion1": 241792, "decoder1": 627776,
    "fusion2": 241792, "decoder2": 332352, "decoder_tail": 19331, "alpha1": 10080, "alpha2": 10080,
    "alpha3": 7171, "aa1": 90755, "aa3": 90755}


def self_test():
    torch.manual_seed(0)
    ok = True

    def check(cond, msg):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + msg)
        ok = ok and bool(cond)

    m64 = DCSR(64)
    sd = m64.state_dict()
    check(len(sd) == 194, "194 state-dict keys at n_feats 64 (%d)" % len(sd))
    check(count_parameters(m64) == 3193384, "3,193,384 parameters at n_feats 64 (%d)" % count_parameters(m64))
    check(count_parameters(m64, True) == 3193372, "3,193,372 trainable (%d)" % count_parameters(m64, True))
    per = {}
    for name, p in m64.named_parameters():
        per[name.split(".")[0]] = per.get(name.split(".")[0], 0) + p.numel()
    check(per == REF_BLOCK_COUNTS_64, "per-block counts of §12")
    m32 = DCSR(32)
    check(count_parameters(m32) == 1033896, "1,033,896 parameters at n_feats 32 (%d)" % count_parameters(m32))
    check(len(m32.state_dict()) == 194, "194 keys at n_feats 32")
    check(sum(1 for p in m64.parameters() if p.requires_grad) == 192, "192 trainable tensors")
    for pat in ["feature_match.feature_extract.0.weight", "feature_match.feature_extract.5.bias",
                "feature_match.feature_extract.map.0.weight", "feature_match.sub_mean.weight",
                "ref_encoder1.1.0.weight", "res1.RBs.3.conv2.bias", "res1.conv_tail.weight",
                "input_encoder.conv_head.weight", "input_encoder.RBs.7.conv1.weight",
                "decoder_tail.2.weight", "alpha3.1.0.bias", "aa1.align.conv1.2.conv1.weight",
                "aa3.align.p_conv.4.weight", "aa3.align.p_conv.2.conv2.bias"]:
        check(pat in sd, "key " + pat)
    check(tuple(sd["decoder_tail.0.weight"].shape) == (32, 64, 3, 3), "decoder_tail middle = n_feats//2")

    # seeded_uniform: vectorised == scalar
    v = seeded_uniform(1234, 5, (7,), 0.5)
    base = (1234 * SPLITMIX_GAMMA + 5 * TENSOR_INDEX_MULT) & _M64
    v2 = [((splitmix64_int((base + e) & _M64) >> 11) * 2.0 ** -53) * 1.0 - 0.5 for e in range(7)]
    check(np.array_equal(v.numpy(), np.array(v2)), "seeded_uniform vectorised == scalar splitmix64")

    # identity warp reproduces the mosaic exactly
    for k, (H, W) in ((2, (8, 10)), (4, (16, 12)), (1, (3, 5))):
        X = torch.randn(2, 3, H, W, dtype=torch.float64)
        raw = torch.zeros(2, 3, H // k, W // k, dtype=torch.float64)
        Y, info = aligned_sample(X, raw, k, return_info=True)
        check(torch.equal(Y, X) and not bool(info["border"].any()), "identity warp exact, k=%d" % k)

    # bicubic x0.5 = 4-tap filter
    xe = torch.randn(1, 2, 6, 8, dtype=torch.float64)
    check(torch.allclose(half_bic(xe), _four_tap_half(xe), atol=1e-14, rtol=0), "bicubic x0.5 = 4-tap filter")

    # bicubic == the formulas written in README.md (naive per-pixel transcription)
    xb = torch.randn(1, 2, 5, 7, dtype=torch.float64)
    for ac in (False, True):
        for size in ((10, 14), (2, 3), (9, 11), (3, 4), (1, 1) if not ac else (2, 2)):
            ref = bicubic(xb, size, ac).numpy()
            check(np.allclose(_naive_bicubic(xb.numpy(), size, ac), ref, atol=1e-14, rtol=0),
                  "bicubic formulas, align_corners %s, size %s" % (ac, size))

    # Gaussian kernel
    gk = gaussian_kernel3()
    check(abs(gk.sum() - 1) < 1e-15 and abs(gk[1, 1] - 0.166307) < 1e-6 and abs(gk[0, 0] - 0.087673) < 1e-6,
          "gaussian kernel %s" % np.round(gk[0], 6))

    # gradchecks (float64)
    gc = torch.autograd.gradcheck
    for k, (H, W) in ((2, (4, 6)), (4, (8, 4))):
        X = torch.randn(1, 2, H, W, dtype=torch.float64, requires_grad=True)
        raw = (0.6 * torch.randn(1, 3, H // k, W // k, dtype=torch.float64)).requires_grad_()
        check(gc(lambda X, raw: aligned_sample(X, raw, k), (X, raw), atol=1e-5, rtol=1e-3),
              "gradcheck aligned_sample k=%d" % k)
    Xs = torch.randn(1, 2, 4, 6, dtype=torch.float64, requires_grad=True)
    raws = (torch.randn(1, 3, 2, 3, dtype=torch.float64) * 2.5).requires_grad_()
    _, info = aligned_sample(Xs, raws, 2, return_info=True)
    check(gc(lambda X, raw: aligned_sample(X, raw, 2), (Xs, raws), atol=1e-5, rtol=1e-3),
          "gradcheck aligned_sample stress (%d border samples)" % int(info["border"].sum()))
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    check(gc(contextual_loss, (x, y), atol=1e-5, rtol=1e-3), "gradcheck contextual_loss")
    q = torch.randn(1, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    kf = torch.randn(1, 4, 4, 3, dtype=torch.float64, requires_grad=True)
    check(gc(lambda q, kf: patch_match(q, kf)[0], (q, kf), atol=1e-5, rtol=1e-3), "gradcheck patch_match conf")
    sr = torch.rand(1, 3, 8, 6, dtype=torch.float64, requires_grad=True)
    tg = torch.rand(1, 3, 4, 3, dtype=torch.float64)
    check(gc(lambda s: blurred_l1(s, tg), (sr,), atol=1e-5, rtol=1e-3), "gradcheck blurred_l1 (SRA sizes)")

    # a model forward in both modes (tiny)
    m = DCSR(8).double()
    lr = torch.rand(1, 3, 12, 16, dtype=torch.float64)
    ref = torch.rand(1, 3, 24, 32, dtype=torch.float64)
    for f8 in (False, True):
        sr, C, I = m(lr, ref, flag_8k=f8)
        exp_c = (12, 16) if not f8 else (6, 8)
        check(tuple(sr.shape) == (1, 3, 24, 32) and tuple(C.shape[-2:]) == exp_c,
              "forward %s mode shapes" % ("8K" if f8 else "4K"))
    try:
        m(torch.rand(1, 3, 13, 16, dtype=torch.float64), ref)
        check(False, "odd LR rejected")
    except ValueError:
        check(True, "odd LR rejected")
    check(parse_loss_string("1*L1+0.05*CX_ref+0.01*CX_hr") == [(1.0, "L1"), (0.05, "CX_ref"), (0.01, "CX_hr")],
          "loss string parser")
    print("self-test", "PASSED" if ok else "FAILED")
    return ok


def _naive_bicubic(x, size, align_corners, A=-0.75):
    """Per-pixel transcription of the bicubic rule documented in README.md (numpy, float64)."""
    def cubic_weights(t):
        return [((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
                ((A + 2) * t - (A + 3)) * t * t + 1,
                ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
                ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A]

    def src_coord(dst, n_in, n_out):
        if align_corners:
            return dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else 0.0
        return (dst + 0.5) * (n_in / n_out) - 0.5

    N, C, H, W = x.shape
    oh, ow = size
    out = np.zeros((N, C, oh, ow))
    for oy in range(oh):
        sy = src_coord(oy, H, oh)
        fy = math.floor(sy)
        wy = cubic_weights(sy - fy)
        for ox in range(ow):
            sx = src_coord(ox, W, ow)
            fx = math.floor(sx)
            wx = cubic_weights(sx - fx)
            acc = 0
            for m in range(4):
                r = min(max(fy - 1 + m, 0), H - 1)
                row = 0
                for n in range(4):
                    c = min(max(fx - 1 + n, 0), W - 1)
                    row = row + wx[n] * x[:, :, r, c]
                acc = acc + wy[m] * row
            out[:, :, oy, ox] = acc
    return out


def _four_tap_half(x):
    """Bicubic x0.5 (align_corners False) of an even-sized map as the separable 4-tap filter
    [-0.09375, 0.59375, 0.59375, -0.09375] on pixels (2i-1, 2i, 2i+1, 2i+2), edge-clamped."""
    taps = torch.tensor([-0.09375, 0.59375, 0.59375, -0.09375], dtype=x.dtype)

    def along(t, dim):
        n = t.shape[dim]
        out = []
        for i in range(n // 2):
            idx = [min(max(2 * i + o, 0), n - 1) for o in (-1, 0, 1, 2)]
            acc = 0
            for tap, j in zip(taps, idx):
                acc = acc + tap * t.select(dim, j)
            out.append(acc)
        return torch.stack(out, dim=dim)

    return along(along(x, 2), 3)


if __name__ == "__main__":
    import sys
    sys.exit(0 if self_test() else 1)
