// CUDA fill: out[...] = value, for float32, float64 and int64 (factories like
// zeros() and full() reach every dtype through it).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  DCSR_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

template <typename T>
void fill_typed(Tensor& out, T value) {
  const int64_t n = out.numel();
  if (n == 0) return;
  fill_kernel<T><<<grid_for(n), kBlock>>>(out.data<T>(), n, value);
  DCSR_CUDA_CHECK_LAUNCH();
}
}  // namespace

void fill(Tensor& out, double value) {
  switch (out.dtype()) {
    case DType::Float32: return fill_typed<float>(out, float(value));
    case DType::Float64: return fill_typed<double>(out, value);
    case DType::Int64: return fill_typed<int64_t>(out, int64_t(value));
  }
  fail("fill: unsupported dtype ", dtype_name(out.dtype()), " on cuda");
}

}  // namespace dcsr::kernels::cuda
