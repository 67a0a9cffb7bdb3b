#include "kernels/cuda_paths.h"

#ifdef DCSR_HAVE_CUDA
#include "kernels/cuda/max_cosine_map.h"
#include "kernels/cuda/max_cosine_tf32.h"
#endif

namespace dcsr::kernels::cuda_paths {

#ifdef DCSR_HAVE_CUDA
ExactMatchStats tf32_match_stats() { return cuda::tf32_match_stats(); }
void reset_tf32_match_stats() { cuda::reset_tf32_match_stats(); }
ExactMatchStats map_match_stats() { return cuda::map_match_stats(); }
void reset_map_match_stats() { cuda::reset_map_match_stats(); }
#else
ExactMatchStats tf32_match_stats() { return {}; }
void reset_tf32_match_stats() {}
ExactMatchStats map_match_stats() { return {}; }
void reset_map_match_stats() {}
#endif

}  // namespace dcsr::kernels::cuda_paths
