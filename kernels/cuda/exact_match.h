// What the exact matching paths of the CUDA backend share (max_cosine_tf32.cu,
// max_cosine_map.cu): a sweep of approximate scores leaves per-thread
// candidate lists (candidate_slots.cuh); the resolve step here merges them per
// query, re-scores every candidate within the query's bound with the float32
// sweep's own chain, and writes the first strict maximum in key order, so the
// values and indices are the float32 sweep's (kernels/cuda/max_cosine.cu).
// Queries it cannot settle (a list that overflowed or dropped a candidate,
// norms that could take a product out of float32's range) are matched by the
// float32 sweep itself. Private to kernels/.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>

#include "kernels/cuda_paths.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cuda {

// One image's float32 sweep over n_lanes query columns (D, n_lanes) against
// all keys (D, Nk): conf[n_lanes], index[n_lanes], device pointers.
using Float32Sweep = std::function<void(const float* q, const float* k, int64_t n_lanes, int64_t Nk, float* conf,
                                        int64_t* index)>;

// A path's counts since the last reset, summed over images and calls.
struct ExactMatchCounters {
  std::atomic<int64_t> queries{0}, rescored{0}, fallbacks{0}, declined{0};
  cuda_paths::ExactMatchStats stats() const {
    return {queries.load(), rescored.load(), fallbacks.load(), declined.load()};
  }
  void reset() { queries = 0, rescored = 0, fallbacks = 0, declined = 0; }
};

// The lists a sweep left for a pass of queries: per query c of the pass and
// group r < groups, best[c * groups + r], dropped[...], and
// slot_keys / slot_scores[(c * groups + r) * kCandidateSlots + s].
struct CandidateBuffers {
  float* best = nullptr;
  float* dropped = nullptr;
  int* slot_keys = nullptr;
  float* slot_scores = nullptr;
  int64_t groups = 0;
};
// Device buffers for `queries` queries of `groups` groups, held by `holders`.
CandidateBuffers candidate_buffers(int64_t queries, int64_t groups, Tensor (&holders)[4]);

// Where each query's threshold comes from: best - gaps[lane] when gaps is set
// (per query, float), else best - match_bound(factor, q_norms[lane], K, D)
// (tf32_candidate_sweep.cuh). q_norms[lane] and K = key_norm_max[0] (the
// descriptor columns' norms) also send a query to the float32 sweep when
// |q| K could take a product out of float32's range.
struct QueryBounds {
  const double* q_norms = nullptr;
  const double* key_norm_max = nullptr;
  double factor = 0;
  const float* gaps = nullptr;
};

// The resolve step for one image at a time: q (D, Nq) and k (D, Nk) the
// image's descriptors, conf and index its outputs (device pointers).
class ExactResolve {
 public:
  explicit ExactResolve(int64_t max_queries);
  // Clears the image's counters and flag.
  void begin_image();
  // The image's flag: a sweep or a check sets *flags = 1 to send every query
  // of the image to the float32 sweep (counted as declined).
  int* flags() { return flags_; }
  // Settles the queries lane0 .. lane0 + C - 1 from `lists`, or marks them
  // for the float32 sweep.
  void resolve(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, int64_t lane0, int64_t C,
               const CandidateBuffers& lists, const QueryBounds& bounds, float* conf, int64_t* index);
  // After the image's passes: the counters added to `counters`, and the
  // marked queries matched by `float32_sweep`.
  void finish_image(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, float* conf, int64_t* index,
                    ExactMatchCounters& counters, const Float32Sweep& float32_sweep);

 private:
  Tensor holders_[4];
  int* flags_ = nullptr;
  int64_t* overflow_ = nullptr;
  int* overflow_count_ = nullptr;
  unsigned long long* rescored_ = nullptr;
};

// out[0] = the largest of n doubles, at least 0 (device pointers; one block).
void max_of(const double* values, int64_t n, double* out);

// A device buffer of `count` T, held by `holder`.
template <typename T>
T* device_scratch(Tensor& holder, int64_t count) {
  holder = empty({(count * int64_t(sizeof(T)) + 7) / 8 + 1}, kFloat64, Device::CUDA);
  return reinterpret_cast<T*>(holder.raw_data());
}

}  // namespace dcsr::kernels::cuda
