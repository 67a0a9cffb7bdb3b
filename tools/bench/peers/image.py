"""Image-op peers: F.conv2d forward and forward+backward (apps/bench/bench_conv.cpp)."""
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


OPS = {"conv2d": conv2d}
