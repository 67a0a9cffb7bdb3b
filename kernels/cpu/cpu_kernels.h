// CPU backend: one file per op under kernels/cpu/, float32 and float64.
#pragma once
#include "kernels/kernels.h"

namespace dcsr::kernels::cpu {
#include "kernels/kernel_list.inc"

// kernels.h's conv2d_max_pool2_forward on the CPU (conv2d.cpp), where a
// float32 conv takes a Winograd path: each group's output rows pooled in
// cache (Epilogue::pooled). Returns false, having done nothing, elsewhere
// (the dispatch then runs the two kernels).
bool conv2d_max_pool2_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, int64_t padding,
                              int64_t workspace_bytes, double activation_slope);
// kernels.h's conv2d_concat_forward on the CPU (conv2d.cpp), where a float32
// conv takes a Winograd path (the pixel phases' included): its input windows
// read from a and b in place (SecondInput). Returns false, having done
// nothing, elsewhere (the dispatch then writes the concat and runs the conv).
bool conv2d_concat_forward(const Tensor& a, const Tensor& b, const Tensor& weight, const Tensor& bias, Tensor& y,
                           int64_t stride, int64_t padding, int64_t workspace_bytes, double activation_slope);
}  // namespace dcsr::kernels::cpu
