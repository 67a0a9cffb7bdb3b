// `dcsr prepare --real` (dcsr/data/real_pairs.h): CameraFusion's protocol on
// real pairs has the exact geometry on synthetic pairs with a known transform.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/ops/image.h"
#include "autograd/ops/shape.h"
#include "dcsr/data/real_pairs.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "dcsr/registration/synthetic_pair.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

// A smooth scene, in continuous wide-image coordinates (x right, y down).
double scene(double x, double y, int64_t c) {
  return 0.5 + 0.2 * std::sin(0.11 * x + 0.07 * y + double(c)) + 0.15 * std::cos(0.05 * x - 0.13 * y);
}

// The scene sampled at pixel centres: wide pixel (r, c) at (c + 0.5, r + 0.5);
// a telephoto pixel at its centre mapped by tele_to_wide.
Tensor render(int64_t h, int64_t w, const Similarity* tele_to_wide) {
  Tensor t = empty({1, 3, h, w});
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t c = 0; c < w; ++c) {
        std::array<double, 2> p = {double(c) + 0.5, double(r) + 0.5};
        if (tele_to_wide) p = tele_to_wide->to_wide(p[0], p[1]);
        t.data<float>()[(ch * h + r) * w + c] = float(scene(p[0], p[1], ch));
      }
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
  return m;
}

}  // namespace

TEST_CASE("forward: the real protocol's canonical pair keeps the telephoto's pixels", "[prepare][real]") {
  const int64_t H = 64, W = 96;
  const Tensor wide = test::test_image(H, W, 1), tele = test::test_image(H, W, 2);
  const Similarity canonical{2.0, 0.0, W / 4.0, H / 4.0};
  const SimulatedPair p = make_real_pair(wide, tele, canonical);
  REQUIRE(p.hr.size(2) == H);
  REQUIRE(p.ref_x1.size(2) == H);
  REQUIRE(p.ref_x1.size(3) == W);
  CHECK(max_abs_diff(p.hr, wide) == 0.0);
  CHECK(max_abs_diff(p.ref_x1, tele) < 1e-6);
  CHECK(max_abs_diff(p.lr_x2, resize_antialias(wide, H / 2, W / 2)) < 1e-6);
  CHECK(max_abs_diff(p.ref_x2, resize_antialias(tele, H / 2, W / 2)) < 1e-6);
  CHECK(p.lr_x2.size(2) == p.ref_x2.size(2));
  CHECK(p.lr_x2.size(3) == p.ref_x2.size(3));
}

TEST_CASE("forward: the real protocol's crop puts the telephoto's view around HR's central half", "[prepare][real]") {
  // The dualfocal pairs' geometry: a 480x424 wide image, the telephoto (same
  // pixel count) at zoom 1.85 seeing x [104, 363.5) and y [61, 290.2), above
  // the centre. The central half of a centre crop (y [106, 318)) would reach
  // 28 rows below the view; the crop keeps the full width and takes the
  // longest height whose central half fits: 384 (rows [96, 288)), at the top.
  const Similarity dualfocal{1.85, 0.0, 104.0, 61.0};
  FovRect c = real_protocol_crop(dualfocal, 424, 480, 424, 480);
  CHECK(c.y0 == 0);
  CHECK(c.height == 384);
  CHECK(c.x0 == 0);
  CHECK(c.width == 480);
  // Zoom 3.5 in an 800x600 image: the view x [300, 528.6), y [200, 371.4)
  // (whole pixels: x [300, 528), y [200, 371)). HR is twice the view:
  // widths 456 = 2 * 228 starting at 300 - 114; heights 336 (342 is not a
  // multiple of 8) with the start in [116, 119], 117.5 centring the view,
  // rounded up.
  const Similarity zoom35{3.5, 0.0, 300.0, 200.0};
  c = real_protocol_crop(zoom35, 600, 800, 600, 800);
  CHECK(c.x0 == 186);
  CHECK(c.width == 456);
  CHECK(c.y0 == 118);
  CHECK(c.height == 336);
  // The canonical layout keeps the whole image.
  c = real_protocol_crop(Similarity{2.0, 0.0, 24.0, 16.0}, 64, 96, 64, 96);
  CHECK((c.y0 == 0 && c.x0 == 0 && c.height == 64 && c.width == 96));
  // A view under 16 pixels: HR would be under 32.
  CHECK_THROWS_WITH(real_protocol_crop(Similarity{4.0, 0.0, 100.0, 100.0}, 40, 60, 400, 400),
                    Catch::Contains("covers only 15x10") && Catch::Contains("400x400"));
}

TEST_CASE("forward: the real protocol puts a known transform's telephoto exactly in the canonical layout",
          "[prepare][real]") {
  // A rotated telephoto at zoom 1.9 whose view is off the 70 x 90 wide
  // image's centre: the crop follows the view (real_protocol_crop).
  const int64_t H = 70, W = 90;
  const double angle = 2.0 * 3.14159265358979323846 / 180.0;
  const Similarity truth{1.9, angle, 18.0, 20.0};
  const Tensor wide = render(H, W, nullptr), tele = render(64, 80, &truth);
  const FovRect crop = real_protocol_crop(truth, 64, 80, H, W);
  const SimulatedPair p = make_real_pair(wide, tele, truth);
  const int64_t h = crop.height, w = crop.width;
  REQUIRE(p.hr.size(2) == h);
  REQUIRE(p.hr.size(3) == w);
  REQUIRE(p.ref_x1.size(2) == h);
  REQUIRE(p.ref_x1.size(3) == w);
  CHECK(h % 8 == 0);
  CHECK(w % 8 == 0);
  CHECK(max_abs_diff(p.hr, narrow(narrow(wide, 2, crop.y0, h), 3, crop.x0, w)) == 0.0);
  // The crop's central half is inside the telephoto's view.
  const FovRect view = fov_rect(truth, 64, 80, H, W);
  CHECK(crop.y0 + h / 4 >= view.y0);
  CHECK(crop.y0 + 3 * h / 4 <= view.y0 + view.height);
  CHECK(crop.x0 + w / 4 >= view.x0);
  CHECK(crop.x0 + 3 * w / 4 <= view.x0 + view.width);
  // Ref/x1 pixel (R, C) covers HR [w/4 + C/2, w/4 + (C+1)/2) x [h/4 + R/2, ...);
  // in the uncropped wide image add the crop's corner. Compared where the
  // telephoto's pixels reach 3 px beyond the sample (the interpolation's
  // support); with the central half in the view, that is nearly all of them.
  int64_t compared = 0;
  double worst = 0.0;
  for (int64_t R = 0; R < h; ++R)
    for (int64_t C = 0; C < w; ++C) {
      const double x = double(crop.x0 + w / 4) + (double(C) + 0.5) / 2.0;
      const double y = double(crop.y0 + h / 4) + (double(R) + 0.5) / 2.0;
      const std::array<double, 2> t = truth.to_tele(x, y);
      if (t[0] < 3.0 || t[1] < 3.0 || t[0] > 80.0 - 3.0 || t[1] > 64.0 - 3.0) continue;
      ++compared;
      for (int64_t ch = 0; ch < 3; ++ch)
        worst = std::max(worst, std::abs(double(p.ref_x1.data<float>()[(ch * h + R) * w + C]) - scene(x, y, ch)));
    }
  CHECK(compared > h * w * 3 / 4);
  // Interpolation error only; a quarter-pixel error in the geometry would cost about 0.01.
  CHECK(worst < 2e-3);
}

TEST_CASE("forward: prepare --real registers and writes the protocol's five folders", "[prepare][real]") {
  test::TempDir dir("prepare_real");
  fs::create_directories(dir / "wide");
  fs::create_directories(dir / "tele");
  // A textured photo seen by two cameras: the telephoto at zoom 2, rotated 1 degree, off centre.
  Generator gen(4);
  Tensor photo = uniform({1, 3, 60, 80}, gen, 0.1, 0.9);
  photo = bicubic_resize(photo, 480, 640);
  const registration::SyntheticPair pair =
      registration::make_synthetic_pair(photo, 240, 320, 240, 320, 2.0, 1.0, 170.0, 115.0, {}, {}, 3);
  write_png(dir / "wide/a.png", pair.wide);
  write_png(dir / "tele/a.png", pair.tele);
  RealPrepareOptions opt;
  opt.wide_dir = dir / "wide";
  opt.tele_dir = dir / "tele";
  opt.out_dir = dir / "out";
  REQUIRE(prepare_real_dataset(opt) == 1);
  std::ifstream in(dir / "out/prepare.json");
  const nlohmann::json record = nlohmann::json::parse(in);
  CHECK(record.at("protocol") == "real");
  const Registration r = registration_from_json(record["pairs"][0].at("registration"), "prepare.json");
  CHECK(r.tele_to_wide.scale == Approx(pair.truth.scale).margin(0.01));
  CHECK(r.tele_to_wide.tx == Approx(pair.truth.tx).margin(0.2));
  // The recorded crop is the protocol's for the recorded registration, and the files have its size.
  const FovRect crop = real_protocol_crop(r.tele_to_wide, 240, 320, 240, 320);
  CHECK(record["pairs"][0].at("crop_top_left") == nlohmann::json::array({crop.y0, crop.x0}));
  CHECK(record["pairs"][0].at("hr_size") == nlohmann::json::array({crop.width, crop.height}));
  CHECK(crop.width < 320);  // the 1-degree rotation leaves less than half the width in the view
  CHECK(read_image_info(dir / "out/HR/a.png").width == crop.width);
  CHECK(read_image_info(dir / "out/HR/a.png").height == crop.height);
  CHECK(read_image_info(dir / "out/LR/x2/a.png").width == crop.width / 2);
  CHECK(read_image_info(dir / "out/Ref/x2/a.png").width == crop.width / 2);
  CHECK(read_image_info(dir / "out/LR/x1/a.png").width == crop.width);
  CHECK(read_image_info(dir / "out/Ref/x1/a.png").height == crop.height);

  opt.out_dir = dir / "out2";
  fs::create_directories(dir / "tele2");
  write_png(dir / "tele2/a.png", pair.tele);
  write_png(dir / "tele2/b.png", pair.tele);
  opt.tele_dir = dir / "tele2";
  CHECK_THROWS_WITH(prepare_real_dataset(opt), Catch::Contains("holds 1 images") && Catch::Contains("holds 2"));
  CHECK(!fs::exists(dir / "out2/HR"));
}
