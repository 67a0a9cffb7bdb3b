#pragma once
// Op table rows (tests/op_table.h), image ops: the convolutions (plain,
// with the fused activation, with the fused residual), bicubic resize,
// pooling, unfold / fold, and the §9.1 blur. Gradcheck cases cover every CPU
// code path (tests/conv_cases.h); parity cases every CUDA path, with a
// workspace small enough to cut images into column chunks where it matters.
#include "conv_cases.h"
#include "op_table_types.h"

namespace dcsr::test {

namespace op_rows_image {

// A golden run of a one-input op: y = f(x), dx for the upstream gy.
inline GoldenRun one_input_golden(const std::string& label, const Tensor& x, std::function<Tensor(const Tensor&)> f,
                           const std::string& y, const std::string& gy, const std::string& dx) {
  return GoldenRun{label, {x.detach().clone().requires_grad_()}, unary(std::move(f)), {y}, {gy}, {dx}};
}

// ---------------------------------------------------------------- convolutions

inline OpRow conv2d_row() {
  OpRow row{"conv2d"};
  for (const ConvCase& c : conv_cases())
    row.cases.push_back(make_case(describe(c), kGradcheck, [c](DType dt) { return conv_inputs(c, 21, dt); },
                                  [c](const TensorList& in) { return TensorList{conv_of(c, in)}; }));
  // Only some inputs requiring grad: the others' gradients are not computed.
  const ConvCase some{{1, 2, 5, 6}, 3, 3, 1, 1, 1, true};
  for (size_t needs : {size_t(2), size_t(1), size_t(0)})
    row.cases.push_back(make_case(std::string("only ") + (needs == 2 ? "the bias" : needs == 1 ? "the weight" : "the input") +
                                      " requiring grad",
                                  kGradcheck,
                                  [some, needs](DType dt) {
                                    TensorList in = conv_inputs(some, 31, dt);
                                    for (size_t i = 0; i < in.size(); ++i)
                                      if (i != needs) in[i] = in[i].detach();
                                    return in;
                                  },
                                  [some](const TensorList& in) { return TensorList{conv_of(some, in)}; }));
  // Every CUDA path; whole images per chunk, then a workspace smaller than
  // one image's column matrix, so that images are cut into column ranges.
  struct Case {
    const char* what;
    Shape x, w;
    int64_t stride, padding, groups;
    bool bias;
  };
  const std::vector<Case> device_cases = {
      {"3x3 same padding, bias", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, 1, 1, true},
      {"3x3 stride 2", {2, 3, 9, 11}, {4, 3, 3, 3}, 2, 1, 1, true},
      {"5x5 no padding", {2, 4, 10, 9}, {3, 4, 5, 5}, 1, 0, 1, false},
      {"3x3 padding 2 (wider than k-1)", {1, 2, 6, 7}, {3, 2, 3, 3}, 1, 2, 1, true},
      {"4x4 stride 3", {2, 3, 13, 12}, {2, 3, 4, 4}, 3, 1, 1, true},
      {"grouped 2", {2, 4, 8, 9}, {6, 2, 3, 3}, 1, 1, 2, true},
      {"pointwise", {3, 6, 7, 5}, {4, 6, 1, 1}, 1, 0, 1, true},
      {"pointwise grouped 3", {2, 6, 7, 5}, {9, 2, 1, 1}, 1, 0, 3, false},
      {"1x1 stride 2 (im2col path)", {2, 3, 7, 8}, {4, 3, 1, 1}, 2, 0, 1, true},
      {"depthwise 3x3", {2, 4, 9, 10}, {4, 1, 3, 3}, 1, 1, 4, true},
      {"depthwise 3x3 stride 2, no padding", {2, 4, 9, 10}, {4, 1, 3, 3}, 2, 0, 4, false},
      {"64 -> 64 3x3 at 40x40", {2, 64, 40, 40}, {64, 64, 3, 3}, 1, 1, 1, true},
  };
  for (const Case& c : device_cases) {
    const int64_t small = c.x[1] >= 64 ? int64_t(1) << 20 : int64_t(4096);
    for (int64_t limit : {int64_t(256) << 20, small}) {
      OpCase oc = make_case(std::string(c.what) + (limit == small ? ", column chunks" : ""), kParity,
                            [c](DType dt) {
                              TensorList in = {uniform_leaf(c.x, 201, dt), uniform_leaf(c.w, 202, dt, -0.3, 0.3)};
                              if (c.bias) in.push_back(uniform_leaf({c.w[0]}, 203, dt));
                              return in;
                            },
                            [c](const TensorList& in) {
                              return TensorList{conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding, c.groups)};
                            });
      oc.scope = [limit] { return std::make_shared<WorkspaceLimit>(limit); };
      row.cases.push_back(oc);
    }
  }
  // Sums of up to 576 products (forward), 6400 (weight gradient): float32 rounding.
  row.parity = {1e-5, 1e-4, 1e-4, 1e-4};
  row.goldens.push_back({"conv2d", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (std::string p : {"k3s1", "k3s2", "k5s2", "k5s4", "k7s1", "k7s2", "k1s1", "k3s4", "dw3"}) {
      std::vector<int64_t> params = g.at(p + ".params").to_vector<int64_t>();  // stride, padding, groups
      TensorList in;
      for (const char* t : {".x", ".w", ".b"}) in.push_back(g.at(p + t).detach().clone().requires_grad_());
      runs.push_back({p, in,
                      [params](const TensorList& t) { return TensorList{conv2d(t[0], t[1], t[2], params[0], params[1], params[2])}; },
                      {p + ".y"}, {p + ".gy"}, {p + ".dx", p + ".dw", p + ".db"}});
    }
    return runs;
  }});
  // Bench sizes: x (N, C, H, W), C -> C channels, 3x3, padding 1, bias
  // (apps/bench/bench_conv.cpp; "cuda": bench_cuda.cpp).
  row.bench = {{"", {1, 64, 128, 128}},
               {"", {1, 64, 256, 256}, BenchSize::kFullOnly},
               {"cuda", {1, 64, 256, 256}},
               {"cuda", {16, 64, 48, 48}, BenchSize::kFullOnly}};  // a training batch of 48^2 crops
  return row;
}

inline OpRow conv2d_leaky_relu_row() {
  OpRow row{"conv2d_leaky_relu"};
  row.parity = {1e-5, 1e-4, 1e-4, 1e-4};
  for (double slope : {0.2, 0.0}) {
    const std::string s = " slope " + std::to_string(slope);
    for (const ConvCase& c : {ConvCase{{2, 3, 7, 6}, 4, 3, 1, 1, 1, true}, ConvCase{{1, 4, 13, 12}, 3, 5, 4, 2, 1, true},
                              ConvCase{{1, 2, 5, 6}, 3, 1, 2, 0, 1, false}})
      row.cases.push_back(make_case(describe(c) + s, kGradcheck, [c](DType dt) { return conv_inputs(c, 71, dt); },
                                    [c, slope](const TensorList& in) {
                                      return TensorList{conv2d_leaky_relu(in[0], in[1], c.bias ? in[2] : Tensor(), slope,
                                                                          c.stride, c.padding)};
                                    }));
    struct Case {
      const char* what;
      Shape x, w;
      int64_t stride;
      bool bias;
    };
    for (const Case& c : {Case{"3x3, bias", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, true},
                          Case{"3x3 stride 2, no bias", {2, 3, 9, 11}, {4, 3, 3, 3}, 2, false},
                          Case{"pointwise, no bias (activation without a bias)", {3, 6, 7, 5}, {4, 6, 1, 1}, 1, false}})
      row.cases.push_back(make_case(
          std::string(c.what) + s, kParity,
          [c](DType dt) {
            TensorList in = {uniform_leaf(c.x, 221, dt), uniform_leaf(c.w, 222, dt, -0.3, 0.3)};
            if (c.bias) in.push_back(uniform_leaf({c.w[0]}, 223, dt));
            return in;
          },
          [c, slope](const TensorList& in) {
            return TensorList{conv2d_leaky_relu(in[0], in[1], c.bias ? in[2] : Tensor(), slope, c.stride)};
          }));
  }
  return row;
}

// Its gradient is the two ops' (it records them); parity also checks the
// graph-free form, which on CUDA runs the two kernels and on the CPU pools in cache.
inline OpRow conv2d_leaky_relu_max_pool2_row() {
  OpRow row{"conv2d_leaky_relu_max_pool2", true};  // a composite: it records max_pool2d and conv2d_leaky_relu
  row.parity = {1e-5, 1e-4, 1e-4, 1e-4};
  for (double slope : {0.0, 0.2}) {
    const std::string s = " slope " + std::to_string(slope);
    const ConvCase c{{2, 3, 7, 6}, 4, 3, 1, 1, 1, true};
    row.cases.push_back(make_case(describe(c) + s, kGradcheck, [c](DType dt) { return conv_inputs(c, 75, dt); },
                                  [slope](const TensorList& in) {
                                    return TensorList{conv2d_leaky_relu_max_pool2(in[0], in[1], in[2], slope)};
                                  }));
    row.cases.push_back(make_case(
        "(2, 16, 21, 35) -> 8, no graph" + s, kParity,
        [](DType dt) {
          return TensorList{uniform_leaf({2, 16, 21, 35}, 225, dt).detach(),
                            uniform_leaf({8, 16, 3, 3}, 226, dt, -0.3, 0.3).detach(), uniform_leaf({8}, 227, dt).detach()};
        },
        [slope](const TensorList& in) { return TensorList{conv2d_leaky_relu_max_pool2(in[0], in[1], in[2], slope)}; }));
  }
  return row;
}

// Its gradient is the two ops' (it records them); parity also checks the
// graph-free form, which on CUDA runs the two kernels and on the CPU reads
// both inputs in place.
inline OpRow conv2d_leaky_relu_concat_row() {
  OpRow row{"conv2d_leaky_relu_concat", true};  // a composite: it records concat and conv2d_leaky_relu
  row.parity = {1e-5, 1e-4, 1e-4, 1e-4};
  row.cases.push_back(make_case("(2, 2, 6, 7) + (2, 3, 6, 7) -> 4, 3x3", kGradcheck,
                                [](DType dt) {
                                  return TensorList{uniform_leaf({2, 2, 6, 7}, 76, dt), uniform_leaf({2, 3, 6, 7}, 77, dt),
                                                    uniform_leaf({4, 5, 3, 3}, 78, dt), uniform_leaf({4}, 79, dt)};
                                },
                                [](const TensorList& in) {
                                  return TensorList{conv2d_leaky_relu_concat(in[0], in[1], in[2], in[3], 0.2)};
                                }));
  for (int64_t stride : {1, 2})
    row.cases.push_back(make_case(
        "(2, 8, 21, 35) + (2, 8, 21, 35) -> 8, 5x5 stride " + std::to_string(stride) + ", no graph", kParity,
        [](DType dt) {
          return TensorList{uniform_leaf({2, 8, 21, 35}, 228, dt).detach(), uniform_leaf({2, 8, 21, 35}, 229, dt).detach(),
                            uniform_leaf({8, 16, 5, 5}, 230, dt, -0.3, 0.3).detach(), uniform_leaf({8}, 231, dt).detach()};
        },
        [stride](const TensorList& in) {
          return TensorList{conv2d_leaky_relu_concat(in[0], in[1], in[2], in[3], 0.2, stride)};
        }));
  return row;
}

inline OpRow conv2d_residual_row() {
  OpRow row{"conv2d_residual"};
  row.parity = {1e-5, 1e-4, 1e-4, 1e-4};
  for (double slope : {1.0, 0.2})
    for (bool bias : {true, false}) {
      const std::string what = "slope " + std::to_string(slope) + (bias ? ", bias" : ", no bias");
      auto call = [slope, bias](const TensorList& in) {
        return TensorList{conv2d_residual(in[0], in[1], bias ? in[2] : Tensor(), in.back(), slope)};
      };
      row.cases.push_back(make_case(what, kGradcheck, [bias](DType dt) {
        TensorList in{uniform_leaf({2, 3, 6, 5}, 91, dt), uniform_leaf({4, 3, 3, 3}, 92, dt)};
        if (bias) in.push_back(uniform_leaf({4}, 93, dt));
        in.push_back(uniform_leaf({2, 4, 6, 5}, 94, dt));  // the residual, last
        return in;
      }, call));
      row.cases.push_back(make_case(what + " (2, 5, 9, 11)", kParity, [bias](DType dt) {
        TensorList in{uniform_leaf({2, 5, 9, 11}, 231, dt), uniform_leaf({5, 5, 3, 3}, 232, dt, -0.3, 0.3)};
        if (bias) in.push_back(uniform_leaf({5}, 233, dt));
        in.push_back(uniform_leaf({2, 5, 9, 11}, 234, dt));
        return in;
      }, call));
    }
  return row;
}

// ---------------------------------------------------------------- resampling and pooling

inline std::vector<OpRow> resampling_rows() {
  std::vector<OpRow> rows;
  OpRow bicubic{"bicubic_resize"};
  bicubic.parity = {1e-5, 1e-5};
  for (bool ac : {false, true}) {
    const std::string mode = ac ? " align_corners" : "";
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{10, 14}, {2, 3}, {9, 11}, {3, 4}, {1, 1}, {5, 7}, {1, 9}})
      bicubic.cases.push_back(make_case("(2, 2, 5, 7) -> " + std::to_string(h) + "x" + std::to_string(w) + mode, kGradcheck,
                                        [](DType dt) { return TensorList{uniform_leaf({2, 2, 5, 7}, 41, dt)}; },
                                        unary([ac, h = h, w = w](const Tensor& x) { return bicubic_resize(x, h, w, ac); })));
    struct Case {
      Shape x;
      int64_t out_h, out_w;
    };
    for (const Case& c : {Case{{2, 3, 8, 9}, 16, 18}, Case{{1, 2, 10, 7}, 40, 28}, Case{{2, 2, 17, 19}, 8, 6},
                          Case{{1, 1, 1, 5}, 3, 11}, Case{{1, 3, 5, 5}, 5, 5}, Case{{1, 2, 33, 30}, 97, 61}})
      bicubic.cases.push_back(make_case(shape_str(c.x) + " -> " + std::to_string(c.out_h) + "x" + std::to_string(c.out_w) + mode,
                                        kParity, [c](DType dt) { return TensorList{uniform_leaf(c.x, 221, dt)}; },
                                        unary([c, ac](const Tensor& x) { return bicubic_resize(x, c.out_h, c.out_w, ac); })));
  }
  bicubic.goldens.push_back({"bicubic", [](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (int ac : {0, 1})
      for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{10, 14}, {2, 3}, {9, 11}, {3, 4}}) {
        const std::string p = "ac" + std::to_string(ac) + "_" + std::to_string(h) + "x" + std::to_string(w);
        runs.push_back(one_input_golden(p, g.at("x"), [ac, h = h, w = w](const Tensor& x) { return bicubic_resize(x, h, w, ac == 1); },
                                        p + ".y", p + ".gy", p + ".dx"));
      }
    auto half = [](const Tensor& x) { return bicubic_resize(x, 3, 4); };
    runs.push_back(one_input_golden("half_even", g.at("half_even.x"), half, "half_even.y", "half_even.gy", "half_even.dx"));
    runs.push_back(one_input_golden("half_even (4-tap filter)", g.at("half_even.x"), half, "half_even.y4tap", "", ""));
    return runs;
  }});
  rows.push_back(bicubic);

  OpRow scale{"bicubic_scale", true};  // torch 1.4's scale_factor sizes (dcsr-spec §1)
  scale.parity = {1e-5, 1e-5};
  scale.cases.push_back(make_case("x4 (1, 3, 12, 10)", kParity, [](DType dt) { return TensorList{uniform_leaf({1, 3, 12, 10}, 222, dt)}; },
                                  unary([](const Tensor& x) { return bicubic_scale(x, 4.0); })));
  scale.cases.push_back(make_case("x0.5 (1, 2, 7, 9)", kBothChecks, [](DType dt) { return TensorList{uniform_leaf({1, 2, 7, 9}, 223, dt)}; },
                                  unary([](const Tensor& x) { return bicubic_scale(x, 0.5); })));
  rows.push_back(scale);

  for (bool take_max : {false, true}) {
    OpRow row{take_max ? "max_pool2d" : "avg_pool2d"};
    row.parity = take_max ? ParityTolerance{1e-12, 0.0} : ParityTolerance{1e-6, 1e-6};
    auto pool = [take_max](int64_t k) {
      return unary([take_max, k](const Tensor& x) { return take_max ? max_pool2d(x, k) : avg_pool2d(x, k); });
    };
    for (int64_t k : {2, 3}) {
      const std::string ks = "kernel " + std::to_string(k);
      if (take_max)
        row.cases.push_back(make_case(ks, kGradcheck, [](DType dt) { return TensorList{distinct_leaf({2, 2, 7, 8}, 52, dt)}; }, pool(k)));
      else
        row.cases.push_back(make_case(ks, kGradcheck, [](DType dt) { return TensorList{uniform_leaf({2, 2, 7, 8}, 51, dt)}; }, pool(k)));
      // 11 x 13 with kernel 2 and 3 leaves rows and columns that no window reads.
      row.cases.push_back(make_case(ks + (take_max ? " distinct" : "") + " (2, 3, 11, 13)", kParity,
                                    [take_max](DType dt) { return TensorList{uniform_leaf({2, 3, 11, 13}, take_max ? 242 : 241, dt)}; },
                                    pool(k)));
      // Many equal values per window: the gradient must go to the same (first) element.
      if (take_max)
        row.cases.push_back(make_case(ks + " ties (2, 3, 11, 13)", kParity,
                                      [](DType dt) { return TensorList{ties_leaf({2, 3, 11, 13}, 243, dt, 2)}; }, pool(k)));
    }
    const std::string key = take_max ? "maxpool" : "avgpool";
    row.goldens.push_back({"pool", [key, pool](const GoldenFile& g) {
      return std::vector<GoldenRun>{
          GoldenRun{key, {g.at("x").detach().clone().requires_grad_()}, pool(2), {key + ".y"}, {key + ".gy"}, {key + ".dx"}}};
    }});
    rows.push_back(row);
  }
  return rows;
}

// ---------------------------------------------------------------- unfold, fold, blur

inline std::vector<OpRow> im2col_rows() {
  struct Geo {
    int64_t k, s, p;
  };
  auto what = [](Geo g) {
    return "k " + std::to_string(g.k) + " stride " + std::to_string(g.s) + " padding " + std::to_string(g.p);
  };
  auto windows = [](int64_t h, int64_t w, Geo g) { return ((h + 2 * g.p - g.k) / g.s + 1) * ((w + 2 * g.p - g.k) / g.s + 1); };
  OpRow unfold_row{"unfold"}, fold_row{"fold"};
  unfold_row.parity = {1e-12, 0.0, 1e-6, 1e-6};
  fold_row.parity = {1e-6, 1e-6, 1e-12, 0.0};
  for (Geo g : std::vector<Geo>{{3, 1, 1}, {2, 2, 0}, {4, 4, 0}, {3, 2, 1}, {1, 1, 0}}) {
    unfold_row.cases.push_back(make_case(what(g), kGradcheck, [](DType dt) { return TensorList{uniform_leaf({1, 2, 6, 7}, 71, dt)}; },
                                         unary([g](const Tensor& x) { return unfold(x, g.k, g.s, g.p); })));
    const int64_t L = windows(6, 7, g);
    fold_row.cases.push_back(make_case(what(g), kGradcheck, [g, L](DType dt) { return TensorList{uniform_leaf({1, 2 * g.k * g.k, L}, 72, dt)}; },
                                       unary([g](const Tensor& c) { return fold(c, 6, 7, g.k, g.s, g.p); })));
  }
  for (Geo g : std::vector<Geo>{{3, 1, 1}, {2, 2, 0}, {3, 2, 1}, {4, 3, 2}, {1, 1, 0}}) {
    unfold_row.cases.push_back(make_case(what(g) + " (2, 3, 10, 11)", kParity,
                                         [](DType dt) { return TensorList{uniform_leaf({2, 3, 10, 11}, 251, dt)}; },
                                         unary([g](const Tensor& x) { return unfold(x, g.k, g.s, g.p); })));
    const int64_t L = windows(10, 11, g);
    fold_row.cases.push_back(make_case(what(g) + " to 10x11", kParity,
                                       [g, L](DType dt) { return TensorList{uniform_leaf({2, 3 * g.k * g.k, L}, 252, dt)}; },
                                       unary([g](const Tensor& c) { return fold(c, 10, 11, g.k, g.s, g.p); })));
  }
  auto geometry = [](const GoldenFile& g, const std::string& p) {
    std::vector<int64_t> v = g.at(p + ".params").to_vector<int64_t>();  // k, padding, stride
    return Geo{v[0], v[2], v[1]};
  };
  unfold_row.goldens.push_back({"unfold_fold", [geometry](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    for (std::string p : {"k3p1s1", "k2p0s2", "k4p0s4"}) {
      Geo geo = geometry(g, p);
      runs.push_back(one_input_golden(p, g.at("x"), [geo](const Tensor& x) { return unfold(x, geo.k, geo.s, geo.p); },
                                      p + ".unfold", p + ".unfold_gy", p + ".unfold_dx"));
    }
    return runs;
  }});
  fold_row.goldens.push_back({"unfold_fold", [geometry](const GoldenFile& g) {
    std::vector<GoldenRun> runs;
    const int64_t H = g.at("x").size(2), W = g.at("x").size(3);
    for (std::string p : {"k3p1s1", "k2p0s2", "k4p0s4"}) {
      Geo geo = geometry(g, p);
      runs.push_back(one_input_golden(p, g.at(p + ".fold_in"),
                                      [geo, H, W](const Tensor& c) { return fold(c, H, W, geo.k, geo.s, geo.p); },
                                      p + ".fold", p + ".fold_gy", p + ".fold_dcols"));
    }
    return runs;
  }});

  OpRow blur{"gaussian_blur3", true};  // reflection padding 2 + depthwise 3x3 (dcsr-spec §9.1)
  blur.parity = {1e-6, 1e-5};
  blur.cases.push_back(make_case("(2, 3, 4, 5)", kGradcheck, [](DType dt) { return TensorList{uniform_leaf({2, 3, 4, 5}, 81, dt)}; },
                                 unary([](const Tensor& x) { return gaussian_blur3(x); })));
  blur.cases.push_back(make_case("(2, 3, 17, 13)", kParity, [](DType dt) { return TensorList{uniform_leaf({2, 3, 17, 13}, 211, dt)}; },
                                 unary([](const Tensor& x) { return gaussian_blur3(x); })));
  blur.goldens.push_back({"blur", [](const GoldenFile& g) {
    GoldenRun kernel;  // the kernel itself: the blur of a centred impulse, read back flipped
    kernel.label = "kernel (the blur of an impulse)";
    std::vector<double> impulse(49, 0.0);
    impulse[24] = 1.0;
    kernel.inputs = {from_vector(impulse, {1, 1, 7, 7})};
    kernel.call = [](const TensorList& in) {
      std::vector<double> v = gaussian_blur3(in[0]).to_vector<double>(), k;
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) k.push_back(v[size_t((5 - a) * 9 + (5 - b))]);
      return TensorList{from_vector(k, {3, 3})};
    };
    kernel.outputs = {"kernel"};
    kernel.atol = 1e-15, kernel.rtol = 1e-14;
    return std::vector<GoldenRun>{one_input_golden("y", g.at("x"), [](const Tensor& x) { return gaussian_blur3(x); }, "y", "gy", "dx"),
                                  kernel};
  }});
  return {unfold_row, fold_row, blur};
}

}  // namespace op_rows_image

inline std::vector<OpRow> image_rows() {
  using namespace op_rows_image;
  std::vector<OpRow> rows{conv2d_row(), conv2d_leaky_relu_row(), conv2d_leaky_relu_max_pool2_row(),
                          conv2d_leaky_relu_concat_row(), conv2d_residual_row()};
  for (OpRow& r : resampling_rows()) rows.push_back(std::move(r));
  for (OpRow& r : im2col_rows()) rows.push_back(std::move(r));
  return rows;
}

}  // namespace dcsr::test
