// kernels/cuda_baselines.h, forwarded to kernels/cuda/ (event_timing.h,
// cublas_handle.h).
#include "kernels/cuda_baselines.h"

#include "tensor/error.h"

#ifdef DCSR_HAVE_CUDA
#include "kernels/cuda/cublas_handle.h"
#include "kernels/cuda/event_timing.h"
#endif

namespace dcsr::kernels::cuda_baselines {

#ifdef DCSR_HAVE_CUDA

std::vector<double> event_times_ms(const std::function<void()>& fn, int warmup, int repeats) {
  return cuda::event_times_ms(fn, warmup, repeats);
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets
// B first, the sizes (N, M, K), and each operand's row stride as its leading
// dimension (as kernels/cuda/gemm.cu derives it).
void sgemm(const SgemmArgs& g) {
  const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int lda = int(g.trans_a ? g.M : g.K), ldb = int(g.trans_b ? g.K : g.N), ldc = int(g.N);
  const float one = 1.0f, zero = 0.0f;
  cublasHandle_t handle = cuda::cublas_handle();
  if (!g.batched) {
    DCSR_CUBLAS_CHECK(cublasSgemm(handle, op_b, op_a, int(g.N), int(g.M), int(g.K), &one, g.b, ldb, g.a, lda, &zero,
                                  g.c, ldc));
  } else {
    DCSR_CUBLAS_CHECK(cublasSgemmStridedBatched(handle, op_b, op_a, int(g.N), int(g.M), int(g.K), &one, g.b, ldb,
                                                g.stride_b, g.a, lda, g.stride_a, &zero, g.c, ldc, g.stride_c,
                                                int(g.batch)));
  }
}

#else

std::vector<double> event_times_ms(const std::function<void()>&, int, int) {
  fail("cuda_baselines::event_times_ms: this build has no CUDA backend");
}
void sgemm(const SgemmArgs&) { fail("cuda_baselines::sgemm: this build has no CUDA backend"); }

#endif

}  // namespace dcsr::kernels::cuda_baselines
