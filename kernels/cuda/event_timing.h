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
  // The two events are destroyed however the timing ends: fn() may throw (a
  // candidate of DCSR_CONV_PATH=measure that runs out of memory, a failed
  // check), and the process goes on after the error.
  struct Events {
    cudaEvent_t start = nullptr, stop = nullptr;
    ~Events() {
      if (start) cudaEventDestroy(start);
      if (stop) cudaEventDestroy(stop);
    }
  } events;
  DCSR_CUDA_CHECK(cudaEventCreate(&events.start));
  DCSR_CUDA_CHECK(cudaEventCreate(&events.stop));
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    DCSR_CUDA_CHECK(cudaEventRecord(events.start, 0));
    fn();
    DCSR_CUDA_CHECK(cudaEventRecord(events.stop, 0));
    DCSR_CUDA_CHECK(cudaEventSynchronize(events.stop));
    float ms = 0.0f;
    DCSR_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop));
    times.push_back(double(ms));
  }
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace dcsr::kernels::cuda
