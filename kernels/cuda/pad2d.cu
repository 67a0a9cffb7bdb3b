// CUDA 2-D padding of the last two dims and its gradient, float32.
// pads = {left, right, top, bottom}; x: (..., H, W), out: (..., H+t+b, W+l+r).
//
// Forward: one thread per output element reads its source (constant value
// outside, or the mirrored position; ReflectionPad2d mirrors without
// repeating the edge: padded coordinate p < 0 reads -p, p >= size reads
// 2 (size - 1) - p; every pad is < size, so one mirror suffices).
//
// Backward, race-free without atomics: one thread per INPUT element gathers
// every output position that copied it. Along one axis, input coordinate s
// (0 <= s < size) is read by the padded coordinates
//   p = s                        (always),
//   p = -s                       (left/top mirror: needs 0 < s <= pad_before),
//   p = 2 (size - 1) - s         (right/bottom mirror: needs s <= size - 2 so
//                                 that p >= size, and p < size + pad_after),
// three distinct values at most, so an input element sums at most 3 x 3
// output gradients. Constant padding only has the first.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/reflect_index.h"

namespace dcsr::kernels::cuda {

namespace {
__global__ void pad2d_kernel(const float* x, float* out, int64_t planes, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                             int64_t left, int64_t top, bool reflect_mode, float value) {
  DCSR_GRID_STRIDE_LOOP(e, planes * Ho * Wo) {
    const int64_t j = e % Wo, i = (e / Wo) % Ho, plane = e / (Ho * Wo);
    int64_t si = i - top, sj = j - left;
    if (reflect_mode) {
      si = reflect_index(si, H);
      sj = reflect_index(sj, W);
    } else if (si < 0 || si >= H || sj < 0 || sj >= W) {
      out[e] = value;
      continue;
    }
    out[e] = x[(plane * H + si) * W + sj];
  }
}

// The padded coordinates (at most 3) that read input coordinate s; returns how many.
__device__ __forceinline__ int sources(int64_t s, int64_t size, int64_t before, int64_t after, bool reflect_mode,
                                       int64_t p[3]) {
  int count = 0;
  p[count++] = s;
  if (reflect_mode) {
    if (s > 0 && s <= before) p[count++] = -s;
    const int64_t mirrored = 2 * (size - 1) - s;
    if (s <= size - 2 && mirrored < size + after) p[count++] = mirrored;
  }
  return count;
}

__global__ void pad2d_backward_kernel(const float* grad_out, float* grad_in, int64_t planes, int64_t H, int64_t W,
                                      int64_t Ho, int64_t Wo, int64_t left, int64_t right, int64_t top, int64_t bottom,
                                      bool reflect_mode) {
  DCSR_GRID_STRIDE_LOOP(e, planes * H * W) {
    const int64_t sj = e % W, si = (e / W) % H, plane = e / (H * W);
    int64_t rows[3], cols[3];
    const int n_rows = sources(si, H, top, bottom, reflect_mode, rows);
    const int n_cols = sources(sj, W, left, right, reflect_mode, cols);
    const float* g = grad_out + plane * Ho * Wo;
    float acc = 0.0f;
    for (int a = 0; a < n_rows; ++a)
      for (int b = 0; b < n_cols; ++b) acc += g[(rows[a] + top) * Wo + (cols[b] + left)];
    grad_in[e] = acc;
  }
}
}  // namespace

void pad2d(const Tensor& x, Tensor& out, const std::array<int64_t, 4>& pads, PadMode mode, double value) {
  require_float32(x, "pad2d");
  require_float32(out, "pad2d");
  const int64_t H = x.size(-2), W = x.size(-1), Ho = out.size(-2), Wo = out.size(-1);
  // From the output: an empty input plane (H or W 0) still pads to a full one (constant mode).
  const int64_t planes = Ho * Wo == 0 ? 0 : out.numel() / (Ho * Wo);
  if (planes == 0) return;
  DCSR_CHECK(mode != PadMode::Reflect || (H > 0 && W > 0), "pad2d: reflecting an empty input ", shape_str(x.shape()));
  pad2d_kernel<<<grid_for(planes * Ho * Wo), kBlock>>>(x.data<float>(), out.data<float>(), planes, H, W, Ho, Wo,
                                                       pads[0], pads[2], mode == PadMode::Reflect, float(value));
  DCSR_CUDA_CHECK_LAUNCH();
}

void pad2d_backward(const Tensor& grad_out, Tensor& grad_in, const std::array<int64_t, 4>& pads, PadMode mode) {
  require_float32(grad_out, "pad2d_backward");
  require_float32(grad_in, "pad2d_backward");
  const int64_t H = grad_in.size(-2), W = grad_in.size(-1), Ho = grad_out.size(-2), Wo = grad_out.size(-1);
  const int64_t n = grad_in.numel();
  if (n == 0) return;
  const int64_t planes = n / (H * W);
  pad2d_backward_kernel<<<grid_for(n), kBlock>>>(grad_out.data<float>(), grad_in.data<float>(), planes, H, W, Ho, Wo,
                                                 pads[0], pads[1], pads[2], pads[3], mode == PadMode::Reflect);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
