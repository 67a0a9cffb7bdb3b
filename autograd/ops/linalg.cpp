#include "autograd/ops/linalg.h"

#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_floating(a, "matmul", "a");
  check_floating(b, "matmul", "b");
  check_same_device({a, b}, "matmul");
  DCSR_CHECK(a.dtype() == b.dtype(), "matmul: dtypes differ (", dtype_name(a.dtype()), " and ",
             dtype_name(b.dtype()), ")");
  DCSR_CHECK((a.dim() == 2 || a.dim() == 3) && (b.dim() == 2 || b.dim() == 3) && !(a.dim() == 2 && b.dim() == 3),
             "matmul: supports (M,K)@(K,N), (B,M,K)@(B,K,N) and (B,M,K)@(K,N); got ", shape_str(a.shape()), " @ ",
             shape_str(b.shape()));
  if (a.dim() == 3 && b.dim() == 2 && !trans_a) {
    // A shared right operand: one big (B*M,K)@(K,N) product.
    Tensor flat = a.reshape({a.size(0) * a.size(1), a.size(2)});
    return matmul(flat, b, false, trans_b).reshape({a.size(0), a.size(1), trans_b ? b.size(0) : b.size(1)});
  }
  const int64_t M = trans_a ? a.size(-1) : a.size(-2), K = trans_a ? a.size(-2) : a.size(-1);
  const int64_t Kb = trans_b ? b.size(-1) : b.size(-2), N = trans_b ? b.size(-2) : b.size(-1);
  DCSR_CHECK(K == Kb, "matmul: inner sizes differ: ", shape_str(a.shape()), (trans_a ? "^T" : ""), " @ ",
             shape_str(b.shape()), (trans_b ? "^T" : ""));
  if (a.dim() == 3 && b.dim() == 3)
    DCSR_CHECK(a.size(0) == b.size(0), "matmul: batch sizes differ: ", shape_str(a.shape()), " @ ",
               shape_str(b.shape()));
  Shape out_shape = a.dim() == 3 ? Shape{a.size(0), M, N} : Shape{M, N};
  Tensor out = empty(out_shape, a.dtype(), a.device());
  kernels::gemm(a, b, out, trans_a, trans_b);

  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return autograd::record("matmul", {a, b}, out,
                          [a = a.detach(), b = b.detach(), trans_a, trans_b, need_a, need_b](const Tensor& g) {
                            // C = op(A) op(B):  dop(A) = G op(B)^T,  dop(B) = op(A)^T G.
                            // Each is written straight into the stored layout of A / B:
                            //   A stored plain: dA = G op(B)^T;  stored transposed: dA = op(B) G^T.
                            Tensor ga, gb;
                            if (need_a) {
                              ga = empty_like(a);
                              if (!trans_a) kernels::gemm(g, b, ga, false, !trans_b);
                              else kernels::gemm(b, g, ga, trans_b, true);
                            }
                            if (need_b) {
                              // A shared (2-D) b under a batched a: sum over the batch.
                              const bool shared = b.dim() == 2 && a.dim() == 3;
                              Tensor gb_batch = shared ? empty({a.size(0), b.size(0), b.size(1)}, b.dtype(), b.device())
                                                       : empty_like(b);
                              if (!trans_b) kernels::gemm(a, g, gb_batch, !trans_a, false);
                              else kernels::gemm(g, a, gb_batch, true, trans_a);
                              gb = shared ? sum(gb_batch, {0}) : gb_batch;
                            }
                            return TensorList{ga, gb};
                          });
}

}  // namespace dcsr
