// The map sweep's int16 pixel products (max_cosine_patches_int16.h).
#include "kernels/cpu/max_cosine_patches_int16.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define DCSR_MAP_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#endif

namespace dcsr::kernels::cpu {

namespace {

constexpr double kMaxElement = 32767.0;  // int16
constexpr double kMaxNorm = 46000.0;     // |Q|_2 <= 46000 + sqrt(C) / 2 < 46340, and 46340^2 < 2^31
constexpr int kMaxExponent = 50;         // 2^-(e_q + e_k) >= 2^-100, a normal float
constexpr int kVec = 16;                 // int32 lanes per vector

std::atomic<int> g_allowed{-1};

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics start some results from _mm512_undefined_*(),
// which -Wmaybe-uninitialized reports where they are inlined (GCC bug
// 105593): silenced for the kernel only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// One key's products for lane vector v, scaled back to floats and stored in
// P's row U. A function of its own with the kernel's target, not a lambda in
// the kernel: GCC does not give a lambda its enclosing function's target, so
// on a compiler whose default ISA lacks AVX-512 the intrinsics would not
// inline into it (the build fails). The two scales are powers of two: their
// products are exact, in either order.
DCSR_MAP_VNNI_TARGET inline void store_scaled(__m512i acc, __m512 q_scale_v, float key_scale, float* row) {
  _mm512_storeu_ps(row, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), q_scale_v), _mm512_set1_ps(key_scale)));
}

// int16_pixel_products for lane vector v. Pairs > 0 fixes the pair count at
// compile time, so the query vectors stay in registers; 0 takes pairs_n.
// Eight keys at once: eight independent accumulators hide vpdpwssd's latency.
template <int Pairs>
DCSR_MAP_VNNI_TARGET void products_vector(const int32_t* key_words, const float* key_scale, const int32_t* q_words,
                                          const float* q_scale, int64_t pairs_n, int64_t lanes, int64_t cols_p, int v,
                                          float* P) {
  const int64_t pairs = Pairs > 0 ? Pairs : pairs_n;
  constexpr int kU = 8;
  __m512i qv[kInt16MaxChannels / 2];
#pragma GCC unroll 16
  for (int64_t c = 0; c < pairs; ++c) qv[c] = _mm512_loadu_si512(q_words + c * lanes + v * kVec);
  const __m512 qs = _mm512_loadu_ps(q_scale + v * kVec);
  int64_t U = 0;
  for (; U + kU <= cols_p; U += kU) {
    __m512i acc[kU];
#pragma GCC unroll 8
    for (int r = 0; r < kU; ++r) acc[r] = _mm512_setzero_si512();
    const int32_t* k0 = key_words + U * pairs;
#pragma GCC unroll 16
    for (int64_t c = 0; c < pairs; ++c)
#pragma GCC unroll 8
      for (int r = 0; r < kU; ++r) acc[r] = _mm512_dpwssd_epi32(acc[r], _mm512_set1_epi32(k0[r * pairs + c]), qv[c]);
#pragma GCC unroll 8
    for (int r = 0; r < kU; ++r) store_scaled(acc[r], qs, key_scale[U + r], P + (U + r) * lanes + v * kVec);
  }
  for (; U < cols_p; ++U) {
    __m512i acc = _mm512_setzero_si512();
    for (int64_t c = 0; c < pairs; ++c)
      acc = _mm512_dpwssd_epi32(acc, _mm512_set1_epi32(key_words[U * pairs + c]), qv[c]);
    store_scaled(acc, qs, key_scale[U], P + U * lanes + v * kVec);
  }
}

#pragma GCC diagnostic pop
#endif

}  // namespace

QuantizedMap quantize_map(const float* map, int64_t C, int64_t H, int64_t W) {
  QuantizedMap q;
  q.C2 = (C + 1) / 2;
  const int64_t L = H * W;
  q.words.assign(size_t(L * q.C2), 0);
  q.scale.assign(size_t(L), 1.0f);
  q.err2.assign(size_t(L), 0.0);
  parallel_for(H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t y = begin; y < end; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const int64_t p = y * W + x;
        auto value = [&](int64_t c) { return c < C ? double(map[(c * H + y) * W + x]) : 0.0; };
        double largest = 0, norm2 = 0;
        for (int64_t c = 0; c < C; ++c) {
          largest = std::max(largest, std::abs(value(c)));
          norm2 += value(c) * value(c);
        }
        if (largest == 0) continue;  // a zero pixel: words 0, exact
        // ilogb: floor(log2), so 2^e <= the limit; |x| <= largest and the
        // rounded norm2 may exceed the true one only by a few ulps, which the
        // margin of 46000 against 46340 absorbs.
        const int e = std::min(std::ilogb(std::min(kMaxElement / largest, kMaxNorm / std::sqrt(norm2))), kMaxExponent);
        const double s = std::ldexp(1.0, e);  // x * s is exact in double
        double err2 = 0;
        for (int64_t c2 = 0; c2 < q.C2; ++c2) {
          const double lo = std::nearbyint(value(2 * c2) * s), hi = std::nearbyint(value(2 * c2 + 1) * s);
          err2 += (lo / s - value(2 * c2)) * (lo / s - value(2 * c2)) +
                  (hi / s - value(2 * c2 + 1)) * (hi / s - value(2 * c2 + 1));
          q.words[size_t(p * q.C2 + c2)] =
              int32_t(uint32_t(uint16_t(int16_t(lo))) | (uint32_t(uint16_t(int16_t(hi))) << 16));
        }
        q.scale[size_t(p)] = float(std::ldexp(1.0, -e));
        // The differences and their squares' sum in double: a relative error far below 1e-10.
        q.err2[size_t(p)] = err2 * (1 + 1e-10);
      }
  });
  return q;
}

bool int16_products_available(int64_t C) {
  const int allowed = g_allowed.load(std::memory_order_relaxed);
  if (allowed == 0 || C < 1 || C > kInt16MaxChannels) return false;
#if defined(__x86_64__)
  return cpu_isa() == CpuIsa::kAvx512 && cpu_features().avx512_vnni;
#else
  return false;
#endif
}
void set_int16_products_allowed(bool allowed) { g_allowed.store(allowed ? 1 : 0, std::memory_order_relaxed); }
void reset_int16_products_allowed() { g_allowed.store(-1, std::memory_order_relaxed); }

void int16_pixel_products(const int32_t* key_words, const float* key_scale, const int32_t* q_words,
                          const float* q_scale, int64_t C2, int64_t lanes, int64_t cols_p, int nv, float* P) {
#if defined(__x86_64__)
  for (int v = 0; v < nv; ++v) {
    if (C2 == 8) {
      products_vector<8>(key_words, key_scale, q_words, q_scale, C2, lanes, cols_p, v, P);
    } else {
      products_vector<0>(key_words, key_scale, q_words, q_scale, C2, lanes, cols_p, v, P);
    }
  }
#else
  (void)key_words, (void)key_scale, (void)q_words, (void)q_scale, (void)C2, (void)lanes, (void)cols_p, (void)nv,
      (void)P;
#endif
}

}  // namespace dcsr::kernels::cpu
