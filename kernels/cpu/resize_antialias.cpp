// CPU antialiased bicubic resize in the style of MATLAB's imresize (the
// usual way SR datasets make their LR images). Per axis, with scale = out/in:
//   u = (o + 1)/scale + 0.5*(1 - 1/scale)      (1-based input coordinate of output o)
//   taps j = floor(u - width/2) + 0 .. ceil(width) + 1, width = 4 (4/scale when shrinking)
//   weight = keys(u - j) (shrinking: scale * keys(scale*(u - j))), normalised to sum 1
//   j mirrored into the image symmetrically, repeating the edge (MATLAB's
//   [1..in, in..1] index table)
// with Keys' cubic a = -0.5. Separable: along H, then along W, per output row.
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/parallel_jobs.h"

namespace dcsr::kernels::cpu {

namespace {

// Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`).
double keys_cubic(double x) {
  const double ax = std::abs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

// 0-based index i mirrored into [0, n) with the edge repeated: ... 1 0 | 0 1 .. n-1 | n-1 n-2 ...
int64_t mirror(int64_t i, int64_t n) {
  int64_t m = i % (2 * n);
  if (m < 0) m += 2 * n;
  return m < n ? m : 2 * n - 1 - m;
}

template <typename T>
struct Contributions {
  Tensor index_storage, weight_storage;
  int64_t taps = 0;
  const int64_t* index = nullptr;  // (out, taps)
  const T* weight = nullptr;       // (out, taps)
};

template <typename T>
Contributions<T> contributions(int64_t in, int64_t out) {
  const double scale = double(out) / double(in);
  const bool shrink = scale < 1;
  const double width = shrink ? 4.0 / scale : 4.0;
  const int64_t taps = int64_t(std::ceil(width)) + 2;
  Tensor index_storage = empty({out, taps}, kInt64), weight_storage = empty({out, taps}, dtype_of<T>());
  int64_t* index = index_storage.data<int64_t>();
  T* weight = weight_storage.data<T>();
  for (int64_t o = 0; o < out; ++o) {
    const double u = double(o + 1) / scale + 0.5 * (1.0 - 1.0 / scale);
    const int64_t left = int64_t(std::floor(u - width / 2));
    auto raw_weight = [&](int64_t j) {
      const double d = u - double(left + j);
      return shrink ? scale * keys_cubic(scale * d) : keys_cubic(d);
    };
    double total = 0;
    for (int64_t j = 0; j < taps; ++j) total += raw_weight(j);
    for (int64_t j = 0; j < taps; ++j) {
      weight[o * taps + j] = T(raw_weight(j) / total);
      index[o * taps + j] = mirror(left + j - 1, in);  // left + j is 1-based
    }
  }
  return {index_storage, weight_storage, taps, index, weight};
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
