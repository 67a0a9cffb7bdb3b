// The SIMD input and output transforms of the Winograd convolution
// (winograd.h), eight tiles per __m256: one body for the AVX2 and the AVX-512
// files. Each includes this header inside its own anonymous namespace after
// defining DCSR_WINO_TARGET as its __attribute__((target(...))), so every
// function here is compiled for that file's ISA and none is shared between
// them (no inline function compiled for AVX-512 can be picked by the linker
// for a caller on an AVX2 machine).
//
// Tiles lie m floats apart along a strip row, so the columns j of eight
// consecutive tiles (x[m*t + j], t < 8) are strided; load_columns
// de-interleaves them with in-lane transposes and store_columns interleaves
// the outputs back.
// The including file includes <immintrin.h>, <cstdint> and
// winograd_transforms.h first (outside its namespace).
#pragma once

#ifndef DCSR_WINO_TARGET
#error "define DCSR_WINO_TARGET before including winograd_simd.h"
#endif

// In-lane 4x4 transposes of four vectors: out[j] lane h = (r0[j], r1[j], r2[j], r3[j]) of lane h.
[[gnu::always_inline]] DCSR_WINO_TARGET inline void transpose_lanes(__m256 r0, __m256 r1, __m256 r2, __m256 r3,
                                                                     __m256& o0, __m256& o1, __m256& o2,
                                                                     __m256& o3) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpacklo_ps(r2, r3);
  const __m256 t2 = _mm256_unpackhi_ps(r0, r1), t3 = _mm256_unpackhi_ps(r2, r3);
  o0 = _mm256_shuffle_ps(t0, t1, 0x44);
  o1 = _mm256_shuffle_ps(t0, t1, 0xEE);
  o2 = _mm256_shuffle_ps(t2, t3, 0x44);
  o3 = _mm256_shuffle_ps(t2, t3, 0xEE);
}

// The even and odd floats of a and b (16 floats, a first), in order:
// even = (a0 a2 a4 a6 b0 b2 b4 b6), odd = (a1 a3 ... b7). shuffle_ps leaves
// them in the order (0 1 4 5 | 2 3 6 7); the 64-bit permute restores it.
[[gnu::always_inline]] DCSR_WINO_TARGET inline void deinterleave(__m256 a, __m256 b, __m256& even, __m256& odd) {
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

// The loads of one row of an input window: in place (PlainRow), or masked
// to the columns [lo, hi) that lie inside the plane (EdgeRow: the lanes
// outside read as +0, the value a staged copy would hold, and are never
// touched, so p may point outside the plane). ld8, ld4: the floats
// p[off .. off + 8) and [off .. off + 4); ld2: p[off], p[off + 1] in lanes 0-1.
struct PlainRow {
  const float* p;
  [[gnu::always_inline]] DCSR_WINO_TARGET __m256 ld8(int off) const { return _mm256_loadu_ps(p + off); }
  [[gnu::always_inline]] DCSR_WINO_TARGET __m128 ld4(int off) const { return _mm_loadu_ps(p + off); }
  // (a 64-bit integer load: _mm_load_sd through a double* is a misaligned
  // double load to UBSan, since p + off is only float-aligned)
  [[gnu::always_inline]] DCSR_WINO_TARGET __m128 ld2(int off) const {
    return _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + off)));
  }
};
// Lane j's mask of eight: all ones where lo <= off + j < hi.
[[gnu::always_inline]] DCSR_WINO_TARGET inline __m256i lanes_between(int off, int lo, int hi) {
  const __m256i at = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(off));
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), at), _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), at));
}

struct EdgeRow {
  const float* p;
  int lo, hi;
  [[gnu::always_inline]] DCSR_WINO_TARGET __m256i mask8(int off) const { return lanes_between(off, lo, hi); }
  [[gnu::always_inline]] DCSR_WINO_TARGET __m256 ld8(int off) const {
    return _mm256_maskload_ps(p + off, mask8(off));
  }
  [[gnu::always_inline]] DCSR_WINO_TARGET __m128 ld4(int off) const {
    return _mm_maskload_ps(p + off, _mm256_castsi256_si128(mask8(off)));
  }
  [[gnu::always_inline]] DCSR_WINO_TARGET __m128 ld2(int off) const {
    const __m128i two = _mm_setr_epi32(-1, -1, 0, 0);
    return _mm_maskload_ps(p + off, _mm_and_si128(_mm256_castsi256_si128(mask8(off)), two));
  }
};

// c[j] = (p[m*t + j] for t < 8), j < m + 2, from the row's loads. Reads p[0 .. 8m + 2), no more.
template <int M, typename Row>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_columns(const Row& row, __m256 (&c)[M + 2]) {
  if constexpr (M == 4) {
    // Lx = tiles (2x, 2x+1); r_i = tiles (i, i+4), i <= 4.
    const __m256 l0 = row.ld8(0), l1 = row.ld8(8), l2 = row.ld8(16), l3 = row.ld8(24);
    const __m256 r0 = _mm256_permute2f128_ps(l0, l2, 0x20), r1 = _mm256_permute2f128_ps(l0, l2, 0x31);
    const __m256 r2 = _mm256_permute2f128_ps(l1, l3, 0x20), r3 = _mm256_permute2f128_ps(l1, l3, 0x31);
    // Tile 8: only its columns 0 and 1 are needed (and are the last two floats of the window).
    const __m128 tile8 = row.ld2(32);
    const __m256 r4 = _mm256_insertf128_ps(_mm256_castps128_ps256(row.ld4(16)), tile8, 1);
    transpose_lanes(r0, r1, r2, r3, c[0], c[1], c[2], c[3]);
    // Columns 4 and 5 of tile t are columns 0 and 1 of tile t + 1.
    const __m256 u0 = _mm256_unpacklo_ps(r1, r2), u1 = _mm256_unpacklo_ps(r3, r4);
    c[4] = _mm256_shuffle_ps(u0, u1, 0x44);
    c[5] = _mm256_shuffle_ps(u0, u1, 0xEE);
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    // Columns (0, 1), then (2, 3) = (0, 1) two floats on.
    for (int half = 0; half < 2; ++half)
      deinterleave(row.ld8(2 * half), row.ld8(2 * half + 8), c[2 * half], c[2 * half + 1]);
  }
}

// p[m*t + j] = o[j][t] + add for t < 8, j < m: the inverse of load_columns.
// With Edge, only the columns below `cols` are stored (and their residual
// read): an edge group's, straight into the output.
template <int M, bool Edge = false>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void store_columns(float* p, const __m256 (&o)[M], __m256 add,
                                                                   const float* residual, float slope,
                                                                   int cols = 8 * M) {
  // apply_epilogue's steps on 8 outputs: + bias, + residual, LeakyReLU (v > 0 ? v : slope v).
  const bool leaky = slope != 1.0f;
  const __m256 a = _mm256_set1_ps(slope), zero = _mm256_setzero_ps();
  // The lambda carries the target too: GCC does not give a lambda its
  // enclosing function's, and where the compiler's default ISA is narrower
  // (an AVX2 machine's -march=native building the AVX-512 file) the
  // always_inline intrinsics would not inline into it.
  auto store = [&](int at, __m256 v) DCSR_WINO_TARGET {
    if constexpr (Edge) {
      if (at >= cols) return;
      const __m256i lanes = lanes_between(at, 0, cols);
      v = _mm256_add_ps(v, add);
      if (residual) v = _mm256_add_ps(v, _mm256_maskload_ps(residual + at, lanes));
      if (leaky) v = _mm256_blendv_ps(_mm256_mul_ps(a, v), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
      _mm256_maskstore_ps(p + at, lanes, v);
    } else {
      v = _mm256_add_ps(v, add);
      if (residual) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + at));
      if (leaky) v = _mm256_blendv_ps(_mm256_mul_ps(a, v), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
      _mm256_storeu_ps(p + at, v);
    }
  };
  if constexpr (M == 4) {
    __m256 q0, q1, q2, q3;  // q_i = tiles (i, i + 4)
    transpose_lanes(o[0], o[1], o[2], o[3], q0, q1, q2, q3);
    store(0, _mm256_permute2f128_ps(q0, q1, 0x20));
    store(8, _mm256_permute2f128_ps(q2, q3, 0x20));
    store(16, _mm256_permute2f128_ps(q0, q1, 0x31));
    store(24, _mm256_permute2f128_ps(q2, q3, 0x31));
  } else {
    const __m256 lo = _mm256_unpacklo_ps(o[0], o[1]), hi = _mm256_unpackhi_ps(o[0], o[1]);  // (0 1 | 4 5), (2 3 | 6 7)
    store(0, _mm256_permute2f128_ps(lo, hi, 0x20));
    store(8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
}

// F(2x2, 5x5)'s columns: c[j] = (p[2t + j] for t < 8), j < 6, as
// load_columns<2> takes columns 0-3, with (4, 5) = (0, 1) four floats on.
// Reads p[0 .. 20), no more.
template <typename Row>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_columns_2x5(const Row& row, __m256 (&c)[6]) {
  for (int half = 0; half < 3; ++half)
    deinterleave(row.ld8(2 * half), row.ld8(2 * half + 8), c[2 * half], c[2 * half + 1]);
}

// F(4x4, 5x5)'s columns: c[j] = (p[4t + j] for t < 8), j < 8: load_columns<4>'s
// transpose for columns 0-3, and again four floats on for 4-7 (columns 0-3
// of tile t + 1). Reads p[0 .. 36), no more.
template <typename Row>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_columns_4x5(const Row& row, __m256 (&c)[8]) {
  for (int half = 0; half < 2; ++half) {
    const int q = 4 * half;
    const __m256 l0 = row.ld8(q), l1 = row.ld8(q + 8), l2 = row.ld8(q + 16), l3 = row.ld8(q + 24);
    const __m256 r0 = _mm256_permute2f128_ps(l0, l2, 0x20), r1 = _mm256_permute2f128_ps(l0, l2, 0x31);
    const __m256 r2 = _mm256_permute2f128_ps(l1, l3, 0x20), r3 = _mm256_permute2f128_ps(l1, l3, 0x31);
    transpose_lanes(r0, r1, r2, r3, c[4 * half], c[4 * half + 1], c[4 * half + 2], c[4 * half + 3]);
  }
}

// The columns of window row `row` for F(M x M, R x R).
template <int M, int R, typename Row>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_window_row(const Row& row, __m256 (&d)[M + R - 1]) {
  if constexpr (R == 5 && M == 4) load_columns_4x5(row, d);
  else if constexpr (R == 5) load_columns_2x5(row, d);
  else load_columns<M>(row, d);
}

// Kernels::input (Edge false) and Kernels::input_edge (Edge true: only the
// rows and columns of e are read, the rest taken as zeros): eight tiles of
// F(M x M, R x R), along x per window row, then along y.
template <int M, int R, bool Edge>
DCSR_WINO_TARGET void input_tiles(const float* p, int64_t ld, const EdgeBounds& e, float* v, int64_t pos_stride) {
  constexpr int N = M + R - 1;
  __m256 h[N][N];  // h[i][l]: window row i transformed along x, position l
#pragma GCC unroll 8
  for (int i = 0; i < N; ++i) {
    __m256 d[N];
    if constexpr (Edge) {
      if (i < e.row_lo || i >= e.row_hi) {
        for (int j = 0; j < N; ++j) d[j] = _mm256_setzero_ps();
      } else {
        load_window_row<M, R>(EdgeRow{p + i * ld, e.col_lo, e.col_hi}, d);
      }
    } else {
      load_window_row<M, R>(PlainRow{p + i * ld}, d);
    }
    winograd::input_1d_of<M, R>(d, h[i]);
  }
#pragma GCC unroll 8
  for (int l = 0; l < N; ++l) {
    __m256 col[N], o[N];
    for (int i = 0; i < N; ++i) col[i] = h[i][l];
    winograd::input_1d_of<M, R>(col, o);
    for (int k = 0; k < N; ++k) _mm256_storeu_ps(v + (k * N + l) * pos_stride, o[k]);
  }
}

// Kernels::output: eight tiles of F(M x M, R x R), along y, then along x into
// the rows, with the epilogue (Kernels::output in winograd.h); with Edge
// (Kernels::output_edge), only the first `rows` rows and `cols` columns.
template <int M, int R, bool Edge = false>
DCSR_WINO_TARGET void output_tiles(const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                                   const float* residual, float slope, int rows = M, int cols = 8 * M) {
  constexpr int N = M + R - 1;
  __m256 s[M][N];  // s[r][l]: output row r, position l along x
#pragma GCC unroll 8
  for (int l = 0; l < N; ++l) {
    __m256 col[N], o[M];
    for (int k = 0; k < N; ++k) col[k] = _mm256_loadu_ps(mo + (k * N + l) * pos_stride);
    winograd::output_1d_of<M, R>(col, o);
    for (int r = 0; r < M; ++r) s[r][l] = o[r];
  }
  const __m256 add = _mm256_set1_ps(bias);
#pragma GCC unroll 4
  for (int r = 0; r < M; ++r) {
    if (Edge && r >= rows) break;
    __m256 o[M];
    winograd::output_1d_of<M, R>(s[r], o);
    store_columns<M, Edge>(out + r * ld, o, add, residual ? residual + r * ld : nullptr, slope, cols);
  }
}

// c[j] = (p[m*t + j] for t < 8), j < m: the columns of eight m-wide tiles.
// Reads p[0 .. 8m), no more (the inverse of store_columns without the add).
template <int M>
[[gnu::always_inline]] DCSR_WINO_TARGET inline void load_tile_columns(const float* p, __m256 (&c)[M]) {
  if constexpr (M == 4) {
    const __m256 l0 = _mm256_loadu_ps(p), l1 = _mm256_loadu_ps(p + 8), l2 = _mm256_loadu_ps(p + 16),
                 l3 = _mm256_loadu_ps(p + 24);
    // r_i = tiles (i, i + 4), as in load_columns.
    const __m256 r0 = _mm256_permute2f128_ps(l0, l2, 0x20), r1 = _mm256_permute2f128_ps(l0, l2, 0x31);
    const __m256 r2 = _mm256_permute2f128_ps(l1, l3, 0x20), r3 = _mm256_permute2f128_ps(l1, l3, 0x31);
    transpose_lanes(r0, r1, r2, r3, c[0], c[1], c[2], c[3]);
  } else {
    static_assert(M == 2, "F(m x m, 3 x 3) for m = 2 or 4");
    deinterleave(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), c[0], c[1]);
  }
}

// WeightKernels::gradient: A dY A^T of eight m x m tiles of the output
// gradient (rows of 8m at p, row stride ld), along x per row, then along y.
template <int M>
DCSR_WINO_TARGET void gradient_tiles(const float* p, int64_t ld, float* z, int64_t pos_stride) {
  constexpr int N = M + 2;
  __m256 h[M][N];  // h[r][l]: tile row r transformed along x, position l
#pragma GCC unroll 4
  for (int r = 0; r < M; ++r) {
    __m256 d[M];
    load_tile_columns<M>(p + r * ld, d);
    winograd::gradient_1d<M>(d, h[r]);
  }
#pragma GCC unroll 6
  for (int l = 0; l < N; ++l) {
    __m256 col[M], o[N];
    for (int r = 0; r < M; ++r) col[r] = h[r][l];
    winograd::gradient_1d<M>(col, o);
    for (int k = 0; k < N; ++k) _mm256_storeu_ps(z + (k * N + l) * pos_stride, o[k]);
  }
}

// dst[t * ld_dst + i] = src[i * ld_src + t] for i, t < 8: an 8 x 8 transpose.
[[gnu::always_inline]] DCSR_WINO_TARGET inline void transpose_8x8(const float* src, int64_t ld_src, float* dst,
                                                                   int64_t ld_dst) {
  __m256 r[8], q[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld_src);
  // q[0..3]: rows 0-3 transposed within each 128-bit lane; q[4..7]: rows 4-7.
  transpose_lanes(r[0], r[1], r[2], r[3], q[0], q[1], q[2], q[3]);
  transpose_lanes(r[4], r[5], r[6], r[7], q[4], q[5], q[6], q[7]);
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ld_dst, _mm256_permute2f128_ps(q[j], q[j + 4], 0x20));
    _mm256_storeu_ps(dst + (j + 4) * ld_dst, _mm256_permute2f128_ps(q[j], q[j + 4], 0x31));
  }
}

// vt (block x cin, row stride ld) = v^T of v (cin x block, row stride block); block a multiple of 8.
DCSR_WINO_TARGET inline void transpose_tiles(const float* v, int64_t cin, int64_t block, float* vt, int64_t ld) {
  int64_t ci = 0;
  for (; ci + 8 <= cin; ci += 8)
    for (int64_t t = 0; t < block; t += 8) transpose_8x8(v + ci * block + t, block, vt + t * ld + ci, ld);
  for (; ci < cin; ++ci)
    for (int64_t t = 0; t < block; ++t) vt[t * ld + ci] = v[ci * block + t];
}

// WeightKernels::gradient for m = 2 or 4.
DCSR_WINO_TARGET void gradient(int m, const float* p, int64_t ld, float* z, int64_t pos_stride) {
  if (m == 4) return gradient_tiles<4>(p, ld, z, pos_stride);
  gradient_tiles<2>(p, ld, z, pos_stride);
}

// Kernels::multiply over `positions`: M (cout x Block, row stride Block) = U
// (cout x cin in panels of Rows, k-major) times V (cin x Block), panel by
// panel through the including file's register-blocked Tile (c (mv x Block)
// = a (cin x Rows) times b (cin x Block), mv <= Rows rows stored).
template <int64_t Rows, int64_t Block, void (*Tile)(int64_t, const float*, const float*, float*, int64_t)>
DCSR_WINO_TARGET void multiply_positions(int64_t positions, const float* u, const float* v, int64_t v_pos, float* mo,
                                         int64_t m_pos, int64_t cin, int64_t cout) {
  const int64_t panels = (cout + Rows - 1) / Rows;
  for (int64_t pos = 0; pos < positions; ++pos) {
    const float* up = u + pos * panels * cin * Rows;
    const float* vp = v + pos * v_pos;
    float* mp = mo + pos * m_pos;
    for (int64_t panel = 0; panel < panels; ++panel)
      Tile(cin, up + panel * cin * Rows, vp, mp + panel * Rows * Block, std::min(Rows, cout - panel * Rows));
  }
}

// WeightKernels::accumulate over the (m + 2)^2 positions: acc (cout_pad x
// cin_pad) += Z (cout_pad x Block) times V^T, V (cin x Block) transposed into
// vt first, in Rows x Cols blocks of the including file's Accumulate
// (c (Rows x Cols, row stride ldc) += a (Rows x Block) times b (Block x Cols, row stride ldb)).
template <int64_t Rows, int64_t Cols, int64_t Block,
          void (*Accumulate)(const float*, const float*, int64_t, float*, int64_t)>
DCSR_WINO_TARGET void accumulate_positions(int m, const float* z, int64_t z_pos, const float* v, int64_t v_pos,
                                           float* vt, float* acc, int64_t cin, int64_t cout_pad, int64_t cin_pad) {
  const int64_t positions = (m + 2) * (m + 2);
  for (int64_t pos = 0; pos < positions; ++pos) {
    transpose_tiles(v + pos * v_pos, cin, Block, vt, cin_pad);
    const float* zp = z + pos * z_pos;
    float* ap = acc + pos * cout_pad * cin_pad;
    for (int64_t co = 0; co < cout_pad; co += Rows)
      for (int64_t ci = 0; ci < cin_pad; ci += Cols)
        Accumulate(zp + co * Block, vt + ci, cin_pad, ap + co * cin_pad + ci, cin_pad);
  }
}

// Kernels::input, input_edge, output and output_edge for every variant m
// (2, 4, kF2x5, kF4x5), compiled for the including file's ISA.
template <bool Edge>
DCSR_WINO_TARGET void input_any(int m, const float* p, int64_t ld, const EdgeBounds& e, float* v,
                                int64_t pos_stride) {
  if (m == kF2x5) return input_tiles<2, 5, Edge>(p, ld, e, v, pos_stride);
  if (m == kF4x5) return input_tiles<4, 5, Edge>(p, ld, e, v, pos_stride);
  if (m == 4) return input_tiles<4, 3, Edge>(p, ld, e, v, pos_stride);
  input_tiles<2, 3, Edge>(p, ld, e, v, pos_stride);
}

DCSR_WINO_TARGET void input(int m, const float* p, int64_t ld, float* v, int64_t pos_stride) {
  input_any<false>(m, p, ld, EdgeBounds{}, v, pos_stride);
}

DCSR_WINO_TARGET void input_edge(int m, const float* p, int64_t ld, const EdgeBounds& e, float* v,
                                 int64_t pos_stride) {
  input_any<true>(m, p, ld, e, v, pos_stride);
}

DCSR_WINO_TARGET void output(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                             const float* residual, float slope) {
  if (m == kF2x5) return output_tiles<2, 5>(mo, pos_stride, bias, out, ld, residual, slope);
  if (m == kF4x5) return output_tiles<4, 5>(mo, pos_stride, bias, out, ld, residual, slope);
  if (m == 4) return output_tiles<4, 3>(mo, pos_stride, bias, out, ld, residual, slope);
  output_tiles<2, 3>(mo, pos_stride, bias, out, ld, residual, slope);
}

DCSR_WINO_TARGET void output_edge(int m, const float* mo, int64_t pos_stride, float bias, float* out, int64_t ld,
                                  const float* residual, float slope, int rows, int cols) {
  if (m == kF2x5) return output_tiles<2, 5, true>(mo, pos_stride, bias, out, ld, residual, slope, rows, cols);
  if (m == kF4x5) return output_tiles<4, 5, true>(mo, pos_stride, bias, out, ld, residual, slope, rows, cols);
  if (m == 4) return output_tiles<4, 3, true>(mo, pos_stride, bias, out, ld, residual, slope, rows, cols);
  output_tiles<2, 3, true>(mo, pos_stride, bias, out, ld, residual, slope, rows, cols);
}
