// CUDA copy_slice (float32 and int64): along `dim`,
//   dst[.., dst_start + i, ..] (+)= src[.., src_start + i, ..]  for i < length.
// Both tensors are viewed as (outer, dim, inner); the slice is, for each outer
// index, one contiguous run of length * inner elements in each tensor. One
// thread per element of the slice; no two threads write the same element, so
// accumulate needs no atomics.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename T>
__global__ void copy_slice_kernel(const T* src, T* dst, int64_t outer, int64_t run, int64_t src_row, int64_t dst_row,
                                  int64_t src_begin, int64_t dst_begin, bool accumulate) {
  DCSR_GRID_STRIDE_LOOP(e, outer * run) {
    const int64_t o = e / run, j = e - o * run;
    const T v = src[o * src_row + src_begin + j];
    T& target = dst[o * dst_row + dst_begin + j];
    if (accumulate) target += v;
    else target = v;
  }
}
}  // namespace

void copy_slice(const Tensor& src, Tensor& dst, int64_t dim, int64_t src_start, int64_t dst_start, int64_t length,
                bool accumulate) {
  DCSR_CHECK(src.dtype() == dst.dtype(), "copy_slice: dtypes ", dtype_name(src.dtype()), " and ",
             dtype_name(dst.dtype()), " differ");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= src.shape()[size_t(d)];
  for (int64_t d = dim + 1; d < src.dim(); ++d) inner *= src.shape()[size_t(d)];
  const int64_t src_dim = src.shape()[size_t(dim)], dst_dim = dst.shape()[size_t(dim)];
  const int64_t run = length * inner;
  if (outer * run == 0) return;
  dispatch_float32_or_int64(src, "copy_slice", [&](auto zero) {
    using T = decltype(zero);
    copy_slice_kernel<T><<<grid_for(outer * run), kBlock>>>(src.data<T>(), dst.data<T>(), outer, run,
                                                            src_dim * inner, dst_dim * inner, src_start * inner,
                                                            dst_start * inner, accumulate);
    DCSR_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace dcsr::kernels::cuda
