// Raw-pointer GEMM for CPU kernels that multiply sub-blocks (im2col chunks,
// matching tiles) without wrapping them in tensors.
//   C (M x N, row stride ldc) = alpha * op(A) op(B) + beta * C
//   A stored row-major as (M x K) with row stride lda, or (K x M) when trans_a;
//   B stored row-major as (K x N) with row stride ldb, or (N x K) when trans_b.
// Threads: Eigen's own when called outside a parallel region, single-threaded
// inside one (so tiles can be spread over threads by the caller).
#pragma once
#include <cstdint>

namespace dcsr::kernels::cpu {

template <typename T>
void gemm_raw(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
              bool trans_a, bool trans_b, T alpha, T beta);

}  // namespace dcsr::kernels::cpu
