// CUDA column-wise L2 normalisation with F.normalize's epsilon, and its
// gradient, float32. x: (N, D, L) -> out (N, D, L), norm (N, L).
// One thread per column (n, l); a warp holds 32 neighbouring columns, so
// every load of the d loop is coalesced. The arithmetic is the CPU's, in the
// CPU's order (kernels/cpu/normalize_columns.cpp): the squares summed by an
// fma chain over d, a correctly rounded sqrtf, and a division (not a
// multiplication by the reciprocal), so both devices give the same bits and
// the descriptors that feed the matching's tie rule agree.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
constexpr float kEps = 1e-12f;  // F.normalize's default

__global__ void normalize_kernel(const float* x, float* out, float* norm, int64_t N, int64_t D, int64_t L) {
  DCSR_GRID_STRIDE_LOOP(col, N * L) {
    const int64_t n = col / L, l = col % L;
    const float* xc = x + n * D * L + l;
    float* oc = out + n * D * L + l;
    float sq = 0.0f;
    for (int64_t d = 0; d < D; ++d) sq = fmaf(xc[d * L], xc[d * L], sq);
    const float nrm = sqrtf(sq);
    norm[col] = nrm;
    const float denom = nrm < kEps ? kEps : nrm;  // std::max(nrm, eps), NaN included
    for (int64_t d = 0; d < D; ++d) oc[d * L] = xc[d * L] / denom;
  }
}

// y = x / n with n = ||x||: dx = (g - y <y, g>) / n; where n < eps the
// denominator is the constant eps: dx = g / eps.
__global__ void normalize_backward_kernel(const float* g, const float* y, const float* norm, float* gi, int64_t N,
                                          int64_t D, int64_t L) {
  DCSR_GRID_STRIDE_LOOP(col, N * L) {
    const int64_t n = col / L, l = col % L, off = n * D * L + l;
    float dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) dot = fmaf(y[off + d * L], g[off + d * L], dot);
    const bool clamped = norm[col] < kEps;
    const float inv = 1.0f / (clamped ? kEps : norm[col]);
    if (clamped) dot = 0.0f;
    for (int64_t d = 0; d < D; ++d) gi[off + d * L] = (g[off + d * L] - y[off + d * L] * dot) * inv;
  }
}
}  // namespace

void normalize_columns(const Tensor& x, Tensor& out, Tensor& norm) {
  require_float32(x, "normalize_columns");
  const int64_t N = x.size(0), D = x.size(1), L = x.size(2);
  if (N * L == 0) return;
  normalize_kernel<<<grid_for(N * L), kBlock>>>(x.data<float>(), out.data<float>(), norm.data<float>(), N, D, L);
  DCSR_CUDA_CHECK_LAUNCH();
}

void normalize_columns_backward(const Tensor& grad_out, const Tensor& out, const Tensor& norm, Tensor& grad_in) {
  require_float32(out, "normalize_columns_backward");
  require_float32(grad_out, "normalize_columns_backward");
  const int64_t N = out.size(0), D = out.size(1), L = out.size(2);
  if (N * L == 0) return;
  normalize_backward_kernel<<<grid_for(N * L), kBlock>>>(grad_out.data<float>(), out.data<float>(),
                                                         norm.data<float>(), grad_in.data<float>(), N, D, L);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
