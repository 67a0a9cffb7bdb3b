// Bounds checks of device-side int64 indices for the indexing kernels.
#pragma once
#include <cstdint>

namespace dcsr::kernels::cuda {

// The position of the first of the n indices that lies outside [0, size)
// (in index order, as the CPU backend's checks find it), with its value in
// *value; -1 when all are valid. The indices live on the device, so this
// waits for a copy back to the host: one synchronisation per call, the price
// of reporting a bad index as an error rather than reading out of bounds.
int64_t first_bad_index(const int64_t* indices, int64_t n, int64_t size, int64_t* value);

// Fails with "<op>: index V out of range for dim D of size S" (the CPU
// backend's message) when an index lies outside [0, size).
void check_indices(const int64_t* indices, int64_t n, int64_t size, const char* op, int64_t dim);

}  // namespace dcsr::kernels::cuda
