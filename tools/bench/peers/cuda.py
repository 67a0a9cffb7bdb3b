"""CUDA peers: the same ops on the GPU through PyTorch (cuBLAS / cuDNN), TF32
off so that both sides compute in float32. Timed with CUDA events: warm-up,
then the median of the repeats."""
import statistics

import torch

from peers.timing import repeats


def _cuda_ms(fn, warmup, count):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(count):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def _setup():
    if not torch.cuda.is_available():
        return False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return True


def cuda_matmul(spec):
    if not _setup():
        return {"error": "torch sees no CUDA device"}
    m, n, k = int(spec["m"]), int(spec["n"]), int(spec["k"])
    g = torch.Generator(device="cuda").manual_seed(1)
    a = torch.rand(m, k, device="cuda", generator=g) * 2 - 1
    b = torch.rand(k, n, device="cuda", generator=g) * 2 - 1
    with torch.no_grad():
        ms = _cuda_ms(lambda: torch.matmul(a, b), 3, repeats(spec, 15))
    return {"ms": ms, "tflops": 2.0 * m * n * k / ms / 1e9}


def cuda_conv2d(spec):
    if not _setup():
        return {"error": "torch sees no CUDA device"}
    n, cin, cout, h, w, k = (int(spec[key]) for key in ("n", "cin", "cout", "h", "w", "k"))
    backward = bool(spec.get("backward", False))
    g = torch.Generator(device="cuda").manual_seed(2)
    x = (torch.rand(n, cin, h, w, device="cuda", generator=g) * 2 - 1).requires_grad_(backward)
    weight = (torch.rand(cout, cin, k, k, device="cuda", generator=g) * 0.2 - 0.1).requires_grad_(backward)
    bias = torch.zeros(cout, device="cuda").requires_grad_(backward)
    torch.backends.cudnn.benchmark = True

    def run():
        y = torch.nn.functional.conv2d(x, weight, bias, padding=k // 2)
        if backward:
            y.backward(torch.ones_like(y))

    if backward:
        ms = _cuda_ms(run, 3, repeats(spec, 15))
    else:
        with torch.no_grad():
            ms = _cuda_ms(run, 3, repeats(spec, 15))
    flop = 2.0 * n * cout * h * w * cin * k * k * (3 if backward else 1)
    return {"ms": ms, "tflops": flop / ms / 1e9}


OPS = {"cuda_matmul": cuda_matmul, "cuda_conv2d": cuda_conv2d}
