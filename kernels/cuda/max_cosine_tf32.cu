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
//   2. exact_match.cu's resolve step, one block per query: the best
//      approximate score over all threads, every kept key within T_i of it (at most kCap of them,
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
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/exact_match.h"
#include "kernels/cuda/tf32_candidate_sweep.cuh"

namespace dcsr::kernels::cuda {

namespace {

ExactMatchCounters g_counters;

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
// null: the queries' norms are judged per query, by the resolve step).
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

}  // namespace

cuda_paths::ExactMatchStats tf32_match_stats() { return g_counters.stats(); }
void reset_tf32_match_stats() { g_counters.reset(); }

void max_cosine_tf32(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes,
                     const Float32Sweep& float32_sweep) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  if (Nq == 0) return;
  DCSR_CHECK(Nk > 0 && Nk <= INT32_MAX - kCandidateKeys && Nq <= INT32_MAX - kCandidateQueries && D <= INT32_MAX,
             "max_cosine (tf32): ", Nq, " queries and ", Nk, " keys of depth ", D, " exceed the sweep's int32 sizes");
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
  Tensor key_norms_t, q_norms_t, kmax_t, list_holders[4];
  double* key_norms = device_scratch<double>(key_norms_t, Nk);
  double* q_norms = device_scratch<double>(q_norms_t, Nq);
  double* key_norm_max = device_scratch<double>(kmax_t, 1);
  const CandidateBuffers lists = candidate_buffers(pass, groups, list_holders);
  ExactResolve resolve(Nq);
  const QueryBounds bounds{q_norms, key_norm_max, factor, nullptr};
  for (int64_t n = 0; n < N; ++n) {
    const float* qn = q.data<float>() + n * D * Nq;
    const float* kn = k.data<float>() + n * D * Nk;
    float* conf = confidence.data<float>() + n * Nq;
    int64_t* idx = index.data<int64_t>() + n * Nq;
    resolve.begin_image();
    column_norms_kernel<<<grid_for(Nk), kBlock>>>(kn, D, Nk, key_norms, resolve.flags());
    DCSR_CUDA_CHECK_LAUNCH();
    max_of(key_norms, Nk, key_norm_max);
    column_norms_kernel<<<grid_for(Nq), kBlock>>>(qn, D, Nq, q_norms, nullptr);
    DCSR_CUDA_CHECK_LAUNCH();
    for (int64_t lane0 = 0; lane0 < Nq; lane0 += pass) {
      const int64_t C = std::min(pass, Nq - lane0);
      // The sweep reads the pass's queries as a (D, C) block of q's rows (stride Nq).
      const dim3 grid(unsigned((C + kCandidateQueries - 1) / kCandidateQueries), unsigned(chunks));
      tf32_candidate_sweep<<<grid, kCandidateSweepThreads>>>(qn + lane0, kn, int(D), int(C), int(Nq), int(Nk),
                                                              int(chunk_keys), q_norms + lane0, key_norm_max, factor,
                                                              lists.best, lists.dropped, lists.slot_keys,
                                                              lists.slot_scores);
      DCSR_CUDA_CHECK_LAUNCH();
      resolve.resolve(qn, kn, D, Nq, Nk, lane0, C, lists, bounds, conf, idx);
    }
    resolve.finish_image(qn, kn, D, Nq, Nk, conf, idx, g_counters, float32_sweep);
  }
}

}  // namespace dcsr::kernels::cuda
