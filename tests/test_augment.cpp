// The degradations of the camera simulation (dcsr/data/augment.h): each is
// deterministic for its parameters and seed, and does what it says.
#include <cmath>

#include "dcsr/data/augment.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

Tensor constant_image(int64_t h, int64_t w, float v) {
  Tensor t = empty({1, 3, h, w});
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = v;
  return t;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.data<float>()[i] != b.data<float>()[i]) return false;
  return true;
}

double mean_abs_diff(const Tensor& a, const Tensor& b) {
  double s = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) s += std::abs(double(a.data<float>()[i]) - double(b.data<float>()[i]));
  return s / double(a.numel());
}

float at(const Tensor& t, int64_t c, int64_t y, int64_t x) {
  return t.data<float>()[(c * t.size(2) + y) * t.size(3) + x];
}

}  // namespace

TEST_CASE("forward: vignetting darkens the corners, not the centre", "[augment]") {
  Tensor img = constant_image(60, 80, 0.8f);
  const Vignette v{0.3, 0.0, 0.0};
  apply_vignette(img, v);
  Tensor again = constant_image(60, 80, 0.8f);
  apply_vignette(again, v);
  CHECK(same_values(img, again));
  // The centre (between pixels 29/30 and 39/40) is almost untouched; a corner
  // pixel's centre is at rho just under 1, so it keeps about 1 - 0.3.
  CHECK(at(img, 0, 30, 40) == Approx(0.8).epsilon(1e-3));
  for (int64_t c = 0; c < 3; ++c) {
    CHECK(at(img, c, 0, 0) == Approx(0.8 * 0.7).epsilon(0.03));
    CHECK(at(img, c, 59, 79) == Approx(0.8 * 0.7).epsilon(0.03));
  }
  // Darker step by step along the diagonal from the centre to the corner.
  for (int64_t k = 1; k < 30; ++k) CHECK(at(img, 1, 30 - k, 40 - k * 4 / 3) <= at(img, 1, 30 - k + 1, 40 - (k - 1) * 4 / 3));
  Tensor none = constant_image(8, 8, 0.5f);
  apply_vignette(none, Vignette{});
  CHECK(same_values(none, constant_image(8, 8, 0.5f)));
}

TEST_CASE("forward: the colour shift keeps greys grey and scales channels by their gains", "[augment]") {
  Tensor img = test::test_image(16, 20, 3);
  Tensor identity = img.clone();
  apply_colour(identity, ColourShift{});
  CHECK(same_values(identity, img));

  ColourShift cs;
  cs.mix = {{{0.96, 0.03, 0.01}, {0.02, 0.97, 0.01}, {-0.02, 0.04, 0.98}}};  // rows sum to 1
  cs.exposure = 1.1;
  cs.gamma = 0.9;
  Tensor grey = constant_image(4, 4, 0.4f);
  apply_colour(grey, cs);
  for (int64_t c = 0; c < 3; ++c) CHECK(at(grey, c, 2, 2) == Approx(std::pow(0.44, 0.9)).epsilon(1e-5));

  ColourShift wb;
  wb.wb = {1.1, 1.0, 0.8};
  Tensor g2 = constant_image(4, 4, 0.5f);
  apply_colour(g2, wb);
  CHECK(at(g2, 0, 0, 0) == Approx(0.55).epsilon(1e-6));
  CHECK(at(g2, 1, 0, 0) == Approx(0.5).epsilon(1e-6));
  CHECK(at(g2, 2, 0, 0) == Approx(0.4).epsilon(1e-6));
}

TEST_CASE("forward: sensor noise is seeded and signal dependent", "[augment]") {
  const SensorNoise ns{4e-4, 2.0 / 255.0};
  Tensor a = constant_image(64, 64, 0.5f), b = a.clone(), c = a.clone();
  Generator g1(7, 3), g2(7, 3), g3(8, 3);
  apply_noise(a, ns, g1);
  apply_noise(b, ns, g2);
  apply_noise(c, ns, g3);
  CHECK(same_values(a, b));
  CHECK(!same_values(a, c));
  double sum = 0.0, sum2 = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.data<float>()[i]) - 0.5;
    sum += d, sum2 += d * d;
  }
  const double n = double(a.numel()), sd = std::sqrt(sum2 / n - (sum / n) * (sum / n));
  CHECK(sd == Approx(std::sqrt(4e-4 * 0.5 + (2.0 / 255.0) * (2.0 / 255.0))).epsilon(0.05));
  Tensor dark = constant_image(64, 64, 0.1f);
  Generator g4(7, 3);
  apply_noise(dark, ns, g4);
  CHECK(mean_abs_diff(dark, constant_image(64, 64, 0.1f)) < mean_abs_diff(a, constant_image(64, 64, 0.5f)));
}

TEST_CASE("forward: the JPEG round trip is deterministic and loses more at lower quality", "[augment]") {
  Tensor img = test::test_image(48, 64, 5);
  gaussian_blur_inplace(img, 1.5);  // photo-like: JPEG's 4:2:0 chroma would smear the raw pattern's colour
  Tensor q90 = img.clone(), q90b = img.clone(), q40 = img.clone(), none = img.clone();
  jpeg_roundtrip(q90, 90);
  jpeg_roundtrip(q90b, 90);
  jpeg_roundtrip(q40, 40);
  jpeg_roundtrip(none, 0);
  CHECK(same_values(q90, q90b));
  CHECK(same_values(none, img));
  CHECK(!same_values(q90, img));
  CHECK(mean_abs_diff(q90, img) < 0.02);
  CHECK(mean_abs_diff(q40, img) > mean_abs_diff(q90, img));
  Tensor bad = img.clone();
  CHECK_THROWS_WITH(jpeg_roundtrip(bad, 101), Catch::Contains("quality 101"));
}

TEST_CASE("forward: the displacement field is seeded, bounded and smooth", "[augment]") {
  Generator g1(11, 1), g2(11, 1);
  const DisplacementField f = draw_displacement_field(g1, 4, 3.0), f2 = draw_displacement_field(g2, 4, 3.0);
  CHECK(f.dy == f2.dy);
  CHECK(f.dx == f2.dx);
  REQUIRE(f.max_abs() <= 3.0);
  CHECK(f.max_abs() > 1.0);  // 32 draws in [-3, 3]: not all small
  const int64_t n = 200;
  const double step_bound = 2.0 * f.max_abs() * double(f.grid_h - 1) / double(n);
  double largest = 0.0, largest_step = 0.0;
  for (int64_t i = 0; i <= n; ++i)
    for (int64_t j = 0; j <= n; ++j) {
      const auto d = f.at(double(i) / n, double(j) / n);
      largest = std::max({largest, std::abs(d[0]), std::abs(d[1])});
      if (i > 0) {
        const auto up = f.at(double(i - 1) / n, double(j) / n);
        largest_step = std::max({largest_step, std::abs(d[0] - up[0]), std::abs(d[1] - up[1])});
      }
      if (j > 0) {
        const auto left = f.at(double(i) / n, double(j - 1) / n);
        largest_step = std::max({largest_step, std::abs(d[0] - left[0]), std::abs(d[1] - left[1])});
      }
    }
  CHECK(largest <= f.max_abs() + 1e-12);
  CHECK(largest > 0.2);
  CHECK(largest_step <= step_bound + 1e-12);
  // Equal controls give that displacement everywhere (the weights sum to 1).
  DisplacementField flat;
  flat.grid_h = flat.grid_w = 3;
  flat.dy.assign(9, 1.5);
  flat.dx.assign(9, -0.5);
  for (double u : {0.0, 0.3, 0.77, 1.0}) {
    CHECK(flat.at(u, 1.0 - u)[0] == Approx(1.5));
    CHECK(flat.at(u, 1.0 - u)[1] == Approx(-0.5));
  }
  CHECK(DisplacementField{}.at(0.5, 0.5)[0] == 0.0);
}
