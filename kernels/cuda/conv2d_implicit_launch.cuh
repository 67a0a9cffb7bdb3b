// Launches the implicit-GEMM conv2d forward: the float32 kernel
// (conv2d_implicit.cuh) or its TF32 tensor-core twin
// (conv2d_implicit_tf32.cuh), for a 3x3 or 5x5 kernel, with one of the two
// 64-channel block shapes or with 32-channel blocks; and the direct tile
// kernel on TF32 tensor cores (conv2d_tile_tf32.cuh), for the same
// convolutions. Used by kernels/cuda/conv2d.cu and kernels/study/conv2d.cu.
#pragma once
#include "kernels/cuda/conv2d_implicit.cuh"
#include "kernels/cuda/conv2d_implicit_tf32.cuh"
#include "kernels/cuda/conv2d_tile_tf32.cuh"

namespace dcsr::kernels::cuda {

// Runs a convolution that implicit_gemm_applies() to; `block` is one of the
// three implicit shapes; tf32: on the tensor cores (only where
// tf32_tensor_cores()).
inline void launch_conv_implicit_gemm(ConvForwardKernel block, bool tf32, const float* x, const float* w,
                                      const float* b, const float* res, float* y, int64_t N, int64_t Cin, int64_t H,
                                      int64_t W, int64_t k, int64_t pad, int64_t Cout, float slope) {
  DCSR_CHECK(block != ConvForwardKernel::kIm2col, "launch_conv_implicit_gemm: not an implicit-GEMM block shape");
  DCSR_CHECK(k == 3 || k == 5, "conv_implicit_gemm: kernel size ", k, " (3 or 5 only)");
  DCSR_CHECK(!tf32 || tf32_tensor_cores(), "conv_implicit_gemm: TF32 needs a GPU of compute capability 8.0 or later");
  using Kernel = void (*)(const float*, const float*, const float*, const float*, float*, int, int, int, int, int, float);
  // [k == 5][tf32][wide]
  static const Kernel kernels[2][2][2] = {
      {{conv_implicit_gemm<3, 128>, conv_implicit_gemm<3, 256>},
       {conv_implicit_gemm_tf32<3, 128>, conv_implicit_gemm_tf32<3, 256>}},
      {{conv_implicit_gemm<5, 128>, conv_implicit_gemm<5, 256>},
       {conv_implicit_gemm_tf32<5, 128>, conv_implicit_gemm_tf32<5, 256>}}};
  // [k == 5][tf32]
  static const Kernel narrow_channels[2][2] = {{conv_implicit_gemm<3, 256, 32>, conv_implicit_gemm_tf32<3, 256, 32>},
                                               {conv_implicit_gemm<5, 256, 32>, conv_implicit_gemm_tf32<5, 256, 32>}};
  const bool wide = block == ConvForwardKernel::kImplicit64x256;
  const Kernel kernel =
      block == ConvForwardKernel::kImplicit32x256 ? narrow_channels[k == 5][tf32] : kernels[k == 5][tf32][wide];
  const int64_t P = (H + 2 * pad - k + 1) * (W + 2 * pad - k + 1), n = implicit_block_pixels(block);
  const int64_t m = implicit_block_channels(block);
  const dim3 grid(unsigned((P + n - 1) / n), unsigned((Cout + m - 1) / m), unsigned(N));
  kernel<<<grid, kIgThreads>>>(x, w, b, res, y, int(Cin), int(H), int(W), int(pad), int(Cout), slope);
  DCSR_CUDA_CHECK_LAUNCH();
}

// Runs a convolution that implicit_gemm_applies() to on the tile kernel with
// `warps` warps a block, 8 or 4 (only where tf32_tensor_cores()).
inline void launch_conv_tile_tf32(int warps, const float* x, const float* w, const float* b, const float* res,
                                  float* y, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t k, int64_t pad,
                                  int64_t Cout, float slope) {
  DCSR_CHECK(k == 3 || k == 5, "conv_tile_tf32: kernel size ", k, " (3 or 5 only)");
  DCSR_CHECK(warps == 8 || warps == 4, "conv_tile_tf32: ", warps, " warps (8 or 4)");
  DCSR_CHECK(tf32_tensor_cores(), "conv_tile_tf32: TF32 needs a GPU of compute capability 8.0 or later");
  using Kernel = void (*)(const float*, const float*, const float*, const float*, float*, int, int, int, int, int, float);
  // [k == 5][warps == 4]
  static const Kernel kernels[2][2] = {{conv_tile_tf32<3, 8>, conv_tile_tf32<3, 4>},
                                       {conv_tile_tf32<5, 8>, conv_tile_tf32<5, 4>}};
  const int64_t Ho = H + 2 * pad - k + 1, Wo = W + 2 * pad - k + 1;
  const dim3 grid(unsigned(tile_conv_tiles(Ho, Wo)), unsigned((Cout + kTileConvChannels - 1) / kTileConvChannels),
                  unsigned(N));
  const Kernel kernel = kernels[k == 5][warps == 4];
  kernel<<<grid, tile_conv_threads(warps)>>>(x, w, b, res, y, int(Cin), int(H), int(W), int(pad), int(Cout), slope);
  DCSR_CUDA_CHECK_LAUNCH();
}

}  // namespace dcsr::kernels::cuda
