// The implicit GEMM of the CUDA conv2d forward (kernels/cuda/conv2d_implicit.cuh),
// forced for every convolution it applies to, against the CPU backend, float32,
// forward and backward (tests/cuda_parity.h). Skipped without a GPU. Layers of
// at most 32 output channels take the 32 x 256 block. Which of the two
// 64-channel block shapes a wider case takes depends on the GPU's SM count
// (kernels/conv_forward_plan.h): on 132 SMs (an H100 or H200) the two 232x232
// cases take 64 x 256 and the smaller ones 64 x 128; on the host emulator's 4
// SMs the 20x20 and 150x150 cases take 64 x 256 too.
// The cost model's choices are checked without a GPU at the end.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "cuda_parity.h"
#include "kernels/conv_forward_plan.h"
#include "runtime/device.h"
#include "runtime/profiler.h"
#include "runtime/switches.h"
#include "kernels/kernels.h"
#include "kernels/tf32_bound.h"

using namespace dcsr;
using test::f32;
using test::require_parity;

namespace {

// The kernel rows DCSR_PROFILE=shapes records for 3x3 convolutions (padding
// 1, no bias) of x, a CUDA tensor, to each output channel count in couts.
std::vector<std::string> profiled_conv_names(const Tensor& x, std::initializer_list<int64_t> couts) {
  runtime::reset_kernel_profile();
  runtime::set_kernel_profiling(true);
  runtime::set_kernel_profile_shapes(true);
  {
    NoGradGuard no_grad;
    for (int64_t cout : couts)
      (void)conv2d(x, f32({cout, x.size(1), 3, 3}, 249).detach().to(kCUDA), Tensor(), 1, 1);
  }
  runtime::set_kernel_profile_shapes(false);
  runtime::set_kernel_profiling(false);
  std::vector<std::string> names;
  for (const runtime::KernelProfileRow& row : runtime::kernel_profile()) names.push_back(row.kernel);
  runtime::reset_kernel_profile();
  return names;
}

// Whether one of the names starts with prefix and ends with suffix.
bool named_with_prefix(const std::vector<std::string>& names, const std::string& prefix, const std::string& suffix) {
  for (const std::string& n : names)
    if (n.size() >= prefix.size() + suffix.size() && n.rfind(prefix, 0) == 0 &&
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  return false;
}

// The tile kernel's shape for DCSR_CONV_PATH=tile while in scope (8 after).
struct TileWarpsScope {
  explicit TileWarpsScope(int warps) { kernels::set_tile_conv_warps(warps); }
  ~TileWarpsScope() { kernels::set_tile_conv_warps(8); }
};

}  // namespace

TEST_CASE("cuda: conv2d forward through the implicit GEMM", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // The path changes only the forward of 3x3 and 5x5 stride-1 single-group
  // convolutions; the other cases check that everything else still takes im2col.
  test::ConvPathScope scope(runtime::CudaConvPath::kImplicit);
  test::DirectCpuConvolutions direct;
  struct Case {
    const char* what;
    Shape x, w;
    int64_t stride, padding, groups;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"3x3 same padding, bias (partial tiles: 5 channels, 99 pixels, K = 27)", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, 1,
       1, true},
      {"3x3 no padding, no bias", {2, 4, 10, 9}, {3, 4, 3, 3}, 1, 0, 1, false},
      {"3x3 padding 2", {1, 2, 6, 7}, {3, 2, 3, 3}, 1, 2, 1, true},
      {"64 -> 70 at 20x20 (two channel tiles, two pixel tiles)", {2, 64, 20, 20}, {70, 64, 3, 3}, 1, 1, 1, true},
      {"4 -> 64 at 232x232 (211 blocks of 64 x 256)", {1, 4, 232, 232}, {64, 4, 3, 3}, 1, 1, 1, true},
      {"5x5 same padding, 6 -> 66 (K = 150)", {2, 6, 13, 10}, {66, 6, 5, 5}, 1, 2, 1, true},
      {"5x5 no padding, no bias", {1, 3, 12, 12}, {4, 3, 5, 5}, 1, 0, 1, false},
      {"5x5 at 150x150, 8 -> 64", {1, 8, 150, 150}, {64, 8, 5, 5}, 1, 2, 1, true},
      {"5x5 at 232x232, 4 -> 64 (211 blocks of 64 x 256)", {1, 4, 232, 232}, {64, 4, 5, 5}, 1, 2, 1, true},
      {"32 -> 32 at 40x33 (32-channel blocks, 6 pixel tiles, the last partial)", {2, 32, 40, 33}, {32, 32, 3, 3}, 1,
       1, 1, true},
      {"5x5 same padding, 64 -> 32 at 18x21 (32-channel blocks, K = 1600)", {1, 64, 18, 21}, {32, 64, 5, 5}, 1, 2, 1,
       true},
      {"3x3, 8 -> 33 (a 64-channel block: more than 32 channels)", {1, 8, 12, 14}, {33, 8, 3, 3}, 1, 1, 1, true},
      {"7x7 (im2col path)", {1, 2, 12, 12}, {4, 2, 7, 7}, 1, 3, 1, true},
      {"3x3 stride 2 (im2col path)", {2, 3, 9, 11}, {4, 3, 3, 3}, 2, 1, 1, true},
      {"grouped 2 (im2col path)", {2, 4, 8, 9}, {6, 2, 3, 3}, 1, 1, 2, true},
  };
  for (const Case& c : cases) {
    TensorList inputs;
    inputs.push_back(f32(c.x, 241));
    inputs.push_back(f32(c.w, 242, -0.3, 0.3));
    if (c.bias) inputs.push_back(f32({c.w[0]}, 243));
    auto fn = [s = c.stride, p = c.padding, g = c.groups, b = c.bias](const TensorList& in) {
      return TensorList{conv2d(in[0], in[1], b ? in[2] : Tensor(), s, p, g)};
    };
    // Float32 tolerances for sums of up to 576 products (the forward) and 6400 (the
    // weight gradient); a weight-gradient value sums N * Ho * Wo products (53824 at
    // 232x232), and its rounding grows with that count, so its tolerance does too.
    const double weight_sums = double(c.x[0] * c.x[2] * c.x[3]);
    const double grad_atol = 1e-4 * std::max(1.0, weight_sums / 6400.0);
    require_parity(std::string("implicit GEMM forced: conv2d ") + c.what, fn, inputs, {1e-5, 1e-4, grad_atol, 1e-4});
  }
  // The profiler names the block shape: 32 channels for 32 output channels, 64 for 33.
  const std::vector<std::string> names = profiled_conv_names(f32({1, 8, 12, 14}, 248).detach().to(kCUDA), {32, 33});
  CHECK(named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (implicit 32x256)", ""));
  CHECK(named_with_prefix(names, "conv2d_forward:8->33 3x3 s1 p1 at 1x12x14 (implicit 64x", ")"));
  // The epilogue in the kernel's store: the residual (with and without an activation), and
  // an activation alone.
  const Tensor x = f32({2, 5, 9, 11}, 244), w = f32({5, 5, 3, 3}, 245, -0.3, 0.3), b = f32({5}, 246);
  const Tensor r = f32({2, 5, 9, 11}, 247);
  for (double slope : {0.2, 1.0})
    require_parity("implicit GEMM forced: conv2d_residual slope " + std::to_string(slope),
                   [slope](const TensorList& in) {
                     return TensorList{conv2d_residual(in[0], in[1], in[2], in[3], slope)};
                   },
                   {x, w, b, r}, {1e-5, 1e-4, 1e-4, 1e-4});
  for (double slope : {0.2, 0.0})
    require_parity("implicit GEMM forced: conv2d_leaky_relu slope " + std::to_string(slope),
                   [slope](const TensorList& in) {
                     return TensorList{conv2d_leaky_relu(in[0], in[1], in[2], slope, 1)};
                   },
                   {x, w, b}, {1e-5, 1e-4, 1e-4, 1e-4});
}

namespace {

// Sets TF32 on the CUDA backend (runtime/switches.h) for a scope.
struct Tf32Scope {
  bool saved = runtime::cuda_tf32();
  explicit Tf32Scope(bool on) { runtime::set_cuda_tf32(on); }
  ~Tf32Scope() { runtime::set_cuda_tf32(saved); }
};

// The largest element of t, through the max op.
double largest(const Tensor& t) { return max(t.flatten(), 0).values.item(); }

// One convolution of the TF32 bound checks below.
struct Tf32Case {
  const char* what;
  Shape x, w;
  int64_t padding;  // k / 2 where there is a residual (conv2d_residual's)
  bool bias, residual;
  double slope;
};

// Runs each case on the CUDA backend's current path with TF32 on and off and
// checks the TF32 result against TF32's error bound (kernels/tf32_bound.h),
// the exact result the float64 CPU convolution. At K >= 576 it also checks that TF32 was used: its error is
// far above the float32 kernel's (about 2^-11 relative per product against
// 2^-24 per addition).
void check_within_tf32_bound(const std::vector<Tf32Case>& cases) {
  NoGradGuard no_grad;
  for (const Tf32Case& c : cases) {
    INFO(c.what);
    const Tensor x = f32(c.x, 251).detach(), w = f32(c.w, 252, -0.3, 0.3).detach();
    const Tensor b = c.bias ? f32({c.w[0]}, 253).detach() : Tensor();
    const int64_t ho = c.x[2] + 2 * c.padding - c.w[2] + 1, wo = c.x[3] + 2 * c.padding - c.w[3] + 1;
    const Tensor r = c.residual ? f32({c.x[0], c.w[0], ho, wo}, 254).detach() : Tensor();
    auto run = [&](Device d) {
      const Tensor xd = x.to(d), wd = w.to(d), bd = b.defined() ? b.to(d) : Tensor();
      if (c.residual) return conv2d_residual(xd, wd, bd, r.to(d), c.slope).to(kCPU);  // padding k / 2
      if (c.slope == 1.0) return conv2d(xd, wd, bd, 1, c.padding).to(kCPU);
      return conv2d_leaky_relu(xd, wd, bd, c.slope, 1, c.padding).to(kCPU);
    };
    Tensor tf32, float32;
    {
      Tf32Scope on(true);
      tf32 = run(kCUDA);
    }
    {
      Tf32Scope off(false);
      float32 = run(kCUDA);
    }
    // The exact result and the bound, in float64 on the CPU.
    const Tensor x64 = x.to(kFloat64), w64 = w.to(kFloat64), b64 = b.defined() ? b.to(kFloat64) : Tensor();
    const Tensor pre =
        c.residual ? conv2d_residual(x64, w64, b64, r.to(kFloat64)) : conv2d(x64, w64, b64, 1, c.padding);
    const Tensor exact = c.slope == 1.0 ? pre : leaky_relu(pre, c.slope);
    const double K = double(c.w[1] * c.w[2] * c.w[3]);
    Tensor magnitude = conv2d(abs(x64), abs(w64), b64.defined() ? abs(b64) : Tensor(), 1, c.padding);
    if (c.residual) magnitude = magnitude + abs(r.to(kFloat64));
    const Tensor bound = magnitude * kernels::tf32_error_per_magnitude(K, /*float32_reference=*/false);
    const Tensor tf32_error = abs(tf32.to(kFloat64) - exact);
    CHECK(largest(tf32_error - bound) <= 0.0);
    if (K >= 576) CHECK(largest(tf32_error) > 10.0 * largest(abs(float32.to(kFloat64) - exact)));
  }
}

}  // namespace

TEST_CASE("cuda: conv2d forward on TF32 tensor cores, within TF32's error bound", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // DCSR_TF32=1 with the implicit GEMM forced: conv2d_implicit_tf32.cuh (a
  // GPU of compute capability 8.0 or later: H100, H200; the host emulator
  // says 9.0). Cases of at most 32 output channels take the 32-channel TF32
  // block.
  test::ConvPathScope scope(runtime::CudaConvPath::kImplicit);
  const std::vector<Tf32Case> cases = {
      {"3x3, 3 -> 5 (partial tiles, K = 27)", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, true, false, 1.0},
      {"3x3, 64 -> 70 at 20x20 (two channel tiles, K = 576)", {2, 64, 20, 20}, {70, 64, 3, 3}, 1, true, true, 0.2},
      {"3x3, 4 -> 64 at 232x232 (211 blocks of 64 x 256)", {1, 4, 232, 232}, {64, 4, 3, 3}, 1, true, true, 0.0},
      {"3x3 padding 2, no bias", {1, 2, 6, 7}, {3, 2, 3, 3}, 2, false, false, 1.0},
      {"5x5, 6 -> 66 (K = 150)", {2, 6, 13, 10}, {66, 6, 5, 5}, 2, true, false, 0.2},
      {"5x5 at 150x150, 8 -> 64", {1, 8, 150, 150}, {64, 8, 5, 5}, 2, true, true, 1.0},
      {"3x3, 32 -> 32 at 40x33 (32-channel blocks, K = 288)", {2, 32, 40, 33}, {32, 32, 3, 3}, 1, true, true, 0.2},
      {"5x5, 64 -> 32 at 18x21 (32-channel blocks, K = 1600)", {1, 64, 18, 21}, {32, 64, 5, 5}, 2, true, false, 1.0},
  };
  check_within_tf32_bound(cases);
  // The profiler names the path (DCSR_PROFILE=shapes).
  std::vector<std::string> names;
  {
    Tf32Scope on(true);
    names = profiled_conv_names(f32({1, 64, 20, 20}, 255).detach().to(kCUDA), {64, 32});
  }
  CHECK(named_with_prefix(names, "conv2d_forward:64->64 3x3 s1 p1 at 1x20x20 (implicit 64x", " tf32)"));
  CHECK(named_with_prefix(names, "conv2d_forward:64->32 3x3 s1 p1 at 1x20x20 (implicit 32x256 tf32)", ""));
}

TEST_CASE("cuda: conv2d forward through the TF32 tile kernel, within TF32's error bound", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // DCSR_CONV_PATH=tile with DCSR_TF32=1: conv2d_tile_tf32.cuh, 32 output
  // channels x 16x16 pixels a block, 8 input channels a step. The cases
  // cover partial tiles on both sides and partial channel blocks and chunks
  // (fewer than 8 input channels, 9 = 8 + 1, fewer than 32 output channels,
  // 70 = 32 + 32 + 6), odd and even output widths (scalar and paired
  // stores), padding 0, 1 and 2, and every epilogue.
  test::ConvPathScope scope(runtime::CudaConvPath::kTile);
  const std::vector<Tf32Case> cases = {
      {"3x3, 3 -> 5 at 9x11 (one partial tile, K = 27)", {2, 3, 9, 11}, {5, 3, 3, 3}, 1, true, false, 1.0},
      {"3x3, 32 -> 32 at 40x33 (3 x 3 tiles, the last row and column partial)", {2, 32, 40, 33}, {32, 32, 3, 3}, 1,
       true, true, 0.2},
      {"3x3, 64 -> 70 at 20x20 (three channel blocks, K = 576)", {2, 64, 20, 20}, {70, 64, 3, 3}, 1, true, true, 0.2},
      {"3x3, 9 -> 16 at 17x18 (the second chunk one channel), LeakyReLU 0", {1, 9, 17, 18}, {16, 9, 3, 3}, 1, true,
       false, 0.0},
      {"3x3 padding 0, no bias", {2, 4, 10, 9}, {3, 4, 3, 3}, 0, false, false, 1.0},
      {"3x3 padding 2, no bias", {1, 2, 6, 7}, {3, 2, 3, 3}, 2, false, false, 1.0},
      {"5x5, 6 -> 66 at 13x10 (K = 150)", {2, 6, 13, 10}, {66, 6, 5, 5}, 2, true, false, 0.2},
      {"5x5, 64 -> 32 at 18x21 (K = 1600)", {1, 64, 18, 21}, {32, 64, 5, 5}, 2, true, true, 1.0},
      {"5x5 padding 0, 3 -> 4 at 12x12", {1, 3, 12, 12}, {4, 3, 5, 5}, 0, false, false, 1.0},
      {"3x3, 16 -> 32 at 50x50 (16 tiles)", {1, 16, 50, 50}, {32, 16, 3, 3}, 1, true, true, 0.2},
  };
  // Both block shapes: 8 warps of 2 rows, and 4 warps of 4 rows (3 and 4
  // halo places a thread, 2 weight pairs).
  for (int warps : {8, 4}) {
    INFO(warps << " warps");
    TileWarpsScope shape(warps);
    check_within_tf32_bound(cases);
  }
  // The profiler names the kernel; with TF32 off the tile path is the automatic one.
  std::vector<std::string> names;
  {
    Tf32Scope on(true);
    names = profiled_conv_names(f32({1, 8, 12, 14}, 256).detach().to(kCUDA), {32, 40});
  }
  CHECK(named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (tile 32x16x16 tf32)", ""));
  CHECK(named_with_prefix(names, "conv2d_forward:8->40 3x3 s1 p1 at 1x12x14 (tile 32x16x16 tf32)", ""));
  {
    Tf32Scope on(true);
    TileWarpsScope shape(4);
    names = profiled_conv_names(f32({1, 8, 12, 14}, 256).detach().to(kCUDA), {32});
  }
  CHECK(named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (tile 32x16x16 tf32 4 warps)", ""));
  {
    Tf32Scope off(false);
    names = profiled_conv_names(f32({1, 8, 12, 14}, 256).detach().to(kCUDA), {32});
  }
  CHECK_FALSE(named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (tile", ""));
}

TEST_CASE("conv forward path names", "[conv][options]") {
  // Needs no GPU: the switch and its environment spelling.
  using runtime::CudaConvPath;
  for (CudaConvPath path : {CudaConvPath::kAuto, CudaConvPath::kIm2col, CudaConvPath::kImplicit, CudaConvPath::kTile,
                            CudaConvPath::kMeasure})
    REQUIRE(runtime::conv_path_from_name(runtime::conv_path_name(path)) == path);
  REQUIRE(std::string(runtime::conv_path_name(CudaConvPath::kIm2col)) == "im2col");
  REQUIRE(std::string(runtime::conv_path_name(CudaConvPath::kMeasure)) == "measure");
  REQUIRE_THROWS_WITH(runtime::conv_path_from_name("fast"), Catch::Contains("DCSR_CONV_PATH='fast'") &&
                                                                Catch::Contains("auto, im2col, implicit, tile or measure"));
  test::ConvPathScope scope(CudaConvPath::kImplicit);
  REQUIRE(runtime::cuda_conv_path() == CudaConvPath::kImplicit);
  // The kernels' names in profiles: TF32 marks the implicit GEMM's, im2col's GEMMs are cuBLAS's.
  using kernels::ConvForwardKernel;
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kImplicit64x256, true)) ==
        "implicit 64x256 tf32");
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kImplicit64x128, false)) ==
        "implicit 64x128");
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kIm2col, true)) == "im2col");
}

TEST_CASE("matching path names", "[options]") {
  // Needs no GPU: DCSR_CUDA_MATCH's spellings.
  using runtime::CudaMatchPath;
  for (CudaMatchPath path : {CudaMatchPath::kFloat32, CudaMatchPath::kTf32, CudaMatchPath::kMap})
    REQUIRE(runtime::match_path_from_name(runtime::match_path_name(path)) == path);
  REQUIRE(runtime::match_path_from_name("") == CudaMatchPath::kFloat32);
  REQUIRE_THROWS_WITH(runtime::match_path_from_name("bf16"),
                      Catch::Contains("DCSR_CUDA_MATCH='bf16'") && Catch::Contains("float32, tf32 or map"));
}

TEST_CASE("conv forward plan: the cost model picks the kernel measured fastest", "[conv][options]") {
  // Needs no GPU. The rows of kernels/conv_forward_plan.cpp's table (an H100,
  // 132 SMs): the model must pick the column that was fastest there.
  using kernels::ConvForwardKernel;
  using runtime::CudaConvPath;
  struct Row {
    kernels::ConvForwardShape shape;
    ConvForwardKernel fastest;
  };
  const std::vector<Row> rows = {
      {{1, 64, 256, 256, 64, 3, 1, 1, 1}, ConvForwardKernel::kImplicit64x256},
      {{1, 64, 332, 332, 64, 3, 1, 1, 1}, ConvForwardKernel::kImplicit64x128},
      {{1, 64, 166, 166, 64, 3, 1, 1, 1}, ConvForwardKernel::kIm2col},
      {{16, 64, 48, 48, 64, 3, 1, 1, 1}, ConvForwardKernel::kIm2col},
      {{4, 3, 128, 128, 64, 3, 1, 1, 1}, ConvForwardKernel::kImplicit64x256},
  };
  for (const Row& r : rows) {
    const auto& s = r.shape;
    INFO(s.N << "x" << s.Cin << "x" << s.H << "x" << s.W << " -> " << s.Cout);
    CHECK(kernels::conv_forward_kernel_name(kernels::plan_conv_forward(s, CudaConvPath::kAuto, 132)) ==
          std::string(kernels::conv_forward_kernel_name(r.fastest)));
    // Forcing a path: im2col always; the implicit GEMM wherever it applies.
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kIm2col, 132) == ConvForwardKernel::kIm2col);
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kImplicit, 132) != ConvForwardKernel::kIm2col);
  }
  // Where the implicit GEMM does not apply, every path is im2col.
  for (const kernels::ConvForwardShape& s : {kernels::ConvForwardShape{1, 64, 64, 64, 64, 3, 2, 1, 1},
                                             kernels::ConvForwardShape{1, 64, 64, 64, 64, 3, 1, 1, 2},
                                             kernels::ConvForwardShape{1, 4, 64, 64, 32, 7, 1, 3, 1},
                                             kernels::ConvForwardShape{1, 64, 64, 64, 16, 1, 1, 0, 1}}) {
    REQUIRE_FALSE(kernels::implicit_gemm_applies(s));
    REQUIRE(kernels::plan_conv_forward(s, CudaConvPath::kImplicit, 132) == ConvForwardKernel::kIm2col);
  }
  // The block counts the model steps by: 332x332 = 110224 pixels.
  const kernels::ConvForwardShape big{1, 64, 332, 332, 64, 3, 1, 1, 1};
  REQUIRE(kernels::implicit_gemm_blocks(ConvForwardKernel::kImplicit64x256, big) == 431);
  REQUIRE(kernels::implicit_gemm_blocks(ConvForwardKernel::kImplicit64x128, big) == 862);
  REQUIRE(kernels::implicit_gemm_blocks(ConvForwardKernel::kImplicit32x256, big) == 862);  // two channel tiles
  // Layers of at most 32 output channels: forced, the 32-channel block; the
  // model (kAuto) does not take it until a GPU has timed it.
  for (const kernels::ConvForwardShape& s : {kernels::ConvForwardShape{1, 32, 332, 332, 32, 3, 1, 1, 1},
                                             kernels::ConvForwardShape{1, 64, 332, 332, 32, 5, 1, 2, 1},
                                             kernels::ConvForwardShape{1, 3, 166, 166, 32, 3, 1, 1, 1},
                                             kernels::ConvForwardShape{2, 32, 9, 11, 5, 3, 1, 1, 1}}) {
    INFO(s.N << "x" << s.Cin << "x" << s.H << "x" << s.W << " -> " << s.Cout << ", " << s.k << "x" << s.k);
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kImplicit, 132) == ConvForwardKernel::kImplicit32x256);
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kAuto, 132) != ConvForwardKernel::kImplicit32x256);
  }
  CHECK(kernels::plan_conv_forward({1, 32, 64, 64, 33, 3, 1, 1, 1}, CudaConvPath::kImplicit, 132) !=
        ConvForwardKernel::kImplicit32x256);
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kImplicit32x256)) == "implicit 32x256");
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kImplicit32x256, true)) ==
        "implicit 32x256 tf32");
  REQUIRE(kernels::implicit_gemm_blocks(ConvForwardKernel::kImplicit32x256, {1, 32, 332, 332, 32, 3, 1, 1, 1}) ==
          431);
  // The tile kernel: with DCSR_CONV_PATH=tile and TF32, wherever the implicit
  // GEMM applies, any channel counts; without TF32, what kAuto takes; never
  // taken by kAuto (not yet timed).
  for (const kernels::ConvForwardShape& s : {kernels::ConvForwardShape{1, 32, 332, 332, 32, 3, 1, 1, 1},
                                             kernels::ConvForwardShape{1, 64, 332, 332, 32, 5, 1, 2, 1},
                                             kernels::ConvForwardShape{1, 64, 166, 166, 128, 3, 1, 1, 1},
                                             kernels::ConvForwardShape{4, 3, 128, 128, 64, 3, 1, 1, 1}}) {
    INFO(s.N << "x" << s.Cin << "x" << s.H << "x" << s.W << " -> " << s.Cout << ", " << s.k << "x" << s.k);
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kTile, 132, true) == ConvForwardKernel::kTileTf32);
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kTile, 132, false) ==
          kernels::plan_conv_forward(s, CudaConvPath::kAuto, 132, false));
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kAuto, 132, true) != ConvForwardKernel::kTileTf32);
  }
  for (const kernels::ConvForwardShape& s : {kernels::ConvForwardShape{1, 64, 64, 64, 64, 3, 2, 1, 1},
                                             kernels::ConvForwardShape{1, 4, 64, 64, 32, 7, 1, 3, 1}})
    CHECK(kernels::plan_conv_forward(s, CudaConvPath::kTile, 132, true) == ConvForwardKernel::kIm2col);
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kTileTf32, false)) == "tile 32x16x16 tf32");
  // The 4-warp shape when asked for, and 8 or 4 only.
  {
    TileWarpsScope shape(4);
    CHECK(kernels::plan_conv_forward({1, 32, 332, 332, 32, 3, 1, 1, 1}, CudaConvPath::kTile, 132, true) ==
          ConvForwardKernel::kTileTf32Warps4);
  }
  CHECK(kernels::plan_conv_forward({1, 32, 332, 332, 32, 3, 1, 1, 1}, CudaConvPath::kTile, 132, true) ==
        ConvForwardKernel::kTileTf32);
  REQUIRE_THROWS_WITH(kernels::set_tile_conv_warps(16), Catch::Contains("8 or 4"));
  CHECK(std::string(kernels::conv_forward_kernel_name(ConvForwardKernel::kTileTf32Warps4, true)) ==
        "tile 32x16x16 tf32 4 warps");
}

TEST_CASE("conv forward candidates: the kernels DCSR_CONV_PATH=measure times", "[conv][options]") {
  // Needs no GPU.
  using kernels::ConvForwardKernel;
  using kernels::conv_forward_candidates;
  using K = ConvForwardKernel;
  using Kernels = std::vector<ConvForwardKernel>;
  const kernels::ConvForwardShape narrow{1, 32, 166, 166, 32, 3, 1, 1, 1}, wide{1, 64, 166, 166, 64, 5, 1, 2, 1};
  CHECK(conv_forward_candidates(narrow, false) == Kernels{K::kIm2col, K::kImplicit64x256, K::kImplicit64x128,
                                                          K::kImplicit32x256});
  CHECK(conv_forward_candidates(narrow, true) == Kernels{K::kIm2col, K::kImplicit64x256, K::kImplicit64x128,
                                                         K::kImplicit32x256, K::kTileTf32, K::kTileTf32Warps4});
  CHECK(conv_forward_candidates(wide, false) == Kernels{K::kIm2col, K::kImplicit64x256, K::kImplicit64x128});
  CHECK(conv_forward_candidates(wide, true) == Kernels{K::kIm2col, K::kImplicit64x256, K::kImplicit64x128,
                                                       K::kTileTf32, K::kTileTf32Warps4});
  // Where the implicit GEMM does not apply, im2col alone (nothing to time).
  CHECK(conv_forward_candidates({1, 64, 64, 64, 32, 5, 2, 2, 1}, true) == Kernels{K::kIm2col});
  CHECK(conv_forward_candidates({1, 4, 64, 64, 32, 7, 1, 3, 1}, true) == Kernels{K::kIm2col});
  // Measuring plans as auto where a plan alone is asked for.
  for (bool tf32 : {false, true})
    CHECK(kernels::plan_conv_forward(narrow, runtime::CudaConvPath::kMeasure, 132, tf32) ==
          kernels::plan_conv_forward(narrow, runtime::CudaConvPath::kAuto, 132, tf32));
}

TEST_CASE("cuda: conv2d forward with DCSR_CONV_PATH=measure", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // Every candidate writes the output in turn and the winner runs last: the
  // result is a float32 convolution whichever wins, with its epilogue once
  // (a residual added twice would show), and the forced paths' results still
  // hold after a measured call of the same shape.
  test::ConvPathScope scope(runtime::CudaConvPath::kMeasure);
  test::DirectCpuConvolutions direct;
  const Tensor x = f32({2, 32, 21, 19}, 251), w = f32({32, 32, 3, 3}, 252, -0.3, 0.3), b = f32({32}, 253);
  const Tensor r = f32({2, 32, 21, 19}, 254);
  for (int call = 0; call < 2; ++call) {  // the first call measures, the second takes the choice
    require_parity("measured: conv2d_residual, call " + std::to_string(call),
                   [](const TensorList& in) { return TensorList{conv2d_residual(in[0], in[1], in[2], in[3], 0.2)}; },
                   {x, w, b, r}, {1e-5, 1e-4, 1e-4, 1e-4});
    require_parity("measured: conv2d 5x5, call " + std::to_string(call),
                   [](const TensorList& in) { return TensorList{conv2d(in[0], in[1], in[2], 1, 2)}; },
                   {x, f32({40, 32, 5, 5}, 255, -0.3, 0.3), f32({40}, 256)}, {1e-5, 1e-4, 1e-4, 1e-4});
  }
  // The profile names the kernel that ran: one of the candidates.
  const std::vector<std::string> names = profiled_conv_names(f32({1, 8, 12, 14}, 257).detach().to(kCUDA), {32});
  REQUIRE(names.size() >= 1);
  CHECK((named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (im2col)", "") ||
         named_with_prefix(names, "conv2d_forward:8->32 3x3 s1 p1 at 1x12x14 (implicit ", ")")));
}

TEST_CASE("cuda: conv2d_forward refuses a residual in the output's memory on every path, as on the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  // The im2col path's GEMM writes the output before its epilogue reads the
  // residual; the implicit GEMM and the tile kernel read it first. The
  // dispatch refuses the sharing for all alike (CPU: tests/test_ops_image.cpp).
  const Tensor x = f32({1, 32, 8, 8}, 261).detach().to(kCUDA);
  const Tensor w = f32({32, 32, 3, 3}, 262, -0.3, 0.3).detach().to(kCUDA);
  Tensor y = f32({1, 32, 8, 8}, 263).detach().to(kCUDA);
  for (const runtime::CudaConvPath path : {runtime::CudaConvPath::kAuto, runtime::CudaConvPath::kIm2col,
                                           runtime::CudaConvPath::kImplicit, runtime::CudaConvPath::kTile,
                                           runtime::CudaConvPath::kMeasure}) {
    INFO("DCSR_CONV_PATH=" << runtime::conv_path_name(path));
    test::ConvPathScope scope(path);
    CHECK_THROWS_WITH(kernels::conv2d_forward(x, w, Tensor(), y, y, 1, 1, 1, conv_workspace_limit(), 0.2),
                      "conv2d_forward: the residual shares memory with the output; pass the residual in a tensor of "
                      "its own");
  }
}
