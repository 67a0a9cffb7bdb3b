// Kernels of the list that the CUDA backend does not implement yet. Each fails
// with the op's name and the device, so a CUDA build always links and a
// missing kernel is a clear runtime error, never a silent fallback. Remove an
// entry when its kernels/cuda/<op>.cu lands.
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

#define DCSR_NOT_PORTED(op) ::dcsr::fail(op, ": not implemented on cuda yet")

void fill(Tensor&, double) { DCSR_NOT_PORTED("fill"); }
void cast(const Tensor&, Tensor&) { DCSR_NOT_PORTED("cast"); }
void unary(UnaryOp op, const Tensor&, Tensor&, double, double) { DCSR_NOT_PORTED(unary_op_name(op)); }
void binary(BinaryOp op, const Tensor&, const Tensor&, Tensor&, double) { DCSR_NOT_PORTED(binary_op_name(op)); }
void sum(const Tensor&, const std::vector<int64_t>&, Tensor&) { DCSR_NOT_PORTED("sum"); }
void max_along(const Tensor&, int64_t, bool, Tensor&, Tensor&) { DCSR_NOT_PORTED("max"); }
void gemm(const Tensor&, const Tensor&, Tensor&, bool, bool, double, double) { DCSR_NOT_PORTED("gemm"); }
void permute(const Tensor&, const std::vector<int64_t>&, Tensor&) { DCSR_NOT_PORTED("permute"); }
void copy_slice(const Tensor&, Tensor&, int64_t, int64_t, int64_t, int64_t, bool) { DCSR_NOT_PORTED("copy_slice"); }
void pad2d(const Tensor&, Tensor&, const std::array<int64_t, 4>&, PadMode, double) { DCSR_NOT_PORTED("pad2d"); }
void pad2d_backward(const Tensor&, Tensor&, const std::array<int64_t, 4>&, PadMode) {
  DCSR_NOT_PORTED("pad2d_backward");
}
void index_select(const Tensor&, int64_t, const Tensor&, Tensor&) { DCSR_NOT_PORTED("index_select"); }
void index_add(Tensor&, int64_t, const Tensor&, const Tensor&) { DCSR_NOT_PORTED("index_add"); }
void gather(const Tensor&, int64_t, const Tensor&, Tensor&) { DCSR_NOT_PORTED("gather"); }
void scatter_add(Tensor&, int64_t, const Tensor&, const Tensor&) { DCSR_NOT_PORTED("scatter_add"); }
void adam_update(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double, double, int64_t) {
  DCSR_NOT_PORTED("adam_update");
}

}  // namespace dcsr::kernels::cuda
