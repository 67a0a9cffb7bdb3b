// Winograd convolutions on the CPU (kernels/cpu/winograd*) and the run-time
// ISA detection they dispatch on (kernels/cpu/isa.h), through the CPU
// backend's public paths (kernels/cpu_paths.h): every ISA path this CPU
// has, each tile size, against the direct convolution computed in float64,
// on odd sizes, every padding and every epilogue; then through the autograd
// ops with the path forced both ways.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu_paths.h"
#include "kernels/kernels.h"
#include "test_util.h"

namespace dcsr::test {

namespace {

namespace paths = kernels::cpu_paths;
using paths::CpuConvPath;
using paths::CpuIsa;

// Restores the ISA and the conv path however a test ends.
struct PathGuard {
  ~PathGuard() {
    paths::reset_cpu_isa();
    paths::reset_cpu_conv_path();
  }
};

std::vector<CpuIsa> supported_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : {CpuIsa::kGeneric, CpuIsa::kAvx2, CpuIsa::kAvx512})
    if (paths::isa_supported(isa)) out.push_back(isa);
  return out;
}

struct Case {
  int64_t n, cin, h, w, cout, pad;
  bool bias, residual;
  double slope;  // 1: no activation
  int64_t k = 3;  // 3x3, or 5x5 (F(2x2, 5x5) under winograd2, F(4x4, 5x5) under winograd4)
  int64_t ho() const { return h + 2 * pad - k + 1; }
  int64_t wo() const { return w + 2 * pad - k + 1; }
};

std::string describe(const Case& c) {
  return "N" + std::to_string(c.n) + " " + std::to_string(c.cin) + "->" + std::to_string(c.cout) + " " +
         std::to_string(c.h) + "x" + std::to_string(c.w) + " pad " + std::to_string(c.pad) + (c.bias ? " bias" : "") +
         (c.residual ? " residual" : "") + " slope " + std::to_string(c.slope) + " " + std::to_string(c.k) + "x" +
         std::to_string(c.k);
}

// Odd sizes, every padding, one and several tile blocks per row (the AVX2
// path takes 16 tiles per job, AVX-512 32: 150 columns are 38 tiles of 4),
// images smaller than one tile, one channel, and every epilogue. AVX-512's
// F(4x4) takes two adjacent groups of 8 tiles at once (64 output columns),
// also where they cross the image's edge (read and written masked to it):
// the rows of 70 to 150 columns have such pairs, at every padding, odd
// heights end in a pair's partial tile row, and 50 columns make one pair
// whose second group is partial (18 of its 32 columns).
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {1, 1, 1, 1, 1, 1, true, false, 1.0},     {2, 3, 5, 7, 5, 1, true, false, 1.0},
      {1, 16, 13, 11, 13, 1, false, false, 1.0}, {1, 5, 9, 10, 7, 0, true, false, 0.2},
      {1, 4, 8, 9, 6, 2, true, true, 1.0},      {2, 8, 17, 150, 9, 1, true, true, 0.2},
      {1, 7, 33, 70, 17, 1, false, true, 0.0},  {1, 24, 6, 6, 24, 1, true, false, 0.1},
      {1, 6, 14, 137, 5, 2, false, true, 0.2},  {2, 3, 10, 131, 4, 0, true, false, 1.0},
      {1, 9, 11, 50, 10, 1, true, true, 0.2},   {2, 5, 7, 46, 6, 2, false, true, 1.0},
      // 5x5 (F(2x2, 5x5): tiles 2 apart, windows 20 columns wide; F(4x4,
      // 5x5): tiles 4 apart, windows 36 wide): odd sizes, paddings 0 to 4,
      // an output smaller than one tile.
      {1, 1, 1, 1, 1, 2, true, false, 1.0, 5},   {2, 3, 5, 7, 5, 2, true, false, 1.0, 5},
      {1, 8, 13, 37, 7, 2, true, true, 0.2, 5},  {1, 5, 9, 10, 7, 0, true, false, 0.2, 5},
      {1, 4, 8, 9, 6, 4, false, true, 1.0, 5},   {2, 16, 17, 150, 9, 1, true, true, 0.0, 5},
  };
  return all;
}

struct Inputs {
  Tensor x, w, b, r;  // float64; b and r undefined when the case has none
};

Inputs make_inputs(const Case& c, uint64_t seed) {
  Generator gen(seed);
  Inputs in;
  in.x = uniform({c.n, c.cin, c.h, c.w}, gen, -1, 1, kFloat64);
  in.w = uniform({c.cout, c.cin, c.k, c.k}, gen, -0.5, 0.5, kFloat64);
  if (c.bias) in.b = uniform({c.cout}, gen, -1, 1, kFloat64);
  if (c.residual) in.r = uniform({c.n, c.cout, c.ho(), c.wo()}, gen, -1, 1, kFloat64);
  return in;
}

// Largest |a - b| over two tensors of the same shape (any floating dtype).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  const double *pa = a64.data<double>(), *pb = b64.data<double>();
  double most = 0;
  for (int64_t i = 0; i < a64.numel(); ++i) most = std::max(most, std::abs(pa[i] - pb[i]));
  return most;
}

Tensor f32(const Tensor& t) { return t.defined() ? t.to(kFloat32) : Tensor(); }

// The kernel-level forward (kernels.h's entry point, which runs the CPU
// kernel for CPU tensors), on whatever path is set now.
Tensor forward(const Case& c, const Inputs& in, DType dtype) {
  auto cast = [&](const Tensor& t) { return dtype == kFloat32 ? f32(t) : t; };
  Tensor y = empty({c.n, c.cout, c.ho(), c.wo()}, dtype);
  kernels::conv2d_forward(cast(in.x), cast(in.w), cast(in.b), cast(in.r), y, 1, c.pad, 1, int64_t(1) << 30, c.slope);
  return y;
}

// Float32 rounding of the transforms: each output is a sum of cin * 36
// products of transformed values up to a few times |x| |w| (the points +-2
// of F(4x4,3x3) and F(2x2,5x5) make their transforms grow the values), so the
// error allowed grows with sum |x| |w| over the receptive field, here at
// most cin * k^2 * 0.5.
double tolerance(const Case& c) { return 2e-6 * double(c.cin) * double(c.k * c.k) * 0.5 + 1e-6; }

// ---- the weight gradient ----

struct WeightCase {
  int64_t n, cin, h, w, cout, pad;
};

std::string describe(const WeightCase& c) {
  return "N" + std::to_string(c.n) + " " + std::to_string(c.cin) + "->" + std::to_string(c.cout) + " " +
         std::to_string(c.h) + "x" + std::to_string(c.w) + " pad " + std::to_string(c.pad);
}

// Odd sizes (H, W not multiples of 2 or 4), every padding, batch > 1,
// Cin != Cout on both sides of the register blocks (6 x 16 on AVX2, 8 x 32
// on AVX-512), one and several jobs (32 tiles each on the SIMD paths) per
// tile row, and outputs smaller than one tile.
const std::vector<WeightCase>& weight_cases() {
  static const std::vector<WeightCase> all = {
      {1, 1, 1, 1, 1, 1},   {2, 3, 5, 7, 5, 1},    {3, 16, 13, 11, 13, 1}, {1, 5, 9, 10, 7, 0},
      {2, 4, 8, 9, 6, 2},   {2, 8, 17, 150, 9, 1}, {1, 7, 33, 70, 17, 1},  {4, 24, 6, 6, 40, 1},
      {1, 33, 21, 19, 7, 2}, {2, 3, 4, 4, 2, 0},
  };
  return all;
}

struct WeightInputs {
  Tensor x, gy;  // float64
};

WeightInputs make_weight_inputs(const WeightCase& c, uint64_t seed) {
  Generator gen(seed);
  const int64_t ho = c.h + 2 * c.pad - 2, wo = c.w + 2 * c.pad - 2;
  return {uniform({c.n, c.cin, c.h, c.w}, gen, -1, 1, kFloat64), uniform({c.n, c.cout, ho, wo}, gen, -1, 1, kFloat64)};
}

// The kernel-level weight gradient (and bias gradient) on whatever path is set now.
std::pair<Tensor, Tensor> weight_gradient(const WeightCase& c, const WeightInputs& in, DType dtype,
                                          int64_t workspace = int64_t(1) << 30) {
  Tensor gw = empty({c.cout, c.cin, 3, 3}, dtype), gb = empty({c.cout}, dtype);
  kernels::conv2d_backward_weight(in.gy.to(dtype), in.x.to(dtype), gw, gb, 1, c.pad, 1, workspace);
  return {gw, gb};
}

// Each weight-gradient value sums N*Ho*Wo products of values in [-1, 1]:
// the float32 rounding of the transforms (F(4x4)'s grow the values most)
// allows an error proportional to that count.
double weight_tolerance(const WeightCase& c) {
  return 2e-6 * double(c.n * (c.h + 2 * c.pad - 2) * (c.w + 2 * c.pad - 2)) + 1e-6;
}

}  // namespace

TEST_CASE("isa: detection, names and forcing", "[winograd]") {
  PathGuard guard;
  const auto& f = paths::cpu_features();
  CHECK_FALSE(paths::cpu_model().empty());
  CHECK_FALSE(f.summary.empty());
  CHECK(paths::isa_supported(CpuIsa::kGeneric));
  CHECK(paths::isa_supported(paths::best_isa()));
  CHECK(paths::isa_supported(CpuIsa::kAvx512) == f.avx512f);
  CHECK(paths::isa_supported(CpuIsa::kAvx2) == f.avx2_fma);
  if (f.avx512f) CHECK(f.avx2_fma);  // the AVX-512 path uses AVX2 + FMA for its transforms
  // The default is the widest level the CPU has: a narrower one gives the same
  // results (every other check here passes on it), only slower.
  CHECK(paths::best_isa() == (f.avx512f ? CpuIsa::kAvx512 : f.avx2_fma ? CpuIsa::kAvx2 : CpuIsa::kGeneric));
  for (CpuIsa isa : {CpuIsa::kGeneric, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    CHECK(paths::isa_from_name(paths::isa_name(isa)) == isa);
    if (paths::isa_supported(isa)) {
      paths::set_cpu_isa(isa);
      CHECK(paths::cpu_isa() == isa);
    } else {
      CHECK_THROWS_WITH(paths::set_cpu_isa(isa), Catch::Contains("cannot run the"));
    }
  }
  CHECK_THROWS_WITH(paths::isa_from_name("sse9"), Catch::Contains("unknown ISA 'sse9'"));
  paths::reset_cpu_isa();
  CHECK(paths::isa_supported(paths::cpu_isa()));
}

TEST_CASE("winograd: the plan's rule and its overrides", "[winograd]") {
  PathGuard guard;
  using paths::ConvShape;
  using paths::winograd_tile_for;
  auto shape = [](int64_t cin, int64_t cout, int64_t side, int64_t k, int64_t stride, int64_t groups) {
    const int64_t out = (side + 2 * (k / 2) - k) / stride + 1;
    return ConvShape{1, cin, side, side, cout, k, stride, k / 2, groups, out, out};
  };
  paths::set_cpu_conv_path(CpuConvPath::kAuto);
  // The rule depends on which direct path Winograd competes with (winograd_plan.cpp).
  const bool implicit_gemm = paths::conv_forward_path(shape(64, 64, 256, 3, 2, 1)) == "direct/avx512-implicit-gemm";
  INFO("direct path: " << paths::conv_forward_path(shape(64, 64, 256, 3, 2, 1)));
  CHECK(winograd_tile_for(shape(64, 64, 256, 3, 1, 1)) == 4);
  CHECK(winograd_tile_for(shape(3, 64, 256, 3, 1, 1)) == 4);
  CHECK(winograd_tile_for(shape(32, 32, 32, 3, 1, 1)) == 4);
  // 5x5: F(4x4, 5x5) (7) from side 32 where the direct path is the implicit GEMM, F(2x2, 5x5) (5) otherwise.
  const int big_5x5 = implicit_gemm ? 7 : 5;
  CHECK(winograd_tile_for(shape(128, 64, 456, 5, 1, 1)) == big_5x5);
  CHECK(winograd_tile_for(shape(128, 128, 8, 3, 1, 1)) == 0);  // the weight transform would dominate
  CHECK(winograd_tile_for(shape(64, 64, 8, 5, 1, 1)) == 0);    // a small output with many channels: direct
  if (implicit_gemm) {
    CHECK(winograd_tile_for(shape(64, 64, 32, 3, 1, 1)) == 4);
    CHECK(winograd_tile_for(shape(128, 128, 32, 3, 1, 1)) == 2);  // 128 channels on a small output
    CHECK(winograd_tile_for(shape(64, 64, 16, 3, 1, 1)) == 2);
    CHECK(winograd_tile_for(shape(64, 64, 8, 3, 1, 1)) == 0);     // the implicit GEMM wins small outputs
    CHECK(winograd_tile_for(shape(8, 8, 256, 3, 1, 1)) == 0);     // and few channels
    CHECK(winograd_tile_for(shape(3, 32, 456, 5, 1, 1)) == 7);
    CHECK(winograd_tile_for(shape(16, 16, 32, 5, 1, 1)) == 7);
    CHECK(winograd_tile_for(shape(16, 16, 16, 5, 1, 1)) == 5);
    CHECK(winograd_tile_for(shape(8, 8, 16, 5, 1, 1)) == 0);
  } else {
    CHECK(winograd_tile_for(shape(64, 64, 32, 3, 1, 1)) == 2);   // 64 channels on a small output
    CHECK(winograd_tile_for(shape(64, 64, 8, 3, 1, 1)) == 2);    // small outputs: fewer padding tiles
    CHECK(winograd_tile_for(shape(3, 32, 456, 5, 1, 1)) == 5);   // 3 channels too
    CHECK(winograd_tile_for(shape(16, 16, 8, 5, 1, 1)) == 5);
  }
  CHECK(winograd_tile_for(shape(64, 64, 256, 3, 2, 1)) == 0); // stride 2
  CHECK(winograd_tile_for(shape(64, 64, 256, 3, 1, 2)) == 0); // grouped
  CHECK(winograd_tile_for(shape(64, 64, 256, 5, 1, 1)) == big_5x5);
  CHECK(winograd_tile_for(shape(64, 32, 456, 5, 4, 1)) == 0);  // 5x5 stride 4
  CHECK(winograd_tile_for(shape(64, 64, 256, 7, 1, 1)) == 0);  // 7x7
  paths::set_cpu_conv_path(CpuConvPath::kDirect);
  CHECK(winograd_tile_for(shape(64, 64, 256, 3, 1, 1)) == 0);
  CHECK(winograd_tile_for(shape(64, 64, 256, 5, 1, 1)) == 0);
  paths::set_cpu_conv_path(CpuConvPath::kWinograd2);
  CHECK(winograd_tile_for(shape(3, 5, 7, 3, 1, 1)) == 2);
  CHECK(winograd_tile_for(shape(3, 5, 7, 5, 1, 1)) == 5);  // winograd2 forces F(2x2, 5x5) for 5x5
  paths::set_cpu_conv_path(CpuConvPath::kWinograd4);
  CHECK(winograd_tile_for(shape(3, 5, 7, 5, 1, 1)) == 7);  // and winograd4 F(4x4, 5x5)
  CHECK(paths::conv_forward_path(shape(3, 5, 7, 5, 1, 1)).rfind("winograd4x5/", 0) == 0);
  paths::set_cpu_conv_path(CpuConvPath::kWinograd2);
  CHECK(winograd_tile_for(shape(3, 5, 7, 3, 2, 1)) == 0);     // forced only where it applies
  for (CpuConvPath p : {CpuConvPath::kAuto, CpuConvPath::kDirect, CpuConvPath::kWinograd2, CpuConvPath::kWinograd4})
    CHECK(paths::cpu_conv_path_from_name(paths::cpu_conv_path_name(p)) == p);
  CHECK_THROWS_WITH(paths::cpu_conv_path_from_name("fft"), Catch::Contains("DCSR_CPU_CONV: unknown path 'fft'"));
}

TEST_CASE("winograd: forward on every ISA path and tile equals the float64 direct conv", "[winograd]") {
  PathGuard guard;
  for (const Case& c : cases()) {
    const Inputs in = make_inputs(c, 17);
    paths::set_cpu_conv_path(CpuConvPath::kDirect);
    const Tensor want = forward(c, in, kFloat64);
    const Tensor direct32 = forward(c, in, kFloat32).to(kFloat64);
    const double direct_error = max_abs_diff(direct32, want);
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
        INFO(describe(c) << ", " << paths::isa_name(isa) << ", " << paths::cpu_conv_path_name(path));
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        const Tensor got = forward(c, in, kFloat32).to(kFloat64);
        const double error = max_abs_diff(got, want);
        INFO("max |winograd - float64| " << error << ", direct float32's " << direct_error << ", allowed "
                                         << tolerance(c));
        CHECK(error <= tolerance(c));
        // The float64 path never takes Winograd, whatever is forced.
        CHECK(max_abs_diff(forward(c, in, kFloat64), want) == 0.0);
      }
  }
}

TEST_CASE("winograd: 5x5 stride-2 convolutions through the pixel phases equal the float64 direct conv",
          "[winograd]") {
  PathGuard guard;
  // Even and odd sides (an odd side's last phase row and column are padding),
  // batch 2, Cin not a multiple of the register blocks, every epilogue.
  struct StrideCase {
    int64_t n, cin, h, w, cout;
    bool bias, residual;
    double slope;
  };
  // Odd H and W with batch 2, and 141 columns (71 outputs: a pair of
  // F(4x4) groups and a partial third on AVX-512).
  const StrideCase stride_cases[] = {{1, 3, 9, 9, 4, true, false, 1.0},   {2, 5, 17, 24, 7, true, true, 0.2},
                                     {1, 16, 33, 70, 9, false, true, 0.0}, {1, 7, 2, 3, 3, true, false, 1.0},
                                     {1, 33, 130, 131, 17, true, true, 0.1}, {2, 4, 23, 37, 5, true, true, 0.2},
                                     {2, 6, 45, 141, 6, false, true, 0.1}};
  for (const StrideCase& c : stride_cases) {
    const int64_t ho = (c.h - 1) / 2 + 1, wo = (c.w - 1) / 2 + 1;
    Generator gen(31);
    const Tensor x = uniform({c.n, c.cin, c.h, c.w}, gen, -1, 1, kFloat64);
    const Tensor w = uniform({c.cout, c.cin, 5, 5}, gen, -0.5, 0.5, kFloat64);
    const Tensor b = c.bias ? uniform({c.cout}, gen, -1, 1, kFloat64) : Tensor();
    const Tensor r = c.residual ? uniform({c.n, c.cout, ho, wo}, gen, -1, 1, kFloat64) : Tensor();
    auto run = [&](DType dtype) {
      auto cast = [&](const Tensor& t) { return dtype == kFloat32 ? f32(t) : t; };
      Tensor y = empty({c.n, c.cout, ho, wo}, dtype);
      kernels::conv2d_forward(cast(x), cast(w), cast(b), cast(r), y, 2, 2, 1, int64_t(1) << 30, c.slope);
      return y.to(kFloat64);
    };
    paths::set_cpu_conv_path(CpuConvPath::kDirect);
    const Tensor want = run(kFloat64);
    const paths::ConvShape shape{c.n, c.cin, c.h, c.w, c.cout, 5, 2, 2, 1, ho, wo};
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        const std::string name = paths::conv_forward_path(shape);
        INFO("N" << c.n << " " << c.cin << "->" << c.cout << " " << c.h << "x" << c.w << ", " << name);
        CHECK(name.rfind(path == CpuConvPath::kWinograd2 ? "phases+winograd2/" : "phases+winograd4/", 0) == 0);
        // 36 taps of the phases for the 25 of the kernel: tolerance() of a 3x3 conv over 4 Cin channels.
        const double allowed = 2e-6 * double(4 * c.cin) * 9 * 0.5 + 1e-6;
        const double error = max_abs_diff(run(kFloat32), want);
        INFO("max |phases - float64| " << error << ", allowed " << allowed);
        CHECK(error <= allowed);
      }
  }
  // The rule: from 32 channels and a 64-pixel output side, else direct; never for other strides or paddings.
  paths::set_cpu_isa(paths::best_isa());
  paths::set_cpu_conv_path(CpuConvPath::kAuto);
  auto stride2 = [](int64_t cin, int64_t side, int64_t pad) {
    const int64_t out = (side + 2 * pad - 5) / 2 + 1;
    return paths::ConvShape{1, cin, side, side, 32, 5, 2, pad, 1, out, out};
  };
  CHECK(paths::conv_forward_path(stride2(64, 332, 2)).rfind("phases+winograd4/", 0) == 0);
  CHECK(paths::conv_forward_path(stride2(64, 64, 2)).rfind("direct/", 0) == 0);
  CHECK(paths::conv_forward_path(stride2(16, 332, 2)).rfind("direct/", 0) == 0);
  CHECK(paths::conv_forward_path(stride2(64, 332, 1)).rfind("direct/", 0) == 0);
  paths::set_cpu_conv_path(CpuConvPath::kDirect);
  CHECK(paths::conv_forward_path(stride2(64, 332, 2)).rfind("direct/", 0) == 0);
}

TEST_CASE("winograd: the pixel phases staged window by window give the bytes of the phases written out",
          "[winograd]") {
  // A 5x5 stride-2 conv's Winograd path stages each input window of its
  // phases from x (PhaseInput); the same 3x3 stride-1 conv on the phases and
  // the rearranged weights written out here (conv_space_to_depth.h) must give
  // the same bytes: the same transforms of the same values. Every ISA, both
  // tiles, odd and even sides, batch 2 (windows cross all four edges: the
  // phases' padding 1, and odd sides' last phase row or column), an image
  // smaller than one window, rows of several F(4x4) pairs with a partial
  // group, and one of 32 MB (past the 16 MB from which the multiply is cut
  // into chunks with the next job's source rows prefetched between them).
  PathGuard guard;
  struct PhaseCase {
    int64_t n, cin, h, w, cout;
  };
  const PhaseCase phase_cases[] = {{2, 3, 23, 37, 5},  {2, 5, 18, 20, 4},  {1, 2, 3, 5, 3},
                                   {2, 4, 61, 141, 9}, {1, 7, 44, 270, 6}, {1, 8, 1001, 1003, 4}};
  for (const PhaseCase& c : phase_cases) {
    const int64_t ho = (c.h + 1) / 2, wo = (c.w + 1) / 2, pc = 4 * c.cin;
    Generator gen(41);
    const Tensor x = uniform({c.n, c.cin, c.h, c.w}, gen, -1, 1, kFloat32);
    const Tensor w = uniform({c.cout, c.cin, 5, 5}, gen, -0.5, 0.5, kFloat32);
    const Tensor b = uniform({c.cout}, gen, -1, 1, kFloat32);
    // x'[n][ci * 4 + 2 ry + rx][i][j] = x[n][ci][2i + ry][2j + rx], 0 past the edge.
    Tensor xp = zeros({c.n, pc, ho, wo}, kFloat32);
    const float* xs = x.data<float>();
    float* xd = xp.data<float>();
    for (int64_t n = 0; n < c.n; ++n)
      for (int64_t ci = 0; ci < c.cin; ++ci)
        for (int64_t ry = 0; ry < 2; ++ry)
          for (int64_t rx = 0; rx < 2; ++rx)
            for (int64_t i = 0; 2 * i + ry < c.h; ++i)
              for (int64_t j = 0; 2 * j + rx < c.w; ++j)
                xd[((n * pc + ci * 4 + 2 * ry + rx) * ho + i) * wo + j] =
                    xs[((n * c.cin + ci) * c.h + 2 * i + ry) * c.w + 2 * j + rx];
    // w'[co][ci * 4 + 2 ry + rx][ty + 1][tx + 1] = w[co][ci][2 ty + ry + 2][2 tx + rx + 2], 0 past tap 4.
    Tensor wp = zeros({c.cout, pc, 3, 3}, kFloat32);
    for (int64_t co = 0; co < c.cout; ++co)
      for (int64_t ci = 0; ci < c.cin; ++ci)
        for (int64_t a = 0; a < 5; ++a)
          for (int64_t e = 0; e < 5; ++e) {
            const int64_t ty = a / 2 - 1, ry = a - 2 - 2 * ty, tx = e / 2 - 1, rx = e - 2 - 2 * tx;
            wp.data<float>()[((co * pc + ci * 4 + 2 * ry + rx) * 3 + ty + 1) * 3 + tx + 1] =
                w.data<float>()[((co * c.cin + ci) * 5 + a) * 5 + e];
          }
    const paths::ConvShape phase_shape{c.n, pc, ho, wo, c.cout, 3, 1, 1, 1, ho, wo};
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
        const int m = path == CpuConvPath::kWinograd2 ? 2 : 4;
        INFO("N" << c.n << " " << c.cin << "->" << c.cout << " " << c.h << "x" << c.w << ", "
                 << paths::isa_name(isa) << ", F(" << m << "x" << m << ")");
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        Tensor written = empty({c.n, c.cout, ho, wo}, kFloat32), staged = empty({c.n, c.cout, ho, wo}, kFloat32);
        REQUIRE(paths::winograd_forward(phase_shape, xd, wp.data<float>(), b.data<float>(), written.data<float>(),
                                        int64_t(1) << 30, m, isa));
        kernels::conv2d_forward(x, w, b, Tensor(), staged, 2, 2, 1, int64_t(1) << 30, 1.0);
        CHECK(std::memcmp(written.data<float>(), staged.data<float>(), size_t(written.numel()) * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("winograd: the phases' rearranged weights are reused only while the weights' bytes are the same",
          "[winograd]") {
  // The rearranged weights of a 5x5 stride-2 conv are kept by the weights'
  // address (so that their transform is kept too): run again, the same bytes;
  // a weight changed in place, the result follows it.
  PathGuard guard;
  const int64_t n = 1, cin = 5, h = 29, wd = 38, cout = 6, ho = 15, wo = 19;
  Generator gen(43);
  const Tensor x = uniform({n, cin, h, wd}, gen, -1, 1, kFloat32);
  Tensor w = uniform({cout, cin, 5, 5}, gen, -0.5, 0.5, kFloat32);
  const Tensor b = uniform({cout}, gen, -1, 1, kFloat32);
  auto run = [&](const Tensor& weights) {
    Tensor y = empty({n, cout, ho, wo}, kFloat32);
    kernels::conv2d_forward(x, weights, b, Tensor(), y, 2, 2, 1, int64_t(1) << 30, 1.0);
    return y;
  };
  for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
    INFO(paths::cpu_conv_path_name(path));
    paths::set_cpu_conv_path(path);
    const Tensor first = run(w), again = run(w);
    CHECK(std::memcmp(first.data<float>(), again.data<float>(), size_t(first.numel()) * sizeof(float)) == 0);
    w.data<float>()[w.numel() / 2 + 3] += 0.25f;
    const Tensor after = run(w);
    paths::set_cpu_conv_path(CpuConvPath::kDirect);
    const Tensor want = run(w);
    CHECK(max_abs_diff(after, want) <= 2e-6 * double(4 * cin) * 9 * 0.5 + 1e-6);
    CHECK(max_abs_diff(after, first) > 1e-3);
  }
}

TEST_CASE("winograd: the ISA paths agree with each other", "[winograd]") {
  PathGuard guard;
  // 3x3 and 5x5, both tiles each.
  for (const Case& c : {Case{1, 16, 21, 150, 19, 1, true, true, 0.2}, Case{1, 16, 21, 150, 19, 2, true, true, 0.2, 5}}) {
    const Inputs in = make_inputs(c, 23);
    for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
      paths::set_cpu_conv_path(path);
      paths::set_cpu_isa(CpuIsa::kGeneric);
      const Tensor generic = forward(c, in, kFloat32).to(kFloat64);
      for (CpuIsa isa : supported_isas()) {
        INFO(describe(c) << ", " << paths::isa_name(isa) << " " << paths::cpu_conv_path_name(path));
        paths::set_cpu_isa(isa);
        // Same transforms, sums in another order: float32 rounding apart.
        CHECK(max_abs_diff(forward(c, in, kFloat32).to(kFloat64), generic) <= tolerance(c));
      }
    }
  }
}

TEST_CASE("winograd: the pooled output is max_pool2d of the conv's output, bit for bit", "[winograd]") {
  // conv2d_max_pool2_forward pools each group's output rows (a pair's, on
  // AVX-512's F(4x4)) while they are in cache, and never stores the full
  // output. It must pick the value of every window that the conv's full
  // output pooled afterwards gives: on every ISA path and tile, at odd sizes
  // (a last row or column no window reads), in batches, at every padding, for
  // 3x3 and 5x5, and where a NaN spreads; the direct path's fallback (the two
  // kernels) too.
  PathGuard guard;
  auto pooled = [](const Case& c, const Inputs& in, bool fused) {
    const Tensor x = f32(in.x), w = f32(in.w), b = f32(in.b);
    Tensor y = empty({c.n, c.cout, c.ho() / 2, c.wo() / 2}, kFloat32);
    if (fused) {
      kernels::conv2d_max_pool2_forward(x, w, b, y, c.pad, int64_t(1) << 30, c.slope);
      return y;
    }
    Tensor full = empty({c.n, c.cout, c.ho(), c.wo()}, kFloat32), no_indices;
    kernels::conv2d_forward(x, w, b, Tensor(), full, 1, c.pad, 1, int64_t(1) << 30, c.slope);
    kernels::max_pool2d_forward(full, y, no_indices, 2);
    return y;
  };
  auto same_bits = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data<float>(), b.data<float>(), size_t(a.numel()) * sizeof(float)) == 0;
  };
  std::vector<Case> pool_cases;
  for (const Case& c : cases())
    if (c.ho() >= 2 && c.wo() >= 2) pool_cases.push_back(c);
  pool_cases.push_back({1, 64, 20, 333, 64, 1, true, false, 0.0});  // VGG's conv1_2: pairs of groups, an odd width
  REQUIRE(pool_cases.size() >= 12);
  for (size_t i = 0; i < pool_cases.size(); ++i) {
    const Case& c = pool_cases[i];
    Inputs in = make_inputs(c, 29);
    if (i + 1 == pool_cases.size()) in.x.data<double>()[in.x.numel() / 2] = std::nan("");  // the windows it reaches: NaN
    const paths::ConvShape shape{c.n, c.cin, c.h, c.w, c.cout, c.k, 1, c.pad, 1, c.ho(), c.wo()};
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4, CpuConvPath::kDirect}) {
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        INFO(describe(c) << ", " << paths::isa_name(isa) << ", " << paths::conv_forward_path(shape));
        CHECK(same_bits(pooled(c, in, true), pooled(c, in, false)));
      }
  }
}

TEST_CASE("winograd: two inputs side by side give the bytes of the conv of their concat", "[winograd]") {
  // conv2d_concat_forward reads a Winograd conv's input windows (a 5x5
  // stride-2 one's pixel phases too) from two tensors in place, the concat
  // never written. It must give the bytes of the conv of the concat: on every
  // ISA path and tile, at odd sizes, in batches, wherever the split falls
  // among the channels (the prefetch of the plane ahead crosses it), and
  // through the direct path's fallback.
  PathGuard guard;
  struct Split {
    int64_t n, ca, cb, h, w, cout, k, stride, pad;
  };
  const std::vector<Split> splits = {
      {2, 3, 5, 13, 37, 6, 3, 1, 1},  {1, 1, 8, 20, 70, 9, 3, 1, 1},   {1, 32, 32, 12, 130, 8, 3, 1, 1},
      {2, 7, 1, 17, 33, 5, 5, 1, 2},  {2, 3, 4, 23, 37, 6, 5, 2, 2},   {1, 16, 16, 40, 141, 8, 5, 2, 2},
  };
  for (const Split& c : splits) {
    Generator gen(41);
    const Tensor a = uniform({c.n, c.ca, c.h, c.w}, gen, -1, 1), b = uniform({c.n, c.cb, c.h, c.w}, gen, -1, 1);
    const Tensor w = uniform({c.cout, c.ca + c.cb, c.k, c.k}, gen, -0.5, 0.5), bias = uniform({c.cout}, gen, -1, 1);
    const Tensor x = concat({a, b}, 1);
    const int64_t ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1;
    const paths::ConvShape shape{c.n, c.ca + c.cb, c.h, c.w, c.cout, c.k, c.stride, c.pad, 1, ho, wo};
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4, CpuConvPath::kDirect}) {
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        const std::string name = paths::conv_forward_path(shape);
        INFO(c.ca << " + " << c.cb << " -> " << c.cout << " " << c.k << "x" << c.k << " stride " << c.stride << " at N"
                  << c.n << " " << c.h << "x" << c.w << ", " << paths::isa_name(isa) << ", " << name);
        CHECK((path == CpuConvPath::kDirect) == (name.rfind("direct/", 0) == 0));
        Tensor got = empty({c.n, c.cout, ho, wo}), want = empty({c.n, c.cout, ho, wo});
        kernels::conv2d_concat_forward(a, b, w, bias, got, c.stride, c.pad, int64_t(1) << 30, 0.2);
        kernels::conv2d_forward(x, w, bias, Tensor(), want, c.stride, c.pad, 1, int64_t(1) << 30, 0.2);
        CHECK(std::memcmp(got.data<float>(), want.data<float>(), size_t(got.numel()) * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("winograd: the transformed weights are reused only while the weights' bytes are the same", "[winograd]") {
  // packed_weights keeps each call's U by the weights' address: a conv run
  // again with the same weights gives the same bytes, and weights changed in
  // place at the same address (a training step) are transformed afresh.
  PathGuard guard;
  for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
    paths::set_cpu_conv_path(path);
    for (const Case& c : {Case{1, 8, 19, 37, 6, 1, true, true, 0.2}, Case{1, 6, 17, 40, 5, 2, true, false, 1.0, 5}}) {
      INFO(describe(c) << ", " << paths::cpu_conv_path_name(path));
      Inputs in = make_inputs(c, 31);
      Tensor x = f32(in.x), w = f32(in.w), b = f32(in.b), r = f32(in.r);
      auto run = [&] {
        Tensor y = empty({c.n, c.cout, c.ho(), c.wo()}, kFloat32);
        kernels::conv2d_forward(x, w, b, r, y, 1, c.pad, 1, int64_t(1) << 30, c.slope);
        return y;
      };
      const Tensor first = run(), again = run();
      CHECK(std::memcmp(first.data<float>(), again.data<float>(), size_t(first.numel()) * sizeof(float)) == 0);
      // One weight changed in place: the result follows it (against the float64 direct conv).
      float* wp = w.data<float>();
      wp[w.numel() / 2] += 0.25f;
      Inputs changed = in;
      changed.w = w.to(kFloat64);
      const Tensor after = run();
      CHECK(max_abs_diff(after.to(kFloat64), forward(c, changed, kFloat64)) <= tolerance(c));
      CHECK(max_abs_diff(after, first) > 1e-3);
    }
  }
}

TEST_CASE("winograd: tensors out of cache take the chunked multiply and its prefetches", "[winograd]") {
  // Input and output together past 16 MB (here 8 channels at 700 x 701, 31 MB) cut the multiply into chunks of
  // positions with this job's residual rows and the next job's input prefetched between them; the result must
  // be the unchunked one's. Against the float32 direct path, F(2x2) and F(4x4), with a residual and a
  // LeakyReLU, on every ISA.
  PathGuard guard;
  const Case c{1, 8, 700, 701, 8, 1, true, true, 0.2};
  const Inputs in = make_inputs(c, 37);
  paths::set_cpu_conv_path(CpuConvPath::kDirect);
  const Tensor direct = forward(c, in, kFloat32).to(kFloat64);
  for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4})
    for (CpuIsa isa : supported_isas()) {
      INFO(paths::isa_name(isa) << ", " << paths::cpu_conv_path_name(path));
      paths::set_cpu_isa(isa);
      paths::set_cpu_conv_path(path);
      CHECK(max_abs_diff(forward(c, in, kFloat32).to(kFloat64), direct) <= 2 * tolerance(c));
    }
}

TEST_CASE("winograd: too small a workspace falls back to the direct path", "[winograd]") {
  PathGuard guard;
  const Case c{1, 8, 12, 13, 6, 1, true, false, 1.0};
  const Inputs in = make_inputs(c, 29);
  paths::set_cpu_conv_path(CpuConvPath::kWinograd4);
  const paths::ConvShape s{c.n, c.cin, c.h, c.w, c.cout, 3, 1, c.pad, 1, c.h, c.w};
  Tensor x = f32(in.x), w = f32(in.w), b = f32(in.b), y = zeros({c.n, c.cout, c.h, c.w}, kFloat32);
  CHECK_FALSE(paths::winograd_forward(s, x.data<float>(), w.data<float>(), b.data<float>(), y.data<float>(), 1024, 4,
                                       paths::cpu_isa()));
  CHECK(max_abs_diff(y, zeros(y.shape(), kFloat32)) == 0.0);  // did nothing
  // Through the op, the same limit takes the direct path and is still right.
  Tensor got = empty({c.n, c.cout, c.h, c.w}, kFloat32);
  kernels::conv2d_forward(x, w, b, Tensor(), got, 1, c.pad, 1, 1024, 1.0);
  paths::set_cpu_conv_path(CpuConvPath::kDirect);
  CHECK(max_abs_diff(got.to(kFloat64), forward(c, in, kFloat64)) <= tolerance(c));
}

TEST_CASE("winograd: weight gradient on every ISA path and tile equals the float64 direct one", "[winograd]") {
  PathGuard guard;
  for (const WeightCase& c : weight_cases()) {
    const WeightInputs in = make_weight_inputs(c, 41);
    paths::set_cpu_conv_path(CpuConvPath::kDirect);
    const auto [want, want_bias] = weight_gradient(c, in, kFloat64);
    const double direct_error = max_abs_diff(weight_gradient(c, in, kFloat32).first, want);
    for (CpuIsa isa : supported_isas())
      for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
        INFO(describe(c) << ", " << paths::isa_name(isa) << ", " << paths::cpu_conv_path_name(path));
        paths::set_cpu_isa(isa);
        paths::set_cpu_conv_path(path);
        const auto [got, got_bias] = weight_gradient(c, in, kFloat32);
        const double error = max_abs_diff(got, want);
        INFO("max |winograd - float64| " << error << ", direct float32's " << direct_error << ", allowed "
                                         << weight_tolerance(c));
        CHECK(error <= weight_tolerance(c));
        CHECK(max_abs_diff(got_bias, want_bias) <= weight_tolerance(c));
        // The float64 path never takes Winograd, whatever is forced.
        CHECK(max_abs_diff(weight_gradient(c, in, kFloat64).first, want) == 0.0);
      }
  }
}

TEST_CASE("winograd: weight gradient is the same from run to run, and falls back on a small workspace",
          "[winograd]") {
  PathGuard guard;
  const WeightCase c{3, 20, 37, 45, 14, 1};
  const WeightInputs in = make_weight_inputs(c, 43);
  paths::set_cpu_conv_path(CpuConvPath::kDirect);
  const Tensor want = weight_gradient(c, in, kFloat64).first;
  for (CpuIsa isa : supported_isas())
    for (CpuConvPath path : {CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
      INFO(paths::isa_name(isa) << ", " << paths::cpu_conv_path_name(path));
      paths::set_cpu_isa(isa);
      paths::set_cpu_conv_path(path);
      const Tensor first = weight_gradient(c, in, kFloat32).first;
      CHECK(max_abs_diff(weight_gradient(c, in, kFloat32).first, first) == 0.0);  // bit for bit
      CHECK(max_abs_diff(first, want) <= weight_tolerance(c));
      // 1 KB holds no Winograd scratch: the direct path answers, still right.
      CHECK(max_abs_diff(weight_gradient(c, in, kFloat32, 1024).first, want) <= weight_tolerance(c));
    }
}

TEST_CASE("winograd: the weight gradient's plan picks direct, F(2x2) or F(4x4) by side and channels",
          "[winograd]") {
  // The plan's rule for the weight gradient (winograd_plan.cpp) is not in
  // cpu_paths.h; each path gives its own float32 rounding and runs the same
  // from run to run, so auto's result equals, bit for bit, the forced path's.
  PathGuard guard;
  struct PlanCase {
    WeightCase c;
    CpuConvPath expected;
  };
  const std::vector<PlanCase> plan_cases = {
      {{1, 16, 8, 8, 16, 1}, CpuConvPath::kDirect},        // side < 12: too few tiles
      {{1, 4, 40, 40, 16, 1}, CpuConvPath::kDirect},       // Cin < 8
      {{2, 16, 40, 45, 12, 1}, CpuConvPath::kWinograd2},   // 12 <= side < 64
      {{1, 8, 64, 71, 8, 1}, CpuConvPath::kWinograd4},     // side >= 64
  };
  for (const PlanCase& pc : plan_cases) {
    INFO(describe(pc.c) << ", expected " << paths::cpu_conv_path_name(pc.expected));
    const WeightInputs in = make_weight_inputs(pc.c, 47);
    TensorList forced;
    for (CpuConvPath path : {CpuConvPath::kDirect, CpuConvPath::kWinograd2, CpuConvPath::kWinograd4}) {
      paths::set_cpu_conv_path(path);
      forced.push_back(weight_gradient(pc.c, in, kFloat32).first);
    }
    // The three paths round differently here, so the comparison tells them apart.
    CHECK(max_abs_diff(forced[0], forced[1]) > 0.0);
    CHECK(max_abs_diff(forced[1], forced[2]) > 0.0);
    CHECK(max_abs_diff(forced[0], forced[2]) > 0.0);
    paths::set_cpu_conv_path(CpuConvPath::kAuto);
    const Tensor planned = weight_gradient(pc.c, in, kFloat32).first;
    const int index = pc.expected == CpuConvPath::kDirect ? 0 : pc.expected == CpuConvPath::kWinograd2 ? 1 : 2;
    CHECK(max_abs_diff(planned, forced[index]) == 0.0);
  }
}

TEST_CASE("winograd: conv2d ops and their gradients, Winograd against direct", "[winograd]") {
  // Forward, input gradient (a forward conv of grad_y with the flipped
  // kernel) and weight gradient all go through Winograd.
  PathGuard guard;
  const Case c{2, 16, 19, 23, 20, 1, true, true, 0.2};
  const Inputs in = make_inputs(c, 37);
  Generator gen(38);
  const Tensor gy = uniform({c.n, c.cout, c.h, c.w}, gen, -1, 1, kFloat64);
  auto run = [&](CpuConvPath path, DType dtype) {
    paths::set_cpu_conv_path(path);
    auto leaf_of = [&](const Tensor& t) { return t.detach().to(dtype).requires_grad_(); };
    Tensor x = leaf_of(in.x), w = leaf_of(in.w), b = leaf_of(in.b), r = leaf_of(in.r);
    TensorList out;
    for (int op = 0; op < 3; ++op) {
      Tensor y = op == 0   ? conv2d(x, w, b)
                 : op == 1 ? conv2d_leaky_relu(x, w, b, c.slope)
                           : conv2d_residual(x, w, b, r, c.slope);
      y.backward(gy.to(dtype));
      out.push_back(y.detach().to(kFloat64));
    }
    for (const Tensor& t : {x, w, b, r}) out.push_back(t.grad().to(kFloat64));  // summed over the three ops
    return out;
  };
  const TensorList want = run(CpuConvPath::kDirect, kFloat64);
  for (CpuIsa isa : supported_isas()) {
    paths::set_cpu_isa(isa);
    const TensorList wino = run(CpuConvPath::kWinograd4, kFloat32);
    for (size_t i = 0; i < want.size(); ++i) {
      INFO(paths::isa_name(isa) << ", output " << i << " (y of conv2d, leaky, residual; dx, dw, db, dr)");
      // The weight gradient sums over every pixel: its scale is N*H*W, not cin*9.
      const double scale = i == 4 ? double(c.n * c.h * c.w) / (double(c.cin) * 9) : 3.0;
      CHECK(max_abs_diff(wino[i], want[i]) <= tolerance(c) * scale);
    }
  }
}

}  // namespace dcsr::test
