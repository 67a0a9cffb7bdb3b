// The CUDA image kernels against the CPU backend, float32, forward and
// backward (tests/cuda_parity.h). Every test is skipped without a GPU. The
// convolution cases cover each path of kernels/cuda/conv2d.cu: im2col + GEMM
// with whole images per chunk, with column chunks (a tiny workspace), strided
// and padded, grouped, pointwise (no im2col) and depthwise (direct kernels).
#include "cuda_parity.h"
#include "kernels/kernels.h"

using namespace dcsr;
using test::f32;
using test::one;
using test::Parity;
using test::require_close;
using test::require_parity;
using test::WorkspaceLimit;

namespace {
Tensor ties(const Shape& shape, uint64_t seed, int64_t levels) {
  Generator gen(seed);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (double& x : v) x = double(gen.randint(0, levels));
  return from_vector(v, shape, kFloat32).requires_grad_();
}
}  // namespace

// ---------------------------------------------------------------- conv2d

TEST_CASE("cuda: conv2d forward and backward on every path", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    const char* what;
    Shape x, w;
    int64_t stride, padding, groups;
    bool bias;
  };
  std::vector<Case> cases = {
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
  for (const Case& c : cases) {
    // Whole images per chunk; then a workspace smaller than one image's
    // column matrix, so that images are cut into column ranges.
    const int64_t small = c.x[1] >= 64 ? int64_t(1) << 20 : int64_t(4096);
    for (int64_t limit : {int64_t(256) << 20, small}) {
      WorkspaceLimit workspace(limit);
      std::string what = std::string("conv2d ") + c.what + (limit == small ? ", column chunks" : "");
      TensorList inputs = {f32(c.x, 201), f32(c.w, 202, -0.3, 0.3)};
      if (c.bias) inputs.push_back(f32({c.w[0]}, 203));
      auto fn = [s = c.stride, p = c.padding, g = c.groups, b = c.bias](const TensorList& in) {
        return TensorList{conv2d(in[0], in[1], b ? in[2] : Tensor(), s, p, g)};
      };
      // Sums of up to 576 products (forward), 6400 (weight gradient): float32 rounding.
      require_parity(what, fn, inputs, {1e-5, 1e-4, 1e-4, 1e-4});
    }
  }
}

TEST_CASE("cuda: conv2d_leaky_relu (the activation fused into the bias pass)", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    const char* what;
    Shape x, w;
    int64_t stride;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"3x3, bias", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, true},
      {"3x3 stride 2, no bias", {2, 3, 9, 11}, {4, 3, 3, 3}, 2, false},
      {"pointwise, no bias (activation without a bias)", {3, 6, 7, 5}, {4, 6, 1, 1}, 1, false},
  };
  for (double slope : {0.2, 0.0})
    for (const Case& c : cases) {
      TensorList inputs = {f32(c.x, 221), f32(c.w, 222, -0.3, 0.3)};
      if (c.bias) inputs.push_back(f32({c.w[0]}, 223));
      auto fn = [slope, s = c.stride, b = c.bias](const TensorList& in) {
        return TensorList{conv2d_leaky_relu(in[0], in[1], b ? in[2] : Tensor(), slope, s)};
      };
      require_parity(std::string("conv2d_leaky_relu ") + c.what + " slope " + std::to_string(slope), fn, inputs,
                     {1e-5, 1e-4, 1e-4, 1e-4});
    }
}

TEST_CASE("cuda: conv2d_residual (the residual and activation in the epilogue)", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  for (double slope : {1.0, 0.2})
    for (bool bias : {true, false}) {
      TensorList inputs = {f32({2, 5, 9, 11}, 231), f32({5, 5, 3, 3}, 232, -0.3, 0.3)};
      if (bias) inputs.push_back(f32({5}, 233));
      inputs.push_back(f32({2, 5, 9, 11}, 234));
      auto fn = [slope, bias](const TensorList& in) {
        return TensorList{conv2d_residual(in[0], in[1], bias ? in[2] : Tensor(), in.back(), slope)};
      };
      require_parity(std::string("conv2d_residual slope ") + std::to_string(slope) + (bias ? ", bias" : ", no bias"),
                     fn, inputs, {1e-5, 1e-4, 1e-4, 1e-4});
    }
}

TEST_CASE("cuda: the §9.1 blur (reflection padding + depthwise conv)", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  require_parity("gaussian_blur3", one([](const Tensor& x) { return gaussian_blur3(x); }), {f32({2, 3, 17, 13}, 211)},
                 {1e-6, 1e-5});
}

// ---------------------------------------------------------------- resampling

TEST_CASE("cuda: bicubic resize both ways, both corner modes", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape x;
    int64_t out_h, out_w;
  };
  std::vector<Case> cases = {{{2, 3, 8, 9}, 16, 18}, {{1, 2, 10, 7}, 40, 28}, {{2, 2, 17, 19}, 8, 6},
                             {{1, 1, 1, 5}, 3, 11},  {{1, 3, 5, 5}, 5, 5},    {{1, 2, 33, 30}, 97, 61}};
  for (const Case& c : cases) {
    for (bool align : {false, true}) {
      std::string what = "bicubic " + shape_str(c.x) + " -> " + std::to_string(c.out_h) + "x" +
                         std::to_string(c.out_w) + (align ? " align_corners" : "");
      require_parity(what,
                     one([c, align](const Tensor& x) { return bicubic_resize(x, c.out_h, c.out_w, align); }),
                     {f32(c.x, 221)}, {1e-5, 1e-5});
    }
  }
  require_parity("bicubic_scale x4", one([](const Tensor& x) { return bicubic_scale(x, 4.0); }),
                 {f32({1, 3, 12, 10}, 222)}, {1e-5, 1e-5});
}

TEST_CASE("cuda: antialiased resize matches the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape x;
    int64_t out_h, out_w;
  };
  std::vector<Case> cases = {{{2, 3, 64, 48}, 16, 12}, {{1, 3, 30, 45}, 10, 15}, {{1, 2, 9, 7}, 18, 14},
                             {{1, 1, 20, 20}, 7, 13}};
  for (const Case& c : cases) {
    Tensor x = f32(c.x, 231).detach();
    Tensor cpu = resize_antialias(x, c.out_h, c.out_w), gpu = resize_antialias(x.to(kCUDA), c.out_h, c.out_w);
    require_close(gpu, cpu, 1e-6, 1e-5, "resize_antialias " + shape_str(c.x));
  }
}

// ---------------------------------------------------------------- pooling

TEST_CASE("cuda: average and max pooling, ties and leftovers", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // 11 x 13 with kernel 2 and 3 leaves rows and columns that no window reads.
  for (int64_t k : {2, 3}) {
    const std::string ks = " kernel " + std::to_string(k);
    require_parity("avg_pool2d" + ks, one([k](const Tensor& x) { return avg_pool2d(x, k); }),
                   {f32({2, 3, 11, 13}, 241)}, {1e-6, 1e-6});
    require_parity("max_pool2d distinct" + ks, one([k](const Tensor& x) { return max_pool2d(x, k); }),
                   {f32({2, 3, 11, 13}, 242)}, {1e-12, 0.0});
    // Many equal values per window: the gradient must go to the same (first) element.
    require_parity("max_pool2d ties" + ks, one([k](const Tensor& x) { return max_pool2d(x, k); }),
                   {ties({2, 3, 11, 13}, 243, 2)}, {1e-12, 0.0});
  }
}

// ---------------------------------------------------------------- unfold / fold

TEST_CASE("cuda: unfold and fold with strides and padding", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    int64_t k, stride, padding;
  };
  for (const Case& c : std::vector<Case>{{3, 1, 1}, {2, 2, 0}, {3, 2, 1}, {4, 3, 2}, {1, 1, 0}}) {
    const std::string what = "k " + std::to_string(c.k) + " stride " + std::to_string(c.stride) + " padding " +
                             std::to_string(c.padding);
    require_parity("unfold " + what,
                   one([c](const Tensor& x) { return unfold(x, c.k, c.stride, c.padding); }), {f32({2, 3, 10, 11}, 251)},
                   {1e-12, 0.0, 1e-6, 1e-6});
    const int64_t L = ((10 + 2 * c.padding - c.k) / c.stride + 1) * ((11 + 2 * c.padding - c.k) / c.stride + 1);
    require_parity("fold " + what,
                   one([c](const Tensor& cols) { return fold(cols, 10, 11, c.k, c.stride, c.padding); }),
                   {f32({2, 3 * c.k * c.k, L}, 252)}, {1e-6, 1e-6, 1e-12, 0.0});
  }
}
