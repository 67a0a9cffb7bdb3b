// The CPU conv path plan (winograd_plan.h).
//
// The rule (auto), for 3x3 stride-1 single-group float32 convolutions, with
// side = min(Ho, Wo):
//   F(4x4,3x3)  when side >= 64, or side >= 32 and both channel counts <= 32;
//   direct      when side < 16 and Cin * Cout >= 128 * 128 (the weight
//               transform, redone every call, outweighs the few tiles);
//   F(2x2,3x3)  otherwise (small outputs: F(4x4)'s groups of eight 4-wide
//               tiles would be mostly padding, and its transformed weights
//               no longer fit in L2 for 64+ channels).
// Fitted to one-thread CPU times of the forward conv (the grid of
// dcsr_bench --filter wino_plan: C -> C channels, C in 8..128, square sides
// 8..128; and 3 -> 64, 64 -> 3, 16 -> 64, 64 -> 128) on an AMD EPYC with
// AVX2 only (2 cores, shared), where the direct path is im2col + Eigen's
// GEMM. The times, ms (direct / F(4x4) / F(2x2)):
//   C=16:  side 8  0.028/0.033/0.019   side 32 0.195/0.063/0.094   side 128  2.14/0.86/1.48
//   C=64:  side 8  0.203/0.398/0.145   side 32 2.06/0.655/0.612    side 128 27.2/7.56/11.3
//   C=128: side 8  0.409/1.69/0.570    side 32 7.90/3.56/2.94      side 128  122/26.2/32.5
//   3 -> 64 at 128: 1.66/1.38/1.47;  64 -> 3 at 128: 7.17/2.35/3.10
// Winograd wins almost everywhere against im2col. On AVX-512 builds the
// direct path is the implicit GEMM of conv2d_avx512.cpp, and the rule is
// packed_gemm_tile_for's below, fitted on such a machine. (These AVX2 times
// predate the weight transform's fix, which took up to 2 ms off F(4x4) at
// 128 channels on Zen 5; refitting on an AVX2-only machine may move the
// small-side thresholds.)
//
// The rule for the WEIGHT gradient (winograd_weight.cpp), same shapes, side =
// min(Ho, Wo):
//   direct      when side < 12 or Cin < 8 (few tiles for the fixed cost of
//               the accumulators; input channels padded to the register block);
//   F(4x4,3x3)  when side >= 64;
//   F(2x2,3x3)  otherwise (faster at side 16, as fast as F(4x4) at 32-48,
//               and its float32 error is about ten times smaller).
// Fitted on the same AMD EPYC (AVX2, im2col + Eigen as the direct path):
// one-thread times, ms (direct / F(2x2) / F(4x4)), batch 1, C -> C:
//   C=32:  side 8  0.059/0.074/0.245  side 16 0.173/0.096/0.176  side 32 0.497/0.205/0.202
//          side 48 1.34/0.589/0.554   side 64 2.24/1.01/0.714
//   C=64:  side 8  0.156/0.305/0.989  side 16 0.581/0.324/0.610  side 32 2.09/0.917/0.854
//          side 48 4.51/1.85/1.78     side 64 7.81/3.17/2.30
//   C=128: side 8  0.591/1.31/4.24   side 16 2.05/1.27/2.46     side 64 21.2/8.71/6.38
//   3 -> 64 at 128: 1.87/3.14/2.06;  4 -> 32 at 64: 0.247/0.322/0.204;  8 -> 32 at 64: 0.443/0.384/0.232
// and two-thread times on the DCSR shapes (32 and 64 channels, batch 4 and
// 1, sides 64, 128, 256; one run, paths alternating), time ratios against
// direct, F(2x2) / F(4x4):
//   batch 4, C=64: side 64 0.46/0.24, 128 0.45/0.32, 256 0.46/0.26
//   batch 4, C=32: side 64 0.96/0.96, 128 0.43/0.43, 256 0.59/0.41
//   batch 1, C=64: side 64 0.51/0.45, 128 0.37/0.34, 256 0.51/0.33
//   batch 1, C=32: side 64 1.06/1.05, 128 0.52/0.52, 256 0.76/0.51
// (shared cores: two-thread times under about 10 ms are mostly one thread
// waiting for the other, 8 ms steps whatever the path, so the small sides
// were fitted on one thread, where F(4x4) takes 0.28-0.34x direct's time at
// side 64). The float32 error against the float64 direct gradient, relative
// to max |dW|, on the same shapes: direct 2.8-6.5e-7, F(2x2) 0.7-1.1e-6,
// F(4x4) 0.45-1.3e-5.
//
// F(6x6, 3x3) was tried (2026-12-05, Zen 5, AVX-512; eight tiles per ymm,
// an 8 x 8 transpose for the stride of 6) and not kept. It was correct (an
// 8K-mode image within 93.6 dB of F(4x4)'s) and needs 21% fewer
// multiplications, but measured slower, one-input times per conv, 2 threads:
// 32 -> 32 at 228x292 1.47-1.48 against 1.22-1.25 ms, at 240x288 (whole
// 48-column groups) 1.32 against 1.16-1.17, at 456x584 5.43-5.50 against
// 5.20-5.30, 64 -> 64 at 256x256 4.22-4.34 against 3.75-3.78. Its multiply
// shrank by a tenth, its transforms doubled: F(4x4)'s sixteen-tile zmm
// transforms need only in-lane 4x4 transposes.
#include "kernels/cpu/winograd_plan.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "kernels/cpu/conv_space_to_depth.h"
#include "kernels/cpu/winograd.h"
#include "runtime/profiler.h"
#include "tensor/error.h"

namespace dcsr::kernels::cpu {

namespace {

std::atomic<int> g_forced{-1};
std::once_flag g_env_once;
int g_env = int(CpuConvPath::kAuto);

}  // namespace

CpuConvPath cpu_conv_path() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return CpuConvPath(forced);
  std::call_once(g_env_once, [] {
    const char* env = std::getenv("DCSR_CPU_CONV");
    if (env && *env) g_env = int(cpu_conv_path_from_name(env));
  });
  return CpuConvPath(g_env);
}

void set_cpu_conv_path(CpuConvPath path) { g_forced.store(int(path), std::memory_order_relaxed); }
void reset_cpu_conv_path() { g_forced.store(-1, std::memory_order_relaxed); }

const char* cpu_conv_path_name(CpuConvPath path) {
  switch (path) {
    case CpuConvPath::kAuto: return "auto";
    case CpuConvPath::kDirect: return "direct";
    case CpuConvPath::kWinograd2: return "winograd2";
    case CpuConvPath::kWinograd4: return "winograd4";
  }
  return "?";
}

CpuConvPath cpu_conv_path_from_name(const std::string& name) {
  for (CpuConvPath p : {CpuConvPath::kAuto, CpuConvPath::kDirect, CpuConvPath::kWinograd2, CpuConvPath::kWinograd4})
    if (name == cpu_conv_path_name(p)) return p;
  DCSR_CHECK(false, "DCSR_CPU_CONV: unknown path '", name, "' (expected auto, direct, winograd2 or winograd4)");
  return CpuConvPath::kAuto;
}

// The tile a forced path (DCSR_CPU_CONV, set_cpu_conv_path) sets: 0 (direct),
// 2 or 4; -1 under auto, where the shape's rule decides.
static int forced_tile() {
  switch (cpu_conv_path()) {
    case CpuConvPath::kDirect: return 0;
    case CpuConvPath::kWinograd2: return 2;
    case CpuConvPath::kWinograd4: return 4;
    case CpuConvPath::kAuto: break;
  }
  return -1;
}

#ifdef DCSR_PACKED_GEMM
// The forward rule where the direct path is the AVX-512 implicit GEMM
// (DCSR_PACKED_GEMM builds), refitted on a 2-core AMD EPYC Zen 5 (AVX-512,
// `dcsr_bench --filter wino_plan`, two threads) after the weight transform
// stopped thrashing L1 (winograd.cpp, pack_weights). The implicit GEMM is
// about twice as fast as im2col, so direct wins more small shapes than on
// AVX2. Times, ms (direct / F(2x2) / F(4x4)), C -> C:
//   C=8:   side 32 0.006/0.008/0.006  side 128 0.048/0.073/0.052
//   C=16:  side 16 0.006/0.008/0.012  side 32  0.016/0.018/0.014  side 128 0.194/0.188/0.130
//   C=32:  side 16 0.021/0.021/0.029  side 32  0.055/0.040/0.032  side 128 0.784/0.467/0.314
//   C=64:  side 8  0.024/0.046/0.086  side 16  0.054/0.047/0.094  side 32  0.178/0.134/0.116
//          side 64 0.788/0.397/0.278  side 128 4.47/1.67/1.08
//   C=128: side 8  0.090/0.187/0.421  side 16  0.199/0.198/0.439  side 32  0.703/0.430/0.475
//          side 64 3.09/1.45/1.10     side 128 10.9/5.84/3.58
// 5x5, refitted with F(4x4,5x5) on a 2-core AMD EPYC Zen 4 (AVX-512 as two
// 256-bit halves), C -> C, one image, ms (direct / F(2x2,5x5) / F(4x4,5x5);
// `dcsr_bench --filter wino_plan_k5` times the same grid):
//   C=3:   side 16 0.005/0.004/0.005  side 32 0.010/0.010/0.007  side 128 0.095/0.089/0.048
//   C=16:  side 8  0.014/0.023/0.032  side 16 0.036/0.032/0.043  side 128 1.94/0.662/0.349
//   C=64:  side 8  0.155/0.254/0.492  side 16 0.608/0.345/0.504  side 32 1.29/0.642/0.549
//          side 128 16.1/7.39/3.78
//   C=128: side 16 2.22/1.23/1.94     side 32 5.05/2.32/2.00     side 128 64.6/25.7/13.2
//   the model's 64 -> 32 at 332 x 332: 53.5/28.4/16.0
// F(4x4,5x5) from side 32 at every C measured (3 to 128), F(2x2,5x5) at side
// 16 from 16 channels, direct below. (Zen 5 had measured C=3 and C=8 direct
// at every side against F(2x2,5x5); F(4x4,5x5) was not timed there.)
static int packed_gemm_tile_for(const ConvShape& s) {
  const int64_t side = std::min(s.Ho, s.Wo), channels = std::max(s.Cin, s.Cout);
  if (winograd_5x5_applies(s)) return side >= 32 ? kF4x5 : side >= 16 && s.Cin >= 16 ? kF2x5 : 0;
  if (channels <= 8 || side < 16) return 0;
  if (side < 32) return channels >= 64 ? 2 : 0;
  if (side < 64 && channels > 64) return 2;
  return 4;
}
#endif

int winograd_tile_for(const ConvShape& s) {
#ifdef DCSR_PACKED_GEMM
  if ((winograd_5x5_applies(s) || winograd_applies(s)) && cpu_conv_path() == CpuConvPath::kAuto)
    return packed_gemm_tile_for(s);
#endif
  if (winograd_5x5_applies(s)) {
    // F(2x2, 5x5), or F(4x4, 5x5) where DCSR_CPU_CONV=winograd4 forces it;
    // forced direct takes neither.
    // Under auto, everywhere but small outputs with many channels, where the
    // weight transform dominates. Measured (`dcsr_bench --filter
    // wino_plan_k5`, C -> C, 2-core Zen 3, AVX2): 3-4x faster than direct from
    // side 16 up at every C from 3 to 128 (128 at 128^2: 37 vs 133 ms), and
    // at side 8 for C <= 16; slower at side 8 for C >= 32 (128: 1.36 vs 0.71 ms).
    if (const int forced = forced_tile(); forced >= 0) return forced == 0 ? 0 : forced == 2 ? kF2x5 : kF4x5;
    return std::min(s.Ho, s.Wo) >= 16 || s.Cin < 32 ? kF2x5 : 0;
  }
  if (!winograd_applies(s)) return 0;
  if (const int forced = forced_tile(); forced >= 0) return forced;
  const int64_t side = std::min(s.Ho, s.Wo);
  if (side >= 64 || (side >= 32 && std::max(s.Cin, s.Cout) <= 32)) return 4;
  if (side < 16 && s.Cin * s.Cout >= 128 * 128) return 0;
  return 2;
}

int space_to_depth_tile_for(const ConvShape& s) {
  if (!space_to_depth_applies(s)) return 0;
  if (const int forced = forced_tile(); forced >= 0) return forced;
  // Under auto: F(4x4, 3x3) on the phases from 32 channels and a 64-pixel
  // output side. Measured on a 2-core Zen 4 against the implicit GEMM (one
  // image, C -> C, ms, direct / phases with F(2x2) / with F(4x4), by output
  // side; `dcsr_bench --filter wino_plan_k5s2` times such a grid by input side):
  //   C=16:  side 32  0.108/0.186/0.173  side 128 1.22/1.86/1.38
  //   C=32:  side 32  0.383/0.447/0.456  side 64  1.44/1.34/1.03   side 128 4.86/5.21/3.98
  //   C=64:  side 16  0.538/0.674/1.22   side 32  1.34/1.34/1.43   side 64  4.66/4.13/3.14
  //          side 128 17.3/15.3/11.0
  //   C=128: side 32  5.72/4.81/5.12     side 64  21.3/14.5/12.0   side 128 74.3/50.3/36.2
  //   the model's 64 -> 32 from 332 x 332: 16.5/20.0/13.2
  // (The im2col direct path of builds without the implicit GEMM is slower
  // still; the same rule is kept there, unmeasured.)
  return s.Cin >= 32 && std::min(s.Ho, s.Wo) >= 64 ? 4 : 0;
}

int winograd_weight_tile_for(const ConvShape& s) {
  if (!winograd_applies(s)) return 0;
  if (const int forced = forced_tile(); forced >= 0) return forced;
  const int64_t side = std::min(s.Ho, s.Wo);
  if (side < 12 || s.Cin < 8) return 0;
  return side >= 64 ? 4 : 2;
}

// "winograd4/avx512", "winograd2x5/avx2", ...: variant m on the current ISA.
static std::string winograd_path_name(int m) {
  const std::string name = m == kF2x5 ? "winograd2x5" : m == kF4x5 ? "winograd4x5" : "winograd" + std::to_string(m);
  return name + "/" + isa_name(cpu_isa());
}

// "phases+winograd4/avx512": a 5x5 stride-2 conv through its pixel phases and variant m.
static std::string phases_path_name(int m) { return "phases+" + winograd_path_name(m); }

// Notes variant m as the running kernel's path when profiling by shape (runtime/profiler.h).
static void note_winograd_path(int m) {
  if (runtime::kernel_profile_shapes()) runtime::note_kernel_path(winograd_path_name(m));
}

bool winograd_backward_weight_planned(const ConvShape& s, const float* gy, const float* x, float* gw, int64_t limit) {
  const int m = winograd_weight_tile_for(s);
  if (m <= 0 || !winograd_backward_weight(s, gy, x, gw, limit, m, cpu_isa())) return false;
  note_winograd_path(m);
  return true;
}

bool winograd_forward_planned(const ConvShape& s, const float* x, const float* w, const float* b, float* y,
                              int64_t limit, const Epilogue& epilogue, const SecondInput* second) {
  if (const int phases = space_to_depth_tile_for(s); phases > 0) {
    if (!space_to_depth_forward(s, x, w, b, y, limit, epilogue, phases, cpu_isa(), second)) return false;
    if (runtime::kernel_profile_shapes()) runtime::note_kernel_path(phases_path_name(phases));
    return true;
  }
  const int m = winograd_tile_for(s);
  if (m <= 0 || !winograd_forward(s, x, w, b, y, limit, epilogue, m, cpu_isa(), nullptr, second)) return false;
  note_winograd_path(m);
  return true;
}

std::string conv_forward_path(const ConvShape& s) {
  if (const int phases = space_to_depth_tile_for(s); phases > 0) return phases_path_name(phases);
  const int m = winograd_tile_for(s);
  if (m > 0) return winograd_path_name(m);
#ifdef DCSR_PACKED_GEMM
  if (cpu_isa() == CpuIsa::kAvx512) return "direct/avx512-implicit-gemm";  // as forward_gemm chooses
#endif
  return "direct/im2col-gemm";
}

}  // namespace dcsr::kernels::cpu
