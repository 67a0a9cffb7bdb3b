// CUDA antialiased bicubic resize in the style of MATLAB's imresize (for
// making datasets; not differentiable), float32. x: (N, C, H, W); y: (N, C,
// Ho, Wo). The per-axis tap tables (index and normalised weight of every
// contribution) are computed on the host by the CPU kernel's code
// (kernels/resize_taps.h) and copied to the device; the resampling is
// separable: along H into a (planes, Ho, W) buffer, then along W, the CPU's
// order.
#include <vector>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/resize_taps.h"

namespace dcsr::kernels::cuda {

namespace {

// Device copies of one axis's tables: index (out, taps) int64, weight (out, taps) float.
struct Table {
  Tensor index, weight;
  int64_t taps = 0;
};

Table contributions(int64_t in, int64_t out) {
  const int64_t taps = resize_taps::count(in, out);
  std::vector<int64_t> index(size_t(out * taps));
  std::vector<float> weight(size_t(out * taps));
  resize_taps::fill(in, out, index.data(), weight.data());
  return {from_vector(index, {out, taps}, kInt64, Device::CUDA), from_vector(weight, {out, taps}, kFloat32, Device::CUDA),
          taps};
}

// tmp[plane][oy][ix] = sum_j wy_j x[plane][iy_j][ix]   (zero weights skipped, as the CPU)
__global__ void resize_rows_kernel(const float* x, float* tmp, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                                   const int64_t* index, const float* weight, int64_t taps) {
  DCSR_GRID_STRIDE_LOOP(e, planes * Ho * W) {
    const int64_t ix = e % W, oy = (e / W) % Ho, plane = e / (Ho * W);
    const float* p = x + plane * H * W + ix;
    float acc = 0.0f;
    for (int64_t j = 0; j < taps; ++j) {
      const float w = weight[oy * taps + j];
      if (w == 0.0f) continue;
      acc += w * p[index[oy * taps + j] * W];
    }
    tmp[e] = acc;
  }
}

// y[plane][oy][ox] = sum_j wx_j tmp[plane][oy][ix_j]
__global__ void resize_cols_kernel(const float* tmp, float* y, int64_t rows, int64_t W, int64_t Wo,
                                   const int64_t* index, const float* weight, int64_t taps) {
  DCSR_GRID_STRIDE_LOOP(e, rows * Wo) {
    const int64_t ox = e % Wo, row = e / Wo;
    const float* t = tmp + row * W;
    float acc = 0.0f;
    for (int64_t j = 0; j < taps; ++j) acc += weight[ox * taps + j] * t[index[ox * taps + j]];
    y[e] = acc;
  }
}

}  // namespace

void resize_antialias(const Tensor& x, Tensor& y) {
  require_float32(x, "resize_antialias");
  require_float32(y, "resize_antialias");
  const int64_t H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
  const int64_t planes = x.size(0) * x.size(1);
  if (y.numel() == 0) return;
  const Table rows = contributions(H, Ho), cols = contributions(W, Wo);
  Tensor tmp = empty({planes, Ho, W}, kFloat32, Device::CUDA);
  resize_rows_kernel<<<grid_for(tmp.numel()), kBlock>>>(x.data<float>(), tmp.data<float>(), planes, H, W, Ho,
                                                       rows.index.data<int64_t>(), rows.weight.data<float>(),
                                                       rows.taps);
  DCSR_CUDA_CHECK_LAUNCH();
  resize_cols_kernel<<<grid_for(y.numel()), kBlock>>>(tmp.data<float>(), y.data<float>(), planes * Ho, W, Wo,
                                                     cols.index.data<int64_t>(), cols.weight.data<float>(), cols.taps);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
