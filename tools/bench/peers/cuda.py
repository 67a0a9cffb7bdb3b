"""CUDA peers: the same ops on the GPU through PyTorch (cuBLAS / cuDNN), TF32
off so that both sides compute in float32. Timed with CUDA events: warm-up,
then the median of the repeats."""
import os
import statistics
import sys

import torch

from peers.timing import repeats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "reference"))


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


def _model_inputs(spec, g):
    h, hr = int(spec["lr_size"]), int(spec["ref_size"])
    lr = torch.rand(1, 3, h, h, generator=g).cuda()
    ref = torch.rand(1, 3, hr, hr, generator=g).cuda()
    target = torch.rand(1, 3, 2 * h, 2 * h, generator=g).cuda()
    return lr, ref, target


def cuda_dcsr_train_step(spec):
    """One training step of the reference DCSR (tests/reference/dcsr_ref.py) on the GPU."""
    if not _setup():
        return {"error": "torch sees no CUDA device"}
    import dcsr_ref as R
    torch.manual_seed(0)
    model = R.DCSR(int(spec.get("n_feats", 64))).cuda()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    lr, ref, hr = _model_inputs(spec, torch.Generator().manual_seed(1))
    loss_string = spec.get("loss", "1*L1")
    features = R.seeded_vgg19(1234, torch.float32).cuda() if spec.get("features") == "vgg" else R.patch4_features

    def step():
        opt.zero_grad()
        sr, _, _ = model(lr, ref, flag_8k=False)
        R.compute_losses(sr, hr, ref, loss_string, features)["total"].backward()
        opt.step()

    return {"ms": _cuda_ms(step, 1, repeats(spec, 5))}


def cuda_dcsr_infer_tile(spec):
    if not _setup():
        return {"error": "torch sees no CUDA device"}
    import dcsr_ref as R
    torch.manual_seed(0)
    model = R.DCSR(int(spec.get("n_feats", 64))).cuda()
    lr, ref, _ = _model_inputs(spec, torch.Generator().manual_seed(1))

    def run():
        with torch.no_grad():
            model(lr, ref, flag_8k=False)

    return {"ms": _cuda_ms(run, 1, repeats(spec, 5))}


OPS = {"cuda_matmul": cuda_matmul, "cuda_conv2d": cuda_conv2d, "cuda_dcsr_train_step": cuda_dcsr_train_step,
       "cuda_dcsr_infer_tile": cuda_dcsr_infer_tile}
