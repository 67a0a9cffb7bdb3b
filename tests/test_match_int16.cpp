// The exact int16 matching of float32 max_cosine (kernels/cpu/max_cosine_int16.h:
// the 256-bit sweep at the AVX2 level, the VNNI sweep at the AVX-512 level
// where the CPU has VNNI): on every ISA path this CPU has, the values and
// indices are bit-identical to the float32 sweep (the path DCSR_CPU_ISA=generic
// forces), on random inputs
// and on adversarial near-ties: keys a few ulps apart, exact duplicates, keys
// whose order the int16 scores cannot see, flat regions that overflow the
// candidate lists, zero columns, columns of very different norms, odd sizes.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "match_inputs.h"
#include "op_inputs.h"
#include "tensor/random.h"
#include "test_util.h"

namespace dcsr::test {

namespace {

namespace paths = kernels::cpu_paths;
using paths::CpuIsa;

struct IsaGuard {
  ~IsaGuard() {
    paths::reset_cpu_isa();
    paths::reset_int16_match_allowed();
  }
};

}  // namespace

TEST_CASE("max_cosine float32: the int16 path's values and indices are the float32 sweep's, bit for bit",
          "[match_int16][ops][dcsr]") {
  IsaGuard guard;
  TileLimitGuard limit(int64_t(64) << 20);
  for (const MatchInput& in : match_inputs()) {
    INFO(in.name);
    paths::set_cpu_isa(CpuIsa::kGeneric);
    paths::reset_int16_match_stats();
    const MatchResult expected = max_cosine(in.q, in.k);
    CHECK(paths::int16_match_stats().queries == 0);  // generic: the float32 sweep only
    for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!paths::isa_supported(isa)) continue;
      INFO(paths::isa_name(isa));
      paths::set_cpu_isa(isa);
      paths::reset_int16_match_stats();
      const MatchResult got = max_cosine(in.q, in.k);
      const paths::Int16MatchStats s = paths::int16_match_stats();
      REQUIRE(float_bits(got.confidence) == float_bits(expected.confidence));
      REQUIRE(got.index.to_vector<int64_t>() == expected.index.to_vector<int64_t>());
      if (isa == CpuIsa::kAvx512 && !paths::cpu_features().avx512_vnni) {
        // No VNNI: the 512-bit float32 sweep (max_cosine_int16.cpp says why).
        CHECK(paths::int16_match_sweep() == nullptr);
        CHECK(s.queries == 0);
        CHECK(s.declined == 0);
      } else if (in.expect_decline) {
        CHECK(s.declined == in.q.size(0));
        CHECK(s.queries == 0);
      } else {
        CHECK(s.declined == 0);
        CHECK(s.queries + s.fallbacks == in.q.size(0) * in.q.size(2));
        CHECK(s.queries > 0);
        CHECK(s.rescored >= s.queries);  // at least the winner of each
        CHECK((s.fallbacks > 0) == in.expect_fallback);
      }
    }
  }
}

TEST_CASE("max_cosine float32: the int16 path declines a workspace it does not fit, with the same result",
          "[match_int16][ops][dcsr]") {
  IsaGuard guard;
  const int64_t D = 144, Nq = 300, Nk = 500;
  Tensor q = from_vector(unit_columns(1, D, Nq, 21), {1, D, Nq}, kFloat32);
  Tensor k = from_vector(unit_columns(1, D, Nk, 22), {1, D, Nk}, kFloat32);
  paths::set_cpu_isa(CpuIsa::kGeneric);
  const MatchResult expected = max_cosine(q, k);
  int sweeps = 0;
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!paths::isa_supported(isa)) continue;
    paths::set_cpu_isa(isa);
    if (paths::int16_match_sweep() == nullptr) continue;
    INFO(paths::int16_match_sweep());
    ++sweeps;
    TileLimitGuard small(int64_t(64) << 10);  // the packed operands alone need 230 KB
    paths::reset_int16_match_stats();
    const MatchResult got = max_cosine(q, k);
    CHECK(paths::int16_match_stats().declined == 1);
    CHECK(float_bits(got.confidence) == float_bits(expected.confidence));
    CHECK(got.index.to_vector<int64_t>() == expected.index.to_vector<int64_t>());
  }
  if (sweeps == 0) SUCCEED("no int16 sweep on this CPU: the path never runs");
}

TEST_CASE("max_cosine float32: set_int16_match_allowed(false) keeps the float32 sweep, with the same result",
          "[match_int16][ops][dcsr]") {
  IsaGuard guard;
  const int64_t D = 144, Nq = 100, Nk = 200;
  Tensor q = from_vector(unit_columns(1, D, Nq, 31), {1, D, Nq}, kFloat32);
  Tensor k = from_vector(unit_columns(1, D, Nk, 32), {1, D, Nk}, kFloat32);
  paths::set_int16_match_allowed(false);
  paths::reset_int16_match_stats();
  const MatchResult float32 = max_cosine(q, k);
  CHECK(paths::int16_match_stats().queries == 0);
  CHECK(paths::int16_match_stats().declined == 0);  // not allowed is not declined
  paths::set_int16_match_allowed(true);
  const MatchResult int16 = max_cosine(q, k);
  CHECK(paths::int16_match_stats().queries == (paths::int16_match_sweep() != nullptr ? Nq : 0));
  CHECK(float_bits(int16.confidence) == float_bits(float32.confidence));
  CHECK(int16.index.to_vector<int64_t>() == float32.index.to_vector<int64_t>());
}

}  // namespace dcsr::test
