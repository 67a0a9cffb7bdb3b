// What the two exact matching paths share (max_cosine_int16.cpp, the int16
// score sweep, and max_cosine_patches.cpp, the sweep over the feature maps):
// per-query candidate lists filled during an approximate sweep, and the
// float32 kernel's own dot-product chain that re-scores them.
//
// A path computes an approximate score a(i, j) with a proven bound
// |a(i, j) - f(i, j)| <= E_i against the float32 kernel's value f, keeps
// every key within T_i = 2 E_i (widened for roundings) of the query's
// running best approximate score, and re-scores those keys with
// float32_dot: the float32 argmax is always among them, and the first strict
// maximum in key order is the float32 kernel's answer, near-ties included.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/max_cosine_int16.h"

namespace dcsr::kernels::cpu::match {

constexpr int kCap = 32;  // candidates a query's list holds

// A job's per-query state, queries [0, lanes) of the job.
struct JobState {
  std::vector<float> best, threshold_gap;  // running best approximate score; T_i
  std::vector<int32_t> count;              // list lengths; kCap + 1 = overflowed
  std::vector<int32_t> keys;               // [lane][kCap]
  std::vector<float> scores;               // [lane][kCap]
  std::vector<float> query;                // one query column, gathered for re-scoring

  JobState(int64_t lanes, int64_t D)
      : best(size_t(lanes)), threshold_gap(size_t(lanes)), count(size_t(lanes)), keys(size_t(lanes * kCap)),
        scores(size_t(lanes * kCap)), query(size_t(D)) {}
};

// Appends key j (approximate score s) to lane i's list, compacting it against
// best - gap when full; a list still full after that marks the lane
// overflowed (count kCap + 1), and it gets no more candidates.
inline void add_candidate(JobState& st, int64_t i, int32_t j, float s) {
  int32_t& n = st.count[size_t(i)];
  if (n > kCap) return;
  int32_t* keys = st.keys.data() + i * kCap;
  float* scores = st.scores.data() + i * kCap;
  if (n == kCap) {
    const float floor = st.best[size_t(i)] - st.threshold_gap[size_t(i)];
    int32_t kept = 0;
    for (int32_t c = 0; c < n; ++c)
      if (scores[c] >= floor) keys[kept] = keys[c], scores[kept] = scores[c], ++kept;
    n = kept;
    if (n == kCap) {
      n = kCap + 1;
      return;
    }
  }
  keys[n] = j;
  scores[n] = s;
  ++n;
}

// The float32 kernel's chain for one pair (dot_sweep.h's dot_block:
// acc += k[d] * q[d] from zero, d increasing). Built with FMA, GCC contracts
// dot_block's vector chain into fused multiply-adds; here the fusing is
// spelled out, because left to the compiler a scalar loop can be
// vectorised into separate multiplies (a vmulps of four products) and adds,
// which rounds twice. Without FMA both round twice.
inline float float32_dot(const float* q, const float* k, int64_t ldk, int64_t D) {
  float acc = 0.0f;
#if defined(__FMA__)
  for (int64_t d = 0; d < D; ++d) acc = std::fma(k[d * ldk], q[d], acc);
#else
  for (int64_t d = 0; d < D; ++d) acc += k[d * ldk] * q[d];
#endif
  return acc;
}

// Re-scores lane i's candidates (query column q_col, D rows, row stride ldq;
// keys k, D x Nk) and writes the first strict maximum in key order (the
// lists are in key order): false, having written nothing, where the lane's
// list overflowed. Returns the pairs re-scored through `rescored`.
inline bool rescore_lane(JobState& st, int64_t i, const float* q_col, int64_t ldq, const float* k, int64_t Nk,
                         int64_t D, float* conf, int64_t* index, int64_t& rescored) {
  const int32_t n = st.count[size_t(i)];
  if (n > kCap) return false;
  for (int64_t d = 0; d < D; ++d) st.query[size_t(d)] = q_col[d * ldq];
  const float floor = st.best[size_t(i)] - st.threshold_gap[size_t(i)];
  float best = -INFINITY;
  int64_t best_key = -1;
  for (int32_t c = 0; c < n; ++c) {
    if (st.scores[size_t(i * kCap + c)] < floor) continue;
    const int32_t j = st.keys[size_t(i * kCap + c)];
    const float f = float32_dot(st.query.data(), k + j, Nk, D);
    ++rescored;
    if (best_key < 0 || f > best) best = f, best_key = j;
  }
  *conf = best;
  *index = best_key;
  return true;
}

// A query column of zeros (D rows, row stride ldq), against finite keys:
// every term of the float32 kernel's chain is a zero, k[d] * (+-0), and the
// chain starts from +0, so every key scores +0 whatever the signs (+0 + -0
// is +0), and the first strict maximum from -inf is key 0. Writes (+0, 0)
// and returns true; false, having written nothing, where a value is not zero.
inline bool match_zero_query(const float* q_col, int64_t ldq, int64_t D, float* conf, int64_t* index) {
  for (int64_t d = 0; d < D; ++d)
    if (q_col[d * ldq] != 0.0f) return false;
  *conf = 0.0f;
  *index = 0;
  return true;
}

// The queries flagged in `overflowed` (Nq flags; q: D x Nq), matched by the
// float32 sweep 4096 at a time. Returns how many there were.
inline int64_t match_overflowed(const float* q, int64_t D, int64_t Nq, const std::vector<uint8_t>& overflowed,
                                const Float32Match& float32_match, float* conf, int64_t* index) {
  std::vector<int64_t> rest;
  for (int64_t i = 0; i < Nq; ++i)
    if (overflowed[size_t(i)]) rest.push_back(i);
  constexpr int64_t kChunk = 4096;
  std::vector<float> chunk, chunk_conf;
  std::vector<int64_t> chunk_index;
  for (size_t c0 = 0; c0 < rest.size(); c0 += size_t(kChunk)) {
    const int64_t n = std::min<int64_t>(kChunk, int64_t(rest.size() - c0));
    chunk.resize(size_t(D * n));
    chunk_conf.resize(size_t(n));
    chunk_index.resize(size_t(n));
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < n; ++i) chunk[size_t(d * n + i)] = q[d * Nq + rest[c0 + size_t(i)]];
    float32_match(chunk.data(), n, n, chunk_conf.data(), chunk_index.data());
    for (int64_t i = 0; i < n; ++i) {
      conf[rest[c0 + size_t(i)]] = chunk_conf[size_t(i)];
      index[rest[c0 + size_t(i)]] = chunk_index[size_t(i)];
    }
  }
  return int64_t(rest.size());
}

}  // namespace dcsr::kernels::cpu::match
