// CUDA GEMM: row-major tensors through column-major cuBLAS.
//
// Deriving the cuBLAS call from row-major storage, step by step:
//
//  1. cuBLAS reads a matrix as column-major: element (r, c) of an R x C
//     matrix with leading dimension ld sits at r + c * ld.
//  2. Our matrices are row-major: element (r, c) of an R x C matrix with row
//     stride ld sits at r * ld + c. Read column-major, those same bytes are
//     the C x R matrix X^T with leading dimension ld. So the buffer of a
//     row-major X "is" X^T to cuBLAS, with no copy.
//  3. We want C = op(A) op(B), C row-major M x N (row stride ldc). To cuBLAS,
//     C's buffer is C^T (N x M, ld ldc), and C^T = op(B)^T op(A)^T.
//  4. So we ask cuBLAS for the product op(B)^T op(A)^T, i.e. we swap the
//     operands and the dims: m = N, n = M, k = K, first operand B, second A.
//  5. The first operand must be op(B)^T as cuBLAS sees it. B's buffer is,
//     to cuBLAS, S^T where S is the stored row-major matrix:
//       trans_b = false: S = B (K x N), buffer = B^T (N x K) = op(B)^T:  CUBLAS_OP_N, ld = ldb (>= N);
//       trans_b = true:  S = B^T stored (N x K), buffer = (B^T)^T = B (K x N),
//                        and we need op(B)^T = B^T, the transpose:       CUBLAS_OP_T, ld = ldb (>= K).
//     The same for A as the second operand (op(A)^T is K x M):
//       trans_a = false: OP_N with ld = lda (>= K); trans_a = true: OP_T with ld = lda (>= M).
//  6. Result: cublasSgemm(handle, opB, opA, N, M, K, &alpha, B, ldb, A, lda,
//                         &beta, C, ldc)
//     and the batched form adds the element strides of each operand, where a
//     stride of 0 makes every batch entry read the same matrix.
#include <climits>

#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_gemm.h"
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

namespace {
// C_i = beta * C_i for the degenerate K = 0 product (cuBLAS's behaviour for
// k = 0 is not documented precisely enough to rely on; beta = 0 writes zeros
// without reading C, like every other beta = 0 path).
__global__ void scale_rows_kernel(float* c, int64_t ldc, int64_t rows, int64_t cols, int64_t batch,
                                  int64_t stride_c, float beta) {
  const int64_t n = batch * rows * cols;
  DCSR_GRID_STRIDE_LOOP(e, n) {
    const int64_t i = e / (rows * cols), r = (e / cols) % rows, col = e % cols;
    float* p = c + i * stride_c + r * ldc + col;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  }
}

int as_int(int64_t value, const char* what) {
  DCSR_CHECK(value >= 0 && value <= kInt32Max, "gemm: ", what, " = ", value,
             " exceeds the int32 range of cuBLAS (split the product)");
  return int(value);
}
}  // namespace

void gemm_raw(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N,
              int64_t K, bool trans_a, bool trans_b, float alpha, float beta, int64_t batch, int64_t stride_a,
              int64_t stride_b, int64_t stride_c) {
  if (M == 0 || N == 0 || batch == 0) return;
  DCSR_CHECK(batch == 1 || stride_c != 0, "gemm: batched output with stride 0");
  if (K == 0) {
    scale_rows_kernel<<<grid_for(batch * M * N), kBlock>>>(c, ldc, M, N, batch, stride_c, beta);
    DCSR_CUDA_CHECK_LAUNCH();
    return;
  }
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = as_int(N, "N"), n = as_int(M, "M"), k = as_int(K, "K");
  const int ld_a = as_int(lda, "lda"), ld_b = as_int(ldb, "ldb"), ld_c = as_int(ldc, "ldc");
  cublasHandle_t handle = cublas_handle();
  if (batch == 1) {
    DCSR_CUBLAS_CHECK(cublasSgemm(handle, op_b, op_a, m, n, k, &alpha, b, ld_b, a, ld_a, &beta, c, ld_c));
  } else {
    DCSR_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, op_b, op_a, m, n, k, &alpha, b, ld_b, (long long)stride_b, a,
                                                ld_a, (long long)stride_a, &beta, c, ld_c, (long long)stride_c,
                                                as_int(batch, "batch")));
  }
}

// c = alpha op(a) op(b) + beta c; shapes in kernels/kernel_list.inc.
void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha, double beta) {
  require_float32(a, "gemm");
  require_float32(b, "gemm");
  require_float32(c, "gemm");
  const bool batched = c.dim() == 3;
  const int64_t batch = batched ? c.size(0) : 1;
  const int64_t M = c.size(-2), N = c.size(-1);
  const int64_t K = trans_a ? a.size(-2) : a.size(-1);
  DCSR_CHECK((a.dim() == 2 || a.size(0) == batch) && (b.dim() == 2 || b.size(0) == batch), "gemm: batch of ",
             shape_str(a.shape()), " and ", shape_str(b.shape()), " does not match the output ",
             shape_str(c.shape()));
  // A 2-D operand is shared across the batch: stride 0.
  const int64_t stride_a = a.dim() == 3 ? a.size(1) * a.size(2) : 0;
  const int64_t stride_b = b.dim() == 3 ? b.size(1) * b.size(2) : 0;
  gemm_raw(a.data<float>(), trans_a ? M : K, b.data<float>(), trans_b ? K : N, c.data<float>(), N, M, N, K, trans_a,
           trans_b, float(alpha), float(beta), batch, stride_a, stride_b, M * N);
}

}  // namespace dcsr::kernels::cuda
