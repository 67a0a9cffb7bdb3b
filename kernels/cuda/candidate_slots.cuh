// The candidates one thread keeps for one query while an exact matching path
// sweeps approximate scores (tf32_candidate_sweep.cuh, max_cosine_map.cu):
// the best score it has seen, up to kCandidateSlots keys within the margin
// below it, and the largest score it had to drop. exact_match.cu's resolve
// step merges the threads' lists and re-scores them in float32.
#pragma once
#include "kernels/cuda/cuda_common.cuh"

namespace dcsr::kernels::cuda {

constexpr int kCandidateSlots = 4;  // candidates a thread keeps per query

// One query's list in one thread. Every key it is offered whose score
// reached best - margin at the time (best then at most the final one, so
// none the final threshold needs is missed) is kept, overwriting first a
// slot that fell below the threshold, else the smallest; `dropped` is the
// largest score overwritten (or refused) while still within the threshold
// (-inf: none). If it reaches the final threshold, a candidate may be lost
// and the resolve step sends the query to the float32 sweep.
struct CandidateList {
  float top, dropped, score[kCandidateSlots];
  int key[kCandidateSlots];

  __device__ void clear() {
    top = -INFINITY, dropped = -INFINITY;
#pragma unroll
    for (int s = 0; s < kCandidateSlots; ++s) score[s] = -INFINITY, key[s] = 0;
  }
  // Keeps (k, v), v already at least `threshold`.
  __device__ void keep(int k, float v, float threshold) {
    int slot = -1;
#pragma unroll
    for (int s = 0; s < kCandidateSlots; ++s)
      if (slot < 0 && score[s] < threshold) slot = s;
    if (slot < 0) {  // every slot is within the threshold: overwrite the smallest, or drop v
      float smallest = score[0];
      slot = 0;
#pragma unroll
      for (int s = 1; s < kCandidateSlots; ++s)
        if (score[s] < smallest) smallest = score[s], slot = s;
      if (v <= smallest) {
        dropped = fmaxf(dropped, v);
        return;
      }
      dropped = fmaxf(dropped, smallest);
    }
#pragma unroll
    for (int s = 0; s < kCandidateSlots; ++s)
      if (s == slot) score[s] = v, key[s] = k;
  }
  // Offers key k with approximate score v: the running best moves, and v is
  // kept when it is within `margin` of it.
  __device__ void offer(int k, float v, float margin) {
    top = fmaxf(top, v);
    const float threshold = top - margin;
    if (v >= threshold) keep(k, v, threshold);
  }
  // The list as the resolve step reads it: best[at], dropped[at],
  // slot_keys / slot_scores[at * kCandidateSlots + s].
  __device__ void store(int64_t at, float* best, float* drop, int* slot_keys, float* slot_scores) const {
    best[at] = top;
    drop[at] = dropped;
#pragma unroll
    for (int s = 0; s < kCandidateSlots; ++s) {
      slot_keys[at * kCandidateSlots + s] = key[s];
      slot_scores[at * kCandidateSlots + s] = score[s];
    }
  }
};

}  // namespace dcsr::kernels::cuda
