// Keys' cubic convolution (a = -0.5), stretched for antialiasing: the one
// resampling kernel of registration's images. normalise.cpp samples the
// telephoto onto the Ref grid with it; synthetic_pair.cpp renders a synthetic
// telephoto from a denser photo with it (so that a rotated view is as sharp as
// a straight one, as a real camera's would be).
//
// Coordinates: pixel i covers [i, i + 1), its centre at i + 0.5.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace dcsr::registration {

// Keys' cubic convolution kernel with a = -0.5 (support [-2, 2]).
double keys(double x);

// The taps of one axis: source indices first..first+n-1 (clamp them when
// reading) and their weights for a sample at continuous coordinate `centre`,
// the kernel stretched by `stretch` >= 1 source pixels per output pixel (1:
// plain bicubic interpolation). The weights sum to 1 and, for stretch > 1,
// have no first moment (linear ramps are reproduced exactly: exact geometry).
struct Taps {
  int64_t first = 0;
  std::vector<double> weights;
};
void make_taps(double centre, double stretch, Taps& taps);

// One sample of plane `p` (h x w, row-major) through taps tx (columns) and ty
// (rows); indices outside the plane repeat its border. `value` turns a stored
// sample into its float value (8-bit samples: float(v) / 255.0f, read_image's
// value bit for bit, so both forms of an image give the same sums).
// Each product is added with one rounding (std::fma), written out rather than
// left to the compiler: whether it fuses a product and a sum depends on where
// it inlines the code, and sample_taps_channels must give these bits.
template <typename Sample, typename Value>
double sample_taps(const Sample* p, int64_t h, int64_t w, const Taps& tx, const Taps& ty, Value value) {
  double sum = 0.0;
  for (size_t v = 0; v < ty.weights.size(); ++v) {
    const Sample* line = p + std::clamp<int64_t>(ty.first + int64_t(v), 0, h - 1) * w;
    double s = 0.0;
    for (size_t u = 0; u < tx.weights.size(); ++u)
      s = std::fma(tx.weights[u], double(value(line[std::clamp<int64_t>(tx.first + int64_t(u), 0, w - 1)])), s);
    sum = std::fma(ty.weights[v], s, sum);
  }
  return sum;
}
inline double sample_taps(const float* p, int64_t h, int64_t w, const Taps& tx, const Taps& ty) {
  return sample_taps(p, h, w, tx, ty, [](float v) { return v; });
}

// sample_taps for every channel of one pixel at once: planes holds `channels`
// planes of h x w; out[k] is sample_taps(planes + k h w, ...) bit for bit,
// operation for operation. Only the schedule differs: sample_taps runs one
// chain of dependent additions per row and channel, here three channels and
// two rows run side by side (six independent chains) and the column indices
// are clamped once for all of them. `columns` is scratch space. (normalise's
// Ref took 130 ns a pixel through sample_taps on a Zen 5 core, most of it
// the latency of those chains.)
template <typename Sample, typename Value>
void sample_taps_channels(const Sample* planes, int64_t channels, int64_t h, int64_t w, const Taps& tx,
                          const Taps& ty, Value value, std::vector<int64_t>& columns, double* out) {
  const int64_t nx = int64_t(tx.weights.size()), ny = int64_t(ty.weights.size()), plane = h * w;
  const double* wx = tx.weights.data();
  columns.resize(size_t(nx));
  for (int64_t u = 0; u < nx; ++u) columns[size_t(u)] = std::clamp<int64_t>(tx.first + u, 0, w - 1);
  const int64_t* col = columns.data();
  auto line = [&](int64_t v) { return std::clamp<int64_t>(ty.first + v, 0, h - 1) * w; };
  constexpr int64_t kGroup = 3;  // channels at once
  for (int64_t k0 = 0; k0 < channels; k0 += kGroup) {
    const int64_t kn = std::min(kGroup, channels - k0);
    const Sample* p = planes + k0 * plane;
    double sum[kGroup] = {0.0, 0.0, 0.0};
    int64_t v = 0;
    for (; v + 1 < ny; v += 2) {
      const int64_t a = line(v), b = line(v + 1);
      double sa[kGroup] = {0.0, 0.0, 0.0}, sb[kGroup] = {0.0, 0.0, 0.0};
      for (int64_t u = 0; u < nx; ++u)
        for (int64_t k = 0; k < kn; ++k) {
          sa[k] = std::fma(wx[u], double(value(p[k * plane + a + col[u]])), sa[k]);
          sb[k] = std::fma(wx[u], double(value(p[k * plane + b + col[u]])), sb[k]);
        }
      for (int64_t k = 0; k < kn; ++k) {
        sum[k] = std::fma(ty.weights[size_t(v)], sa[k], sum[k]);
        sum[k] = std::fma(ty.weights[size_t(v + 1)], sb[k], sum[k]);
      }
    }
    if (v < ny) {  // the last row of an odd count
      const int64_t a = line(v);
      double sa[kGroup] = {0.0, 0.0, 0.0};
      for (int64_t u = 0; u < nx; ++u)
        for (int64_t k = 0; k < kn; ++k) sa[k] = std::fma(wx[u], double(value(p[k * plane + a + col[u]])), sa[k]);
      for (int64_t k = 0; k < kn; ++k) sum[k] = std::fma(ty.weights[size_t(v)], sa[k], sum[k]);
    }
    for (int64_t k = 0; k < kn; ++k) out[k0 + k] = sum[k];
  }
}

}  // namespace dcsr::registration
