// The Winograd convolution's AVX2 + FMA kernels (winograd.h): the SIMD
// transforms of winograd_simd.h and a 6 x 16 register-blocked multiply
// (12 ymm accumulators: 6 output channels x 16 tiles), 16 tiles per job;
// and the weight gradient's gradient transform and a 6 x 16 accumulate
// (6 output x 16 input channels) over 32 tiles per job.
// Compiled for AVX2 by function attributes, whatever the build's -march;
// called only where the CPU has AVX2 and FMA (isa.h).
#include <algorithm>
#include <cstdint>

#include "kernels/cpu/winograd.h"
#include "kernels/cpu/winograd_transforms.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DCSR_WINO_TARGET __attribute__((target("avx2,fma")))


namespace dcsr::kernels::cpu::winograd {

namespace {

#include "kernels/cpu/winograd_simd.h"

// 16 tiles per job: 32 and 48 measured the same (within the noise of shared cores).
constexpr int64_t kRows = 6, kBlock = 16;
static_assert(kBlock == 16, "tile_6x16 covers the 16 tiles of a job");

// c (mv x 16, row stride kBlock) = a (cin x kRows, k-major panel) times b (cin x 16, row stride kBlock).
DCSR_WINO_TARGET void tile_6x16(int64_t cin, const float* __restrict a, const float* __restrict b, float* c,
                                int64_t mv) {
  __m256 acc[kRows][2];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < cin; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + k * kBlock), b1 = _mm256_loadu_ps(b + k * kBlock + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + k * kRows + r);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  // Unrolled, so that every accumulator stays a register (an indexed store loop would keep them on the stack).
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r) {
    if (r >= mv) break;
    _mm256_storeu_ps(c + r * kBlock, acc[r][0]);
    _mm256_storeu_ps(c + r * kBlock + 8, acc[r][1]);
  }
}

// Kernels::multiply: the panel loop of winograd_simd.h around tile_6x16.
constexpr auto multiply = &multiply_positions<kRows, kBlock, tile_6x16>;

// ---- the weight gradient (winograd_weight.cpp) ----

// 32 tiles per job of the weight gradient: the GEMM's inner dimension.
constexpr int64_t kWeightRows = 6, kWeightCols = 16, kWeightBlock = 32;

// c (6 x 16, row stride ldc) += a (6 x kWeightBlock, row stride kWeightBlock) times
// b (kWeightBlock x 16, row stride ldb).
DCSR_WINO_TARGET void accumulate_6x16(const float* __restrict a, const float* __restrict b, int64_t ldb, float* c,
                                      int64_t ldc) {
  __m256 acc[kWeightRows][2];
#pragma GCC unroll 6
  for (int r = 0; r < kWeightRows; ++r) {
    acc[r][0] = _mm256_loadu_ps(c + r * ldc);
    acc[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
  }
  for (int64_t t = 0; t < kWeightBlock; ++t) {
    const __m256 b0 = _mm256_loadu_ps(b + t * ldb), b1 = _mm256_loadu_ps(b + t * ldb + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kWeightRows; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * kWeightBlock + t);
      acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < kWeightRows; ++r) {
    _mm256_storeu_ps(c + r * ldc, acc[r][0]);
    _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
  }
}

// WeightKernels::accumulate: the position loop of winograd_simd.h around accumulate_6x16.
constexpr auto accumulate = &accumulate_positions<kWeightRows, kWeightCols, kWeightBlock, accumulate_6x16>;

}  // namespace

const Kernels& avx2_kernels() {
  // No sixteen-tile transforms (input16, output16 and their edge versions).
  static const Kernels kernels{kRows,   kBlock,     input,   multiply,   output,
                               nullptr, nullptr,    input_edge, nullptr, output_edge};
  return kernels;
}

const WeightKernels& avx2_weight_kernels() {
  static const WeightKernels kernels{kWeightRows, kWeightCols, kWeightBlock, gradient, accumulate};
  return kernels;
}

}  // namespace dcsr::kernels::cpu::winograd

#else  // not x86-64: no AVX2 path (isa_supported(kAvx2) is false there)
namespace dcsr::kernels::cpu::winograd {
const Kernels& avx2_kernels() { return generic_kernels(); }
const WeightKernels& avx2_weight_kernels() { return generic_weight_kernels(); }
}  // namespace dcsr::kernels::cpu::winograd
#endif
