// The map path of the CUDA patch matching (max_cosine_map.cu): exact, as the
// float32 sweep, from the feature maps the descriptors were made of. Private
// to kernels/.
#pragma once
#include <cstdint>

#include "kernels/cuda/exact_match.h"
#include "kernels/cuda_paths.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cuda {

// query_feats (N, C, Hq, Wq) and key_feats (N, C, Hk, Wk), float32, and q (N,
// 9C, Hq Wq), k (N, 9C, Hk Wk) their descriptors as patch_descriptors makes
// them -> confidence (N, Hq Wq), index (N, Hq Wq): the float32 sweep's values
// and indices. An image the path declines (more than 16 channels, a map
// smaller than 2 x 2, norms outside [1e-6, 1e15] or not finite, scratch past
// workspace_bytes, no TF32 tensor cores) is matched by `float32_sweep`
// whole; so are the queries its bound cannot settle.
void max_cosine_map(const Tensor& query_feats, const Tensor& key_feats, const Tensor& q, const Tensor& k,
                    Tensor& confidence, Tensor& index, int64_t workspace_bytes, const Float32Sweep& float32_sweep);

cuda_paths::ExactMatchStats map_match_stats();
void reset_map_match_stats();

}  // namespace dcsr::kernels::cuda
