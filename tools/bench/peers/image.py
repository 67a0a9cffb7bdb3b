"""Image-op peers: F.conv2d forward and forward+backward (apps/bench/bench_conv.cpp), and the conv3x3_fwd
workload of tools/bench_peer.py (make_conv2d_workload: apps/bench/bench_conv_workload.cpp)."""
import os
import time

import torch
import torch.nn.functional as F

from peers.timing import repeats


def _time(fn, warmup, count):
    """Median and minimum in ms. The minimum is reported too because the bench machine's cores are shared: the
    fastest run is the one least disturbed by other processes, on both sides of a comparison."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2], times[0]


def conv2d(spec):
    """{"op": "conv2d", "channels": C, "size": S, "k": K, "backward": bool}: C -> C, K x K, padding K // 2,
    bias, batch 1, float32. With backward, one timed call is forward + backward of sum(y * gy) wrt x, w, b."""
    c, size, k = int(spec["channels"]), int(spec["size"]), int(spec.get("k", 3))
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, c, size, size, generator=g) * 2 - 1
    w = (torch.rand(c, c, k, k, generator=g) * 2 - 1) * 0.05
    b = torch.rand(c, generator=g)
    flop = 2.0 * c * c * k * k * size * size
    if not spec.get("backward"):
        with torch.no_grad():
            ms, min_ms = _time(lambda: F.conv2d(x, w, b, padding=k // 2), 2, repeats(spec, 9))
        work = flop
    else:
        xg, wg, bg = (t.clone().requires_grad_() for t in (x, w, b))
        gy = torch.rand(1, c, size, size, generator=g)

        def step():
            for t in (xg, wg, bg):
                t.grad = None
            F.conv2d(xg, wg, bg, padding=k // 2).backward(gy)

        ms, min_ms = _time(step, 2, repeats(spec, 7))
        work = 3 * flop
    return {"ms": ms, "min_ms": min_ms, "gflops": work / ms / 1e6, "mkldnn": torch.backends.mkldnn.is_available()}


def _load_raw(path, shape, device):
    """A raw little-endian float32 file written by `dcsr_bench --serve conv3x3_fwd`, as a tensor of `shape`."""
    n = 1
    for d in shape:
        n *= d
    if not os.path.isfile(path):
        raise RuntimeError("%s: no such file (our side writes it in its warm-up)" % path)
    size = os.path.getsize(path)
    if size != 4 * n:
        raise RuntimeError("%s: %d bytes, expected %d (float32 %s)" % (path, size, 4 * n, tuple(shape)))
    return torch.from_file(path, shared=False, size=n, dtype=torch.float32).reshape(shape).to(device)


def make_conv2d_workload(spec, device="cpu"):
    """{"op": "conv2d_forward", "channels": C, "size": S, "k": K, "dir": D}: (check, run) for one F.conv2d
    forward under no_grad, batch 1, C -> C, K x K, stride 1, padding K // 2, bias, float32, on x, weight
    and bias read from D (x.f32, w.f32, b.f32: our side's values). check runs one unit, compares it with
    our output (D/y.f32) and returns {"max_abs_diff_vs_ours": ...}; it fails when a value differs by more
    than 1e-3 * (1 + max |y|), far above float32 rounding in either order or Winograd's error."""
    c, size, k, folder = int(spec["channels"]), int(spec["size"]), int(spec.get("k", 3)), spec["dir"]
    x = _load_raw(os.path.join(folder, "x.f32"), (1, c, size, size), device)
    w = _load_raw(os.path.join(folder, "w.f32"), (c, c, k, k), device)
    b = _load_raw(os.path.join(folder, "b.f32"), (c,), device)
    cuda = torch.device(device).type == "cuda"

    def run():
        with torch.no_grad():
            y = F.conv2d(x, w, b, stride=1, padding=k // 2)
        if cuda:
            torch.cuda.synchronize()
        return y

    def check():
        y = run()
        ours = _load_raw(os.path.join(folder, "y.f32"), (1, c, size, size), device)
        diff = float((y - ours).abs().max())
        limit = 1e-3 * (1.0 + float(y.abs().max()))
        if not diff <= limit:
            raise RuntimeError("conv2d_forward: max |y_torch - y_ours| = %g, above %g" % (diff, limit))
        return {"max_abs_diff_vs_ours": diff, "max_abs_y": float(y.abs().max())}
    return check, run


OPS = {"conv2d": conv2d}
