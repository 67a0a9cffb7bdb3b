// exp on a whole SIMD vector (kernels/cpu/dot_sweep.h), for the contextual
// loss, which takes one exp per feature pair (16.7 M per sweep at 4096 x 4096):
// std::exp is scalar and would cost more than the dot products themselves.
//
// x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (Cody-Waite split
// of ln2 so that r is exact), e^r by its Taylor polynomial (degree 7 for
// float: truncation 8e-9 relative; degree 13 for double: 5e-18), times 2^n
// built in the exponent bits as 2^(n/2) * 2^(n - n/2) so that results in the
// subnormal range round correctly and overflow gives inf. Accuracy: within a
// few ulp of std::exp over the whole range (tests/test_ops_dcsr_losses.cpp checks it).
#pragma once
#include "kernels/cpu/dot_sweep.h"

namespace dcsr::kernels::cpu::dot {

template <typename T>
struct ExpConstants;
template <>
struct ExpConstants<float> {
  static constexpr float lo = -104.0f, hi = 89.0f;  // e^lo rounds to 0, e^hi overflows
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  static constexpr int bias = 127, mantissa_bits = 23, degree = 7;
};
template <>
struct ExpConstants<double> {
  static constexpr double lo = -746.0, hi = 710.0;
  static constexpr double log2e = 1.44269504088896338700e+00;
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int bias = 1023, mantissa_bits = 52, degree = 13;
};

template <typename T>
inline Vec<T> vexp(Vec<T> x) {
  using K = ExpConstants<T>;
  using M = Mask<T>;
  x = x < K::lo ? splat<T>(K::lo) : x;
  x = x > K::hi ? splat<T>(K::hi) : x;
  const Vec<T> t = x * K::log2e + K::magic;
  const Vec<T> n = t - K::magic;  // round(x log2 e), as a float
  const Vec<T> r = (x - n * K::ln2_hi) - n * K::ln2_lo;
  // Horner on the Taylor coefficients 1/k!.
  T coeff[K::degree + 1];
  coeff[0] = T(1);
  for (int k = 1; k <= K::degree; ++k) coeff[k] = coeff[k - 1] / T(k);
  Vec<T> p = splat<T>(coeff[K::degree]);
  for (int k = K::degree - 1; k >= 0; --k) p = p * r + coeff[k];
  // The integer n sits in the low bits of t (t - magic = n exactly); casts
  // between vector types of one size reinterpret the bits.
  const M ni = (M)t - (M)splat<T>(K::magic);
  const M n1 = ni >> 1, n2 = ni - n1;
  const M b1 = (n1 + K::bias) << K::mantissa_bits, b2 = (n2 + K::bias) << K::mantissa_bits;
  return p * (Vec<T>)b1 * (Vec<T>)b2;
}

}  // namespace dcsr::kernels::cpu::dot
