// The aligned sampler's per-block grid (dcsr-spec §5 steps 4 and 6) and its
// gradient wrt the raw predictions.
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"

namespace dcsr::kernels::cpu {

namespace {
// The reference multiplies by the literal 1.0472, not by pi / 3.
constexpr double kRadiansPerUnit = 1.0472;

// a = clamp(raw + 1, -3, 3); its gradient passes at the bounds (torch.clamp).
template <typename T>
inline T clamped(T raw, bool* passes) {
  const T a = raw + T(1);
  *passes = a >= T(-3) && a <= T(3);
  return std::min(std::max(a, T(-3)), T(3));
}

// Block (u, v)'s transform from its three raw predictions (planes of pn,
// each h x w): the row and column scales and the rotation's cos and sin,
// with whether each clamp passes its gradient.
template <typename T>
struct BlockTransform {
  T s_r, s_c, cos_t, sin_t;
  bool pass_r, pass_c, pass_t;
};

template <typename T>
BlockTransform<T> block_transform(const T* pn, int64_t h, int64_t w, int64_t u, int64_t v) {
  BlockTransform<T> t;
  t.s_r = clamped(pn[u * w + v], &t.pass_r);
  t.s_c = clamped(pn[h * w + u * w + v], &t.pass_c);
  const T theta = (clamped(pn[2 * h * w + u * w + v], &t.pass_t) - T(1)) * T(kRadiansPerUnit);
  t.cos_t = std::cos(theta);
  t.sin_t = std::sin(theta);
  return t;
}

template <typename T>
void aligned_grid_typed(const Tensor& params, int64_t k, Tensor& grid) {
  const int64_t N = params.size(0), h = params.size(2), w = params.size(3);
  const int64_t Ho = h * k, Wo = w * k, P = Ho * Wo;
  const T* pd = params.data<T>();
  T* gd = grid.data<T>();
  const T half = T(k - 1) / T(2);
  parallel_for(N * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / h, u = job % h;
      const T* pn = pd + n * 3 * h * w;
      T* rows = gd + n * 2 * P;
      T* cols = rows + P;
      for (int64_t v = 0; v < w; ++v) {
        const BlockTransform<T> t = block_transform(pn, h, w, u, v);
        const T s_r = t.s_r, s_c = t.s_c, cos_t = t.cos_t, sin_t = t.sin_t;
        // Block centre in the mosaic padded by 1: k u + 1 + (k - 1) / 2.
        const T c_r = T(k * u) + T(1) + half, c_c = T(k * v) + T(1) + half;
        for (int64_t a = 0; a < k; ++a) {
          for (int64_t b = 0; b < k; ++b) {
            const T o_r = T(a) - half, o_c = T(b) - half;
            // Row vector (o_r s_r, o_c s_c) times [[cos, sin], [-sin, cos]],
            // each product in the reference's order.
            const T d_r = o_r * s_r * cos_t - o_c * s_c * sin_t;
            const T d_c = o_r * s_r * sin_t + o_c * s_c * cos_t;
            const int64_t at = (k * u + a) * Wo + k * v + b;
            rows[at] = c_r + d_r;
            cols[at] = c_c + d_c;
          }
        }
      }
    }
  });
}

template <typename T>
void aligned_grid_backward_typed(const Tensor& params, const Tensor& grad_grid, int64_t k, Tensor& grad_params) {
  const int64_t N = params.size(0), h = params.size(2), w = params.size(3);
  const int64_t Ho = h * k, Wo = w * k, P = Ho * Wo;
  const T* pd = params.data<T>();
  const T* gg = grad_grid.data<T>();
  T* gp = grad_params.data<T>();
  const T half = T(k - 1) / T(2);
  // One block per (n, u, v): its k x k points sum into its own 3 parameters.
  parallel_for(N * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / h, u = job % h;
      const T* pn = pd + n * 3 * h * w;
      T* gn = gp + n * 3 * h * w;
      const T* grow = gg + n * 2 * P;
      const T* gcol = grow + P;
      for (int64_t v = 0; v < w; ++v) {
        const BlockTransform<T> t = block_transform(pn, h, w, u, v);
        const T s_r = t.s_r, s_c = t.s_c, cos_t = t.cos_t, sin_t = t.sin_t;
        T g_sr = 0, g_sc = 0, g_theta = 0;
        for (int64_t a = 0; a < k; ++a) {
          for (int64_t b = 0; b < k; ++b) {
            const T o_r = T(a) - half, o_c = T(b) - half;
            const int64_t at = (k * u + a) * Wo + k * v + b;
            const T gr = grow[at], gc = gcol[at];
            // P_r = c_r + o_r s_r cos - o_c s_c sin,  P_c = c_c + o_r s_r sin + o_c s_c cos
            g_sr += gr * o_r * cos_t + gc * o_r * sin_t;
            g_sc += -gr * o_c * sin_t + gc * o_c * cos_t;
            g_theta += gr * (-o_r * s_r * sin_t - o_c * s_c * cos_t) + gc * (o_r * s_r * cos_t - o_c * s_c * sin_t);
          }
        }
        gn[u * w + v] = t.pass_r ? g_sr : T(0);
        gn[h * w + u * w + v] = t.pass_c ? g_sc : T(0);
        gn[2 * h * w + u * w + v] = t.pass_t ? g_theta * T(kRadiansPerUnit) : T(0);
      }
    }
  });
}
}  // namespace

void aligned_grid(const Tensor& params, int64_t block, Tensor& grid) {
  dispatch_floating(params.dtype(), "aligned_grid",
                    [&](auto zero) { aligned_grid_typed<decltype(zero)>(params, block, grid); });
}

void aligned_grid_backward(const Tensor& params, const Tensor& grad_grid, int64_t block, Tensor& grad_params) {
  dispatch_floating(params.dtype(), "aligned_grid_backward", [&](auto zero) {
    aligned_grid_backward_typed<decltype(zero)>(params, grad_grid, block, grad_params);
  });
}

}  // namespace dcsr::kernels::cpu
