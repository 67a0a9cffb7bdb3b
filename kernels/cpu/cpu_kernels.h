// CPU backend: one file per op under kernels/cpu/, float32 and float64.
#pragma once
#include "kernels/kernels.h"

namespace dcsr::kernels::cpu {
#include "kernels/kernel_list.inc"

// kernels.h's conv2d_max_pool2_forward on the CPU (conv2d.cpp): where a
// float32 conv takes a Winograd path, each group's output rows are pooled in
// cache (Epilogue::pooled); otherwise the full output, then the pool.
void conv2d_max_pool2_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, int64_t padding,
                              int64_t workspace_bytes, double activation_slope);
// kernels.h's conv2d_concat_forward on the CPU (conv2d.cpp): where a float32
// conv takes a Winograd path (the pixel phases' included), its input windows
// are read from a and b in place (SecondInput); otherwise the concat, then
// the conv.
void conv2d_concat_forward(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias, Tensor& y,
                           int64_t stride, int64_t padding, int64_t workspace_bytes, double activation_slope);
}  // namespace dcsr::kernels::cpu
