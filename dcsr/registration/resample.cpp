// The stretched Keys kernel of registration's images (resample.h).
#include "dcsr/registration/resample.h"

#include <algorithm>
#include <cmath>

namespace dcsr::registration {

double keys(double x) {
  x = std::abs(x);
  if (x <= 1.0) return (1.5 * x - 2.5) * x * x + 1.0;
  if (x < 2.0) return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
  return 0.0;
}

void make_taps(double centre, double stretch, Taps& taps) {
  const double pos = centre - 0.5;  // in index units
  const double radius = 2.0 * stretch;
  taps.first = int64_t(std::floor(pos - radius)) + 1;
  const int64_t last = int64_t(std::ceil(pos + radius)) - 1;
  taps.weights.resize(size_t(std::max<int64_t>(last - taps.first + 1, 1)));
  double sum = 0.0;
  for (size_t k = 0; k < taps.weights.size(); ++k) {
    const double w = keys((double(taps.first + int64_t(k)) - pos) / stretch);
    taps.weights[k] = w;
    sum += w;
  }
  for (double& w : taps.weights) w /= sum;
  if (stretch == 1.0) return;  // Keys' kernel at unit spacing reproduces linear functions already
  // The stretched kernel sampled at whole pixels has a small first moment
  // m1 = sum w d (d = index - pos; up to ~0.02 pixel of shift). Subtract
  // m1 (d - mean d) / sum (d - mean d)^2 from the weights: they still sum to
  // 1, sum w d becomes 0, and linear functions are reproduced exactly (exact
  // geometry). (Keys' kernel has no second moment to tilt by: sum w d^2 ~ 0.)
  const size_t n = taps.weights.size();
  double m1 = 0.0, mean_d = 0.0;
  for (size_t k = 0; k < n; ++k) {
    const double d = double(taps.first + int64_t(k)) - pos;
    m1 += taps.weights[k] * d, mean_d += d / double(n);
  }
  double spread = 0.0;
  for (size_t k = 0; k < n; ++k) {
    const double e = double(taps.first + int64_t(k)) - pos - mean_d;
    spread += e * e;
  }
  if (spread <= 0.0) return;
  for (size_t k = 0; k < n; ++k)
    taps.weights[k] -= m1 * (double(taps.first + int64_t(k)) - pos - mean_d) / spread;
}

}  // namespace dcsr::registration
