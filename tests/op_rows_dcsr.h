#pragma once
// Op table rows (tests/op_table.h), the DCSR operators: patch matching
// (dcsr-spec §4.1), block transfer (§4.2), the aligned sampler (§5) and the
// losses (§9). Inputs stay away from ties of the argmax and from the floors and
// clamps of the sampler, so that finite differences never cross a jump.
#include <cmath>

#include "autograd/ops/dcsr_internal.h"
#include "op_table_types.h"

namespace dcsr::test {

namespace op_rows_dcsr {

// Unit-norm random columns (N, D, L) of `dtype` requiring grad.
inline Tensor unit_columns(const Shape& shape, uint64_t seed, DType dtype) {
  Generator gen(seed);
  NoGradGuard no_grad;
  return detail::normalize_columns(normal(shape, gen, 0.0, 1.0, dtype)).detach().requires_grad_();
}

// Values in [low, high) whose distance to the nearest integer is at least
// `margin`: sample points where the floor does not jump under a finite
// difference and that never sit on a clamp bound (0 and size - 1).
inline Tensor off_integer(const Shape& shape, uint64_t seed, DType dtype, double low, double high, double margin = 0.15) {
  Generator gen(seed);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (double& x : v) {
    do x = gen.uniform(low, high);
    while (std::abs(x - std::round(x)) < margin);
  }
  return from_vector(v, shape, dtype).requires_grad_();
}

// Random raw predictions whose sample points all keep 0.02 from integers (so a
// gradcheck never straddles a jump of the floor); tries seeds in turn.
inline Tensor raw_off_integer_grid(const Shape& shape, int64_t k, uint64_t seed, DType dtype, double low, double high) {
  for (uint64_t s = seed; s < seed + 500; ++s) {
    Tensor raw = uniform_leaf(shape, s, kFloat64, low, high);
    NoGradGuard no_grad;
    double nearest = 1.0;
    for (double x : aligned_grid(raw, k).to_vector<double>()) nearest = std::min(nearest, std::abs(x - std::round(x)));
    if (nearest > 0.02) return in_dtype(raw, dtype);
  }
  fail("raw_off_integer_grid: no raw predictions with every sample point off the integers");
}

inline TensorFunction matcher() {
  return [](const TensorList& in) {
    MatchResult m = max_cosine(in[0], in[1]);
    return TensorList{m.confidence, m.index};
  };
}
inline TensorFunction patch_matcher() {
  return [](const TensorList& in) {
    MatchResult m = patch_match(in[0], in[1]);
    return TensorList{m.confidence, m.index};
  };
}
// A float64 leaf with the values of a golden tensor.
inline Tensor golden_leaf(const GoldenFile& g, const std::string& key) { return g.at(key).detach().clone().requires_grad_(); }

// ---------------------------------------------------------------- matching

inline std::vector<OpRow> matching_rows() {
  OpRow columns{"normalize_columns"};
  columns.parity = {1e-6, 1e-5};
  columns.cases.push_back(make_case("(2, 5, 7)", kBothChecks, [](DType dt) { return TensorList{uniform_leaf({2, 5, 7}, 300, dt)}; },
                                    unary([](const Tensor& x) { return detail::normalize_columns(x); })));
  // Columns of zeros: the norm is below F.normalize's epsilon there (a kink: parity only).
  columns.cases.push_back(make_case("with zero columns", kParity, [](DType dt) {
    std::vector<double> v = uniform_leaf({1, 3, 5, 6}, 302, dt).detach().to_vector<double>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 3; ++y)
        for (int64_t x = 0; x < 3; ++x) v[size_t((c * 5 + y) * 6 + x)] = 0.0;
    return TensorList{from_vector(v, {1, 3, 5, 6}, dt).requires_grad_()};
  }, unary([](const Tensor& x) { return detail::normalize_columns(x.reshape({1, 3, 30})); })));

  // Bench sizes: queries, keys (descriptors of 144 = 16 x 3 x 3 dimensions).
  OpRow cosine{"max_cosine"};
  // Unnormalised random columns: the op is max_j <k_j, q_i> on whatever it gets.
  cosine.cases.push_back(make_case("(2, 5, 7) vs (2, 5, 9)", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({2, 5, 7}, 11, dt), uniform_leaf({2, 5, 9}, 12, dt)};
  }, matcher()));
  // Several queries choosing the same key: its gradient sums them.
  cosine.cases.push_back(make_case("6 queries, 2 keys", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({1, 3, 6}, 14, dt), uniform_leaf({1, 3, 2}, 13, dt)};
  }, matcher()));
  // Odd sizes (partial tiles, D not a multiple of 8); few queries against many
  // keys (the rows are cut into chunks merged by a second kernel); two images.
  // Every dot product is the same fma chain on both devices
  // (kernels/cuda/dot_sweep.cuh): the tolerance only allows for a compiler
  // that does not contract the CPU's chain.
  for (auto [q, k] : std::vector<std::pair<Shape, Shape>>{{{2, 20, 131}, {2, 20, 203}}, {{1, 36, 700}, {1, 36, 5000}},
                                                         {{2, 9, 1}, {2, 9, 300}}, {{1, 64, 300}, {1, 64, 129}}})
    cosine.cases.push_back(make_case(shape_str(q) + " vs " + shape_str(k), kParity, [q = q, k = k](DType dt) {
      return TensorList{unit_columns(q, 311, dt), unit_columns(k, 312, dt)};
    }, matcher()));
  cosine.parity = {1e-6, 1e-6, 1e-5, 1e-5};
  cosine.bench = {{"", {4096, 4096}, BenchSize::kQuickOnly},
                  {"train", {16384, 16384}, BenchSize::kFullOnly},     // LR 128^2 vs Ref/2 128^2
                  {"4k_tile", {27556, 30976}, BenchSize::kFullOnly},   // 166^2 queries vs 176^2 keys
                  // GPU (bench_cuda.cpp, kernels/study/max_cosine.cu): (N, D, queries, keys)
                  {"cuda", {1, 576, 1024, 1024}, BenchSize::kQuickOnly},
                  {"cuda", {1, 576, 4096, 4096}, BenchSize::kFullOnly},     // 64 channels (D = 576)
                  {"cuda", {4, 576, 1600, 6400}, BenchSize::kFullOnly},     // a batch: 40^2 queries, 80^2 keys
                  {"cuda", {1, 144, 27556, 30976}, BenchSize::kFullOnly}};  // the 4K tile's (16 channels, 3x3)

  OpRow descriptors{"patch_descriptors", true};
  descriptors.parity = {1e-6, 1e-5};
  descriptors.cases.push_back(make_case("(1, 2, 3, 4)", kGradcheck, [](DType dt) { return TensorList{uniform_leaf({1, 2, 3, 4}, 22, dt)}; },
                                        unary([](const Tensor& f) { return patch_descriptors(f); })));
  descriptors.cases.push_back(make_case("(2, 4, 7, 9)", kParity, [](DType dt) { return TensorList{uniform_leaf({2, 4, 7, 9}, 301, dt)}; },
                                        unary([](const Tensor& f) { return patch_descriptors(f); })));
  descriptors.goldens.push_back({"patch_match", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (const char* side : {"q", "k"})
      runs.push_back({side, {golden_leaf(g, std::string("rand.") + side)}, unary([](const Tensor& f) { return patch_descriptors(f); }),
                      {std::string("rand.") + side + "_hat"}, {""}, {""}});
    return runs;
  }});

  OpRow match{"patch_match", true};
  match.parity = {1e-6, 1e-6, 1e-5, 1e-5};
  match.cases.push_back(make_case("(1, 2, 3, 4) vs (1, 2, 4, 5)", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({1, 2, 3, 4}, 23, dt), uniform_leaf({1, 2, 4, 5}, 24, dt)};
  }, patch_matcher()));
  match.cases.push_back(make_case("(1, 8, 12, 10) vs (1, 8, 20, 18)", kParity, [](DType dt) {
    return TensorList{uniform_leaf({1, 8, 12, 10}, 331, dt), uniform_leaf({1, 8, 20, 18}, 332, dt)};
  }, patch_matcher()));
  // Keys with a constant region: many identical descriptors, exact ties.
  match.cases.push_back(make_case("flat region", kParity, [](DType dt) {
    std::vector<double> kv = uniform_leaf({1, 3, 12, 14}, 333, dt).detach().to_vector<double>();
    std::vector<double> qv = uniform_leaf({1, 3, 5, 6}, 334, dt).detach().to_vector<double>();
    const double flat[3] = {0.3, -0.7, 0.45};
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t y = 2; y <= 8; ++y)
        for (int64_t x = 3; x <= 10; ++x) kv[size_t((c * 12 + y) * 14 + x)] = flat[c];
      for (int64_t y = 0; y <= 2; ++y)
        for (int64_t x = 0; x <= 2; ++x) qv[size_t((c * 5 + y) * 6 + x)] = flat[c];
    }
    return TensorList{from_vector(qv, {1, 3, 5, 6}, dt).requires_grad_(), from_vector(kv, {1, 3, 12, 14}, dt).requires_grad_()};
  }, patch_matcher()));
  match.goldens.push_back({"patch_match", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (std::string p : {"rand", "ties"})  // random, and exact ties (the first index wins)
      runs.push_back({p, {golden_leaf(g, p + ".q"), golden_leaf(g, p + ".k")}, patch_matcher(), {p + ".conf", p + ".index"},
                      {p + ".gy"}, {p + ".dq", p + ".dk"}});
    return runs;
  }});
  return {columns, cosine, descriptors, match};
}

// ---------------------------------------------------------------- block transfer and the aligned sampler

inline std::vector<OpRow> sampler_rows() {
  OpRow gather{"block_gather"};
  gather.parity = {1e-12, 0.0, 1e-6, 1e-6};
  for (int64_t k : {1, 2, 3, 4}) {  // 3: the CPU's general copy (1, 2 and 4 have their own)
    const std::string ks = "block " + std::to_string(k);
    // 2 x 3 = 6 source blocks, a 2 x 2 output grid per image, repeats included.
    gather.cases.push_back(make_case(ks, kGradcheck, [k](DType dt) {
      return TensorList{uniform_leaf({2, 2, 2 * k, 3 * k}, 31, dt), from_vector<int64_t>({5, 0, 5, 5, 1, 1, 2, 0}, {2, 4})};
    }, [k](const TensorList& in) { return TensorList{block_gather(in[0], in[1], k, 2, 2)}; }));
    // A 3 x 4 grid of source blocks; a 2 x 5 output grid with repeats.
    gather.cases.push_back(make_case(ks + " (2, 3, 3k, 4k)", kParity, [k](DType dt) {
      return TensorList{uniform_leaf({2, 3, 3 * k, 4 * k}, 341, dt),
                        from_vector<int64_t>({11, 0, 5, 5, 3, 1, 1, 2, 0, 7, 0, 0, 0, 9, 10, 11, 4, 4, 6, 8}, {2, 10})};
    }, [k](const TensorList& in) { return TensorList{block_gather(in[0], in[1], k, 2, 5)}; }));
  }
  gather.goldens.push_back({"block_transfer", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (std::string p : {"k1", "k2", "k4"}) {
      std::vector<int64_t> grid = g.at(p + ".grid").to_vector<int64_t>();
      const int64_t k = g.at(p + ".value").size(2) / 3;
      GoldenRun run{p, {golden_leaf(g, p + ".value"), g.at(p + ".index")},
                    [k, grid](const TensorList& in) { return TensorList{block_gather(in[0], in[1], k, grid[0], grid[1])}; },
                    {p + ".y"}, {p + ".gy"}, {p + ".dvalue", ""}};
      run.atol = 1e-300, run.rtol = 0.0;  // a copy: exact
      run.grad_atol = 1e-15, run.grad_rtol = 0.0;
      runs.push_back(run);
    }
    return runs;
  }});

  // GPU (kernels/study/block_gather.cu): (N, C, Hv, Wv, k, query rows, query cols): a 4x
  // transfer, 64-channel values 160 x 160 in 4 x 4 blocks, a 40 x 40 query grid, batch 4.
  gather.bench = {{"cuda", {4, 64, 160, 160, 4, 40, 40}}};

  OpRow sample{"grid_sample"};
  sample.parity = {1e-6, 1e-5, 1e-5, 1e-5};
  // Points from 1.5 pixels before the image to 1.5 after it, off integers: the
  // Zeros rule reads partly outside, Clamp and DcsrReference clamp (no
  // gradient wrt the point there).
  for (GridBorder b : {GridBorder::Zeros, GridBorder::Clamp, GridBorder::DcsrReference}) {
    auto call = [b](const TensorList& in) { return TensorList{grid_sample(in[0], in[1], b)}; };
    sample.cases.push_back(make_case("border rule " + std::to_string(int(b)), kGradcheck, [](DType dt) {
      return TensorList{uniform_leaf({2, 2, 4, 5}, 2, dt), off_integer({2, 2, 3, 4}, 3, dt, -1.5, 5.5)};
    }, call));
    // On the device also points on the last row/column, on integers and beyond the border.
    sample.cases.push_back(make_case("border rule " + std::to_string(int(b)) + ", points on integers", kParity, [](DType dt) {
      const int64_t H = 7, W = 9, Ho = 5, Wo = 6;
      Generator gen(351);
      std::vector<double> pts(size_t(2 * 2 * Ho * Wo));
      for (size_t i = 0; i < pts.size(); ++i) {
        const double size = (i / size_t(Ho * Wo)) % 2 == 0 ? H : W;
        switch (i % 5) {
          case 0: pts[i] = size - 1; break;                               // on the last row / column
          case 1: pts[i] = double(gen.randint(0, int64_t(size))); break;  // an integer
          default: pts[i] = gen.uniform(-1.5, size + 0.5);                // inside and beyond
        }
      }
      return TensorList{uniform_leaf({2, 3, H, W}, 352, dt), from_vector(pts, {2, 2, Ho, Wo}, dt).requires_grad_()};
    }, call));
  }

  // GPU (kernels/study/grid_sample.cu): (N, C, H, W, Ho, Wo): the aligned sampler at 4x,
  // 64 channels, a 162 x 162 padded mosaic, 160 x 160 points, batch 4.
  sample.bench = {{"cuda", {4, 64, 162, 162, 160, 160}}};

  OpRow grid{"aligned_grid"};
  grid.parity = {1e-5, 1e-5, 1e-4, 1e-5};
  for (int64_t k : {2, 4}) {
    // a = clamp(raw + 1, -3, 3): kinks at raw = -4 and 2.
    grid.cases.push_back(make_case("block " + std::to_string(k), kGradcheck, [](DType dt) {
      return TensorList{away_leaf({2, 3, 2, 3}, 7, dt, {-4.0, 2.0}, 0.05, -5.5, 3.5)};
    }, unary([k](const Tensor& raw) { return aligned_grid(raw, k); })));
    // raw in [-5, 5]: a = raw + 1 is clamped to [-3, 3] for some entries.
    grid.cases.push_back(make_case("block " + std::to_string(k) + " (2, 3, 4, 5)", kParity, [](DType dt) {
      return TensorList{uniform_leaf({2, 3, 4, 5}, 361, dt, -5.0, 5.0)};
    }, unary([k](const Tensor& raw) { return aligned_grid(raw, k); })));
  }

  OpRow aligned{"aligned_sample", true};  // §5 steps 5-8: pad, aligned_grid, grid_sample
  aligned.parity = {1e-5, 1e-5, 1e-4, 1e-4};
  for (int64_t k : {2, 4}) {
    auto call = [k](const TensorList& in) { return TensorList{aligned_sample(in[0], in[1], k)}; };
    aligned.cases.push_back(make_case("block " + std::to_string(k), kGradcheck, [k](DType dt) {
      return TensorList{uniform_leaf({1, 2, 2 * k, 3 * k}, 8, dt), raw_off_integer_grid({1, 3, 2, 3}, k, 100, dt, -0.6, 0.6)};
    }, call));
    aligned.cases.push_back(make_case("block " + std::to_string(k) + " (2, 3, 4k, 5k)", kParity, [k](DType dt) {
      return TensorList{uniform_leaf({2, 3, 4 * k, 5 * k}, 362, dt), uniform_leaf({2, 3, 4, 5}, 363, dt, -1.0, 1.0)};
    }, call));
  }
  // Large predictions: clamped parameters and samples outside the mosaic.
  aligned.cases.push_back(make_case("block 2, large predictions", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({1, 2, 4, 6}, 9, dt), raw_off_integer_grid({1, 3, 2, 3}, 2, 200, dt, -5.0, 5.0)};
  }, [](const TensorList& in) { return TensorList{aligned_sample(in[0], in[1], 2)}; }));
  aligned.goldens.push_back({"aligned_sampler", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (std::string p : {"k2", "k4", "k2_stress", "k4_stress", "k2_identity"}) {
      const int64_t k = g.at(p + ".k").to_vector<int64_t>()[0];
      runs.push_back({p, {golden_leaf(g, p + ".X"), golden_leaf(g, p + ".raw")},
                      [k](const TensorList& in) { return TensorList{aligned_sample(in[0], in[1], k)}; }, {p + ".y"},
                      {p + ".gy"}, {p + ".dX", p + ".draw"}});
    }
    return runs;
  }});
  return {gather, sample, grid, aligned};
}

// ---------------------------------------------------------------- losses

inline std::vector<OpRow> loss_rows() {
  // Bench sizes: channels, and the side of the square feature maps.
  OpRow cx{"contextual_loss"};
  cx.parity = {1e-5, 1e-4, 3e-5, 1e-3};
  auto contextual = [](double h) { return [h](const TensorList& in) { return TensorList{contextual_loss(in[0], in[1], h)}; }; };
  // Distinct values keep the row minima and column maxima apart.
  cx.cases.push_back(make_case("(2, 3, 2, 3) vs (2, 3, 3, 2), distinct values", kGradcheck, [](DType dt) {
    return TensorList{distinct_leaf({2, 3, 2, 3}, 1, dt), distinct_leaf({2, 3, 3, 2}, 2, dt)};
  }, contextual(0.5)));
  // Unequal sizes, another band width, a single image.
  cx.cases.push_back(make_case("(1, 4, 3, 3) vs (1, 4, 2, 4), band width 0.3", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({1, 4, 3, 3}, 3, dt), uniform_leaf({1, 4, 2, 4}, 4, dt)};
  }, contextual(0.3)));
  // Tiny unequal maps; another band width; 1600 x 1600 features (several row
  // chunks in every sweep, one gcos tile).
  for (auto [x, y, h] : std::vector<std::tuple<Shape, Shape, double>>{{{2, 8, 6, 7}, {2, 8, 5, 9}, 0.5},
                                                                      {{1, 16, 9, 9}, {1, 16, 12, 10}, 0.1},
                                                                      {{1, 32, 40, 40}, {1, 32, 40, 40}, 0.5}})
    cx.cases.push_back(make_case(shape_str(x) + " vs " + shape_str(y) + ", band width " + std::to_string(h), kParity,
                                 [x = x, y = y](DType dt) { return TensorList{uniform_leaf(x, 371, dt), uniform_leaf(y, 372, dt)}; },
                                 contextual(h)));
  // Tiles of gcos smaller than the image pair (the workspace is the matching's tile limit).
  OpCase tiles = make_case("in gcos tiles (tile limit 64 KB)", kParity, [](DType dt) {
    return TensorList{uniform_leaf({1, 8, 30, 30}, 373, dt), uniform_leaf({1, 8, 25, 30}, 374, dt)};
  }, contextual(0.5));
  tiles.scope = [] { return std::make_shared<TileLimitGuard>(int64_t(1) << 16); };
  cx.cases.push_back(tiles);
  cx.goldens.push_back({"contextual", [contextual](const GoldenFile& g) {
    GoldenRun run{"loss", {golden_leaf(g, "x"), golden_leaf(g, "y")}, contextual(0.5), {"loss"}, {"gy"}, {"dx", "dy"}};
    run.atol = 1e-10, run.rtol = 1e-8;
    return std::vector<GoldenRun>{run};
  }});
  cx.bench = {{"", {256, 32}, BenchSize::kQuickOnly}, {"", {256, 64}, BenchSize::kFullOnly},  // (C, side)
              // GPU (kernels/study/contextual.cu): (N, C, Nx, Ny)
              {"cuda", {1, 64, 4096, 4096}, BenchSize::kFullOnly},
              {"cuda", {4, 256, 1024, 1024}, BenchSize::kFullOnly}};

  OpRow l1{"l1_loss", true}, mse{"mse_loss", true};
  l1.parity = mse.parity = {1e-6, 1e-5};
  // |a - b| has a kink where a = b: a stays 0.2 away from 0, b within 0.05 of it.
  l1.cases.push_back(make_case("(2, 3, 4)", kGradcheck, [](DType dt) {
    return TensorList{away_leaf({2, 3, 4}, 9, dt, {0.0}, 0.2), uniform_leaf({2, 3, 4}, 10, dt, -0.05, 0.05)};
  }, binary([](const Tensor& a, const Tensor& b) { return l1_loss(a, b); })));
  mse.cases.push_back(make_case("(2, 3, 4)", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({2, 3, 4}, 11, dt), uniform_leaf({2, 3, 4}, 12, dt)};
  }, binary([](const Tensor& a, const Tensor& b) { return mse_loss(a, b); })));
  l1.cases.push_back(make_case("(2, 3, 17, 19)", kParity, [](DType dt) {
    return TensorList{uniform_leaf({2, 3, 17, 19}, 381, dt), uniform_leaf({2, 3, 17, 19}, 382, dt)};
  }, binary([](const Tensor& a, const Tensor& b) { return l1_loss(a, b); })));
  mse.cases.push_back(make_case("(2, 3, 17, 19)", kParity, [](DType dt) {
    return TensorList{uniform_leaf({2, 3, 17, 19}, 383, dt), uniform_leaf({2, 3, 17, 19}, 384, dt)};
  }, binary([](const Tensor& a, const Tensor& b) { return mse_loss(a, b); })));
  for (OpRow* row : {&l1, &mse}) {
    const std::string p = row == &l1 ? "l1" : "mse";
    row->goldens.push_back({"losses", [p](const GoldenFile& g) {
      return std::vector<GoldenRun>{GoldenRun{p, {golden_leaf(g, p + ".a"), golden_leaf(g, p + ".b")},
                                              binary([p](const Tensor& a, const Tensor& b) { return p == "l1" ? l1_loss(a, b) : mse_loss(a, b); }),
                                              {p + ".loss"}, {p + ".gy"}, {p + ".da", p + ".db"}}};
    }});
  }
  return {cx, l1, mse};
}

}  // namespace op_rows_dcsr

inline std::vector<OpRow> dcsr_rows() {
  using namespace op_rows_dcsr;
  std::vector<OpRow> rows = matching_rows();
  for (OpRow& r : sampler_rows()) rows.push_back(std::move(r));
  for (OpRow& r : loss_rows()) rows.push_back(std::move(r));
  return rows;
}

}  // namespace dcsr::test
