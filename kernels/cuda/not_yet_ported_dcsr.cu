// DCSR operator kernels that the CUDA backend does not implement yet. Each
// fails with the op's name and the device, so a CUDA build always links and a
// missing kernel is a clear runtime error, never a silent fallback. Remove an
// entry when its kernels/cuda/<op>.cu lands.
#include "kernels/cuda/cuda_kernels.h"

namespace dcsr::kernels::cuda {

#define DCSR_NOT_PORTED(op) ::dcsr::fail(op, ": not implemented on cuda yet")

void normalize_columns(const Tensor&, Tensor&, Tensor&) { DCSR_NOT_PORTED("normalize_columns"); }
void normalize_columns_backward(const Tensor&, const Tensor&, const Tensor&, Tensor&) {
  DCSR_NOT_PORTED("normalize_columns_backward");
}
void max_cosine(const Tensor&, const Tensor&, Tensor&, Tensor&, int64_t) { DCSR_NOT_PORTED("max_cosine"); }
void max_cosine_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&) {
  DCSR_NOT_PORTED("max_cosine_backward");
}
void block_gather(const Tensor&, const Tensor&, int64_t, Tensor&) { DCSR_NOT_PORTED("block_gather"); }
void block_gather_backward(const Tensor&, const Tensor&, int64_t, Tensor&) {
  DCSR_NOT_PORTED("block_gather_backward");
}
void grid_sample(const Tensor&, const Tensor&, SampleBorder, Tensor&) { DCSR_NOT_PORTED("grid_sample"); }
void grid_sample_backward(const Tensor&, const Tensor&, const Tensor&, SampleBorder, Tensor&, Tensor&) {
  DCSR_NOT_PORTED("grid_sample_backward");
}
void aligned_grid(const Tensor&, int64_t, Tensor&) { DCSR_NOT_PORTED("aligned_grid"); }
void aligned_grid_backward(const Tensor&, const Tensor&, int64_t, Tensor&) {
  DCSR_NOT_PORTED("aligned_grid_backward");
}
void contextual_forward(const Tensor&, const Tensor&, double, int64_t, Tensor&, Tensor&, Tensor&, Tensor&, Tensor&) {
  DCSR_NOT_PORTED("contextual_forward");
}
void contextual_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         const Tensor&, const Tensor&, double, int64_t, Tensor&, Tensor&) {
  DCSR_NOT_PORTED("contextual_backward");
}

}  // namespace dcsr::kernels::cuda
