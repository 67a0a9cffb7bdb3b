// Which path a float32 CPU convolution takes: Winograd F(4x4,3x3) or
// F(2x2,3x3), F(4x4,5x5) or F(2x2,5x5) for 5x5 kernels (winograd.h), or the direct path of conv2d.cpp (the implicit
// GEMM of conv2d_avx512.cpp where the build targets AVX-512, else im2col +
// GEMM). The choice is a fixed rule fitted to timings (docs in
// winograd_plan.cpp), not a timing at run time: the same convolution takes
// the same path in every run, so results are reproducible.
//
// DCSR_CPU_CONV=auto|direct|winograd2|winograd4 (unset: auto) forces a path
// wherever Winograd applies (3x3 or 5x5, stride 1, one group; for a 5x5
// kernel winograd2 forces F(2x2,5x5) and winograd4 F(4x4,5x5));
// set_cpu_conv_path() does the same from code (tests, the bench).
#pragma once
#include <string>

#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/winograd.h"

namespace dcsr::kernels::cpu {

enum class CpuConvPath { kAuto, kDirect, kWinograd2, kWinograd4 };

CpuConvPath cpu_conv_path();
void set_cpu_conv_path(CpuConvPath path);
void reset_cpu_conv_path();  // back to DCSR_CPU_CONV / auto
const char* cpu_conv_path_name(CpuConvPath path);            // "auto", "direct", "winograd2", "winograd4"
CpuConvPath cpu_conv_path_from_name(const std::string& name);  // the inverse; an Error names a bad name

// The Winograd variant for a float32 forward convolution of shape s under
// the current path setting: 4 or 2 (F(m x m, 3x3)), winograd::kF2x5 (5:
// F(2x2, 5x5)), winograd::kF4x5 (7: F(4x4, 5x5)), 0 (direct).
int winograd_tile_for(const ConvShape& s);

// The Winograd tile (2 or 4) of the 3x3 convolution a 5x5 stride-2 one
// (padding 2) becomes over its pixel phases (conv_space_to_depth.h), or 0
// where it stays direct. DCSR_CPU_CONV=winograd2|winograd4 forces the
// rewrite with that tile, direct keeps it off.
int space_to_depth_tile_for(const ConvShape& s);

// y = epilogue(conv(x, w) + b) through Winograd when winograd_tile_for(s) > 0,
// or through the pixel phases when space_to_depth_tile_for(s) > 0 (on the
// cpu_isa() path), and its scratch fits `limit`; false, having done nothing,
// otherwise (the caller takes the direct path). With epilogue.pooled set, the
// pooled output goes there and y is not written (it may be null). With
// `second`, the input is x's second->first_planes channels, then second->x's
// (SecondInput, winograd.h).
bool winograd_forward_planned(const ConvShape& s, const float* x, const float* w, const float* b, float* y,
                              int64_t limit, const Epilogue& epilogue, const SecondInput* second = nullptr);

// The output tile for the float32 WEIGHT gradient of a conv of shape s under
// the current path setting (DCSR_CPU_CONV forces it too): 4, 2 or 0 (direct).
int winograd_weight_tile_for(const ConvShape& s);

// grad_w of a conv of shape s through Winograd when winograd_weight_tile_for(s)
// > 0 (on the cpu_isa() path) and its scratch fits `limit`; false, having
// done nothing, otherwise (the caller takes the direct path).
bool winograd_backward_weight_planned(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit);

// The path a float32 forward conv of shape s takes now, for bench lines:
// "winograd4/avx2", "direct/avx512-implicit-gemm", "direct/im2col-gemm", ...
std::string conv_forward_path(const ConvShape& s);

}  // namespace dcsr::kernels::cpu
