// The resolve step of the exact matching paths (exact_match.h).
#include "kernels/cuda/exact_match.h"

#include <algorithm>
#include <cfloat>

#include "kernels/cuda/candidate_slots.cuh"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/dot_sweep.cuh"
#include "kernels/cuda/tf32_match_bound.cuh"

namespace dcsr::kernels::cuda {

namespace {

constexpr int kCap = 32;            // candidates a query's merged list holds
constexpr int kQueryThreads = 128;  // threads of a query's block

// out[0] = the largest of n values, at least 0 (one block).
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

// The queries lane0 .. lane0 + C - 1 of one image, one block per query: the
// largest approximate score over the groups, the threshold, every kept key
// within it (sorted into key order), each re-scored with the sweep's own
// float32 chain (acc = fma(k[d], q[d], acc) from 0, d = 0 .. D-1, then zero
// steps up to the sweep's multiple of 8), and the first strict maximum in
// key order written to conf/index. A query goes to `overflow` (its index,
// `overflow_count` of them) when the image is flagged, its products could
// leave float32's range, a key within the threshold may have been dropped,
// or more than kCap keys are within it. counters: [0] pairs re-scored.
__global__ void __launch_bounds__(kQueryThreads)
    resolve_kernel(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, int64_t lane0, int64_t C,
                   int64_t D_swept, int groups, const float* best, const float* dropped, const int* slot_keys,
                   const float* slot_scores, QueryBounds bounds, const int* flags, float* conf, int64_t* index,
                   int64_t* overflow, int* overflow_count, unsigned long long* counters) {
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
    const double q_norm = bounds.q_norms[lane], K = bounds.key_norm_max[0];
    const double gap =
        bounds.gaps ? double(bounds.gaps[lane]) : match_bound(bounds.factor, q_norm, K, D);
    const double threshold = double(red[0][0]) - gap;
    // Not finite, products that could leave float32's range, or a candidate
    // the sweep may have dropped: the float32 sweep decides.
    const bool lane_bad = flags[0] || !(q_norm * K <= 1e37) || !(fabsf(red[0][0]) <= FLT_MAX) ||
                          !(gap >= 0.0) || double(red[1][0]) >= threshold;
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

}  // namespace

CandidateBuffers candidate_buffers(int64_t queries, int64_t groups, Tensor (&holders)[4]) {
  CandidateBuffers b;
  b.groups = groups;
  b.best = device_scratch<float>(holders[0], queries * groups);
  b.dropped = device_scratch<float>(holders[1], queries * groups);
  b.slot_keys = device_scratch<int>(holders[2], queries * groups * kCandidateSlots);
  b.slot_scores = device_scratch<float>(holders[3], queries * groups * kCandidateSlots);
  return b;
}

void max_of(const double* values, int64_t n, double* out) {
  max_kernel<<<1, kBlock>>>(values, n, out);
  DCSR_CUDA_CHECK_LAUNCH();
}

ExactResolve::ExactResolve(int64_t max_queries) {
  flags_ = device_scratch<int>(holders_[0], 1);
  overflow_ = device_scratch<int64_t>(holders_[1], max_queries);
  overflow_count_ = device_scratch<int>(holders_[2], 1);
  rescored_ = device_scratch<unsigned long long>(holders_[3], 1);
}

void ExactResolve::begin_image() {
  DCSR_CUDA_CHECK(cudaMemsetAsync(flags_, 0, sizeof(int)));
  DCSR_CUDA_CHECK(cudaMemsetAsync(overflow_count_, 0, sizeof(int)));
  DCSR_CUDA_CHECK(cudaMemsetAsync(rescored_, 0, sizeof(unsigned long long)));
}

void ExactResolve::resolve(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, int64_t lane0,
                           int64_t C, const CandidateBuffers& lists, const QueryBounds& bounds, float* conf,
                           int64_t* index) {
  const int64_t D_swept = (D + sweep::kStep - 1) / sweep::kStep * sweep::kStep;
  const unsigned blocks = unsigned(std::max<int64_t>(1, std::min(C, kMaxGridBlocks)));
  resolve_kernel<<<blocks, kQueryThreads>>>(q, k, D, Nq, Nk, lane0, C, D_swept, int(lists.groups), lists.best,
                                            lists.dropped, lists.slot_keys, lists.slot_scores, bounds, flags_, conf,
                                            index, overflow_, overflow_count_, rescored_);
  DCSR_CUDA_CHECK_LAUNCH();
}

void ExactResolve::finish_image(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, float* conf,
                                int64_t* index, ExactMatchCounters& counters, const Float32Sweep& float32_sweep) {
  int flagged = 0, n_over = 0;
  unsigned long long pairs = 0;
  DCSR_CUDA_CHECK(cudaMemcpy(&flagged, flags_, sizeof(int), cudaMemcpyDeviceToHost));
  DCSR_CUDA_CHECK(cudaMemcpy(&n_over, overflow_count_, sizeof(int), cudaMemcpyDeviceToHost));
  DCSR_CUDA_CHECK(cudaMemcpy(&pairs, rescored_, sizeof(pairs), cudaMemcpyDeviceToHost));
  counters.declined += flagged;
  counters.queries += Nq - n_over;
  counters.fallbacks += n_over;
  counters.rescored += int64_t(pairs);
  if (n_over == 0) return;
  Tensor q_sub = empty({D, int64_t(n_over)}, kFloat32, Device::CUDA);
  Tensor conf_sub = empty({int64_t(n_over)}, kFloat32, Device::CUDA);
  Tensor index_sub = empty({int64_t(n_over)}, kInt64, Device::CUDA);
  gather_columns_kernel<<<grid_for(D * n_over), kBlock>>>(q, D, Nq, overflow_, n_over, q_sub.data<float>());
  DCSR_CUDA_CHECK_LAUNCH();
  float32_sweep(q_sub.data<float>(), k, n_over, Nk, conf_sub.data<float>(), index_sub.data<int64_t>());
  scatter_results_kernel<<<grid_for(n_over), kBlock>>>(conf_sub.data<float>(), index_sub.data<int64_t>(), overflow_,
                                                       n_over, conf, index);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
