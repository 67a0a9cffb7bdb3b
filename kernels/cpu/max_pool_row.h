// The 2x2 max pool of one output row, shared by the pooling kernel
// (pool.cpp) and the Winograd convolution's pooled output (winograd.cpp),
// so that both pick the same value from every window.
#pragma once
#include <cstdint>

namespace dcsr::kernels::cpu {

// Row-major window order; only a strictly larger value, or a first NaN,
// replaces the best: the first maximum wins, as in PyTorch, and a NaN beats
// any number. (Among several NaNs the first wins, as in the CUDA kernel;
// PyTorch takes the last. It only moves where the gradient goes.)
template <typename T>
inline bool max_pool_replaces(T v, T best) {
  return v > best || (v != v && best == best);
}

// The 2x2 windows of one output row without indices (inference): rows r0, r1
// of the input, Wo outputs. Branch-free selects in window order, so the
// compiler vectorises it and every value (a signed zero included) is the one
// the general loop picks.
template <typename T>
inline void max_pool_row_2x2(const T* r0, const T* r1, T* out, int64_t Wo) {
  for (int64_t ox = 0; ox < Wo; ++ox) {
    T best = r0[2 * ox];
    const T v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
    best = max_pool_replaces(v1, best) ? v1 : best;
    best = max_pool_replaces(v2, best) ? v2 : best;
    best = max_pool_replaces(v3, best) ? v3 : best;
    out[ox] = best;
  }
}

}  // namespace dcsr::kernels::cpu
