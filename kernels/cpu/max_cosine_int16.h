// Exact patch matching through a reduced-precision score sweep (dcsr-spec
// §4.1; kernels/cpu/max_cosine_int16.cpp): the max and FIRST argmax over keys
// of every query's dot products, bit-identical to the float32 sweep of
// max_cosine.cpp, in about two thirds of its time on AVX2 (Zen 3) and
// AVX-512 with VNNI (Zen 5).
//
//   1. Every column is rounded to int16 at its own scale; the sweep computes
//      all int16 dot products exactly (int32 sums) and scales them back: an
//      approximate score a(i, j) per pair.
//   2. A proven bound T_i says how far a(i, j) can lie from the float32
//      kernel's value f(i, j), for any key. Every key whose approximate score
//      is within T_i of the query's best approximate score is a candidate;
//      the float32 argmax is always one (max_cosine_int16.cpp proves it).
//   3. The candidates (a few per query) are re-scored with the float32
//      kernel's own chain, acc += k[d] * q[d] for d = 0..D-1, and the first
//      strict maximum in key order wins: the same value and index as the
//      float32 kernel, near-ties included.
//   4. A query whose candidates overflow the list (flat regions, where
//      hundreds of keys tie within the bound) is matched by the float32
//      sweep itself.
#pragma once
#include <cstdint>
#include <functional>

namespace dcsr::kernels::cpu {

// The float32 matching paths DCSR_CPU_MATCH allows (read once; the results
// are the same on every path, the variable is for profiling them): auto (or
// unset) all of them, the map sweep of max_cosine_patches.h first; int16 this
// file's sweep and the float32 one; float32 only the float32 sweep. An
// unknown value is an Error that names it.
enum class CpuMatchPath { kAuto, kInt16, kFloat32 };
CpuMatchPath cpu_match_path();

// Whether float32 matching may take the int16 path (DCSR_CPU_MATCH auto or
// int16). set_int16_match_allowed overrides the variable until
// reset_int16_match_allowed.
bool int16_match_allowed();
void set_int16_match_allowed(bool allowed);
void reset_int16_match_allowed();

// Counts of the last exact_match_int16 calls since the last reset, for the
// bench lines (every value summed over images and calls).
struct Int16MatchStats {
  int64_t queries = 0;     // queries matched through the int16 sweep
  int64_t rescored = 0;    // candidate pairs re-scored in float32
  int64_t fallbacks = 0;   // queries handed to the float32 sweep (too many candidates)
  int64_t declined = 0;    // images the path declined (see exact_match_int16)
};
Int16MatchStats int16_match_stats();
void reset_int16_match_stats();

// The float32 sweep of max_cosine.cpp over `nq` query columns of `q` (D rows,
// row stride ldq) against all keys: conf[i], index[i] for i < nq.
using Float32Match = std::function<void(const float* q, int64_t ldq, int64_t nq, float* conf, int64_t* index)>;

// One image: q (D, Nq) and k (D, Nk), row-major, columns are the vectors.
// Writes conf[Nq] and index[Nq] and returns true; or returns false, having
// written nothing, where the path does not apply: it is not allowed
// (DCSR_CPU_MATCH=float32), the ISA level has no int16 sweep (generic, or
// AVX-512 without VNNI, whose 512-bit float32 sweep is as fast:
// max_cosine_int16.cpp), an input is not finite,
// the int32 sums could overflow, or the packed operands and the per-thread
// lists would exceed `workspace_bytes`.
bool exact_match_int16(const float* q, const float* k, int64_t D, int64_t Nq, int64_t Nk, float* conf,
                       int64_t* index, int64_t workspace_bytes, const Float32Match& float32_match);

// The int16 sweep exact_match_int16 takes at the current ISA level ("avx2",
// "avx512_vnni"), or nullptr where it declines every input (bench lines).
const char* int16_match_sweep();

}  // namespace dcsr::kernels::cpu
