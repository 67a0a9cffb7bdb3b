// Exact patch matching through TF32 tensor-core scores (issue 18; the GPU
// twin of kernels/cpu/max_cosine_int16.h): the max and FIRST argmax over keys
// of every query's dot products, bit-identical to the float32 sweep of
// max_cosine.cu. Taken when DCSR_CUDA_MATCH=tf32 (runtime/switches.h). The
// default stays the float32 sweep: timed on an H100 (2026-12-05), this path
// took 1.17x its time at the model's D = 144 (the 4K tile's shape), 0.56-0.75x
// at D = 576, with 1.3-1.5 candidates re-scored per query.
//
// Per image, queries in chunks of C lanes (the scores of a chunk, Nk x C
// floats, stay within the workspace limit):
//   1. cuBLAS computes every score of the chunk with TF32 inputs and float32
//      accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F_FAST_TF32): a(i, j).
//   2. One block per query: the best approximate score, the bound T_i below,
//      every key within T_i of the best (at most kCap of them, sorted into key
//      order), each re-scored with the sweep's own float32 chain
//      (acc = fma(k[d], q[d], acc) from 0, d = 0 .. D-1, then zero steps up
//      to the sweep's multiple of 8), and the first strict maximum in key
//      order written: the sweep's value and index, near-ties included.
//   3. Queries whose candidates overflow the list (flat regions), or whose
//      scores are not all finite, are gathered and matched by the float32
//      sweep itself.
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
// image to the float32 sweep; a query whose scores are not all finite, or
// whose |q_i| K exceeds 1e37, goes to it alone.
//
// Why TF32 and not bf16: `dcsr_bench --filter match_candidates_real` counts
// the keys within each bound on real features (the demo pair, 4 tiles, 1200
// queries; 2026-12-04): at TF32's bound (3.96e-3 at D = 144) 89.6% of the
// queries have at most 8 candidates and 1.5% more than 32 (the fallback); at
// bf16's (1.6e-2) 74.8% and 16.5%. A one-off probe on five tiles of a
// 2016x1512 photo agreed: 99.8-100% at most 8 on four tiles, while a flat
// tile had 45% above 32 at TF32's bound and 52% above 256 at bf16's.
#include "kernels/cuda/max_cosine_tf32.h"

#include <atomic>
#include <cfloat>
#include <cmath>

#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/dot_sweep.cuh"

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
// when a norm is not finite, or nonzero outside [1e-6, 1e15].
__global__ void column_norms_kernel(const float* x, int64_t D, int64_t n, double* norms, int* flags) {
  DCSR_GRID_STRIDE_LOOP(j, n) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      const double v = x[d * n + j];
      s += v * v;
    }
    const double norm = sqrt(s);
    norms[j] = norm;
    if (!(norm <= 1e15) || (norm != 0.0 && norm < 1e-6)) flags[0] = 1;
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

// Step 2 for the queries lane0 .. lane0 + C - 1 of one image. scores: Nk x C,
// column c = query lane0 + c (contiguous). q (D, Nq), k (D, Nk). Writes
// conf/index of the queries it settles; the others go to `overflow` (their
// indices, `overflow_count` of them). counters: [0] pairs re-scored.
__global__ void __launch_bounds__(kQueryThreads)
    candidates_kernel(const float* scores, const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk,
                      int64_t lane0, int64_t C, int64_t D_swept, const double* key_norm_max, const int* flags,
                      double factor, float* conf, int64_t* index, int64_t* overflow, int* overflow_count,
                      unsigned long long* counters) {
  __shared__ double red[kQueryThreads];
  __shared__ int bad[kQueryThreads];
  __shared__ int32_t keys[kCap];
  __shared__ float exact[kCap];
  __shared__ int count;
  const int t = threadIdx.x;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const int64_t lane = lane0 + c;
    const float* s = scores + c * Nk;
    // |q| and the best approximate score (and whether every score is finite).
    double sq = 0.0;
    for (int64_t d = t; d < D; d += kQueryThreads) sq += double(q[d * Nq + lane]) * double(q[d * Nq + lane]);
    float best = -INFINITY;
    int not_finite = 0;
    for (int64_t j = t; j < Nk; j += kQueryThreads) {
      const float v = s[j];
      if (!(fabsf(v) <= FLT_MAX)) not_finite = 1;  // NaN or infinite
      best = fmaxf(best, v);
    }
    red[t] = sq;
    bad[t] = not_finite;
    __syncthreads();
    for (int h = kQueryThreads / 2; h > 0; h >>= 1) {
      if (t < h) red[t] += red[t + h], bad[t] |= bad[t + h];
      __syncthreads();
    }
    const double q_norm = sqrt(red[0]);
    // Not finite, or products that could leave float32's range: the float32 sweep decides.
    const int lane_bad = bad[0] | flags[0] | !(q_norm * key_norm_max[0] <= 1e37);
    __syncthreads();
    red[t] = best;
    __syncthreads();
    for (int h = kQueryThreads / 2; h > 0; h >>= 1) {
      if (t < h) red[t] = fmax(red[t], red[t + h]);
      __syncthreads();
    }
    const double best_all = red[0];
    if (t == 0) count = 0;
    __syncthreads();
    if (!lane_bad) {
      const double K = key_norm_max[0];
      const double bound = 2.0 * (factor * q_norm * K + 1e-30 * double(D) * (1.0 + q_norm + K)) * (1.0 + 1e-5);
      const double floor = best_all - bound;
      for (int64_t j = t; j < Nk; j += kQueryThreads)
        if (double(s[j]) >= floor) {
          const int slot = atomicAdd(&count, 1);
          if (slot < kCap) keys[slot] = int32_t(j);
        }
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
  DCSR_CHECK(Nk > 0 && Nk <= INT32_MAX && Nq <= INT32_MAX && D <= INT32_MAX, "max_cosine (tf32): ", Nq,
             " queries and ", Nk, " keys of depth ", D, " exceed cuBLAS's int32 sizes");
  const int64_t D_swept = (D + sweep::kStep - 1) / sweep::kStep * sweep::kStep;
  const double factor = bound_factor(D);
  // Queries per chunk: their scores (Nk floats each) within the workspace.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(Nq, workspace_bytes / (4 * Nk)));
  Tensor norms_t, flags_t, kmax_t, scores_t, overflow_t, count_t, counter_t;
  double* key_norms = scratch<double>(norms_t, Nk);
  int* flags = scratch<int>(flags_t, 1);
  double* key_norm_max = scratch<double>(kmax_t, 1);
  int64_t* overflow = scratch<int64_t>(overflow_t, Nq);
  int* overflow_count = scratch<int>(count_t, 1);
  unsigned long long* rescored = scratch<unsigned long long>(counter_t, 1);
  cublasHandle_t handle = cublas_handle();
  for (int64_t n = 0; n < N; ++n) {
    const float* qn = q.data<float>() + n * D * Nq;
    const float* kn = k.data<float>() + n * D * Nk;
    float* conf = confidence.data<float>() + n * Nq;
    int64_t* idx = index.data<int64_t>() + n * Nq;
    // The chunk's scores (held for this image only: the fallback's sweep below has its own workspace).
    float* scores = scratch<float>(scores_t, Nk * chunk);
    DCSR_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int)));
    DCSR_CUDA_CHECK(cudaMemsetAsync(overflow_count, 0, sizeof(int)));
    DCSR_CUDA_CHECK(cudaMemsetAsync(rescored, 0, sizeof(unsigned long long)));
    column_norms_kernel<<<grid_for(Nk), kBlock>>>(kn, D, Nk, key_norms, flags);
    DCSR_CUDA_CHECK_LAUNCH();
    max_kernel<<<1, kBlock>>>(key_norms, Nk, key_norm_max);
    DCSR_CUDA_CHECK_LAUNCH();
    for (int64_t lane0 = 0; lane0 < Nq; lane0 += chunk) {
      const int64_t C = std::min(chunk, Nq - lane0);
      // Column-major: scores (Nk x C) = k^T (Nk x D; k is (D, Nk) row-major, i.e. Nk x D column-major,
      // ld Nk) times the chunk's q (D x C: the transpose of q's Nq x D column-major view, ld Nq).
      const float one = 1.0f, zero = 0.0f;
      DCSR_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_T, int(Nk), int(C), int(D), &one, kn, CUDA_R_32F,
                                     int(Nk), qn + lane0, CUDA_R_32F, int(Nq), &zero, scores, CUDA_R_32F, int(Nk),
                                     CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
      const unsigned blocks = unsigned(std::max<int64_t>(1, std::min(C, kMaxGridBlocks)));
      candidates_kernel<<<blocks, kQueryThreads>>>(scores, qn, kn, D, Nq, Nk, lane0, C, D_swept, key_norm_max, flags,
                                                    factor, conf, idx, overflow, overflow_count, rescored);
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
    scores_t = Tensor();
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
