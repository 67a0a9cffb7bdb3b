// The CPU backend's run-time paths, and a few of its kernels below the op
// level, for the code outside kernels/ that checks or times them
// (tests/test_winograd.cpp, the vector exp test of tests/test_ops_dcsr_losses.cpp,
// apps/bench/bench_conv.cpp):
//   - the instruction-set level the kernels run (DCSR_CPU_ISA; kernels/cpu/isa.h);
//   - the exact int16 matching's counters (kernels/cpu/max_cosine_int16.h);
//   - the path a float32 convolution takes, direct or Winograd, and the plan's
//     rule (DCSR_CPU_CONV; kernels/cpu/winograd_plan.h);
//   - the Winograd forward under a given scratch limit (kernels/cpu/winograd.h);
//   - the raw float32 GEMM and the AVX-512 packed GEMM, the conv bench's
//     baselines (kernels/cpu/cpu_gemm.h, kernels/cpu/packed_gemm.h);
//   - the SIMD exp of the contextual loss (kernels/cpu/vec_exp.h);
//   - the kernels' parallel loop over jobs (kernels/cpu/parallel_jobs.h).
// The kernels/cpu/ headers stay private to kernels/ (a ctest checks that
// nothing else includes them): this header mirrors the types it needs (same
// enumerators, same fields) and kernels/cpu_paths.cpp forwards every call.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace dcsr::kernels::cpu_paths {

// ---- the instruction-set level (narrowest first) ----
//   kGeneric: plain C++; kAvx2: AVX2 + FMA (256-bit); kAvx512: AVX-512F (512-bit).
enum class CpuIsa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// What the CPU (and the OS, which must save the wider registers) supports.
struct CpuFeatures {
  bool avx2_fma = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;  // vpdpwssd: the int16 matching's 512-bit sweep
  bool amx = false;
  std::string model;    // the cpuid brand string, e.g. "AMD EPYC 9B14"
  std::string summary;  // the flags present, e.g. "avx2+fma avx512f"
};

CpuFeatures cpu_features();  // detected once, on first use
std::string cpu_model();     // cpu_features().model, for bench lines
bool isa_supported(CpuIsa isa);
CpuIsa best_isa();  // the widest supported level
// The level the kernels use now: set_cpu_isa's, else DCSR_CPU_ISA's, else
// best_isa(). Setting a level the CPU lacks is an Error naming it.
CpuIsa cpu_isa();
void set_cpu_isa(CpuIsa isa);
void reset_cpu_isa();                            // back to DCSR_CPU_ISA / best_isa()
const char* isa_name(CpuIsa isa);                // "generic", "avx2", "avx512"
CpuIsa isa_from_name(const std::string& name);  // the inverse; an Error names a bad name

// ---- the exact int16 matching of float32 max_cosine (kernels/cpu/max_cosine_int16.h) ----
// Taken at the AVX2 level and at the AVX-512 level where the CPU has VNNI
// (without it, AVX-512's float32 sweep is as fast) unless
// DCSR_CPU_MATCH=float32 (or DCSR_CPU_ISA=generic) keeps the float32 sweep; both give bit-identical values and indices.
// set_int16_match_allowed overrides DCSR_CPU_MATCH until the reset. Counts
// since the last reset, summed over calls and images.
bool int16_match_allowed();
void set_int16_match_allowed(bool allowed);
void reset_int16_match_allowed();
struct Int16MatchStats {
  int64_t queries = 0;    // matched through the int16 sweep
  int64_t rescored = 0;   // candidate pairs re-scored in float32
  int64_t fallbacks = 0;  // queries handed to the float32 sweep (candidate list overflowed)
  int64_t declined = 0;   // images the path declined (workspace, non-finite input, int32 range)
};
Int16MatchStats int16_match_stats();
void reset_int16_match_stats();
// The sweep the int16 matching takes now ("avx2", "avx512_vnni"), or
// nullptr where it declines (generic level, AVX-512 without VNNI,
// DCSR_CPU_MATCH=float32).
const char* int16_match_sweep();
// The vector width the float32 matching sweeps (max_cosine's, the map
// sweep's) were compiled for: "avx512", "avx2" or "generic". They are chosen
// at build time, not by cpu_isa(): DCSR_CPU_ISA does not change them.
const char* float32_sweep_width();
// ---- the map sweep of float32 patch matching (kernels/cpu/max_cosine_patches.h) ----
// patch_match (descriptors with their feature maps) tries it first, on every
// ISA level, unless DCSR_CPU_MATCH is int16 or float32; the values and
// indices are bit-identical to the float32 sweep's. set_patch_match_allowed
// overrides DCSR_CPU_MATCH until the reset. Counts as for the int16 path
// (fallbacks: overflowed lists), and zero_queries (counted in queries too).
bool patch_match_allowed();
void set_patch_match_allowed(bool allowed);
void reset_patch_match_allowed();
struct PatchMatchStats : Int16MatchStats {
  int64_t zero_queries = 0;  // queries of zero patches (counted in queries too), answered (+0, key 0) without a sweep
};
PatchMatchStats patch_match_stats();
void reset_patch_match_stats();
// The map sweep's pixel products: int16 pairs through AVX512_VNNI where the
// ISA level in use is AVX-512 and the CPU has VNNI, for 1 to 32 channels
// (kernels/cpu/max_cosine_patches_int16.h), else float32; the same values and
// indices either way. set_patch_int16_products_allowed(false) keeps them in
// float32 until the reset. The name of those a `channels`-channel map takes now
// ("int16_vnni" or "float32").
bool patch_int16_products_available(int64_t channels);
void set_patch_int16_products_allowed(bool allowed);
void reset_patch_int16_products_allowed();
const char* patch_products_name(int64_t channels);

// ---- the path of a float32 convolution ----
enum class CpuConvPath { kAuto, kDirect, kWinograd2, kWinograd4 };

CpuConvPath cpu_conv_path();
void set_cpu_conv_path(CpuConvPath path);  // forces a path wherever Winograd applies
void reset_cpu_conv_path();                // back to DCSR_CPU_CONV / auto
const char* cpu_conv_path_name(CpuConvPath path);              // "auto", "direct", "winograd2", "winograd4"
CpuConvPath cpu_conv_path_from_name(const std::string& name);  // the inverse; an Error names a bad name

// A convolution's geometry: x (N, Cin, H, W), weight (Cout, Cin / groups, k, k),
// y (N, Cout, Ho, Wo).
struct ConvShape {
  int64_t N, Cin, H, W, Cout, k, stride, pad, groups, Ho, Wo;
};

// The Winograd variant the plan picks for a float32 forward conv of shape s
// under the current path setting: 4 or 2 (F(m x m, 3x3)), 5 (F(2x2, 5x5)),
// 0 (direct).
int winograd_tile_for(const ConvShape& s);

// The path a float32 forward conv of shape s takes now, for bench lines:
// "winograd4/avx2", "direct/avx512-implicit-gemm", "direct/im2col-gemm", ...
std::string conv_forward_path(const ConvShape& s);

// y (N, Cout, Ho, Wo) = conv(x, w) + b through Winograd on `isa`'s path:
// F(m x m, 3x3), m = 2 or 4, for a 3x3 stride-1 dense float32 conv, or
// F(2x2, 5x5), m = 5, for a 5x5 one (b may be null; no epilogue). Returns
// false, having done nothing, when its scratch does not fit `limit` bytes.
bool winograd_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                      int m, CpuIsa isa);

// ---- float32 GEMMs below the op level (the conv bench's baselines) ----

// C (M x N, row stride ldc) = A (M x K, row stride lda) B (K x N, row stride
// ldb), row-major: the raw GEMM the CPU kernels call on sub-blocks (Eigen;
// Eigen's threads outside a parallel region, one thread inside one).
void gemm_f32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N,
              int64_t K);

// The AVX-512 packed GEMM of the direct conv, compiled only where the build
// targets AVX-512; the four functions below are Errors where it is not.
bool packed_gemm_built();
int64_t packed_a_floats(int64_t M, int64_t K);  // floats in A packed into row panels
int64_t packed_b_floats(int64_t N, int64_t K);  // floats in B packed into column panels
void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed);  // A (M x K), row stride lda
void pack_b(const float* b, int64_t ldb, int64_t K, int64_t N, float* packed);  // B (K x N), row stride ldb
// C (M x N, row stride ldc) = A B from packed operands; one thread (callers
// split N: columns [n0, n0 + n) of B start at packed_b + n0 * K, n0 a multiple
// of the panel width 48).
void packed_gemm(int64_t M, int64_t N, int64_t K, const float* packed_a, const float* packed_b, float* c, int64_t ldc);

// ---- the SIMD exp of the contextual loss (float, double) ----

// Values in one SIMD vector of T in this build.
template <typename T>
int vector_lanes();
// [lo, hi]: below lo e^x rounds to 0, above hi it overflows (inputs are clamped there).
template <typename T>
std::pair<T, T> vector_exp_range();
// out[i] = e^in[i] for i < n, a vector at a time.
template <typename T>
void vector_exp(const T* in, T* out, int64_t n);

// ---- the parallel loop over jobs (kernels/cpu/parallel_jobs.h) ----

// fn(job, slot) for every job in [0, jobs) on `workers` threads: each thread
// its own contiguous range first, then the untaken jobs of the others' (or,
// with `fixed`, exactly its own range).
void run_jobs(int64_t jobs, int workers, const std::function<void(int64_t, int)>& fn, bool fixed);

}  // namespace dcsr::kernels::cpu_paths
