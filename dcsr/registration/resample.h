// Keys' cubic convolution (a = -0.5), stretched for antialiasing: the one
// resampling kernel of registration's images. normalise.cpp samples the
// telephoto onto the Ref grid with it; synthetic_pair.cpp renders a synthetic
// telephoto from a denser photo with it (so that a rotated view is as sharp as
// a straight one, as a real camera's would be).
//
// Coordinates: pixel i covers [i, i + 1), its centre at i + 0.5.
#pragma once
#include <algorithm>
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
template <typename Sample, typename Value>
double sample_taps(const Sample* p, int64_t h, int64_t w, const Taps& tx, const Taps& ty, Value value) {
  double sum = 0.0;
  for (size_t v = 0; v < ty.weights.size(); ++v) {
    const Sample* line = p + std::clamp<int64_t>(ty.first + int64_t(v), 0, h - 1) * w;
    double s = 0.0;
    for (size_t u = 0; u < tx.weights.size(); ++u)
      s += tx.weights[u] * double(value(line[std::clamp<int64_t>(tx.first + int64_t(u), 0, w - 1)]));
    sum += ty.weights[v] * s;
  }
  return sum;
}
inline double sample_taps(const float* p, int64_t h, int64_t w, const Taps& tx, const Taps& ty) {
  return sample_taps(p, h, w, tx, ty, [](float v) { return v; });
}

}  // namespace dcsr::registration
