// Run-time detection of the CPU's vector instruction sets, so that one binary
// runs on every x86-64 machine and takes the widest path each one offers
// (the machines differ from day to day: AVX2-only EPYCs, Zen 5 with AVX-512,
// Xeons with AVX-512 + AMX). Kernels with ISA-specific paths compile them in
// functions marked __attribute__((target(...))) and choose one with cpu_isa().
//
// The path can be forced for tests and comparisons: DCSR_CPU_ISA=generic,
// avx2, avx512 or auto (unset: auto = the widest available), or set_cpu_isa().
// Forcing a path the CPU lacks is an Error that names it (never a SIGILL).
//
// GCC gives a lambda none of its enclosing function's target: a lambda in
// such a function carries the attribute itself (`[&](...) TARGET { ... }`) or
// is a function of its own. Where the compiler's default ISA is narrower
// (-march=native on an AVX2-only machine, or DCSR_NATIVE=OFF), the
// intrinsics would not inline into it and the build fails; on an AVX-512
// machine nothing shows it.
#pragma once
#include <string>

namespace dcsr::kernels::cpu {

// The instruction-set levels our kernels have paths for, narrowest first.
//   kGeneric: plain C++ (whatever the compiler's flags allow);
//   kAvx2:    AVX2 + FMA (256-bit);
//   kAvx512:  AVX-512F (512-bit), besides AVX2 + FMA.
enum class CpuIsa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// What the CPU (and the OS, which must save the wider registers) supports.
struct CpuFeatures {
  bool avx2_fma = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false; // AVX512_VNNI (with AVX512BW): vpdpwssd, int16 pairs multiplied and added into int32
  bool amx = false;         // AMX tiles with bf16 and int8 (the OS must still grant them per process)
  std::string model;        // the cpuid brand string, e.g. "AMD EPYC 9B14"
  std::string summary() const;  // e.g. "avx2+fma avx512f" (the flags that are present)
};

// Detected once, on first use.
const CpuFeatures& cpu_features();

// The CPU's brand string (cpu_features().model), for bench lines.
const std::string& cpu_model();

// Whether the CPU can run `isa`'s paths.
bool isa_supported(CpuIsa isa);

// The widest supported level.
CpuIsa best_isa();

// The level kernels use now: set_cpu_isa's, else DCSR_CPU_ISA's (read on
// first use), else best_isa(). Both overrides are Errors when the CPU lacks
// the level (naming it and the CPU).
CpuIsa cpu_isa();
void set_cpu_isa(CpuIsa isa);
void reset_cpu_isa();  // back to DCSR_CPU_ISA / best_isa()

const char* isa_name(CpuIsa isa);                // "generic", "avx2", "avx512"
CpuIsa isa_from_name(const std::string& name);  // the inverse; an Error names a bad name

}  // namespace dcsr::kernels::cpu
