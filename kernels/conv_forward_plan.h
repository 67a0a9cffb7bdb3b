// Which kernel the CUDA conv2d forward (kernels/cuda/conv2d.cu) runs for one
// convolution: im2col + cuBLAS, the implicit GEMM
// (kernels/cuda/conv2d_implicit.cuh) with one of its block shapes, or the
// direct tile kernel on TF32 tensor cores (kernels/cuda/conv2d_tile_tf32.cuh).
// Host code only, so that the choice is testable without a GPU.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/switches.h"

namespace dcsr::kernels {

enum class ConvForwardKernel { kIm2col, kImplicit64x256, kImplicit64x128, kImplicit32x256, kTileTf32, kTileTf32Warps4 };
const char* conv_forward_kernel_name(ConvForwardKernel kernel);  // "im2col", "implicit 64x256", ...
// The same, run on TF32 tensor cores where it is an implicit GEMM: "implicit 64x256 tf32", ...
// (the tile kernels are "tile 32x16x16 tf32" and "tile 32x16x16 tf32 4 warps" either way: they run on
// TF32 tensor cores only).
const char* conv_forward_kernel_name(ConvForwardKernel kernel, bool tf32);

// An implicit-GEMM block computes 64 output channels x 256 or 128 pixels, or
// 32 channels x 256 pixels (for layers of at most 32 output channels, which a
// 64-channel block would leave half idle).
constexpr int64_t kImplicitChannels = 64;
inline int64_t implicit_block_channels(ConvForwardKernel kernel) {
  return kernel == ConvForwardKernel::kImplicit32x256 ? 32 : kImplicitChannels;
}
inline int64_t implicit_block_pixels(ConvForwardKernel kernel) {
  return kernel == ConvForwardKernel::kImplicit64x128 ? 128 : 256;
}

struct ConvForwardShape {
  int64_t N, Cin, H, W, Cout, k, stride, pad, groups;
  int64_t Ho() const { return H + 2 * pad - k + 1; }  // stride 1
  int64_t Wo() const { return W + 2 * pad - k + 1; }
};

// "32->32 3x3 s1 p1 at 1x228x292" (channels in -> out, kernel, stride,
// padding, and the input's batch x height x width; " g2" after it where the
// groups are not 1): how profiles and DCSR_CONV_PATH=measure name a shape.
std::string conv_shape_label(const ConvForwardShape& s);

// Whether the implicit GEMM takes the convolution: 3x3 or 5x5, stride 1, one
// group, a grid within the hardware's limits and 32-bit offsets in its planes.
bool implicit_gemm_applies(const ConvForwardShape& s);

// Blocks of an implicit-GEMM launch with this block shape.
int64_t implicit_gemm_blocks(ConvForwardKernel kernel, const ConvForwardShape& s);

// The kernel for `path` on a GPU with `multiprocessors` SMs, `tf32` saying
// whether the convolution may run on TF32 tensor cores (TF32 on and a GPU
// that has them): kIm2col always takes im2col; kImplicit takes the implicit
// GEMM wherever it applies, with 32-channel blocks for at most 32 output
// channels, else the 64-channel block shape the cost model below prefers;
// kTile with tf32 takes the tile kernel wherever the implicit GEMM applies
// (the same convolutions), and is kAuto without; kAuto takes whichever of
// im2col and the 64-channel shapes the model says is fastest
// (conv_forward_plan.cpp says where it comes from). kAuto takes neither the
// 32-channel blocks nor the tile kernel: they have not been timed on a GPU yet.
ConvForwardKernel plan_conv_forward(const ConvForwardShape& s, runtime::CudaConvPath path, int64_t multiprocessors,
                                    bool tf32 = false);
// (kMeasure plans as kAuto here: the timing happens in the CUDA conv itself.)

// Every kernel that can run s, the ones DCSR_CONV_PATH=measure times: im2col
// always; where the implicit GEMM applies, its two 64-channel shapes, its
// 32-channel one for at most 32 output channels, and with tf32 the tile
// kernel in both its shapes (8 warps x 2 rows, 4 warps x 4 rows).
std::vector<ConvForwardKernel> conv_forward_candidates(const ConvForwardShape& s, bool tf32);

// The tile kernel's shape that DCSR_CONV_PATH=tile takes: 8 warps of 2 rows
// (the default) or 4 warps of 4 rows (kernels/cuda/conv2d_tile_tf32.cuh).
// For tests; measure times both.
int tile_conv_warps();
void set_tile_conv_warps(int warps);  // 8 or 4

}  // namespace dcsr::kernels
