// PSNR / SSIM of the evaluation protocol (dcsr-spec §11).
#include <cmath>

#include "dcsr/inference/metrics.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

// The two images of tests/reference-free check values below: a(c, y, x) =
// 0.5 + 0.4 sin(0.3 x + 0.2 y + c), b = clamp(a + 0.08 cos(0.7 x - 0.4 y + 2c), 0, 1).
void make_pair(Tensor& a, Tensor& b, int64_t h, int64_t w) {
  a = empty({1, 3, h, w}, kFloat64);
  b = empty({1, 3, h, w}, kFloat64);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        double va = 0.5 + 0.4 * std::sin(0.3 * double(x) + 0.2 * double(y) + double(c));
        double vb = std::clamp(va + 0.08 * std::cos(0.7 * double(x) - 0.4 * double(y) + 2.0 * double(c)), 0.0, 1.0);
        a.data<double>()[(c * h + y) * w + x] = va;
        b.data<double>()[(c * h + y) * w + x] = vb;
      }
}

}  // namespace

TEST_CASE("forward: quantize rounds to 8 bits, half to even, and clamps", "[metrics]") {
  Tensor x = from_vector<double>({-0.2, 0.0, 0.5 / 255.0, 1.5 / 255.0, 0.3, 1.0, 1.7}, {7});
  std::vector<double> q = quantize(x).to_vector<double>();  // 0.3 * 255 = 76.4999... -> 76
  CHECK(q == std::vector<double>{0.0, 0.0, 0.0, 2.0 / 255.0, 76.0 / 255.0, 1.0, 1.0});
  CHECK(std::isnan(quantize(from_vector<float>({NAN}, {1})).to_vector<float>()[0]));
}

TEST_CASE("forward: PSNR on Y with shave and common crop", "[metrics]") {
  Tensor a, b;
  make_pair(a, b, 20, 24);
  // Value from an independent numpy implementation of the same definition.
  CHECK(psnr_y(a, b) == Approx(33.242252778233194).epsilon(1e-12));
  // A constant RGB offset d gives a Y difference of d * (sum of the weights).
  Tensor c = add(a, 0.01);
  const double ysum = kLumaR + kLumaG + kLumaB;
  CHECK(psnr_y(c, a) == Approx(-20.0 * std::log10(0.01 * ysum)).epsilon(1e-12));
  // Differences inside the 2 px border do not count; with shave 0 they do.
  Tensor d = a.clone();
  d.data<double>()[0] += 0.5;
  CHECK(std::isinf(psnr_y(d, a)));
  CHECK(std::isfinite(psnr_y(d, a, 0)));
  // Sizes differ: the common top-left region is compared.
  Tensor big = zeros({1, 3, 30, 31}, kFloat64);
  Tensor small = zeros({1, 3, 20, 24}, kFloat64);
  CHECK(std::isinf(psnr_y(big, small)));
  CHECK_THROWS_WITH(psnr_y(zeros({1, 3, 4, 4}), zeros({1, 3, 4, 4})), Catch::Contains("too small"));
  CHECK_THROWS_WITH(psnr_y(zeros({1, 1, 8, 8}), zeros({1, 3, 8, 8})), Catch::Contains("(1, 3, H, W)"));
}

TEST_CASE("forward: SSIM on Y with an 11x11 Gaussian window", "[metrics]") {
  Tensor a, b;
  make_pair(a, b, 20, 24);
  // Independent numpy value (direct 11x11 windowed sums over the valid region).
  CHECK(ssim_y(a, b) == Approx(0.976608666381945).epsilon(1e-12));
  CHECK(ssim_y(a, a) == Approx(1.0).epsilon(1e-14));
  CHECK(ssim_y(a.to(kFloat32), b.to(kFloat32)) == Approx(0.976608666381945).epsilon(1e-6));
  // Constant images: the structure term is 1, the luminance term is (2 ab + C1) / (a^2 + b^2 + C1).
  Tensor ca = full({1, 3, 15, 15}, 0.25, kFloat64), cb = full({1, 3, 15, 15}, 0.5, kFloat64);
  const double ya = kLumaOffset + 0.25 * (kLumaR + kLumaG + kLumaB), yb = kLumaOffset + 0.5 * (kLumaR + kLumaG + kLumaB);
  CHECK(ssim_y(ca, cb, 0) == Approx((2 * ya * yb + 1e-4) / (ya * ya + yb * yb + 1e-4)).epsilon(1e-12));
  CHECK_THROWS_WITH(ssim_y(ca, cb, 3), Catch::Contains("smaller than the 11x11 window"));
}

TEST_CASE("forward: FoV region and evaluate_pair", "[metrics]") {
  Region r = fov_region(100, 62);
  CHECK(r.top == 25);
  CHECK(r.left == 15);
  CHECK(r.height == 50);
  CHECK(r.width == 31);
  Tensor x = test::test_image(8, 8, 2);
  Tensor c = crop(x, {2, 3, 4, 2});
  REQUIRE(c.shape() == Shape{1, 3, 4, 2});
  CHECK(c.to_vector<float>()[0] == x.to_vector<float>()[2 * 8 + 3]);
  CHECK(c.to_vector<float>()[8 + 7] == x.to_vector<float>()[64 + 5 * 8 + 4]);
  CHECK_THROWS_WITH(crop(x, {6, 0, 4, 2}), Catch::Contains("outside"));

  // A damaged border lowers the whole-image scores but not the FoV scores.
  Tensor hr = quantize(test::test_image(64, 48, 3));
  Tensor sr = hr.clone();
  for (int64_t c2 = 0; c2 < 3; ++c2)
    for (int64_t y = 0; y < 10; ++y)
      for (int64_t xx = 0; xx < 48; ++xx) sr.data<float>()[(c2 * 64 + y) * 48 + xx] = 0.0f;
  QualityScores s = evaluate_pair(sr, hr);
  CHECK(std::isfinite(s.psnr));
  CHECK(s.ssim < 0.95);
  CHECK(s.psnr < 20.0);
  CHECK(s.psnr_fov == kPsnrCeiling);  // identical inside the FoV: capped, not infinite
  CHECK(s.ssim_fov == Approx(1.0));
}

TEST_CASE("forward: evaluate_pair caps the PSNR at kPsnrCeiling, an exact image's and a near-exact one's", "[metrics]") {
  const Tensor hr = quantize(test::test_image(64, 48, 3));
  const QualityScores exact = evaluate_pair(hr, hr);
  CHECK(exact.psnr == kPsnrCeiling);
  CHECK(exact.psnr_fov == kPsnrCeiling);
  CHECK(exact.ssim == Approx(1.0));
  // One blue value one level off in the middle: the Y difference is
  // kLumaB / 255 at one pixel. Of the whole image's 60 x 44 measured pixels
  // that is a PSNR just above the ceiling (about 102.5 dB), which counts as
  // the ceiling: a near-exact image never ranks above an exact one. Of the
  // FoV's 32 x 24 it is about 97.2 dB, below the ceiling, and kept.
  Tensor near = hr.clone();
  float& blue = near.data<float>()[(2 * 64 + 32) * 48 + 24];
  blue = blue >= 0.5f ? blue - 1.0f / 255.0f : blue + 1.0f / 255.0f;
  const double whole = psnr_y(quantize(near), hr, 2);
  const Region fov = fov_region(64, 48);
  const double in_fov = psnr_y(crop(quantize(near), fov), crop(hr, fov), 0);
  REQUIRE(std::isfinite(whole));
  REQUIRE(whole > kPsnrCeiling);
  REQUIRE(in_fov < kPsnrCeiling);
  const QualityScores near_scores = evaluate_pair(near, hr);
  CHECK(near_scores.psnr == kPsnrCeiling);
  CHECK(near_scores.psnr_fov == in_fov);
  CHECK(near_scores.ssim < 1.0);
}

TEST_CASE("forward: evaluate_pair quantizes both images and shaves 2 px, the FoV scores none", "[metrics]") {
  // Images that are not on the 8-bit grid (make_pair's sines), 40 x 44: the
  // scores are those of the quantized pair, whole image with the 2 px shave,
  // FoV (the central half, 20 x 22) with none. Quantizing, and each shave,
  // changes every one of the four values far beyond the tolerance.
  Tensor a, b;
  make_pair(a, b, 40, 44);
  const QualityScores s = evaluate_pair(a, b);
  const Tensor qa = quantize(a), qb = quantize(b);
  CHECK(s.psnr == Approx(psnr_y(qa, qb, 2)).epsilon(1e-14));
  CHECK(s.ssim == Approx(ssim_y(qa, qb, 2)).epsilon(1e-14));
  const Region fov = fov_region(40, 44);
  CHECK(s.psnr_fov == Approx(psnr_y(crop(qa, fov), crop(qb, fov), 0)).epsilon(1e-14));
  CHECK(s.ssim_fov == Approx(ssim_y(crop(qa, fov), crop(qb, fov), 0)).epsilon(1e-14));
  // The choices matter for these images (else the checks above could not fail).
  CHECK(std::abs(psnr_y(qa, qb, 2) - psnr_y(a, b, 2)) > 1e-6);
  CHECK(std::abs(psnr_y(qa, qb, 2) - psnr_y(qa, qb, 0)) > 1e-6);
  CHECK(std::abs(ssim_y(qa, qb, 2) - ssim_y(qa, qb, 0)) > 1e-6);
  CHECK(std::abs(ssim_y(qa, qb, 2) - ssim_y(a, b, 2)) > 1e-6);
}
