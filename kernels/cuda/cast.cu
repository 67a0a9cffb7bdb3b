// CUDA cast between float32, float64 and int64. Tensor::to_vector() of a
// CUDA tensor converts on the device before the copy to the host, so every
// pair is supported, not only float32 ones. Float to int64 truncates toward
// zero, as the CPU's static_cast does.
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename S, typename D>
__global__ void cast_kernel(const S* src, D* dst, int64_t n) {
  DCSR_GRID_STRIDE_LOOP(i, n) dst[i] = D(src[i]);
}

template <typename S, typename D>
void cast_typed(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  const S* s = src.data<S>();
  D* d = dst.data<D>();
  if constexpr (std::is_same_v<S, D>) {
    if (static_cast<const void*>(s) != static_cast<void*>(d))
      DCSR_CUDA_CHECK(cudaMemcpyAsync(d, s, dst.nbytes(), cudaMemcpyDeviceToDevice, 0));
  } else {
    cast_kernel<S, D><<<grid_for(n), kBlock>>>(s, d, n);
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

template <typename S>
void cast_from(const Tensor& src, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::Float32: return cast_typed<S, float>(src, dst);
    case DType::Float64: return cast_typed<S, double>(src, dst);
    case DType::Int64: return cast_typed<S, int64_t>(src, dst);
  }
  fail("cast: unsupported dtype ", dtype_name(dst.dtype()), " on cuda");
}
}  // namespace

void cast(const Tensor& src, Tensor& dst) {
  DCSR_CHECK(src.numel() == dst.numel(), "cast: ", shape_str(src.shape()), " into ", shape_str(dst.shape()));
  DCSR_CHECK(src.device() == Device::CUDA && dst.device() == Device::CUDA, "cast: both tensors must be on cuda");
  if (src.numel() == 0) return;
  switch (src.dtype()) {
    case DType::Float32: return cast_from<float>(src, dst);
    case DType::Float64: return cast_from<double>(src, dst);
    case DType::Int64: return cast_from<int64_t>(src, dst);
  }
  fail("cast: unsupported dtype ", dtype_name(src.dtype()), " on cuda");
}

}  // namespace dcsr::kernels::cuda
