// The core CUDA kernels against the CPU backend, float32, forward and backward
// (tests/cuda_parity.h). Every test is skipped without a GPU. Shapes are
// chosen to hit each kernel's paths: sizes that are not multiples of the block
// (256) or of the transpose tile (32), every broadcasting kind, every grouping
// of reduced dims, ties and NaN for max/min, repeated indices for the
// scatters, and one tensor past 2^31 elements for the 64-bit index math.
#include <cmath>

#include "cuda_parity.h"
#include "kernels/kernels.h"
#include "runtime/allocator.h"
#include "runtime/switches.h"

using namespace dcsr;
using test::f32;
using test::f32_away;
using test::one;
using test::Parity;
using test::require_close;
using test::require_parity;
using test::two;

namespace {
// int64 CPU tensor, uniform in [low, high).
Tensor ints(const Shape& shape, uint64_t seed, int64_t low, int64_t high) {
  Generator gen(seed);
  std::vector<int64_t> v(size_t(shape_numel(shape)));
  for (int64_t& x : v) x = gen.randint(low, high);
  return from_vector(v, shape);
}

// float32 leaf with values from {0, 1, ..., levels - 1}: many exact ties.
Tensor ties(const Shape& shape, uint64_t seed, int64_t levels) {
  return ints(shape, seed, 0, levels).to(kFloat32).requires_grad_();
}

// "Exact" comparisons: require_close needs a nonzero tolerance (it divides by
// it), and 1e-12 is far below any float32 difference at the magnitudes used.
constexpr double kExact = 1e-12;
const Parity kExactParity{kExact, 0.0, kExact, 0.0};

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "}";
}
}  // namespace

// ---------------------------------------------------------------- elementwise

TEST_CASE("cuda: fill and cast between every dtype pair", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    Tensor t = full({1000003}, 2.0, dtype, kCUDA);  // not a multiple of the block
    std::vector<double> v = t.to_vector<double>();
    CHECK(std::all_of(v.begin(), v.end(), [](double x) { return x == 2.0; }));
  }
  // Values with fractions and signs: float -> int64 truncates toward zero on both devices.
  Generator gen(3);
  Tensor x32 = uniform({70001}, gen, -100.0, 100.0, kFloat32);
  for (DType from : {kFloat32, kFloat64, kInt64}) {
    Tensor src_cpu = empty(x32.shape(), from);
    kernels::cast(x32, src_cpu);
    Tensor src_cuda = src_cpu.to(kCUDA);
    for (DType to : {kFloat32, kFloat64, kInt64}) {
      INFO(dtype_name(from) << " -> " << dtype_name(to));
      Tensor dst_cpu = empty(x32.shape(), to), dst_cuda = empty(x32.shape(), to, kCUDA);
      kernels::cast(src_cpu, dst_cpu);
      kernels::cast(src_cuda, dst_cuda);
      require_close(dst_cuda, dst_cpu, kExact, 0.0);  // conversions are exact or identically rounded
    }
  }
  // The differentiable Tensor::to(dtype) on the device.
  require_parity("to float64 and back", one([](const Tensor& x) { return x.to(kFloat64).to(kFloat32); }),
                 {f32({3, 7}, 4)});
}

TEST_CASE("cuda: unary ops forward and backward", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    std::vector<double> kinks;
    double low, high;
  };
  std::vector<Case> cases = {
      {"neg", [](const Tensor& x) { return neg(x); }, {}, -1, 1},
      {"exp", [](const Tensor& x) { return exp(x); }, {}, -3, 3},
      {"log", [](const Tensor& x) { return log(x); }, {}, 0.1, 3},
      {"abs", [](const Tensor& x) { return abs(x); }, {0.0}, -1, 1},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, {}, 0.1, 3},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, {}, -2, 2},
      {"pow 1/3", [](const Tensor& x) { return pow(x, 1.0 / 3.0); }, {}, 0.1, 3},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, {}, 0.5, 3},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.5); }, {-0.5, 0.5}, -1, 1},
      {"relu", [](const Tensor& x) { return relu(x); }, {0.0}, -1, 1},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.2); }, {0.0}, -1, 1},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, {}, -4, 4},
      {"add scalar", [](const Tensor& x) { return add(x, 1.5); }, {}, -1, 1},
      {"mul scalar", [](const Tensor& x) { return mul(x, -2.0); }, {}, -1, 1},
  };
  for (const Case& c : cases) {
    for (const Shape& shape : {Shape{3, 5, 7}, Shape{100003}}) {
      std::string what = std::string(c.name) + " " + shape_str(shape);
      require_parity(what, one(c.f), {f32_away(shape, 11, c.kinks, 0.01, c.low, c.high)}, {1e-6, 2e-6});
    }
  }
}

TEST_CASE("cuda: binary ops with every broadcasting kind", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // same shape, scalar, trailing row, column, outer product, per-channel
  // (1,C,1,1), leading dims, both sides broadcast, a middle dim, and sizes
  // that are not multiples of the block.
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}},       {{2, 3}, {}},          {{4, 5}, {5}},           {{4, 5}, {4, 1}},
      {{3, 1}, {1, 4}},       {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{4}, {2, 3, 4}}, {{5, 1, 7}, {1, 6, 1}},
      {{2, 3, 4, 5}, {3, 1, 5}}, {{257, 33}, {257, 33}}, {{1000003}, {}},     {{}, {1000003}},
  };
  using Fn = Tensor (*)(const Tensor&, const Tensor&);
  std::vector<std::pair<const char*, Fn>> ops = {{"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}};
  for (auto& [name, op] : ops) {
    for (auto& [sa, sb] : shapes) {
      std::string what = std::string(name) + " " + shape_str(sa) + " with " + shape_str(sb);
      // Divisors away from 0; gradients of broadcast operands are sums (the sum kernel).
      Tensor a = f32(sa, 21), b = f32_away(sb, 22, {0.0}, 0.3);
      require_parity(what, two(op), {a, b}, {1e-6, 1e-5, 1e-4, 1e-5});
    }
  }
}

// ---------------------------------------------------------------- reductions

TEST_CASE("cuda: sum over every grouping of dims", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  std::vector<std::vector<int64_t>> dim_sets = {{},     {0},    {1},    {3},       {0, 1},
                                                {0, 2}, {1, 3}, {2, 3}, {0, 2, 3}, {0, 1, 2, 3}};
  for (const auto& dims : dim_sets)
    require_parity("sum (3,4,5,6) over " + dims_str(dims), one([dims](const Tensor& x) { return sum(x, dims); }),
                   {f32({3, 4, 5, 6}, 31)}, {1e-5, 1e-5});
  // size-1 dims, and the split paths: few outputs with long reductions, both layouts.
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  std::vector<Case> cases = {{{3, 1, 5}, {1}},        {{1000003}, {0}},       {{2000, 600}, {0}},
                             {{600, 2000}, {1}},      {{8, 100000, 3}, {1}},  {{4, 250001}, {0}},
                             {{250001, 4}, {0}},      {{7, 33, 257}, {0, 2}}, {{5, 3, 1000}, {1}}};
  for (const Case& c : cases)
    require_parity("sum " + shape_str(c.shape) + " over " + dims_str(c.dims),
                   one([dims = c.dims](const Tensor& x) { return sum(x, dims, true); }), {f32(c.shape, 32)},
                   {1e-4, 1e-5});
}

TEST_CASE("cuda: a float32 sum of 10^6 terms carries only the final rounding", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Generator gen(5);
  Tensor x = uniform({1000000}, gen, 0.0, 1.0, kFloat32);
  double exact = 0.0;  // the float32 values summed in double: exact to ~1e-16 relative
  for (double v : x.to_vector<double>()) exact += v;
  // One rounding of the double result to float32: relative error <= 2^-24.
  require_close(sum(x.to(kCUDA)), {exact}, 0.0, 6.0e-8, "sum of 1e6 uniform(0,1) float32");
  Tensor rows = x.reshape({1000, 1000}).to(kCUDA);
  require_close(sum(rows, {0}), sum(x.reshape({1000, 1000}).to(kFloat64), {0}).to_vector<double>(), 0.0, 6.0e-8,
                "column sums of (1000, 1000)");
}

TEST_CASE("cuda: max and min take the first index among ties", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape shape;
    int64_t dim;
  };
  // Along the last dim (one warp per row) with lengths below, at and above the
  // warp size; along other dims (one thread per output); length 1.
  std::vector<Case> cases = {{{7, 1000}, 1}, {{5, 33}, 1},   {{6, 5}, 1},    {{2, 3, 64}, 2}, {{4, 1}, 1},
                             {{7, 1000}, 0}, {{3, 4, 5}, 1}, {{3, 4, 5}, 0}, {{100003}, 0},   {{9, 70, 3}, 1}};
  for (const Case& c : cases) {
    for (bool take_min : {false, true}) {
      auto fn = [dim = c.dim, take_min](const TensorList& in) {
        ValuesIndices r = take_min ? min(in[0], dim) : max(in[0], dim);
        return TensorList{r.values, r.indices};
      };
      std::string what = std::string(take_min ? "min " : "max ") + shape_str(c.shape) + " dim " +
                         std::to_string(c.dim);
      require_parity(what + " ties", fn, {ties(c.shape, 41, 3)}, kExactParity);
      require_parity(what + " distinct", fn, {test::leaf_distinct(c.shape, 42).detach().to(kFloat32).requires_grad_()},
                     kExactParity);
    }
  }
}

TEST_CASE("cuda: max with NaN picks the first NaN, as the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const float nan = std::nanf("");
  std::vector<float> v = {1, nan, 3, nan, 0, 5, 5, 2, 9, 9, 1, 1, nan, 0, 0, 0};
  for (int64_t dim : {0, 1}) {
    Tensor x = from_vector(v, {4, 4});
    ValuesIndices cpu = max(x, dim), gpu = max(x.to(kCUDA), dim);
    CHECK(gpu.indices.to_vector<int64_t>() == cpu.indices.to_vector<int64_t>());
    std::vector<double> a = gpu.values.to_vector<double>(), b = cpu.values.to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) CHECK((std::isnan(a[i]) ? std::isnan(b[i]) : a[i] == b[i]));
  }
}

// ---------------------------------------------------------------- GEMM

TEST_CASE("cuda: matmul with every transpose, batched and shared operands", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const int64_t B = 3, M = 37, K = 53, N = 29;  // odd sizes: no tile divides them
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      Shape a2 = ta ? Shape{K, M} : Shape{M, K}, b2 = tb ? Shape{N, K} : Shape{K, N};
      Shape a3 = ta ? Shape{B, K, M} : Shape{B, M, K}, b3 = tb ? Shape{B, N, K} : Shape{B, K, N};
      auto mm = [ta, tb](const TensorList& in) { return TensorList{matmul(in[0], in[1], ta, tb)}; };
      std::string t = std::string(ta ? "A^T" : "A") + (tb ? " B^T" : " B");
      Parity tol{1e-5, 1e-5, 1e-5, 1e-5};
      require_parity("matmul 2-D " + t, mm, {f32(a2, 51), f32(b2, 52)}, tol);
      require_parity("matmul batched " + t, mm, {f32(a3, 53), f32(b3, 54)}, tol);
      require_parity("matmul shared B " + t, mm, {f32(a3, 55), f32(b2, 56)}, tol);
    }
  }
  require_parity("matmul (256,300)@(300,200)", two([](const Tensor& a, const Tensor& b) { return matmul(a, b); }),
                 {f32({256, 300}, 57), f32({300, 200}, 58)}, {1e-4, 1e-4, 1e-4, 1e-4});
}

TEST_CASE("cuda: gemm kernel with alpha, beta and an empty inner dim", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (int64_t K : {0, 19}) {
    for (double beta : {0.0, 2.0}) {
      INFO("K " << K << " beta " << beta);
      Tensor a = f32({2, 13, K}, 61).detach(), b = f32({K, 11}, 62).detach(), c = f32({2, 13, 11}, 63).detach();
      Tensor c_cuda = c.to(kCUDA);
      kernels::gemm(a, b, c, false, false, 0.5, beta);
      kernels::gemm(a.to(kCUDA), b.to(kCUDA), c_cuda, false, false, 0.5, beta);
      require_close(c_cuda, c, 1e-5, 1e-5, "gemm alpha 0.5");
    }
  }
  // beta = 0 must not read C: NaN there stays out of the result.
  Tensor a = f32({5, 7}, 64).detach(), b = f32({7, 3}, 65).detach();
  Tensor c = full({5, 3}, std::nan(""), kFloat32, kCUDA);
  kernels::gemm(a.to(kCUDA), b.to(kCUDA), c, false, false);
  require_close(c, matmul(a, b), 1e-5, 1e-5, "gemm over NaN with beta 0");
}

TEST_CASE("cuda: TF32 matmul is close to float32 and can be switched off", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor a = f32({128, 512}, 66).detach(), b = f32({512, 96}, 67).detach();
  Tensor ref = matmul(a, b);
  const bool before = runtime::cuda_tf32();
  runtime::set_cuda_tf32(true);
  Tensor tf32 = matmul(a.to(kCUDA), b.to(kCUDA));
  runtime::set_cuda_tf32(false);
  Tensor exact = matmul(a.to(kCUDA), b.to(kCUDA));
  runtime::set_cuda_tf32(before);
  // TF32 keeps 10 mantissa bits of each factor: ~2^-11 relative per product,
  // random signs over K = 512 products of size ~1/3 give errors ~1e-3.
  require_close(tf32, ref, 2e-2, 1e-2, "TF32 matmul K=512");
  require_close(exact, ref, 1e-4, 1e-4, "float32 matmul K=512 after switching TF32 off");
}

// ---------------------------------------------------------------- data movement

TEST_CASE("cuda: permute, tiled transposes and the generic walk", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  std::vector<Case> cases = {
      {{2, 3, 4, 5}, {0, 2, 3, 1}},   // NCHW -> NHWC: batched transpose (N, C, HW)
      {{2, 3, 4, 5}, {0, 3, 1, 2}},   // batched transpose (N, CH, W)
      {{2, 3, 4, 5}, {3, 2, 1, 0}},   // generic
      {{2, 3, 4, 5}, {1, 0, 2, 3}},   // generic after merging (2, 3, 20) -> (3, 2, 20)
      {{2, 3, 4, 5}, {0, 1, 2, 3}},   // identity: a copy
      {{67, 45}, {1, 0}},             // 2-D transpose, partial tiles
      {{1, 70, 1, 33}, {3, 2, 1, 0}}, // size-1 dims dropped: a 2-D transpose
      {{3, 1000, 517}, {0, 2, 1}},    // many tiles
  };
  for (const Case& c : cases)
    require_parity("permute " + shape_str(c.shape) + " by " + dims_str(c.perm),
                   one([perm = c.perm](const Tensor& x) { return permute(x, perm); }), {f32(c.shape, 71)}, kExactParity);
  require_parity("permute int64", one([](const Tensor& x) { return permute(x, {2, 0, 1}); }),
                 {ints({4, 5, 6}, 72, -1000, 1000)});
  require_parity("transpose int64", one([](const Tensor& x) { return permute(x, {1, 0}); }),
                 {ints({40, 70}, 73, -1000, 1000)});
}

TEST_CASE("cuda: narrow, concat, split and accumulating slice copies", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (int64_t dim : {0, 1, 2})
    require_parity("narrow dim " + std::to_string(dim), one([dim](const Tensor& x) { return narrow(x, dim, 1, 3); }),
                   {f32({4, 5, 6}, 81)}, kExactParity);
  for (int64_t dim : {0, 1, 2}) {
    Shape s1 = {4, 5, 6}, s2 = {4, 5, 6};
    s1[size_t(dim)] = 2;
    s2[size_t(dim)] = 3;
    require_parity("concat dim " + std::to_string(dim),
                   [dim](const TensorList& in) { return TensorList{concat(in, dim)}; },
                   {f32(s1, 82), f32({4, 5, 6}, 83), f32(s2, 84)}, kExactParity);
    require_parity("split dim " + std::to_string(dim),
                   [dim](const TensorList& in) { return split(in[0], {1, 2, 1}, dim); }, {f32({4, 4, 4}, 85)},
                   kExactParity);
  }
  require_parity("concat int64", [](const TensorList& in) { return TensorList{concat(in, 1)}; },
                 {ints({3, 2}, 86, 0, 100), ints({3, 5}, 87, 0, 100)});
  // accumulate = true, float32 and int64, on a slice that is not a block multiple.
  for (DType dtype : {kFloat32, kInt64}) {
    Tensor src = ints({3, 300, 7}, 88, -50, 50).to(dtype), dst = ints({3, 500, 7}, 89, -50, 50).to(dtype);
    Tensor dst_cuda = dst.to(kCUDA);
    kernels::copy_slice(src, dst, 1, 20, 111, 257, true);
    kernels::copy_slice(src.to(kCUDA), dst_cuda, 1, 20, 111, 257, true);
    require_close(dst_cuda, dst, kExact, 0.0, std::string("copy_slice accumulate ") + dtype_name(dtype));
  }
}

TEST_CASE("cuda: pad2d constant and reflect, forward and backward", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape shape;
    std::array<int64_t, 4> pads;
  };
  // Asymmetric pads, no padding, the largest reflect pads (size - 1), inputs
  // with 2 and 3 dims, a 1x1 image (constant only).
  std::vector<Case> cases = {{{2, 3, 7, 9}, {1, 2, 3, 0}}, {{2, 3, 7, 9}, {0, 0, 0, 0}}, {{2, 3, 7, 9}, {8, 8, 6, 6}},
                             {{3, 5, 4}, {2, 3, 1, 3}},    {{6, 6}, {5, 1, 0, 5}},       {{40, 300, 37}, {2, 2, 2, 2}}};
  for (const Case& c : cases) {
    for (PadMode mode : {PadMode::Constant, PadMode::Reflect}) {
      std::string what = std::string(mode == PadMode::Reflect ? "reflect " : "constant ") + shape_str(c.shape) +
                         " pads " + dims_str({c.pads[0], c.pads[1], c.pads[2], c.pads[3]});
      require_parity(what, one([pads = c.pads, mode](const Tensor& x) { return pad2d(x, pads, mode, 0.7); }),
                     {f32(c.shape, 91)}, {kExact, 0.0, 1e-6, 1e-6});
    }
  }
  require_parity("constant 1x1", one([](const Tensor& x) { return pad2d(x, {1, 1, 1, 1}, PadMode::Constant); }),
                 {f32({1, 1, 1, 1}, 92)}, kExactParity);
}

TEST_CASE("cuda: index_select and index_add with repeated indices", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const Shape shape = {5, 4, 300};
  for (int64_t dim : {0, 1, 2}) {
    Tensor index = ints({9}, 101 + uint64_t(dim), 0, shape[size_t(dim)]);  // 9 draws from <= 5 values: repeats
    require_parity("index_select dim " + std::to_string(dim),
                   [dim, index](const TensorList& in) { return TensorList{index_select(in[0], dim, in[1])}; },
                   {f32(shape, 102), index}, {kExact, 0.0, 1e-6, 1e-6});
  }
  require_parity("index_select int64", [](const TensorList& in) { return TensorList{index_select(in[0], 0, in[1])}; },
                 {ints({6, 7}, 103, -9, 9), ints({10}, 104, 0, 6)});
  // Heavy collisions: 5000 source rows into 10 output rows.
  Tensor index = ints({5000}, 105, 0, 10), src = f32({5000, 300}, 106).detach();
  Tensor out = zeros({10, 300}), out_cuda = zeros({10, 300}, kFloat32, kCUDA);
  kernels::index_add(out, 0, index, src);
  kernels::index_add(out_cuda, 0, index.to(kCUDA), src.to(kCUDA));
  require_close(out_cuda, out, 1e-4, 1e-5, "index_add 5000 rows into 10");
  CHECK_THROWS_WITH(index_select(f32({5, 3}, 107).to(kCUDA), 0, from_vector<int64_t>({1, 9}, {2}).to(kCUDA)),
                    Catch::Contains("index_select: index 9 out of range for dim 0 of size 5"));
}

TEST_CASE("cuda: gather and scatter_add along every dim", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const Shape shape = {4, 5, 6};
  for (int64_t dim : {0, 1, 2}) {
    Shape ishape = {3, 4, 5};  // smaller than the data outside dim
    ishape[size_t(dim)] = 7;   // longer than the data along dim: repeats
    Tensor index = ints(ishape, 111 + uint64_t(dim), 0, shape[size_t(dim)]);
    require_parity("gather dim " + std::to_string(dim),
                   [dim](const TensorList& in) { return TensorList{gather(in[0], dim, in[1])}; },
                   {f32(shape, 112), index}, {kExact, 0.0, 1e-6, 1e-6});
  }
  require_parity("gather int64", [](const TensorList& in) { return TensorList{gather(in[0], 1, in[1])}; },
                 {ints({3, 8}, 113, -9, 9), ints({3, 20}, 114, 0, 8)});
  Tensor index = ints({200, 300}, 115, 0, 10), src = f32({200, 300}, 116).detach();
  Tensor out = zeros({10, 300}), out_cuda = zeros({10, 300}, kFloat32, kCUDA);
  kernels::scatter_add(out, 0, index, src);
  kernels::scatter_add(out_cuda, 0, index.to(kCUDA), src.to(kCUDA));
  require_close(out_cuda, out, 1e-5, 1e-5, "scatter_add 200 rows into 10");
  CHECK_THROWS_WITH(gather(f32({4, 3}, 117).to(kCUDA), 1, from_vector<int64_t>({0, 3}, {1, 2}).to(kCUDA)),
                    Catch::Contains("gather: index 3 out of range for dim 1 of size 3"));
}

// ---------------------------------------------------------------- optimiser

TEST_CASE("cuda: adam_update matches the CPU over several steps", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  const Shape shape = {1000003};
  Tensor p = f32(shape, 121).detach(), m = zeros(shape), v = zeros(shape);
  Tensor pc = p.to(kCUDA), mc = m.to(kCUDA), vc = v.to(kCUDA);
  for (int64_t step = 1; step <= 3; ++step) {
    Tensor g = f32(shape, 122 + uint64_t(step)).detach();
    kernels::adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, step);
    kernels::adam_update(pc, g.to(kCUDA), mc, vc, 1e-3, 0.9, 0.999, 1e-8, step);
  }
  require_close(pc, p, 1e-6, 1e-5, "adam param");
  require_close(mc, m, 1e-7, 1e-5, "adam exp_avg");
  require_close(vc, v, 1e-8, 1e-5, "adam exp_avg_sq");
}

// ---------------------------------------------------------------- contracts

TEST_CASE("cuda: float64 arithmetic is refused with the op's name", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Tensor x = ones({3, 3}, kFloat64, kCUDA);
  CHECK_THROWS_WITH(exp(x), Catch::Contains("exp: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(add(x, x), Catch::Contains("add: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(sum(x), Catch::Contains("sum: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(matmul(x, x), Catch::Contains("gemm: unsupported dtype float64 on cuda"));
  CHECK_THROWS_WITH(permute(x, {1, 0}), Catch::Contains("permute: unsupported dtype float64 on cuda"));
}

TEST_CASE("cuda: a training step does no cudaMalloc once the pool is warm", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // A small regression net touching most core kernels: GEMM, broadcasting,
  // unary ops, reductions, slices, padding, max, gather, and Adam.
  TensorList params = {f32({16, 32}, 131).detach().to(kCUDA).requires_grad_(),
                       f32({32}, 132).detach().to(kCUDA).requires_grad_(),
                       f32({32, 8}, 133).detach().to(kCUDA).requires_grad_()};
  TensorList m, v;
  for (const Tensor& p : params) m.push_back(zeros_like(p)), v.push_back(zeros_like(p));
  Tensor x = f32({64, 16}, 134).detach().to(kCUDA), target = f32({64, 8}, 135).detach().to(kCUDA);
  Tensor index = ints({64, 4}, 136, 0, 8).to(kCUDA);
  auto step = [&](int64_t t) {
    for (Tensor& p : params) p.zero_grad();
    Tensor h = leaky_relu(add(matmul(x, params[0]), params[1]), 0.2);
    Tensor y = matmul(h, params[2]);
    Tensor padded = pad2d(y.reshape({1, 64, 8}), {1, 1, 1, 1}, PadMode::Reflect);
    Tensor inner = narrow(narrow(padded, 1, 1, 64), 2, 1, 8).reshape({64, 8});
    Tensor picked = gather(inner, 1, index);
    Tensor loss = add(mean(pow(sub(inner, target), 2.0)), mul(mean(max(picked, 1).values), 0.1));
    loss.backward();
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor p = params[i].detach();
      kernels::adam_update(p, params[i].grad(), m[i], v[i], 1e-3, 0.9, 0.999, 1e-8, t);
    }
    return loss.item();
  };
  step(1);
  const int64_t warm = allocator_stats(kCUDA).system_allocs;
  step(2);
  INFO("cudaMalloc calls: " << warm << " after the first step, " << allocator_stats(kCUDA).system_allocs
                            << " after the second");
  CHECK(allocator_stats(kCUDA).system_allocs == warm);
}

TEST_CASE("cuda: tensors past 2^31 elements index with 64-bit offsets", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // x[i][j] = a[i] + b[j] with R * C > 2^31, built on the device by the
  // broadcasting add; values are small integers and tenths, so every sum
  // below is exact in double and checkable on the host. 8 GiB per tensor;
  // skipped when the device does not have the room.
  const int64_t R = 32771, C = 65537;  // R * C = 2^31 + 98307 + ..., both odd
  auto a_of = [](int64_t i) { return double(i % 7); };
  auto b_of = [](int64_t j) { return double(j % 13) * 0.25; };
  std::vector<float> a(static_cast<size_t>(R)), b(static_cast<size_t>(C));
  for (int64_t i = 0; i < R; ++i) a[size_t(i)] = float(a_of(i));
  for (int64_t j = 0; j < C; ++j) b[size_t(j)] = float(b_of(j));
  Tensor x;
  try {
    x = add(from_vector(a, {R, 1}, kFloat32, kCUDA), from_vector(b, {1, C}, kFloat32, kCUDA));
  } catch (const std::exception& e) {
    WARN("SKIPPED: no room for an 8 GiB tensor (" << e.what() << ")");
    return;
  }
  REQUIRE(x.numel() > (int64_t(1) << 31));
  // The last rows, read back through copy_slice.
  Tensor tail = narrow(x, 0, R - 2, 2);
  std::vector<double> expected;
  for (int64_t i = R - 2; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) expected.push_back(a_of(i) + b_of(j));
  require_close(tail, expected, kExact, 0.0, "broadcast add and narrow past 2^31");
  // Row sums (reduced innermost) and column sums (kept innermost).
  std::vector<double> row_sums, col_sums(size_t(C), 0.0);
  double b_total = 0.0;
  for (int64_t j = 0; j < C; ++j) b_total += b_of(j);
  for (int64_t i = 0; i < R; ++i) row_sums.push_back(double(C) * a_of(i) + b_total);
  double a_total = 0.0;
  for (int64_t i = 0; i < R; ++i) a_total += a_of(i);
  for (int64_t j = 0; j < C; ++j) col_sums[size_t(j)] = a_total + double(R) * b_of(j);
  require_close(sum(x, {1}), row_sums, 0.0, 6e-8, "row sums past 2^31");
  require_close(sum(x, {0}), col_sums, 0.0, 6e-8, "column sums past 2^31");
  // Max along each dim: first index of the largest a (i % 7 == 6) and b (j % 13 == 12).
  ValuesIndices along_rows = max(x, 1), along_cols = max(x, 0);
  std::vector<int64_t> idx_rows = along_rows.indices.to_vector<int64_t>();
  std::vector<int64_t> idx_cols = along_cols.indices.to_vector<int64_t>();
  CHECK(std::all_of(idx_rows.begin(), idx_rows.end(), [](int64_t i) { return i == 12; }));
  CHECK(std::all_of(idx_cols.begin(), idx_cols.end(), [](int64_t i) { return i == 6; }));
  // The tiled transpose; then reflect padding of the transposed image.
  {
    Tensor t = permute(x, {1, 0});
    x = Tensor();  // free 8 GiB before the next big tensor
    Tensor last_row = narrow(t, 0, C - 1, 1);
    std::vector<double> want;
    for (int64_t i = 0; i < R; ++i) want.push_back(a_of(i) + b_of(C - 1));
    require_close(last_row, want, kExact, 0.0, "transpose past 2^31");
    Tensor padded = pad2d(t.reshape({1, C, R}), {1, 1, 1, 1}, PadMode::Reflect);
    t = Tensor();
    Tensor corner = narrow(narrow(padded, 1, C + 1, 1), 2, R + 1, 1);  // mirrors (C - 2, R - 2)
    require_close(corner, {a_of(R - 2) + b_of(C - 2)}, kExact, 0.0, "reflect pad past 2^31");
  }
  allocator_empty_cache(kCUDA);
}
