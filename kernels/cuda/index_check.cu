// Bounds check of device indices (see index_check.h).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/index_check.h"

namespace dcsr::kernels::cuda {

namespace {
// status[0]: 0 while every index seen is valid, 1 once one is not;
// status[1]: one offending value (the first thread to flag wins).
__global__ void check_indices_kernel(const int64_t* indices, int64_t n, int64_t size,
                                     unsigned long long* status) {
  DCSR_GRID_STRIDE_LOOP(i, n) {
    const int64_t v = indices[i];
    if (v < 0 || v >= size) {
      if (atomicCAS(status, 0ull, 1ull) == 0ull) status[1] = (unsigned long long)v;
    }
  }
}
}  // namespace

void check_indices(const int64_t* indices, int64_t n, int64_t size, const char* op, int64_t dim) {
  if (n == 0) return;
  Tensor status = empty({2}, kInt64, Device::CUDA);  // from the caching pool
  auto* flag = reinterpret_cast<unsigned long long*>(status.data<int64_t>());
  DCSR_CUDA_CHECK(cudaMemsetAsync(flag, 0, 2 * sizeof(unsigned long long), 0));
  check_indices_kernel<<<grid_for(n), kBlock>>>(indices, n, size, flag);
  DCSR_CUDA_CHECK_LAUNCH();
  unsigned long long host[2] = {0, 0};
  DCSR_CUDA_CHECK(cudaMemcpy(host, flag, sizeof(host), cudaMemcpyDeviceToHost));
  DCSR_CHECK(host[0] == 0, op, ": index ", int64_t(host[1]), " out of range for dim ", dim, " of size ", size);
}

}  // namespace dcsr::kernels::cuda
