// Image operators (NCHW): convolution, resampling, pooling, im2col.
// Semantics follow PyTorch where PyTorch defines them; golden tests in
// tests/golden/ pin them down.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace dcsr {

// 2-D convolution with zero padding.
//   x: (N, Cin, H, W); weight: (Cout, Cin/groups, k, k); bias: (Cout) or undefined
//   -> (N, Cout, Ho, Wo), Ho = (H + 2*padding - k) / stride + 1 (floor).
// padding < 0 means k / 2 (the DCSR default). groups = Cin = Cout is depthwise.
// CPU: work is cut into chunks of output rows / columns, each thread with its
// own scratch, so the scratch never exceeds conv_workspace_limit() bytes
// whatever the image size (at least one output column per thread). float32
// on AVX-512: an implicit GEMM over padded bands of input rows (no im2col);
// otherwise im2col + GEMM; depthwise convs: direct loops.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = -1,
              int64_t groups = 1);
// leaky_relu(conv2d(x, weight, bias, stride, padding), slope) in one pass: the
// activation is applied to each chunk of the convolution's output while it is
// in cache, and the pre-activation output is never stored (the gradient takes
// its sign from the output). slope in [0, 1); 0 is ReLU.
Tensor conv2d_leaky_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, double slope, int64_t stride = 1,
                         int64_t padding = -1);
// leaky_relu(residual + conv2d(x, weight, bias), slope), stride 1, padding k/2,
// in the same single output pass (the residual blocks' skip connection).
// residual: the output's shape; slope in [0, 1], 1 (the default) is no activation.
Tensor conv2d_residual(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& residual,
                       double slope = 1.0);
// max_pool2d(conv2d_leaky_relu(x, weight, bias, slope, 1, padding), 2), the
// same values. Where no graph is recorded (inference), on the CPU, each group
// of output tiles is pooled while it is in cache and the full-size output is
// never stored (VGG's conv1_2 and its pool: 28 MB for 64 channels at 332 x
// 332, 7 MB pooled); with a graph to record, the two ops. slope in [0, 1).
Tensor conv2d_leaky_relu_max_pool2(const Tensor& x, const Tensor& weight, const Tensor& bias, double slope,
                                   int64_t padding = -1);
// conv2d_leaky_relu(concat({a, b}, 1), weight, bias, slope, stride,
// padding), the same values. Where no graph is recorded (inference), on the
// CPU, the Winograd paths (the 5x5 stride-2 pixel phases' too) read their
// input windows from a and b in place, and the concat is never written (2 x
// 32 channels at 332 x 332: 28 MB, three times a 4K-mode tile); with a graph
// to record, the two ops. a, b: (N, Ca, H, W), (N, Cb, H, W).
Tensor conv2d_leaky_relu_concat(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias,
                                double slope, int64_t stride = 1, int64_t padding = -1);
void set_conv_workspace_limit(int64_t bytes);  // default 256 MB
int64_t conv_workspace_limit();

// Bicubic resize with PyTorch semantics (F.interpolate mode='bicubic'): cubic
// convolution with A = -0.75, source indices clamped to the image, no
// antialiasing. align_corners=false: src = (dst + 0.5) * in/out - 0.5;
// true: src = dst * (in - 1)/(out - 1). x: (N, C, H, W) -> (N, C, out_h, out_w).
Tensor bicubic_resize(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners = false);
// The reference's scale_factor form under torch 1.4 semantics: output size
// floor(H * scale), sampling ratio from the sizes (in/out). (dcsr-spec §1)
Tensor bicubic_scale(const Tensor& x, double scale, bool align_corners = false);

// Antialiased bicubic downscale in the style of MATLAB imresize (Keys kernel
// a = -0.5 stretched by the scale, symmetric edge handling). For making
// datasets; not differentiable. x: (N, C, H, W) -> (N, C, out_h, out_w).
Tensor resize_antialias(const Tensor& x, int64_t out_h, int64_t out_w);

// Pooling with kernel = stride = `kernel`, no padding, floor mode.
// x: (N, C, H, W) -> (N, C, H / kernel, W / kernel).
Tensor avg_pool2d(const Tensor& x, int64_t kernel = 2);
Tensor max_pool2d(const Tensor& x, int64_t kernel = 2);  // gradient to the first max of each window

// im2col / col2im in PyTorch's order (F.unfold / F.fold): zero padding,
// column index = channel-major then kernel row, kernel column; patch index row-major.
//   unfold: x (N, C, H, W) -> (N, C*k*k, L), L = Ho*Wo
//   fold:   cols (N, C*k*k, L) -> (N, C, out_h, out_w), overlapping entries summed
Tensor unfold(const Tensor& x, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
Tensor fold(const Tensor& cols, int64_t out_h, int64_t out_w, int64_t kernel, int64_t stride = 1, int64_t padding = 0);

// The fixed blur of DCSR's reconstruction loss (dcsr-spec §9.1): reflection
// padding 2, then a 3x3 depthwise convolution (valid) with the Gaussian kernel
// of sigma 1 that the reference code uses (1-D [0.296096, 0.407807, 0.296096]).
// x: (N, C, H, W) -> (N, C, H + 2, W + 2).
Tensor gaussian_blur3(const Tensor& x);

}  // namespace dcsr
