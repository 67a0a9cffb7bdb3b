// Bounds check of device-side int64 indices for the indexing kernels.
#pragma once
#include <cstdint>

namespace dcsr::kernels::cuda {

// Fails with "<op>: index V out of range for dim D of size S" (the CPU
// backend's message) when any of the n indices lies outside [0, size).
// The indices live on the device, so this waits for a 16-byte copy back to
// the host: one synchronisation per call, the price of reporting a bad index
// as an error rather than reading out of bounds.
void check_indices(const int64_t* indices, int64_t n, int64_t size, const char* op, int64_t dim);

}  // namespace dcsr::kernels::cuda
