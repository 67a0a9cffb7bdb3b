// Exact patch matching through TF32 tensor-core scores (issue 18; the GPU
// twin of kernels/cpu/max_cosine_int16.h): the max and FIRST argmax over keys
// of every query's dot products, bit-identical to the float32 sweep of
// max_cosine.cu. Taken when DCSR_CUDA_MATCH=tf32 (runtime/switches.h). The
// default stays the float32 sweep. Timed on an H100 (2026-12-05), the first
// form of this path (cuBLAS writing every score of a chunk, 3.4 GB for a 4K
// tile, then a pass reading them back) took 1.17x its time at the model's
// D = 144, 0.56-0.75x at D = 576, with 1.3-1.5 candidates re-scored per
// query. The fused form below stores no score; it is not yet timed.
//
// Per image, queries in passes of C lanes (their kept candidates within the
// workspace limit):
//   1. tf32_candidate_sweep.cuh: every score a(i, j) on TF32 tensor cores
//      with float32 accumulation, never stored; each thread keeps, per
//      query, the best score it saw and up to 4 keys within the bound T_i
//      below of it (and the largest score it had to drop).
//   2. resolve_kernel, one block per query: the best approximate score over
//      all threads, every kept key within T_i of it (at most kCap of them,
//      sorted into key order), each re-scored with the sweep's own float32
//      chain (acc = fma(k[d], q[d], acc) from 0, d = 0 .. D-1, then zero
//      steps up to the sweep's multiple of 8), and the first strict maximum
//      in key order written: the sweep's value and index, near-ties included.
//   3. Queries with more than kCap candidates, or a dropped one (flat
//      regions), or norms that could take a product out of float32's range,
//      are gathered and matched by the float32 sweep itself.
//
// The bound. With u_t = 2^-10 (a TF32 rounding, by truncation or to
// nearest), the products of rounded inputs are exact in float32 (11-bit
// mantissas), |q~ k~ - q k| <= (2 u_t + u_t^2) |q_d k_d|; the tensor cores'
// float32 accumulation, perhaps truncating, in any order, adds at most
// gamma(D, 2^-22) times the sum of the rounded products' magnitudes (at most
// (1 + u_t)^2 sum |q_d k_d|); the float32 chain f itself is within
// gamma(D, 2^-24) of the exact dot. Every sum of |q_d k_d| is at most
// |q_i| |k_j| (Cauchy-Schwarz). So |a - f| <= E_i = c_D |q_i| K +
// 1e-30 D (1 + |q_i| + K) (K = the largest key norm; the second term covers
// inputs and products flushed below the normal range), and every key with
// a(i, j) >= best_i - 2 E_i is a
// candidate: the float32 argmax j* has a(j*) >= f(j*) - E >= f(j_a) - E >=
// a(j_a) - 2 E, and so has every key that ties it exactly. Keys whose norms
// leave [1e-6, 1e15] (zero columns aside) or are not finite send the whole
// image to the float32 sweep; a query whose norm is not finite, or whose
// |q_i| K exceeds 1e37, goes to it alone (below that, with finite keys,
// every score is finite: |a| <= |q_i| K).
//
// Why TF32 and not bf16: `dcsr_bench --filter match_candidates_real` counts
// the keys within each bound on real features (the demo pair, 4 tiles, 1200
// queries; 2026-12-04): at TF32's bound (3.96e-3 at D = 144) 89.6% of the
// queries have at most 8 candidates and 1.5% more than 32 (the fallback); at
// bf16's (1.6e-2) 74.8% and 16.5%. A one-off probe on five tiles of a
// 2016x1512 photo agreed: 99.8-100% at most 8 on four tiles, while a flat
// tile had 45% above 32 at TF32's bound and 52% above 256 at bf16's.
#include "kernels/cuda/max_cosine_tf32.h"

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/dot_sweep.cuh"
#include "kernels/cuda/tf32_candidate_sweep.cuh"

namespace dcsr::kernels::cuda {

namespace {

constexpr int kCap = 32;           // candidates a query's list holds
constexpr int kQueryThreads = 128;  // threads of a query's block

std::atomic<int64_t> g_queries{0}, g_rescored{0}, g_fallbacks{0}, g_declined{0};

__host__ __device__ inline double gamma_n(double n, double unit) { return n * unit / (1.0 - n * unit); }

// The bound's factor c_D in E = c_D |q| K + 1e-30 D (1 + |q| + K): the
// inputs' TF32 rounding, the accumulation's (on the rounded products, at most
// (1 + u_t)^2 times the exact ones) and the float32 chain's own.
double bound_factor(int64_t D) {
  const double ut = 1.0 / 1024.0;
  return (2.0 * ut + ut * ut) + gamma_n(double(D), 1.0 / 4194304.0) * (1.0 + ut) * (1.0 + ut) +
         gamma_n(double(D), 1.0 / 16777216.0);
}

// norms[j] = |x[:, j]| (double) for the n columns of x (D, n); flags[0] = 1
// when a norm is not finite, or nonzero outside [1e-6, 1e15] (flags may be
// null: the queries' norms are judged per query, by resolve_kernel).
__global__ void column_norms_kernel(const float* x, int64_t D, int64_t n, double* norms, int* flags) {
  DCSR_GRID_STRIDE_LOOP(j, n) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const double v = x[d * n + j];
      s += v * v;
    }
    const double norm = sqrt(s);
    norms[j] = norm;
    if (flags && (!(norm <= 1e15) || (norm != 0.0 && norm < 1e-6))) flags[0] = 1;
  }
}

// out[0] = the largest of n values (one block).
__global__ void max_kernel(const double* values, int64_t n, double* out) {
  __shared__ double best[kBlock];
  double m = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = fmax(m, values[j]);
  best[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) best[threadIdx.x] = fmax(best[threadIdx.x], best[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = best[0];
}

// Step 2 for the queries lane0 .. lane0 + C - 1 of one image, one block per
// query: the largest approximate score over the sweep's groups, the
// threshold, every kept key within it (sorted into key order), each
// re-scored with the sweep's own float32 chain, and the first strict maximum
// in key order written to conf/index. A query goes to `overflow` (its index,
// `overflow_count` of them) when the image is declined, its products could
// leave float32's range, a key within the threshold may have been dropped,
// or more than kCap keys are within it. counters: [0] pairs re-scored.
__global__ void __launch_bounds__(kQueryThreads)
    resolve_kernel(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, int64_t lane0, int64_t C,
                   int64_t D_swept, int groups, const float* best, const float* dropped, const int* slot_keys,
                   const float* slot_scores, const double* q_norms, const double* key_norm_max, const int* flags,
                   double factor, float* conf, int64_t* index, int64_t* overflow, int* overflow_count,
                   unsigned long long* counters) {
  __shared__ float red[2][kQueryThreads];
  __shared__ int32_t keys[kCap];
  __shared__ float exact[kCap];
  __shared__ int count;
  const int t = threadIdx.x, entries = groups * kCandidateSlots;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const int64_t lane = lane0 + c;
    float top = -INFINITY, drop = -INFINITY;
    for (int r = t; r < groups; r += kQueryThreads)
      top = fmaxf(top, best[c * groups + r]), drop = fmaxf(drop, dropped[c * groups + r]);
    red[0][t] = top, red[1][t] = drop;
    __syncthreads();
    for (int h = kQueryThreads / 2; h > 0; h >>= 1) {
      if (t < h) red[0][t] = fmaxf(red[0][t], red[0][t + h]), red[1][t] = fmaxf(red[1][t], red[1][t + h]);
      __syncthreads();
    }
    const double q_norm = q_norms[lane], K = key_norm_max[0];
    const double threshold = double(red[0][0]) - match_bound(factor, q_norm, K, D);
    // Not finite, products that could leave float32's range, or a candidate
    // the sweep may have dropped: the float32 sweep decides.
    const bool lane_bad = flags[0] || !(q_norm * K <= 1e37) || !(fabsf(red[0][0]) <= FLT_MAX) ||
                          double(red[1][0]) >= threshold;
    if (t == 0) count = 0;
    __syncthreads();
    if (!lane_bad)
      for (int e = t; e < entries; e += kQueryThreads)
        if (double(slot_scores[c * entries + e]) >= threshold) {
          const int slot = atomicAdd(&count, 1);
          if (slot < kCap) keys[slot] = slot_keys[c * entries + e];
        }
    __syncthreads();
    const int n = count;
    if (lane_bad || n > kCap) {
      if (t == 0) overflow[atomicAdd(overflow_count, 1)] = lane;
      __syncthreads();
      continue;
    }
    if (t == 0)  // key order (the slots were taken in any order)
      for (int a = 1; a < n; ++a) {
        const int32_t v = keys[a];
        int b = a - 1;
        while (b >= 0 && keys[b] > v) keys[b + 1] = keys[b], --b;
        keys[b + 1] = v;
      }
    __syncthreads();
    if (t < n) {  // the sweep's chain: fma(row = key, lane = query, acc), zero steps to its multiple of 8
      const int64_t j = keys[t];
      float acc = 0.0f;
      for (int64_t d = 0; d < D; ++d) acc = fmaf(k[d * Nk + j], q[d * Nq + lane], acc);
      for (int64_t d = D; d < D_swept; ++d) acc = fmaf(0.0f, 0.0f, acc);
      exact[t] = acc;
    }
    __syncthreads();
    if (t == 0) {
      float value = -INFINITY;
      int32_t key = 0;
      for (int a = 0; a < n; ++a)
        if (exact[a] > value) value = exact[a], key = keys[a];
      conf[lane] = value;
      index[lane] = key;
      atomicAdd(counters, (unsigned long long)n);
    }
    __syncthreads();
  }
}

// q_sub[:, r] = q[:, lanes[r]] for r < n: q (D, Nq) -> q_sub (D, n).
__global__ void gather_columns_kernel(const float* q, int64_t D, int64_t Nq, const int64_t* lanes, int64_t n,
                                      float* q_sub) {
  DCSR_GRID_STRIDE_LOOP(e, D * n) {
    const int64_t d = e / n, r = e % n;
    q_sub[e] = q[d * Nq + lanes[r]];
  }
}

__global__ void scatter_results_kernel(const float* conf_sub, const int64_t* index_sub, const int64_t* lanes,
                                       int64_t n, float* conf, int64_t* index) {
  DCSR_GRID_STRIDE_LOOP(r, n) {
    conf[lanes[r]] = conf_sub[r];
    index[lanes[r]] = index_sub[r];
  }
}

template <typename T>
T* scratch(Tensor& holder, int64_t count) {
  holder = empty({(count * int64_t(sizeof(T)) + 7) / 8}, kFloat64, Device::CUDA);
  return reinterpret_cast<T*>(holder.raw_data());
}

}  // namespace

cuda_paths::Tf32MatchStats tf32_match_stats() {
  return {g_queries.load(), g_rescored.load(), g_fallbacks.load(), g_declined.load()};
}
void reset_tf32_match_stats() { g_queries = 0, g_rescored = 0, g_fallbacks = 0, g_declined = 0; }

void max_cosine_tf32(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes,
                     const Float32Sweep& float32_sweep) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  if (Nq == 0) return;
  DCSR_CHECK(Nk > 0 && Nk <= INT32_MAX - kCandidateKeys && Nq <= INT32_MAX - kCandidateQueries && D <= INT32_MAX,
             "max_cosine (tf32): ", Nq, " queries and ", Nk, " keys of depth ", D, " exceed the sweep's int32 sizes");
  const int64_t D_swept = (D + sweep::kStep - 1) / sweep::kStep * sweep::kStep;
  const double factor = bound_factor(D);
  // The sweep's grid: blocks of 128 queries, and the keys cut into chunks
  // (multiples of 128, at most 4) so that the blocks fill about two waves.
  const int64_t query_blocks = (Nq + kCandidateQueries - 1) / kCandidateQueries;
  const int64_t wanted_chunks = std::clamp<int64_t>((2 * multiprocessors() + query_blocks - 1) / query_blocks, 1, 4);
  const int64_t chunk_keys =
      ((Nk + wanted_chunks - 1) / wanted_chunks + kCandidateKeys - 1) / kCandidateKeys * kCandidateKeys;
  const int64_t chunks = (Nk + chunk_keys - 1) / chunk_keys, groups = 4 * chunks;
  // Queries per pass: their kept candidates (groups x (best, dropped, 4 keys, 4 scores)) within the workspace.
  const int64_t per_query = groups * (2 + 2 * kCandidateSlots) * 4;
  const int64_t pass = std::min(Nq, std::max<int64_t>(kCandidateQueries, workspace_bytes / per_query /
                                                                           kCandidateQueries * kCandidateQueries));
  Tensor key_norms_t, q_norms_t, flags_t, kmax_t, overflow_t, count_t, counter_t;
  Tensor best_t, dropped_t, slot_keys_t, slot_scores_t;
  double* key_norms = scratch<double>(key_norms_t, Nk);
  double* q_norms = scratch<double>(q_norms_t, Nq);
  int* flags = scratch<int>(flags_t, 1);
  double* key_norm_max = scratch<double>(kmax_t, 1);
  int64_t* overflow = scratch<int64_t>(overflow_t, Nq);
  int* overflow_count = scratch<int>(count_t, 1);
  unsigned long long* rescored = scratch<unsigned long long>(counter_t, 1);
  float* best = scratch<float>(best_t, pass * groups);
  float* dropped = scratch<float>(dropped_t, pass * groups);
  int* slot_keys = scratch<int>(slot_keys_t, pass * groups * kCandidateSlots);
  float* slot_scores = scratch<float>(slot_scores_t, pass * groups * kCandidateSlots);
  for (int64_t n = 0; n < N; ++n) {
    const float* qn = q.data<float>() + n * D * Nq;
    const float* kn = k.data<float>() + n * D * Nk;
    float* conf = confidence.data<float>() + n * Nq;
    int64_t* idx = index.data<int64_t>() + n * Nq;
    DCSR_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int)));
    DCSR_CUDA_CHECK(cudaMemsetAsync(overflow_count, 0, sizeof(int)));
    DCSR_CUDA_CHECK(cudaMemsetAsync(rescored, 0, sizeof(unsigned long long)));
    column_norms_kernel<<<grid_for(Nk), kBlock>>>(kn, D, Nk, key_norms, flags);
    DCSR_CUDA_CHECK_LAUNCH();
    max_kernel<<<1, kBlock>>>(key_norms, Nk, key_norm_max);
    DCSR_CUDA_CHECK_LAUNCH();
    column_norms_kernel<<<grid_for(Nq), kBlock>>>(qn, D, Nq, q_norms, nullptr);
    DCSR_CUDA_CHECK_LAUNCH();
    for (int64_t lane0 = 0; lane0 < Nq; lane0 += pass) {
      const int64_t C = std::min(pass, Nq - lane0);
      // The sweep reads the pass's queries as a (D, C) block of q's rows (stride Nq).
      const dim3 grid(unsigned((C + kCandidateQueries - 1) / kCandidateQueries), unsigned(chunks));
      tf32_candidate_sweep<<<grid, kCandidateSweepThreads>>>(qn + lane0, kn, int(D), int(C), int(Nq), int(Nk),
                                                              int(chunk_keys), q_norms + lane0, key_norm_max, factor,
                                                              best, dropped, slot_keys, slot_scores);
      DCSR_CUDA_CHECK_LAUNCH();
      const unsigned blocks = unsigned(std::max<int64_t>(1, std::min(C, kMaxGridBlocks)));
      resolve_kernel<<<blocks, kQueryThreads>>>(qn, kn, D, Nq, Nk, lane0, C, D_swept, int(groups), best, dropped,
                                                slot_keys, slot_scores, q_norms, key_norm_max, flags, factor, conf,
                                                idx, overflow, overflow_count, rescored);
      DCSR_CUDA_CHECK_LAUNCH();
    }
    int flagged = 0, n_over = 0;
    unsigned long long pairs = 0;
    DCSR_CUDA_CHECK(cudaMemcpy(&flagged, flags, sizeof(int), cudaMemcpyDeviceToHost));
    DCSR_CUDA_CHECK(cudaMemcpy(&n_over, overflow_count, sizeof(int), cudaMemcpyDeviceToHost));
    DCSR_CUDA_CHECK(cudaMemcpy(&pairs, rescored, sizeof(pairs), cudaMemcpyDeviceToHost));
    g_declined += flagged;
    g_queries += Nq - n_over;
    g_fallbacks += n_over;
    g_rescored += int64_t(pairs);
    if (n_over == 0) continue;
    Tensor q_sub = empty({D, int64_t(n_over)}, kFloat32, Device::CUDA);
    Tensor conf_sub = empty({int64_t(n_over)}, kFloat32, Device::CUDA);
    Tensor index_sub = empty({int64_t(n_over)}, kInt64, Device::CUDA);
    gather_columns_kernel<<<grid_for(D * n_over), kBlock>>>(qn, D, Nq, overflow, n_over, q_sub.data<float>());
    DCSR_CUDA_CHECK_LAUNCH();
    float32_sweep(q_sub.data<float>(), kn, n_over, Nk, conf_sub.data<float>(), index_sub.data<int64_t>());
    scatter_results_kernel<<<grid_for(n_over), kBlock>>>(conf_sub.data<float>(), index_sub.data<int64_t>(), overflow,
                                                         n_over, conf, idx);
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dcsr::kernels::cuda
