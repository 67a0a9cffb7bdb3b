// Exact matching through an int16 score sweep (max_cosine_int16.h).
//
// Two sweeps, one bound and one driver (exact_match<Sweep>):
//   Avx2Sweep:   vpmaddwd multiplies 16 int16 pairs and adds them pairwise
//                into 8 int32 lanes, then vpaddd: 16 products per multiply
//                uop, twice the 256-bit float32 FMA's 8.
//   VnniSweep:   AVX512_VNNI's vpdpwssd multiplies 32 int16 pairs and adds
//                them into 16 int32 accumulators in one uop: 32 products,
//                twice the 512-bit float32 FMA's 16. AVX-512 without VNNI
//                keeps the 512-bit float32 sweep (vpmaddwd + vpaddd there
//                is two uops for 32 products: no gain).
// Why int16 and not int8 or bf16: int8 (vpmaddubsw, or VNNI's vpdpbusd)
// rounds to a 7-bit operand, a bound about 200 times wider: hundreds of
// candidates per query in textured regions instead of a few. bf16
// (vdpbf16ps) rounds to 8 significant bits, a bound about 100 times wider
// than int16's 15, for the same 32 products per uop as vpdpwssd.
//
// The bound. For query q_i and key k_j (float32 columns) let
//   t = q.k                            the exact real dot product,
//   f = the float32 kernel's value     (the chain acc += k[d] q[d]),
//   q~ = q_int * inv_sq, k~ = k_int * inv_sk   (the values the int16
//        columns stand for; inv_s are the float scales the sweep multiplies by),
//   a = fl(fl(fl(float(sum q_int k_int)) * inv_sk) * inv_sq)   the sweep's score.
// Then
//   |f - t| <= gamma_D |q| |k|         (D roundings; gamma_D = D u / (1 - D u), u = 2^-24;
//                                       sum |q_d k_d| <= |q| |k| by Cauchy-Schwarz),
//   |t - q~.k~| <= |q - q~| |k| + |q~| |k - k~|   (Cauchy-Schwarz twice),
//   |a - q~.k~| <= 3.01 u |q~| |k~|    (three roundings: the int32 sum is exact
//                                       (bounded below 2^31, checked), then
//                                       its float conversion and two products),
// so |a - f| <= E_i, with E_i the sum of the three right-hand sides at the
// keys' largest |k|, |k - k~| and |k~|. If j* is the float32 argmax and j_a
// the approximate one, a(j*) >= f(j*) - E_i >= f(j_a) - E_i >= a(j_a) - 2 E_i:
// every key with a >= max a - 2 E_i is a candidate, and j* (with any key that
// ties it exactly) is among them. T_i is 2 E_i widened by 1e-5 relative and
// 4 u |q~| max|k~| absolute for the rounding of the float threshold
// best - T_i itself. The column statistics are computed in double.
//
// The sweep keeps each query's running best approximate score and appends
// every key within T_i of it to the query's list (keys arrive in increasing
// order, so the list is in key order); a full list is compacted against the
// current best, and a list still full marks the query for the float32 sweep.
#include "kernels/cpu/max_cosine_int16.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/match_candidates.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DCSR_INT16_TARGET __attribute__((target("avx2,fma")))
#define DCSR_INT16_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))
#endif

namespace dcsr::kernels::cpu {

using match::add_candidate;
using match::JobState;
using match::kCap;
using match::match_overflowed;
using match::rescore_lane;

namespace {

std::atomic<int64_t> g_queries{0}, g_rescored{0}, g_fallbacks{0}, g_declined{0};

constexpr int64_t kRowBlock = 384;  // keys per row block: 384 x 144 x 2 bytes = 110 KB, in L2
                                    // (a multiple of every sweep's kRows)
// Columns are scaled to |x_int| <= 46000 (and every element to <= 32767), so
// every |sum q_int k_int| <= |q_int| |k_int| <= (46000 + sqrt(D) / 2)^2 stays
// below 2^31 (checked for the actual columns in quantise_and_pack's caller).
constexpr double kNormTarget = 46000.0;
constexpr double kUnit = 1.0 / 16777216.0;  // u = 2^-24

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Per-column statistics of one side (D, n), row stride ld.
struct Columns {
  std::vector<double> scale;      // x_int = nearbyint(x * scale)
  std::vector<float> inv_scale;   // what the sweep multiplies by
  std::vector<double> norm;       // |x|
  std::vector<double> residual;   // |x - x~|, x~ = x_int * inv_scale
  std::vector<double> approx;     // |x~|
  double largest_int_norm = 0;    // max |x_int|
  bool finite = true;
};

// Rounds one side (D, n; row stride ld) to int16 at each column's scale and
// packs it into panels of `width` columns, [panel][pair p][width][2]: element
// (p, w, t) is column p0 + w at row 2p + t, zero past the columns and past D
// (zeros add nothing to an integer sum). Returns the columns' statistics,
// gathered from the same rounded values; `finite` false (and nothing packed)
// where an element is not finite.
Columns quantise_and_pack(const float* x, int64_t ld, int64_t n, int64_t D, int width, int16_t* panels) {
  Columns c;
  c.scale.assign(size_t(n), 0.0);
  c.inv_scale.assign(size_t(n), 0.0f);
  c.norm.assign(size_t(n), 0.0);
  c.residual.assign(size_t(n), 0.0);
  c.approx.assign(size_t(n), 0.0);
  std::vector<double> largest(size_t(n), 0.0), int_norm(size_t(n), 0.0);
  // Row by row (the columns are strided): sums of squares and largest magnitudes.
  for (int64_t d = 0; d < D; ++d) {
    const float* row = x + d * ld;
    for (int64_t i = 0; i < n; ++i) {
      const double v = row[i];
      c.norm[size_t(i)] += v * v;
      largest[size_t(i)] = std::max(largest[size_t(i)], std::abs(v));
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const double sq = c.norm[size_t(i)];
    if (!std::isfinite(sq)) {  // an infinite or NaN element (or an overflowing sum)
      c.finite = false;
      return c;
    }
    c.norm[size_t(i)] = std::sqrt(sq);
    if (largest[size_t(i)] > 0) {
      c.scale[size_t(i)] = std::min(kNormTarget / c.norm[size_t(i)], 32767.0 / largest[size_t(i)]);
      c.inv_scale[size_t(i)] = float(1.0 / c.scale[size_t(i)]);
    }
  }
  const int64_t pairs = (D + 1) / 2;
  for (int64_t p0 = 0; p0 < n; p0 += width) {
    int16_t* panel = panels + p0 * pairs * 2;
    for (int64_t p = 0; p < pairs; ++p)
      for (int w = 0; w < width; ++w)
        for (int t = 0; t < 2; ++t) {
          const int64_t col = p0 + w, d = 2 * p + t;
          double rounded = 0;
          if (col < n && d < D) {
            const double v = x[d * ld + col];
            rounded = std::nearbyint(v * c.scale[size_t(col)]);
            const double back = rounded * double(c.inv_scale[size_t(col)]);
            c.residual[size_t(col)] += (v - back) * (v - back);
            c.approx[size_t(col)] += back * back;
            int_norm[size_t(col)] += rounded * rounded;
          }
          panel[(p * width + w) * 2 + t] = int16_t(rounded);
        }
  }
  for (int64_t i = 0; i < n; ++i) {
    // The double sums above are exact to far below the margins of the bound.
    c.residual[size_t(i)] = std::sqrt(c.residual[size_t(i)]) * (1 + 1e-12);
    c.approx[size_t(i)] = std::sqrt(c.approx[size_t(i)]) * (1 + 1e-12);
    c.largest_int_norm = std::max(c.largest_int_norm, std::sqrt(int_norm[size_t(i)]));
  }
  return c;
}

#if defined(__x86_64__)
// The register blocks: acc[r][v] lane l = sum over d of key (row0 + r)'s and
// query (lane0 + L v + l)'s int16 values (L int32 lanes per vector); then
// the epilogue, the same arithmetic in both: score = (float(acc) * inv_sk) *
// inv_sq, the running best, and every key within the gap of it appended.
// Keys past `rows` (zero padding of the last panel) are computed, not used.

// Appends the lanes set in `mask` (bit l = lane l of the block, scores s[l])
// as candidates for key `key`.
inline void add_lanes(JobState& st, int64_t lane_in_job, uint64_t mask, int32_t key, const float* s) {
  for (; mask != 0; mask &= mask - 1) {
    const int l = __builtin_ctzll(mask);
    add_candidate(st, lane_in_job + l, key, s[l]);
  }
}

struct Avx2Sweep {
  static constexpr int kRows = 6;    // keys per register block (broadcast)
  static constexpr int kLanes = 16;  // queries per register block: two vectors of 8 int32 lanes
  static const char* name() { return "avx2"; }

  DCSR_INT16_TARGET static void block(const int16_t* row_panel, const int16_t* lane_panel, int64_t pairs, int rows,
                                      int64_t row0, int64_t lane_in_job, const float* inv_sk, const float* inv_sq,
                                      JobState& st) {
    __m256i acc[kRows][2];
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int64_t p = 0; p < pairs; ++p) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane_panel + p * 2 * kLanes));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lane_panel + p * 2 * kLanes + 16));
      const int16_t* a = row_panel + p * 2 * kRows;
#pragma GCC unroll 6
      for (int r = 0; r < kRows; ++r) {
        int32_t pair;  // key r's two int16 values of this pair, broadcast to every lane
        std::memcpy(&pair, a + 2 * r, sizeof(pair));
        const __m256i av = _mm256_set1_epi32(pair);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(av, b0));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(av, b1));
      }
    }
    float* best = st.best.data() + lane_in_job;
    const float* gap = st.threshold_gap.data() + lane_in_job;
    const __m256 q0 = _mm256_loadu_ps(inv_sq), q1 = _mm256_loadu_ps(inv_sq + 8);
    const __m256 g0 = _mm256_loadu_ps(gap), g1 = _mm256_loadu_ps(gap + 8);
    __m256 b0 = _mm256_loadu_ps(best), b1 = _mm256_loadu_ps(best + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) break;
      const __m256 ks = _mm256_set1_ps(inv_sk[r]);
      const __m256 s0 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][0]), ks), q0);
      const __m256 s1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][1]), ks), q1);
      b0 = _mm256_max_ps(b0, s0);
      b1 = _mm256_max_ps(b1, s1);
      const int m0 = _mm256_movemask_ps(_mm256_cmp_ps(s0, _mm256_sub_ps(b0, g0), _CMP_GE_OQ));
      const int m1 = _mm256_movemask_ps(_mm256_cmp_ps(s1, _mm256_sub_ps(b1, g1), _CMP_GE_OQ));
      if ((m0 | m1) == 0) continue;
      // Rare once the running best is near the final one: store, append, go on.
      _mm256_storeu_ps(best, b0);
      _mm256_storeu_ps(best + 8, b1);
      alignas(32) float s[kLanes];
      _mm256_store_ps(s, s0);
      _mm256_store_ps(s + 8, s1);
      add_lanes(st, lane_in_job, uint64_t(unsigned(m0 | (m1 << 8))), int32_t(row0 + r), s);
    }
    _mm256_storeu_ps(best, b0);
    _mm256_storeu_ps(best + 8, b1);
  }
};

// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_ps(),
// which -Wmaybe-uninitialized reports when inlined (GCC bug 105593): silenced
// for this block only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct VnniSweep {
  static constexpr int kRows = 6;    // keys per register block: 6 x 4 = 24 accumulators of the 32 registers
  static constexpr int kLanes = 64;  // queries per register block: four vectors of 16 int32 lanes
  static constexpr int kVecs = 4;
  static const char* name() { return "avx512_vnni"; }

  DCSR_INT16_VNNI_TARGET static void block(const int16_t* row_panel, const int16_t* lane_panel, int64_t pairs,
                                           int rows, int64_t row0, int64_t lane_in_job, const float* inv_sk,
                                           const float* inv_sq, JobState& st) {
    // GCC keeps the 24 accumulators in registers only as its own int32
    // vectors (__v16si): through __m512i (a vector of int64) every
    // _mm512_dpwssd_epi32 converts, and the array goes to the stack.
    __v16si acc[kRows][kVecs];
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) acc[r][v] = __v16si{};
    for (int64_t p = 0; p < pairs; ++p) {
      __v16si b[kVecs];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) std::memcpy(&b[v], lane_panel + p * 2 * kLanes + 32 * v, sizeof(b[v]));
      const int16_t* a = row_panel + p * 2 * kRows;
#pragma GCC unroll 6
      for (int r = 0; r < kRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, a + 2 * r, sizeof(pair));
        const __v16si av = __v16si{} + pair;
#pragma GCC unroll 4
        for (int v = 0; v < kVecs; ++v) acc[r][v] = __builtin_ia32_vpdpwssd_v16si(acc[r][v], av, b[v]);
      }
    }
    float* best = st.best.data() + lane_in_job;
    const float* gap = st.threshold_gap.data() + lane_in_job;
    __m512 q[kVecs], g[kVecs], bst[kVecs];
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) {
      q[v] = _mm512_loadu_ps(inv_sq + 16 * v);
      g[v] = _mm512_loadu_ps(gap + 16 * v);
      bst[v] = _mm512_loadu_ps(best + 16 * v);
    }
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) break;
      const __m512 ks = _mm512_set1_ps(inv_sk[r]);
      __m512 s[kVecs];
      uint64_t mask = 0;
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        s[v] = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(__m512i(acc[r][v])), ks), q[v]);
        bst[v] = _mm512_max_ps(bst[v], s[v]);
        mask |= uint64_t(_mm512_cmp_ps_mask(s[v], _mm512_sub_ps(bst[v], g[v]), _CMP_GE_OQ)) << (16 * v);
      }
      if (mask == 0) continue;
      alignas(64) float scores[kLanes];
#pragma GCC unroll 4
      for (int v = 0; v < kVecs; ++v) {
        _mm512_storeu_ps(best + 16 * v, bst[v]);
        _mm512_store_ps(scores + 16 * v, s[v]);
      }
      add_lanes(st, lane_in_job, mask, int32_t(row0 + r), scores);
    }
#pragma GCC unroll 4
    for (int v = 0; v < kVecs; ++v) _mm512_storeu_ps(best + 16 * v, bst[v]);
  }
};
#pragma GCC diagnostic pop
#endif

std::atomic<int> g_allowed_forced{-1};
std::once_flag g_env_once;
CpuMatchPath g_env_path = CpuMatchPath::kAuto;

}  // namespace

CpuMatchPath cpu_match_path() {
  std::call_once(g_env_once, [] {
    const char* env = std::getenv("DCSR_CPU_MATCH");
    if (!env || !*env) return;
    const std::string value = env;
    DCSR_CHECK(value == "auto" || value == "int16" || value == "float32", "DCSR_CPU_MATCH: unknown path '", value,
               "' (expected auto, int16 or float32)");
    g_env_path = value == "auto" ? CpuMatchPath::kAuto : value == "int16" ? CpuMatchPath::kInt16 : CpuMatchPath::kFloat32;
  });
  return g_env_path;
}

bool int16_match_allowed() {
  const int forced = g_allowed_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return forced == 1;
  return cpu_match_path() != CpuMatchPath::kFloat32;
}
void set_int16_match_allowed(bool allowed) { g_allowed_forced.store(allowed ? 1 : 0, std::memory_order_relaxed); }
void reset_int16_match_allowed() { g_allowed_forced.store(-1, std::memory_order_relaxed); }

Int16MatchStats int16_match_stats() {
  Int16MatchStats s;
  s.queries = g_queries.load();
  s.rescored = g_rescored.load();
  s.fallbacks = g_fallbacks.load();
  s.declined = g_declined.load();
  return s;
}

void reset_int16_match_stats() { g_queries = g_rescored = g_fallbacks = g_declined = 0; }

namespace {

#if defined(__x86_64__)
// The driver for one sweep: quantise, bound, sweep, re-score, fall back
// (the steps of max_cosine_int16.h); false where it declines.
template <class Sweep>
bool exact_match(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, float* conf, int64_t* index,
                 int64_t workspace_bytes, const Float32Match& float32_match) {
  constexpr int kRows = Sweep::kRows, kLanes = Sweep::kLanes;
  static_assert(kRowBlock % kRows == 0, "a row block holds whole register blocks");
  const int64_t pairs = (D + 1) / 2;
  const int64_t threads_max = std::max(1, omp_get_max_threads());
  int64_t lane_block = std::min<int64_t>(1024, round_up((Nq + 2 * threads_max - 1) / (2 * threads_max), kLanes));
  lane_block = std::max(std::min<int64_t>(256, round_up(Nq, kLanes)), lane_block);
  lane_block = std::min<int64_t>(lane_block, 1024);
  const int64_t jobs = (Nq + lane_block - 1) / lane_block;
  const int64_t threads = omp_in_parallel() ? 1 : std::min(threads_max, jobs);
  const int64_t packed_bytes = (round_up(Nk, kRows) + round_up(Nq, kLanes)) * pairs * 2 * 2;
  const int64_t state_bytes = threads * (lane_block * (kCap * 8 + 16) + D * 4);
  const int64_t stats_bytes = (Nq + Nk) * 8 * 7;
  if (packed_bytes + state_bytes + stats_bytes > workspace_bytes) {
    ++g_declined;
    return false;
  }
  Tensor packed = empty({packed_bytes / 4 + 16});
  int16_t* key_panels = reinterpret_cast<int16_t*>(packed.data<float>());
  int16_t* query_panels = key_panels + round_up(Nk, kRows) * pairs * 2;
  const Columns ks = quantise_and_pack(k, Nk, Nk, D, kRows, key_panels);
  if (!ks.finite) {
    ++g_declined;
    return false;
  }
  const Columns qs = quantise_and_pack(q, Nq, Nq, D, kLanes, query_panels);
  // The int32 sums must stay below 2^31 (|sum| <= |q_int| |k_int|).
  if (!qs.finite || qs.largest_int_norm * ks.largest_int_norm >= 2147483000.0) {
    ++g_declined;
    return false;
  }
  double k_norm = 0, k_residual = 0, k_approx = 0;
  for (int64_t j = 0; j < Nk; ++j) {
    k_norm = std::max(k_norm, ks.norm[size_t(j)]);
    k_residual = std::max(k_residual, ks.residual[size_t(j)]);
    k_approx = std::max(k_approx, ks.approx[size_t(j)]);
  }
  const double gamma = double(D) * kUnit / (1.0 - double(D) * kUnit);
  std::vector<float> gap(size_t(round_up(Nq, kLanes)), 0.0f), inv_sq(size_t(round_up(Nq, kLanes)), 0.0f);
  for (int64_t i = 0; i < Nq; ++i) {
    const double e = qs.residual[size_t(i)] * k_norm + qs.approx[size_t(i)] * k_residual +
                     gamma * qs.norm[size_t(i)] * k_norm + 3.01 * kUnit * qs.approx[size_t(i)] * k_approx;
    const double t = 2 * e * (1 + 1e-5) + 4 * kUnit * qs.approx[size_t(i)] * k_approx;
    gap[size_t(i)] = std::nextafter(float(t), std::numeric_limits<float>::infinity());
    inv_sq[size_t(i)] = qs.inv_scale[size_t(i)];
  }


  std::vector<uint8_t> overflowed(size_t(Nq), 0);
  std::atomic<int64_t> rescored{0};
  auto run_job = [&](int64_t job, JobState& st) {
    const int64_t l0 = job * lane_block, nl = std::min(lane_block, Nq - l0), nl_pad = round_up(nl, kLanes);
    std::fill(st.best.begin(), st.best.end(), -std::numeric_limits<float>::infinity());
    std::fill(st.count.begin(), st.count.end(), 0);
    std::copy(gap.begin() + l0, gap.begin() + l0 + nl_pad, st.threshold_gap.begin());
    for (int64_t r0 = 0; r0 < Nk; r0 += kRowBlock) {
      const int64_t nr = std::min(kRowBlock, Nk - r0);
      for (int64_t lp = 0; lp < nl_pad; lp += kLanes) {
        const int16_t* lane_panel = query_panels + (l0 + lp) * pairs * 2;
        for (int64_t rp = 0; rp < nr; rp += kRows)
          Sweep::block(key_panels + (r0 + rp) * pairs * 2, lane_panel, pairs, int(std::min<int64_t>(kRows, nr - rp)),
                      r0 + rp, lp, ks.inv_scale.data() + r0 + rp, inv_sq.data() + l0 + lp, st);
      }
    }
    // Re-score each query's candidates in float32; the first strict maximum wins.
    int64_t job_rescored = 0;
    for (int64_t i = 0; i < nl; ++i) {
      const int64_t query = l0 + i;
      if (!rescore_lane(st, i, q + query, Nq, k, Nk, D, conf + query, index + query, job_rescored))
        overflowed[size_t(query)] = 1;
    }
    rescored += job_rescored;
  };
  auto make_state = [&] { return JobState(lane_block, D); };
  if (threads <= 1) {
    JobState st = make_state();
    for (int64_t job = 0; job < jobs; ++job) run_job(job, st);
  } else {
#pragma omp parallel num_threads(int(threads))
    {
      JobState st = make_state();
#pragma omp for schedule(dynamic, 1)
      for (int64_t job = 0; job < jobs; ++job) run_job(job, st);
    }
  }

  const int64_t rest = match_overflowed(q, D, Nq, overflowed, float32_match, conf, index);
  g_queries += Nq - rest;
  g_fallbacks += rest;
  g_rescored += rescored.load();
  return true;
}
#endif

}  // namespace

namespace {

// The sweep for the current ISA level: the one place that decides it (for
// exact_match_int16 and the bench lines' int16_match_sweep).
enum class SweepKind { kNone, kAvx2, kVnni };

SweepKind current_sweep() {
#if defined(__x86_64__)
  if (!int16_match_allowed()) return SweepKind::kNone;
  switch (cpu_isa()) {
    case CpuIsa::kAvx2: return SweepKind::kAvx2;
    // Without VNNI the 512-bit float32 sweep is as fast (the file's header).
    case CpuIsa::kAvx512: return cpu_features().avx512_vnni ? SweepKind::kVnni : SweepKind::kNone;
    case CpuIsa::kGeneric: break;
  }
#endif
  return SweepKind::kNone;
}

}  // namespace

bool exact_match_int16(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, float* conf,
                       int64_t* index, int64_t workspace_bytes, const Float32Match& float32_match) {
  if (Nq <= 0 || Nk <= 0 || D <= 0 || Nk > std::numeric_limits<int32_t>::max() || D > (int64_t(1) << 20))
    return false;
#if defined(__x86_64__)
  switch (current_sweep()) {
    case SweepKind::kAvx2: return exact_match<Avx2Sweep>(q, k, D, Nq, Nk, conf, index, workspace_bytes, float32_match);
    case SweepKind::kVnni: return exact_match<VnniSweep>(q, k, D, Nq, Nk, conf, index, workspace_bytes, float32_match);
    case SweepKind::kNone: break;
  }
#else
  (void)q, (void)k, (void)conf, (void)index, (void)workspace_bytes, (void)float32_match;
#endif
  return false;
}

const char* int16_match_sweep() {
#if defined(__x86_64__)
  switch (current_sweep()) {
    case SweepKind::kAvx2: return Avx2Sweep::name();
    case SweepKind::kVnni: return VnniSweep::name();
    case SweepKind::kNone: break;
  }
#endif
  return nullptr;
}

}  // namespace dcsr::kernels::cpu
