// kernels/cpu_paths.h: each call forwarded to the CPU backend's own (private)
// headers, its types converted one to one.
#include "kernels/cpu_paths.h"

#include <algorithm>

#include "kernels/cpu/cpu_gemm.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/max_cosine_int16.h"
#include "kernels/cpu/max_cosine_patches.h"
#include "kernels/cpu/max_cosine_patches_int16.h"
#include "kernels/cpu/packed_gemm.h"
#include "kernels/cpu/parallel_jobs.h"
#include "kernels/cpu/vec_exp.h"
#include "kernels/cpu/winograd.h"
#include "kernels/cpu/winograd_plan.h"
#include "tensor/error.h"

namespace dcsr::kernels::cpu_paths {

namespace {

static_assert(int(CpuIsa::kGeneric) == int(cpu::CpuIsa::kGeneric) && int(CpuIsa::kAvx2) == int(cpu::CpuIsa::kAvx2) &&
                  int(CpuIsa::kAvx512) == int(cpu::CpuIsa::kAvx512),
              "cpu_paths::CpuIsa mirrors cpu::CpuIsa");
static_assert(int(CpuConvPath::kAuto) == int(cpu::CpuConvPath::kAuto) &&
                  int(CpuConvPath::kDirect) == int(cpu::CpuConvPath::kDirect) &&
                  int(CpuConvPath::kWinograd2) == int(cpu::CpuConvPath::kWinograd2) &&
                  int(CpuConvPath::kWinograd4) == int(cpu::CpuConvPath::kWinograd4),
              "cpu_paths::CpuConvPath mirrors cpu::CpuConvPath");

cpu::CpuIsa to_cpu(CpuIsa isa) { return static_cast<cpu::CpuIsa>(isa); }
CpuIsa from_cpu(cpu::CpuIsa isa) { return static_cast<CpuIsa>(isa); }
cpu::CpuConvPath to_cpu(CpuConvPath path) { return static_cast<cpu::CpuConvPath>(path); }
CpuConvPath from_cpu(cpu::CpuConvPath path) { return static_cast<CpuConvPath>(path); }
cpu::ConvShape to_cpu(const ConvShape& s) {
  return {s.N, s.Cin, s.H, s.W, s.Cout, s.k, s.stride, s.pad, s.groups, s.Ho, s.Wo};
}

}  // namespace

CpuFeatures cpu_features() {
  const cpu::CpuFeatures& f = cpu::cpu_features();
  return {f.avx2_fma, f.avx512f, f.avx512_bf16, f.avx512_vnni, f.amx, f.model, f.summary()};
}
std::string cpu_model() { return cpu::cpu_model(); }
bool isa_supported(CpuIsa isa) { return cpu::isa_supported(to_cpu(isa)); }
CpuIsa best_isa() { return from_cpu(cpu::best_isa()); }
CpuIsa cpu_isa() { return from_cpu(cpu::cpu_isa()); }
void set_cpu_isa(CpuIsa isa) { cpu::set_cpu_isa(to_cpu(isa)); }
void reset_cpu_isa() { cpu::reset_cpu_isa(); }
const char* isa_name(CpuIsa isa) { return cpu::isa_name(to_cpu(isa)); }
CpuIsa isa_from_name(const std::string& name) { return from_cpu(cpu::isa_from_name(name)); }

Int16MatchStats int16_match_stats() {
  const cpu::Int16MatchStats s = cpu::int16_match_stats();
  return {s.queries, s.rescored, s.fallbacks, s.declined};
}
void reset_int16_match_stats() { cpu::reset_int16_match_stats(); }
bool int16_match_allowed() { return cpu::int16_match_allowed(); }
void set_int16_match_allowed(bool allowed) { cpu::set_int16_match_allowed(allowed); }
void reset_int16_match_allowed() { cpu::reset_int16_match_allowed(); }
const char* int16_match_sweep() { return cpu::int16_match_sweep(); }

const char* float32_sweep_width() {
#if defined(__AVX512F__)
  return "avx512";  // as kernels/cpu/dot_sweep.h and max_cosine_patches.cpp choose
#elif defined(__AVX2__)
  return "avx2";
#else
  return "generic";
#endif
}

bool patch_match_allowed() { return cpu::patch_match_allowed(); }
void set_patch_match_allowed(bool allowed) { cpu::set_patch_match_allowed(allowed); }
void reset_patch_match_allowed() { cpu::reset_patch_match_allowed(); }
PatchMatchStats patch_match_stats() {
  const cpu::PatchMatchStats s = cpu::patch_match_stats();
  return {{s.queries, s.rescored, s.fallbacks, s.declined}, s.zero_queries};
}
void reset_patch_match_stats() { cpu::reset_patch_match_stats(); }
bool patch_int16_products_available(int64_t channels) { return cpu::int16_products_available(channels); }
void set_patch_int16_products_allowed(bool allowed) { cpu::set_int16_products_allowed(allowed); }
void reset_patch_int16_products_allowed() { cpu::reset_int16_products_allowed(); }
const char* patch_products_name(int64_t channels) {
  return cpu::int16_products_available(channels) ? "int16_vnni" : "float32";
}

CpuConvPath cpu_conv_path() { return from_cpu(cpu::cpu_conv_path()); }
void set_cpu_conv_path(CpuConvPath path) { cpu::set_cpu_conv_path(to_cpu(path)); }
void reset_cpu_conv_path() { cpu::reset_cpu_conv_path(); }
const char* cpu_conv_path_name(CpuConvPath path) { return cpu::cpu_conv_path_name(to_cpu(path)); }
CpuConvPath cpu_conv_path_from_name(const std::string& name) { return from_cpu(cpu::cpu_conv_path_from_name(name)); }

int winograd_tile_for(const ConvShape& s) { return cpu::winograd_tile_for(to_cpu(s)); }
std::string conv_forward_path(const ConvShape& s) { return cpu::conv_forward_path(to_cpu(s)); }

bool winograd_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y, int64_t limit,
                      int m, CpuIsa isa) {
  return cpu::winograd_forward(to_cpu(s), x, w, b, y, limit, cpu::Epilogue{}, m, to_cpu(isa));
}

void gemm_f32(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N,
              int64_t K) {
  cpu::gemm_raw<float>(a, lda, b, ldb, c, ldc, M, N, K, false, false, 1.f, 0.f);
}

#ifdef DCSR_PACKED_GEMM
bool packed_gemm_built() { return true; }
int64_t packed_a_floats(int64_t M, int64_t K) { return cpu::packed::a_size(M, K); }
int64_t packed_b_floats(int64_t N, int64_t K) { return cpu::packed::b_size(N, K); }
void pack_a(const float* a, int64_t lda, int64_t M, int64_t K, float* packed) {
  cpu::packed::pack_a(a, lda, M, K, false, packed);
}
void pack_b(const float* b, int64_t ldb, int64_t K, int64_t N, float* packed) {
  cpu::packed::pack_b(b, ldb, K, N, packed);
}
void packed_gemm(int64_t M, int64_t N, int64_t K, const float* packed_a, const float* packed_b, float* c, int64_t ldc) {
  cpu::packed::gemm(M, N, K, packed_a, packed_b, c, ldc, false, nullptr);
}
#else
namespace {
[[noreturn]] void no_packed_gemm(const char* what) {
  fail("cpu_paths::", what, ": the packed GEMM is compiled only where the build targets AVX-512 (not this build)");
}
}  // namespace
bool packed_gemm_built() { return false; }
int64_t packed_a_floats(int64_t, int64_t) { no_packed_gemm("packed_a_floats"); }
int64_t packed_b_floats(int64_t, int64_t) { no_packed_gemm("packed_b_floats"); }
void pack_a(const float*, int64_t, int64_t, int64_t, float*) { no_packed_gemm("pack_a"); }
void pack_b(const float*, int64_t, int64_t, int64_t, float*) { no_packed_gemm("pack_b"); }
void packed_gemm(int64_t, int64_t, int64_t, const float*, const float*, float*, int64_t) {
  no_packed_gemm("packed_gemm");
}
#endif

template <typename T>
int vector_lanes() {
  return cpu::dot::kLanes<T>;
}

template <typename T>
std::pair<T, T> vector_exp_range() {
  return {cpu::dot::ExpConstants<T>::lo, cpu::dot::ExpConstants<T>::hi};
}

template <typename T>
void vector_exp(const T* in, T* out, int64_t n) {
  using namespace cpu::dot;
  constexpr int L = kLanes<T>;
  alignas(64) T lane_in[L], lane_out[L];  // load and store want vector-aligned memory
  for (int64_t i = 0; i < n; i += L) {
    const int64_t count = std::min<int64_t>(L, n - i);
    std::fill(lane_in, lane_in + L, T(0));
    std::copy(in + i, in + i + count, lane_in);
    store(lane_out, vexp<T>(load(lane_in)));
    std::copy(lane_out, lane_out + count, out + i);
  }
}

template int vector_lanes<float>();
template int vector_lanes<double>();
template std::pair<float, float> vector_exp_range<float>();
template std::pair<double, double> vector_exp_range<double>();
template void vector_exp<float>(const float*, float*, int64_t);
template void vector_exp<double>(const double*, double*, int64_t);

void run_jobs(int64_t jobs, int workers, const std::function<void(int64_t, int)>& fn, bool fixed) {
  cpu::run_jobs(jobs, workers, fn, fixed);
}

}  // namespace dcsr::kernels::cpu_paths
