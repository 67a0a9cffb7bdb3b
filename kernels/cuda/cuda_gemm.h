// Raw-pointer float32 GEMM on the device, for CUDA kernels that multiply
// sub-blocks (im2col chunks, matching tiles) without wrapping them in
// tensors. Row-major, like kernels/cpu/cpu_gemm.h:
//   for every batch entry i < batch:
//   C_i (M x N, row stride ldc) = alpha * op(A_i) op(B_i) + beta * C_i
//   A_i stored row-major as (M x K) with row stride lda, or (K x M) when trans_a;
//   B_i stored row-major as (K x N) with row stride ldb, or (N x K) when trans_b;
//   X_i = X + i * stride_x (elements). stride_a or stride_b 0 shares one
//   matrix across the batch; stride_c must not be 0 when batch > 1.
// beta = 0 never reads C (it may hold garbage or NaN). Runs on the default
// stream through cuBLAS (kernels/cuda/cublas_handle.h).
#pragma once
#include <cstdint>

namespace dcsr::kernels::cuda {

void gemm_raw(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N,
              int64_t K, bool trans_a, bool trans_b, float alpha, float beta, int64_t batch = 1, int64_t stride_a = 0,
              int64_t stride_b = 0, int64_t stride_c = 0);

}  // namespace dcsr::kernels::cuda
