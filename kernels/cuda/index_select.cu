// CUDA index_select (float32, int64) and its adjoint index_add (float32).
// x is viewed as (outer, size, inner) around `dim`, the output / source as
// (outer, count, inner) with count = index.numel():
//   index_select: out[q, l, c]  = x[q, index[l], c]
//   index_add:    out[q, index[l], c] += src[q, l, c]
// One thread per (q, l, c), c fastest, so a warp moves consecutive elements
// of one row. Repeated indices make index_add threads collide on one output
// element: atomicAdd (float32 atomics are native; the summation order, and so
// the last bits, may change from run to run).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/index_check.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename T>
__global__ void index_select_kernel(const T* x, const int64_t* index, T* out, int64_t outer, int64_t count,
                                    int64_t size, int64_t inner) {
  DCSR_GRID_STRIDE_LOOP(e, outer * count * inner) {
    const int64_t c = e % inner, l = (e / inner) % count, q = e / (inner * count);
    out[e] = x[(q * size + index[l]) * inner + c];
  }
}

__global__ void index_add_kernel(float* out, const int64_t* index, const float* src, int64_t outer, int64_t count,
                                 int64_t size, int64_t inner) {
  DCSR_GRID_STRIDE_LOOP(e, outer * count * inner) {
    const int64_t c = e % inner, l = (e / inner) % count, q = e / (inner * count);
    atomicAdd(out + (q * size + index[l]) * inner + c, src[e]);
  }
}

void split(const Shape& shape, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
}
}  // namespace

void index_select(const Tensor& x, int64_t dim, const Tensor& index, Tensor& out) {
  DCSR_CHECK(index.dtype() == DType::Int64, "index_select: index must be int64");
  int64_t outer, inner;
  split(x.shape(), dim, outer, inner);
  const int64_t size = x.shape()[size_t(dim)], count = index.numel();
  check_indices(index.data<int64_t>(), count, size, "index_select", dim);
  if (outer * count * inner == 0) return;
  dispatch_float32_or_int64(x, "index_select", [&](auto zero) {
    using T = decltype(zero);
    index_select_kernel<T><<<grid_for(outer * count * inner), kBlock>>>(x.data<T>(), index.data<int64_t>(),
                                                                        out.data<T>(), outer, count, size, inner);
    DCSR_CUDA_CHECK_LAUNCH();
  });
}

void index_add(Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  require_float32(out, "index_add");
  require_float32(src, "index_add");
  DCSR_CHECK(index.dtype() == DType::Int64, "index_add: index must be int64");
  int64_t outer, inner;
  split(out.shape(), dim, outer, inner);
  const int64_t size = out.shape()[size_t(dim)], count = index.numel();
  check_indices(index.data<int64_t>(), count, size, "index_add", dim);
  if (outer * count * inner == 0) return;
  index_add_kernel<<<grid_for(outer * count * inner), kBlock>>>(out.data<float>(), index.data<int64_t>(),
                                                                src.data<float>(), outer, count, size, inner);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
