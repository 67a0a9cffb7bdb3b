// CUDA max / min along one dim with the FIRST index among equal extremes
// (PyTorch's rule, as kernels/cpu/reduce.cpp), float32 values, int64 indices.
//
// x is viewed as (outer, D, inner). Two layouts:
//   * inner > 1: one thread per output (o, i) scans d = 0..D-1 in order;
//     warp neighbours take neighbouring i, so every load is coalesced, and a
//     strictly-better test keeps the first extreme as the CPU does;
//   * inner = 1 (along the last dim): one WARP per output. Lane l scans
//     d = l, l + 32, ... keeping its first extreme, then the 32 candidates are
//     combined by shuffles with an order that is total and equal to the
//     sequential scan's: NaN beats any number (PyTorch propagates NaN), a
//     better value wins, and among equal values (or two NaNs) the smaller
//     index wins. So the result does not depend on the combining order.
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
// True when candidate (v, i) must replace (best, best_i): the total order above.
__device__ __forceinline__ bool beats(float v, int64_t i, float best, int64_t best_i, bool take_min) {
  const bool nan_v = isnan(v), nan_b = isnan(best);
  if (nan_v != nan_b) return nan_v;
  if (nan_v || v == best) return i < best_i;
  return take_min ? v < best : v > best;
}

__global__ void max_strided_kernel(const float* x, float* values, int64_t* indices, int64_t outer, int64_t length,
                                   int64_t inner, bool take_min) {
  DCSR_GRID_STRIDE_LOOP(j, outer * inner) {
    const int64_t o = j / inner, i = j % inner;
    const float* p = x + o * length * inner + i;
    float best = p[0];
    int64_t best_index = 0;
    for (int64_t d = 1; d < length; ++d) {
      const float v = p[d * inner];
      if (beats(v, d, best, best_index, take_min)) best = v, best_index = d;
    }
    values[j] = best;
    indices[j] = best_index;
  }
}

__global__ void max_rows_kernel(const float* x, float* values, int64_t* indices, int64_t rows, int64_t length,
                                bool take_min) {
  const int lane = threadIdx.x & 31;
  const int64_t warp = global_thread() >> 5, warps = grid_threads() >> 5;
  for (int64_t row = warp; row < rows; row += warps) {  // uniform per warp: shuffles below are safe
    const float* p = x + row * length;
    float best = 0.0f;
    int64_t best_index = -1;  // -1: this lane saw nothing (length < 32)
    for (int64_t d = lane; d < length; d += 32) {
      const float v = p[d];
      if (best_index < 0 || beats(v, d, best, best_index, take_min)) best = v, best_index = d;
    }
    for (int delta = 16; delta > 0; delta >>= 1) {
      const float other = __shfl_down_sync(0xffffffffu, best, delta);
      const int64_t other_index = __shfl_down_sync(0xffffffffu, best_index, delta);
      if (other_index >= 0 && (best_index < 0 || beats(other, other_index, best, best_index, take_min)))
        best = other, best_index = other_index;
    }
    if (lane == 0) {
      values[row] = best;
      indices[row] = best_index;
    }
  }
}
}  // namespace

void max_along(const Tensor& x, int64_t dim, bool take_min, Tensor& values, Tensor& indices) {
  const char* name = take_min ? "min" : "max";
  require_float32(x, name);
  require_float32(values, name);
  DCSR_CHECK(indices.dtype() == DType::Int64, name, ": indices must be int64");
  const int64_t length = x.shape()[size_t(dim)];
  DCSR_CHECK(length > 0, name, ": reduction over an empty dim of ", shape_str(x.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.shape()[size_t(d)];
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[size_t(d)];
  if (outer * inner == 0) return;
  if (inner == 1 && length > 1) {
    // 8 warps per block; one warp per row.
    max_rows_kernel<<<grid_for(outer * 32, 256), 256>>>(x.data<float>(), values.data<float>(),
                                                         indices.data<int64_t>(), outer, length, take_min);
  } else {
    max_strided_kernel<<<grid_for(outer * inner), kBlock>>>(x.data<float>(), values.data<float>(),
                                                           indices.data<int64_t>(), outer, length, inner, take_min);
  }
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
