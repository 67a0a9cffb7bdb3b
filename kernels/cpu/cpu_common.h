// Shared helpers of the CPU kernels: dtype dispatch and a parallel loop.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tensor/error.h"
#include "tensor/tensor.h"

namespace dcsr::kernels::cpu {

// Calls body(T{}) with T = float or double for the dtype; fails naming the op
// for any other dtype.
template <typename Body>
void dispatch_floating(DType dtype, const char* op, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    default: fail(op, ": unsupported dtype ", dtype_name(dtype), " on cpu");
  }
}

// Like dispatch_floating, plus int64.
template <typename Body>
void dispatch_all(DType dtype, const char* op, Body&& body) {
  if (dtype == DType::Int64) return body(int64_t{});
  dispatch_floating(dtype, op, body);
}

// Runs fn(begin, end) on contiguous chunks of [0, n), one per thread, when
// there is more than `grain` work items; otherwise runs fn(0, n) here. Nested
// calls (inside another parallel region) run serially.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  int threads = omp_get_max_threads();
  if (n <= grain || threads == 1 || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / std::max<int64_t>(grain, 1));
#pragma omp parallel num_threads(int(chunks))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

// Splits shape around `dim`: outer = prod(shape[:dim]), inner = prod(shape[dim+1:]).
inline void split_around(const Shape& shape, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
  for (size_t d = size_t(dim) + 1; d < shape.size(); ++d) inner *= shape[d];
}

}  // namespace dcsr::kernels::cpu
