"""The fastest honest PyTorch formulations of DCSR's two heavy operators: what a
skilled PyTorch user would write instead of the reference's dense matrices.
Same results as tests/reference/dcsr_ref.py (checked by check_against_reference()).

  patch_match        the scores K^T Q computed a block of queries at a time with
                     one GEMM each, reduced by max/argmax at once: never the whole
                     (Nk x Nq) matrix; about 32 MB of scores per block.
  contextual_loss    one pass over blocks of x rows: per block one GEMM for the
                     cosines, the row minimum, the row softmax (exp((1 - d~)/h)
                     normalised over y is softmax(-d~/h)), and a running max over x
                     with the d value at the argmax: no Nx x Ny intermediate beyond
                     one block, and autograd keeps only the blocks' own graphs.

use_fast_ops(R) swaps them into the reference module R (dcsr_ref), so the whole
model (peers/model.py) runs with them.
"""
import torch
import torch.nn.functional as F

SCORE_BLOCK_BYTES = 32 << 20


def _block(n_other, total):
    """Rows per block so that a block of n_other float32 columns is about SCORE_BLOCK_BYTES."""
    return max(1, min(total, SCORE_BLOCK_BYTES // (4 * max(1, n_other))))


def make_patch_match(R):
    def patch_match(q_feat, k_feat):
        B, _, Hq, Wq = q_feat.shape
        q = R.l2_normalize(R.descriptors3x3(q_feat), dim=1)  # (B, 9C, Nq)
        k = R.l2_normalize(R.descriptors3x3(k_feat), dim=1)  # (B, 9C, Nk)
        kt = k.transpose(1, 2)  # (B, Nk, 9C)
        nq, nk = q.shape[2], k.shape[2]
        step = _block(nk, nq)
        confs, indices = [], []
        for start in range(0, nq, step):
            s = torch.bmm(kt, q[:, :, start:start + step])  # (B, Nk, block)
            c, i = torch.max(s, dim=1)
            confs.append(c)
            indices.append(i)
        conf = torch.cat(confs, dim=1)
        index = torch.cat(indices, dim=1)
        return conf.view(B, 1, Hq, Wq), index, None

    return patch_match


def contextual_loss(x, y, h=0.5, eps=1e-5, return_parts=False):
    """§9.2 CX(x, y) in one pass over blocks of x rows (see the module docstring)."""
    if return_parts:
        raise ValueError("the fast contextual loss keeps no dense parts")
    N, C = x.shape[:2]
    mu = y.mean(dim=(0, 2, 3), keepdim=True)
    xn = F.normalize((x - mu).reshape(N, C, -1), dim=1).transpose(1, 2)  # (N, Nx, C)
    yn = F.normalize((y - mu).reshape(N, C, -1), dim=1)  # (N, C, Ny)
    nx, ny = xn.shape[1], yn.shape[2]
    step = _block(ny, nx)
    best = None  # (N, Ny): max over the x rows so far of cx_ij
    d_at_best = None  # (N, Ny): d at that row
    for start in range(0, nx, step):
        d = 1 - torch.bmm(xn[:, start:start + step], yn)  # (N, block, Ny)
        dmin = d.min(dim=2, keepdim=True)[0]
        cx_ij = torch.softmax(-(d / (dmin + eps)) / h, dim=2)  # = exp((1 - d~)/h) normalised over y
        m, i = cx_ij.max(dim=1)  # (N, Ny)
        d_sel = torch.gather(d, 1, i.unsqueeze(1)).squeeze(1)
        if best is None:
            best, d_at_best = m, d_sel
        else:
            # The first maximum wins ties, as torch.max over the whole x axis does.
            take = m > best
            best = torch.where(take, m, best)
            d_at_best = torch.where(take, d_sel, d_at_best)
    c = torch.exp((1 - d_at_best) / 0.5)
    cx = (best * c).sum(dim=1) / c.sum(dim=1)
    return torch.mean(-torch.log(cx + eps))


_REFERENCE = {}


def use_formulation(R, name):
    """Makes the reference module R run with the "fast" formulations, or its own ("reference")."""
    if not _REFERENCE:
        _REFERENCE.update(patch_match=R.patch_match, contextual_loss=R.contextual_loss)
    if name == "fast":
        R.patch_match = make_patch_match(R)
        R.contextual_loss = contextual_loss
    elif name == "reference":
        R.patch_match = _REFERENCE["patch_match"]
        R.contextual_loss = _REFERENCE["contextual_loss"]
    else:
        raise ValueError("unknown formulation %r (fast or reference)" % name)


def check_against_reference(R, seed=0):
    """The fast operators against R's dense ones on small random inputs, with blocks of a few rows
    so that the merging across blocks is exercised; raises on a mismatch."""
    global SCORE_BLOCK_BYTES
    saved, SCORE_BLOCK_BYTES = SCORE_BLOCK_BYTES, 4 * 360 * 7
    try:
        _check(R, seed)
    finally:
        SCORE_BLOCK_BYTES = saved


def _check(R, seed):
    use_formulation(R, "reference")
    g = torch.Generator().manual_seed(seed)
    q, k = torch.rand(1, 8, 12, 10, generator=g), torch.rand(1, 8, 20, 18, generator=g)
    c0, i0, _ = R.patch_match(q, k)
    c1, i1, _ = make_patch_match(R)(q, k)
    if not (torch.allclose(c0, c1, atol=1e-6) and torch.equal(i0, i1)):
        raise RuntimeError("fast patch_match differs from the reference")
    x, y = torch.rand(2, 48, 9, 11, generator=g), torch.rand(2, 48, 10, 8, generator=g)
    a, b = R.contextual_loss(x, y), contextual_loss(x, y)
    if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
        raise RuntimeError("fast contextual_loss differs from the reference: %g vs %g" % (a, b))
