// Pieces shared by the DCSR operator files (matching, losses); not public API.
#pragma once
#include "tensor/tensor.h"

namespace dcsr::detail {

// Column-wise L2 normalisation as F.normalize(x, dim=1, eps=1e-12):
// x (N, D, L) -> x / max(||x[n, :, l]||, 1e-12). Differentiable.
Tensor normalize_columns(const Tensor& x);

}  // namespace dcsr::detail
