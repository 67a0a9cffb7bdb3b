// The transforms of Winograd's minimal filtering F(m x m, 3 x 3) (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), m = 2 or
// 4: an m x m output tile of a 3x3 correlation is
//   Y = A^T [ (G g G^T) . (B^T d B) ] A
// with d the (m+2) x (m+2) input tile, g the 3x3 kernel and . the elementwise
// product, so (m+2)^2 multiplications per channel pair instead of 9 m^2
// (36 instead of 144 for m = 4). Each transform is applied along one axis by
// the 1-D functions below, written once for any value type V that has + - *
// with float (float, or a vector of tiles: __m256 in winograd_simd.h), so
// the portable and the SIMD paths share the same arithmetic.
//
// Points: 0, 1, -1 (m = 2); 0, 1, -1, 2, -2 and infinity (m = 4), the
// matrices of the paper's F(4x4, 3x3):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// and of F(2x2, 3x3):
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
//
// F(2x2, 5x5) (a 5x5 kernel, tile 6 x 6: 36 multiplications for 4 outputs
// instead of 100) uses the same six points as F(4x4, 3x3), so the same B^T,
// with
//   G   = [1/4 0 0 0 0; -1/6 -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6 -1/6;
//          1/24 1/12 1/6 1/3 2/3; 1/24 -1/12 1/6 -1/3 2/3; 0 0 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
// (G solved from B^T and A^T so that every 2-tap output of every 5-tap
// kernel is exact; the 30 unknowns have one solution).
//
// F(4x4, 5x5) (tile 8 x 8: 64 multiplications for 16 outputs instead of
// 400) uses the points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity:
//   B^T = [1 0 -21/4 0 21/4 0 -1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0;
//          0 1/2 1/4 -5/2 -5/4 2 1 0; 0 -1/2 1/4 5/2 -5/4 -2 1 0; 0 2 4 -5/2 -5 1/2 1 0;
//          0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]
//   G   = [1 0 0 0 0; -2/9 (1 1 1 1 1); -2/9 (1 -1 1 -1 1); (1/90 1/45 2/45 4/45 8/45);
//          (1/90 -1/45 2/45 -4/45 8/45); (32/45 16/45 8/45 4/45 2/45); (32/45 -16/45 8/45 -4/45 2/45);
//          0 0 0 0 1]
//   A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0; 0 1 -1 8 -8 1/8 -1/8 1]
// (A^T and G from the points as in Lavin and Gray, B^T solved so that every
// output is exact; checked in exact rational arithmetic, and by the tests
// against direct convolution).
#pragma once

namespace dcsr::kernels::cpu::winograd {

// o = B^T d (d, o: m + 2 values).
template <int M, typename V>
[[gnu::always_inline]] inline void input_1d(const V (&d)[M + 2], V (&o)[M + 2]) {
  if constexpr (M == 6) {  // the eight points of F(4x4, 5x5)
    const V a12 = (d[2] + d[6]) - 4.25f * d[4], b12 = (d[1] + d[5]) - 4.25f * d[3];
    const V a34 = (d[6] + 0.25f * d[2]) - 1.25f * d[4], b34 = (0.5f * d[1] - 2.5f * d[3]) + 2.0f * d[5];
    const V a56 = (d[6] + 4.0f * d[2]) - 5.0f * d[4], b56 = (2.0f * d[1] - 2.5f * d[3]) + 0.5f * d[5];
    o[0] = (d[0] - d[6]) + 5.25f * (d[4] - d[2]);
    o[1] = a12 + b12;
    o[2] = a12 - b12;
    o[3] = a34 + b34;
    o[4] = a34 - b34;
    o[5] = a56 + b56;
    o[6] = a56 - b56;
    o[7] = (d[7] - d[1]) + 5.25f * (d[3] - d[5]);
  } else if constexpr (M == 4) {
    const V d4_d2 = d[4] - d[2], d4_d3 = d[4] + d[3];
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = d4_d3 - 4.0f * (d[1] + d[2]);
    o[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);
    o[3] = d4_d2 + 2.0f * (d[3] - d[1]);
    o[4] = d4_d2 - 2.0f * (d[3] - d[1]);
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
}

// o = A^T t (t: m + 2 values, o: m).
template <int M, typename V>
[[gnu::always_inline]] inline void output_1d(const V (&t)[M + 2], V (&o)[M]) {
  if constexpr (M == 4) {
    const V s12 = t[1] + t[2], d12 = t[1] - t[2], s34 = t[3] + t[4], d34 = t[3] - t[4];
    o[0] = t[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + t[5];
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    o[0] = t[0] + t[1] + t[2];
    o[1] = t[1] - t[2] - t[3];
  }
}

// The weight gradient (winograd_weight.cpp) runs the adjoint of the forward:
// with Z = A dY A^T ((m+2) x (m+2), dY the m x m output-gradient tile) and
// V = B^T d B, the gradient of the kernel is
//   dg = G^T [ sum over tiles of Z . V ] G.

// o = A d (d: m values of the output gradient, o: m + 2), the transpose of output_1d.
template <int M, typename V>
[[gnu::always_inline]] inline void gradient_1d(const V (&d)[M], V (&o)[M + 2]) {
  if constexpr (M == 4) {
    const V s02 = d[0] + d[2], s13 = d[1] + d[3], q02 = d[0] + 4.0f * d[2], q13 = 2.0f * d[1] + 8.0f * d[3];
    o[0] = d[0];
    o[1] = s02 + s13;
    o[2] = s02 - s13;
    o[3] = q02 + q13;
    o[4] = q02 - q13;
    o[5] = d[3];
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    o[0] = d[0];
    o[1] = d[0] + d[1];
    o[2] = d[0] - d[1];
    o[3] = -1.0f * d[1];
  }
}

// o = G^T t (t: m + 2 values, o: 3 kernel taps), the transpose of weight_1d,
// in double: applied once per call to the summed products.
template <int M>
inline void weight_gradient_1d(const double (&t)[M + 2], double (&o)[3]) {
  if constexpr (M == 4) {
    o[0] = t[0] / 4 - (t[1] + t[2]) / 6 + (t[3] + t[4]) / 24;
    o[1] = (t[2] - t[1]) / 6 + (t[3] - t[4]) / 12;
    o[2] = (t[3] + t[4] - t[1] - t[2]) / 6 + t[5];
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    o[0] = t[0] + (t[1] + t[2]) / 2;
    o[1] = (t[1] - t[2]) / 2;
    o[2] = (t[1] + t[2]) / 2 + t[3];
  }
}

// o = G g (g: 3 kernel taps, o: m + 2), in double: the weights are
// transformed once per call, and rounding them once keeps the error down.
// The thirds, sixths and 24ths are multiplications by their double
// reciprocals: a division costs about 20 times as much, and every call
// transforms Cout x Cin kernels (the products differ from the quotients by
// an ulp of double at most, far below the one rounding to float).
constexpr double kSixth = 1.0 / 6, kTwelfth = 1.0 / 12, kTwentyFourth = 1.0 / 24, kTwoThirds = 2.0 / 3;
template <int M>
inline void weight_1d(const double (&g)[3], double (&o)[M + 2]) {
  if constexpr (M == 4) {
    o[0] = g[0] * 0.25;
    o[1] = -(g[0] + g[1] + g[2]) * kSixth;
    o[2] = -(g[0] - g[1] + g[2]) * kSixth;
    o[3] = g[0] * kTwentyFourth + g[1] * kTwelfth + g[2] * kSixth;
    o[4] = g[0] * kTwentyFourth - g[1] * kTwelfth + g[2] * kSixth;
    o[5] = g[2];
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    o[0] = g[0];
    o[1] = (g[0] + g[1] + g[2]) / 2;
    o[2] = (g[0] - g[1] + g[2]) / 2;
    o[3] = g[2];
  }
}

// ---- F(2x2, 5x5) ----

// o = A^T t for F(2x2, 5x5) (t: 6 values, o: 2).
template <typename V>
[[gnu::always_inline]] inline void output_2x5_1d(const V (&t)[6], V (&o)[2]) {
  o[0] = t[0] + (t[1] + t[2]) + (t[3] + t[4]);
  o[1] = (t[1] - t[2]) + 2.0f * (t[3] - t[4]) + t[5];
}

// o = G g for F(2x2, 5x5) (g: 5 kernel taps, o: 6), in double.
inline void weight_2x5_1d(const double (&g)[5], double (&o)[6]) {
  o[0] = g[0] * 0.25;
  o[1] = -(g[0] + g[1] + g[2] + g[3] + g[4]) * kSixth;
  o[2] = -(g[0] - g[1] + g[2] - g[3] + g[4]) * kSixth;
  o[3] = g[0] * kTwentyFourth + g[1] * kTwelfth + g[2] * kSixth + g[3] * (2 * kSixth) + g[4] * kTwoThirds;
  o[4] = g[0] * kTwentyFourth - g[1] * kTwelfth + g[2] * kSixth - g[3] * (2 * kSixth) + g[4] * kTwoThirds;
  o[5] = g[4];
}

// ---- F(4x4, 5x5) ----

// o = A^T t for F(4x4, 5x5) (t: 8 values, o: 4).
template <typename V>
[[gnu::always_inline]] inline void output_4x5_1d(const V (&t)[8], V (&o)[4]) {
  const V s12 = t[1] + t[2], d12 = t[1] - t[2], s34 = t[3] + t[4], d34 = t[3] - t[4];
  const V s56 = t[5] + t[6], d56 = t[5] - t[6];
  o[0] = t[0] + s12 + s34 + s56;
  o[1] = d12 + 2.0f * d34 + 0.5f * d56;
  o[2] = s12 + 4.0f * s34 + 0.25f * s56;
  o[3] = d12 + 8.0f * d34 + 0.125f * d56 + t[7];
}

// o = G g for F(4x4, 5x5) (g: 5 kernel taps, o: 8), in double.
inline void weight_4x5_1d(const double (&g)[5], double (&o)[8]) {
  constexpr double k45 = 1.0 / 45, k90 = 1.0 / 90, kTwoNinths = 2.0 / 9;
  o[0] = g[0];
  o[1] = -(g[0] + g[1] + g[2] + g[3] + g[4]) * kTwoNinths;
  o[2] = -(g[0] - g[1] + g[2] - g[3] + g[4]) * kTwoNinths;
  o[3] = g[0] * k90 + (g[1] + 2 * g[2] + 4 * g[3] + 8 * g[4]) * k45;
  o[4] = g[0] * k90 + (-g[1] + 2 * g[2] - 4 * g[3] + 8 * g[4]) * k45;
  o[5] = (32 * g[0] + 16 * g[1] + 8 * g[2] + 4 * g[3] + 2 * g[4]) * k45;
  o[6] = (32 * g[0] - 16 * g[1] + 8 * g[2] - 4 * g[3] + 2 * g[4]) * k45;
  o[7] = g[4];
}

// The 1-D transforms of F(M x M, R x R), R = 3 or 5 (tile M + R - 1), for
// the code written once for every variant.
template <int M, int R, typename V>
[[gnu::always_inline]] inline void input_1d_of(const V (&d)[M + R - 1], V (&o)[M + R - 1]) {
  input_1d<M + R - 3>(d, o);  // B^T depends only on the tile: F(2,5) shares F(4,3)'s, F(4,5) has 8 points
}
template <int M, int R, typename V>
[[gnu::always_inline]] inline void output_1d_of(const V (&t)[M + R - 1], V (&o)[M]) {
  if constexpr (R == 3) output_1d<M>(t, o);
  else if constexpr (M == 2) output_2x5_1d(t, o);
  else output_4x5_1d(t, o);
}
template <int M, int R>
inline void weight_1d_of(const double (&g)[R], double (&o)[M + R - 1]) {
  if constexpr (R == 3) weight_1d<M>(g, o);
  else if constexpr (M == 2) weight_2x5_1d(g, o);
  else weight_4x5_1d(g, o);
}

}  // namespace dcsr::kernels::cpu::winograd
