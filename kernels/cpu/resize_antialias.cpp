// CPU antialiased bicubic resize in the style of MATLAB's imresize (the
// usual way SR datasets make their LR images): per axis a table of taps and
// normalised weights (kernels/resize_taps.h, shared with the CUDA kernel).
// Separable: along H, then along W, per output row.
#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel_jobs.h"
#include "kernels/resize_taps.h"

namespace dcsr::kernels::cpu {

namespace {

// One axis's tap tables (kernels/resize_taps.h) in tensors from the caching allocator.
template <typename T>
struct Contributions {
  Tensor index_storage, weight_storage;
  int64_t taps = 0;
  const int64_t* index = nullptr;  // (out, taps)
  const T* weight = nullptr;       // (out, taps)
};

template <typename T>
Contributions<T> contributions(int64_t in, int64_t out) {
  const int64_t taps = resize_taps::count(in, out);
  Tensor index_storage = empty({out, taps}, kInt64), weight_storage = empty({out, taps}, dtype_of<T>());
  resize_taps::fill(in, out, index_storage.data<int64_t>(), weight_storage.data<T>());
  return {index_storage, weight_storage, taps, index_storage.data<int64_t>(), weight_storage.data<T>()};
}

template <typename T>
void resize_typed(const Tensor& x, Tensor& y) {
  const int64_t H = x.size(2), W = x.size(3), Ho = y.size(2), Wo = y.size(3);
  const int64_t planes = x.size(0) * x.size(1);
  const Contributions<T> rows = contributions<T>(H, Ho), cols = contributions<T>(W, Wo);
  const T* in = x.data<T>();
  T* out = y.data<T>();
  const int64_t jobs = planes * Ho;
  const int workers = job_workers(jobs, jobs * (rows.taps * W + cols.taps * Wo));
  Tensor scratch = empty({int64_t(workers) * W}, dtype_of<T>());
  run_jobs(jobs, workers, [&](int64_t job, int slot) {
    const int64_t plane = job / Ho, oy = job % Ho;
    T* tmp = scratch.data<T>() + slot * W;
    std::fill(tmp, tmp + W, T(0));
    for (int64_t j = 0; j < rows.taps; ++j) {
      const T wy = rows.weight[oy * rows.taps + j];
      if (wy == T(0)) continue;
      const T* r = in + (plane * H + rows.index[oy * rows.taps + j]) * W;
      for (int64_t i = 0; i < W; ++i) tmp[i] += wy * r[i];
    }
    T* o = out + job * Wo;
    for (int64_t ox = 0; ox < Wo; ++ox) {
      const int64_t* ix = cols.index + ox * cols.taps;
      const T* wx = cols.weight + ox * cols.taps;
      T v = 0;
      for (int64_t j = 0; j < cols.taps; ++j) v += wx[j] * tmp[ix[j]];
      o[ox] = v;
    }
  });
}

}  // namespace

void resize_antialias(const Tensor& x, Tensor& y) {
  dispatch_floating(x.dtype(), "resize_antialias", [&](auto zero) { resize_typed<decltype(zero)>(x, y); });
}

}  // namespace dcsr::kernels::cpu
