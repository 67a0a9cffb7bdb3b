// Reflection padding's index map, shared by the CPU and the CUDA kernels that
// pad by reflection (kernels/cpu/movement.cpp, kernels/cuda/pad2d.cu) or read
// a reflection-padded map in place (the map sweeps of patch matching,
// kernels/cpu/max_cosine_patches.cpp and kernels/cuda/max_cosine_map.cu).
//
// PyTorch's "reflect" mode: the edge is the mirror and is not repeated, so
// for size 4 the indices -2 -1 | 0 1 2 3 | 4 5 read 2 1 | 0 1 2 3 | 2 1.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define DCSR_HOST_DEVICE __host__ __device__
#else
#define DCSR_HOST_DEVICE
#endif

namespace dcsr::kernels {

// Index i in [-(size - 1), 2 size - 1) -> its source in [0, size) (size >= 2 where i leaves [0, size)).
DCSR_HOST_DEVICE inline int64_t reflect_index(int64_t i, int64_t size) {
  return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
}

// Coordinate p in [0, size + 2) of a map padded by 1 on each side -> the source index.
DCSR_HOST_DEVICE inline int64_t reflect_pad1(int64_t p, int64_t size) { return reflect_index(p - 1, size); }

}  // namespace dcsr::kernels
