// Shared helpers of the CPU kernels: dtype dispatch (tensor/dtype_dispatch.h)
// and the parallel loop (runtime/threads.h), both used unqualified here.
#pragma once
#include <cstdint>

#include "runtime/threads.h"
#include "tensor/dtype_dispatch.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cpu {

// Splits shape around `dim`: outer = prod(shape[:dim]), inner = prod(shape[dim+1:]).
inline void split_around(const Shape& shape, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
}

}  // namespace dcsr::kernels::cpu
