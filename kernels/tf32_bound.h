// TF32's error bound for a convolution (or any sum of K products) computed
// on tensor cores, for the tests and the benches that check TF32 results.
//
// Each operand is rounded to a 10-bit mantissa (a relative error of at most
// 2^-11 each, so 2^-10 per product to first order), the K products are summed
// in float32 (at most K 2^-24 of the magnitudes), and the epilogue (bias,
// residual) rounds twice more in float32 (2^-22 together). Per output:
//   |y - exact| <= per_magnitude * (sum |w| |x| + |b| + |residual|).
// A float32 reference (rather than float64) has its own sums' rounding,
// another K 2^-24. LeakyReLU (slope <= 1) does not widen the bound.
#pragma once
#include <cmath>

namespace dcsr::kernels {

inline double tf32_error_per_magnitude(double K, bool float32_reference) {
  return std::ldexp(1.0, -10) + 2 * std::ldexp(1.0, -22) + (float32_reference ? 2 : 1) * K * std::ldexp(1.0, -24);
}

}  // namespace dcsr::kernels
