// The TF32 path of the CUDA patch matching (max_cosine_tf32.cu): exact, as
// the float32 sweep. Private to kernels/.
#pragma once
#include <cstdint>

#include "kernels/cuda/exact_match.h"
#include "kernels/cuda_paths.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cuda {

// q (N, D, Nq), k (N, D, Nk) -> confidence (N, Nq), index (N, Nq): the float32
// sweep's values and indices. The queries' scores take at most
// workspace_bytes at a time; `float32_sweep` matches the queries the bound
// cannot settle.
void max_cosine_tf32(const Tensor& q, const Tensor& k, Tensor& confidence, Tensor& index, int64_t workspace_bytes,
                     const Float32Sweep& float32_sweep);

cuda_paths::ExactMatchStats tf32_match_stats();
void reset_tf32_match_stats();

}  // namespace dcsr::kernels::cuda
