// The kernels header: every compute kernel the ops call. The signatures are
// listed once, in kernels/kernel_list.inc, and declared three times from it:
// here (dcsr::kernels, the entry points, each a plain switch on the device in
// kernels/dispatch_*.cpp), in kernels/cpu/cpu_kernels.h (dcsr::kernels::cpu,
// one file per op under kernels/cpu/) and in kernels/cuda/cuda_kernels.h
// (dcsr::kernels::cuda, one file per op under kernels/cuda/).
//
// Contract for every kernel:
//   * all tensors are contiguous, row-major, on one device;
//   * outputs are allocated by the caller with the documented shape and dtype,
//     and are overwritten (=), except where a kernel is documented to
//     accumulate (+=);
//   * floating kernels take float32 and float64 on CPU (float32 on CUDA) and fail
//     with "<op>: unsupported dtype <dtype> on <device>" otherwise.
// Kernels never record autograd history; ops (autograd/ops/*.cpp) do.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr::kernels {

// Operation codes shared by the backends.

enum class UnaryOp {
  Neg,        // -x
  Exp,        // e^x
  Log,        // ln x
  Abs,        // |x|
  Sqrt,       // sqrt(x)
  Sigmoid,    // 1 / (1 + e^-x)
  Relu,       // max(x, 0)
  LeakyRelu,  // x > 0 ? x : alpha * x
  Clamp,      // min(max(x, alpha), beta)
  AddScalar,  // x + alpha
  MulScalar,  // x * alpha
  PowScalar,  // x ^ alpha
  Sign,       // -1, 0 or 1
  InRange,    // alpha <= x <= beta ? 1 : 0   (mask for clamp's gradient)
};

enum class BinaryOp {
  Add,                // a + b
  Sub,                // a - b
  Mul,                // a * b
  Div,                // a / b
  LeakyReluBackward,  // b * (a > 0 ? 1 : alpha)   (a = forward input, b = output gradient)
};

enum class PadMode { Constant, Reflect };

// Border rule of the bilinear sampler; the same three rules as dcsr::GridBorder
// (autograd/ops/dcsr_ops.h), where they are described.
enum class SampleBorder { Zeros, Clamp, DcsrReference };

const char* unary_op_name(UnaryOp op);
const char* binary_op_name(BinaryOp op);

#include "kernels/kernel_list.inc"

// Inference's conv and pool in one, a kernel of the dispatch only (the CPU
// fuses them; CUDA runs its two kernels, so it is not in the list):
// y (N, Cout, Ho / 2, Wo / 2) = max_pool2d_forward of the output of
// conv2d_forward(x, weight, bias, no residual, stride 1, padding, groups 1,
// workspace_bytes, activation_slope), (N, Cout, Ho, Wo), without indices.
void conv2d_max_pool2_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, int64_t padding,
                              int64_t workspace_bytes, double activation_slope);
// Inference's concat and conv in one, likewise: y = conv2d_forward of
// concat({a, b}) along the channels (a: (N, Ca, H, W), b: (N, Cb, H, W);
// no residual, groups 1), without the concat written out where the CPU's
// Winograd paths take the conv.
void conv2d_concat_forward(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias, Tensor& y,
                           int64_t stride, int64_t padding, int64_t workspace_bytes, double activation_slope);
// out (..., H-t-b, W-l-r) = x (..., H, W) less crops = {left, right, top,
// bottom}: each backend's pad2d_backward of a constant pad, a kernel of the
// dispatch only, under its own name in profiles.
void crop2d(const Tensor& x, Tensor& out, const std::array<int64_t, 4>& crops);

}  // namespace dcsr::kernels
