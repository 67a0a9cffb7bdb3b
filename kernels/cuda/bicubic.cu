// CUDA bicubic resampling with PyTorch's semantics (upsample_bicubic2d: A =
// -0.75, taps floor(src) - 1 .. floor(src) + 2 clamped to the image) and its
// adjoint, float32. x: (N, C, H, W); y: (N, C, Ho, Wo).
//
// Forward: one thread per output value computes its 4 + 4 taps and sums the
// 4 x 4 neighbourhood, rows first and then columns, the order of the CPU
// kernel (kernels/cpu/bicubic.cpp), with the source coordinate computed by
// the same float expression. Should the two compilers round it differently
// (one FMA or two roundings) and floor(src) land on different sides of an
// integer, nothing visible changes: the cubic interpolant is continuous in
// src, so the two tap sets give the same value up to rounding.
//
// Backward: one thread per output gradient adds its 16 weighted shares into
// grad_x with atomicAdd (grad_x is zeroed first). Clamped taps make the
// inverse map irregular at the borders, so a gather would need per-pixel tap
// lists; the atomics are L2-resident and few (16 per output value).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {

struct Axis {
  int64_t in, out;
  float scale;
  bool align_corners;
};

Axis make_axis(int64_t in, int64_t out, bool align_corners) {
  // As the CPU: the ratio in float, from the integer sizes.
  const float scale = align_corners ? (out > 1 ? float(in - 1) / float(out - 1) : 0.0f) : float(in) / float(out);
  return {in, out, scale, align_corners};
}

__device__ __forceinline__ float cubic_near(float x) {  // |x| <= 1
  const float A = -0.75f;
  return ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
}
__device__ __forceinline__ float cubic_far(float x) {  // 1 < |x| < 2
  const float A = -0.75f;
  return ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
}

// The four taps of output position o along one axis.
__device__ __forceinline__ void taps(const Axis& a, int64_t o, int64_t index[4], float weight[4]) {
  const float src = a.align_corners ? a.scale * float(o) : a.scale * (float(o) + 0.5f) - 0.5f;
  const float floor_src = floorf(src);
  const float t = src - floor_src;
  const int64_t base = int64_t(floor_src) - 1;
  weight[0] = cubic_far(t + 1.0f);
  weight[1] = cubic_near(t);
  weight[2] = cubic_near(1.0f - t);
  weight[3] = cubic_far(2.0f - t);
  for (int m = 0; m < 4; ++m) index[m] = min(max(base + m, int64_t(0)), a.in - 1);
}

// Output value e of (planes, Ho, Wo): its plane and the taps of its row and
// column, the 4 x 4 input neighbourhood it reads (forward) or feeds (backward).
struct Neighbourhood {
  int64_t plane;
  int64_t iy[4], ix[4];
  float wy[4], wx[4];
};

__device__ __forceinline__ Neighbourhood neighbourhood(int64_t e, const Axis& rows, const Axis& cols) {
  const int64_t Ho = rows.out, Wo = cols.out;
  const int64_t ox = e % Wo, oy = (e / Wo) % Ho;
  Neighbourhood nb;
  nb.plane = e / (Ho * Wo);
  taps(rows, oy, nb.iy, nb.wy);
  taps(cols, ox, nb.ix, nb.wx);
  return nb;
}

__global__ void bicubic_forward_kernel(const float* x, float* y, int64_t planes, Axis rows, Axis cols) {
  const int64_t W = cols.in;
  DCSR_GRID_STRIDE_LOOP(e, planes * rows.out * cols.out) {
    const Neighbourhood nb = neighbourhood(e, rows, cols);
    const int64_t* iy = nb.iy;
    const float* wy = nb.wy;
    const float* p = x + nb.plane * rows.in * W;
    float out = 0.0f;
    for (int n = 0; n < 4; ++n) {
      // The H-interpolated value at column ix[n], as the CPU's row buffer holds it.
      const int64_t ix = nb.ix[n];
      const float col = p[iy[0] * W + ix] * wy[0] + p[iy[1] * W + ix] * wy[1] + p[iy[2] * W + ix] * wy[2] +
                        p[iy[3] * W + ix] * wy[3];
      out += col * nb.wx[n];
    }
    y[e] = out;
  }
}

__global__ void bicubic_backward_kernel(const float* gy, float* gx, int64_t planes, Axis rows, Axis cols) {
  const int64_t W = cols.in;
  DCSR_GRID_STRIDE_LOOP(e, planes * rows.out * cols.out) {
    const Neighbourhood nb = neighbourhood(e, rows, cols);
    float* p = gx + nb.plane * rows.in * W;
    const float g = gy[e];
    for (int m = 0; m < 4; ++m)
      for (int n = 0; n < 4; ++n) atomicAdd(p + nb.iy[m] * W + nb.ix[n], nb.wy[m] * (nb.wx[n] * g));
  }
}

}  // namespace

void bicubic_forward(const Tensor& x, Tensor& y, bool align_corners) {
  require_float32(x, "bicubic_forward");
  require_float32(y, "bicubic_forward");
  const int64_t planes = x.size(0) * x.size(1);
  if (y.numel() == 0) return;
  bicubic_forward_kernel<<<grid_for(y.numel()), kBlock>>>(x.data<float>(), y.data<float>(), planes,
                                                          make_axis(x.size(2), y.size(2), align_corners),
                                                          make_axis(x.size(3), y.size(3), align_corners));
  DCSR_CUDA_CHECK_LAUNCH();
}

void bicubic_backward(const Tensor& grad_y, Tensor& grad_x, bool align_corners) {
  require_float32(grad_y, "bicubic_backward");
  require_float32(grad_x, "bicubic_backward");
  fill(grad_x, 0.0);
  const int64_t planes = grad_x.size(0) * grad_x.size(1);
  if (grad_y.numel() == 0) return;
  bicubic_backward_kernel<<<grid_for(grad_y.numel()), kBlock>>>(grad_y.data<float>(), grad_x.data<float>(), planes,
                                                                make_axis(grad_x.size(2), grad_y.size(2), align_corners),
                                                                make_axis(grad_x.size(3), grad_y.size(3), align_corners));
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
