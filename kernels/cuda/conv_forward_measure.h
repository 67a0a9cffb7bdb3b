// DCSR_CONV_PATH=measure (runtime/switches.h): the CUDA conv forward's kernel
// chosen by timing, not by the fitted model of kernels/conv_forward_plan.cpp.
//
// The first call of each shape (with its TF32 setting and whether it has an
// epilogue: im2col runs bias, residual and activation as a pass of its own)
// times every candidate (conv_forward_candidates) on the call's own inputs:
// one untimed run, then three bracketed by CUDA events, the median kept. It
// prints one line on stderr, every candidate's milliseconds and the winner:
//   dcsr: conv measure: 32->32 3x3 s1 p1 at 1x166x166 (TF32): im2col 0.081 ms,
//   implicit 64x256 0.090 ms, ..., tile 32x16x16 tf32 0.041 ms -> tile 32x16x16 tf32
// and later calls of the shape take the winner without timing. Host code.
#pragma once
#include <functional>

#include "kernels/conv_forward_plan.h"

namespace dcsr::kernels::cuda {

// The kernel for shape s; `run(kernel)` launches the convolution with it on
// the default stream, writing the call's output (each candidate overwrites
// it: the caller runs the winner afterwards). `epilogue`: bias, residual or
// an activation is applied.
ConvForwardKernel measured_conv_forward(const ConvForwardShape& s, bool tf32, bool epilogue,
                                        const std::function<void(ConvForwardKernel)>& run);

}  // namespace dcsr::kernels::cuda
