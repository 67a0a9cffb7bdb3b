// The Winograd convolution's AVX-512 kernels (winograd.h): the transforms of
// winograd_simd.h (eight tiles per ymm register, which is enough: they are a
// small part of the work) and an 8 x 32 register-blocked multiply (16 zmm
// accumulators: 8 output channels x 32 tiles), 32 tiles per job; and the
// weight gradient's gradient transform and an 8 x 32 accumulate (8 output x
// 32 input channels) over 32 tiles per job. Compiled for
// AVX-512F by function attributes, whatever the build's -march; called only
// where the CPU and the OS support it (isa.h).
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/winograd.h"
#include "kernels/cpu/winograd_transforms.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DCSR_WINO_TARGET __attribute__((target("avx512f,avx2,fma")))

namespace dcsr::kernels::cpu::winograd {

namespace {

#include "kernels/cpu/winograd_simd.h"

constexpr int64_t kRows = 8, kBlock = 32;

// c (mv x 32, row stride kBlock) = a (cin x kRows, k-major panel) times b (cin x 32, row stride kBlock).
DCSR_WINO_TARGET void tile_8x32(int64_t cin, const float* __restrict a, const float* __restrict b, float* c,
                                int64_t mv) {
  __m512 acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < cin; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b + k * kBlock), b1 = _mm512_loadu_ps(b + k * kBlock + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 av = _mm512_set1_ps(a[k * kRows + r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  // Unrolled, so that every accumulator stays a register (an indexed store loop would keep them on the stack).
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if (r >= mv) break;
    _mm512_storeu_ps(c + r * kBlock, acc[r][0]);
    _mm512_storeu_ps(c + r * kBlock + 16, acc[r][1]);
  }
}

DCSR_WINO_TARGET void multiply(int m, const float* u, const float* v, int64_t v_pos, float* mo, int64_t m_pos,
                               int64_t cin, int64_t cout) {
  const int64_t positions = in_tile(m) * in_tile(m), panels = (cout + kRows - 1) / kRows;
  for (int64_t pos = 0; pos < positions; ++pos) {
    const float* up = u + pos * panels * cin * kRows;
    const float* vp = v + pos * v_pos;
    float* mp = mo + pos * m_pos;
    for (int64_t panel = 0; panel < panels; ++panel)
      tile_8x32(cin, up + panel * cin * kRows, vp, mp + panel * kRows * kBlock,
                std::min(kRows, cout - panel * kRows));
  }
}

DCSR_WINO_TARGET void input(int m, const float* p, int64_t ld, float* v, int64_t pos_stride) {
  if (m == kF2x5) return input_tiles<2, 5>(p, ld, v, pos_stride);
  if (m == 4) return input_tiles<4, 3>(p, ld, v, pos_stride);
  input_tiles<2, 3>(p, ld, v, pos_stride);
}

DCSR_WINO_TARGET void output(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                               const float* residual, float slope) {
  if (m == kF2x5) return output_tiles<2, 5>(mo, pos_stride, bias, out, ld, residual, slope);
  if (m == 4) return output_tiles<4, 3>(mo, pos_stride, bias, out, ld, residual, slope);
  output_tiles<2, 3>(mo, pos_stride, bias, out, ld, residual, slope);
}

// ---- the weight gradient (winograd_weight.cpp) ----

constexpr int64_t kWeightRows = 8, kWeightCols = 32, kWeightBlock = 32;

// c (8 x 32, row stride ldc) += a (8 x kWeightBlock, row stride kWeightBlock) times
// b (kWeightBlock x 32, row stride ldb).
DCSR_WINO_TARGET void accumulate_8x32(const float* __restrict a, const float* __restrict b, int64_t ldb, float* c,
                                      int64_t ldc) {
  __m512 acc[kWeightRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kWeightRows; ++r) {
    acc[r][0] = _mm512_loadu_ps(c + r * ldc);
    acc[r][1] = _mm512_loadu_ps(c + r * ldc + 16);
  }
  for (int64_t t = 0; t < kWeightBlock; ++t) {
    const __m512 b0 = _mm512_loadu_ps(b + t * ldb), b1 = _mm512_loadu_ps(b + t * ldb + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kWeightRows; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * kWeightBlock + t]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < kWeightRows; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc[r][0]);
    _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
  }
}

DCSR_WINO_TARGET void accumulate(int m, const float* z, int64_t z_pos, const float* v, int64_t v_pos, float* vt,
                                 float* acc, int64_t cin, int64_t cout_pad, int64_t cin_pad) {
  const int64_t positions = (m + 2) * (m + 2);
  for (int64_t pos = 0; pos < positions; ++pos) {
    transpose_tiles(v + pos * v_pos, cin, kWeightBlock, vt, cin_pad);
    const float* zp = z + pos * z_pos;
    float* ap = acc + pos * cout_pad * cin_pad;
    for (int64_t co = 0; co < cout_pad; co += kWeightRows)
      for (int64_t ci = 0; ci < cin_pad; ci += kWeightCols)
        accumulate_8x32(zp + co * kWeightBlock, vt + ci, cin_pad, ap + co * cin_pad + ci, cin_pad);
  }
}

DCSR_WINO_TARGET void gradient(int m, const float* p, int64_t ld, float* z, int64_t pos_stride) {
  if (m == 4) return gradient_tiles<4>(p, ld, z, pos_stride);
  gradient_tiles<2>(p, ld, z, pos_stride);
}

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels kernels{kRows, kBlock, input, multiply, output};
  return kernels;
}

const WeightKernels& avx512_weight_kernels() {
  static const WeightKernels kernels{kWeightRows, kWeightCols, kWeightBlock, gradient, accumulate};
  return kernels;
}

}  // namespace dcsr::kernels::cpu::winograd

#else  // not x86-64: no AVX-512 path (isa_supported(kAvx512) is false there)
namespace dcsr::kernels::cpu::winograd {
const Kernels& avx512_kernels() { return generic_kernels(); }
const WeightKernels& avx512_weight_kernels() { return generic_weight_kernels(); }
}  // namespace dcsr::kernels::cpu::winograd
#endif
