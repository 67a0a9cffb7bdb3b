// CUDA patch matching (dcsr-spec §4.1), float32: for every query column the
// largest dot product with a key column and the FIRST key reaching it
// (torch.max's rule), fused into the tiled dot-product sweep of
// kernels/cuda/dot_sweep.cuh (rows = keys, lanes = queries), so memory is the
// per-chunk states, never Nq x Nk scores. And the sparse backward.
// q: (N, D, Nq), k: (N, D, Nk) -> confidence (N, Nq), index (N, Nq) int64.
#include <cfloat>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/dot_sweep.cuh"
#include "kernels/cuda/index_check.h"
#include "kernels/cuda/max_cosine_map.h"
#include "kernels/cuda/max_cosine_tf32.h"
#include "runtime/switches.h"

namespace dcsr::kernels::cuda {

namespace {

// Running max with the first index. As the CPU: start at (-inf, 0), replace
// only on a strictly larger value (a NaN product never replaces anything).
struct MaxFirst {
  struct State {
    float value;
    int32_t index;
  };
  float* confidence;
  int64_t* index;
  int64_t n_lanes;

  __device__ State init() const { return {-INFINITY, 0}; }
  __device__ void update(State& s, float dot, int64_t row, int64_t, int64_t) const {
    if (dot > s.value) s = {dot, int32_t(row)};
  }
  __device__ void merge(State& a, const State& b) const {
    if (b.value > a.value || (b.value == a.value && b.index < a.index)) a = b;
  }
  __device__ void finish(const State& s, int64_t n, int64_t lane) const {
    confidence[n * n_lanes + lane] = s.value;
    index[n * n_lanes + lane] = s.index;
  }
};

// grad_q[n, d, i] = g[n, i] k[n, d, I_i]
__global__ void grad_queries_kernel(const float* k, const int64_t* index, const float* g, float* gq, int64_t N,
                                    int64_t D, int64_t Nq, int64_t Nk) {
  DCSR_GRID_STRIDE_LOOP(e, N * D * Nq) {
    const int64_t i = e % Nq, row = e / Nq, n = row / D;
    gq[e] = g[n * Nq + i] * k[row * Nk + index[n * Nq + i]];
  }
}

// grad_k[n, d, I_i] += g[n, i] q[n, d, i]: several queries may pick one key,
// so the adds are atomic (grad_k is zeroed first).
__global__ void grad_keys_kernel(const float* q, const int64_t* index, const float* g, float* gk, int64_t N,
                                 int64_t D, int64_t Nq, int64_t Nk) {
  DCSR_GRID_STRIDE_LOOP(e, N * D * Nq) {
    const int64_t i = e % Nq, row = e / Nq, n = row / D;
    atomicAdd(gk + row * Nk + index[n * Nq + i], g[n * Nq + i] * q[e]);
  }
}

}  // namespace

void max_cosine(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  require_float32(q, "max_cosine");
  require_float32(k, "max_cosine");
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  DCSR_CHECK(Nk <= INT32_MAX, "max_cosine: ", Nk, " keys exceed the int32 index of the device states");
  if (runtime::cuda_match_path() == runtime::CudaMatchPath::kTf32 && Nk > 0 && D > 0) {
    // TF32 scores, exact re-scoring; the queries it cannot settle go to the float32 sweep (one image).
    max_cosine_tf32(q, k, confidence, index, workspace_bytes,
                    [&](const float* qs, const float* ks, int64_t n_lanes, int64_t n_keys, float* conf,
                        int64_t* idx) {
                      MaxFirst op{conf, idx, n_lanes};
                      sweep::run(ks, n_keys, qs, n_lanes, D, 1, workspace_bytes, op);
                    });
    return;
  }
  MaxFirst op{confidence.data<float>(), index.data<int64_t>(), Nq};
  sweep::run(k.data<float>(), Nk, q.data<float>(), Nq, D, N, workspace_bytes, op);
}

// With DCSR_CUDA_MATCH=map, the map sweep (max_cosine_map.cu); otherwise the
// descriptor sweep of max_cosine, on the path DCSR_CUDA_MATCH names.
void patch_max_cosine(const Tensor& query_feats, const Tensor& key_feats, const Tensor& q, const Tensor& k,
                      Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  if (runtime::cuda_match_path() != runtime::CudaMatchPath::kMap) {
    max_cosine(q, k, confidence, index, workspace_bytes);
    return;
  }
  require_float32(q, "patch_max_cosine");
  require_float32(k, "patch_max_cosine");
  const int64_t D = q.size(1);
  DCSR_CHECK(k.size(2) <= INT32_MAX, "max_cosine: ", k.size(2), " keys exceed the int32 index of the device states");
  max_cosine_map(query_feats, key_feats, q, k, confidence, index, workspace_bytes,
                 [&](const float* qs, const float* ks, int64_t n_lanes, int64_t n_keys, float* conf, int64_t* idx) {
                   MaxFirst op{conf, idx, n_lanes};
                   sweep::run(ks, n_keys, qs, n_lanes, D, 1, workspace_bytes, op);
                 });
}

void max_cosine_backward(const Tensor& q, const Tensor& k, const Tensor& index, const Tensor& grad_conf,
                         Tensor& grad_q, Tensor& grad_k) {
  require_float32(q, "max_cosine_backward");
  require_float32(k, "max_cosine_backward");
  require_float32(grad_conf, "max_cosine_backward");
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  int64_t bad = 0;
  DCSR_CHECK(first_bad_index(index.data<int64_t>(), index.numel(), Nk, &bad) < 0, "max_cosine_backward: index ", bad,
             " out of range for ", Nk, " keys");
  const int64_t n = N * D * Nq;
  if (grad_q.defined()) {
    require_float32(grad_q, "max_cosine_backward");
    if (n > 0)
      grad_queries_kernel<<<grid_for(n), kBlock>>>(k.data<float>(), index.data<int64_t>(), grad_conf.data<float>(),
                                                   grad_q.data<float>(), N, D, Nq, Nk);
    DCSR_CUDA_CHECK_LAUNCH();
  }
  if (grad_k.defined()) {
    require_float32(grad_k, "max_cosine_backward");
    fill(grad_k, 0.0);
    if (n > 0)
      grad_keys_kernel<<<grid_for(n), kBlock>>>(q.data<float>(), index.data<int64_t>(), grad_conf.data<float>(),
                                                grad_k.data<float>(), N, D, Nq, Nk);
    DCSR_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace dcsr::kernels::cuda
