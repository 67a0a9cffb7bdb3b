// The exact map sweep of float32 patch matching (kernels/cpu/max_cosine_patches.h):
// patch_match's values and indices are bit-identical to those of the float32
// descriptor sweep (both exact paths off), on random maps of odd sizes and
// channel counts, and on adversarial ones: exact duplicates (ties the first
// index must win), keys an ulp apart, flat regions that overflow the
// candidate lists, zero patches, very large and very small values; with the
// float32 pixel products and, where the CPU has VNNI, the int16 ones, and at
// every ISA level.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "kernels/kernels.h"
#include "op_inputs.h"
#include "patch_match_cases.h"
#include "tensor/random.h"
#include "test_util.h"

namespace dcsr::test {

namespace {

namespace paths = kernels::cpu_paths;
using paths::CpuIsa;

struct PathGuard {
  ~PathGuard() {
    paths::reset_patch_match_allowed();
    paths::reset_int16_match_allowed();
    paths::reset_patch_int16_products_allowed();
    paths::reset_cpu_isa();
  }
};

// The map sweep's pixel products to test here: float32 always, int16 where the CPU has them.
std::vector<bool> product_kinds() {
  std::vector<bool> kinds = {false};
  if (paths::patch_int16_products_available(16)) kinds.push_back(true);
  return kinds;
}


// The float32 descriptor sweep: both exact paths off.
MatchResult float32_sweep(const Tensor& query, const Tensor& key) {
  paths::set_patch_match_allowed(false);
  paths::set_int16_match_allowed(false);
  MatchResult m = patch_match(query, key);
  paths::reset_patch_match_allowed();
  paths::reset_int16_match_allowed();
  return m;
}

}  // namespace

TEST_CASE("patch_match float32: the map sweep's values and indices are the float32 sweep's, bit for bit",
          "[match_patches][ops][dcsr]") {
  PathGuard guard;
  TileLimitGuard limit(int64_t(64) << 20);
  for (const bool int16_products : product_kinds()) {
    for (const PatchMatchCase& c : patch_match_cases()) {
      INFO(c.name << (int16_products ? ", int16 products" : ", float32 products"));
      const MatchResult expected = float32_sweep(c.query, c.key);
      paths::set_patch_int16_products_allowed(int16_products);
      paths::set_patch_match_allowed(true);
      paths::set_int16_match_allowed(false);  // a decline falls to the float32 sweep, not the int16 one
      paths::reset_patch_match_stats();
      const MatchResult got = patch_match(c.query, c.key);
      const paths::PatchMatchStats s = paths::patch_match_stats();
      REQUIRE(float_bits(got.confidence) == float_bits(expected.confidence));
      REQUIRE(got.index.to_vector<int64_t>() == expected.index.to_vector<int64_t>());
      const int64_t N = c.query.size(0), queries = N * c.query.size(2) * c.query.size(3);
      if (c.expect_decline) {
        CHECK(s.declined == N);
        CHECK(s.queries == 0);
      } else {
        CHECK(s.declined == 0);
        CHECK(s.queries + s.fallbacks == queries);
        CHECK(s.queries > 0);
        CHECK(s.rescored >= s.queries - s.zero_queries);  // at least the winner of each with a list
        CHECK((s.fallbacks > 0) == c.expect_fallback);
        CHECK((s.zero_queries > 0) == c.expect_zero);
      }
    }
  }
}

TEST_CASE("patch_match float32: the map sweep at every ISA level, int16 products only at AVX-512 with VNNI",
          "[match_patches][ops][dcsr][isa]") {
  PathGuard guard;
  // 32 channels, the most the int16 products take, and 33, one past them.
  for (const int64_t C : {32, 33}) {
    INFO("channels " << C);
    Tensor q = from_vector(normal_map(1, C, 19, 70, 41, 1.0, true), {1, C, 19, 70}, kFloat32);
    Tensor k = from_vector(normal_map(1, C, 23, 31, 42, 1.0, true), {1, C, 23, 31}, kFloat32);
    const MatchResult expected = float32_sweep(q, k);
    for (const CpuIsa isa : {CpuIsa::kGeneric, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!paths::isa_supported(isa)) continue;
      INFO(paths::isa_name(isa));
      paths::set_cpu_isa(isa);
      const bool int16 = isa == CpuIsa::kAvx512 && paths::cpu_features().avx512_vnni && C <= 32;
      CHECK(paths::patch_int16_products_available(C) == int16);
      CHECK(std::string(paths::patch_products_name(C)) == (int16 ? "int16_vnni" : "float32"));
      paths::set_patch_match_allowed(true);
      paths::set_int16_match_allowed(false);
      paths::reset_patch_match_stats();
      const MatchResult got = patch_match(q, k);
      CHECK(paths::patch_match_stats().queries > 0);
      CHECK(float_bits(got.confidence) == float_bits(expected.confidence));
      CHECK(got.index.to_vector<int64_t>() == expected.index.to_vector<int64_t>());
    }
    paths::reset_cpu_isa();
  }
}

TEST_CASE("patch_match float32: the map sweep declines a workspace it does not fit, with the same result",
          "[match_patches][ops][dcsr]") {
  PathGuard guard;
  Tensor q = from_vector(normal_map(1, 16, 20, 30, 21, 1.0, true), {1, 16, 20, 30}, kFloat32);
  Tensor k = from_vector(normal_map(1, 16, 25, 35, 22, 1.0, true), {1, 16, 25, 35}, kFloat32);
  const MatchResult expected = float32_sweep(q, k);
  TileLimitGuard small(int64_t(64) << 10);  // one job's scratch alone is about 400 KB
  paths::set_patch_match_allowed(true);
  paths::reset_patch_match_stats();
  const MatchResult got = patch_match(q, k);
  CHECK(paths::patch_match_stats().declined == 1);
  CHECK(float_bits(got.confidence) == float_bits(expected.confidence));
  CHECK(got.index.to_vector<int64_t>() == expected.index.to_vector<int64_t>());
}

TEST_CASE("patch_match float32: plain max_cosine on descriptors never takes the map sweep",
          "[match_patches][ops][dcsr]") {
  PathGuard guard;
  Tensor q = from_vector(normal_map(1, 16, 6, 7, 31, 1.0, true), {1, 16, 6, 7}, kFloat32);
  paths::set_patch_match_allowed(true);
  paths::reset_patch_match_stats();
  const Tensor d = patch_descriptors(q);
  (void)max_cosine(d, d);
  CHECK(paths::patch_match_stats().queries == 0);
  CHECK(paths::patch_match_stats().declined == 0);
  (void)patch_match(q, q);
  CHECK(paths::patch_match_stats().queries + paths::patch_match_stats().fallbacks == 42);
}

}  // namespace dcsr::test

namespace dcsr::test {

TEST_CASE("errors: patch_max_cosine names maps that do not match their descriptors", "[match_patches][ops][dcsr]") {
  const Tensor q = zeros({1, 144, 12}), k = zeros({1, 144, 20});
  Tensor confidence = empty({1, 12}), index = empty({1, 12}, kInt64);
  // 4 x 4 key pixels for 20 key columns: refused before any read.
  CHECK_THROWS_WITH(kernels::patch_max_cosine(zeros({1, 16, 3, 4}), zeros({1, 16, 4, 4}), q, k, confidence, index,
                                              int64_t(1) << 20),
                    Catch::Contains("patch_max_cosine: maps (1, 16, 3, 4) and (1, 16, 4, 4)") &&
                        Catch::Contains("do not match descriptors (1, 144, 12) and (1, 144, 20)"));
  // 8 channels for 144 descriptor rows.
  CHECK_THROWS_WITH(kernels::patch_max_cosine(zeros({1, 8, 3, 4}), zeros({1, 8, 4, 5}), q, k, confidence, index,
                                              int64_t(1) << 20),
                    Catch::Contains("patch_max_cosine: maps (1, 8, 3, 4)"));
}

}  // namespace dcsr::test
