// Keys' cubic convolution (a = -0.5), stretched for antialiasing: the one
// resampling kernel of registration's images. normalise.cpp samples the
// telephoto onto the Ref grid with it; synthetic_pair.cpp renders a synthetic
// telephoto from a denser photo with it (so that a rotated view is as sharp as
// a straight one, as a real camera's would be).
//
// Coordinates: pixel i covers [i, i + 1), its centre at i + 0.5.
#pragma once
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
// (rows); indices outside the plane repeat its border.
double sample_taps(const float* p, int64_t h, int64_t w, const Taps& tx, const Taps& ty);

}  // namespace dcsr::registration
