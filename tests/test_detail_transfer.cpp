// The detail-transfer measure (dcsr/inference/detail_transfer.h): a
// telephoto against itself scores highest, a blurred copy lower, an unrelated
// image near zero; colour changes do not matter; the search absorbs a small shift.
#include <cmath>

#include "dcsr/data/augment.h"
#include "cli_runner.h"
#include "dcsr/inference/detail_transfer.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

// A detailed image: smooth sines plus seeded per-pixel texture, blurred a little.
Tensor textured(int64_t h, int64_t w, uint64_t seed) {
  Tensor t = test::test_image(h, w, seed);
  Generator gen(seed, 9);
  float* d = t.data<float>();
  for (int64_t i = 0; i < h * w; ++i) {
    const float v = float(gen.uniform(-0.2, 0.2));
    for (int64_t c = 0; c < 3; ++c) d[c * h * w + i] = std::clamp(d[c * h * w + i] * 0.6f + v, 0.0f, 1.0f);
  }
  gaussian_blur_inplace(t, 0.6);
  return t;
}

// The image moved by (dy, dx) whole pixels (content at p shows at p + d), border replicated.
Tensor shifted(const Tensor& img, int64_t dy, int64_t dx) {
  const int64_t h = img.size(2), w = img.size(3);
  Tensor out = empty({1, 3, h, w});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        out.data<float>()[(c * h + y) * w + x] =
            img.data<float>()[(c * h + std::clamp<int64_t>(y - dy, 0, h - 1)) * w + std::clamp<int64_t>(x - dx, 0, w - 1)];
  return out;
}

}  // namespace

TEST_CASE("forward: detail transfer scores a telephoto against itself highest, a blurred copy lower",
          "[detail]") {
  const Tensor ref = textured(120, 160, 1);
  const DetailScore self = detail_transfer(ref, ref);
  CHECK(self.correlation == Approx(1.0).margin(1e-9));
  CHECK(self.energy_ratio == Approx(1.0).margin(1e-9));
  CHECK(self.blocks == 2 * 3);

  double last = self.correlation, last_energy = self.energy_ratio;
  for (double sigma : {0.6, 1.2, 2.0}) {  // more blur, less of the telephoto's detail
    Tensor blurred = ref.clone();
    gaussian_blur_inplace(blurred, sigma);
    const DetailScore s = detail_transfer(blurred, ref);
    INFO("blur sigma " << sigma);
    CHECK(s.correlation < last);
    CHECK(s.energy_ratio < last_energy);
    last = s.correlation, last_energy = s.energy_ratio;
  }
  // test_image shares one pattern across seeds; a noise image shares nothing.
  Tensor noise = empty({1, 3, 120, 160});
  Generator gen(77);
  for (int64_t i = 0; i < noise.numel(); ++i) noise.data<float>()[i] = float(gen.uniform01());
  gaussian_blur_inplace(noise, 0.6);
  const DetailScore unrelated = detail_transfer(noise, ref);
  CHECK(std::abs(unrelated.correlation) < 0.15);
  CHECK(unrelated.correlation < last);
}

TEST_CASE("forward: detail transfer ignores colour and absorbs a shift within its search", "[detail]") {
  const Tensor ref = textured(120, 160, 3);
  Tensor recoloured = ref.clone();
  ColourShift cs;
  cs.wb = {1.1, 0.95, 0.85};
  cs.exposure = 0.9;
  apply_colour(recoloured, cs);
  CHECK(detail_transfer(recoloured, ref).correlation > 0.98);

  const Tensor moved = shifted(ref, 2, -3);
  DetailOptions searching, fixed;
  fixed.search = 0;
  CHECK(detail_transfer(moved, ref, searching).correlation > 0.99);
  CHECK(detail_transfer(moved, ref, fixed).correlation < 0.5);
}

TEST_CASE("errors: detail transfer names the shapes it cannot compare", "[detail]") {
  const Tensor a = textured(120, 160, 1), b = textured(120, 150, 1), tiny = textured(40, 40, 1);
  CHECK_THROWS_WITH(detail_transfer(a, b), Catch::Contains("(1, 3, 120, 160)") && Catch::Contains("(1, 3, 120, 150)"));
  CHECK_THROWS_WITH(detail_transfer(tiny, tiny), Catch::Contains("smaller than one block"));
  // A flat telephoto has no detail band: the measure is undefined, not 0.
  const Tensor flat = full({1, 3, 120, 160}, 0.5);
  CHECK_THROWS_WITH(detail_transfer(a, flat), Catch::Contains("undefined"));
}

TEST_CASE("errors: dcsr detail bounds its options before any work", "[detail][cli]") {
  // Unbounded values overflowed (a block of 2^63 - 1 gave '0 blocks' and exit
  // 0), hung (a search of 2^63 - 1) or allocated without end (sigma 1e6).
  test::TempDir dir("detail_cli");
  write_png(dir / "lr.png", test::test_image(40, 40, 1));
  write_png(dir / "sr.png", test::test_image(80, 80, 2));
  write_png(dir / "ref.png", test::test_image(40, 40, 3));  // the central half's 20 x 20 at twice the density
  const std::string base = "detail --sr sr.png --lr lr.png --ref ref.png --registration none --block 16";
  const test::RunResult ok = test::run_dcsr(base, dir.str());
  INFO(ok.output);
  REQUIRE(ok.status == 0);
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --block 9223372036854775807", dir.str()), 2, "--block");
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --search 9223372036854775807", dir.str()), 2, "--search");
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --sigma-coarse 1e6", dir.str()), 2, "--sigma-coarse");
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --fov 10,10,20,20junk", dir.str()), 2, "--fov");
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --fov 10,10,20,20,5", dir.str()), 2, "--fov");
  // A huge origin or size (their sum overflowed: a crash, or a negative size).
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --fov 9223372036854775807,0,20,20", dir.str()), 2, "does not lie inside");
  REQUIRE_FAILS_WITH(test::run_dcsr(base + " --fov 1,1,9223372036854775807,20", dir.str()), 2, "does not lie inside");
  // An odd-sized canonical pair, as dcsr sr --registration none takes it: TELE the wide image's size.
  write_png(dir / "lr_odd.png", test::test_image(41, 43, 1));
  write_png(dir / "sr_odd.png", test::test_image(82, 86, 2));
  write_png(dir / "ref_odd.png", test::test_image(41, 43, 3));
  const test::RunResult odd =
      test::run_dcsr("detail --sr sr_odd.png --lr lr_odd.png --ref ref_odd.png --registration none --block 16", dir.str());
  INFO(odd.output);
  CHECK(odd.status == 0);
}
