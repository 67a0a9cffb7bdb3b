// The Winograd convolution's AVX-512 kernels (winograd.h): the transforms of
// winograd_simd.h (eight tiles per ymm register) and, for F(4x4, 3x3), the
// same on sixteen tiles in zmm for two adjacent groups; an 8 x 32
// register-blocked multiply (16 zmm accumulators: 8 output channels x 32
// tiles), 32 tiles per job; and the weight gradient's gradient transform and
// an 8 x 32 accumulate (8 output x 32 input channels) over 32 tiles per job.
// Compiled for AVX-512F by function attributes, whatever the build's -march;
// called only where the CPU and the OS support it (isa.h).
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
static_assert(kBlock == 32, "tile_8x32 covers the 32 tiles of a job");

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

// Kernels::multiply: the panel loop of winograd_simd.h around tile_8x32.
constexpr auto multiply = &multiply_positions<kRows, kBlock, tile_8x32>;

// ---- F(4x4, 3x3) on sixteen tiles: two adjacent groups in one zmm ----
//
// At 32 channels the 8-tile ymm transforms took about as long as the
// multiply (perf, a 4K-mode image: 10% + 4.5% of the samples against 12%).
// A zmm of 16 tiles does twice the work for about the same shuffles:
// F(4x4) at 128 x 128, 32 channels 0.46 -> 0.32-0.39 ms, 64 channels
// 1.37 -> 0.98-1.18 ms (dcsr_bench --filter wino_plan, Zen 5). At a 4K
// tile's SR side (332 x 332, 14 MB a tensor) the conv waits on memory and
// the whole image did not move measurably. The tiles sit in the vector
// in the order of an in-lane 4x4 transpose: element i of 128-bit lane s is
// tile 4i + s. The multiply treats tiles as independent columns, so the
// order only has to be the same in input16 and output16, which both use it
// (transpose_lanes16 is its own inverse).

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_ps(),
// which -Wuninitialized reports when inlined (GCC bug 105593): silenced for
// the sixteen-tile functions only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// out[j] lane s = (r0[s][j], r1[s][j], r2[s][j], r3[s][j]): a 4x4 transpose in every 128-bit lane.
[[gnu::always_inline]] DCSR_WINO_TARGET inline void transpose_lanes16(__m512 r0, __m512 r1, __m512 r2, __m512 r3,
                                                                       __m512& o0, __m512& o1, __m512& o2,
                                                                       __m512& o3) {
  const __m512 t0 = _mm512_unpacklo_ps(r0, r1), t1 = _mm512_unpacklo_ps(r2, r3);
  const __m512 t2 = _mm512_unpackhi_ps(r0, r1), t3 = _mm512_unpackhi_ps(r2, r3);
  o0 = _mm512_shuffle_ps(t0, t1, 0x44);
  o1 = _mm512_shuffle_ps(t0, t1, 0xEE);
  o2 = _mm512_shuffle_ps(t2, t3, 0x44);
  o3 = _mm512_shuffle_ps(t2, t3, 0xEE);
}

// The sixteen-float loads of load_columns16, k = 0 .. 7: their offsets in
// the window row, and their lanes (the last one stops at the row's 66th float).
constexpr int kLoadOffset16[8] = {0, 16, 32, 48, 4, 20, 36, 52};
constexpr __mmask16 kLoadLanes16[8] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0x3FFF};

// A window row's loads, ld16(k): p[kLoadOffset16[k] + j] for the lanes j
// of load k, +0 elsewhere. PlainRow16 reads in place; EdgeRow16 takes each
// load's lanes from `lanes` (edge_lanes16: only the columns inside the
// plane, never touching the others, so p may point outside it).
struct PlainRow16 {
  const float* p;
  [[gnu::always_inline]] DCSR_WINO_TARGET __m512 ld16(int k) const {
    return kLoadLanes16[k] == 0xFFFF ? _mm512_loadu_ps(p + kLoadOffset16[k])
                                     : _mm512_maskz_loadu_ps(kLoadLanes16[k], p + kLoadOffset16[k]);
  }
};
struct EdgeRow16 {
  const float* p;
  const __mmask16* lanes;
  [[gnu::always_inline]] DCSR_WINO_TARGET __m512 ld16(int k) const {
    return _mm512_maskz_loadu_ps(lanes[k], p + kLoadOffset16[k]);
  }
};

// The lanes j of a sixteen-float access at column `off` with lo <= off + j < hi.
inline __mmask16 lanes_inside(int off, int lo, int hi) {
  const int a = std::clamp(lo - off, 0, 16), b = std::clamp(hi - off, 0, 16);
  return __mmask16(b > a ? ((1u << b) - 1) & ~((1u << a) - 1) : 0u);
}

// The lanes of load k that fall in the columns [lo, hi).
inline void edge_lanes16(int lo, int hi, __mmask16 (&lanes)[8]) {
  for (int k = 0; k < 8; ++k) lanes[k] = lanes_inside(kLoadOffset16[k], lo, hi) & kLoadLanes16[k];
}

// c[j] = column j of the sixteen tiles at p (tile t's is p[4t + j]), j < 6,
// in the transposed tile order. Reads p[0 .. 66), no more (the last load is
// masked to it).
template <typename Row>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_columns16(const Row& row, __m512 (&c)[6]) {
  transpose_lanes16(row.ld16(0), row.ld16(1), row.ld16(2), row.ld16(3), c[0], c[1], c[2], c[3]);
  // Columns 4 and 5 of tile t are columns 0 and 1 of tile t + 1: the same transpose of the loads one tile
  // on (its other two outputs are unused, and the compiler drops them).
  __m512 unused2, unused3;
  transpose_lanes16(row.ld16(4), row.ld16(5), row.ld16(6), row.ld16(7), c[4], c[5], unused2, unused3);
}

// The second half of input16's transform: h[i][l] (window row i already
// transformed along x, position l, sixteen tiles a vector) transformed down
// each column l, stored to V position by position.
[[gnu::always_inline]] DCSR_WINO_TARGET inline void input16_columns(const __m512 (&h)[6][6], float* v,
                                                                    int64_t pos_stride) {
  constexpr int N = 6;
#pragma GCC unroll 6
  for (int l = 0; l < N; ++l) {
    __m512 col[N], o[N];
    for (int i = 0; i < N; ++i) col[i] = h[i][l];
    winograd::input_1d<4>(col, o);
    for (int k = 0; k < N; ++k) _mm512_storeu_ps(v + (k * N + l) * pos_stride, o[k]);
  }
}

// Kernels::input16 (Edge false) and input16_edge (Edge true: only the rows
// and columns of e read, the rest zeros): sixteen tiles of F(4x4, 3x3), the
// 6 x 66 window at p.
template <bool Edge>
DCSR_WINO_TARGET void input16_any(const float* p, int64_t ld, const EdgeBounds& e, float* v, int64_t pos_stride) {
  constexpr int N = 6;
  __m512 h[N][N];  // h[i][l]: window row i transformed along x, position l
  __mmask16 lanes[8];
  if constexpr (Edge) edge_lanes16(e.col_lo, e.col_hi, lanes);
#pragma GCC unroll 6
  for (int i = 0; i < N; ++i) {
    __m512 d[N];
    if constexpr (Edge) {
      if (i < e.row_lo || i >= e.row_hi) {
        for (int j = 0; j < N; ++j) d[j] = _mm512_setzero_ps();
      } else {
        load_columns16(EdgeRow16{p + i * ld, lanes}, d);
      }
    } else {
      load_columns16(PlainRow16{p + i * ld}, d);
    }
    winograd::input_1d<4>(d, h[i]);
  }
  input16_columns(h, v, pos_stride);
}

DCSR_WINO_TARGET void input16(const float* p, int64_t ld, float* v, int64_t pos_stride) {
  input16_any<false>(p, ld, EdgeBounds{}, v, pos_stride);
}

DCSR_WINO_TARGET void input16_edge(const float* p, int64_t ld, const EdgeBounds& e, float* v, int64_t pos_stride) {
  input16_any<true>(p, ld, e, v, pos_stride);
}

// Kernels::stage_phase_window (stage_phase_window16): dst[i][j] = plane[y0 + 2 i][x0 + 2 j] (0
// outside the H x W plane), dst rows x cols, sixteen columns at a time: the
// 32 floats from source column x0 + 2 j on in two loads, their even ones
// picked by one two-source permute. Where the 32 floats reach past the
// plane's row (or start before it), the loads are masked to the columns
// inside it that the sixteen need, which read as +0, as the staged zeros
// of winograd::stage_phase_window; nothing outside the plane is touched.
DCSR_WINO_TARGET void stage_phase_window16(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0,
                                         int64_t rows, int64_t cols, float* dst) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t i = 0; i < rows; ++i, dst += cols) {
    const int64_t iy = y0 + 2 * i;
    const bool row_inside = iy >= 0 && iy < H;
    for (int64_t j = 0; j < cols; j += 16) {
      const int64_t n = std::min<int64_t>(16, cols - j);  // columns of this store
      __m512 v = _mm512_setzero_ps();
      if (row_inside) {
        const int64_t at = x0 + 2 * j;       // the source column of dst[i][j]
        const float* src = plane + iy * W + at;  // may lie before the row (only the lanes inside are read)
        if (at >= 0 && at + 32 <= W) {
          v = _mm512_permutex2var_ps(_mm512_loadu_ps(src), even, _mm512_loadu_ps(src + 16));
        } else {
          // The lanes k of the 32 with 0 <= at + k < W and k < 2 n - 1 (the last even one needed).
          const int lo = int(std::clamp<int64_t>(-at, 0, 32));
          const int hi = int(std::max<int64_t>(lo, std::min(W - at, 2 * n - 1)));
          v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lanes_inside(0, lo, hi), src), even,
                                     _mm512_maskz_loadu_ps(lanes_inside(16, lo, hi), src + 16));
        }
      }
      if (n == 16) {
        _mm512_storeu_ps(dst + j, v);
      } else {
        _mm512_mask_storeu_ps(dst + j, lanes_inside(0, 0, int(n)), v);
      }
    }
  }
}

// Phase columns 16k + 4 .. 16k + 19 from P_k and P_(k+1). A function with
// the kernel's target rather than a lambda inside the kernel: GCC does not
// give a lambda its enclosing function's target, so where the compiler's
// default ISA lacks AVX-512 (an AVX2 machine's -march=native) the
// intrinsics would not inline into it and the build fails.
DCSR_WINO_TARGET inline __m512 phase_columns_from4(__m512 this_block, __m512 next_block) {
  return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next_block), _mm512_castps_si512(this_block), 4));
}

// Kernels::input16_phase: input16 on the 6 x 66 window of one pixel phase,
// dst[i][j] = plane[y0 + 2 i][x0 + 2 j] (0 outside the plane), its rows
// built in registers as stage_phase_window16 builds them (P_c: phase columns
// 16c .. 16c + 15) and input16's loads at 4, 20, 36 and 52 shifted from them.
DCSR_WINO_TARGET void input16_phase(const float* plane, int64_t H, int64_t W, int64_t y0, int64_t x0, float* v,
                                    int64_t pos_stride) {
  constexpr int N = 6;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __m512 h[N][N];
#pragma GCC unroll 6
  for (int i = 0; i < N; ++i) {
    __m512 d[N];
    const int64_t iy = y0 + 2 * i;
    if (iy < 0 || iy >= H) {
      for (int j = 0; j < N; ++j) d[j] = _mm512_setzero_ps();
    } else {
      __m512 c[5];
      const float* row = plane + iy * W;
      for (int k = 0; k < 5; ++k) {
        const int64_t at = x0 + 32 * k, n = k < 4 ? 16 : 2;
        const float* src = row + at;
        if (at >= 0 && at + 32 <= W) {
          c[k] = _mm512_permutex2var_ps(_mm512_loadu_ps(src), even, _mm512_loadu_ps(src + 16));
        } else {
          const int lo = int(std::clamp<int64_t>(-at, 0, 32));
          const int hi = int(std::max<int64_t>(lo, std::min(W - at, 2 * n - 1)));
          c[k] = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lanes_inside(0, lo, hi), src), even,
                                        _mm512_maskz_loadu_ps(lanes_inside(16, lo, hi), src + 16));
        }
      }
      transpose_lanes16(c[0], c[1], c[2], c[3], d[0], d[1], d[2], d[3]);
      __m512 unused2, unused3;
      transpose_lanes16(phase_columns_from4(c[0], c[1]), phase_columns_from4(c[1], c[2]),
                        phase_columns_from4(c[2], c[3]), _mm512_maskz_mov_ps(0x3FFF, phase_columns_from4(c[3], c[4])),
                        d[4], d[5], unused2, unused3);
    }
    winograd::input_1d<4>(d, h[i]);
  }
  input16_columns(h, v, pos_stride);
}

// Kernels::output16: sixteen tiles of F(4x4, 3x3) into 4 rows of 64 at out,
// with the epilogue in apply_epilogue's order and roundings (as output);
// with Edge (output16_edge), only the first `rows` rows and `cols` columns.
template <bool Edge>
DCSR_WINO_TARGET void output16_any(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                                   const float* residual, float slope, int rows, int cols) {
  constexpr int N = 6, M = 4;
  __m512 s[M][N];  // s[r][l]: output row r, position l along x
#pragma GCC unroll 6
  for (int l = 0; l < N; ++l) {
    __m512 col[N], o[M];
    for (int k = 0; k < N; ++k) col[k] = _mm512_loadu_ps(mo + (k * N + l) * pos_stride);
    winograd::output_1d<4>(col, o);
    for (int r = 0; r < M; ++r) s[r][l] = o[r];
  }
  const __m512 add = _mm512_set1_ps(bias), a = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
  const bool leaky = slope != 1.0f;
  // The lanes of store i inside the first `cols` columns.
  __mmask16 lanes[M];
  for (int i = 0; i < M; ++i) lanes[i] = Edge ? lanes_inside(16 * i, 0, cols) : __mmask16(0xFFFF);
#pragma GCC unroll 4
  for (int r = 0; r < M; ++r) {
    if (Edge && r >= rows) break;
    __m512 o[M], q[M];
    winograd::output_1d<4>(s[r], o);
    transpose_lanes16(o[0], o[1], o[2], o[3], q[0], q[1], q[2], q[3]);  // q[i] = p[16i .. 16i + 16)
    float* row = out + r * ld;
    const float* res = residual ? residual + r * ld : nullptr;
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      __m512 x = _mm512_add_ps(q[i], add);
      if (res) {
        x = _mm512_add_ps(x, Edge ? _mm512_maskz_loadu_ps(lanes[i], res + 16 * i) : _mm512_loadu_ps(res + 16 * i));
      }
      if (leaky) x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), _mm512_mul_ps(a, x), x);
      if (Edge) {
        _mm512_mask_storeu_ps(row + 16 * i, lanes[i], x);
      } else {
        _mm512_storeu_ps(row + 16 * i, x);
      }
    }
  }
}

DCSR_WINO_TARGET void output16(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                               const float* residual, float slope) {
  output16_any<false>(mo, pos_stride, bias, out, ld, residual, slope, 4, 64);
}

DCSR_WINO_TARGET void output16_edge(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                                    const float* residual, float slope, int rows, int cols) {
  output16_any<true>(mo, pos_stride, bias, out, ld, residual, slope, rows, cols);
}

#pragma GCC diagnostic pop

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

// WeightKernels::accumulate: the position loop of winograd_simd.h around accumulate_8x32.
constexpr auto accumulate = &accumulate_positions<kWeightRows, kWeightCols, kWeightBlock, accumulate_8x32>;

}  // namespace

const Kernels& avx512_kernels() {
  static const Kernels kernels{kRows,    kBlock,     input,        multiply,    output,        input16,
                               output16, input_edge, input16_edge, output_edge, output16_edge, stage_phase_window16,
                               input16_phase};
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
