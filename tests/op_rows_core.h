#pragma once
// Op table rows (tests/op_table.h), core ops: elementwise, reductions,
// matmul, and (from op_rows_shape.h) shape and data movement. Gradcheck cases are small (finite
// differences cost two forward passes per element); parity cases hit each CUDA
// kernel's paths: sizes that are not multiples of the block (256) or of the
// transpose tile (32), every broadcasting kind, every grouping of reduced dims,
// ties for max/min, repeated indices for the scatters.
#include "nn/distributed.h"
#include "op_rows_shape.h"
#include "op_table_types.h"

namespace dcsr::test {

namespace op_rows_core {

// ---------------------------------------------------------------- elementwise

// add, sub, mul, div: a uniform, b away from 0 (divisors).
inline OpRow binary_row(const char* name, Tensor (*op)(const Tensor&, const Tensor&)) {
  OpRow row{name};
  row.parity = {1e-6, 1e-5, 1e-4, 1e-5};  // gradients of broadcast operands are sums
  auto add_case = [&](const Shape& sa, const Shape& sb, unsigned checks) {
    uint64_t seed_a = checks == kGradcheck ? 1 : 21;
    row.cases.push_back(make_case(
        shape_str(sa) + " with " + shape_str(sb), checks,
        [=](DType dt) {
          return TensorList{uniform_leaf(sa, seed_a, dt), away_leaf(sb, seed_a + 1, dt, {0.0}, 0.3)};
        },
        binary(op)));
  };
  // same shape, scalar, per-channel (1,C,1,1), outer (3,1) with (1,4), leading dims
  for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{2, 3}, {2, 3}}, {{2, 3}, {}}, {{2, 3, 2, 2}, {1, 3, 1, 1}}, {{3, 1}, {1, 4}}, {{4}, {2, 3, 4}}})
    add_case(sa, sb, kGradcheck);
  // and on the device: trailing row, column, both sides broadcast, a middle
  // dim, and sizes that are not multiples of the block
  for (auto [sa, sb] : std::vector<std::pair<Shape, Shape>>{
           {{2, 3}, {2, 3}}, {{2, 3}, {}}, {{4, 5}, {5}}, {{4, 5}, {4, 1}}, {{3, 1}, {1, 4}},
           {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{4}, {2, 3, 4}}, {{5, 1, 7}, {1, 6, 1}}, {{2, 3, 4, 5}, {3, 1, 5}},
           {{257, 33}, {257, 33}}, {{1000003}, {}}, {{}, {1000003}}})
    add_case(sa, sb, kParity);
  return row;
}

// A unary op: gradcheck cases as listed, parity at (3,5,7) and 100003
// elements (a partial last block), values in [low, high) away from `kinks`.
struct UnaryCase {
  std::string label;
  std::function<Tensor(const Tensor&)> f;
  Shape grad_shape;  // empty label: parity only
  uint64_t grad_seed;
  double grad_low, grad_high, parity_low, parity_high;
};
inline OpRow unary_row(const char* name, const std::vector<UnaryCase>& cases, const std::vector<double>& kinks = {}) {
  OpRow row{name};
  row.parity = {1e-6, 2e-6};
  for (const UnaryCase& c : cases) {
    if (!c.grad_shape.empty())
      row.cases.push_back(make_case(
          c.label, kGradcheck,
          [c, kinks](DType dt) {
            if (kinks.empty()) return TensorList{uniform_leaf(c.grad_shape, c.grad_seed, dt, c.grad_low, c.grad_high)};
            return TensorList{away_leaf(c.grad_shape, c.grad_seed, dt, kinks, 0.05, c.grad_low, c.grad_high)};
          },
          unary(c.f)));
    if (c.parity_high > c.parity_low)
      for (const Shape& shape : {Shape{3, 5, 7}, Shape{100003}})
        row.cases.push_back(make_case(
            (c.label.empty() ? "" : c.label + " ") + shape_str(shape), kParity,
            [c, kinks, shape](DType dt) {
              return TensorList{away_leaf(shape, 11, dt, kinks, 0.01, c.parity_low, c.parity_high)};
            },
            unary(c.f)));
  }
  return row;
}

inline std::vector<OpRow> elementwise_rows() {
  std::vector<OpRow> rows;
  rows.push_back(binary_row("add", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(add)));
  rows.push_back(binary_row("sub", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(sub)));
  rows.push_back(binary_row("mul", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(mul)));
  // Bench sizes of add and mul: n elements per operand (64 MB in float32 at 2^24).
  for (size_t r : {size_t(0), size_t(2)})
    rows[r].bench = {{"", {int64_t(1) << 22}, BenchSize::kQuickOnly}, {"", {int64_t(1) << 24}, BenchSize::kFullOnly}};
  // add on the GPU (bench_cuda.cpp, against a device-to-device memcpy): 64 or 256 MiB per operand.
  rows[0].bench.push_back({"cuda", {int64_t(1) << 24}, BenchSize::kQuickOnly});
  rows[0].bench.push_back({"cuda", {int64_t(1) << 26}, BenchSize::kFullOnly});
  rows.push_back(binary_row("div", static_cast<Tensor (*)(const Tensor&, const Tensor&)>(div)));
  auto f = [](auto fn) { return std::function<Tensor(const Tensor&)>(fn); };
  rows.push_back(unary_row("neg", {{"", f([](const Tensor& x) { return neg(x); }), {3, 2}, 1, -1, 1, -1, 1}}));
  rows.push_back(unary_row("add_scalar", {{"+ 2.5", f([](const Tensor& x) { return add(x, 2.5); }), {3, 2}, 2, -1, 1, 0, 0},
                                          {"+ 1.5", f([](const Tensor& x) { return add(x, 1.5); }), {}, 0, 0, 0, -1, 1}}));
  rows.push_back(unary_row("mul_scalar", {{"* -1.5", f([](const Tensor& x) { return mul(x, -1.5); }), {3, 2}, 3, -1, 1, 0, 0},
                                          {"* -2", f([](const Tensor& x) { return mul(x, -2.0); }), {}, 0, 0, 0, -1, 1}}));
  rows.push_back(unary_row("exp", {{"", f([](const Tensor& x) { return exp(x); }), {2, 3}, 4, -1, 1, -3, 3}}));
  rows.push_back(unary_row("log", {{"", f([](const Tensor& x) { return log(x); }), {2, 3}, 5, 0.2, 2, 0.1, 3}}));
  rows.push_back(unary_row("sqrt", {{"", f([](const Tensor& x) { return sqrt(x); }), {2, 3}, 6, 0.2, 2, 0.1, 3}}));
  rows.push_back(unary_row(
      "pow", {{"^3", f([](const Tensor& x) { return pow(x, 3.0); }), {2, 3}, 7, -1, 1, 0, 0},
              {"^-0.5", f([](const Tensor& x) { return pow(x, -0.5); }), {2, 3}, 8, 0.3, 2, 0, 0},
              {"^2", f([](const Tensor& x) { return pow(x, 2.0); }), {}, 0, 0, 0, -2, 2},
              {"^1/3", f([](const Tensor& x) { return pow(x, 1.0 / 3.0); }), {}, 0, 0, 0, 0.1, 3},
              {"^-1.5", f([](const Tensor& x) { return pow(x, -1.5); }), {}, 0, 0, 0, 0.5, 3}}));
  rows.push_back(unary_row("abs", {{"", f([](const Tensor& x) { return abs(x); }), {10}, 9, -1, 1, -1, 1}}, {0.0}));
  rows.push_back(unary_row("relu", {{"", f([](const Tensor& x) { return relu(x); }), {10}, 10, -1, 1, -1, 1}}, {0.0}));
  rows.push_back(unary_row(
      "leaky_relu", {{"slope 0.2", f([](const Tensor& x) { return leaky_relu(x, 0.2); }), {10}, 11, -1, 1, -1, 1}},
      {0.0}));
  rows.push_back(unary_row(
      "clamp", {{"[-0.5, 0.5]", f([](const Tensor& x) { return clamp(x, -0.5, 0.5); }), {12}, 12, -1, 1, -1, 1}},
      {-0.5, 0.5}));
  // sigmoid written out as README "How to add an op" describes a row (the
  // unary_row helper above makes the same cases).
  OpRow sigmoid_row{"sigmoid"};
  sigmoid_row.parity = {1e-6, 2e-6};
  sigmoid_row.cases.push_back(make_case("(2, 4)", kGradcheck,
                                        [](DType dt) { return TensorList{uniform_leaf({2, 4}, 13, dt, -3, 3)}; },
                                        unary([](const Tensor& x) { return sigmoid(x); })));
  for (const Shape& shape : {Shape{3, 5, 7}, Shape{100003}})  // 100003: a partial last block
    sigmoid_row.cases.push_back(make_case(shape_str(shape), kParity,
                                          [shape](DType dt) { return TensorList{uniform_leaf(shape, 11, dt, -4, 4)}; },
                                          unary([](const Tensor& x) { return sigmoid(x); })));
  rows.push_back(sigmoid_row);
  return rows;
}

// ---------------------------------------------------------------- reductions

inline std::vector<OpRow> reduction_rows() {
  std::vector<OpRow> rows;
  OpRow sum_row{"sum"};
  auto one_leaf = [](Shape s, uint64_t seed) { return [s, seed](DType dt) { return TensorList{uniform_leaf(s, seed, dt)}; }; };
  sum_row.cases.push_back(make_case("all of (2, 3)", kGradcheck, one_leaf({2, 3}, 14), unary([](const Tensor& x) { return sum(x); })));
  sum_row.cases.push_back(make_case("(2, 3, 4) over {0, 2}", kGradcheck, one_leaf({2, 3, 4}, 16),
                                    unary([](const Tensor& x) { return sum(x, {0, 2}); })));
  sum_row.cases.push_back(make_case("(2, 3, 4) over {1}, keepdim", kGradcheck, one_leaf({2, 3, 4}, 17),
                                    unary([](const Tensor& x) { return sum(x, {1}, true); })));
  for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{
           {}, {0}, {1}, {3}, {0, 1}, {0, 2}, {1, 3}, {2, 3}, {0, 2, 3}, {0, 1, 2, 3}})
    sum_row.cases.push_back(make_case("(3, 4, 5, 6) over " + dims_label(dims), kParity, one_leaf({3, 4, 5, 6}, 31),
                                      unary([dims](const Tensor& x) { return sum(x, dims); }), ParityTolerance{1e-5, 1e-5}));
  // size-1 dims, and the split paths: few outputs with long reductions, both layouts
  for (auto [shape, dims] : std::vector<std::pair<Shape, std::vector<int64_t>>>{
           {{3, 1, 5}, {1}}, {{1000003}, {0}}, {{2000, 600}, {0}}, {{600, 2000}, {1}}, {{8, 100000, 3}, {1}},
           {{4, 250001}, {0}}, {{250001, 4}, {0}}, {{7, 33, 257}, {0, 2}}, {{5, 3, 1000}, {1}}})
    sum_row.cases.push_back(make_case(shape_str(shape) + " over " + dims_label(dims) + ", keepdim", kParity,
                                      one_leaf(shape, 32), unary([dims = dims](const Tensor& x) { return sum(x, dims, true); }),
                                      ParityTolerance{1e-4, 1e-5}));
  // Bench sizes, GPU only (bench_cuda.cpp, the whole tensor against memcpy): elements.
  sum_row.bench = {{"cuda", {int64_t(1) << 24}, BenchSize::kQuickOnly},
                   {"cuda", {int64_t(1) << 26}, BenchSize::kFullOnly}};
  rows.push_back(sum_row);

  OpRow mean_row{"mean", true};
  mean_row.cases.push_back(make_case("all of (2, 3)", kBothChecks, one_leaf({2, 3}, 15), unary([](const Tensor& x) { return mean(x); })));
  mean_row.cases.push_back(make_case("(2, 3, 4) over {-1}", kBothChecks, one_leaf({2, 3, 4}, 18),
                                     unary([](const Tensor& x) { return mean(x, {-1}); })));
  rows.push_back(mean_row);

  // max and min: gradients to the selected element; on the device the first
  // index among ties, along the last dim (one warp per row) with lengths
  // below, at and above the warp size, along other dims, length 1.
  for (bool take_min : {false, true}) {
    OpRow row{take_min ? "min" : "max"};
    row.parity = kExactParity;
    auto extreme = [take_min](int64_t dim, bool keepdim) {
      return TensorFunction([take_min, dim, keepdim](const TensorList& in) {
        ValuesIndices r = take_min ? min(in[0], dim, keepdim) : max(in[0], dim, keepdim);
        return TensorList{r.values, r.indices};
      });
    };
    if (take_min)
      row.cases.push_back(make_case("(3, 4) dim 0 keepdim", kGradcheck,
                                    [](DType dt) { return TensorList{distinct_leaf({3, 4}, 20, dt)}; }, extreme(0, true)));
    else
      row.cases.push_back(make_case("(3, 4, 2) dim 1", kGradcheck,
                                    [](DType dt) { return TensorList{distinct_leaf({3, 4, 2}, 19, dt)}; }, extreme(1, false)));
    for (auto [shape, dim] : std::vector<std::pair<Shape, int64_t>>{{{7, 1000}, 1}, {{5, 33}, 1}, {{6, 5}, 1},
                                                                     {{2, 3, 64}, 2}, {{4, 1}, 1}, {{7, 1000}, 0},
                                                                     {{3, 4, 5}, 1}, {{3, 4, 5}, 0}, {{100003}, 0},
                                                                     {{9, 70, 3}, 1}}) {
      const std::string what = shape_str(shape) + " dim " + std::to_string(dim);
      row.cases.push_back(make_case(what + " ties", kParity,
                                    [shape = shape](DType dt) { return TensorList{ties_leaf(shape, 41, dt, 3)}; },
                                    extreme(dim, false)));
      row.cases.push_back(make_case(what + " distinct", kParity,
                                    [shape = shape](DType dt) { return TensorList{distinct_leaf(shape, 42, dt)}; },
                                    extreme(dim, false)));
    }
    rows.push_back(row);
  }

  OpRow expand_row{"expand"};
  expand_row.cases.push_back(make_case("(3, 1) to (2, 3, 4)", kBothChecks, one_leaf({3, 1}, 28),
                                       unary([](const Tensor& x) { return expand(x, {2, 3, 4}); })));
  expand_row.cases.push_back(make_case("(1, 5, 1) to (3, 5, 300)", kParity, one_leaf({1, 5, 1}, 29),
                                       unary([](const Tensor& x) { return expand(x, {3, 5, 300}); })));
  rows.push_back(expand_row);
  return rows;
}

// ---------------------------------------------------------------- matmul

// Bench sizes: n for an n x n x n product.
inline OpRow matmul_row() {
  OpRow row{"matmul"};
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const std::string t = std::string(ta ? "A^T" : "A") + (tb ? " B^T" : " B");
      auto mm = [ta, tb](const TensorList& in) { return TensorList{matmul(in[0], in[1], ta, tb)}; };
      auto pair = [ta, tb](int64_t B, int64_t M, int64_t K, int64_t N, bool batched_a, bool batched_b, uint64_t seed) {
        Shape a = ta ? Shape{K, M} : Shape{M, K}, b = tb ? Shape{N, K} : Shape{K, N};
        if (batched_a) a.insert(a.begin(), B);
        if (batched_b) b.insert(b.begin(), B);
        return [a, b, seed](DType dt) { return TensorList{uniform_leaf(a, seed, dt), uniform_leaf(b, seed + 1, dt)}; };
      };
      row.cases.push_back(make_case("2-D " + t, kGradcheck, pair(2, 3, 4, 2, false, false, 21), mm));
      row.cases.push_back(make_case("batched " + t, kGradcheck, pair(2, 3, 4, 2, true, true, 23), mm));
      row.cases.push_back(make_case("shared B " + t, kGradcheck, [=](DType dt) {
        TensorList a = pair(2, 3, 4, 2, true, true, 23)(dt), b = pair(2, 3, 4, 2, false, false, 21)(dt);
        return TensorList{a[0], b[1]};
      }, mm));
      // odd sizes on the device: no tile divides them
      row.cases.push_back(make_case("2-D " + t + " 37x53x29", kParity, pair(3, 37, 53, 29, false, false, 51), mm));
      row.cases.push_back(make_case("batched " + t + " 3x37x53x29", kParity, pair(3, 37, 53, 29, true, true, 53), mm));
      row.cases.push_back(make_case("shared B " + t + " 3x37x53x29", kParity, [=](DType dt) {
        TensorList a = pair(3, 37, 53, 29, true, false, 55)(dt);
        return a;
      }, mm));
    }
  row.cases.push_back(make_case("(256, 300) @ (300, 200)", kParity,
                                [](DType dt) { return TensorList{uniform_leaf({256, 300}, 57, dt), uniform_leaf({300, 200}, 58, dt)}; },
                                binary([](const Tensor& a, const Tensor& b) { return matmul(a, b); }),
                                ParityTolerance{1e-4, 1e-4, 1e-4, 1e-4}));
  // Bench sizes: n for n x n x n (apps/bench/bench_core.cpp); "cuda" (bench_cuda.cpp):
  // n, or (M, N, K, A stored transposed) named by the rest of the label.
  row.bench = {{"", {1024}},
               {"", {2048}},
               {"cuda", {2048}},
               {"cuda", {4096}, BenchSize::kFullOnly},
               {"cuda_conv", {64, 65536, 576, 0}},     // conv 64->64 3x3 at 256^2: W (64, 576) @ im2col (576, 65536)
               {"cuda_match", {4096, 1600, 576, 1}}};  // matching: 4096 keys x 1600 queries, K^T Q
  return row;
}

// The sum over the ranks of a data-parallel job (nn/distributed.h): on the one
// rank of a test process it is the identity and records nothing; the
// multi-rank behaviour is tested through mpirun (tests/test_distributed.cpp).
inline OpRow allreduce_row() {
  OpRow row{"allreduce_sum"};
  row.unrecorded_here = "one MPI rank: the identity";
  row.cases.push_back(make_case("(3, 4) on one rank", kBothChecks,
                                [](DType dt) { return TensorList{uniform_leaf({3, 4}, 42, dt)}; },
                                unary([](const Tensor& x) { return distributed::allreduce_sum_op(x); })));
  return row;
}

}  // namespace op_rows_core

inline std::vector<OpRow> core_rows() {
  using namespace op_rows_core;
  std::vector<OpRow> rows = elementwise_rows();
  for (OpRow& r : reduction_rows()) rows.push_back(std::move(r));
  rows.push_back(matmul_row());
  rows.push_back(allreduce_row());
  for (OpRow& r : op_rows_shape::shape_rows()) rows.push_back(std::move(r));
  return rows;
}

}  // namespace dcsr::test
