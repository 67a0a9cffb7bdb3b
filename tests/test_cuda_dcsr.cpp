// The CUDA DCSR operator kernels: the PyTorch goldens evaluated on the device
// in float32, the first of duplicate keys across the fused sweep's tiles and
// chunks, and the index check of block_gather. Every test is skipped without
// a GPU. The operators' CPU-vs-CUDA parity, forward and backward (sizes that
// are not multiples of the sweep's 128 x 128 tiles or of its D step of 8,
// several row chunks, flat regions with exact ties), runs from the op table
// (tests/op_rows_dcsr.h, driven by tests/test_op_table.cpp).
#include "autograd/ops/dcsr_internal.h"
#include "cuda_parity.h"
#include "kernels/kernels.h"

using namespace dcsr;
using test::golden;
using test::require_close;

namespace {
// Unit-norm random columns (N, D, L), float32, requiring grad.
Tensor unit_columns(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  return detail::normalize_columns(normal(shape, gen, 0.0, 1.0, kFloat32)).detach().requires_grad_();
}

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

