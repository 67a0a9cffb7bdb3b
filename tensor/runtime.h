// Process-wide runtime settings: the CPU thread count, and on/off switches
// read from the environment.
#pragma once

namespace dcsr {

// Threads used by CPU kernels (OpenMP and Eigen). Initialised once from the
// environment variable DCSR_NUM_THREADS, else the number of cores.
int num_threads();
void set_num_threads(int threads);

// Whether the environment variable `name` is exactly "1" (the switch
// DCSR_TF32; anything else, or unset, is off).
bool env_switch_on(const char* name);

}  // namespace dcsr
