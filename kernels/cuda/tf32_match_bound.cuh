// The TF32 matching path's bound (max_cosine_tf32.cu's header), used by its
// sweep (tf32_candidate_sweep.cuh) and by the resolve step (exact_match.cu),
// and the rounding factor both exact paths' bounds are built from.
#pragma once
#include <cstdint>

namespace dcsr::kernels::cuda {

// gamma(n) = n u / (1 - n u): the relative bound of n roundings of unit u
// (the TF32 path's and the map path's bounds, max_cosine_tf32.cu and max_cosine_map.cu).
__host__ __device__ inline double gamma_n(double n, double unit) { return n * unit / (1.0 - n * unit); }

// The bound 2 E on |approximate - float32 chain| between two scores of one
// query (max_cosine_tf32.cu's header): factor |q| K + 1e-30 D (1 + |q| + K),
// doubled, with a relative margin for its own rounding.
__host__ __device__ inline double match_bound(double factor, double q_norm, double key_norm_max, int64_t D) {
  return 2.0 * (factor * q_norm * key_norm_max + 1e-30 * double(D) * (1.0 + q_norm + key_norm_max)) * (1.0 + 1e-5);
}

}  // namespace dcsr::kernels::cuda
