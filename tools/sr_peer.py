#!/usr/bin/env python3
"""A whole image through the PyTorch reference network, tiled as `dcsr sr` tiles it: the peer of
`dcsr sr` for issue 5's goal "not slower than PyTorch running the same network on the same card".

    tools/sr_peer.py --lr LR.png --ref REF.png [--model models/default.ckpt] [--mode 4k|8k]
                     [--device cpu|cuda] [--threads N] [--compare OURS.png]

The network is tests/reference/dcsr_ref.py (independent of the C++ library) with the checkpoint's
weights, float32, under no_grad, TF32 off. The tiling follows dcsr/inference/tiling.cpp (spec §8): cores of
126x126 (4K mode) or 188x252 / 252x188 (8K mode) with 20 LR px of context, the tile grid
ceil(H / m1) x ceil(W / m2) with zeros beyond the image, the Ref window of §8 step 3 (categories A-E,
else the coarse search at 1/16 with torch 1.4's bicubic rule, the first minimum), window starts
clipped to 0 and ends to the Ref, sizes trimmed to the network's block (2 in 4K mode, 4 in 8K mode),
and the central 2*core of every SR tile placed into the 2H x 2W output. As ours, every tile's result
is copied back to the host before the next tile starts.

Prints one JSON line: tiles, the window categories, "tiled_inference_s" (the tile loop, as `dcsr sr`
prints it), "total_s" (with reading the PNGs and loading the model) and, with --compare, how far the
8-bit SR differs from OURS.png (our output for the same pair): max and mean absolute difference in
8-bit levels and the PSNR between the two. Reading PNGs is pure Python (no imaging library needed),
a few seconds per 2016x1512 image; it is not in tiled_inference_s.

Exit status: 0 on success, 1 on bad input (a message names the file or option), 2 on usage errors.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import png_chunks  # noqa: E402 (found through HERE)

CONTEXT = 20  # LR px of context on each side of a core (dcsr/inference/tiling.h kTileContext)


class PeerError(Exception):
    pass


# ---------------------------------------------------------------- PNG (8-bit, non-interlaced)

def _unfilter_row(kind, row, prev, bpp):
    """PNG filter types 0-4 (RFC 2083 §6) of one row of bytes; prev is the decoded row above."""
    if kind == 0:
        return row
    if kind == 2:
        return (row.astype(np.uint16) + prev).astype(np.uint8)
    if kind == 1:  # Sub: a running sum per channel, mod 256
        return (np.cumsum(row.reshape(-1, bpp).astype(np.int64), axis=0) % 256).astype(np.uint8).reshape(-1)
    out = bytearray(row.tobytes())
    up = prev.tobytes()
    n = len(out)
    if kind == 3:  # Average
        for x in range(n):
            left = out[x - bpp] if x >= bpp else 0
            out[x] = (out[x] + ((left + up[x]) >> 1)) & 255
    elif kind == 4:  # Paeth
        for x in range(n):
            a = out[x - bpp] if x >= bpp else 0
            b = up[x]
            c = up[x - bpp] if x >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            out[x] = (out[x] + pred) & 255
    else:
        raise PeerError("unknown PNG filter type %d" % kind)
    return np.frombuffer(bytes(out), dtype=np.uint8)


def read_png(path):
    """(1, 3, H, W) float32 in [0, 1] (value / 255, as read_image) from an 8-bit gray, RGB or RGBA PNG."""
    w, h, depth, color, interlace, raw = png_chunks.read_png_data(path, PeerError)
    channels = png_chunks.CHANNELS.get(color)
    if depth != 8 or channels is None or interlace:
        raise PeerError("'%s': only 8-bit gray/RGB/RGBA non-interlaced PNGs are read here (depth %d, color type %d,"
                        " interlace %d)" % (path, depth, color, interlace))
    raw = np.frombuffer(raw, dtype=np.uint8)
    stride = w * channels
    if raw.size != h * (stride + 1):
        raise PeerError("'%s': %d bytes of pixel data, expected %d" % (path, raw.size, h * (stride + 1)))
    rows = raw.reshape(h, stride + 1)
    img = np.empty((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):
        prev = img[y] = _unfilter_row(int(rows[y, 0]), rows[y, 1:], prev, channels)
    img = img.reshape(h, w, channels)[:, :, :3] if channels >= 3 else np.repeat(img.reshape(h, w, 1), 3, axis=2)
    return (img.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0))


# ---------------------------------------------------------------- tiling (dcsr/inference/tiling.cpp)

def tile_grid(h, w, mode):
    if mode == "4k":
        m1 = m2 = 126
    elif h < w:
        m1, m2 = 188, 252
    else:
        m1, m2 = 252, 188
    return m1, m2, -(-h // m1), -(-w // m2)


def ref_window(j, i, ny, nx, m1, m2, ref_h, ref_w):
    """(kind, r0, c0, r1, c1) of §8 step 3, clipped; kind "coarse" means: search the whole Ref."""
    qy, ey, qx, ex = ny // 4, 3 * ny // 4, nx // 4, 3 * nx // 4
    ry, rx = 2 * m1 * (j - qy), 2 * m2 * (i - qx)
    if qy <= j < ey and qx <= i < ex:
        kind, win = "A", (ry - 20, rx - 20, ry + 2 * m1 + 80, rx + 2 * m2 + 80)
    elif (i == qx - 1 and qy - 1 <= j < ey) or (j == qy - 1 and qx - 1 <= i < ex):
        r0, c0 = max(ry, 0), max(rx, 0)
        kind, win = "B", (r0, c0, r0 + 2 * m1 + 100, c0 + 2 * m2 + 100)
    elif (i == ex and qy <= j <= ey) or (j == ey and qx <= i <= ex):
        r0, c0 = min(ry, ref_h - 2 * m1), min(rx, ref_w - 2 * m2)
        kind, win = "C", (r0, c0, r0 + 2 * m1, c0 + 2 * m2)
    elif j == qy - 1 and i == ex:
        kind, win = "D", (0, ref_w - 2 * m2 - 100, 2 * m1 + 100, ref_w)
    elif j == ey and i == qx - 1:
        kind, win = "E", (ref_h - 2 * m1 - 100, 0, ref_h, 2 * m2 + 100)
    else:
        return "coarse", (0, 0, ref_h, ref_w)
    r0, c0 = min(max(win[0], 0), ref_h), min(max(win[1], 0), ref_w)
    return kind, (r0, c0, min(max(win[2], r0), ref_h), min(max(win[3], c0), ref_w))


def extract(img, top, left, h, w):
    """img[:, :, top:top+h, left:left+w] with zeros outside (numpy, (1, C, H, W))."""
    out = np.zeros((1, img.shape[1], h, w), dtype=np.float32)
    H, W = img.shape[2], img.shape[3]
    y0, y1, x0, x1 = max(top, 0), min(top + h, H), max(left, 0), min(left + w, W)
    if y1 > y0 and x1 > x0:
        out[:, :, y0 - top:y1 - top, x0 - left:x1 - left] = img[:, :, y0:y1, x0:x1]
    return out


def coarse_search(R, torch, tile, ref_small, ref_h, ref_w):
    """§8 step 4 as dcsr/inference/tiling.cpp: bicubic (torch 1.4 rule) in float32, costs in float64, first minimum.
    Not dcsr_ref.coarse_search, which states the reference's rule for the goldens: it resizes the whole
    Ref again for every tile, sums the costs in the input's dtype and has no fallback for a Ref too small
    to search; here the 1/16 Ref is made once per image (ref_small) as `dcsr sr` makes it."""
    th, tw = tile.shape[2], tile.shape[3]
    hl, wl = th // 8, tw // 8
    if ref_small is None or hl == 0 or wl == 0:
        return 0, 0, ref_h, ref_w
    hs, ws = ref_small.shape[2], ref_small.shape[3]
    ph, pw = hs - hl + 1, ws - wl + 1
    if ph <= 0 or pw <= 0:
        return 0, 0, ref_h, ref_w
    lr_small = R.bicubic(torch.from_numpy(tile), (hl, wl)).double()
    patches = torch.nn.functional.unfold(ref_small, kernel_size=(hl, wl))  # (1, C*hl*wl, ph*pw)
    cost = (patches - lr_small.reshape(1, -1, 1)).abs().mean(dim=1)[0]
    t = int(np.argmin(cost.numpy()))
    r0, c0 = 16 * (t // pw), 16 * (t % pw)
    return r0, c0, min(r0 + 2 * th, ref_h), min(c0 + 2 * tw, ref_w)


def run_tiles(R, torch, model, lr, ref, mode, device):
    """The SR image (1, 3, 2H, 2W) float32 numpy, and the count of tiles per window kind."""
    H, W = lr.shape[2], lr.shape[3]
    ref_h, ref_w = ref.shape[2], ref.shape[3]
    m1, m2, ny, nx = tile_grid(H, W, mode)
    th, tw = m1 + 2 * CONTEXT, m2 + 2 * CONTEXT
    block = 4 if mode == "8k" else 2
    sr = np.empty((1, 3, 2 * H, 2 * W), dtype=np.float32)
    counts = {k: 0 for k in ("A", "B", "C", "D", "E", "coarse")}
    ref_small = None
    for j in range(ny):
        for i in range(nx):
            tile = extract(lr, j * m1 - CONTEXT, i * m2 - CONTEXT, th, tw)
            kind, (r0, c0, r1, c1) = ref_window(j, i, ny, nx, m1, m2, ref_h, ref_w)
            if kind == "coarse":
                if ref_small is None and ref_h // 16 and ref_w // 16:
                    ref_small = R.bicubic(torch.from_numpy(ref), (ref_h // 16, ref_w // 16)).double()
                r0, c0, r1, c1 = coarse_search(R, torch, tile, ref_small, ref_h, ref_w)
            counts[kind] += 1
            r1, c1 = r0 + (r1 - r0) // block * block, c0 + (c1 - c0) // block * block
            if r1 <= r0 or c1 <= c0:
                raise PeerError("the Ref window %dx%d is smaller than the block %d" % (r1 - r0, c1 - c0, block))
            window = extract(ref, r0, c0, r1 - r0, c1 - c0)
            out, _, _ = model(torch.from_numpy(tile).to(device), torch.from_numpy(window).to(device),
                              flag_8k=(mode == "8k"))
            out = out.cpu().numpy()  # every tile back on the host, as ours
            y0, x0 = 2 * j * m1, 2 * i * m2
            rows, cols = min(2 * m1, 2 * H - y0), min(2 * m2, 2 * W - x0)
            sr[:, :, y0:y0 + rows, x0:x0 + cols] = out[:, :, 2 * CONTEXT:2 * CONTEXT + rows,
                                                       2 * CONTEXT:2 * CONTEXT + cols]
    return sr, counts


def to_u8(x):
    """As write_png: 0 below or NaN, 255 at or above 1, else round half to even of 255 v."""
    v = np.nan_to_num(x.astype(np.float64), nan=0.0)
    return np.where(v >= 1.0, 255.0, np.where(v > 0.0, np.round(v * 255.0), 0.0)).astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lr", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "default.ckpt"))
    ap.add_argument("--mode", default="4k", choices=["4k", "8k"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's own)")
    ap.add_argument("--compare", help="our SR of the same pair (8-bit PNG) to compare with")
    a = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        import torch
        import convert_weights
        import dcsr_ref as R
        if a.threads > 0:
            torch.set_num_threads(a.threads)
        if a.device == "cuda" and not torch.cuda.is_available():
            raise PeerError("--device cuda: torch %s sees no GPU" % torch.__version__)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        lr, ref = read_png(a.lr), read_png(a.ref)
        if lr.shape != ref.shape:
            raise PeerError("the Ref '%s' is %dx%d but the LR '%s' is %dx%d"
                            % (a.ref, ref.shape[3], ref.shape[2], a.lr, lr.shape[3], lr.shape[2]))
        try:
            header, tensors = convert_weights.read_checkpoint(a.model)
        except (OSError, convert_weights.ConvertError) as e:
            raise PeerError("model '%s': %s" % (a.model, e))
        model = R.DCSR(n_feats=int(header["config"].get("n_feats", 64)), flag_8k=(a.mode == "8k"))
        state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items() if not k.startswith("adam.")}
        model.load_state_dict(state)
        model = model.float().to(a.device).eval()
        with torch.no_grad():
            t0 = time.perf_counter()
            sr, counts = run_tiles(R, torch, model, lr, ref, a.mode, a.device)
            tiled_s = time.perf_counter() - t0
        result = {"peer": "sr", "torch": torch.__version__, "device": a.device,
                  "gpu": torch.cuda.get_device_name() if a.device == "cuda" else None,
                  "threads": torch.get_num_threads(), "mode": a.mode,
                  "lr": "%dx%d" % (lr.shape[3], lr.shape[2]), "sr": "%dx%d" % (sr.shape[3], sr.shape[2]),
                  "tiles": sum(counts.values()), "windows": counts, "tiled_inference_s": round(tiled_s, 4)}
        if a.compare:
            ours = read_png(a.compare)
            if ours.shape != sr.shape:
                raise PeerError("'%s' is %dx%d, the peer's SR %dx%d"
                                % (a.compare, ours.shape[3], ours.shape[2], sr.shape[3], sr.shape[2]))
            d = np.abs(to_u8(sr).astype(np.int64) - to_u8(ours).astype(np.int64))
            mse = float(np.mean(d.astype(np.float64) ** 2))
            result["vs_ours"] = {"max_abs_u8": int(d.max()), "mean_abs_u8": float(d.mean()),
                                 "share_differing": float(np.mean(d > 0)),
                                 "psnr_db": (10 * math.log10(255.0 ** 2 / mse)) if mse > 0 else None}
        result["total_s"] = round(time.perf_counter() - start, 4)
    except PeerError as e:
        print("sr_peer: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
