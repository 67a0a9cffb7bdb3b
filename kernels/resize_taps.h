// The tap tables of the antialiased bicubic resize (MATLAB's imresize), one
// axis at a time, shared by the CPU kernel (kernels/cpu/resize_antialias.cpp)
// and the CUDA one (kernels/cuda/resize_antialias.cu), which builds them on
// the host and copies them to the device. Plain C++ on raw arrays (no Eigen,
// no tensors), so that both backends fill their own buffers and get the same
// indices and, for the same weight type, bit-identical weights.
//
// With scale = out/in, output o (0-based) reads around the 1-based input
// coordinate
//   u = (o + 1)/scale + 0.5*(1 - 1/scale),
// taps j = floor(u - width/2) + 0 .. ceil(width) + 1 with width = 4
// (4/scale when shrinking), weight keys(u - j) (shrinking: scale *
// keys(scale*(u - j))), normalised to sum 1 in double; j is mirrored into
// the image symmetrically, repeating the edge (MATLAB's [1..in, in..1]
// index table). Keys' cubic has a = -0.5.
#pragma once
#include <cmath>
#include <cstdint>

namespace dcsr::kernels::resize_taps {

// Keys' cubic convolution kernel with a = -0.5 (MATLAB's `cubic`).
inline double keys_cubic(double x) {
  const double ax = std::abs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

// 0-based index i mirrored into [0, n) with the edge repeated: ... 1 0 | 0 1 .. n-1 | n-1 n-2 ...
inline int64_t mirror(int64_t i, int64_t n) {
  int64_t m = i % (2 * n);
  if (m < 0) m += 2 * n;
  return m < n ? m : 2 * n - 1 - m;
}

// Kernel width in input pixels: 4, widened by 1/scale when shrinking (the
// antialiasing).
inline double width(int64_t in, int64_t out) {
  const double scale = double(out) / double(in);
  return scale < 1 ? 4.0 / scale : 4.0;
}

// Taps per output position along an axis of `in` -> `out` samples.
inline int64_t count(int64_t in, int64_t out) { return int64_t(std::ceil(width(in, out))) + 2; }

// Fills index and weight (out, count(in, out)), row-major: the input index
// and normalised weight of every tap of every output position. W is the
// weight type of the caller's kernel (each weight rounded once from double).
template <typename W>
void fill(int64_t in, int64_t out, int64_t* index, W* weight) {
  const double scale = double(out) / double(in);
  const bool shrink = scale < 1;
  const double w = width(in, out);
  const int64_t taps = count(in, out);
  for (int64_t o = 0; o < out; ++o) {
    const double u = double(o + 1) / scale + 0.5 * (1.0 - 1.0 / scale);
    const int64_t left = int64_t(std::floor(u - w / 2));
    auto raw_weight = [&](int64_t j) {
      const double d = u - double(left + j);
      return shrink ? scale * keys_cubic(scale * d) : keys_cubic(d);
    };
    double total = 0;
    for (int64_t j = 0; j < taps; ++j) total += raw_weight(j);
    for (int64_t j = 0; j < taps; ++j) {
      weight[o * taps + j] = W(raw_weight(j) / total);
      index[o * taps + j] = mirror(left + j - 1, in);  // left + j is 1-based
    }
  }
}

}  // namespace dcsr::kernels::resize_taps
