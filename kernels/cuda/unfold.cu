// CUDA unfold (im2col) and fold (col2im) of whole images in F.unfold /
// F.fold order, float32, with the device kernels of kernels/cuda/im2col.cuh:
// all images and channels in one launch each (every channel is its own
// "group" of k*k rows). fold is a gather, one thread per output pixel: no
// atomics, deterministic.
//   unfold: x (N, C, H, W) -> cols (N, C*k*k, L);  fold: cols -> out (N, C, H, W)
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/im2col.cuh"

namespace dcsr::kernels::cuda {

namespace {
ColumnGeometry image_geometry(int64_t C, int64_t H, int64_t W, int64_t kernel, int64_t stride, int64_t padding) {
  const int64_t Ho = (H + 2 * padding - kernel) / stride + 1, Wo = (W + 2 * padding - kernel) / stride + 1;
  return {C, H, W, kernel, stride, padding, Ho, Wo};
}
}  // namespace

void unfold(const Tensor& x, Tensor& cols, int64_t kernel, int64_t stride, int64_t padding) {
  require_float32(x, "unfold");
  require_float32(cols, "unfold");
  const ColumnGeometry g = image_geometry(x.size(1), x.size(2), x.size(3), kernel, stride, padding);
  launch_im2col(x.data<float>(), g.C * g.H * g.W, cols.data<float>(), x.size(0), g, 0, g.cols());
}

void fold(const Tensor& cols, Tensor& out, int64_t kernel, int64_t stride, int64_t padding) {
  require_float32(cols, "fold");
  require_float32(out, "fold");
  const ColumnGeometry g = image_geometry(out.size(1), out.size(2), out.size(3), kernel, stride, padding);
  launch_col2im(cols.data<float>(), out.size(0), g, 0, g.cols(), out.data<float>(), g.C * g.H * g.W, false);
}

}  // namespace dcsr::kernels::cuda
