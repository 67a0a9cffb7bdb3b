// CUDA pooling over kernel x kernel windows, stride = kernel, no padding,
// floor mode, float32. x: (N, C, H, W); y: (N, C, H/kernel, W/kernel).
// Each forward output and each backward input pixel is one thread; sums and
// comparisons run in the CPU kernel's order (kernels/cpu/pool.cpp): window
// rows outer, columns inner; the average divides by kernel^2 (not a multiply
// by its reciprocal, as PyTorch); the maximum keeps the FIRST of equal values
// in row-major window order, and a NaN beats any number.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {

__global__ void avg_pool_forward_kernel(const float* x, float* y, int64_t n, int64_t H, int64_t W, int64_t Ho,
                                        int64_t Wo, int64_t k) {
  const float count = float(k * k);
  DCSR_GRID_STRIDE_LOOP(e, n) {
    const int64_t ox = e % Wo, oy = (e / Wo) % Ho, plane = e / (Ho * Wo);
    const float* p = x + (plane * H + oy * k) * W + ox * k;
    float acc = 0.0f;
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) acc += p[ky * W + kx];
    y[e] = acc / count;
  }
}

// grad_x pixel = its window's grad_y / kernel^2, or 0 past the last window.
__global__ void avg_pool_backward_kernel(const float* gy, float* gx, int64_t n, int64_t H, int64_t W, int64_t Ho,
                                         int64_t Wo, int64_t k) {
  const float count = float(k * k);
  DCSR_GRID_STRIDE_LOOP(e, n) {
    const int64_t ix = e % W, iy = (e / W) % H, plane = e / (H * W);
    const int64_t oy = iy / k, ox = ix / k;
    gx[e] = (oy < Ho && ox < Wo) ? gy[(plane * Ho + oy) * Wo + ox] / count : 0.0f;
  }
}

__global__ void max_pool_forward_kernel(const float* x, float* y, int64_t* indices, int64_t n, int64_t H, int64_t W,
                                        int64_t Ho, int64_t Wo, int64_t k) {
  DCSR_GRID_STRIDE_LOOP(e, n) {
    const int64_t ox = e % Wo, oy = (e / Wo) % Ho, plane = e / (Ho * Wo);
    const float* p = x + plane * H * W;
    int64_t best = oy * k * W + ox * k;
    float best_value = p[best];
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) {
        const int64_t at = (oy * k + ky) * W + ox * k + kx;
        const float v = p[at];
        if (v > best_value || (isnan(v) && !isnan(best_value))) {
          best_value = v;
          best = at;
        }
      }
    y[e] = best_value;
    if (indices != nullptr) indices[e] = best;
  }
}

// grad_x[plane][indices[e]] += grad_y[e]: windows do not overlap, but the
// kernel accepts any index tensor, so the adds are atomic.
__global__ void max_pool_backward_kernel(const float* gy, const int64_t* indices, float* gx, int64_t n, int64_t HW,
                                         int64_t HoWo) {
  DCSR_GRID_STRIDE_LOOP(e, n) atomicAdd(gx + (e / HoWo) * HW + indices[e], gy[e]);
}

}  // namespace

void avg_pool2d_forward(const Tensor& x, Tensor& y, int64_t kernel) {
  require_float32(x, "avg_pool2d_forward");
  require_float32(y, "avg_pool2d_forward");
  if (y.numel() == 0) return;
  avg_pool_forward_kernel<<<grid_for(y.numel()), kBlock>>>(x.data<float>(), y.data<float>(), y.numel(), x.size(2),
                                                           x.size(3), y.size(2), y.size(3), kernel);
  DCSR_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x, int64_t kernel) {
  require_float32(grad_y, "avg_pool2d_backward");
  require_float32(grad_x, "avg_pool2d_backward");
  if (grad_x.numel() == 0) return;
  avg_pool_backward_kernel<<<grid_for(grad_x.numel()), kBlock>>>(grad_y.data<float>(), grad_x.data<float>(),
                                                                 grad_x.numel(), grad_x.size(2), grad_x.size(3),
                                                                 grad_y.size(2), grad_y.size(3), kernel);
  DCSR_CUDA_CHECK_LAUNCH();
}

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, int64_t kernel) {
  require_float32(x, "max_pool2d_forward");
  require_float32(y, "max_pool2d_forward");
  DCSR_CHECK(!indices.defined() || indices.dtype() == DType::Int64, "max_pool2d_forward: indices must be int64");
  if (y.numel() == 0) return;
  int64_t* index_out = indices.defined() ? indices.data<int64_t>() : nullptr;  // undefined: values only
  max_pool_forward_kernel<<<grid_for(y.numel()), kBlock>>>(x.data<float>(), y.data<float>(), index_out,
                                                           y.numel(), x.size(2), x.size(3), y.size(2), y.size(3),
                                                           kernel);
  DCSR_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x) {
  require_float32(grad_y, "max_pool2d_backward");
  require_float32(grad_x, "max_pool2d_backward");
  const int64_t HW = grad_x.size(2) * grad_x.size(3), HoWo = grad_y.size(2) * grad_y.size(3);
  // The indices come from max_pool2d_forward and are trusted, as on the CPU
  // (checking them would cost a device-to-host synchronisation per call).
  fill(grad_x, 0.0);
  if (grad_y.numel() == 0) return;
  max_pool_backward_kernel<<<grid_for(grad_y.numel()), kBlock>>>(grad_y.data<float>(), indices.data<int64_t>(),
                                                                 grad_x.data<float>(), grad_y.numel(), HW, HoWo);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
