// CUDA-event timing, shared by the GPU benches (apps/bench/bench_cuda.cpp)
// and the kernel study programs (kernels/study/study_common.cuh). Host code
// only: usable from .cpp and .cu files.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "runtime/cuda_check.h"

namespace dcsr::kernels::cuda {

// Milliseconds of each of `repeats` runs of fn(), sorted, shortest first.
// The `warmup` runs before them are not timed and are waited for; each timed
// run is bracketed by CUDA events on the default stream, so fn() must launch
// its work there.
inline std::vector<double> event_times_ms(const std::function<void()>& fn, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) fn();
  DCSR_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  DCSR_CUDA_CHECK(cudaEventCreate(&start));
  DCSR_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    DCSR_CUDA_CHECK(cudaEventRecord(start, 0));
    fn();
    DCSR_CUDA_CHECK(cudaEventRecord(stop, 0));
    DCSR_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    DCSR_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(double(ms));
  }
  DCSR_CUDA_CHECK(cudaEventDestroy(start));
  DCSR_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace dcsr::kernels::cuda
