// Patch matching on the CPU (dcsr-spec §4.1): max and FIRST argmax over keys
// of the query-key dot products, swept in register blocks (dot_sweep.h) with
// the running max fused in, and the sparse backward. In float32 on AVX2 the
// int16 sweep of max_cosine_int16.h finds the same maxima first, and where
// the descriptors come with their feature maps (patch_max_cosine) the map
// sweep of max_cosine_patches.h before it.
#include <limits>
#include <type_traits>

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dot_sweep.h"
#include "kernels/cpu/max_cosine_int16.h"
#include "kernels/cpu/max_cosine_patches.h"

namespace dcsr::kernels::cpu {

namespace {

// One image: queries q (D, Nq; row stride ldq) against keys k (D, Nk; row
// stride Nk), the float32/float64 sweep.
template <typename T>
void match_image(const T* qd, int64_t ldq, int64_t Nq, const T* kd, int64_t Nk, int64_t D, T* conf, int64_t* idx,
                 int64_t workspace_bytes) {
  using namespace dot;
  using I = Index<T>;
  DCSR_CHECK(Nk <= int64_t(std::numeric_limits<I>::max()), "max_cosine: ", Nk, " keys exceed the index lanes");
  const int64_t W = kWidth<T>;
  const int64_t Nq_pad = round_up(Nq, W);
  const Blocking blocking = choose_blocking<T>(D, Nq, Nk, workspace_bytes);
  // Packing buffers, then the running best value and index of every query
  // (the index lanes have the width of the value lanes).
  Tensor work = empty({work_elements<T>(blocking, D) + 2 * Nq_pad}, std::is_same_v<T, float> ? kFloat32 : kFloat64);
  T* pack_buffers = work.data<T>();
  T* best = pack_buffers + work_elements<T>(blocking, D);
  I* best_index = reinterpret_cast<I*>(best + Nq_pad);
  std::fill(best, best + Nq_pad, -std::numeric_limits<T>::infinity());
  std::fill(best_index, best_index + Nq_pad, I(0));
  // Rows = keys (broadcast), lanes = queries. Keys arrive in increasing
  // order for every query, so "replace only when strictly greater" keeps
  // the first of equal maxima.
  sweep<T>(kd, Nk, Nk, qd, ldq, Nq, D, blocking, pack_buffers,
           [&](const Block<T>& acc, int64_t row0, int rows, int64_t lane0, T*) {
             Vec<T> b[kVecs];
             Mask<T> bi[kVecs];
             for (int v = 0; v < kVecs; ++v) {
               b[v] = load(best + lane0 + v * kLanes<T>);
               bi[v] = *reinterpret_cast<const Mask<T>*>(best_index + lane0 + v * kLanes<T>);
             }
             for (int r = 0; r < rows; ++r) {
               const Mask<T> key = Mask<T>{} + I(row0 + r);
               for (int v = 0; v < kVecs; ++v) {
                 const Mask<T> greater = acc[r][v] > b[v];
                 b[v] = greater ? acc[r][v] : b[v];
                 bi[v] = greater ? key : bi[v];
               }
             }
             for (int v = 0; v < kVecs; ++v) {
               store(best + lane0 + v * kLanes<T>, b[v]);
               *reinterpret_cast<Mask<T>*>(best_index + lane0 + v * kLanes<T>) = bi[v];
             }
           });
  std::copy(best, best + Nq, conf);
  std::copy(best_index, best_index + Nq, idx);
}

// maps: null where q and k are plain columns; else {query (N, C, Hq, Wq),
// key (N, C, Hk, Wk)}, the feature maps whose patch descriptors q and k are.
template <typename T>
void max_cosine_typed(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes,
                      const Tensor* maps = nullptr) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  const T* qd = q.data<T>();
  const T* kd = k.data<T>();
  T* conf = confidence.data<T>();
  int64_t* idx = index.data<int64_t>();
  for (int64_t n = 0; n < N; ++n) {
    const T* qn = qd + n * D * Nq;
    const T* kn = kd + n * D * Nk;
    if constexpr (std::is_same_v<T, float>) {
      // float32: the exact paths with re-scoring where the CPU has them (the
      // map sweep of max_cosine_patches.h, then the int16 sweep of
      // max_cosine_int16.h), the same values and indices as match_image.
      auto float32_match = [&](const float* qc, int64_t ldq, int64_t nq, float* c, int64_t* i) {
        match_image<float>(qc, ldq, nq, kn, Nk, D, c, i, workspace_bytes);
      };
      if (maps != nullptr) {
        const Tensor& fq = maps[0];
        const Tensor& fk = maps[1];
        const int64_t C = fq.size(1);
        PatchMaps pm{fq.data<float>() + n * C * fq.size(2) * fq.size(3),
                     fk.data<float>() + n * C * fk.size(2) * fk.size(3),
                     C, fq.size(2), fq.size(3), fk.size(2), fk.size(3)};
        if (exact_match_patches(pm, qn, kn, conf + n * Nq, idx + n * Nq, workspace_bytes, float32_match)) continue;
      }
      if (exact_match_int16(qn, kn, D, Nq, Nk, conf + n * Nq, idx + n * Nq, workspace_bytes, float32_match)) continue;
    }
    match_image<T>(qn, Nq, Nq, kn, Nk, D, conf + n * Nq, idx + n * Nq, workspace_bytes);
  }
}

template <typename T>
void max_cosine_backward_typed(const Tensor& q, const Tensor& k, const Tensor& index, const Tensor& grad_conf,
                               Tensor& grad_q, Tensor& grad_k) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  const T* qd = q.data<T>();
  const T* kd = k.data<T>();
  const T* g = grad_conf.data<T>();
  const int64_t* idx = index.data<int64_t>();
  for (int64_t i = 0; i < N * Nq; ++i)
    DCSR_CHECK(idx[i] >= 0 && idx[i] < Nk, "max_cosine_backward: index ", idx[i], " out of range for ", Nk, " keys");
  // One job per descriptor row (n, d): each writes only its own rows of
  // grad_q and grad_k, so the scatter into grad_k needs no atomics.
  T* gq = grad_q.defined() ? grad_q.data<T>() : nullptr;
  T* gk = grad_k.defined() ? grad_k.data<T>() : nullptr;
  parallel_for(N * D, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(Nq, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / D;
      const T* gn = g + n * Nq;
      const int64_t* in = idx + n * Nq;
      const T* krow = kd + row * Nk;
      if (gq) {
        T* out = gq + row * Nq;
        for (int64_t i = 0; i < Nq; ++i) out[i] = gn[i] * krow[in[i]];
      }
      if (gk) {
        T* out = gk + row * Nk;
        const T* qrow = qd + row * Nq;
        std::fill(out, out + Nk, T(0));
        for (int64_t i = 0; i < Nq; ++i) out[in[i]] += gn[i] * qrow[i];
      }
    }
  });
}

}  // namespace

void max_cosine(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  dispatch_floating(q.dtype(), "max_cosine", [&](auto zero) {
    max_cosine_typed<decltype(zero)>(q, k, confidence, index, workspace_bytes);
  });
}

void patch_max_cosine(const Tensor& query_feats, const Tensor& key_feats, const Tensor& q, const Tensor& k,
                      Tensor& confidence, Tensor& index, int64_t workspace_bytes) {
  const Tensor maps[2] = {query_feats, key_feats};
  dispatch_floating(q.dtype(), "patch_max_cosine", [&](auto zero) {
    max_cosine_typed<decltype(zero)>(q, k, confidence, index, workspace_bytes, maps);
  });
}

void max_cosine_backward(const Tensor& q, const Tensor& k, const Tensor& index, const Tensor& grad_conf,
                         Tensor& grad_q, Tensor& grad_k) {
  dispatch_floating(q.dtype(), "max_cosine_backward", [&](auto zero) {
    max_cosine_backward_typed<decltype(zero)>(q, k, index, grad_conf, grad_q, grad_k);
  });
}

}  // namespace dcsr::kernels::cpu
