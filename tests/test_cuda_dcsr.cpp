// The CUDA DCSR operator kernels: the PyTorch goldens evaluated on the device
// in float32, the first of duplicate keys across the fused sweep's tiles and
// chunks, and the index check of block_gather. Every test is skipped without
// a GPU. The operators' CPU-vs-CUDA parity, forward and backward (sizes that
// are not multiples of the sweep's 128 x 128 tiles or of its D step of 8,
// several row chunks, flat regions with exact ties), runs from the op table
// (tests/op_rows_dcsr.h, driven by tests/test_op_table.cpp).
#include "autograd/ops/dcsr_internal.h"
#include "cuda_parity.h"
#include "kernels/cuda_paths.h"
#include "match_inputs.h"
#include "patch_match_cases.h"
#include "kernels/kernels.h"
#include "runtime/switches.h"

#include <cstring>

using namespace dcsr;
using test::golden;
using test::require_close;
using test::float_bits;
using test::PatchMatchCase;
using test::patch_match_cases;
using test::TileLimitGuard;

namespace {
// Unit-norm random columns (N, D, L), float32, requiring grad.
Tensor unit_columns(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  return detail::normalize_columns(normal(shape, gen, 0.0, 1.0, kFloat32)).detach().requires_grad_();
}

// Puts the CUDA matching back on the float32 sweep when a test that switched it ends.
struct MatchPathGuard {
  ~MatchPathGuard() { runtime::set_cuda_match_path(runtime::CudaMatchPath::kFloat32); }
};

// A float32 leaf on the device with the values of a (float64) golden tensor.
Tensor device_leaf(const Tensor& t) { return t.detach().to(kFloat32).to(kCUDA).requires_grad_(); }
}  // namespace

// ---------------------------------------------------------------- matching

TEST_CASE("cuda: max_cosine keeps the FIRST of duplicate keys across tiles and chunks", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const int64_t D = 16, Nk = 3000, Nq = 150;
  std::vector<float> kv = unit_columns({1, D, Nk}, 321).detach().to_vector<float>();
  std::vector<float> qv = unit_columns({1, D, Nq}, 322).detach().to_vector<float>();
  std::vector<float> proto = unit_columns({1, D, 1}, 323).detach().to_vector<float>();
  // The same key in different lanes of a thread, different threads, tiles
  // (128 keys) and chunks; queries 0, 7, 64, 149 equal to it.
  const std::vector<int64_t> dup = {11, 12, 27, 127, 128, 383, 384, 1500, 2999};
  for (int64_t j : dup)
    for (int64_t d = 0; d < D; ++d) kv[size_t(d * Nk + j)] = proto[size_t(d)];
  for (int64_t i : {0, 7, 64, 149})
    for (int64_t d = 0; d < D; ++d) qv[size_t(d * Nq + i)] = proto[size_t(d)];
  Tensor k = from_vector(kv, {1, D, Nk}), q = from_vector(qv, {1, D, Nq});
  std::vector<int64_t> index = max_cosine(q.to(kCUDA), k.to(kCUDA)).index.to_vector<int64_t>();
  for (int64_t i : {0, 7, 64, 149}) {
    INFO("query " << i);
    CHECK(index[size_t(i)] == 11);
  }
  for (int64_t i = 0; i < Nq; ++i)
    for (int64_t j : dup)
      if (index[size_t(i)] == j) CHECK(j == 11);
  CHECK(index == max_cosine(q, k).index.to_vector<int64_t>());
}

TEST_CASE("cuda: the TF32 matching path gives the float32 sweep's values and indices", "[cuda]") {
  // DCSR_CUDA_MATCH=tf32 (kernels/cuda/max_cosine_tf32.cu): TF32 scores, the
  // candidates within the proven bound re-scored with the sweep's own chain.
  // Every case must be bit-identical to the float32 sweep, conf and index:
  // random columns; near-ties far below TF32's resolution and exact
  // duplicates (the first index wins); a flat set (lists overflow: the
  // float32 sweep settles them); a depth that is not a multiple of the
  // sweep's 8; scores in several chunks (a small workspace); the CPU exact
  // paths' adversarial inputs; a key that is not finite (the image goes to
  // the float32 sweep).
  DCSR_SKIP_WITHOUT_GPU();
  MatchPathGuard guard;
  namespace paths = kernels::cuda_paths;
  auto match = [](const Tensor& q, const Tensor& k, runtime::CudaMatchPath path, int64_t workspace) {
    runtime::set_cuda_match_path(path);
    const int64_t N = q.size(0), Nq = q.size(2);
    Tensor conf = empty({N, Nq}, kFloat32, Device::CUDA), index = empty({N, Nq}, kInt64, Device::CUDA);
    kernels::max_cosine(q.to(kCUDA), k.to(kCUDA), conf, index, workspace);
    return std::make_pair(conf.to_vector<float>(), index.to_vector<int64_t>());
  };
  auto check_same = [&](const char* what, const Tensor& q, const Tensor& k, int64_t workspace) {
    INFO(what);
    const auto f32 = match(q, k, runtime::CudaMatchPath::kFloat32, workspace);
    paths::reset_tf32_match_stats();
    const auto tf32 = match(q, k, runtime::CudaMatchPath::kTf32, workspace);
    CHECK(tf32.second == f32.second);
    size_t bit_differences = 0;
    for (size_t i = 0; i < f32.first.size(); ++i)
      bit_differences += std::memcmp(&f32.first[i], &tf32.first[i], sizeof(float)) != 0;
    CHECK(bit_differences == 0);
    return paths::tf32_match_stats();
  };
  const int64_t D = 144, Nk = 700, Nq = 300;
  const Tensor k = unit_columns({2, D, Nk}, 401).detach(), q = unit_columns({2, D, Nq}, 402).detach();
  paths::Tf32MatchStats st = check_same("random", q, k, int64_t(1) << 30);
  CHECK(st.queries == 2 * Nq);
  CHECK(st.rescored >= st.queries);
  CHECK(st.fallbacks == 0);
  st = check_same("random, 64 queries per chunk", q, k, 64 * 4 * Nk);
  CHECK(st.queries == 2 * Nq);

  {  // near-ties: keys 5..12 are query 3 plus noise of 1e-7, far below TF32's 2^-10; 20 and 21 duplicate 6
    std::vector<float> kv = k.to_vector<float>(), qv = q.to_vector<float>();
    std::vector<float> noise = unit_columns({1, D, 16}, 403).detach().to_vector<float>();
    for (int64_t j = 5; j <= 12; ++j)
      for (int64_t d = 0; d < D; ++d)
        kv[size_t(d * Nk + j)] = qv[size_t(d * Nq + 3)] + 1e-7f * noise[size_t(d * 16 + j)];
    for (int64_t j : {20, 21})
      for (int64_t d = 0; d < D; ++d) kv[size_t(d * Nk + j)] = kv[size_t(d * Nk + 6)];
    st = check_same("near-ties", from_vector(qv, q.shape()), from_vector(kv, k.shape()), int64_t(1) << 30);
    CHECK(st.rescored >= st.queries + 8);
  }
  {  // flat: every key nearly the same column, so every query has hundreds of candidates
    std::vector<float> kv = k.to_vector<float>();
    std::vector<float> proto = unit_columns({1, D, 1}, 404).detach().to_vector<float>();
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t d = 0; d < D; ++d)
        kv[size_t(d * Nk + j)] = proto[size_t(d)] + 1e-6f * kv[size_t(d * Nk + j)];
    st = check_same("flat", q, from_vector(kv, k.shape()), int64_t(1) << 30);
    CHECK(st.fallbacks > 0);
  }
  {  // depth 13: the sweep's zero steps to 16
    const Tensor k13 = unit_columns({1, 13, 333}, 405).detach(), q13 = unit_columns({1, 13, 77}, 406).detach();
    check_same("depth 13", q13, k13, int64_t(1) << 30);
  }
  // The CPU exact paths' adversarial inputs (tests/match_inputs.h): near-ties
  // from 1e-7 to 1e-4, ulp neighbours, duplicates, flat regions, zero columns
  // and norms from 1e-3 to 1e3, odd depths, one key, one query, a NaN.
  for (const test::MatchInput& in : test::match_inputs()) {
    st = check_same(in.name.c_str(), in.q, in.k, int64_t(1) << 30);
    CHECK(st.queries + st.fallbacks == in.q.size(0) * in.q.size(2));
  }
  {  // a key that is not finite: image 0 declined, the float32 sweep decides its queries
    std::vector<float> kv = k.to_vector<float>();
    kv[size_t(5 * Nk + 17)] = INFINITY;
    st = check_same("infinite key", q, from_vector(kv, k.shape()), int64_t(1) << 30);
    CHECK(st.declined == 1);  // image 0 holds it; image 1 matches as usual
    CHECK(st.fallbacks == Nq);
  }
}

TEST_CASE("cuda: the map matching path gives the float32 sweep's values and indices", "[cuda]") {
  // DCSR_CUDA_MATCH=map (kernels/cuda/max_cosine_map.cu): the pixel products
  // of the feature maps on TF32 tensor cores, the candidates within the
  // proven bound re-scored with the float32 sweep's chain. On the CPU map
  // sweep's cases (tests/patch_match_cases.h: odd sizes over several bands,
  // column blocks, key runs and diagonal chunks; duplicates and ulp
  // neighbours; flat and zero regions; large values), the values and indices
  // must be the float32 sweep's, bit for bit. Channels past 16 and patch
  // norms below 1e-6 are declined (the float32 sweep matches them); a
  // workspace the lists do not fit is the next test's.
  DCSR_SKIP_WITHOUT_GPU();
  MatchPathGuard guard;
  namespace paths = kernels::cuda_paths;
  auto match = [](const Tensor& query, const Tensor& key, runtime::CudaMatchPath path) {
    runtime::set_cuda_match_path(path);
    MatchResult m = patch_match(query.to(kCUDA), key.to(kCUDA));
    return std::make_pair(float_bits(m.confidence.to(kCPU)), m.index.to_vector<int64_t>());
  };
  for (const PatchMatchCase& c : patch_match_cases()) {
    INFO(c.name);
    const auto f32 = match(c.query, c.key, runtime::CudaMatchPath::kFloat32);
    paths::reset_map_match_stats();
    const auto map = match(c.query, c.key, runtime::CudaMatchPath::kMap);
    CHECK(map.first == f32.first);
    CHECK(map.second == f32.second);
    const paths::ExactMatchStats s = paths::map_match_stats();
    const int64_t N = c.query.size(0), queries = N * c.query.size(2) * c.query.size(3);
    CHECK(s.queries + s.fallbacks == queries);
    if (c.expect_decline || c.query.size(1) > 16) {
      CHECK(s.declined == N);
      CHECK(s.queries == 0);
    } else {
      CHECK(s.declined == 0);
      CHECK(s.queries > 0);
      CHECK(s.rescored >= s.queries);  // at least each settled query's winner
      if (c.expect_fallback || c.expect_zero) CHECK(s.fallbacks > 0);  // zero patches tie every key
    }
  }
}

TEST_CASE("cuda: the map matching path declines a workspace its lists do not fit, with the same result", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  MatchPathGuard guard;
  namespace paths = kernels::cuda_paths;
  const Tensor query = from_vector(test::normal_map(2, 16, 9, 11, 51, 1.0, true), {2, 16, 9, 11}, kFloat32).to(kCUDA);
  const Tensor key = from_vector(test::normal_map(2, 16, 10, 12, 52, 1.0, true), {2, 16, 10, 12}, kFloat32).to(kCUDA);
  runtime::set_cuda_match_path(runtime::CudaMatchPath::kFloat32);
  const MatchResult f32 = patch_match(query, key);
  TileLimitGuard small(int64_t(4) << 10);  // the lists alone take 99 queries x 4 groups x 40 bytes an image
  runtime::set_cuda_match_path(runtime::CudaMatchPath::kMap);
  paths::reset_map_match_stats();
  const MatchResult map = patch_match(query, key);
  CHECK(paths::map_match_stats().declined == 2);
  CHECK(paths::map_match_stats().queries == 0);
  CHECK(float_bits(map.confidence.to(kCPU)) == float_bits(f32.confidence.to(kCPU)));
  CHECK(map.index.to_vector<int64_t>() == f32.index.to_vector<int64_t>());
}

TEST_CASE("cuda: patch_match against the PyTorch goldens, in float32 on the device", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  auto g = golden("patch_match");
  for (std::string p : {"rand", "ties"}) {
    Tensor q = device_leaf(g[p + ".q"]), k = device_leaf(g[p + ".k"]);
    MatchResult m = patch_match(q, k);
    require_close(m.confidence, g[p + ".conf"], 1e-6, 1e-5, p + " conf (float32)");
    // rand: every maximum is separated by > 1e-6; ties: exact ties in any precision.
    REQUIRE(m.index.to_vector<int64_t>() == g[p + ".index"].to_vector<int64_t>());
    m.confidence.backward(g[p + ".gy"].to(kFloat32).to(kCUDA));
    require_close(q.grad(), g[p + ".dq"], 1e-5, 1e-4, p + " dq (float32)");
    require_close(k.grad(), g[p + ".dk"], 1e-5, 1e-4, p + " dk (float32)");
  }
}

// ---------------------------------------------------------------- block transfer

TEST_CASE("cuda: block_gather checks its indices on the device", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor value = zeros({1, 2, 6, 8}, kFloat32, kCUDA);
  CHECK_THROWS_WITH(block_gather(value, from_vector<int64_t>({0, 12, 1}, {1, 3}).to(kCUDA), 2, 1, 3),
                    Catch::Contains("block_gather: index 12 at position 1 is out of range for 12 blocks"));
}

TEST_CASE("cuda: block_gather against the PyTorch goldens", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  auto g = golden("block_transfer");
  for (std::string p : {"k1", "k2", "k4"}) {
    Tensor value = device_leaf(g[p + ".value"]);
    std::vector<int64_t> grid = g[p + ".grid"].to_vector<int64_t>();
    Tensor y = block_gather(value, g[p + ".index"].to(kCUDA), value.size(2) / 3, grid[0], grid[1]);
    require_close(y, g[p + ".y"], 1e-7, 1e-6, p + " y (float32)");
    y.backward(g[p + ".gy"].to(kFloat32).to(kCUDA));
    require_close(value.grad(), g[p + ".dvalue"], 1e-6, 1e-6, p + " dvalue (float32)");
  }
}

// ---------------------------------------------------------------- aligned sampler

TEST_CASE("cuda: aligned_sample against the PyTorch goldens", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  auto g = golden("aligned_sampler");
  for (std::string p : {"k2", "k4", "k2_stress", "k4_stress", "k2_identity"}) {
    const int64_t k = g[p + ".k"].to_vector<int64_t>()[0];
    Tensor X = device_leaf(g[p + ".X"]), raw = device_leaf(g[p + ".raw"]);
    Tensor y = aligned_sample(X, raw, k);
    require_close(y, g[p + ".y"], 1e-5, 1e-4, p + " y (float32)");
    y.backward(g[p + ".gy"].to(kFloat32).to(kCUDA));
    require_close(X.grad(), g[p + ".dX"], 1e-5, 1e-4, p + " dX (float32)");
    require_close(raw.grad(), g[p + ".draw"], 1e-4, 1e-3, p + " draw (float32)");
  }
}

// ---------------------------------------------------------------- losses

TEST_CASE("cuda: contextual loss against the PyTorch goldens", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  auto g = golden("contextual");
  Tensor x = device_leaf(g["x"]), y = device_leaf(g["y"]);
  Tensor loss = contextual_loss(x, y);
  require_close(loss, g["loss"].to_vector<double>(), 1e-5, 1e-4, "loss (float32)");
  loss.backward(g["gy"].reshape({}).to(kFloat32).to(kCUDA));
  require_close(x.grad(), g["dx"], 1e-5, 1e-3, "dx (float32)");
  require_close(y.grad(), g["dy"], 1e-5, 1e-3, "dy (float32)");
}

