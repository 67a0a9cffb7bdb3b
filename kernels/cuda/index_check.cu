// Bounds checks of device indices (see index_check.h).
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/index_check.h"

namespace dcsr::kernels::cuda {

namespace {
// *first = min over the bad positions (starts at ULLONG_MAX: all bytes 0xff).
__global__ void find_bad_index_kernel(const int64_t* indices, int64_t n, int64_t size, unsigned long long* first) {
  DCSR_GRID_STRIDE_LOOP(i, n) {
    const int64_t v = indices[i];
    if (v < 0 || v >= size) atomicMin(first, (unsigned long long)i);
  }
}
}  // namespace

int64_t first_bad_index(const int64_t* indices, int64_t n, int64_t size, int64_t* value) {
  if (n == 0) return -1;
  Tensor status = empty({1}, kInt64, Device::CUDA);  // from the caching pool
  auto* first = reinterpret_cast<unsigned long long*>(status.data<int64_t>());
  DCSR_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long), 0));
  find_bad_index_kernel<<<grid_for(n), kBlock>>>(indices, n, size, first);
  DCSR_CUDA_CHECK_LAUNCH();
  unsigned long long position = 0;
  DCSR_CUDA_CHECK(cudaMemcpy(&position, first, sizeof(position), cudaMemcpyDeviceToHost));
  if (position == ~0ull) return -1;
  DCSR_CUDA_CHECK(cudaMemcpy(value, indices + position, sizeof(int64_t), cudaMemcpyDeviceToHost));
  return int64_t(position);
}

void check_indices(const int64_t* indices, int64_t n, int64_t size, const char* op, int64_t dim) {
  int64_t value = 0;
  DCSR_CHECK(first_bad_index(indices, n, size, &value) < 0, op, ": index ", value, " out of range for dim ", dim,
             " of size ", size);
}

}  // namespace dcsr::kernels::cuda
