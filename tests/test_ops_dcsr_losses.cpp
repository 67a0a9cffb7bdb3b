// DCSR operators, part 3: the losses (dcsr-spec §9). The contextual loss's
// parts against the PyTorch goldens and a dense re-computation, its tiling,
// float32 against float64, errors, and the vector exp the contextual kernels
// use. The losses' gradchecks, CPU-vs-CUDA parity and the goldens of their
// values and gradients run from the op table (tests/op_rows_dcsr.h).
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops/dcsr_internal.h"
#include "kernels/cpu_paths.h"
#include "kernels/kernels.h"
#include "test_util.h"

using namespace dcsr;
using test::golden;
using test::leaf;
using test::require_close;
using test::TileLimitGuard;

namespace {
// The contextual kernel's outputs for x, y (centred and normalised as the op does).
struct ContextualParts {
  Tensor row_stats, row_arg, col_stats, col_arg, cx;
};
ContextualParts contextual_parts(const Tensor& x, const Tensor& y, int64_t workspace) {
  NoGradGuard no_grad;
  const int64_t N = x.size(0), C = x.size(1);
  Tensor mu = mean(y, {0, 2, 3}, true);
  Tensor xh = detail::normalize_columns(sub(x, mu).reshape({N, C, -1}));
  Tensor yh = detail::normalize_columns(sub(y, mu).reshape({N, C, -1}));
  const int64_t Nx = xh.size(2), Ny = yh.size(2);
  ContextualParts p{empty({N, 3, Nx}, x.dtype()), empty({N, Nx}, kInt64), empty({N, 3, Ny}, x.dtype()),
                    empty({N, Ny}, kInt64), empty({N}, x.dtype())};
  kernels::contextual_forward(xh, yh, 0.5, workspace, p.row_stats, p.row_arg, p.col_stats, p.col_arg, p.cx);
  return p;
}

// Row r (0-based) of a (N, 3, L) statistics tensor as an (N, L) list.
std::vector<double> stat_row(const Tensor& stats, int64_t r) {
  const int64_t N = stats.size(0), L = stats.size(2);
  std::vector<double> all = stats.to_vector<double>(), out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t l = 0; l < L; ++l) out.push_back(all[size_t((n * 3 + r) * L + l)]);
  return out;
}
}  // namespace

// ---------------------------------------------------------------- contextual loss

TEST_CASE("golden: contextual_loss's parts and its symmetric form against the PyTorch reference",
          "[ops][dcsr][golden]") {
  // The loss and its gradients: the op table's golden (tests/op_rows_dcsr.h).
  auto g = golden("contextual");
  REQUIRE(contextual_loss(g["x"], g["y"]).shape() == Shape{});
  ContextualParts p = contextual_parts(g["x"], g["y"], int64_t(64) << 20);
  require_close(from_vector(stat_row(p.col_stats, 0), {2, 12}), g["parts.m"], 1e-12, 1e-10, "m");
  REQUIRE(p.col_arg.to_vector<int64_t>() == g["parts.istar"].to_vector<int64_t>());
  require_close(from_vector(stat_row(p.col_stats, 2), {2, 12}), g["parts.c"], 1e-12, 1e-10, "c");
  require_close(p.cx, g["parts.cx"], 1e-12, 1e-10, "cx");
  // rho_i = min_j d_ij + 1e-5 and d at the argmax, from the dense d of the golden.
  std::vector<double> d = g["parts.d"].to_vector<double>(), rho, dsel;
  std::vector<int64_t> istar = g["parts.istar"].to_vector<int64_t>();
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t i = 0; i < 12; ++i)
      rho.push_back(*std::min_element(d.begin() + (n * 144 + i * 12), d.begin() + (n * 144 + i * 12 + 12)) + 1e-5);
    for (int64_t j = 0; j < 12; ++j) dsel.push_back(d[size_t(n * 144 + istar[size_t(n * 12 + j)] * 12 + j)]);
  }
  require_close(from_vector(stat_row(p.row_stats, 0), {2, 12}), rho, 1e-12, 1e-10, "rho");
  require_close(from_vector(stat_row(p.col_stats, 1), {2, 12}), dsel, 1e-12, 1e-10, "d at the argmax");

  // The symmetric form CX(x, y) + CX(y, x).
  Tensor xs = g["x"].detach().clone().requires_grad_(), ys = g["y"].detach().clone().requires_grad_();
  Tensor sym = add(contextual_loss(xs, ys), contextual_loss(ys, xs));
  require_close(sym, g["sym.loss"].to_vector<double>(), 1e-10, 1e-8, "sym loss");
  sym.backward(g["sym.gy"].reshape({}));
  require_close(xs.grad(), g["sym.dx"], 1e-10, 1e-8, "sym dx");
  require_close(ys.grad(), g["sym.dy"], 1e-10, 1e-8, "sym dy");
}

TEST_CASE("forward: contextual_loss is the same in tiles as in one piece", "[ops][dcsr]") {
  TileLimitGuard guard;
  // 150 x 170 features: several register panels, partial last ones; the
  // smallest workspace forces one panel per job and one row of the gradient
  // tile at a time.
  Tensor x0 = leaf({2, 8, 10, 15}, 5).detach(), y0 = leaf({2, 8, 17, 10}, 6).detach();
  auto run = [&](int64_t limit, Tensor& gx, Tensor& gy) {
    set_match_tile_limit(limit);
    Tensor x = x0.clone().requires_grad_(), y = y0.clone().requires_grad_();
    Tensor loss = contextual_loss(x, y);
    loss.backward();
    gx = x.grad();
    gy = y.grad();
    return loss.item();
  };
  Tensor gx1, gy1, gx2, gy2;
  const double whole = run(int64_t(64) << 20, gx1, gy1);
  const double tiled = run(1, gx2, gy2);
  CHECK(whole == tiled);  // the forward sweeps are bit-identical at any blocking
  require_close(gx2, gx1, 1e-15, 1e-12);
  require_close(gy2, gy1, 1e-15, 1e-12);
}

TEST_CASE("forward: contextual_loss float32 agrees with float64", "[ops][dcsr]") {
  Tensor x = leaf({1, 16, 12, 12}, 7).detach(), y = leaf({1, 16, 12, 12}, 8).detach();
  Tensor x32 = x.to(kFloat32).requires_grad_(), y32 = y.to(kFloat32).requires_grad_();
  Tensor loss32 = contextual_loss(x32, y32);
  loss32.backward();
  Tensor x64 = x.clone().requires_grad_(), y64 = y.clone().requires_grad_();
  Tensor loss64 = contextual_loss(x64, y64);
  loss64.backward();
  require_close(loss32, loss64, 0.0, 1e-5, "float32 loss");
  double gmax = 0;
  for (double v : x64.grad().to_vector<double>()) gmax = std::max(gmax, std::abs(v));
  require_close(x32.grad(), x64.grad(), 1e-4 * gmax, 1e-3, "float32 dx");
}

TEST_CASE("errors: contextual_loss and the plain losses name the op and the shapes", "[ops][dcsr]") {
  CHECK_THROWS_WITH(contextual_loss(zeros({1, 3, 4, 4}), zeros({1, 4, 4, 4})),
                    Catch::Contains("contextual_loss: x (1, 3, 4, 4) and y (1, 4, 4, 4)"));
  CHECK_THROWS_WITH(contextual_loss(zeros({1, 3, 4, 4}), zeros({1, 3, 4, 4}), 0.0),
                    Catch::Contains("contextual_loss: band width 0"));
  CHECK_THROWS_WITH(l1_loss(zeros({2, 3}), zeros({3, 2})), Catch::Contains("l1_loss: inputs (2, 3) float32 and (3, 2)"));
  CHECK_THROWS_WITH(mse_loss(zeros({2, 3}), zeros({2, 3}, kFloat64)), Catch::Contains("mse_loss: inputs (2, 3) float32"));
}

// ---------------------------------------------------------------- L1 and MSE

// ---------------------------------------------------------------- the vector exp of the CPU kernels

TEMPLATE_TEST_CASE("forward: the CPU kernels' vector exp stays within 2 ulp of std::exp", "[ops][dcsr]", float,
                   double) {
  namespace paths = kernels::cpu_paths;  // kernels/cpu/vec_exp.h's vexp, a vector at a time
  using T = TestType;
  const T lo = paths::vector_exp_range<T>().first - 5, hi = paths::vector_exp_range<T>().second + 5;
  // Values per call: one vector, and at least the four edge values of round 0 (the x86-64 baseline
  // build's vectors hold two doubles); vector_exp takes any count, a vector at a time.
  const int L = std::max(4, paths::vector_lanes<T>());
  std::vector<T> in(size_t(L), T(0)), out(size_t(L), T(0));
  double worst_ulp = 0;
  int64_t checked = 0;
  Generator gen(13);
  for (int64_t round = 0; round < 4000; ++round) {
    for (int l = 0; l < L; ++l) {
      // Mostly where the contextual loss evaluates it ([-60, 2]), and over the whole range.
      in[l] = round % 2 ? T(gen.uniform(-60.0, 2.0)) : T(gen.uniform(double(lo), double(hi)));
    }
    if (round == 0) in[0] = T(0), in[1] = T(-1e-30), in[2] = lo, in[3] = hi;
    paths::vector_exp<T>(in.data(), out.data(), L);
    for (int l = 0; l < L; ++l) {
      const T expected = std::exp(in[l]);
      ++checked;
      if (expected == out[l]) continue;
      if (std::isinf(expected) || expected == T(0) || expected < std::numeric_limits<T>::min()) {
        // overflow / underflow / subnormal results: absolute agreement
        INFO("x = " << in[l]);
        REQUIRE(std::abs(double(out[l]) - double(expected)) <= 2.0 * std::numeric_limits<T>::denorm_min());
        continue;
      }
      const double ulp = std::abs(double(out[l]) - double(expected)) /
                         double(std::nextafter(expected, std::numeric_limits<T>::infinity()) - expected);
      worst_ulp = std::max(worst_ulp, ulp);
    }
  }
  INFO(checked << " values, worst " << worst_ulp << " ulp");
  WARN("vector exp: worst " << worst_ulp << " ulp over " << checked << " values");
  REQUIRE(worst_ulp <= 2.0);
}
