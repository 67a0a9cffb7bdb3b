// The TF32 path of the CUDA patch matching (max_cosine_tf32.cu): exact, as
// the float32 sweep. Private to kernels/.
#pragma once
#include <cstdint>
#include <functional>

#include "kernels/cuda_paths.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cuda {

// One image's float32 sweep over n_lanes query columns (D, n_lanes) against
// all keys (D, Nk): conf[n_lanes], index[n_lanes], device pointers.
using Float32Sweep = std::function<void(const float* q, const float* k, int64_t n_lanes, int64_t Nk, float* conf,
                                        int64_t* index)>;

// q (N, D, Nq), k (N, D, Nk) -> confidence (N, Nq), index (N, Nq): the float32
// sweep's values and indices. The queries' scores take at most
// workspace_bytes at a time; `float32_sweep` matches the queries the bound
// cannot settle.
void max_cosine_tf32(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes,
                     const Float32Sweep& float32_sweep);

cuda_paths::Tf32MatchStats tf32_match_stats();
void reset_tf32_match_stats();

}  // namespace dcsr::kernels::cuda
