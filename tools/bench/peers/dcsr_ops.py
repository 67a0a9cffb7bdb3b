"""DCSR operator peers: patch matching and the contextual loss, written the way
the reference code does them (dense matrices, dcsr-spec §4.1 and §9.2)."""
import resource

import torch
import torch.nn.functional as F

from peers.timing import median_ms, repeats


def _unit_columns(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=1)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def max_cosine(spec):
    """bmm of the normalised descriptors, then max over the keys (dim 1): the
    full (Nk x Nq) similarity matrix is materialised."""
    nq, nk, d = int(spec["nq"]), int(spec["nk"]), int(spec.get("d", 144))
    q = _unit_columns((1, d, nq), 1)
    k = _unit_columns((1, d, nk), 2)

    def run():
        s = torch.bmm(k.transpose(1, 2), q)
        return torch.max(s, dim=1)

    with torch.no_grad():
        ms = median_ms(run, 1, repeats(spec, int(spec.get("repeats", 5))))
    return {"ms": ms, "gflops": 2.0 * nq * nk * d / ms / 1e6, "peak_rss_mb": _peak_rss_mb()}


def _contextual(x, y, h=0.5, eps=1e-5):
    n, c = x.shape[:2]
    mu = y.mean(dim=(0, 2, 3), keepdim=True)
    xn = F.normalize((x - mu).reshape(n, c, -1), dim=1)
    yn = F.normalize((y - mu).reshape(n, c, -1), dim=1)
    d = 1 - torch.bmm(xn.transpose(1, 2), yn)
    d_tilde = d / (d.min(dim=2, keepdim=True)[0] + eps)
    w = torch.exp((1 - d_tilde) / h)
    cx_ij = w / w.sum(dim=2, keepdim=True)
    m, istar = cx_ij.max(dim=1)
    c_w = torch.exp((1 - torch.gather(d, 1, istar.unsqueeze(1)).squeeze(1)) / 0.5)
    cx = (m * c_w).sum(dim=1) / c_w.sum(dim=1)
    return torch.mean(-torch.log(cx + eps))


def contextual_loss(spec):
    """The reference CX formulation (several dense Nx x Ny matrices)."""
    c, hw = int(spec["c"]), int(spec["hw"])
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, c, hw, hw, generator=g)
    y = torch.rand(1, c, hw, hw, generator=g)
    if spec.get("backward"):
        x.requires_grad_()
        y.requires_grad_()

        def run():
            _contextual(x, y).backward()

        ms = median_ms(run, 1, repeats(spec, 5))
    else:
        with torch.no_grad():
            ms = median_ms(lambda: _contextual(x, y), 1, repeats(spec, 5))
    return {"ms": ms, "peak_rss_mb": _peak_rss_mb()}


OPS = {"max_cosine": max_cosine, "contextual_loss": contextual_loss}
