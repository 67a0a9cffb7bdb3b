// Image ops: conv2d, bicubic, antialiased resize, pooling, unfold/fold, blur.
// Forward values by hand or against a naive loop written here, the fused
// convolutions against their separate ops, and error messages. Their
// gradchecks, CPU-vs-CUDA parity and PyTorch goldens run from the op table
// (tests/op_rows_image.h, driven by tests/test_op_table.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

#include "conv_cases.h"
#include "kernels/kernels.h"
#include "test_util.h"

using namespace dcsr;
using test::conv_cases;
using test::conv_inputs;
using test::conv_of;
using test::ConvCase;
using test::describe;
using test::leaf;
using test::require_close;
using test::WorkspaceLimit;

namespace {

Tensor vec(std::vector<double> v, Shape s) { return from_vector(v, s); }

// The definition of conv2d as six nested loops, in double.
std::vector<double> naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
                                 int64_t groups) {
  const int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Cout = w.size(0), k = w.size(2), cin_g = Cin / groups, cout_g = Cout / groups;
  const int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> bv = b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(Cout), 0.0);
  std::vector<double> y(size_t(N * Cout * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = bv[size_t(co)];
          const int64_t g = co / cout_g;
          for (int64_t ci = 0; ci < cin_g; ++ci)
            for (int64_t ky = 0; ky < k; ++ky)
              for (int64_t kx = 0; kx < k; ++kx) {
                const int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += wv[size_t(((co * cin_g + ci) * k + ky) * k + kx)] *
                       xv[size_t(((n * Cin + g * cin_g + ci) * H + iy) * W + ix)];
              }
          y[size_t(((n * Cout + co) * Ho + oy) * Wo + ox)] = acc;
        }
  return y;
}

// fn on fresh leaves (the inputs converted to dtype), backward with a fixed
// random upstream gradient: {output, gradient of every input}, in float64.
TensorList output_and_grads(const std::function<Tensor(const TensorList&)>& fn, const TensorList& inputs,
                            DType dtype) {
  TensorList in;
  for (const Tensor& t : inputs) in.push_back(t.detach().to(dtype).requires_grad_());
  Tensor y = fn(in);
  y.backward(leaf(y.shape(), 62).detach().to(dtype));
  TensorList out{y.detach().to(kFloat64)};
  for (const Tensor& t : in) out.push_back(t.grad().to(kFloat64));
  return out;
}

// A fused op against its separate ops: the same output and gradients, bit for bit.
void require_bit_identical(const std::function<Tensor(const TensorList&)>& fused,
                           const std::function<Tensor(const TensorList&)>& separate, const TensorList& inputs,
                           DType dtype) {
  const TensorList a = output_and_grads(fused, inputs, dtype), b = output_and_grads(separate, inputs, dtype);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("output " << i << " (0 = y, then the gradient of each input)");
    CHECK(a[i].to_vector<double>() == b[i].to_vector<double>());
  }
}

// The same where no graph is recorded (inference, where fused ops take their
// own paths): the outputs bit for bit, NaNs and signed zeros included.
void require_bit_identical_without_graph(const std::function<Tensor(const TensorList&)>& fused,
                                         const std::function<Tensor(const TensorList&)>& separate,
                                         const TensorList& inputs, DType dtype) {
  TensorList in;
  for (const Tensor& t : inputs) in.push_back(t.detach().to(dtype));
  NoGradGuard no_grad;
  const Tensor a = fused(in), b = separate(in);
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  CHECK(std::memcmp(va.data(), vb.data(), va.size() * sizeof(double)) == 0);
}

}  // namespace

// ---------------------------------------------------------------- conv2d

TEST_CASE("forward: conv2d by hand", "[ops]") {
  // 3x3 box filter with padding 1 on a 3x3 ramp: each output is the sum of
  // the in-image neighbours, plus the bias.
  Tensor x = vec({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor box = full({1, 1, 3, 3}, 1.0, kFloat64);
  require_close(conv2d(x, box, vec({0.5}, {1})), {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5});
  // Stride 2 keeps the corners only.
  require_close(conv2d(x, box, Tensor(), 2), {12, 16, 24, 28});
  // 1x1: a matrix product over channels. y[co] = sum_ci w[co][ci] x[ci] + b[co].
  Tensor x2 = vec({1, 2, 3, 4}, {1, 2, 1, 2});  // channel 0: (1, 2), channel 1: (3, 4)
  require_close(conv2d(x2, vec({1, 10, -1, 1}, {2, 2, 1, 1}), vec({0, 100}, {2})), {31, 42, 102, 102});
  // Depthwise: every channel with its own kernel.
  Tensor dw = vec({1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, {2, 1, 3, 3});
  Tensor x3 = vec({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  // channel 0 takes the up-left neighbour, channel 1 twice the down-right one.
  require_close(conv2d(x3, dw, Tensor(), 1, 1, 2), {0, 0, 0, 1, 16, 0, 0, 0});
}

TEST_CASE("forward: conv2d equals the naive loop in every code path, float64 and float32", "[ops]") {
  for (const ConvCase& c : conv_cases()) {
    INFO(describe(c));
    TensorList in = conv_inputs(c, 7);
    std::vector<double> expected = naive_conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.stride, c.padding,
                                                c.groups);
    require_close(conv_of(c, in), expected, 1e-13, 1e-13);
    TensorList in32;
    for (const Tensor& t : in) in32.push_back(t.detach().to(kFloat32));
    require_close(conv_of(c, in32), expected, 1e-5, 1e-5);
  }
}

TEST_CASE("forward: conv2d of an empty batch", "[ops]") {
  for (DType dtype : {kFloat64, kFloat32}) {
    Tensor x = zeros({0, 3, 5, 4}, dtype).requires_grad_();
    Tensor w = leaf({6, 3, 3, 3}, 1).detach().to(dtype).requires_grad_();
    Tensor b = leaf({6}, 2).detach().to(dtype).requires_grad_();
    Tensor y = conv2d(x, w, b);
    CHECK(y.shape() == Shape{0, 6, 5, 4});
    y.backward(zeros(y.shape(), dtype));
    CHECK(x.grad().shape() == Shape{0, 3, 5, 4});
    require_close(w.grad(), std::vector<double>(162, 0.0), 1e-300);
    require_close(b.grad(), std::vector<double>(6, 0.0), 1e-300);
  }
}

TEST_CASE("forward: conv2d default padding is k / 2", "[ops]") {
  Tensor x = leaf({1, 2, 6, 5}, 3), w = leaf({3, 2, 5, 5}, 4);
  CHECK(conv2d(x, w, Tensor()).shape() == Shape{1, 3, 6, 5});
  CHECK(conv2d(x, w, Tensor(), 2).shape() == Shape{1, 3, 3, 3});
  require_close(conv2d(x, w, Tensor()), naive_conv2d(x, w, Tensor(), 1, 2, 1), 1e-13, 1e-13);
}

TEST_CASE("forward: conv2d with a tiny workspace (many chunks) matches a large one, gradients included", "[ops]") {
  // A bigger image than the other cases so that 1 KB means dozens of chunks,
  // and for the stride-2 input gradient a fall back to one chunk at a time.
  std::vector<ConvCase> cases = {
      {{2, 4, 23, 19}, 5, 3, 1, 1, 1, true},   {{1, 4, 23, 19}, 5, 3, 2, 1, 1, true},
      {{1, 4, 23, 19}, 6, 3, 1, 1, 2, true},   {{1, 4, 23, 19}, 5, 1, 1, 0, 1, true},
      {{1, 3, 23, 19}, 4, 5, 4, 2, 1, true},   {{1, 4, 23, 19}, 5, 7, 2, 3, 1, false},
      {{1, 16, 23, 19}, 40, 3, 1, 1, 1, true}};  // wide enough for 64-wide weight-gradient panels
  for (const ConvCase& c : cases) {
    INFO(describe(c));
    auto run = [&](int64_t limit, DType dtype) {
      WorkspaceLimit guard(limit);
      TensorList in;
      for (const Tensor& t : conv_inputs(c, 11)) in.push_back(t.detach().to(dtype).requires_grad_());
      Tensor y = conv_of(c, in);
      y.backward(leaf(y.shape(), 12).detach().to(dtype));
      TensorList out{y.detach().to(kFloat64)};
      for (const Tensor& t : in) out.push_back(t.grad().to(kFloat64));
      return out;
    };
    // float64: the same arithmetic in every chunking, so equal to rounding.
    TensorList big = run(int64_t(1) << 30, kFloat64), tiny = run(1024, kFloat64), one = run(1, kFloat64);
    for (size_t i = 0; i < big.size(); ++i) {
      INFO("float64 output " << i << " (0 = y, then dx, dw, db)");
      require_close(tiny[i], big[i], 1e-12, 1e-12);
      require_close(one[i], big[i], 1e-12, 1e-12);
    }
    // float32: 64 KB and 16 KB give the fast path bands of a few rows (or
    // send it back to the generic path), 1 byte always does; all agree to
    // float32 rounding.
    for (int64_t limit : {int64_t(1) << 30, int64_t(64) << 10, int64_t(16) << 10, int64_t(1)}) {
      TensorList f32 = run(limit, kFloat32);
      for (size_t i = 0; i < big.size(); ++i) {
        INFO("float32, limit " << limit << " bytes, output " << i << " (0 = y, then dx, dw, db)");
        require_close(f32[i], big[i], 2e-5, 2e-5);
      }
    }
  }
}

TEST_CASE("forward: float32 conv2d (the CPU fast paths) matches float64, gradients included", "[ops]") {
  // Float32 takes its own code on AVX-512 machines (implicit GEMM at stride
  // 1, packed im2col otherwise, the 64-wide weight-gradient kernel from 32
  // output channels per group up). Compared with the float64 result within
  // float32 rounding of sums of K products: 2e-5 * (1 + |y|).
  std::vector<ConvCase> cases = {
      {{2, 8, 13, 11}, 40, 3, 1, 1, 1, true},   // implicit forward and weight gradient
      {{1, 6, 12, 50}, 70, 3, 1, 1, 1, true},   // two 64-wide panels, several 48-pixel panels per row
      {{1, 5, 9, 10}, 9, 5, 1, 2, 1, true},     // implicit, narrow output (packed weight gradient)
      {{1, 4, 11, 9}, 34, 7, 1, 3, 1, false},
      {{2, 8, 10, 9}, 64, 3, 1, 1, 2, true},    // grouped, 32 per group
      {{1, 8, 7, 9}, 36, 1, 1, 0, 1, true},     // pointwise
      {{1, 6, 13, 11}, 40, 3, 2, 1, 1, true},   // packed im2col, col2im
      {{1, 5, 17, 14}, 33, 5, 4, 2, 1, true},   // stride 4
      {{1, 3, 8, 9}, 5, 3, 1, 4, 1, true},      // padding beyond the kernel
  };
  for (const ConvCase& c : cases) {
    INFO(describe(c));
    auto run = [&](DType dtype) {
      TensorList in;
      for (const Tensor& t : conv_inputs(c, 91)) in.push_back(t.detach().to(dtype).requires_grad_());
      Tensor y = conv_of(c, in);
      y.backward(leaf(y.shape(), 92).detach().to(dtype));
      TensorList out{y.detach().to(kFloat64)};
      for (const Tensor& t : in) out.push_back(t.grad().to(kFloat64));
      return out;
    };
    TensorList f64 = run(kFloat64), f32 = run(kFloat32);
    for (size_t i = 0; i < f64.size(); ++i) {
      INFO("output " << i << " (0 = y, then dx, dw, db)");
      require_close(f32[i], f64[i], 2e-5, 2e-5);
    }
  }
}

TEST_CASE("forward: conv2d_leaky_relu is leaky_relu(conv2d) exactly, gradients included", "[ops]") {
  // The activation is fused into the conv kernels' output pass (every CPU
  // code path, float64 and the float32 fast paths) and its gradient is taken
  // from the output's sign: values and all gradients must be bit-identical to
  // the two separate ops.
  std::vector<ConvCase> cases;
  for (const ConvCase& c : conv_cases())
    if (c.groups == 1) cases.push_back(c);
  cases.push_back({{2, 8, 13, 11}, 40, 3, 1, 1, 1, true});  // float32: implicit GEMM
  cases.push_back({{1, 6, 13, 11}, 40, 3, 2, 1, 1, true});  // float32: packed im2col
  for (DType dtype : {kFloat64, kFloat32})
    for (double slope : {0.2, 0.0})
      for (const ConvCase& c : cases) {
        INFO(describe(c) << " " << dtype_name(dtype) << " slope " << slope);
        auto bias = [&c](const TensorList& in) { return c.bias ? in[2] : Tensor(); };
        require_bit_identical(
            [&](const TensorList& in) { return conv2d_leaky_relu(in[0], in[1], bias(in), slope, c.stride, c.padding); },
            [&](const TensorList& in) { return leaky_relu(conv2d(in[0], in[1], bias(in), c.stride, c.padding), slope); },
            conv_inputs(c, 61), dtype);
      }
}

TEST_CASE("forward: conv2d_residual is leaky_relu(residual + conv2d) exactly, gradients included", "[ops]") {
  // The residual is added in the same output pass as the bias and the
  // activation: values and every gradient (the residual's included) must be
  // bit-identical to the separate ops, on every CPU path of stride 1.
  const std::vector<ConvCase> cases = {
      {{2, 3, 5, 6}, 4, 1, 1, 0, 1, true},      // pointwise
      {{2, 3, 7, 6}, 4, 3, 1, 1, 1, true},      // the DCSR default
      {{1, 2, 9, 8}, 3, 7, 1, 3, 1, false},     // 7x7, no bias
      {{2, 8, 13, 11}, 40, 3, 1, 1, 1, true},   // float32: implicit GEMM
      {{1, 6, 12, 50}, 70, 3, 1, 1, 1, true},   // float32: several panels per row
  };
  for (DType dtype : {kFloat64, kFloat32})
    for (double slope : {1.0, 0.2})
      for (const ConvCase& c : cases) {
        INFO(describe(c) << " " << dtype_name(dtype) << " slope " << slope);
        TensorList inputs = conv_inputs(c, 81);
        inputs.push_back(leaf({c.x[0], c.cout, c.x[2], c.x[3]}, 83));  // the residual, last
        auto bias = [&c](const TensorList& in) { return c.bias ? in[2] : Tensor(); };
        require_bit_identical(
            [&](const TensorList& in) { return conv2d_residual(in[0], in[1], bias(in), in.back(), slope); },
            [&](const TensorList& in) {
              Tensor y = in.back() + conv2d(in[0], in[1], bias(in), 1, c.padding);
              return slope == 1.0 ? y : leaky_relu(y, slope);
            },
            inputs, dtype);
      }
}

TEST_CASE("forward: conv2d_leaky_relu_max_pool2 is max_pool2d(conv2d_leaky_relu) exactly", "[ops]") {
  // Without a graph (inference) the CPU pools the conv's output tiles in
  // cache (float32 Winograd) or runs the two kernels (every other path);
  // with one it is the two ops. Values bit for bit in both cases, and the
  // gradients of the recorded form.
  const std::vector<ConvCase> cases = {
      {{2, 3, 7, 6}, 4, 3, 1, 1, 1, true},      // the DCSR default, an odd height
      {{1, 2, 9, 8}, 3, 5, 1, 2, 1, false},     // 5x5, no bias
      {{1, 8, 40, 37}, 16, 3, 1, 1, 1, true},   // float32: the Winograd paths, an odd width
      {{1, 64, 24, 70}, 64, 3, 1, 1, 1, true},  // float32: VGG's conv1_2 channels (pairs of groups on AVX-512)
  };
  for (DType dtype : {kFloat64, kFloat32})
    for (double slope : {0.0, 0.2})
      for (const ConvCase& c : cases) {
        INFO(describe(c) << " " << dtype_name(dtype) << " slope " << slope);
        auto bias = [&c](const TensorList& in) { return c.bias ? in[2] : Tensor(); };
        auto fused = [&](const TensorList& in) { return conv2d_leaky_relu_max_pool2(in[0], in[1], bias(in), slope, c.padding); };
        auto separate = [&](const TensorList& in) {
          return max_pool2d(conv2d_leaky_relu(in[0], in[1], bias(in), slope, 1, c.padding), 2);
        };
        require_bit_identical(fused, separate, conv_inputs(c, 67), dtype);
        require_bit_identical_without_graph(fused, separate, conv_inputs(c, 68), dtype);
      }
}

TEST_CASE("forward: conv2d_leaky_relu_concat is conv2d_leaky_relu(concat) exactly", "[ops]") {
  // Without a graph the CPU's Winograd paths read the two inputs in place;
  // every other path, and a recorded graph, take the two ops. Values bit for
  // bit, and the recorded form's gradients.
  struct Case {
    Shape a, b;
    int64_t cout, k, stride;
  };
  for (const Case& c : {Case{{2, 3, 7, 6}, {2, 2, 7, 6}, 4, 3, 1}, Case{{1, 2, 9, 8}, {1, 3, 9, 8}, 3, 5, 2},
                        Case{{1, 8, 30, 37}, {1, 8, 30, 37}, 16, 3, 1}, Case{{1, 16, 24, 70}, {1, 16, 24, 70}, 8, 5, 1},
                        Case{{1, 16, 24, 70}, {1, 16, 24, 70}, 8, 5, 2}})
    for (DType dtype : {kFloat64, kFloat32}) {
      INFO(shape_str(c.a) << " + " << shape_str(c.b) << " -> " << c.cout << ", " << c.k << "x" << c.k << " stride "
                          << c.stride << " " << dtype_name(dtype));
      const TensorList inputs = {leaf(c.a, 71), leaf(c.b, 72), leaf({c.cout, c.a[1] + c.b[1], c.k, c.k}, 73),
                                 leaf({c.cout}, 74)};
      auto fused = [&](const TensorList& in) {
        return conv2d_leaky_relu_concat(in[0], in[1], in[2], in[3], 0.2, c.stride);
      };
      auto separate = [&](const TensorList& in) {
        return conv2d_leaky_relu(concat({in[0], in[1]}, 1), in[2], in[3], 0.2, c.stride);
      };
      require_bit_identical(fused, separate, inputs, dtype);
      require_bit_identical_without_graph(fused, separate, inputs, dtype);
    }
}

TEST_CASE("errors: conv2d_leaky_relu_concat", "[ops]") {
  Tensor a = leaf({1, 2, 5, 5}, 1), b = leaf({1, 3, 5, 5}, 2), w = leaf({4, 5, 3, 3}, 3);
  NoGradGuard no_grad;
  CHECK_THROWS_WITH(conv2d_leaky_relu_concat(a, b, w, Tensor(), 1.0),
                    Catch::Contains("conv2d_leaky_relu_concat: slope 1 must be in [0, 1)"));
  CHECK_THROWS_WITH(conv2d_leaky_relu_concat(a, leaf({1, 3, 5, 4}, 4), w, Tensor(), 0.2),
                    Catch::Contains("conv2d_leaky_relu_concat: inputs (1, 2, 5, 5) and (1, 3, 5, 4) differ in batch or size"));
  CHECK_THROWS_WITH(conv2d_leaky_relu_concat(a, b, leaf({4, 4, 3, 3}, 5), Tensor(), 0.2),
                    Catch::Contains("conv2d_leaky_relu_concat: weight (4, 4, 3, 3) does not match input channels 5"));
}

TEST_CASE("errors: conv2d_leaky_relu_max_pool2", "[ops]") {
  Tensor x = leaf({1, 2, 5, 5}, 1), w = leaf({3, 2, 3, 3}, 2);
  NoGradGuard no_grad;
  CHECK_THROWS_WITH(conv2d_leaky_relu_max_pool2(x, w, Tensor(), 1.0),
                    Catch::Contains("conv2d_leaky_relu_max_pool2: slope 1 must be in [0, 1)"));
  CHECK_THROWS_WITH(conv2d_leaky_relu_max_pool2(x, leaf({3, 4, 3, 3}, 3), Tensor(), 0.2),
                    Catch::Contains("conv2d_leaky_relu_max_pool2: weight (3, 4, 3, 3) does not match input channels 2"));
  CHECK_THROWS_WITH(conv2d_leaky_relu_max_pool2(leaf({1, 2, 1, 5}, 4), w, Tensor(), 0.2),
                    Catch::Contains("conv2d_leaky_relu_max_pool2: the conv's output (1, 3, 1, 5) is smaller than the 2 x 2 pool"));
}

TEST_CASE("errors: conv2d_residual", "[ops]") {
  Tensor x = leaf({1, 2, 5, 5}, 1), w = leaf({3, 2, 3, 3}, 2);
  CHECK_THROWS_WITH(conv2d_residual(x, w, Tensor(), leaf({1, 3, 5, 4}, 3)),
                    Catch::Contains("conv2d_residual: residual (1, 3, 5, 4) must have the output's shape (1, 3, 5, 5)"));
  CHECK_THROWS_WITH(conv2d_residual(x, w, Tensor(), Tensor()), Catch::Contains("conv2d_residual: the residual is undefined"));
  CHECK_THROWS_WITH(conv2d_residual(x, w, Tensor(), leaf({1, 3, 5, 5}, 3), 1.5), Catch::Contains("must be in [0, 1]"));
}

TEST_CASE("errors: conv2d_leaky_relu", "[ops]") {
  Tensor x = leaf({1, 2, 5, 5}, 1), w = leaf({3, 2, 3, 3}, 2);
  CHECK_THROWS_WITH(conv2d_leaky_relu(x, w, Tensor(), 1.0), Catch::Contains("conv2d_leaky_relu: slope 1 must be in [0, 1)"));
  CHECK_THROWS_WITH(conv2d_leaky_relu(x, w, Tensor(), -0.1), Catch::Contains("must be in [0, 1)"));
  CHECK_THROWS_WITH(conv2d_leaky_relu(x, leaf({3, 4, 3, 3}, 3), Tensor(), 0.2),
                    Catch::Contains("conv2d_leaky_relu: weight (3, 4, 3, 3) does not match input channels 2"));
}

TEST_CASE("errors: conv2d", "[ops]") {
  Tensor x = leaf({1, 4, 5, 5}, 1), w = leaf({6, 4, 3, 3}, 2);
  CHECK_THROWS_WITH(conv2d(leaf({4, 5, 5}, 1), w, Tensor()),
                    Catch::Contains("conv2d: input must be 4-D (N, C, H, W), got (4, 5, 5)"));
  CHECK_THROWS_WITH(conv2d(x, leaf({6, 3, 3, 3}, 2), Tensor()),
                    Catch::Contains("conv2d: weight (6, 3, 3, 3) does not match input channels 4"));
  CHECK_THROWS_WITH(conv2d(x, leaf({6, 4, 3, 2}, 2), Tensor()),
                    Catch::Contains("conv2d: weight (6, 4, 3, 2) must be (Cout, Cin/groups, k, k)"));
  CHECK_THROWS_WITH(conv2d(x, leaf({6, 1, 3, 3}, 2), Tensor(), 1, -1, 3),
                    Catch::Contains("conv2d: groups 3 does not divide the input channels 4"));
  CHECK_THROWS_WITH(conv2d(x, leaf({5, 2, 3, 3}, 2), Tensor(), 1, -1, 2),
                    Catch::Contains("conv2d: groups 2 does not divide the output channels of weight (5, 2, 3, 3)"));
  CHECK_THROWS_WITH(conv2d(x, leaf({6, 4, 3, 3}, 2), Tensor(), 1, -1, 2),
                    Catch::Contains("weight (6, 4, 3, 3) does not match input channels 4 with groups 2"));
  CHECK_THROWS_WITH(conv2d(x, w, leaf({5}, 3)),
                    Catch::Contains("conv2d: bias (5) does not match the 6 output channels of weight (6, 4, 3, 3)"));
  CHECK_THROWS_WITH(conv2d(x, leaf({6, 4, 7, 7}, 2), Tensor(), 1, 0),
                    Catch::Contains("conv2d: kernel 7 is larger than input (1, 4, 5, 5) padded by 0"));
  CHECK_THROWS_WITH(conv2d(x, w, Tensor(), 0), Catch::Contains("conv2d: stride 0 must be positive"));
  CHECK_THROWS_WITH(conv2d(x, w.detach().to(kFloat32), Tensor()),
                    Catch::Contains("conv2d: input is float64 but weight is float32"));
  CHECK_THROWS_WITH(set_conv_workspace_limit(0), Catch::Contains("set_conv_workspace_limit: 0"));
}

TEST_CASE("errors: conv2d_forward refuses a residual that shares the output's memory", "[ops]") {
  // The GEMM paths write the convolution into the output before their
  // epilogue reads the residual: one in the output's memory would be lost and
  // the convolution added twice. A dense and a depthwise conv, float32.
  const std::string refused =
      "conv2d_forward: the residual shares memory with the output; pass the residual in a tensor of its own";
  for (const int64_t groups : {int64_t(1), int64_t(3)}) {
    INFO("groups " << groups);
    const Tensor x = leaf({1, 3, 8, 8}, 1).detach().to(kFloat32);
    const Tensor w = leaf({3, 3 / groups, 3, 3}, 2).detach().to(kFloat32);
    const Shape out_shape{1, 3, 8, 8};  // 768 bytes: every view below stays 256-byte aligned
    const int64_t n = shape_numel(out_shape);
    // One buffer of two outputs; views of it at element offsets.
    const Tensor buffer = leaf({2 * n}, 3).detach().to(kFloat32);
    auto at = [&](int64_t offset) {
      Tensor v = buffer.detach();
      v.impl().shape = out_shape;
      v.impl().offset = offset;
      return v;
    };
    Tensor y = at(0);
    auto conv_into_y = [&](const Tensor& residual) {
      kernels::conv2d_forward(x, w, Tensor(), residual, y, 1, 1, groups, conv_workspace_limit(), 1.0);
    };
    CHECK_THROWS_WITH(conv_into_y(y), refused);
    CHECK_THROWS_WITH(conv_into_y(at(n / 2)), refused);  // the second half of y
    // Right after y, sharing no byte: taken, and the residual added once.
    const Tensor after = at(n);
    const Tensor expected = add(conv2d(x, w, Tensor(), 1, 1, groups), after.clone());
    conv_into_y(after);
    const std::vector<float> got = y.to_vector<float>(), want = expected.to_vector<float>();
    CHECK(got == want);
  }
}

// ---------------------------------------------------------------- bicubic

TEST_CASE("forward: bicubic by hand", "[ops]") {
  // x1/2 of an even row (align_corners false): the 4-tap filter
  // [-0.09375, 0.59375, 0.59375, -0.09375] on pixels 2i-1 .. 2i+2, edge-clamped
  // (t = 0.5: w0 = w3 = A/8 = -0.09375, w1 = w2 = (A+2)/8 - (A+3)/4 + 1 = 0.59375).
  Tensor x = vec({1, 2, 4, 8, 16, 32}, {1, 1, 1, 6});
  const double a = -0.09375, b = 0.59375;
  require_close(bicubic_resize(x, 1, 3), {a * 1 + b * 1 + b * 2 + a * 4, a * 2 + b * 4 + b * 8 + a * 16,
                                          a * 8 + b * 16 + b * 32 + a * 32},
                1e-14);
  // The same size is the identity in both modes (t = 0: weights 0, 1, 0, 0).
  Tensor r = leaf({1, 2, 4, 5}, 3).detach();
  require_close(bicubic_resize(r, 4, 5, false), r, 1e-300);
  require_close(bicubic_resize(r, 4, 5, true), r, 1e-300);
  // Constants stay constant (the weights sum to 1), any size, both modes.
  Tensor c = full({1, 1, 3, 4}, 2.5, kFloat64);
  for (bool ac : {false, true}) {
    require_close(bicubic_resize(c, 7, 9, ac), std::vector<double>(63, 2.5), 1e-14);
    require_close(bicubic_resize(c, 2, 1, ac), std::vector<double>(2, 2.5), 1e-14);
  }
  // align_corners true keeps the corners.
  Tensor up = bicubic_resize(r, 7, 9, true);
  std::vector<double> u = up.to_vector<double>(), rv = r.to_vector<double>();
  CHECK(u[0] == Approx(rv[0]).epsilon(1e-14));
  CHECK(u[8] == Approx(rv[4]).epsilon(1e-14));
  CHECK(u[62] == Approx(rv[19]).epsilon(1e-14));
}

TEST_CASE("forward: bicubic x2 is exact on integers, every column (the doubled columns' loop and the edges)", "[ops]") {
  // An output twice as wide takes the taps at t = 0.75 (even columns, input
  // i - 2 .. i + 1) and t = 0.25 (odd, i - 1 .. i + 2): weights that are
  // exact binary fractions (-0.03515625, 0.26171875, 0.87890625,
  // -0.10546875), so on small integers every sum is exact in any order and
  // must equal this plain formula, edge clamping included. Widths below 5
  // take the general loop alone; from 5 the interior its own (bicubic.cpp).
  const double far = -0.03515625, mid = 0.26171875, near = 0.87890625, edge = -0.10546875;
  for (int64_t w : {3, 4, 5, 6, 9, 40})
    for (DType dtype : {kFloat32, kFloat64}) {
      INFO("width " << w << " " << dtype_name(dtype));
      std::vector<double> row(size_t(2 * w));  // two rows: H 2 -> 4 as well
      for (size_t i = 0; i < row.size(); ++i) row[i] = double(int64_t((i * 37 + 11) % 41) - 20);
      const Tensor x = from_vector<double>(row, {1, 1, 2, w}).to(dtype);
      const std::vector<double> got = bicubic_resize(x, 4, 2 * w).to_vector<double>();
      auto at = [&](int64_t r, int64_t c) {
        return row[size_t(std::clamp<int64_t>(r, 0, 1) * w + std::clamp<int64_t>(c, 0, w - 1))];
      };
      // Along W: output column 2i + p from columns i - 2 + p .. i + 1 + p.
      auto along_w = [&](int64_t r, int64_t ox) {
        const int64_t i = ox / 2, p = ox % 2;
        return p == 0 ? far * at(r, i - 2) + mid * at(r, i - 1) + near * at(r, i) + edge * at(r, i + 1)
                      : edge * at(r, i - 1) + near * at(r, i) + mid * at(r, i + 1) + far * at(r, i + 2);
      };
      for (int64_t oy = 0; oy < 4; ++oy)
        for (int64_t ox = 0; ox < 2 * w; ++ox) {
          const int64_t i = oy / 2, p = oy % 2;
          const double want = p == 0 ? far * along_w(i - 2, ox) + mid * along_w(i - 1, ox) + near * along_w(i, ox) +
                                           edge * along_w(i + 1, ox)
                                     : edge * along_w(i - 1, ox) + near * along_w(i, ox) + mid * along_w(i + 1, ox) +
                                           far * along_w(i + 2, ox);
          INFO("output (" << oy << ", " << ox << ")");
          CHECK(got[size_t(oy * 2 * w + ox)] == want);
        }
    }
}

TEST_CASE("forward: bicubic_scale uses floor sizes and the size ratio (torch 1.4)", "[ops]") {
  Tensor x = leaf({1, 2, 9, 7}, 5).detach();
  Tensor y = bicubic_scale(x, 0.5);
  CHECK(y.shape() == Shape{1, 2, 4, 3});
  require_close(y, bicubic_resize(x, 4, 3), 1e-300);
  CHECK(bicubic_scale(x, 2.0, true).shape() == Shape{1, 2, 18, 14});
  CHECK_THROWS_WITH(bicubic_scale(x, 0.1), Catch::Contains("bicubic_scale: scale 0.1 makes input (1, 2, 9, 7) empty"));
  CHECK_THROWS_WITH(bicubic_scale(x, -1), Catch::Contains("bicubic_scale: scale -1 must be positive"));
}

TEST_CASE("errors: bicubic", "[ops]") {
  CHECK_THROWS_WITH(bicubic_resize(leaf({2, 5, 7}, 1), 4, 4),
                    Catch::Contains("bicubic_resize: input must be 4-D (N, C, H, W), got (2, 5, 7)"));
  CHECK_THROWS_WITH(bicubic_resize(leaf({1, 2, 5, 7}, 1), 0, 4),
                    Catch::Contains("bicubic_resize: output size 0 x 4 must be positive (input (1, 2, 5, 7))"));
}

// ---------------------------------------------------------------- antialiased resize

TEST_CASE("forward: resize_antialias keeps constants and matches a hand-computed 1-D case", "[ops]") {
  for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{3, 4}, {11, 13}, {6, 8}, {1, 1}}) {
    INFO(h << " x " << w);
    Tensor c = full({1, 2, 6, 8}, 0.7, kFloat64);
    require_close(resize_antialias(c, h, w), std::vector<double>(size_t(2 * h * w), 0.7), 1e-14);
  }
  // One row of 4 pixels x = (1, 2, 4, 8) halved (scale 1/2, kernel width 8,
  // 10 taps). Output 0 sits at u = 1/scale + (1 - 1/scale)/2 = 1.5 (1-based);
  // taps j = -3 .. 6 at distances u - j = 4.5 .. -4.5, weights
  // 0.5 keys(0.5 d) = 0.5 * [0, -0.0234375, -0.0703125, 0.2265625, 0.8671875,
  // (mirrored)] summing to 1. Mirroring j into 1..4 by [1 2 3 4 4 3 2 1]
  // (j = -2 -> 3, -1 -> 2, 0 -> 1, 5 -> 4) and adding up per pixel:
  //   out0 = 0.546875 x1 + 0.3984375 x2 + 0.1015625 x3 - 0.046875 x4 = 1.375
  // and out1 is its mirror image: 0.546875 x4 + 0.3984375 x3 + 0.1015625 x2 - 0.046875 x1 = 6.125.
  Tensor row = vec({1, 2, 4, 8}, {1, 1, 1, 4});
  require_close(resize_antialias(row, 1, 2), {1.375, 6.125}, 1e-14);
  // The same along H (the column form of that row).
  require_close(resize_antialias(row.reshape({1, 1, 4, 1}), 2, 1), {1.375, 6.125}, 1e-14);
  // Upscaling is plain Keys interpolation: a linear ramp stays linear inside
  // (a = -0.5 reproduces quadratics): x2 of 0..5 samples at o/2 - 0.25
  // (0-based); outputs 3..8 have all four taps inside the image.
  Tensor ramp = vec({0, 1, 2, 3, 4, 5}, {1, 1, 1, 6});
  std::vector<double> up = resize_antialias(ramp, 1, 12).to_vector<double>();
  for (int64_t o = 3; o < 9; ++o) CHECK(up[size_t(o)] == Approx(-0.25 + 0.5 * double(o)).epsilon(1e-13));
  CHECK_THROWS_WITH(resize_antialias(row, 1, 0), Catch::Contains("resize_antialias: output size 1 x 0"));
}

// ---------------------------------------------------------------- pooling

TEST_CASE("forward: avg and max pooling by hand, floor mode, first maximum", "[ops]") {
  Tensor x = vec({1, 5, 2, 0, 9,  //
                  3, 4, 8, 8, 9,  //
                  7, 7, 1, 1, 9,  //
                  7, 6, 1, 0, 9,  //
                  9, 9, 9, 9, 9},
                 {1, 1, 5, 5});
  require_close(avg_pool2d(x), {13.0 / 4, 18.0 / 4, 27.0 / 4, 3.0 / 4});
  require_close(max_pool2d(x), {5, 8, 7, 1});
  require_close(avg_pool2d(x, 3), {38.0 / 9});
  // Gradients: max to the first maximum (8 at column 2, 7 at (2,0), 1 at (2,2)).
  Tensor xg = x.detach().requires_grad_();
  max_pool2d(xg).backward(vec({1, 2, 3, 4}, {1, 1, 2, 2}));
  require_close(xg.grad(), {0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  Tensor xa = x.detach().requires_grad_();
  avg_pool2d(xa).backward(vec({4, 8, 12, 16}, {1, 1, 2, 2}));
  require_close(xa.grad(), {1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 3, 3, 4, 4, 0, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("forward: max pooling without a graph gives the recorded op's values bit for bit", "[ops]") {
  // Without a graph the kernel writes no indices and takes the 2x2 fast path
  // on the CPU; the values must be those of the indexed loop: NaN beats any
  // number, and of equal values (+0 and -0 too) the first in row-major order.
  const double nan = std::nan("");
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t k : {2, 3}) {
      INFO(dtype_name(dt) << ", kernel " << k);
      Tensor x = test::uniform_leaf({2, 3, 7, 11}, 5, dt).detach();
      std::vector<double> v = x.to_vector<double>();
      for (size_t i = 0; i < v.size(); i += 7) v[i] = 0.0;     // ties of zeros, signs below
      for (size_t i = 3; i < v.size(); i += 14) v[i] = -0.0;
      for (size_t i = 5; i < v.size(); i += 29) v[i] = nan;
      for (size_t i = 1; i < v.size(); i += 9) v[i] = -std::abs(v[i]);  // windows that are all negative
      x = from_vector<double>(v, x.shape()).to(dt);
      Tensor plain;
      {
        NoGradGuard no_grad;
        plain = max_pool2d(x, k);
      }
      Tensor recorded = max_pool2d(x.detach().requires_grad_(), k);
      std::vector<double> a = plain.to_vector<double>(), b = recorded.to_vector<double>();
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        INFO("output " << i << ": " << a[i] << " against " << b[i]);
        CHECK(std::memcmp(&a[i], &b[i], sizeof(double)) == 0);
      }
    }
}

TEST_CASE("errors: pooling", "[ops]") {
  CHECK_THROWS_WITH(avg_pool2d(leaf({1, 1, 1, 5}, 1)),
                    Catch::Contains("avg_pool2d: kernel 2 is larger than input (1, 1, 1, 5)"));
  CHECK_THROWS_WITH(max_pool2d(leaf({1, 5, 5}, 1)), Catch::Contains("max_pool2d: input must be 4-D"));
  CHECK_THROWS_WITH(max_pool2d(leaf({1, 1, 4, 4}, 1), 0), Catch::Contains("max_pool2d: kernel 0 must be positive"));
}

// ---------------------------------------------------------------- unfold / fold

TEST_CASE("forward: unfold and fold by hand", "[ops]") {
  // 2x2 windows, stride 1, on a 2x3 image: rows (ky, kx), columns = 2 windows.
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  require_close(unfold(x, 2), {1, 2, 2, 3, 4, 5, 5, 6});
  // Padding 1, stride 2 on the same image: windows at (-1,-1), (-1,1),
  // (1,-1), (1,1); rows (ky, kx) = (0,0) (0,1) (1,0) (1,1).
  require_close(unfold(x, 2, 2, 1), {0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 0, 1, 3, 0, 0});
  // fold sums overlaps: all-ones columns count how many windows cover a pixel.
  require_close(fold(full({1, 4, 2}, 1.0, kFloat64), 2, 3, 2), {1, 2, 1, 1, 2, 1});
  // Channels come first in the row order: rows 0..3 are channel 0.
  Tensor x2 = vec({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  require_close(unfold(x2, 2), {1, 2, 3, 4, 10, 20, 30, 40});
  // Non-overlapping windows: fold(unfold(x)) == x where covered.
  Tensor r = leaf({2, 3, 6, 8}, 3).detach();
  require_close(fold(unfold(r, 2, 2), 6, 8, 2, 2), r, 1e-300);
}

TEST_CASE("forward: fold is the adjoint of unfold", "[ops]") {
  // <unfold(x), c> == <x, fold(c)> for random x and c.
  struct Geo {
    int64_t k, s, p;
  };
  for (Geo g : std::vector<Geo>{{3, 1, 1}, {2, 2, 0}, {4, 4, 0}, {3, 2, 1}, {5, 3, 2}, {1, 1, 0}, {3, 1, 0}}) {
    INFO("k " << g.k << " stride " << g.s << " padding " << g.p);
    Tensor x = leaf({2, 3, 7, 9}, 61).detach();
    Tensor u = unfold(x, g.k, g.s, g.p);
    Tensor c = leaf(u.shape(), 62).detach();
    const double lhs = sum(mul(u, c)).item(), rhs = sum(mul(x, fold(c, 7, 9, g.k, g.s, g.p))).item();
    CHECK(lhs == Approx(rhs).epsilon(1e-13));
  }
}

TEST_CASE("errors: unfold and fold", "[ops]") {
  CHECK_THROWS_WITH(unfold(leaf({1, 1, 2, 2}, 1), 3),
                    Catch::Contains("unfold: kernel 3 is larger than input (1, 1, 2, 2) padded by 0"));
  CHECK_THROWS_WITH(unfold(leaf({1, 1, 4, 4}, 1), 2, 0), Catch::Contains("unfold: kernel 2, stride 0, padding 0"));
  CHECK_THROWS_WITH(fold(leaf({1, 8, 7}, 1), 3, 4, 2),
                    Catch::Contains("fold: cols (1, 8, 7) has 7 columns but a 3 x 4 output with kernel 2, stride 1, "
                                    "padding 0 has 6 windows"));
  CHECK_THROWS_WITH(fold(leaf({1, 7, 6}, 1), 3, 4, 2),
                    Catch::Contains("fold: cols (1, 7, 6) rows are not a multiple of 2 x 2"));
  CHECK_THROWS_WITH(fold(leaf({8, 6}, 1), 3, 4, 2), Catch::Contains("fold: cols must be 3-D (N, C*k*k, L)"));
}

// ---------------------------------------------------------------- blur (§9.1)

TEST_CASE("forward: gaussian_blur3 kernel, shape, constants", "[ops]") {
  // An impulse in the middle of a 7x7 image: the padded impulse sits at
  // (5, 5), so output (5 - a, 5 - b) = kernel[a][b] for a, b in 0..2.
  std::vector<double> impulse(49, 0.0);
  impulse[24] = 1.0;
  Tensor y = gaussian_blur3(vec(impulse, {1, 1, 7, 7}));
  CHECK(y.shape() == Shape{1, 1, 9, 9});
  std::vector<double> v = y.to_vector<double>();
  // dcsr-spec §9.1: 1-D [0.296096, 0.407807, 0.296096] and its outer product.
  const double k1[3] = {0.296096, 0.407807, 0.296096};
  const double k2[9] = {0.087673, 0.120750, 0.087673, 0.120750, 0.166307, 0.120750, 0.087673, 0.120750, 0.087673};
  double total = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      const double got = v[size_t((5 - a) * 9 + (5 - b))];
      CHECK(std::abs(got - k1[a] * k1[b]) < 1e-6);
      CHECK(std::abs(got - k2[a * 3 + b]) < 0.5e-6);
      total += got;
    }
  CHECK(total == Approx(1.0).epsilon(1e-15));
  // Constants stay constant: reflection padding plus weights summing to 1.
  require_close(gaussian_blur3(full({2, 3, 4, 5}, 0.3, kFloat64)), std::vector<double>(2 * 3 * 6 * 7, 0.3), 1e-15);
  CHECK_THROWS_WITH(gaussian_blur3(leaf({1, 3, 2, 5}, 1)),
                    Catch::Contains("gaussian_blur3: input (1, 3, 2, 5) must be at least 3 x 3"));
}

