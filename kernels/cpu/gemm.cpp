// CPU GEMM through Eigen. Our storage is row-major, so every operand is an
// Eigen row-major Map over it: no copies, and Eigen picks its packed GEMM
// kernels (AVX-512/AVX2/FMA with -march=native). This is the only translation
// unit that includes Eigen's dense module, to keep builds fast.
// GCC 12 reports false "maybe-uninitialized" warnings inside the AVX
// intrinsics that Eigen's packet code inlines here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include "kernels/cpu/cpu_common.h"
#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/cpu_kernels.h"
#include "runtime/threads.h"

namespace dcsr::kernels::cpu {

namespace {
template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstStrided = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using Strided = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
}  // namespace

template <typename T>
void gemm_raw(const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
              bool trans_a, bool trans_b, T alpha, T beta) {
  ConstStrided<T> A(a, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  ConstStrided<T> B(b, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  Strided<T> C(c, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) C.setZero();
  else if (beta != T(1)) C *= beta;
  if (K == 0 || M == 0 || N == 0) return;
  // Four explicit cases so Eigen sees each transpose at compile time.
  if (!trans_a && !trans_b) C.noalias() += alpha * A * B;
  else if (trans_a && !trans_b) C.noalias() += alpha * A.transpose() * B;
  else if (!trans_a && trans_b) C.noalias() += alpha * A * B.transpose();
  else C.noalias() += alpha * A.transpose() * B.transpose();
}
template void gemm_raw<float>(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, int64_t, int64_t,
                              bool, bool, float, float);
template void gemm_raw<double>(const double*, int64_t, const double*, int64_t, double*, int64_t, int64_t, int64_t,
                               int64_t, bool, bool, double, double);

namespace {
// One matrix product of a batch entry, contiguous operands.
template <typename T>
void gemm_one(const T* a, const T* b, T* c, int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, T alpha,
              T beta) {
  gemm_raw<T>(a, trans_a ? M : K, b, trans_b ? K : N, c, N, M, N, K, trans_a, trans_b, alpha, beta);
}

template <typename T>
void gemm_typed(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha, double beta) {
  const bool batched = c.dim() == 3;
  const int64_t batch = batched ? c.size(0) : 1;
  const int64_t M = c.size(-2), N = c.size(-1);
  const int64_t K = trans_a ? a.size(-2) : a.size(-1);
  // A 2-D operand is shared across the batch (stride 0).
  const int64_t stride_a = a.dim() == 3 ? a.size(1) * a.size(2) : 0;
  const int64_t stride_b = b.dim() == 3 ? b.size(1) * b.size(2) : 0;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = c.data<T>();
  Eigen::setNbThreads(num_threads());
  // Many small products: one per thread, each single-threaded inside Eigen
  // (Eigen does not spawn threads inside a parallel region). Few big ones:
  // one at a time, threaded by Eigen.
  const bool small = double(M) * double(N) * double(K) < 64.0 * 64.0 * 64.0 * 8.0;
  if (batch > 1 && small) {
    parallel_for(batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        gemm_one<T>(pa + i * stride_a, pb + i * stride_b, pc + i * M * N, M, N, K, trans_a, trans_b, T(alpha),
                    T(beta));
    });
  } else {
    for (int64_t i = 0; i < batch; ++i)
      gemm_one<T>(pa + i * stride_a, pb + i * stride_b, pc + i * M * N, M, N, K, trans_a, trans_b, T(alpha),
                  T(beta));
  }
}
}  // namespace

void gemm(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha, double beta) {
  DCSR_CHECK(a.dtype() == b.dtype() && a.dtype() == c.dtype(), "gemm: dtypes ", dtype_name(a.dtype()), ", ",
             dtype_name(b.dtype()), " and ", dtype_name(c.dtype()), " differ");
  dispatch_floating(a.dtype(), "gemm",
                    [&](auto zero) { gemm_typed<decltype(zero)>(a, b, c, trans_a, trans_b, alpha, beta); });
}

}  // namespace dcsr::kernels::cpu
