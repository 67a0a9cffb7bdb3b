// DCSR operators, part 1: patch matching (dcsr-spec §4.1) and block transfer
// (§4.2). Forward values against direct re-computations, the first-index tie
// rule, the bounded memory of the tiled search, and error messages. (The
// sampler and the losses are in test_ops_dcsr_sampler.cpp and
// test_ops_dcsr_losses.cpp; the gradchecks, CPU-vs-CUDA parity and PyTorch
// goldens of all of them run from the op table, tests/op_rows_dcsr.h.)
#include <limits>

#include "autograd/ops/dcsr_internal.h"
#include "runtime/allocator.h"
#include "test_util.h"

using namespace dcsr;
using test::leaf;
using test::require_close;
using test::TileLimitGuard;

namespace {
// Unit-norm random columns (N, D, L), no gradient.
Tensor unit_columns(const Shape& shape, uint64_t seed, DType dtype = kFloat64) {
  Generator gen(seed);
  NoGradGuard no_grad;
  return detail::normalize_columns(normal(shape, gen, 0.0, 1.0, dtype));
}

// max_j <k_j, q_i> and the first j reaching it, in long double, with the gap
// to the best value that differs from the maximum (to know where an index
// comparison with a float computation is meaningful).
struct ReferenceMatch {
  std::vector<double> conf, gap;
  std::vector<int64_t> index;
};
ReferenceMatch reference_max_cosine(const Tensor& q, const Tensor& k) {
  const int64_t N = q.size(0), D = q.size(1), Nq = q.size(2), Nk = k.size(2);
  std::vector<double> qv = q.to_vector<double>(), kv = k.to_vector<double>();
  ReferenceMatch r;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < Nq; ++i) {
      std::vector<long double> s(size_t(Nk), 0.0L);
      for (int64_t j = 0; j < Nk; ++j)
        for (int64_t d = 0; d < D; ++d)
          s[size_t(j)] += (long double)qv[size_t((n * D + d) * Nq + i)] * kv[size_t((n * D + d) * Nk + j)];
      int64_t best = 0;
      for (int64_t j = 1; j < Nk; ++j)
        if (s[size_t(j)] > s[size_t(best)]) best = j;
      long double second = -std::numeric_limits<long double>::infinity();
      for (int64_t j = 0; j < Nk; ++j)
        if (s[size_t(j)] != s[size_t(best)]) second = std::max(second, s[size_t(j)]);
      r.conf.push_back(double(s[size_t(best)]));
      r.index.push_back(best);
      r.gap.push_back(double(s[size_t(best)] - second));
    }
  return r;
}

void require_index_where_separated(const Tensor& index, const ReferenceMatch& ref, double min_gap) {
  std::vector<int64_t> got = index.to_vector<int64_t>();
  int64_t compared = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (ref.gap[i] < min_gap) continue;
    INFO("query " << i);
    REQUIRE(got[i] == ref.index[i]);
    ++compared;
  }
  CHECK(compared > int64_t(got.size()) / 2);
}

// The 3x3 reflection-padded descriptors of a (N, C, H, W) map, computed
// directly: row c * 9 + ky * 3 + kx of column y * W + x is
// feats[c][reflect(y + ky - 1)][reflect(x + kx - 1)], then L2-normalised.
std::vector<double> reference_descriptors(const Tensor& feats) {
  const int64_t N = feats.size(0), C = feats.size(1), H = feats.size(2), W = feats.size(3), L = H * W;
  std::vector<double> f = feats.to_vector<double>(), out(size_t(N * C * 9 * L));
  auto reflect = [](int64_t i, int64_t size) { return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i); };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < L; ++p) {
      double norm2 = 0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t t = 0; t < 9; ++t) {
          int64_t y = reflect(p / W + t / 3 - 1, H), x = reflect(p % W + t % 3 - 1, W);
          double v = f[size_t(((n * C + c) * H + y) * W + x)];
          out[size_t((n * C * 9 + c * 9 + t) * L + p)] = v;
          norm2 += v * v;
        }
      for (int64_t r = 0; r < C * 9; ++r) out[size_t((n * C * 9 + r) * L + p)] /= std::max(std::sqrt(norm2), 1e-12);
    }
  return out;
}
}  // namespace

// ---------------------------------------------------------------- max_cosine

TEST_CASE("forward: max_cosine equals a direct max and first argmax, at every tile limit", "[ops][dcsr]") {
  TileLimitGuard guard;
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    // Sizes that are not multiples of the register panels, two images.
    Tensor q = unit_columns({2, 20, 131}, 1, dtype), k = unit_columns({2, 20, 203}, 2, dtype);
    ReferenceMatch ref = reference_max_cosine(q, k);
    MatchResult first;
    // 1 byte means: the smallest panels; 64 KB: several row blocks; default.
    for (int64_t limit : {int64_t(64) << 20, int64_t(64) << 10, int64_t(1)}) {
      INFO("tile limit " << limit);
      set_match_tile_limit(limit);
      MatchResult m = max_cosine(q, k);
      REQUIRE(m.confidence.shape() == Shape{2, 131});
      REQUIRE(m.index.dtype() == kInt64);
      require_close(m.confidence, ref.conf, dtype == kFloat64 ? 1e-14 : 1e-6);
      require_index_where_separated(m.index, ref, dtype == kFloat64 ? 1e-12 : 1e-5);
      if (!first.confidence.defined()) {
        first = m;
        continue;
      }
      // Identical bits whatever the tiling: every dot product is one fixed chain.
      REQUIRE(m.confidence.to_vector<double>() == first.confidence.to_vector<double>());
      REQUIRE(m.index.to_vector<int64_t>() == first.index.to_vector<int64_t>());
    }
  }
}

TEST_CASE("forward: max_cosine takes the FIRST of equal keys (duplicate keys across panels and blocks)",
          "[ops][dcsr]") {
  TileLimitGuard guard;
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    const int64_t D = 16, Nk = 700, Nq = 150;
    std::vector<double> kv = unit_columns({1, D, Nk}, 3).to_vector<double>();
    std::vector<double> qv = unit_columns({1, D, Nq}, 4).to_vector<double>();
    std::vector<double> proto = unit_columns({1, D, 1}, 5).to_vector<double>();
    // The same key at positions in different register panels, row blocks
    // and the last, partial panel; queries 0, 7, 64, 149 equal to it.
    const std::vector<int64_t> dup = {11, 12, 97, 383, 384, 500, 699};
    for (int64_t j : dup)
      for (int64_t d = 0; d < D; ++d) kv[size_t(d * Nk + j)] = proto[size_t(d)];
    for (int64_t i : {0, 7, 64, 149})
      for (int64_t d = 0; d < D; ++d) qv[size_t(d * Nq + i)] = proto[size_t(d)];
    Tensor k = from_vector(kv, {1, D, Nk}, dtype), q = from_vector(qv, {1, D, Nq}, dtype);
    for (int64_t limit : {int64_t(64) << 20, int64_t(1)}) {
      set_match_tile_limit(limit);
      std::vector<int64_t> index = max_cosine(q, k).index.to_vector<int64_t>();
      for (int64_t i : {0, 7, 64, 149}) {
        INFO("query " << i << ", tile limit " << limit);
        CHECK(index[size_t(i)] == 11);
      }
      // Wherever a query's best key is one of the duplicates, it is the first.
      for (int64_t i = 0; i < Nq; ++i)
        for (int64_t j : dup)
          if (index[size_t(i)] == j) CHECK(j == 11);
    }
  }
}

TEST_CASE("forward: patch_match in a flat region picks the first flat key", "[ops][dcsr]") {
  // Keys: random with a constant 7 x 8 region (rows 2-8, cols 3-10), so the
  // keys of rows 3-7, cols 4-9 have identical descriptors. Queries: their
  // own constant patch (same constant vector) at rows 0-2, cols 0-2.
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    const int64_t C = 3, H = 12, W = 14;
    Generator gen(6);
    std::vector<double> kv = uniform({1, C, H, W}, gen, -1, 1, kFloat64).to_vector<double>();
    std::vector<double> qv = uniform({1, C, 5, 6}, gen, -1, 1, kFloat64).to_vector<double>();
    const double flat[3] = {0.3, -0.7, 0.45};
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t y = 2; y <= 8; ++y)
        for (int64_t x = 3; x <= 10; ++x) kv[size_t((c * H + y) * W + x)] = flat[c];
      for (int64_t y = 0; y <= 2; ++y)
        for (int64_t x = 0; x <= 2; ++x) qv[size_t((c * 5 + y) * 6 + x)] = flat[c];
    }
    MatchResult m = patch_match(from_vector(qv, {1, C, 5, 6}, dtype), from_vector(kv, {1, C, H, W}, dtype));
    REQUIRE(m.confidence.shape() == Shape{1, 1, 5, 6});
    REQUIRE(m.index.shape() == Shape{1, 30});
    std::vector<int64_t> index = m.index.to_vector<int64_t>();
    // Query (0,0) reflects into (1,1), whose whole neighbourhood is flat, as
    // are (1,1) and (0,1), (1,0): each matches the first flat key, (3, 4).
    for (int64_t p : {0, 1, 6, 7}) {
      INFO("query " << p);
      CHECK(index[size_t(p)] == 3 * W + 4);
      CHECK(m.confidence.to_vector<double>()[size_t(p)] == Approx(1.0).epsilon(1e-6));
    }
  }
}

TEST_CASE("forward: max_cosine's extra memory stays within the tile limit", "[ops][dcsr]") {
  TileLimitGuard guard;
  // 4096 x 4096 similarities would be 64 MB in float32; the limit is 1 MB.
  const int64_t limit = int64_t(1) << 20;
  set_match_tile_limit(limit);
  Tensor q = unit_columns({1, 36, 4096}, 7, kFloat32), k = unit_columns({1, 36, 4096}, 8, kFloat32);
  NoGradGuard no_grad;
  const int64_t before = allocator_stats(kCPU).bytes_in_use;
  allocator_reset_peak(kCPU);
  MatchResult m = max_cosine(q, k);
  const int64_t extra = allocator_stats(kCPU).peak_bytes_in_use - before;
  INFO("peak extra bytes " << extra);
  CHECK(extra <= limit + int64_t(q.nbytes() + k.nbytes()));
  CHECK(extra < int64_t(4096) * 4096 * 4 / 16);
  // And the answer is the one of the default limit.
  set_match_tile_limit(int64_t(64) << 20);
  MatchResult full = max_cosine(q, k);
  CHECK(m.confidence.to_vector<float>() == full.confidence.to_vector<float>());
  CHECK(m.index.to_vector<int64_t>() == full.index.to_vector<int64_t>());
}

TEST_CASE("errors: max_cosine and patch_match name the op and the shapes", "[ops][dcsr]") {
  Tensor q = zeros({1, 4, 5}, kFloat64), k = zeros({1, 3, 5}, kFloat64);
  CHECK_THROWS_WITH(max_cosine(q, k), Catch::Contains("max_cosine: queries (1, 4, 5)") &&
                                          Catch::Contains("keys (1, 3, 5)"));
  CHECK_THROWS_WITH(max_cosine(zeros({4, 5}), zeros({4, 5})), Catch::Contains("max_cosine: queries must be (N, D, L)"));
  CHECK_THROWS_WITH(max_cosine(q, zeros({1, 4, 0}, kFloat64)), Catch::Contains("max_cosine: no keys"));
  CHECK_THROWS_WITH(patch_match(zeros({1, 2, 4, 4}), zeros({1, 3, 4, 4})),
                    Catch::Contains("patch_match: query (1, 2, 4, 4) and key (1, 3, 4, 4)"));
  CHECK_THROWS_WITH(patch_descriptors(zeros({1, 2, 1, 4})), Catch::Contains("patch_descriptors: features (1, 2, 1, 4)"));
  CHECK_THROWS_WITH(set_match_tile_limit(0), Catch::Contains("set_match_tile_limit"));
}

// ---------------------------------------------------------------- descriptors and patch_match

TEST_CASE("forward: patch_descriptors are reflection-padded 3x3 neighbourhoods, normalised", "[ops][dcsr]") {
  Tensor feats = leaf({2, 3, 4, 5}, 21).detach();
  Tensor desc = patch_descriptors(feats);
  REQUIRE(desc.shape() == Shape{2, 27, 20});
  require_close(desc, reference_descriptors(feats), 1e-15);
  // An all-zero map stays zero (F.normalize's eps), with no NaN.
  require_close(patch_descriptors(zeros({1, 1, 3, 3}, kFloat64)), std::vector<double>(81, 0.0));
}

// ---------------------------------------------------------------- block_gather

TEST_CASE("forward: block_gather copies whole blocks without overlap", "[ops][dcsr]") {
  // value (1, 1, 4, 4) = 0..15, blocks of 2: block b = rows 2(b/2).., cols 2(b%2)..
  Tensor value = arange(16, kFloat64).reshape({1, 1, 4, 4});
  Tensor index = from_vector<int64_t>({3, 0, 0}, {1, 3});
  Tensor y = block_gather(value, index, 2, 1, 3);
  REQUIRE(y.shape() == Shape{1, 1, 2, 6});
  require_close(y, {10, 11, 0, 1, 0, 1, 14, 15, 4, 5, 4, 5});
  // block 1: a plain gather of pixels
  require_close(block_gather(value, from_vector<int64_t>({15, 2, 5, 5}, {1, 4}), 1, 2, 2), {15, 2, 5, 5});
}

TEST_CASE("errors: block_gather names the op, the bad index value and the shapes", "[ops][dcsr]") {
  Tensor value = zeros({1, 2, 6, 8});
  CHECK_THROWS_WITH(block_gather(value, from_vector<int64_t>({0, 12, 1}, {1, 3}), 2, 1, 3),
                    Catch::Contains("block_gather: index 12 at position 1 is out of range for 12 blocks"));
  CHECK_THROWS_WITH(block_gather(value, from_vector<int64_t>({-1, 0, 1}, {1, 3}), 2, 1, 3),
                    Catch::Contains("block_gather: index -1"));
  CHECK_THROWS_WITH(block_gather(value, from_vector<int64_t>({0, 1}, {1, 2}), 2, 1, 3),
                    Catch::Contains("block_gather: index (1, 2) int64 must be int64 (1, 3)"));
  CHECK_THROWS_WITH(block_gather(zeros({1, 2, 6, 7}), from_vector<int64_t>({0}, {1, 1}), 2, 1, 1),
                    Catch::Contains("block_gather: value (1, 2, 6, 7) is not a whole number of 2 x 2 blocks"));
  CHECK_THROWS_WITH(block_gather(value, from_vector<double>({0, 1, 2}, {1, 3}), 2, 1, 3),
                    Catch::Contains("must be int64"));
}
