// The CUDA conv2d forward's choice of kernel, as a cost model fitted to
// study_conv2d on an H100 (132 SMs; commit bfd0297, 2026-11-27), in ms:
//
//   convolution             im2col+cuBLAS  implicit 64x256  implicit 64x128
//   64->64 at 256x256           0.221          0.192 *          0.207
//   64->64 at 332x332           0.370          0.374            0.346 *
//   64->64 at 166x166           0.104 *        0.120            0.110
//   16 x 64->64 at 48x48        0.143 *        0.191            0.158
//   4 x 3->64 at 128x128        0.054          0.020 *          0.020
//
// The implicit GEMM's time goes in steps of whole blocks per SM (the busiest
// SM decides): with b blocks per SM, a 64x128 launch takes about
// (0.95 b + 0.3) u and a 64x256 launch 1.9 b u (2.4 u for one block per SM:
// a lone block runs at 0.8 of the rate of two), where u (~0.05 ms at K = 576
// on the H100) is a 64x128 block's share of the work. im2col + cuBLAS scales
// with the output instead: 1.13 u per 64 channels x 128 pixels per SM, plus
// 0.3 u. All three scale with K alike, so K drops out of the comparison,
// except that at K < 64 (the first layers: 3 -> 64 channels) cuBLAS and the
// extra passes of the im2col path are mostly fixed cost, and the implicit GEMM
// is taken whatever the model says (0.020 against 0.054 ms above).
//
// The model picks the fastest column in every row above; it is fitted to them,
// so that is a check of the fit, not of the model. The 4K inference tile's
// other layers (64->64 at 352x352 and 176x176, 64->128, 128->64 5x5) have not
// been timed one by one.
//
// At width 32 (the default model) most layers have 32 output channels. The
// model then takes im2col (a 64-channel block would be half idle), and a whole
// 2016x1512 image's convolutions ran at about 10 TFLOP/s on an H100
// (2026-12-05). The implicit GEMM's 32-channel block (kImplicit32x256, float32
// and TF32) is taken only when the implicit path is forced
// (DCSR_CONV_PATH=implicit), until a GPU has timed it (study_conv2d versions
// 16 and 17, tools/gpu_check.sh).
//
// The direct tile kernel on TF32 tensor cores (kernels/cuda/conv2d_tile_tf32.cuh:
// 32 channels x 16x16 pixels a block, its input staged once per 8 channels
// with the taps' halo) is taken only with DCSR_CONV_PATH=tile and TF32 on,
// likewise until a GPU has timed it (study_conv2d version 18).
//
// DCSR_CONV_PATH=measure replaces this model by timings at run time
// (kernels/cuda/conv_forward_measure.h): its per-shape lines are the data to
// refit the model from, for the model's own shapes and every kernel.
#include "kernels/conv_forward_plan.h"

#include <algorithm>
#include <atomic>

#include "tensor/error.h"

namespace dcsr::kernels {

const char* conv_forward_kernel_name(ConvForwardKernel kernel) {
  switch (kernel) {
    case ConvForwardKernel::kImplicit64x256: return "implicit 64x256";
    case ConvForwardKernel::kImplicit64x128: return "implicit 64x128";
    case ConvForwardKernel::kImplicit32x256: return "implicit 32x256";
    case ConvForwardKernel::kTileTf32: return "tile 32x16x16 tf32";
    case ConvForwardKernel::kTileTf32Warps4: return "tile 32x16x16 tf32 4 warps";
    default: return "im2col";
  }
}

const char* conv_forward_kernel_name(ConvForwardKernel kernel, bool tf32) {
  if (!tf32) return conv_forward_kernel_name(kernel);
  switch (kernel) {
    case ConvForwardKernel::kImplicit64x256: return "implicit 64x256 tf32";
    case ConvForwardKernel::kImplicit64x128: return "implicit 64x128 tf32";
    case ConvForwardKernel::kImplicit32x256: return "implicit 32x256 tf32";
    default: return conv_forward_kernel_name(kernel);
  }
}

std::string conv_shape_label(const ConvForwardShape& s) {
  std::string d = std::to_string(s.Cin) + "->" + std::to_string(s.Cout) + " " + std::to_string(s.k) + "x" +
                  std::to_string(s.k) + " s" + std::to_string(s.stride) + " p" + std::to_string(s.pad) + " at " +
                  std::to_string(s.N) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W);
  if (s.groups != 1) d += " g" + std::to_string(s.groups);
  return d;
}

bool implicit_gemm_applies(const ConvForwardShape& s) {
  const int64_t lim = int64_t(1) << 30;
  return (s.k == 3 || s.k == 5) && s.stride == 1 && s.groups == 1 && s.Ho() > 0 && s.Wo() > 0 && s.N <= 65535 &&
         (s.Cout + kImplicitChannels - 1) / kImplicitChannels <= 65535 && s.Cin * s.H * s.W < lim &&
         s.Cout * s.Ho() * s.Wo() < lim && s.Cin * s.k * s.k < lim && s.H + s.pad < lim && s.W + s.pad < lim;
}

int64_t implicit_gemm_blocks(ConvForwardKernel kernel, const ConvForwardShape& s) {
  const int64_t pixels = implicit_block_pixels(kernel), channels = implicit_block_channels(kernel);
  const int64_t P = s.Ho() * s.Wo();
  return (P + pixels - 1) / pixels * ((s.Cout + channels - 1) / channels) * s.N;
}

namespace {

// The model's time of each kernel, in u (the file comment).
double modelled_time(ConvForwardKernel kernel, const ConvForwardShape& s, int64_t sms) {
  if (kernel == ConvForwardKernel::kIm2col) {
    const double work = double(s.N) * double(s.Ho() * s.Wo()) * (double(s.Cout) / double(kImplicitChannels));
    return 1.13 * work / (double(sms) * 128.0) + 0.3;
  }
  const int64_t per_sm = (implicit_gemm_blocks(kernel, s) + sms - 1) / sms;
  if (kernel == ConvForwardKernel::kImplicit64x128) return 0.95 * double(per_sm) + 0.3;
  return per_sm == 1 ? 2.4 : 1.9 * double(per_sm);
}

// The tile kernel's grid.y: output channels in blocks of 32.
bool tile_kernel_fits(const ConvForwardShape& s) { return (s.Cout + 31) / 32 <= 65535; }

}  // namespace

ConvForwardKernel plan_conv_forward(const ConvForwardShape& s, runtime::CudaConvPath path, int64_t multiprocessors,
                                    bool tf32) {
  if (path == runtime::CudaConvPath::kIm2col || !implicit_gemm_applies(s)) return ConvForwardKernel::kIm2col;
  if (path == runtime::CudaConvPath::kTile && tf32 && tile_kernel_fits(s))
    return tile_conv_warps() == 4 ? ConvForwardKernel::kTileTf32Warps4 : ConvForwardKernel::kTileTf32;
  // Forced, a layer of at most 32 output channels takes the 32-channel block,
  // which does not leave half of each block idle.
  if (path == runtime::CudaConvPath::kImplicit && s.Cout <= 32) return ConvForwardKernel::kImplicit32x256;
  const int64_t sms = std::max<int64_t>(1, multiprocessors);
  const double wide = modelled_time(ConvForwardKernel::kImplicit64x256, s, sms);
  const double narrow = modelled_time(ConvForwardKernel::kImplicit64x128, s, sms);
  const ConvForwardKernel implicit =
      wide <= narrow ? ConvForwardKernel::kImplicit64x256 : ConvForwardKernel::kImplicit64x128;
  if (path == runtime::CudaConvPath::kImplicit || s.Cin * s.k * s.k < 64) return implicit;
  const double im2col = modelled_time(ConvForwardKernel::kIm2col, s, sms);
  return std::min(wide, narrow) < im2col ? implicit : ConvForwardKernel::kIm2col;
}

std::vector<ConvForwardKernel> conv_forward_candidates(const ConvForwardShape& s, bool tf32) {
  std::vector<ConvForwardKernel> kernels = {ConvForwardKernel::kIm2col};
  if (!implicit_gemm_applies(s)) return kernels;
  kernels.push_back(ConvForwardKernel::kImplicit64x256);
  kernels.push_back(ConvForwardKernel::kImplicit64x128);
  if (s.Cout <= 32) kernels.push_back(ConvForwardKernel::kImplicit32x256);
  if (tf32 && tile_kernel_fits(s)) {
    kernels.push_back(ConvForwardKernel::kTileTf32);
    kernels.push_back(ConvForwardKernel::kTileTf32Warps4);
  }
  return kernels;
}

namespace {
std::atomic<int> g_tile_conv_warps{8};
}  // namespace

int tile_conv_warps() { return g_tile_conv_warps.load(); }

void set_tile_conv_warps(int warps) {
  DCSR_CHECK(warps == 8 || warps == 4, "set_tile_conv_warps: ", warps, " (8 or 4)");
  g_tile_conv_warps.store(warps);
}

}  // namespace dcsr::kernels
