// The GPU's own ceilings, for the benches outside kernels/ that measure our
// CUDA ops against them (apps/bench/bench_cuda.cpp): CUDA-event timing, and
// cuBLAS SGEMM called directly on device buffers through the process's one
// cuBLAS handle (kernels/cuda/cublas_handle.h; TF32 as runtime::cuda_tf32()
// says). The kernels/cuda/ headers stay private to kernels/ (a ctest checks
// that nothing else includes them); kernels/cuda_baselines.cpp forwards to
// them. In a build without CUDA every function is an Error saying so.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace dcsr::kernels::cuda_baselines {

// Milliseconds of each of `repeats` runs of fn(), sorted, shortest first. The
// `warmup` runs before them are not timed and are waited for; each timed run
// is bracketed by CUDA events on the default stream, so fn() must launch its
// work there.
std::vector<double> event_times_ms(const std::function<void()>& fn, int warmup, int repeats);

// Row-major, float32, device pointers, `batch` products on the default stream:
//   c[i] (M x N) = op(a[i]) op(b[i]), op(a) M x K, op(b) K x N,
// a stored as (M x K), or as (K x M) when trans_a; b stored as (K x N), or
// as (N x K) when trans_b; matrix i of each starts stride_* floats after
// matrix i - 1 (0: the same matrix for every i). One cublasSgemm call, or
// with `batched` one cublasSgemmStridedBatched (even for a batch of 1);
// nothing allocated.
struct SgemmArgs {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  bool batched = false;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;  // read only when batched
};
void sgemm(const SgemmArgs& args);

}  // namespace dcsr::kernels::cuda_baselines
