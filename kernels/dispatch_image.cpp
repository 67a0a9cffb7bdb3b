// Device dispatch of the image kernels (conv, resampling, pooling, im2col):
// one plain switch per kernel.
#include "kernels/dispatch.h"
#include "kernels/conv_forward_plan.h"

namespace dcsr::kernels {

namespace {

// A convolution's row when profiling by shape (runtime/profiler.h): "32->32
// 3x3 s1 p1 at 1x228x292" (channels in -> out, kernel, stride, padding, and
// the input's batch x height x width; then the groups and the dtype where
// they are not 1 and float32). Empty, and built at no cost, otherwise.
// extra_channels: a second input's, beside x's (conv2d_concat_forward).
std::string conv_shape_detail(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding, int64_t groups,
                              int64_t extra_channels = 0) {
  if (!runtime::kernel_profile_shapes()) return {};
  // (Kernels are square: conv2d's checks.)
  std::string d = conv_shape_label({x.size(0), x.size(1) + extra_channels, x.size(2), x.size(3), weight.size(0),
                                    weight.size(2), stride, padding, groups});
  if (x.dtype() != kFloat32) d += std::string(" ") + dtype_name(x.dtype());
  return d;
}

// Whether a and b hold elements in the same bytes (a tensor's elements are
// one contiguous range).
bool share_memory(const Tensor& a, const Tensor& b) {
  const auto a0 = reinterpret_cast<uintptr_t>(a.raw_data()), b0 = reinterpret_cast<uintptr_t>(b.raw_data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual, Tensor& y,
                    int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes,
                    double activation_slope) {
  const KernelScope scope("conv2d_forward", x.device(), conv_shape_detail(x, weight, stride, padding, groups));
  // The GEMM paths (the CPU's, CUDA's im2col) write the convolution into y
  // before their epilogue reads the residual: a residual in y's memory would
  // be lost and the convolution added twice. Refused here, for every device
  // and path alike.
  DCSR_CHECK(!residual.defined() || !share_memory(residual, y),
             "conv2d_forward: the residual shares memory with the output; pass the residual in a tensor of its own");
  switch (x.device()) {
    case Device::CPU:
      return cpu::conv2d_forward(x, weight, bias, residual, y, stride, padding, groups, workspace_bytes,
                                 activation_slope);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::conv2d_forward(x, weight, bias, residual, y, stride, padding, groups,
                                                 workspace_bytes, activation_slope));
  }
}

// The fused forms' CPU kernels run where they apply (float32 Winograd paths);
// elsewhere, and on CUDA, the two kernels they stand for.
void conv2d_max_pool2_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, int64_t padding,
                              int64_t workspace_bytes, double activation_slope) {
  const KernelScope scope("conv2d_max_pool2_forward", x.device(), conv_shape_detail(x, weight, 1, padding, 1));
  if (x.device() == Device::CPU &&
      cpu::conv2d_max_pool2_forward(x, weight, bias, y, padding, workspace_bytes, activation_slope))
    return;
  const int64_t k = weight.size(2);
  Tensor full = empty({x.size(0), weight.size(0), x.size(2) + 2 * padding - k + 1, x.size(3) + 2 * padding - k + 1},
                      x.dtype(), x.device());
  conv2d_forward(x, weight, bias, Tensor(), full, 1, padding, 1, workspace_bytes, activation_slope);
  Tensor no_indices;
  max_pool2d_forward(full, y, no_indices, 2);
}

void conv2d_concat_forward(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias, Tensor& y,
                           int64_t stride, int64_t padding, int64_t workspace_bytes, double activation_slope) {
  const KernelScope scope("conv2d_concat_forward", a.device(),
                          conv_shape_detail(a, weight, stride, padding, 1, b.size(1)));
  if (a.device() == Device::CPU &&
      cpu::conv2d_concat_forward(a, b, weight, bias, y, stride, padding, workspace_bytes, activation_slope))
    return;
  Tensor x = empty({a.size(0), a.size(1) + b.size(1), a.size(2), a.size(3)}, a.dtype(), a.device());
  copy_slice(a, x, 1, 0, 0, a.size(1));
  copy_slice(b, x, 1, 0, a.size(1), b.size(1));
  conv2d_forward(x, weight, bias, Tensor(), y, stride, padding, 1, workspace_bytes, activation_slope);
}

void conv2d_backward_input(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, int64_t stride,
                           int64_t padding, int64_t groups, int64_t workspace_bytes) {
  const KernelScope scope("conv2d_backward_input", grad_y.device(),
                          conv_shape_detail(grad_x, weight, stride, padding, groups));
  switch (grad_y.device()) {
    case Device::CPU:
      return cpu::conv2d_backward_input(grad_y, weight, grad_x, stride, padding, groups, workspace_bytes);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(
          cuda::conv2d_backward_input(grad_y, weight, grad_x, stride, padding, groups, workspace_bytes));
  }
}

void conv2d_backward_weight(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                            int64_t stride, int64_t padding, int64_t groups, int64_t workspace_bytes) {
  const KernelScope scope("conv2d_backward_weight", grad_y.device(),
                          conv_shape_detail(x, grad_weight, stride, padding, groups));
  switch (grad_y.device()) {
    case Device::CPU:
      return cpu::conv2d_backward_weight(grad_y, x, grad_weight, grad_bias, stride, padding, groups,
                                         workspace_bytes);
    case Device::CUDA:
      return DCSR_CUDA_ONLY(cuda::conv2d_backward_weight(grad_y, x, grad_weight, grad_bias, stride, padding, groups,
                                                         workspace_bytes));
  }
}

void bicubic_forward(const Tensor& x, Tensor& y, bool align_corners) {
  const KernelScope scope("bicubic_forward", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::bicubic_forward(x, y, align_corners);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::bicubic_forward(x, y, align_corners));
  }
}

void bicubic_backward(const Tensor& grad_y, Tensor& grad_x, bool align_corners) {
  const KernelScope scope("bicubic_backward", grad_y.device());
  switch (grad_y.device()) {
    case Device::CPU: return cpu::bicubic_backward(grad_y, grad_x, align_corners);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::bicubic_backward(grad_y, grad_x, align_corners));
  }
}

void resize_antialias(const Tensor& x, Tensor& y) {
  const KernelScope scope("resize_antialias", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::resize_antialias(x, y);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::resize_antialias(x, y));
  }
}

void avg_pool2d_forward(const Tensor& x, Tensor& y, int64_t kernel) {
  const KernelScope scope("avg_pool2d_forward", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::avg_pool2d_forward(x, y, kernel);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::avg_pool2d_forward(x, y, kernel));
  }
}

void avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x, int64_t kernel) {
  const KernelScope scope("avg_pool2d_backward", grad_y.device());
  switch (grad_y.device()) {
    case Device::CPU: return cpu::avg_pool2d_backward(grad_y, grad_x, kernel);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::avg_pool2d_backward(grad_y, grad_x, kernel));
  }
}

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, int64_t kernel) {
  const KernelScope scope("max_pool2d_forward", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::max_pool2d_forward(x, y, indices, kernel);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::max_pool2d_forward(x, y, indices, kernel));
  }
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x) {
  const KernelScope scope("max_pool2d_backward", grad_y.device());
  switch (grad_y.device()) {
    case Device::CPU: return cpu::max_pool2d_backward(grad_y, indices, grad_x);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::max_pool2d_backward(grad_y, indices, grad_x));
  }
}

void unfold(const Tensor& x, Tensor& cols, int64_t kernel, int64_t stride, int64_t padding) {
  const KernelScope scope("unfold", x.device());
  switch (x.device()) {
    case Device::CPU: return cpu::unfold(x, cols, kernel, stride, padding);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::unfold(x, cols, kernel, stride, padding));
  }
}

void fold(const Tensor& cols, Tensor& out, int64_t kernel, int64_t stride, int64_t padding) {
  const KernelScope scope("fold", cols.device());
  switch (cols.device()) {
    case Device::CPU: return cpu::fold(cols, out, kernel, stride, padding);
    case Device::CUDA: return DCSR_CUDA_ONLY(cuda::fold(cols, out, kernel, stride, padding));
  }
}

}  // namespace dcsr::kernels
