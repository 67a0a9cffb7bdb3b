// The CUDA DCSR operator kernels against the CPU backend (float32, forward
// and backward, tests/cuda_parity.h), plus the PyTorch goldens evaluated on
// the device in float32. Every test is skipped without a GPU. Shapes reach
// the fused sweep's paths: sizes that are not multiples of its 128 x 128
// tiles or of its D step of 8, several row chunks (few lanes, many rows), and
// exact ties (duplicate keys, flat image regions) for the first-index rules.
#include "autograd/ops/dcsr_internal.h"
#include "cuda_parity.h"
#include "kernels/kernels.h"

using namespace dcsr;
using test::f32;
using test::golden;
using test::one;
using test::Parity;
using test::require_close;
using test::require_parity;

namespace {
// Unit-norm random columns (N, D, L), float32, requiring grad.
Tensor unit_columns(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  return detail::normalize_columns(normal(shape, gen, 0.0, 1.0, kFloat32)).detach().requires_grad_();
}

// A float32 leaf on the device with the values of a (float64) golden tensor.
Tensor device_leaf(const Tensor& t) { return t.detach().to(kFloat32).to(kCUDA).requires_grad_(); }

TensorFunction matcher() {
  return [](const TensorList& in) {
    MatchResult m = max_cosine(in[0], in[1]);
    return TensorList{m.confidence, m.index};
  };
}
}  // namespace

// ---------------------------------------------------------------- matching

TEST_CASE("cuda: descriptors (column normalisation) forward and backward", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  require_parity("patch_descriptors", one([](const Tensor& f) { return patch_descriptors(f); }),
                 {f32({2, 4, 7, 9}, 301)}, {1e-6, 1e-5});
  // Columns of zeros: the norm is below F.normalize's epsilon there.
  std::vector<float> v = f32({1, 3, 5, 6}, 302).detach().to_vector<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 3; ++x) v[size_t((c * 5 + y) * 6 + x)] = 0.0f;
  require_parity("normalize_columns with zero columns",
                 one([](const Tensor& x) { return detail::normalize_columns(x.reshape({1, 3, 30})); }),
                 {from_vector(v, {1, 3, 5, 6}).requires_grad_()}, {1e-6, 1e-5});
}

TEST_CASE("cuda: max_cosine forward and sparse backward, single and chunked sweeps", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape q, k;
  };
  // Odd sizes (partial tiles, D not a multiple of 8); few queries against many
  // keys (the rows are cut into chunks merged by a second kernel); two images.
  std::vector<Case> cases = {{{2, 20, 131}, {2, 20, 203}}, {{1, 36, 700}, {1, 36, 5000}},
                             {{2, 9, 1}, {2, 9, 300}},     {{1, 64, 300}, {1, 64, 129}}};
  for (const Case& c : cases) {
    // Every dot product is the same fma chain on both devices (kernels/cuda/dot_sweep.cuh),
    // so confidences and indices are expected to agree exactly; the tolerance
    // only allows for a compiler that does not contract the CPU's chain.
    require_parity("max_cosine " + shape_str(c.q) + " vs " + shape_str(c.k), matcher(),
                   {unit_columns(c.q, 311), unit_columns(c.k, 312)}, {1e-6, 1e-6, 1e-5, 1e-5});
  }
}

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

TEST_CASE("cuda: patch_match forward and backward, and in a flat region", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  auto fn = [](const TensorList& in) {
    MatchResult m = patch_match(in[0], in[1]);
    return TensorList{m.confidence, m.index};
  };
  require_parity("patch_match", fn, {f32({1, 8, 12, 10}, 331), f32({1, 8, 20, 18}, 332)}, {1e-6, 1e-6, 1e-5, 1e-5});
  // Keys with a constant region: many identical descriptors, exact ties.
  std::vector<float> kv = f32({1, 3, 12, 14}, 333).detach().to_vector<float>();
  const float flat[3] = {0.3f, -0.7f, 0.45f};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 2; y <= 8; ++y)
      for (int64_t x = 3; x <= 10; ++x) kv[size_t((c * 12 + y) * 14 + x)] = flat[c];
  std::vector<float> qv = f32({1, 3, 5, 6}, 334).detach().to_vector<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y <= 2; ++y)
      for (int64_t x = 0; x <= 2; ++x) qv[size_t((c * 5 + y) * 6 + x)] = flat[c];
  require_parity("patch_match flat region", fn,
                 {from_vector(qv, {1, 3, 5, 6}).requires_grad_(), from_vector(kv, {1, 3, 12, 14}).requires_grad_()},
                 {1e-6, 1e-6, 1e-5, 1e-5});
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

TEST_CASE("cuda: block_gather forward and backward with repeated blocks", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (int64_t k : {1, 2, 4}) {
    // A 3 x 4 grid of source blocks; a 2 x 5 output grid with repeats.
    Tensor index = from_vector<int64_t>({11, 0, 5, 5, 3, 1, 1, 2, 0, 7, 0, 0, 0, 9, 10, 11, 4, 4, 6, 8}, {2, 10});
    require_parity("block_gather k " + std::to_string(k),
                   [k](const TensorList& in) { return TensorList{block_gather(in[0], in[1], k, 2, 5)}; },
                   {f32({2, 3, 3 * k, 4 * k}, 341), index}, {1e-12, 0.0, 1e-6, 1e-6});
  }
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

TEST_CASE("cuda: grid_sample with the three border rules", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // Points inside, on the last row/column, on integers and beyond the border.
  const int64_t H = 7, W = 9, Ho = 5, Wo = 6;
  Generator gen(351);
  std::vector<double> pts(size_t(2 * 2 * Ho * Wo));
  for (size_t i = 0; i < pts.size(); ++i) {
    const bool rows = (i / size_t(Ho * Wo)) % 2 == 0;
    const double size = rows ? H : W;
    switch (i % 5) {
      case 0: pts[i] = size - 1; break;                           // on the last row / column
      case 1: pts[i] = double(gen.randint(0, int64_t(size))); break;  // an integer
      default: pts[i] = gen.uniform(-1.5, size + 0.5);            // inside and beyond
    }
  }
  Tensor grid = from_vector(pts, {2, 2, Ho, Wo}, kFloat32).requires_grad_();
  for (GridBorder border : {GridBorder::Zeros, GridBorder::Clamp, GridBorder::DcsrReference}) {
    require_parity("grid_sample rule " + std::to_string(int(border)),
                   [border](const TensorList& in) { return TensorList{grid_sample(in[0], in[1], border)}; },
                   {f32({2, 3, H, W}, 352), grid}, {1e-6, 1e-5, 1e-5, 1e-5});
  }
}

TEST_CASE("cuda: aligned grid and aligned sample, clamps included", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (int64_t k : {2, 4}) {
    // raw in [-5, 5]: a = raw + 1 is clamped to [-3, 3] for some entries.
    require_parity("aligned_grid k " + std::to_string(k),
                   one([k](const Tensor& raw) { return aligned_grid(raw, k); }), {f32({2, 3, 4, 5}, 361, -5.0, 5.0)},
                   {1e-5, 1e-5, 1e-4, 1e-5});
    require_parity("aligned_sample k " + std::to_string(k),
                   [k](const TensorList& in) { return TensorList{aligned_sample(in[0], in[1], k)}; },
                   {f32({2, 3, 4 * k, 5 * k}, 362), f32({2, 3, 4, 5}, 363, -1.0, 1.0)}, {1e-5, 1e-5, 1e-4, 1e-4});
  }
}

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

TEST_CASE("cuda: contextual loss forward and backward", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape x, y;
    double h;
  };
  // Tiny unequal maps; another band width; 1600 x 1600 features (several
  // row chunks in every sweep, one gcos tile).
  std::vector<Case> cases = {{{2, 8, 6, 7}, {2, 8, 5, 9}, 0.5}, {{1, 16, 9, 9}, {1, 16, 12, 10}, 0.1},
                             {{1, 32, 40, 40}, {1, 32, 40, 40}, 0.5}};
  for (const Case& c : cases) {
    require_parity("contextual_loss " + shape_str(c.x) + " vs " + shape_str(c.y),
                   [h = c.h](const TensorList& in) { return TensorList{contextual_loss(in[0], in[1], h)}; },
                   {f32(c.x, 371), f32(c.y, 372)}, {1e-5, 1e-4, 3e-5, 1e-3});
  }
  // Tiles of gcos smaller than the image pair (the workspace is the matching's tile limit).
  const int64_t saved = match_tile_limit();
  set_match_tile_limit(int64_t(1) << 16);
  require_parity("contextual_loss in gcos tiles",
                 [](const TensorList& in) { return TensorList{contextual_loss(in[0], in[1])}; },
                 {f32({1, 8, 30, 30}, 373), f32({1, 8, 25, 30}, 374)}, {1e-5, 1e-4, 3e-5, 1e-3});
  set_match_tile_limit(saved);
}

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

TEST_CASE("cuda: l1 and mse losses", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  require_parity("l1_loss", [](const TensorList& in) { return TensorList{l1_loss(in[0], in[1])}; },
                 {f32({2, 3, 17, 19}, 381), f32({2, 3, 17, 19}, 382)}, {1e-6, 1e-5});
  require_parity("mse_loss", [](const TensorList& in) { return TensorList{mse_loss(in[0], in[1])}; },
                 {f32({2, 3, 17, 19}, 383), f32({2, 3, 17, 19}, 384)}, {1e-6, 1e-5});
}
