// The first step of the exact TF32 matching (max_cosine_tf32.cu), fused: a
// sweep of all query-key dot products on TF32 tensor cores that never stores
// a score. Each thread keeps, for each of its queries and over the keys it
// sees, the largest approximate score and the keys within the bound of it;
// the second step (exact_match.cu's resolve step) merges them and
// re-scores the candidates in float32.
//
// Operands as the float32 sweep's (dot_sweep.cuh): q (D, Nq) and k (D, Nk)
// row-major, a column one vector. Per block: 128 queries (8 warps x 16, the
// rows of mma.m16n8k8's A) against the keys of one chunk, 64 at a time (the
// columns of B, 8 tiles of 8 a warp); D in steps of 16 through double-
// buffered shared memory, rounded to TF32 as staged, the next step's global
// loads in flight. Shared rows are 136 and 72 floats (8 modulo 32), so that a
// fragment load (lane 4 g + t reads row t or t + 4, column g) hits 32 banks.
// (128 keys a tile took 179 registers, one block per SM; 64 keys fit two.)
//
// After each tile of 64 keys, lane 4 g + t holds the scores of queries g and
// g + 8 of its warp against keys 8 n + 2 t and 8 n + 2 t + 1 (n < 8). For each
// of its two queries it keeps a CandidateList (candidate_slots.cuh): the best
// score it has seen, up to kCandidateSlots keys within the margin below it,
// and the largest score it had to drop. The margin is the query's bound (match_bound) times 1.01, so that its
// float rounding cannot make the kept set smaller than the resolve step's
// (double) threshold needs. If `dropped` reaches the final threshold, a
// candidate may be lost: the query goes to the float32 sweep.
//
// Output per query i and group r (r = 4 * key chunk + t, `groups` of them):
//   best[i * groups + r], dropped[i * groups + r],
//   slot_keys / slot_scores[(i * groups + r) * kCandidateSlots + s]
//   (score -inf: an empty slot).
#pragma once
#include "kernels/cuda/candidate_slots.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/mma_tf32.cuh"
#include "kernels/cuda/tf32_match_bound.cuh"

namespace dcsr::kernels::cuda {

constexpr int kCandidateSweepThreads = 256;
constexpr int kCandidateQueries = 128;  // per block
constexpr int kCandidateKeys = 64;      // per key tile
constexpr int kCandidateDepth = 16;     // D per shared-memory step
constexpr int kCandidateRow = kCandidateQueries + 8;  // shared row stride of the queries, floats (8 modulo 32)
constexpr int kCandidateKeyRow = kCandidateKeys + 8;  // and of the keys (8 modulo 32)

// grid = (ceil(Nq / 128), key chunks); block = 256. The Nq queries are
// columns of q with row stride q_stride; keys [chunk * chunk_keys, (chunk + 1)
// * chunk_keys) of Nk, chunk_keys a multiple of 128. q_norms: the queries' |q|.
__global__ void __launch_bounds__(kCandidateSweepThreads, 2)
    tf32_candidate_sweep(const float* __restrict__ q, const float* __restrict__ k, int D, int Nq, int q_stride,
                         int Nk, int chunk_keys, const double* __restrict__ q_norms,
                         const double* __restrict__ key_norm_max, double factor, float* __restrict__ best,
                         float* __restrict__ dropped, int* __restrict__ slot_keys, float* __restrict__ slot_scores) {
  constexpr int kLoadsA = kCandidateDepth * kCandidateQueries / kCandidateSweepThreads;  // per step
  constexpr int kLoadsB = kCandidateDepth * kCandidateKeys / kCandidateSweepThreads;
  constexpr int kTiles = kCandidateKeys / 8;  // n-tiles of a warp
  __shared__ __align__(16) uint32_t As[2][kCandidateDepth][kCandidateRow];  // queries, [d][query]
  __shared__ __align__(16) uint32_t Bs[2][kCandidateDepth][kCandidateKeyRow];  // keys, [d][key]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int i0 = int(blockIdx.x) * kCandidateQueries;
  const int key_begin = int(blockIdx.y) * chunk_keys, key_end = min(Nk, key_begin + chunk_keys);
  const int steps = (D + kCandidateDepth - 1) / kCandidateDepth;

  // This thread's two queries (h = 0: row g of the warp's 16, h = 1: row g + 8).
  CandidateList list[2];
  float margin[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int i = i0 + 16 * warp + g + 8 * h;
    list[h].clear();
    margin[h] = i < Nq ? float(1.01 * match_bound(factor, q_norms[i], key_norm_max[0], D)) : 0.0f;
  }

  // Staging: element e = tid + 256 j of a 16 x 128 (queries) or 16 x 64 (keys)
  // step is row e / width, column e % width.
  float ra[kLoadsA], rb[kLoadsB];
  auto load_step = [&](int d0, int key0) {
#pragma unroll
    for (int j = 0; j < kLoadsA; ++j) {
      const int e = tid + kCandidateSweepThreads * j, d = d0 + e / kCandidateQueries, c = e % kCandidateQueries;
      ra[j] = (d < D && i0 + c < Nq) ? q[int64_t(d) * q_stride + i0 + c] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kLoadsB; ++j) {
      const int e = tid + kCandidateSweepThreads * j, d = d0 + e / kCandidateKeys, c = e % kCandidateKeys;
      rb[j] = (d < D && key0 + c < key_end) ? k[int64_t(d) * Nk + key0 + c] : 0.0f;
    }
  };
  auto store_step = [&](int buf) {
#pragma unroll
    for (int j = 0; j < kLoadsA; ++j) {
      const int e = tid + kCandidateSweepThreads * j;
      As[buf][e / kCandidateQueries][e % kCandidateQueries] = to_tf32(ra[j]);
    }
#pragma unroll
    for (int j = 0; j < kLoadsB; ++j) {
      const int e = tid + kCandidateSweepThreads * j;
      Bs[buf][e / kCandidateKeys][e % kCandidateKeys] = to_tf32(rb[j]);
    }
  };
  for (int key0 = key_begin; key0 < key_end; key0 += kCandidateKeys) {
    float acc[kTiles][4];
#pragma unroll
    for (int n = 0; n < kTiles; ++n)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[n][r] = 0.0f;
    load_step(0, key0);
    store_step(0);
    __syncthreads();
    for (int step = 0; step < steps; ++step) {
      const int buf = step & 1;
      if (step + 1 < steps) load_step((step + 1) * kCandidateDepth, key0);
#pragma unroll
      for (int kk = 0; kk < kCandidateDepth; kk += 8) {
        const int m = 16 * warp + g;
        const uint32_t fa[4] = {As[buf][kk + t][m], As[buf][kk + t][m + 8], As[buf][kk + t + 4][m],
                                As[buf][kk + t + 4][m + 8]};
#pragma unroll
        for (int n = 0; n < kTiles; ++n) {
          const uint32_t fb[2] = {Bs[buf][kk + t][8 * n + g], Bs[buf][kk + t + 4][8 * n + g]};
          mma_tf32_m16n8k8(acc[n], fa, fb);
        }
      }
      // The other buffer was last read in the step before, finished before the barrier that ended it.
      if (step + 1 < steps) store_step(buf ^ 1);
      __syncthreads();
    }
    // acc[n][2 h + c]: query row g + 8 h, key key0 + 8 n + 2 t + c.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_top = -INFINITY;
#pragma unroll
      for (int n = 0; n < kTiles; ++n)
#pragma unroll
        for (int c = 0; c < 2; ++c)
          if (key0 + 8 * n + 2 * t + c < key_end) tile_top = fmaxf(tile_top, acc[n][2 * h + c]);
      list[h].top = fmaxf(list[h].top, tile_top);
      const float threshold = list[h].top - margin[h];
#pragma unroll
      for (int n = 0; n < kTiles; ++n)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int key = key0 + 8 * n + 2 * t + c;
          if (key < key_end && acc[n][2 * h + c] >= threshold) list[h].keep(key, acc[n][2 * h + c], threshold);
        }
    }
  }

  const int groups = 4 * int(gridDim.y), group = 4 * int(blockIdx.y) + t;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int i = i0 + 16 * warp + g + 8 * h;
    if (i >= Nq) continue;
    list[h].store(int64_t(i) * groups + group, best, dropped, slot_keys, slot_scores);
  }
}

}  // namespace dcsr::kernels::cuda
