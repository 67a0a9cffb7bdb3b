// Image kernels that the CUDA backend does not implement yet (see
// not_yet_ported.cu): each fails with the kernel's name, so CUDA builds link
// and a missing kernel is a clear runtime error. Remove an entry when its
// kernels/cuda/<op>.cu lands.
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

#define DCSR_NOT_PORTED(op) ::dcsr::fail(op, ": not implemented on cuda yet")

void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, Tensor&, int64_t, int64_t, int64_t, int64_t) {
  DCSR_NOT_PORTED("conv2d_forward");
}
void conv2d_backward_input(const Tensor&, const Tensor&, Tensor&, int64_t, int64_t, int64_t, int64_t) {
  DCSR_NOT_PORTED("conv2d_backward_input");
}
void conv2d_backward_weight(const Tensor&, const Tensor&, Tensor&, Tensor&, int64_t, int64_t, int64_t, int64_t) {
  DCSR_NOT_PORTED("conv2d_backward_weight");
}
void bicubic_forward(const Tensor&, Tensor&, bool) { DCSR_NOT_PORTED("bicubic_forward"); }
void bicubic_backward(const Tensor&, Tensor&, bool) { DCSR_NOT_PORTED("bicubic_backward"); }
void resize_antialias(const Tensor&, Tensor&) { DCSR_NOT_PORTED("resize_antialias"); }
void avg_pool2d_forward(const Tensor&, Tensor&, int64_t) { DCSR_NOT_PORTED("avg_pool2d_forward"); }
void avg_pool2d_backward(const Tensor&, Tensor&, int64_t) { DCSR_NOT_PORTED("avg_pool2d_backward"); }
void max_pool2d_forward(const Tensor&, Tensor&, Tensor&, int64_t) { DCSR_NOT_PORTED("max_pool2d_forward"); }
void max_pool2d_backward(const Tensor&, const Tensor&, Tensor&) { DCSR_NOT_PORTED("max_pool2d_backward"); }
void unfold(const Tensor&, Tensor&, int64_t, int64_t, int64_t) { DCSR_NOT_PORTED("unfold"); }
void fold(const Tensor&, Tensor&, int64_t, int64_t, int64_t) { DCSR_NOT_PORTED("fold"); }

}  // namespace dcsr::kernels::cuda
