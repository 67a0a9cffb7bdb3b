"""Core peers: matmul and elementwise ops."""
import torch

from peers.timing import median_ms, repeats


def matmul(spec):
    n = int(spec["n"])
    g = torch.Generator().manual_seed(1)
    a = torch.rand(n, n, generator=g) * 2 - 1
    b = torch.rand(n, n, generator=g) * 2 - 1
    with torch.no_grad():
        ms = median_ms(lambda: torch.matmul(a, b), 2, repeats(spec, 7))
    return {"ms": ms, "gflops": 2.0 * n ** 3 / ms / 1e6}


def _elementwise(fn):
    def run(spec):
        n = int(spec["n"])
        g = torch.Generator().manual_seed(2)
        a = torch.rand(n, generator=g) + 1
        b = torch.rand(n, generator=g) + 1
        with torch.no_grad():
            ms = median_ms(lambda: fn(a, b), 2, repeats(spec, 9))
        return {"ms": ms, "gbps": 3.0 * 4 * n / ms / 1e6}
    return run


def version(spec):
    return {"op": "version"}


OPS = {"version": version, "matmul": matmul, "add": _elementwise(torch.add), "mul": _elementwise(torch.mul)}
