// What the CUDA backend's run-time paths report, for the code outside
// kernels/ that checks or times them (tests/test_cuda_dcsr.cpp,
// apps/bench/bench_cuda.cpp); the switches themselves are in
// runtime/switches.h. The kernels/cuda/ headers stay private to kernels/ (a
// ctest checks that nothing else includes them): kernels/cuda_paths.cpp
// forwards. In a build without CUDA the counts stay zero.
#pragma once
#include <cstdint>

namespace dcsr::kernels::cuda_paths {

// Counts of an exact matching path since the last reset, summed over images
// and calls: the TF32 path (DCSR_CUDA_MATCH=tf32,
// kernels/cuda/max_cosine_tf32.cu) or the map path (DCSR_CUDA_MATCH=map,
// kernels/cuda/max_cosine_map.cu).
struct ExactMatchStats {
  int64_t queries = 0;    // queries settled by their candidates
  int64_t rescored = 0;   // candidate pairs re-scored in float32
  int64_t fallbacks = 0;  // queries handed to the float32 sweep (too many candidates, or not finite)
  int64_t declined = 0;   // images the path left wholly to the float32 sweep (norms, sizes, workspace)
};
using Tf32MatchStats = ExactMatchStats;
ExactMatchStats tf32_match_stats();
void reset_tf32_match_stats();
ExactMatchStats map_match_stats();
void reset_map_match_stats();

}  // namespace dcsr::kernels::cuda_paths
