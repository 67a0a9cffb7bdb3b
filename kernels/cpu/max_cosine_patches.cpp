// Exact matching from the feature maps (max_cosine_patches.h).
//
// The sweep. Jobs are bands of kBand query rows times blocks of at most kCols
// query columns; a job's queries are its lanes, kLanes per band row (the
// block's columns and the two padding columns its 3x3 windows reach). For
// each diagonal d = v - y of the job's band it forms the pixel products of
// the row pairs (Y, Y + d) it needs, P[U][l] = Fk(:, Y + d, U) . Fq(:, Y, x0 + l)
// (one float32 multiply-add chain over the channels; or, where the CPU has
// AVX512_VNNI, the exact int32 sum of the pixels rounded to int16, scaled
// back: max_cosine_patches_int16.h), each once, into one of
// three slots; a band row y then sums the three of its row pairs,
// R = P[y] + P[y + 1] + P[y + 2], and key u's score is
// R[u][l] + R[u + 1][l + 1] + R[u + 2][l + 2] times the two reciprocal
// norms (three rows of R in registers, score_row: stored and read back, they
// took a fifth of the sweep's time). Keys reach every query in increasing
// order (v rises with d, u within a row), so each query's list is in key
// order.
//
// The bound. For query i and key j let F_i, F_j be their patches (the 9C
// padded map values, exact float32 inputs), n_i, n_j their norms (computed in
// double), q_i, k_j the descriptor columns the float32 kernel reads (F / norm,
// rounded, as normalize_columns makes them), t = (F_i . F_j) / (n_i n_j), and
// f the float32 kernel's value (the chain acc += k[d] q[d]). Then
//   |f - q.k| <= gamma_D |q_i| |k_j|           (D roundings, sum |q_d k_d| <= |q||k|),
//   |q.k - t| <= r_i |k_j| + r_j               (r = |q - F / n|, computed in double;
//                                               |F_i / n_i| = 1),
//   |a - t|   <= gamma_(2C+8) (1 + gamma_4) + gamma_4 + 1e-30
//     (a sums the C products of each of the nine pixel pairs and then the
//     nine sums, at most 2C + 8 roundings of terms whose absolute values add
//     up to at most n_i n_j (Cauchy-Schwarz over all 9C terms), whether or
//     not the compiler fuses the multiply-adds; then two products with
//     reciprocals rounded once each; 1e-30 covers products that fall below
//     the normal range, as norms inside [1e-6, 1e15] keep them).
// With the int16 products the third line is replaced by exact_match_patches'
// int16_approx: the pixels' rounding, bounded patch by patch, and fewer
// float32 roundings.
// So |a - f| <= E_i, the sum of the three right-hand sides at the keys'
// largest |k_j| and r_j, and as in max_cosine_int16.cpp every key within
// T_i = 2 E_i (widened by 1e-5 relative and 4.04 u for the rounding of the
// float threshold) of the query's running best is a candidate: the float32
// argmax, and any key that ties it exactly, is among them.
#include "kernels/cpu/max_cosine_patches.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/match_candidates.h"
#include "kernels/cpu/max_cosine_patches_int16.h"
#include "kernels/reflect_index.h"
#include "tensor/tensor.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace dcsr::kernels::cpu {

namespace {

using match::JobState;

std::atomic<int64_t> g_queries{0}, g_rescored{0}, g_fallbacks{0}, g_declined{0}, g_zero_queries{0};
std::atomic<int> g_forced{-1};

constexpr int kVec = 16;                      // floats per vector
constexpr int kLaneVecs = 4;                  // vectors of query columns per job
constexpr int64_t kLanes = kVec * kLaneVecs;  // padded query columns a job reads
constexpr int64_t kCols = kLanes - 2;         // query columns a job matches
constexpr int64_t kBand = 16;                 // query rows a job matches
constexpr int kChannelChunk = 16;             // query vectors held in registers while P is formed
constexpr int64_t kKeyChunk = 32;             // keys of a row scored per pass: P and R stay in L1
constexpr int64_t kSlot = (kKeyChunk + 2) * kLanes;  // one P slot
constexpr double kUnit = 1.0 / 16777216.0;    // u = 2^-24

// 16 floats: one AVX-512 register, or two AVX2 ones where the build's ISA
// (-march=native) lacks AVX-512. Then GCC notes (-Wpsabi) that passing such a
// vector by value has another ABI than with AVX-512: no matter here, every
// function that takes one is internal to this file and built with its flags.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float Vec __attribute__((vector_size(kVec * sizeof(float))));
typedef int32_t Mask __attribute__((vector_size(kVec * sizeof(float))));

inline Vec loadu(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void storeu(float* p, const Vec& v) { std::memcpy(p, &v, sizeof(v)); }

// Lanes S .. S + 15 of the 32 lanes lo, hi: lo shifted down by S lanes, hi's
// first S lanes after it.
template <int S>
inline Vec shift_lanes(const Vec& lo, const Vec& hi) {
#if defined(__AVX512F__)
  // GCC 12's alignr starts from _mm512_undefined_epi32(), which
  // -Wmaybe-uninitialized reports where it is inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  return Vec(_mm512_alignr_epi32(__m512i(hi), __m512i(lo), S));
#pragma GCC diagnostic pop
#else
  // One shuffle of the 32 lanes (lo's are 0-15, hi's 16-31), not a loop
  // filling a local vector lane by lane, which GCC 12 reports as maybe
  // uninitialized where it is inlined.
  typedef int32_t Lanes __attribute__((vector_size(kVec * sizeof(int32_t))));
  return __builtin_shuffle(lo, hi, Lanes{S, S + 1, S + 2, S + 3, S + 4, S + 5, S + 6, S + 7, S + 8, S + 9, S + 10,
                                         S + 11, S + 12, S + 13, S + 14, S + 15});
#endif
}


// Bit l set where a[l] >= b[l] (false where either is NaN).
inline uint32_t ge_bits(const Vec& a, const Vec& b) {
#if defined(__AVX512F__)
  return _mm512_cmp_ps_mask(__m512(a), __m512(b), _CMP_GE_OQ);
#else
  // The lanes are read from a copy, not as m[l]: GCC 12's -fsanitize=bounds
  // (the sanitizer build) checks a variable subscript of a vector against a
  // wrong object, and that build's map sweep read garbage here (every
  // query's candidates wrong at -O2; at -O1, "index 17 out of bounds for
  // type 'int [16]'" and a crash).
  const Mask m = a >= b;
  int32_t lanes[kVec];
  std::memcpy(lanes, &m, sizeof(m));
  uint32_t bits = 0;
  for (int l = 0; l < kVec; ++l) bits |= (lanes[l] != 0 ? 1u : 0u) << l;
  return bits;
#endif
}

inline double gamma(double n) { return n * kUnit / (1.0 - n * kUnit); }

// The per-patch numbers of one side: 1 / n (float, 0 for a zero patch), and
// for the bound |column|, r = |column - F / n| (0 where n = 0).
struct Side {
  std::vector<float> inv_norm;
  std::vector<double> norm;  // n, the patch norm (double)
  std::vector<double> column_norm, residual;
  bool usable = true;  // every value finite, every nonzero norm inside [1e-6, 1e15]
};

// map (C, H, W); cols (9C, H W), the descriptors. One parallel job per patch row.
Side side_of(const float* map, int64_t C, int64_t H, int64_t W, const float* cols) {
  const int64_t L = H * W;
  Side s;
  s.inv_norm.assign(size_t(L), 0.0f);
  s.norm.assign(size_t(L), 0.0);
  s.column_norm.assign(size_t(L), 0.0);
  s.residual.assign(size_t(L), 0.0);
  std::atomic<bool> usable{true};
  parallel_for(H, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> sq(static_cast<size_t>(W)), colsq(static_cast<size_t>(W)), res(static_cast<size_t>(W));
    // One map row, reflection-padded (padded[p] = row[reflect_pad1(p, W)], p < W + 2) in double, so that the loops
    // over x below run on contiguous values (indexed through reflect_pad1, they did not vectorize); the sums are
    // the same, in the same order.
    std::vector<double> padded(static_cast<size_t>(W + 2));
    auto pad_row = [&](const float* row) {
      for (int64_t p = 0; p < W + 2; ++p) padded[size_t(p)] = row[reflect_pad1(p, W)];
    };
    for (int64_t y = begin; y < end; ++y) {
      std::fill(sq.begin(), sq.end(), 0.0);
      std::fill(colsq.begin(), colsq.end(), 0.0);
      std::fill(res.begin(), res.end(), 0.0);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t ky = 0; ky < 3; ++ky) {
          pad_row(map + (c * H + reflect_pad1(y + ky, H)) * W);
          for (int64_t kx = 0; kx < 3; ++kx) {
            const double* v = padded.data() + kx;
            for (int64_t x = 0; x < W; ++x) sq[size_t(x)] += v[x] * v[x];
          }
        }
      for (int64_t x = 0; x < W; ++x) {
        const double n = std::sqrt(sq[size_t(x)]);
        if (!std::isfinite(n) || (n != 0 && (n < 1e-6 || n > 1e15))) usable = false;
        sq[size_t(x)] = n;  // now the norm
      }
      for (int64_t c = 0; c < C; ++c)
        for (int64_t ky = 0; ky < 3; ++ky) {
          pad_row(map + (c * H + reflect_pad1(y + ky, H)) * W);
          for (int64_t kx = 0; kx < 3; ++kx) {
            const float* col = cols + (c * 9 + ky * 3 + kx) * L + y * W;
            const double* f = padded.data() + kx;
            for (int64_t x = 0; x < W; ++x) {
              const double n = sq[size_t(x)], v = col[x];
              const double e = n > 0 ? v - f[x] / n : v;
              colsq[size_t(x)] += v * v;
              res[size_t(x)] += e * e;
            }
          }
        }
      for (int64_t x = 0; x < W; ++x) {
        const size_t i = size_t(y * W + x);
        // The double sums are exact to far below the margins of the bound.
        s.column_norm[i] = std::sqrt(colsq[size_t(x)]) * (1 + 1e-12);
        s.residual[i] = std::sqrt(res[size_t(x)]) * (1 + 1e-12);
        if (!std::isfinite(s.column_norm[i])) usable = false;
        s.norm[i] = sq[size_t(x)];
        s.inv_norm[i] = sq[size_t(x)] > 0 ? float(1.0 / sq[size_t(x)]) : 0.0f;
      }
    }
  });
  s.usable = usable;
  return s;
}

// P[U][l] (+)= sum over c in [c0, c0 + NC) of key_row[U][c] * q[c][l] for
// lanes v * kVec .. + kVec and U < cols_p, the chain over c in order (from
// zero where c0 = 0): key_row channels-last (row stride C), q (C, kLanes).
// NC > 0 fixes the chunk's channel count at compile time, so its query
// vectors stay in registers; 0 takes nc. Eight U at once: eight independent
// chains hide the multiply-add's latency.
template <int NC>
void products_chunk(const float* key_row, int64_t C, int64_t c0, int64_t nc, const float* q, int v, int64_t cols_p,
                    float* P) {
  if (NC > 0) nc = NC;
  constexpr int kU = 8;
  Vec qv[kChannelChunk];
#pragma GCC unroll 16
  for (int64_t c = 0; c < nc; ++c) qv[c] = loadu(q + (c0 + c) * kLanes + v * kVec);
  int64_t U = 0;
  for (; U + kU <= cols_p; U += kU) {
    Vec acc[kU];
#pragma GCC unroll 8
    for (int r = 0; r < kU; ++r) acc[r] = c0 > 0 ? loadu(P + (U + r) * kLanes + v * kVec) : Vec{};
    const float* k0 = key_row + U * C + c0;
#pragma GCC unroll 16
    for (int64_t c = 0; c < nc; ++c)
#pragma GCC unroll 8
      for (int r = 0; r < kU; ++r) acc[r] += k0[r * C + c] * qv[c];
#pragma GCC unroll 8
    for (int r = 0; r < kU; ++r) storeu(P + (U + r) * kLanes + v * kVec, acc[r]);
  }
  for (; U < cols_p; ++U) {
    Vec a = c0 > 0 ? loadu(P + U * kLanes + v * kVec) : Vec{};
    for (int64_t c = 0; c < nc; ++c) a += key_row[U * C + c0 + c] * qv[c];
    storeu(P + U * kLanes + v * kVec, a);
  }
}

// P[U][l] = sum over c of key_row[U][c] * q[c][l] for U < cols_p and the
// lanes of the first nv vectors (the chain over c in order, from zero):
// key_row channels-last, q (C, kLanes).
void pixel_products(const float* key_row, const float* q, int64_t C, int64_t cols_p, int nv, float* P) {
  for (int v = 0; v < nv; ++v)
    for (int64_t c0 = 0; c0 < C; c0 += kChannelChunk) {
      const int64_t nc = std::min<int64_t>(kChannelChunk, C - c0);
      if (nc == kChannelChunk) {
        products_chunk<kChannelChunk>(key_row, C, c0, nc, q, v, cols_p, P);
      } else {
        products_chunk<0>(key_row, C, c0, nc, q, v, cols_p, P);
      }
    }
}

// One job's scratch.
struct Scratch {
  std::vector<float> q;          // [band row + 2][C][kLanes]: the padded query rows (float32 products)
  std::vector<int32_t> q_words;  // [band row + 2][C2][kLanes]: the same in int16 pairs (int16 products)
  std::vector<float> q_scale;    // [band row + 2][kLanes]: their scales
  std::vector<float> slots;      // 3 x [U][kLanes]: P of three row pairs
  std::vector<float> iq;         // [band row][kLanes]: 1 / n of the queries, 0 for padding lanes
  JobState st;
  Scratch(int64_t C, int64_t D, bool int16)
      : q(int16 ? 0 : size_t((kBand + 2) * C * kLanes)),
        q_words(int16 ? size_t((kBand + 2) * ((C + 1) / 2) * kLanes) : 0),
        q_scale(int16 ? size_t((kBand + 2) * kLanes) : 0), slots(size_t(3 * kSlot)), iq(size_t(kBand * kLanes)),
        st(kBand * kLanes, D) {}
};

// Per patch of an H x W map (reflection padding 1), the L2 norm of its nine
// pixels' rounding errors: sqrt of the 3 x 3 window sum of err2 (rounded up).
std::vector<double> patch_errors(const std::vector<double>& err2, int64_t H, int64_t W) {
  std::vector<double> out(size_t(H * W));
  parallel_for(H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double sum = 0;
        for (int64_t ky = 0; ky < 3; ++ky)
          for (int64_t kx = 0; kx < 3; ++kx) sum += err2[size_t(reflect_pad1(y + ky, H) * W + reflect_pad1(x + kx, W))];
        out[size_t(y * W + x)] = std::sqrt(sum) * (1 + 1e-12);
      }
  });
  return out;
}

// Band row r's three row pairs summed and scored, for nu keys of one row in
// its first NV vectors of lanes: R[U] = P0[U] + P1[U] + P2[U] (the pixel
// products of its row pairs), and key u's score is
// R[u][l] + R[u + 1][l + 1] + R[u + 2][l + 2] times 1 / n of the key (ik[u])
// and of the query; the running best follows, and every lane within its gap
// of it gets key first_key + u as a candidate. Three rows of R live in
// registers, the shifted lanes made by alignr from a row's next vector (zero
// past the last: those lanes feed only padding lanes).
//
// A key is compared only against thr = best - gap, kept in registers: a
// lane is a candidate (a >= max(a, best) - gap) exactly when a >= best - gap,
// since gap >= 0 (a > best implies it; otherwise max(a, best) = best), and
// the best moves only for such lanes. So the max and the subtraction run
// only on the rare keys where some lane passes, with the same results.
// (Padding lanes have best and gap -inf: thr is NaN, and they never pass.)
template <int NV>
void score_row(const float* P0, const float* P1, const float* P2, int64_t nu, const float* ik, int32_t first_key,
               int64_t r, Scratch& sc) {
  JobState& st = sc.st;
  float* best = st.best.data() + r * kLanes;
  const float* gap = st.threshold_gap.data() + r * kLanes;
  const float* iq = sc.iq.data() + r * kLanes;
  Vec b[NV], thr[NV], qn[NV];
  for (int v = 0; v < NV; ++v) {
    b[v] = loadu(best + v * kVec);
    thr[v] = b[v] - loadu(gap + v * kVec);
    qn[v] = loadu(iq + v * kVec);
  }
  // R row U: vectors 0 .. NV - 1, and a zero vector NV.
  auto row_sum = [&](int64_t U, Vec (&R)[NV + 1]) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t at = U * kLanes + v * kVec;
      R[v] = loadu(P0 + at) + loadu(P1 + at) + loadu(P2 + at);
    }
    R[NV] = Vec{};
  };
  // Key u: R0 = R[u], R1 = R[u + 1]; R2 receives R[u + 2].
  auto step = [&](int64_t u, const Vec (&R0)[NV + 1], const Vec (&R1)[NV + 1], Vec (&R2)[NV + 1]) {
    row_sum(u + 2, R2);
    Vec a[NV];
    uint32_t any = 0;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const Vec s = R0[v] + shift_lanes<1>(R1[v], R1[v + 1]) + shift_lanes<2>(R2[v], R2[v + 1]);
      a[v] = (s * ik[u]) * qn[v];
      any |= ge_bits(a[v], thr[v]);
    }
    if (any == 0) return;
    // Rare once the running best is near the final one: update, append, go on.
    alignas(64) float scores[kLanes];
    alignas(64) int32_t hits[kLanes];
    for (int v = 0; v < NV; ++v) {
      const Vec g = loadu(gap + v * kVec);
      b[v] = a[v] > b[v] ? a[v] : b[v];
      const Mask hit = a[v] >= b[v] - g;
      thr[v] = b[v] - g;
      storeu(best + v * kVec, b[v]);
      storeu(scores + v * kVec, a[v]);
      std::memcpy(hits + v * kVec, &hit, sizeof(hit));
    }
    for (int64_t l = 0; l < NV * kVec; ++l)
      if (hits[l]) match::add_candidate(st, r * kLanes + l, first_key + int32_t(u), scores[l]);
  };
  // Rc is zeroed only to quiet GCC 12's -Wmaybe-uninitialized, which cannot
  // see that the first step's row_sum fills it before it is read.
  Vec Ra[NV + 1], Rb[NV + 1], Rc[NV + 1] = {};
  row_sum(0, Ra);
  row_sum(1, Rb);
  int64_t u = 0;
  for (; u + 3 <= nu; u += 3) {  // the three rows rotate through the registers
    step(u, Ra, Rb, Rc);
    step(u + 1, Rb, Rc, Ra);
    step(u + 2, Rc, Ra, Rb);
  }
  if (u < nu) step(u, Ra, Rb, Rc);
  if (u + 1 < nu) step(u + 1, Rb, Rc, Ra);
}

// score_row for nv (1 .. kLaneVecs) vectors.
void score_row_any(int nv, const float* P0, const float* P1, const float* P2, int64_t nu, const float* ik,
                   int32_t first_key, int64_t r, Scratch& sc) {
  switch (nv) {
    case 1: return score_row<1>(P0, P1, P2, nu, ik, first_key, r, sc);
    case 2: return score_row<2>(P0, P1, P2, nu, ik, first_key, r, sc);
    case 3: return score_row<3>(P0, P1, P2, nu, ik, first_key, r, sc);
    default: return score_row<kLaneVecs>(P0, P1, P2, nu, ik, first_key, r, sc);
  }
}

}  // namespace

bool patch_match_allowed() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return forced == 1;
  return cpu_match_path() == CpuMatchPath::kAuto;
}
void set_patch_match_allowed(bool allowed) { g_forced.store(allowed ? 1 : 0, std::memory_order_relaxed); }
void reset_patch_match_allowed() { g_forced.store(-1, std::memory_order_relaxed); }

PatchMatchStats patch_match_stats() {
  return {{g_queries.load(), g_rescored.load(), g_fallbacks.load(), g_declined.load()}, g_zero_queries.load()};
}
void reset_patch_match_stats() { g_queries = g_rescored = g_fallbacks = g_declined = g_zero_queries = 0; }

bool exact_match_patches(const PatchMaps& m, const float* q, const float* k, float* conf, int64_t* index,
                         int64_t workspace_bytes, const Float32Match& float32_match) {
  const int64_t C = m.C, Hq = m.Hq, Wq = m.Wq, Hk = m.Hk, Wk = m.Wk, D = 9 * C;
  const int64_t Nq = Hq * Wq, Nk = Hk * Wk, cols_p = Wk + 2;
  if (!patch_match_allowed() || C <= 0 || Hq < 2 || Wq < 2 || Hk < 2 || Wk < 2 ||
      Nk > std::numeric_limits<int32_t>::max())
    return false;
  // Column blocks of kCols, the last one narrower: a job forms only the lane
  // vectors its columns and their padding need (42 columns: 3 of the 4).
  const int64_t bands = (Hq + kBand - 1) / kBand, blocks = (Wq + kCols - 1) / kCols, jobs = bands * blocks;
  const int64_t threads = omp_in_parallel() ? 1 : std::min<int64_t>(std::max(1, omp_get_max_threads()), jobs);
  // The pixel products in int16 where the CPU has VNNI (max_cosine_patches_int16.h), else in float32.
  const bool int16 = int16_products_available(C);
  const int64_t C2 = (C + 1) / 2;
  const int64_t scratch_bytes = 4 * ((kBand + 2) * (int16 ? C2 + 1 : C) * kLanes + 3 * kSlot) +
                                kBand * kLanes * (match::kCap * 8 + 16) + 4 * D;
  const int64_t shared_bytes = 4 * (Hk + 2) * cols_p * (int16 ? C2 + 1 : C) + 28 * (Nq + Nk) +
                               (int16 ? (Nq + Nk) * (4 * C2 + 20) : 0);
  if (threads * scratch_bytes + shared_bytes > workspace_bytes) {
    ++g_declined;
    return false;
  }
  const Side qs = side_of(m.query, C, Hq, Wq, q);
  const Side ks = qs.usable ? side_of(m.key, C, Hk, Wk, k) : Side{};
  if (!qs.usable || !ks.usable) {
    ++g_declined;
    return false;
  }
  // The key map, padded and channels-last: [V][U][c] (float32 products), or
  // its int16 pairs [V][U][c2] and their scales [V][U] (int16 products).
  std::vector<float> key_map, key_scale;
  std::vector<int32_t> key_words;
  // The int16 rounding's share of the bound (below): alpha_i = A_i / n_i of
  // every query patch, and the largest B_j / n_j of the key patches.
  std::vector<double> alpha;
  double beta_max = 0;
  QuantizedMap qz;
  if (int16) {
    qz = quantize_map(m.query, C, Hq, Wq);
    const QuantizedMap kz = quantize_map(m.key, C, Hk, Wk);
    key_words.resize(size_t((Hk + 2) * cols_p * C2));
    key_scale.resize(size_t((Hk + 2) * cols_p));
    for (int64_t V = 0; V < Hk + 2; ++V)
      for (int64_t U = 0; U < cols_p; ++U) {
        const int64_t from = reflect_pad1(V, Hk) * Wk + reflect_pad1(U, Wk), to = V * cols_p + U;
        key_scale[size_t(to)] = kz.scale[size_t(from)];
        std::copy_n(kz.words.begin() + from * C2, C2, key_words.begin() + to * C2);
      }
    alpha = patch_errors(qz.err2, Hq, Wq);
    for (int64_t i = 0; i < Nq; ++i)
      alpha[size_t(i)] = qs.norm[size_t(i)] > 0 ? alpha[size_t(i)] / qs.norm[size_t(i)] : 0;
    const std::vector<double> key_errors = patch_errors(kz.err2, Hk, Wk);
    for (int64_t j = 0; j < Nk; ++j)
      if (ks.norm[size_t(j)] > 0) beta_max = std::max(beta_max, key_errors[size_t(j)] / ks.norm[size_t(j)]);
  } else {
    key_map.resize(size_t((Hk + 2) * cols_p * C));
    for (int64_t V = 0; V < Hk + 2; ++V)
      for (int64_t U = 0; U < cols_p; ++U)
        for (int64_t c = 0; c < C; ++c)
          key_map[size_t((V * cols_p + U) * C + c)] = m.key[(c * Hk + reflect_pad1(V, Hk)) * Wk + reflect_pad1(U, Wk)];
  }
  double k_norm = 0, k_residual = 0;
  for (int64_t j = 0; j < Nk; ++j) {
    k_norm = std::max(k_norm, ks.column_norm[size_t(j)]);
    k_residual = std::max(k_residual, ks.residual[size_t(j)]);
  }
  const double gamma_d = gamma(double(D)), g4 = gamma(4.0);
  const double approx = (gamma(double(2 * C + 8)) * (1 + g4) + g4) * (1 + 1e-12) + 1e-30;
  // |a - t| for the int16 products (a as above, x^ and y^ the rounded pixels,
  // A_i and B_j the L2 norms of the nine pixels' rounding errors, so
  // |x^_p - x_p| <= a_p, sqrt(sum a_p^2) = A_i):
  //   |sum_p x^_p . y^_p - F_i . F_j| <= sum_p a_p (|y_p| + b_p) + |x_p| b_p
  //                                   <= A_i (n_j + B_j) + n_i B_j   (Cauchy-Schwarz over the nine pairs),
  // so the exact products' cosine t^ lies within
  //   E_q = alpha_i (1 + beta) + beta, beta = B_j / n_j <= beta_max,
  // of t. Each P is that sum converted once (u) and scaled exactly; the
  // eight additions in float32 and the two multiplies by the rounded
  // reciprocals add at most gamma_4 |t^| + (1 + gamma_4) gamma_10 (the sum
  // of |x^_p . y^_p| / (n_i n_j) <= (1 + alpha_i)(1 + beta_max)), and 1e-30
  // for results below the normal range.
  auto int16_approx = [&](int64_t i) {
    const double a = alpha[size_t(i)], e_q = a * (1 + beta_max) + beta_max;
    return (e_q + g4 * (1 + e_q) + (1 + g4) * gamma(10.0) * (1 + a) * (1 + beta_max)) * (1 + 1e-12) + 1e-30;
  };
  std::vector<float> gap(static_cast<size_t>(Nq));
  for (int64_t i = 0; i < Nq; ++i) {
    const double e = gamma_d * qs.column_norm[size_t(i)] * k_norm + qs.residual[size_t(i)] * k_norm + k_residual +
                     (int16 ? int16_approx(i) : approx);
    const double t = 2 * e * (1 + 1e-5) + 4.04 * kUnit * (1 + e);
    gap[size_t(i)] = std::nextafter(float(t), std::numeric_limits<float>::infinity());
  }

  std::vector<uint8_t> overflowed(size_t(Nq), 0);
  std::atomic<int64_t> rescored{0}, zero_queries{0};
  auto run_job = [&](int64_t job, Scratch& sc) {
    const int64_t y0 = (job / blocks) * kBand, x0 = (job % blocks) * kCols;
    const int64_t rows = std::min(kBand, Hq - y0), cols = std::min(kCols, Wq - x0);
    const int nv = int((cols + 2 + kVec - 1) / kVec);  // lane vectors: the columns and their two padding columns
    JobState& st = sc.st;
    // The padded query rows y0 .. y0 + rows + 1, columns x0 .. x0 + kLanes - 1 (0 past the padding).
    for (int64_t r = 0; r < rows + 2; ++r) {
      if (int16) {
        const int64_t row = reflect_pad1(y0 + r, Hq) * Wq;
        for (int64_t l = 0; l < kLanes; ++l) {
          const bool inside = x0 + l < Wq + 2;
          const int64_t p = row + (inside ? reflect_pad1(x0 + l, Wq) : 0);
          sc.q_scale[size_t(r * kLanes + l)] = inside ? qz.scale[size_t(p)] : 1.0f;
          for (int64_t c2 = 0; c2 < C2; ++c2)
            sc.q_words[size_t((r * C2 + c2) * kLanes + l)] = inside ? qz.words[size_t(p * C2 + c2)] : 0;
        }
        continue;
      }
      for (int64_t c = 0; c < C; ++c) {
        float* dst = sc.q.data() + (r * C + c) * kLanes;
        const float* src = m.query + (c * Hq + reflect_pad1(y0 + r, Hq)) * Wq;
        for (int64_t l = 0; l < kLanes; ++l) dst[l] = x0 + l < Wq + 2 ? src[reflect_pad1(x0 + l, Wq)] : 0.0f;
      }
    }
    // Lane state: padding lanes never become candidates (a 0 score against a gap of -inf).
    for (int64_t r = 0; r < kBand; ++r)
      for (int64_t l = 0; l < kLanes; ++l) {
        const size_t lane = size_t(r * kLanes + l);
        const bool real = r < rows && l < cols;
        const int64_t i = (y0 + r) * Wq + x0 + l;
        st.best[lane] = -std::numeric_limits<float>::infinity();
        st.threshold_gap[lane] = real ? gap[size_t(i)] : -std::numeric_limits<float>::infinity();
        sc.iq[lane] = real ? qs.inv_norm[size_t(i)] : 0.0f;
        // A zero patch ties every key: no list (match_zero_query answers it below).
        st.count[lane] = real && qs.inv_norm[size_t(i)] == 0.0f ? match::kCap + 1 : 0;
      }
    float* const slots = sc.slots.data();
    const float* const q_rows = sc.q.data();
    for (int64_t d = -(y0 + rows - 1); d <= Hk - 1 - y0; ++d)
      for (int64_t u0 = 0; u0 < Wk; u0 += kKeyChunk) {
        // Keys u0 .. u0 + nu - 1 of each row: P and R over padded key columns u0 .. u0 + nu + 1.
        const int64_t nu = std::min(kKeyChunk, Wk - u0), np = nu + 2;
        int64_t slot_row[3] = {-1, -1, -1};  // the padded query row whose P a slot holds
        for (int64_t y = std::max(y0, -d); y < y0 + rows && y + d < Hk; ++y) {
          for (int64_t Y = y; Y < y + 3; ++Y) {
            if (slot_row[Y % 3] == Y) continue;
            float* P = slots + (Y % 3) * kSlot;
            const int64_t key_at = (Y + d) * cols_p + u0;
            if (int16) {
              int16_pixel_products(key_words.data() + key_at * C2, key_scale.data() + key_at,
                                   sc.q_words.data() + (Y - y0) * C2 * kLanes, sc.q_scale.data() + (Y - y0) * kLanes,
                                   C2, kLanes, np, nv, P);
            } else {
              pixel_products(key_map.data() + key_at * C, q_rows + (Y - y0) * C * kLanes, C, np, nv, P);
            }
            slot_row[Y % 3] = Y;
          }
          const float *P0 = slots + (y % 3) * kSlot, *P1 = slots + ((y + 1) % 3) * kSlot,
                      *P2 = slots + ((y + 2) % 3) * kSlot;
          score_row_any(nv, P0, P1, P2, nu, ks.inv_norm.data() + (y + d) * Wk + u0, int32_t((y + d) * Wk + u0), y - y0,
                        sc);
        }
      }
    int64_t job_rescored = 0, job_zero = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t l = 0; l < cols; ++l) {
        const int64_t i = (y0 + r) * Wq + x0 + l;
        if (qs.inv_norm[size_t(i)] == 0.0f && match::match_zero_query(q + i, Nq, D, conf + i, index + i)) {
          ++job_zero;
          continue;
        }
        if (!match::rescore_lane(st, r * kLanes + l, q + i, Nq, k, Nk, D, conf + i, index + i, job_rescored))
          overflowed[size_t(i)] = 1;
      }
    rescored += job_rescored;
    zero_queries += job_zero;
  };
  if (threads <= 1) {
    Scratch sc(C, D, int16);
    for (int64_t job = 0; job < jobs; ++job) run_job(job, sc);
  } else {
#pragma omp parallel num_threads(int(threads))
    {
      Scratch sc(C, D, int16);
#pragma omp for schedule(dynamic, 1)
      for (int64_t job = 0; job < jobs; ++job) run_job(job, sc);
    }
  }
  const int64_t rest = match::match_overflowed(q, D, Nq, overflowed, float32_match, conf, index);
  g_queries += Nq - rest;
  g_fallbacks += rest;
  g_rescored += rescored.load();
  g_zero_queries += zero_queries.load();
  return true;
}

}  // namespace dcsr::kernels::cpu
