// Run-time ISA detection (isa.h): cpuid leaves 1 and 7 for the instruction
// sets, XGETBV for whether the OS saves the registers they need, and leaves
// 0x80000002..4 for the brand string.
#include "kernels/cpu/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "tensor/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DCSR_X86 1
#endif

namespace dcsr::kernels::cpu {

namespace {

#ifdef DCSR_X86
// XCR0: which register states the OS saves on a context switch.
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

std::string brand_string() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000004u) return "unknown x86-64 CPU";
  char text[49] = {};
  for (unsigned leaf = 0; leaf < 3; ++leaf) {
    __get_cpuid(0x80000002u + leaf, &a, &b, &c, &d);
    const unsigned regs[4] = {a, b, c, d};
    std::memcpy(text + 16 * leaf, regs, 16);
  }
  std::string s(text);
  const auto first = s.find_first_not_of(' '), last = s.find_last_not_of(' ');
  return first == std::string::npos ? "unknown x86-64 CPU" : s.substr(first, last - first + 1);
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef DCSR_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  f.model = brand_string();
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr = xcr0();
  const bool os_ymm = (xcr & 0x6) == 0x6;                 // SSE and AVX state
  const bool os_zmm = os_ymm && (xcr & 0xe0) == 0xe0;     // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr & 0x60000) == 0x60000;         // XTILECFG, XTILEDATA
  unsigned max_leaf = 0;
  __get_cpuid(0, &max_leaf, &b, &c, &d);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512bw = b & (1u << 30);
  const bool avx512_vnni = c & (1u << 11);
  const bool amx_bf16 = d & (1u << 22), amx_tile = d & (1u << 24), amx_int8 = d & (1u << 25);
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);
  f.avx2_fma = os_ymm && avx2 && fma;
  f.avx512f = os_zmm && avx512f && f.avx2_fma;
  f.avx512_bf16 = f.avx512f && (a1 & (1u << 5));
  f.avx512_vnni = f.avx512f && avx512bw && avx512_vnni;
  f.amx = os_amx && amx_tile && amx_bf16 && amx_int8;
#else
  f.model = "non-x86 CPU";
#endif
  return f;
}

std::atomic<int> g_forced{-1};  // set_cpu_isa's level, or -1
std::once_flag g_env_once;
int g_env = -1;                  // DCSR_CPU_ISA's level, or -1 (unset or "auto")

void check_supported(CpuIsa isa, const char* by) {
  DCSR_CHECK(isa_supported(isa), by, ": this CPU (", cpu_model(), ", ", cpu_features().summary(),
             ") cannot run the ", isa_name(isa), " path");
}

}  // namespace

std::string CpuFeatures::summary() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += '+';
    s += name;
  };
  add(avx2_fma, "avx2,fma");
  add(avx512f, "avx512f");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(amx, "amx");
  return s.empty() ? "no avx2" : s;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const std::string& cpu_model() { return cpu_features().model; }

bool isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kGeneric: return true;
    case CpuIsa::kAvx2: return cpu_features().avx2_fma;
    case CpuIsa::kAvx512: return cpu_features().avx512f;
  }
  return false;
}

CpuIsa best_isa() {
  if (isa_supported(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (isa_supported(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kGeneric;
}

CpuIsa cpu_isa() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  if (forced >= 0) return CpuIsa(forced);
  std::call_once(g_env_once, [] {
    const char* env = std::getenv("DCSR_CPU_ISA");
    if (!env || !*env || std::string(env) == "auto") return;
    const CpuIsa isa = isa_from_name(env);
    check_supported(isa, "DCSR_CPU_ISA");
    g_env = int(isa);
  });
  return g_env >= 0 ? CpuIsa(g_env) : best_isa();
}

void set_cpu_isa(CpuIsa isa) {
  check_supported(isa, "set_cpu_isa");
  g_forced.store(int(isa), std::memory_order_relaxed);
}

void reset_cpu_isa() { g_forced.store(-1, std::memory_order_relaxed); }

const char* isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kGeneric: return "generic";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

CpuIsa isa_from_name(const std::string& name) {
  for (CpuIsa isa : {CpuIsa::kGeneric, CpuIsa::kAvx2, CpuIsa::kAvx512})
    if (name == isa_name(isa)) return isa;
  DCSR_CHECK(false, "DCSR_CPU_ISA: unknown ISA '", name, "' (expected generic, avx2, avx512 or auto)");
  return CpuIsa::kGeneric;
}

}  // namespace dcsr::kernels::cpu
