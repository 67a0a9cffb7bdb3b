// DCSR operators, part 2: the aligned sampler (dcsr-spec §5). The three border
// rules by hand, the identity warp, and a direct scalar evaluation of the §5
// formulas for warps that push samples past the border. The gradchecks (away
// from the floor's jumps and the clamps' bounds), CPU-vs-CUDA parity and
// PyTorch goldens run from the op table (tests/op_rows_dcsr.h).
#include <cmath>

#include "test_util.h"

using namespace dcsr;
using test::leaf;
using test::require_close;

namespace {
// §5 steps 4-8 evaluated point by point, straight from the spec's formulas:
// X (N, C, kh, kw), raw (N, 3, h, w) -> y, and the number of samples that hit
// the border double count on some axis.
std::vector<double> reference_aligned_sample(const Tensor& X, const Tensor& raw, int64_t k, int64_t* border_hits) {
  const int64_t N = X.size(0), C = X.size(1), H = X.size(2), W = X.size(3), h = raw.size(2), w = raw.size(3);
  const int64_t Hp = H + 2, Wp = W + 2;
  std::vector<double> x = X.to_vector<double>(), r = raw.to_vector<double>(), y(size_t(X.numel()));
  auto reflect = [](int64_t i, int64_t size) { return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i); };
  auto padded = [&](int64_t n, int64_t c, int64_t i, int64_t j) {  // ReflectionPad2d(1)
    return x[size_t(((n * C + c) * H + reflect(i - 1, H)) * W + reflect(j - 1, W))];
  };
  *border_hits = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t u = 0; u < h; ++u)
      for (int64_t v = 0; v < w; ++v) {
        double a[3];
        for (int t = 0; t < 3; ++t) a[t] = std::min(std::max(r[size_t(((n * 3 + t) * h + u) * w + v)] + 1.0, -3.0), 3.0);
        const double s_r = a[0], s_c = a[1], theta = (a[2] - 1.0) * 1.0472;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const double o_r = double(i) - (k - 1) / 2.0, o_c = double(j) - (k - 1) / 2.0;
            const double pr = k * u + 1 + (k - 1) / 2.0 + o_r * s_r * std::cos(theta) - o_c * s_c * std::sin(theta);
            const double pc = k * v + 1 + (k - 1) / 2.0 + o_r * s_r * std::sin(theta) + o_c * s_c * std::cos(theta);
            auto axis = [](double p, int64_t size, int64_t& q0, int64_t& q1, double& w0, double& w1) {
              const double f = std::floor(p);
              q0 = int64_t(std::min(std::max(f, 0.0), double(size - 1)));
              q1 = int64_t(std::min(std::max(f + 1, 0.0), double(size - 1)));
              const double pcl = std::min(std::max(p, 0.0), double(size - 1));
              w0 = 1 + (double(q0) - pcl);
              w1 = 1 - (double(q1) - pcl);
            };
            int64_t r0, r1, c0, c1;
            double wr0, wr1, wc0, wc1;
            axis(pr, Hp, r0, r1, wr0, wr1);
            axis(pc, Wp, c0, c1, wc0, wc1);
            if (pr < 0 || pr >= Hp - 1 || pc < 0 || pc >= Wp - 1) ++*border_hits;
            for (int64_t c = 0; c < C; ++c)
              y[size_t(((n * C + c) * H + k * u + i) * W + k * v + j)] =
                  wr0 * wc0 * padded(n, c, r0, c0) + wr1 * wc1 * padded(n, c, r1, c1) +
                  wr0 * wc1 * padded(n, c, r0, c1) + wr1 * wc0 * padded(n, c, r1, c0);
          }
      }
  return y;
}

}  // namespace

// ---------------------------------------------------------------- grid_sample

TEST_CASE("forward: grid_sample's three border rules inside, on and beyond the last row", "[ops][dcsr]") {
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  // points (row, col): inside; exactly the last row and column; half a row
  // below the last one; a quarter row above the first one.
  Tensor grid = from_vector<double>({0.5, 1, 1.5, -0.25,  //
                                     0.5, 2, 0.5, 1.5},
                                    {1, 2, 1, 4});
  // Zeros: missing corners read 0.
  require_close(grid_sample(x, grid, GridBorder::Zeros), {3, 6, 0.5 * 4.5, 0.75 * 2.5}, 1e-15);
  // Clamp: the point moves to the nearest pixel row.
  require_close(grid_sample(x, grid, GridBorder::Clamp), {3, 6, 4.5, 2.5}, 1e-15);
  // DcsrReference (spec §5 step 7): at or beyond the last row/column, and
  // before the first, both taps land on the border pixel with weight 1 each:
  // twice per clamped axis, four times in a corner.
  require_close(grid_sample(x, grid, GridBorder::DcsrReference), {3, 4 * 6, 2 * 4.5, 2 * 2.5}, 1e-15);
}

TEST_CASE("backward: grid_sample's point gradient on the first and last row and column, per border rule",
          "[ops][dcsr]") {
  // The gradcheck keeps its points off integers (the rules' gates switch
  // there); at the bounds themselves the gates are PyTorch's: Clamp (padding
  // 'border', clip_coordinates) passes no gradient at 0 or at the last
  // row/column, DcsrReference (torch.clamp) passes it at both bounds, Zeros
  // always. x (1, 1, 2, 3) = {1, 2, 3; 4, 5, 6}; points (row, col) A = (0, 0.5)
  // on the first row, B = (0.5, 0) on the first column, C = (1, 0.5) on the
  // last row; upstream gradient 1. Worked by hand from the bilinear weights.
  const Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  struct Case {
    GridBorder border;
    std::vector<double> grad;  // d/d row of A, B, C, then d/d col of A, B, C
  };
  for (const Case& c : {Case{GridBorder::Zeros, {3, 3, -4.5, 1, 1, 1}},    // C reads zeros below the last row
                        Case{GridBorder::Clamp, {0, 3, 0, 1, 0, 1}},       // gated at A's row and B's column
                        Case{GridBorder::DcsrReference, {3, 3, 0, 1, 1, 2}}}) {  // C: both row taps on row 1
    INFO("border rule " << int(c.border));
    Tensor grid = from_vector<double>({0, 0.5, 1, 0.5, 0, 0.5}, {1, 2, 1, 3}).requires_grad_();
    sum(grid_sample(x, grid, c.border)).backward();
    require_close(grid.grad(), c.grad, 1e-15);
  }
}

TEST_CASE("forward: grid_sample at integer points copies pixels (every rule)", "[ops][dcsr]") {
  Tensor x = leaf({2, 3, 4, 5}, 1).detach();
  std::vector<double> g;
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t i = 0; i < 20; ++i) g.push_back(double((i * 7) % 20 / 5 % 3));  // rows 0..2
    for (int64_t i = 0; i < 20; ++i) g.push_back(double((i * 3) % 4));            // cols 0..3
  }
  Tensor grid = from_vector(g, {2, 2, 4, 5});
  std::vector<double> xv = x.to_vector<double>(), expected;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 20; ++i) {
        int64_t r = int64_t(g[size_t(n * 40 + i)]), col = int64_t(g[size_t(n * 40 + 20 + i)]);
        expected.push_back(xv[size_t(((n * 3 + c) * 4 + r) * 5 + col)]);
      }
  for (GridBorder b : {GridBorder::Zeros, GridBorder::Clamp, GridBorder::DcsrReference})
    REQUIRE(grid_sample(x, grid, b).to_vector<double>() == expected);
}

TEST_CASE("forward: grid_sample's two loop orders give the same values", "[ops][dcsr]") {
  // The CPU kernel applies a row of points' corners channel by channel where
  // the output planes are a multiple of 4 KB (kernels/cpu/grid_sample.cpp),
  // point by point elsewhere. A 4 KB plane (32 x 32 float32 points, 16 x 32
  // float64) against the same points as the first rows of a grid one row
  // taller (the other order): the same bits, in every border rule.
  for (DType dt : {kFloat32, kFloat64}) {
    const int64_t rows = dt == kFloat32 ? 32 : 16, cols = 32;
    const Tensor x = test::uniform_leaf({2, 5, 9, 11}, 41, dt).detach();
    const Tensor taller = test::uniform_leaf({2, 2, rows + 1, cols}, 42, dt, -1.5, 10.5).detach();
    const Tensor grid = narrow(taller, 2, 0, rows);
    for (GridBorder b : {GridBorder::Zeros, GridBorder::Clamp, GridBorder::DcsrReference}) {
      INFO(dtype_name(dt) << ", border rule " << int(b));
      CHECK(test::count_bit_differences(grid_sample(x, grid, b), narrow(grid_sample(x, taller, b), 2, 0, rows)) == 0);
    }
  }
}

TEST_CASE("errors: grid_sample and the aligned sampler name the op and the shapes", "[ops][dcsr]") {
  CHECK_THROWS_WITH(grid_sample(zeros({1, 2, 4, 4}), zeros({1, 3, 4, 4}), GridBorder::Zeros),
                    Catch::Contains("grid_sample: input (1, 2, 4, 4) and grid (1, 3, 4, 4)"));
  CHECK_THROWS_WITH(aligned_grid(zeros({1, 2, 4, 4}), 2), Catch::Contains("aligned_grid: params must be (N, 3, h, w)"));
  CHECK_THROWS_WITH(aligned_sample(zeros({1, 3, 8, 7}), zeros({1, 3, 4, 4}), 2),
                    Catch::Contains("aligned_sample: mosaic (1, 3, 8, 7) does not match params (1, 3, 4, 4)"));
}

// ---------------------------------------------------------------- aligned sampler

TEST_CASE("forward: aligned_sample with raw = 0 reproduces the mosaic exactly", "[ops][dcsr]") {
  for (DType dtype : {kFloat64, kFloat32})
    for (int64_t k : {1, 2, 4}) {
      INFO(dtype_name(dtype) << " block " << k);
      Tensor X = leaf({2, 3, 3 * k, 4 * k}, 4).detach().to(dtype);
      Tensor y = aligned_sample(X, zeros({2, 3, 3, 4}, dtype), k);
      REQUIRE(y.to_vector<double>() == X.to_vector<double>());
    }
}

TEST_CASE("forward: aligned_sample equals a direct evaluation of §5, samples past the border included",
          "[ops][dcsr]") {
  // raw uniform in [-5, 5]: a's clamp is active, strong rotations, scales up
  // to 3 push the outer blocks' samples beyond the padded mosaic.
  for (int64_t k : {2, 4}) {
    INFO("block " << k);
    Tensor X = leaf({2, 3, 4 * k, 5 * k}, 5).detach();
    Tensor raw = leaf({2, 3, 4, 5}, 6, -5, 5).detach();
    int64_t border_hits = 0;
    std::vector<double> expected = reference_aligned_sample(X, raw, k, &border_hits);
    INFO(border_hits << " samples on or past the border");
    CHECK(border_hits > 0);
    require_close(aligned_sample(X, raw, k), expected, 1e-12, 1e-12);
  }
}

