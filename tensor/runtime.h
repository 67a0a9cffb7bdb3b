// Process-wide runtime settings: the CPU thread count.
#pragma once

namespace dcsr {

// Threads used by CPU kernels (OpenMP and Eigen). Initialised once from the
// environment variable DCSR_NUM_THREADS, else the number of cores.
int num_threads();
void set_num_threads(int threads);

}  // namespace dcsr
