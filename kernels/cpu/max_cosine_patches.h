// Exact patch matching straight from the feature maps (dcsr-spec §4.1;
// kernels/cpu/max_cosine_patches.cpp): the max and FIRST argmax over keys
// of every query's cosine, bit-identical to the float32 sweep of
// max_cosine.cpp over the descriptors, in about half the int16 sweep's time.
//
// A descriptor is the 3x3 window of a C-channel map (reflection padding 1),
// L2-normalised: D = 9C. The dot product of query patch (y, x) with key patch
// (v, u) is therefore a sum of nine C-channel products of single pixels,
//   dot = sum over a, b in 0..2 of P[y + a, v + a](x + b, u + b),
//   P[Y, V](X, U) = Fq(:, Y, X) . Fk(:, V, U)   (padded coordinates),
// and each pixel product is shared by the nine pairs of patches that contain
// both pixels at the same offset. Along a diagonal v - y = d the products of
// consecutive row pairs are reused by three patch rows, and inside a row by
// three columns: about C multiply-adds per pair of patches instead of 9C.
//
//   1. The approximate score a(i, j) = (that sum, in float32) times the
//      reciprocals of the two patch norms (computed in double). Where the CPU
//      has AVX512_VNNI the pixel products are int16 ones, summed exactly
//      (max_cosine_patches_int16.h): a looser bound, a faster sweep.
//   2. A proven bound E_i on |a(i, j) - f(i, j)|, f the float32 kernel's value
//      (max_cosine_patches.cpp): every key within 2 E_i of the query's best
//      approximate score is a candidate, and the float32 argmax is one.
//   3. The candidates are re-scored with the float32 kernel's own chain and
//      the first strict maximum in key order wins (match_candidates.h).
//   4. Queries whose candidates overflow their list are matched by the
//      float32 sweep itself. A query patch of zeros scores +0 against every
//      key there, so its answer is (+0, key 0) without one (match_zero_query).
#pragma once
#include <cstdint>

#include "kernels/cpu/max_cosine_int16.h"

namespace dcsr::kernels::cpu {

// One image's feature maps, row-major (C, H, W) each.
struct PatchMaps {
  const float* query = nullptr;  // (C, Hq, Wq)
  const float* key = nullptr;    // (C, Hk, Wk)
  int64_t C = 0, Hq = 0, Wq = 0, Hk = 0, Wk = 0;
};

// Whether float32 matching may take this path: DCSR_CPU_MATCH=auto (or
// unset); =int16 and =float32 keep it off (cpu_match_path(),
// max_cosine_int16.h). set_patch_match_allowed overrides that until reset.
bool patch_match_allowed();
void set_patch_match_allowed(bool allowed);
void reset_patch_match_allowed();

// Counts since the last reset, for bench lines and tests: the int16 path's
// (queries matched here, pairs re-scored, queries handed to the float32 sweep
// for an overflowing list, images declined), and the queries of zero patches
// (counted in queries too), answered without a sweep (match_zero_query).
struct PatchMatchStats : Int16MatchStats {
  int64_t zero_queries = 0;
};
PatchMatchStats patch_match_stats();
void reset_patch_match_stats();

// q (9C, Hq Wq) and k (9C, Hk Wk): the descriptors of `maps` as
// patch_descriptors makes them (rows c * 9 + ky * 3 + kx, columns row-major).
// Writes conf and index and returns true; or returns false, having written
// nothing, where the path is not allowed, a map is smaller than 2 x 2, a value
// is not finite, a patch norm lies outside [1e-6, 1e15] (other than 0, where
// the bound's relative terms would not hold), or the scratch would exceed
// `workspace_bytes`.
bool exact_match_patches(const PatchMaps& maps, const float* q, const float* k, float* conf, int64_t* index,
                         int64_t workspace_bytes, const Float32Match& float32_match);

}  // namespace dcsr::kernels::cpu
