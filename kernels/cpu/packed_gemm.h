// Float32 AVX-512 GEMM micro-kernels for conv2d. Eigen's GEMM reaches about
// 55% of this machine's FMA peak per core on the conv shapes (64 x 576 times
// 576 x chunk); these register-blocked kernels reach 85-100%, and two of them
// read one operand in place (implicit im2col, conv2d_avx512.cpp), so the
// conv needs no im2col buffer at all. Compiled only where the compiler
// targets AVX-512 (DCSR_PACKED_GEMM); everything else uses gemm_raw.
//
// Layouts (MR = 8 rows, NR = 48 columns = three 16-float vectors):
//   packed A: row panels of MR rows, each K x MR, k-major: ap[panel][k][r]
//   packed B: column panels of NR columns, each K x NR, k-major: bp[panel][k][j]
// The last panel of each is zero-padded, so the kernel never branches on
// sizes inside its loop; only the final store is masked.
//
// Micro-kernel: an MR x NR tile of C lives in 24 zmm registers; each k step
// loads three vectors of B, broadcasts MR values of A and issues 24 FMAs,
// enough independent chains to cover the FMA latency on two pipes.
#pragma once
#if defined(__AVX512F__)
#define DCSR_PACKED_GEMM 1
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace dcsr::kernels::cpu::packed {

constexpr int64_t MR = 8, NR = 48;

inline int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }
// Floats in a packed A of M rows / a packed B of N columns, depth K.
inline int64_t a_size(int64_t M, int64_t K) { return round_up(M, MR) * K; }
inline int64_t b_size(int64_t N, int64_t K) { return round_up(N, NR) * K; }

// Packs rows [0, M) of A. Stored row-major as (M x K), row stride lda, or as
// (K x M) when `transposed`: ap[(i/MR)*K*MR + k*MR + i%MR] = A[i][k].
inline void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, bool transposed, float* ap) {
  for (int64_t m0 = 0; m0 < M; m0 += MR) {
    float* panel = ap + (m0 / MR) * K * MR;
    const int64_t rows = std::min(MR, M - m0);
    for (int64_t k = 0; k < K; ++k) {
      float* dst = panel + k * MR;
      for (int64_t r = 0; r < rows; ++r) dst[r] = transposed ? a[k * lda + m0 + r] : a[(m0 + r) * lda + k];
      for (int64_t r = rows; r < MR; ++r) dst[r] = 0.0f;
    }
  }
}

// Packs columns [0, N) of B stored row-major as (K x N), row stride ldb:
// bp[(j/NR)*K*NR + k*NR + j%NR] = B[k][j].
inline void pack_b(const float* b, int64_t ldb, int64_t K, int64_t N, float* bp) {
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    float* panel = bp + (n0 / NR) * K * NR;
    const int64_t cols = std::min(NR, N - n0);
    for (int64_t k = 0; k < K; ++k) {
      float* dst = panel + k * NR;
      std::copy(b + k * ldb + n0, b + k * ldb + n0 + cols, dst);
      std::fill(dst + cols, dst + NR, 0.0f);
    }
  }
}

// The k loop of both MR x NR micro-kernels: acc = A_panel (K x MR, k-major)
// times the K rows of B, row k being the 48 floats at b_row(k). Inlined into
// each caller, so every kernel keeps its own straight-line loop.
template <typename BRow>
inline void accumulate_tile(int64_t K, const float* __restrict a, const BRow& b_row, __m512 (&acc)[MR][3]) {
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = acc[r][2] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* row = b_row(k);
    const __m512 b0 = _mm512_loadu_ps(row), b1 = _mm512_loadu_ps(row + 16), b2 = _mm512_loadu_ps(row + 32);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
    }
    a += MR;
  }
}

// C tile (mv x nv of MR x NR, row stride ldc) = (accumulate ? C : 0) + A_panel B_panel (+ bias[r]).
inline void micro_kernel(int64_t K, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                         int64_t mv, int64_t nv, bool accumulate, const float* bias) {
  __m512 acc[MR][3];
  accumulate_tile(K, a, [b](int64_t k) { return b + k * NR; }, acc);
  __mmask16 mask[3];
  for (int j = 0; j < 3; ++j) {
    const int64_t left = std::clamp<int64_t>(nv - 16 * j, 0, 16);
    mask[j] = __mmask16((uint32_t(1) << left) - 1);
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (r >= mv) break;
    float* row = c + r * ldc;
    const __m512 add = _mm512_set1_ps(bias ? bias[r] : 0.0f);
    for (int j = 0; j < 3; ++j) {
      __m512 v = _mm512_add_ps(acc[r][j], add);
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask[j], row + 16 * j));
      _mm512_mask_storeu_ps(row + 16 * j, mask[j], v);
    }
  }
}

// Like micro_kernel, with B read in place: row k of the B panel is the 48
// floats at b + offset[k] (an implicit im2col: see conv2d_avx512.cpp).
inline void micro_kernel_offsets(int64_t K, const float* __restrict a, const float* b, const int64_t* offset,
                                 float* c, int64_t ldc, int64_t mv, const float* bias) {
  __m512 acc[MR][3];
  accumulate_tile(K, a, [b, offset](int64_t k) { return b + offset[k]; }, acc);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (r >= mv) break;
    const __m512 add = _mm512_set1_ps(bias ? bias[r] : 0.0f);
    for (int j = 0; j < 3; ++j) _mm512_storeu_ps(c + r * ldc + 16 * j, _mm512_add_ps(acc[r][j], add));
  }
}

// The transposed orientation, for weight gradients: a ROWS x (16*NV) tile of
// C (ROWS*NV registers: 6 x 64 or 12 x 32) += sum over depth d of a_r[d] *
// b[d][0..16*NV), where the A rows are read in place (a_r = a + offset[r],
// one float broadcast at a time) and B is packed depth-major, 16*NV floats
// per step. Rows r >= mv are computed from row 0 and not stored.
template <int ROWS, int NV>
inline void micro_kernel_rows(int64_t depth, const float* a, const int64_t* offset, int64_t mv,
                              const float* __restrict b, float* c, int64_t ldc) {
  const float* rows[ROWS];
  for (int64_t r = 0; r < ROWS; ++r) rows[r] = a + offset[r < mv ? r : 0];
  __m512 acc[ROWS][NV];
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t d = 0; d < depth; ++d) {
    __m512 bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + 16 * j);
#pragma GCC unroll 12
    for (int r = 0; r < ROWS; ++r) {
      const __m512 av = _mm512_set1_ps(rows[r][d]);
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(av, bv[j], acc[r][j]);
    }
    b += 16 * NV;
  }
#pragma GCC unroll 12
  for (int r = 0; r < ROWS; ++r) {
    if (r >= mv) break;
    float* out = c + r * ldc;
    for (int j = 0; j < NV; ++j)
      _mm512_storeu_ps(out + 16 * j, _mm512_add_ps(acc[r][j], _mm512_loadu_ps(out + 16 * j)));
  }
}

// C (M x N, row stride ldc) = (accumulate ? C : 0) + A B (+ bias[i] on row i;
// bias may be null). ap from pack_a (M rows), bp from pack_b or a packing
// im2col (N columns), both of depth K. Single-threaded: callers split N.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* ap, const float* bp, float* c, int64_t ldc,
                 bool accumulate, const float* bias) {
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    const float* b = bp + (n0 / NR) * K * NR;
    const int64_t nv = std::min(NR, N - n0);
    for (int64_t m0 = 0; m0 < M; m0 += MR)
      micro_kernel(K, ap + (m0 / MR) * K * MR, b, c + m0 * ldc + n0, ldc, std::min(MR, M - m0), nv, accumulate,
                   bias ? bias + m0 : nullptr);
  }
}

}  // namespace dcsr::kernels::cpu::packed

#endif  // __AVX512F__
