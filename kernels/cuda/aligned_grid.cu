// CUDA grid of the aligned sampler (dcsr-spec §5 steps 4 and 6) and its
// gradient wrt the raw predictions, float32. params: (N, 3, h, w) -> grid:
// (N, 2, h k, w k), coordinates in the mosaic padded by 1. The formulas are
// the CPU's (kernels/cpu/aligned_grid.cpp) term for term, the reference's
// literal 1.0472 rad per unit included.
// Forward: one thread per grid point. Backward: one thread per block (n, u,
// v), summing its k x k points into its own three parameters in the CPU's
// order (no atomics).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
constexpr float kRadiansPerUnit = 1.0472f;

// a = clamp(raw + 1, -3, 3) with std::min/std::max semantics; the gradient
// passes at the bounds (torch.clamp).
__device__ __forceinline__ float clamped(float raw, bool* passes) {
  const float a = raw + 1.0f;
  *passes = a >= -3.0f && a <= 3.0f;
  const float m = a < -3.0f ? -3.0f : a;
  return 3.0f < m ? 3.0f : m;
}

struct GridGeometry {
  int64_t N, h, w, k;
};

__global__ void aligned_grid_kernel(const float* params, float* grid, GridGeometry g) {
  const int64_t Ho = g.h * g.k, Wo = g.w * g.k, P = Ho * Wo;
  const float half = float(g.k - 1) / 2.0f;
  DCSR_GRID_STRIDE_LOOP(e, g.N * P) {
    const int64_t n = e / P, at = e % P, y = at / Wo, x = at % Wo;
    const int64_t u = y / g.k, a = y % g.k, v = x / g.k, b = x % g.k;
    const float* pn = params + n * 3 * g.h * g.w;
    bool pass;
    const float s_r = clamped(pn[u * g.w + v], &pass);
    const float s_c = clamped(pn[g.h * g.w + u * g.w + v], &pass);
    const float theta = (clamped(pn[2 * g.h * g.w + u * g.w + v], &pass) - 1.0f) * kRadiansPerUnit;
    const float cos_t = cosf(theta), sin_t = sinf(theta);
    const float c_r = float(g.k * u) + 1.0f + half, c_c = float(g.k * v) + 1.0f + half;
    const float o_r = float(a) - half, o_c = float(b) - half;
    const float d_r = o_r * s_r * cos_t - o_c * s_c * sin_t;
    const float d_c = o_r * s_r * sin_t + o_c * s_c * cos_t;
    grid[n * 2 * P + at] = c_r + d_r;
    grid[n * 2 * P + P + at] = c_c + d_c;
  }
}

__global__ void aligned_grid_backward_kernel(const float* params, const float* grad_grid, float* grad_params,
                                             GridGeometry g) {
  const int64_t Wo = g.w * g.k, P = g.h * g.k * Wo, hw = g.h * g.w;
  const float half = float(g.k - 1) / 2.0f;
  DCSR_GRID_STRIDE_LOOP(e, g.N * hw) {
    const int64_t n = e / hw, uv = e % hw, u = uv / g.w, v = uv % g.w;
    const float* pn = params + n * 3 * hw;
    bool pass_r, pass_c, pass_t;
    const float s_r = clamped(pn[uv], &pass_r);
    const float s_c = clamped(pn[hw + uv], &pass_c);
    const float theta = (clamped(pn[2 * hw + uv], &pass_t) - 1.0f) * kRadiansPerUnit;
    const float cos_t = cosf(theta), sin_t = sinf(theta);
    const float* grow = grad_grid + n * 2 * P;
    const float* gcol = grow + P;
    float g_sr = 0.0f, g_sc = 0.0f, g_theta = 0.0f;
    for (int64_t a = 0; a < g.k; ++a) {
      for (int64_t b = 0; b < g.k; ++b) {
        const float o_r = float(a) - half, o_c = float(b) - half;
        const int64_t at = (g.k * u + a) * Wo + g.k * v + b;
        const float gr = grow[at], gc = gcol[at];
        // P_r = c_r + o_r s_r cos - o_c s_c sin,  P_c = c_c + o_r s_r sin + o_c s_c cos
        g_sr += gr * o_r * cos_t + gc * o_r * sin_t;
        g_sc += -gr * o_c * sin_t + gc * o_c * cos_t;
        g_theta += gr * (-o_r * s_r * sin_t - o_c * s_c * cos_t) + gc * (o_r * s_r * cos_t - o_c * s_c * sin_t);
      }
    }
    float* gn = grad_params + n * 3 * hw;
    gn[uv] = pass_r ? g_sr : 0.0f;
    gn[hw + uv] = pass_c ? g_sc : 0.0f;
    gn[2 * hw + uv] = pass_t ? g_theta * kRadiansPerUnit : 0.0f;
  }
}
}  // namespace

void aligned_grid(const Tensor& params, int64_t block, Tensor& grid) {
  require_float32(params, "aligned_grid");
  const GridGeometry g{params.size(0), params.size(2), params.size(3), block};
  if (grid.numel() == 0) return;
  aligned_grid_kernel<<<grid_for(grid.numel() / 2), kBlock>>>(params.data<float>(), grid.data<float>(), g);
  DCSR_CUDA_CHECK_LAUNCH();
}

void aligned_grid_backward(const Tensor& params, const Tensor& grad_grid, int64_t block, Tensor& grad_params) {
  require_float32(params, "aligned_grid_backward");
  require_float32(grad_grid, "aligned_grid_backward");
  const GridGeometry g{params.size(0), params.size(2), params.size(3), block};
  if (grad_params.numel() == 0) return;
  aligned_grid_backward_kernel<<<grid_for(g.N * g.h * g.w), kBlock>>>(params.data<float>(), grad_grid.data<float>(),
                                                                      grad_params.data<float>(), g);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
