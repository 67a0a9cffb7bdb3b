// Registration of wide + telephoto pairs (dcsr/registration/): transforms
// recovered from small synthetic pairs with an exact known transform, the
// canonical layout detected as the identity, an unrelated pair refused, the
// JSON form, and the `dcsr register` command's outputs and errors. All images
// are generated here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "cli_runner.h"
#include "dcsr/registration/refine.h"
#include "dcsr/registration/register.h"
#include "dcsr/registration/synthetic_pair.h"
#include "runtime/threads.h"

using namespace dcsr;
using namespace dcsr::registration;
using test::quote;
using test::run_dcsr;
using test::RunResult;

namespace {

constexpr double kPi = 3.14159265358979323846;

// A photo-like RGB texture (1, 3, h, w), not periodic: random noise at three
// scales, each upsampled smoothly, summed.
Tensor texture(int64_t h, int64_t w, uint64_t seed) {
  NoGradGuard no_grad;
  Generator gen(seed);
  Tensor sum = zeros({1, 3, h, w});
  float* s = sum.data<float>();
  for (int64_t cell : {32, 12, 5}) {
    const Tensor noise = uniform({1, 3, h / cell + 3, w / cell + 3}, gen, -1.0, 1.0);
    const Tensor up = bicubic_resize(noise, h, w);
    const float* u = up.data<float>();
    for (int64_t i = 0; i < sum.numel(); ++i) s[i] += 0.12f * u[i];
  }
  for (int64_t i = 0; i < sum.numel(); ++i) s[i] = std::clamp(0.5f + s[i], 0.0f, 1.0f);
  return sum;
}

// The telephoto seen through another camera: colour, gain, gamma, blur, noise.
CameraLook another_camera() {
  CameraLook look;
  look.colour = {1.1, 0.03, 0.0, 0.02, 0.95, 0.03, 0.0, 0.04, 0.9};
  look.gain = 1.15;
  look.gamma = 0.8;
  look.blur_sigma = 0.6;
  look.noise = 0.01;
  return look;
}

double worst_corner_error(const Registration& r, const Similarity& truth, int64_t tele_h, int64_t tele_w) {
  const auto expected = fov_quad(truth, tele_h, tele_w);
  double worst = 0;
  for (size_t i = 0; i < 4; ++i)
    worst = std::max(worst, std::hypot(r.fov_quad[i][0] - expected[i][0], r.fov_quad[i][1] - expected[i][1]));
  return worst;
}

// The canonical layout by construction: the wide image is the photo halved,
// the telephoto the photo's centre crop of the wide's size (shifted by
// shift_x photo pixels).
std::pair<Tensor, Tensor> canonical_pair(const Tensor& photo, int64_t shift_x) {
  NoGradGuard no_grad;
  const int64_t H = photo.size(2) / 2, W = photo.size(3) / 2;
  Tensor tele = empty({1, 3, H, W});
  const float* p = photo.data<float>();
  float* t = tele.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        t[(c * H + y) * W + x] = p[(c * 2 * H + y + H / 2) * 2 * W + x + W / 2 + shift_x];
  return {resize_antialias(photo, H, W), tele};
}

}  // namespace

TEST_CASE("registration: Similarity maps both ways", "[registration]") {
  const Similarity s{2.7, 0.04, 310.5, -12.25};
  for (auto [x, y] : {std::pair{0.0, 0.0}, {100.0, 37.5}, {-20.0, 400.0}}) {
    const auto w = s.to_wide(x, y);
    const auto t = s.to_tele(w[0], w[1]);
    CHECK(t[0] == Approx(x).margin(1e-9));
    CHECK(t[1] == Approx(y).margin(1e-9));
  }
  const Similarity c = canonical_similarity(300, 400);
  const auto corner = c.to_wide(400, 300);
  CHECK(corner[0] == Approx(300.0));  // 3W/4
  CHECK(corner[1] == Approx(225.0));  // 3H/4
}

TEST_CASE("registration: recovers a known transform from synthetic pairs", "[registration]") {
  const Tensor photo = texture(480, 640, 11);
  struct Case {
    double scale, angle_deg, centre_x, centre_y;
  };
  // The telephoto has the wide's pixel count (240 x 320), as on phones; views off centre.
  for (const Case& c : {Case{1.6, -2.0, 150.0, 130.0}, Case{2.5, 1.5, 200.0, 90.0}, Case{4.2, -0.7, 90.0, 160.0}}) {
    CAPTURE(c.scale, c.angle_deg);
    const SyntheticPair pair = make_synthetic_pair(photo, 240, 320, 240, 320, c.scale, c.angle_deg, c.centre_x,
                                                   c.centre_y, another_camera(), {}, 5);
    const Registration r = register_pair(pair.wide, pair.tele);
    CHECK(r.tele_to_wide.scale == Approx(c.scale).epsilon(0.003));
    CHECK(r.tele_to_wide.angle * 180 / kPi == Approx(c.angle_deg).margin(0.1));
    CHECK(worst_corner_error(r, pair.truth, 240, 320) < 0.25);
    CHECK(r.confidence > 0.6);
    CHECK_FALSE(r.identity);
  }
}

TEST_CASE("registration: a view partly outside the wide image (a cropped wide photo) is found", "[registration]") {
  const Tensor photo = texture(480, 640, 13);
  struct Case {
    double scale, angle_deg, centre_x, centre_y;
    int64_t top, left, height, width;  // the wide image kept, of 240 x 320
    double share_inside;               // of the view's bounding box, by construction
  };
  // Views cut by the left edge (60% inside), the top edge (55%) and a corner (58%).
  for (const Case& c : {Case{2.2, 1.0, 160.0, 120.0, 0, 145, 240, 175, 0.60},
                        Case{3.0, -1.5, 170.0, 120.0, 116, 0, 124, 320, 0.55},
                        Case{1.6, 0.5, 150.0, 110.0, 0, 0, 150, 200, 0.58}}) {
    CAPTURE(c.scale, c.angle_deg, c.share_inside);
    const SyntheticPair whole = make_synthetic_pair(photo, 240, 320, 240, 320, c.scale, c.angle_deg, c.centre_x,
                                                    c.centre_y, another_camera(), {}, 9);
    const SyntheticPair pair = crop_wide(whole, c.top, c.left, c.height, c.width);
    const Registration r = register_pair(pair.wide, pair.tele);
    CHECK(r.tele_to_wide.scale == Approx(c.scale).epsilon(0.003));
    CHECK(r.tele_to_wide.angle * 180 / kPi == Approx(c.angle_deg).margin(0.1));
    CHECK(worst_corner_error(r, pair.truth, 240, 320) < 0.25);
    CHECK(r.confidence > 0.6);
  }
  // Under half of the view inside is refused, not guessed.
  const SyntheticPair whole = make_synthetic_pair(photo, 240, 320, 240, 320, 2.2, 0.0, 160.0, 120.0, {}, {}, 10);
  CHECK_THROWS_WITH(register_pair(crop_wide(whole, 0, 190, 240, 130).wide, whole.tele),  // 30% inside
                    Catch::Contains("does not match"));
}

TEST_CASE("registration: a 10x telephoto is found (0.5x ultra-wide with a 5x telephoto)", "[registration]") {
  const Tensor photo = texture(960, 1280, 17);
  const SyntheticPair pair =
      make_synthetic_pair(photo, 480, 640, 480, 640, 10.0, 1.2, 380.0, 210.0, another_camera(), {}, 6);
  const Registration r = register_pair(pair.wide, pair.tele);
  CHECK(r.tele_to_wide.scale == Approx(10.0).epsilon(0.003));
  CHECK(r.tele_to_wide.angle * 180 / kPi == Approx(1.2).margin(0.1));
  CHECK(worst_corner_error(r, pair.truth, 480, 640) < 0.25);
}

TEST_CASE("registration: a telephoto tilted by 5-15 degrees is found (two shots, the phone tilted between)",
          "[registration]") {
  const Tensor photo = texture(480, 640, 29);
  for (const double angle : {8.0, -12.5, 15.0}) {
    CAPTURE(angle);
    const SyntheticPair pair =
        make_synthetic_pair(photo, 240, 320, 240, 320, 2.5, angle, 165.0, 118.0, another_camera(), {}, 13);
    const Registration r = register_pair(pair.wide, pair.tele);
    CHECK(r.tele_to_wide.scale == Approx(2.5).epsilon(0.003));
    CHECK(r.tele_to_wide.angle * 180 / kPi == Approx(angle).margin(0.1));
    CHECK(worst_corner_error(r, pair.truth, 240, 320) < 0.5);
    // Searched only within max_angle_deg, the same pair is refused.
    RegisterOptions small_angles;
    small_angles.max_tilt_deg = 0;
    small_angles.quarter_turns = false;
    CHECK_THROWS_WITH(register_pair(pair.wide, pair.tele, small_angles),
                      Catch::Contains("does not match") && Catch::Contains("rotation up to 5 degrees"));
  }
}

TEST_CASE("registration: a telephoto turned by a quarter or half turn is found (lost EXIF orientation)",
          "[registration]") {
  const Tensor photo = texture(480, 640, 23);
  const SyntheticPair pair =
      make_synthetic_pair(photo, 240, 320, 240, 320, 2.5, 1.0, 170.0, 110.0, another_camera(), {}, 12);
  const Registration upright = register_pair(pair.wide, pair.tele);
  // The telephoto turned clockwise by `turns` quarter turns, pixel by pixel.
  auto turned = [](const Tensor& t, int turns) {
    const int64_t H = t.size(2), W = t.size(3);
    const bool sideways = turns % 2 == 1;
    const int64_t h = sideways ? W : H, w = sideways ? H : W;
    Tensor out = empty({1, 3, h, w});
    const float* src = t.data<float>();
    float* dst = out.data<float>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          int64_t xr = W - 1 - x, yr = H - 1 - y;  // 2 turns
          if (turns == 1) xr = H - 1 - y, yr = x;
          if (turns == 3) xr = y, yr = W - 1 - x;
          dst[(c * h + yr) * w + xr] = src[(c * H + y) * W + x];
        }
    return out;
  };
  for (int turns = 1; turns <= 3; ++turns) {
    CAPTURE(turns);
    const Registration r = register_pair(pair.wide, turned(pair.tele, turns));
    CHECK(r.tele_to_wide.scale == Approx(upright.tele_to_wide.scale).epsilon(1e-6));
    // Turned clockwise, the telephoto's frame is the upright one turned back: angle - 90 degrees per turn.
    double expected = upright.tele_to_wide.angle - turns * kPi / 2;
    expected = std::remainder(expected, 2 * kPi);
    CHECK(std::remainder(r.tele_to_wide.angle - expected, 2 * kPi) == Approx(0.0).margin(1e-6));
    // The same view: the four corners the upright registration found, in another order.
    for (const auto& corner : r.fov_quad) {
      double nearest = 1e9;
      for (const auto& u : upright.fov_quad) nearest = std::min(nearest, std::hypot(corner[0] - u[0], corner[1] - u[1]));
      CHECK(nearest < 1e-3);
    }
  }
  RegisterOptions upright_only;
  upright_only.quarter_turns = false;
  CHECK_THROWS(register_pair(pair.wide, turned(pair.tele, 1), upright_only));
}

TEST_CASE("registration: swapped photos and photos at the same zoom are refused saying so", "[registration]") {
  const Tensor photo = texture(480, 640, 19);
  const SyntheticPair pair =
      make_synthetic_pair(photo, 240, 320, 240, 320, 2.5, -1.0, 170.0, 110.0, another_camera(), {}, 7);
  // The telephoto given as the wide image and the other way round.
  CHECK_THROWS_WITH(register_pair(pair.tele, pair.wide),
                    Catch::Contains("the two photos look swapped") && Catch::Contains("at 2.50x"));
  // The same view at the same zoom, through another camera.
  const SyntheticPair same =
      make_synthetic_pair(photo, 240, 320, 240, 320, 1.0, 0.5, 160.0, 120.0, another_camera(), {}, 8);
  CHECK_THROWS_WITH(register_pair(same.wide, same.tele),
                    Catch::Contains("about the same zoom") && Catch::Contains("at least 1.20x"));
}

TEST_CASE("registration: a canonical pair is the identity, a half-pixel shift is not", "[registration]") {
  const Tensor photo = texture(320, 384, 21);
  const auto [wide, tele] = canonical_pair(photo, 0);
  const Registration r = register_pair(wide, tele);
  CHECK(r.identity);
  CHECK(r.tele_to_wide.scale == 2.0);
  CHECK(r.tele_to_wide.angle == 0.0);
  CHECK(r.tele_to_wide.tx == 48.0);  // W / 4
  CHECK(r.tele_to_wide.ty == 40.0);  // H / 4
  // One photo pixel to the right is half a wide pixel: registered, not canonical.
  const auto [wide2, tele2] = canonical_pair(photo, 1);
  const Registration shifted = register_pair(wide2, tele2);
  CHECK_FALSE(shifted.identity);
  CHECK(shifted.tele_to_wide.tx == Approx(48.5).margin(0.05));
  CHECK(shifted.tele_to_wide.ty == Approx(40.0).margin(0.05));
}

namespace {

// A close-up as a phone's two cameras see it, from a 960 x 1280 photo: a
// 480 x 640 wide image, a 2.2x telephoto of the same size (a view of 291 x 218
// wide pixels) seen through another camera, whose columns from `near_from` on
// (the near layer, a subject nearer than the background) show the view
// shifted sideways by `disparity` wide pixels.
struct CloseUp {
  SyntheticPair pair;  // the far layer's: its wide image and truth
  Tensor tele;         // the telephoto with both layers
  Similarity near;     // the near layer's truth

  CloseUp(const Tensor& photo, double angle_deg, int64_t near_from, double disparity, uint64_t seed) {
    NoGradGuard no_grad;
    CameraLook look = another_camera();
    look.blur_sigma = 1.2;
    look.noise = 0.03;
    const double cx = 330.0, cy = 236.0;
    pair = make_synthetic_pair(photo, 480, 640, 480, 640, 2.2, angle_deg, cx, cy, look, {}, seed);
    const SyntheticPair shifted =
        make_synthetic_pair(photo, 480, 640, 480, 640, 2.2, angle_deg, cx + disparity, cy, look, {}, seed);
    tele = pair.tele.clone();
    float* t = tele.data<float>();
    const float* s = shifted.tele.data<float>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 480; ++y)
        for (int64_t x = near_from; x < 640; ++x) t[(c * 480 + y) * 640 + x] = s[(c * 480 + y) * 640 + x];
    near = pair.truth;
    near.tx += disparity;
  }
  double to_far(const Registration& r) const { return worst_corner_error(r, pair.truth, 480, 640); }
  double to_near(const Registration& r) const { return worst_corner_error(r, near, 480, 640); }
};

}  // namespace

TEST_CASE("registration: a close-up with parallax registers on one of its layers", "[registration]") {
  const Tensor photo = texture(960, 1280, 37);
  // The near layer is 37.5% of the view, shifted by 4-8% of its width.
  for (const double disparity : {12.0, -18.0, 24.0}) {
    CAPTURE(disparity);
    const CloseUp close_up(photo, 0.8, 400, disparity, 21);
    const Registration r = register_pair(close_up.pair.wide, close_up.tele);
    CAPTURE(r.confidence, close_up.to_far(r), close_up.to_near(r));
    // The far layer holds most of the view: the transform is its own.
    CHECK(close_up.to_far(r) < 0.25);
  }
}

TEST_CASE("registration: a close-up that only the parallax search finds registers on one of its layers",
          "[registration]") {
  // Near layers of 44% and 37.5% of the view shifted by 4-6% of its width:
  // the upright search trades scale for the layers' shift and is refused on
  // every one of these (RegisterOptions::parallax = false), the parallax
  // search (search_view.h SearchVariant::parallax()) finds a layer.
  const Tensor photo = texture(960, 1280, 41);
  for (const int64_t near_from : {360, 400})
    for (const double disparity : {12.0, -16.0}) {
      CAPTURE(near_from, disparity);
      const CloseUp close_up(photo, 0.6, near_from, disparity, 23);
      const Registration r = register_pair(close_up.pair.wide, close_up.tele);
      CAPTURE(r.confidence, close_up.to_far(r), close_up.to_near(r));
      CHECK(std::min(close_up.to_far(r), close_up.to_near(r)) < 0.25);
      RegisterOptions without;
      without.parallax = false;
      CHECK_THROWS_WITH(register_pair(close_up.pair.wide, close_up.tele, without), Catch::Contains("does not match"));
    }
}

TEST_CASE("registration: an unrelated pair is refused, naming the confidence and the way out", "[registration]") {
  const Tensor wide = texture(240, 320, 31);
  const Tensor tele = texture(240, 320, 32);
  try {
    register_pair(wide, tele);
    FAIL("an unrelated pair was registered");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("confidence") && Catch::Contains(" required") &&
                            Catch::Contains("searched: zoom 1.2x-16x, rotation up to 15 degrees") &&
                            Catch::Contains("(and within 5 of a quarter or half turn)") &&
                            Catch::Contains("check the pair"));
    // The way out depends on the command (dcsr sr adds --registration none; prepare --real has no such option).
    CHECK(message.find("--registration") == std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
  // Bad shapes are errors naming the image.
  CHECK_THROWS_WITH(register_pair(zeros({1, 3, 16, 16}), tele), Catch::Contains("wide image is 16x16"));
  CHECK_THROWS_WITH(register_pair(wide, zeros({3, 20, 20})), Catch::Contains("telephoto image must be RGB"));
}

TEST_CASE("registration: JSON round trip and its errors", "[registration]") {
  Registration r;
  r.tele_to_wide = {3.25, -0.031, 812.5, 403.75};
  r.confidence = 0.8125;
  r.fov_quad = fov_quad(r.tele_to_wide, 3024, 4032);
  const Registration back = registration_from_json(nlohmann::json::parse(registration_to_json(r).dump()), "r.json");
  CHECK(back.tele_to_wide.scale == r.tele_to_wide.scale);
  CHECK(back.tele_to_wide.angle == r.tele_to_wide.angle);
  CHECK(back.tele_to_wide.tx == r.tele_to_wide.tx);
  CHECK(back.tele_to_wide.ty == r.tele_to_wide.ty);
  CHECK(back.confidence == r.confidence);
  CHECK(back.fov_quad == r.fov_quad);
  CHECK(back.identity == false);
  nlohmann::json bad = registration_to_json(r);
  bad["tele_to_wide"].erase("tx");
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("r.json") && Catch::Contains("'tx'"));
  bad = registration_to_json(r);
  bad["tele_to_wide"]["scale"] = -1.0;
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("scale must be positive"));
  bad = registration_to_json(r);
  bad["fov_quad"].erase(0);
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("4 corners"));
  CHECK_THROWS_WITH(registration_from_json(nlohmann::json::array(), "r.json"), Catch::Contains("must be an object"));
  bad = registration_to_json(r);
  bad.erase("format");
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("dcsr-registration-1"));
  bad = registration_to_json(r);
  bad["tele_to_wide"]["scale"] = 0.5;  // the telephoto the wider view: a swapped pair
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("outside 1-64"));
  bad = registration_to_json(r);
  bad["confidence"] = -5.0;
  CHECK_THROWS_WITH(registration_from_json(bad, "r.json"), Catch::Contains("outside [-1, 1]"));
}

TEST_CASE("registration: dcsr register prints the transform, writes its outputs, and its errors name the file", "[registration][cli]") {
  test::TempDir dir("register");
  const Tensor photo = texture(480, 640, 41);
  const SyntheticPair pair = make_synthetic_pair(photo, 240, 320, 240, 320, 2.0, 1.0, 170.0, 115.0, {}, {}, 3);
  write_png(dir / "wide.png", pair.wide);
  write_png(dir / "tele.png", pair.tele);
  write_png(dir / "other.png", texture(240, 320, 42));
  const std::string wide = quote(dir / "wide.png"), tele = quote(dir / "tele.png");

  const RunResult ok = run_dcsr("register --lr " + wide + " --ref " + tele + " --json " + quote(dir / "r.json") +
                                " --overlay " + quote(dir / "o.png") + " --check " + quote(dir / "c.png"));
  INFO(ok.output);
  REQUIRE(ok.status == 0);
  CHECK_THAT(ok.output, (Catch::Contains("scale 1.99") || Catch::Contains("scale 2.00")) &&
                            (Catch::Contains("angle 0.99") || Catch::Contains("angle 1.00")) &&
                            Catch::Contains("confidence") && Catch::Contains("field of view"));
  std::ifstream in(dir / "r.json");
  const Registration r = registration_from_json(nlohmann::json::parse(in), "r.json");
  CHECK(worst_corner_error(r, pair.truth, 240, 320) < 0.25);
  const Tensor overlay = read_image(dir / "o.png");
  CHECK(overlay.size(2) == 240);
  CHECK(overlay.size(3) == 320);
  // The checkerboard covers the view's bounding box at the telephoto's density (scale 2).
  const Tensor check = read_image(dir / "c.png");
  CHECK(std::abs(check.size(3) - 2 * 162) <= 2);
  CHECK(std::abs(check.size(2) - 2 * 123) <= 2);

  REQUIRE_FAILS_WITH(run_dcsr("register --ref " + tele), 2, "missing option --lr");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + quote(dir / "none.png") + " --ref " + tele), 1, "none.png");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + wide + " --ref " + tele + " --overlay " + quote(dir / "o.jpg")), 2,
                     "ending in .png");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + wide + " --ref " + tele + " --check " + quote(dir / "c.bmp")), 2,
                     "ending in .png");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + wide + " --ref " + tele + " --overlay " + quote(dir / "o.png") +
                              " --check " + quote(dir / "o.png")),
                     2, "same file");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + wide + " --ref " + tele + " --json " + tele), 2, "is an input");
  REQUIRE_FAILS_WITH(run_dcsr("register --lr " + wide + " --ref " + tele + " --min-confidence 3"), 2,
                     "--min-confidence");
  const RunResult refused =
      run_dcsr("register --lr " + wide + " --ref " + quote(dir / "other.png") + " --json " + quote(dir / "x.json"));
  REQUIRE_FAILS_WITH(refused, 1, "--registration none");
  CHECK_FALSE(std::filesystem::exists(dir / "x.json"));
}

TEST_CASE("registration: dcsr demo registers a phone pair as dcsr sr does", "[registration][cli][demo]") {
  test::TempDir dir("demo_registered");
  const Tensor photo = texture(240, 320, 43);
  // A 1.9x telephoto with the wide's pixel count, its view off the centre.
  const SyntheticPair pair = make_synthetic_pair(photo, 120, 160, 120, 160, 1.9, -1.0, 95.0, 55.0, {}, {}, 4);
  write_png(dir / "wide.png", pair.wide);
  write_png(dir / "tele.png", pair.tele);
  test::write_model(dir / "m.ckpt", 4);
  const std::string inputs = " --lr wide.png --ref tele.png --model m.ckpt";
  const RunResult demo = run_dcsr("demo" + inputs + " --out d", dir.str());
  INFO(demo.output);
  REQUIRE(demo.status == 0);
  CHECK_THAT(demo.output, (Catch::Contains("registration (auto): scale 1.89") || Catch::Contains("registration (auto): scale 1.90")) &&
                              Catch::Contains("over LR rows"));
  const RunResult sr = run_dcsr("sr" + inputs + " --mode 8k --out sr.png --quiet", dir.str());
  INFO(sr.output);
  REQUIRE(sr.status == 0);
  // The same registration, normalisation and tiling: the same bytes.
  CHECK(test::read_bytes_of(dir / "d/sr.png") == test::read_bytes_of(dir / "sr.png"));
  CHECK(read_image(dir / "d/side_by_side.png").size(3) > 3 * 320);
}

TEST_CASE("registration: dcsr sr on a wide photo cropped through the telephoto's view", "[registration][cli]") {
  test::TempDir dir("sr_partial_view");
  const Tensor photo = texture(240, 320, 44);
  // A 2.2x view centred in the whole wide image; the wide photo is then cropped
  // at column 70, so that about 60% of the view is left in it.
  const SyntheticPair whole = make_synthetic_pair(photo, 120, 160, 120, 160, 2.2, 0.8, 80.0, 60.0, {}, {}, 5);
  const SyntheticPair pair = crop_wide(whole, 0, 70, 120, 90);
  write_png(dir / "wide.png", pair.wide);
  write_png(dir / "tele.png", pair.tele);
  test::write_model(dir / "m.ckpt", 4);
  const RunResult sr =
      run_dcsr("sr --lr wide.png --ref tele.png --model m.ckpt --mode 8k --out sr.jpg --quality 90", dir.str());
  INFO(sr.output);
  REQUIRE(sr.status == 0);
  CHECK_THAT(sr.output, (Catch::Contains("registration (auto): scale 2.19") ||
                         Catch::Contains("registration (auto): scale 2.20")) &&
                            Catch::Contains("over LR rows"));
  const Tensor out = read_image(dir / "sr.jpg");
  CHECK(out.size(2) == 240);
  CHECK(out.size(3) == 180);
}

TEST_CASE("registration: the refinement's median magnitude is nth_element's, on any thread count",
          "[registration]") {
  // median_magnitude (refine.h) selects by the bits of |value| in parallel
  // passes; it must give the value std::nth_element gives over the valid
  // samples' magnitudes, with ties, zeros of both signs, tiny and huge values,
  // all or few samples valid, and sizes around its block split.
  std::mt19937 rng(17);
  for (int64_t n : {0, 1, 2, 15, 16, 17, 1000, 4096, 4097, 250000, 300001}) {
    for (int kind = 0; kind < 4; ++kind) {
      CAPTURE(n, kind);
      std::vector<float> values(static_cast<size_t>(n));
      std::vector<uint8_t> valid(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t r = rng();
        float v = std::ldexp(float(int(r % 2001) - 1000), -int(r % 7));  // many ties, both signs
        if (kind == 1) v = r % 5 == 0 ? -0.0f : r % 5 == 1 ? 0.0f : std::ldexp(1.0f, -140) * float(r % 3);
        if (kind == 2) v = std::ldexp(float(r % 1000) + 1.0f, int(r % 200) - 100);  // 2^-100 to 2^109
        values[size_t(i)] = v;
        valid[size_t(i)] = kind == 3 ? r % 97 == 0 : r % 4 != 0;
      }
      std::vector<float> magnitudes;
      for (int64_t i = 0; i < n; ++i)
        if (valid[size_t(i)]) magnitudes.push_back(std::abs(values[size_t(i)]));
      for (int threads : {1, 2, 5}) {
        ScopedThreadLimit limit(threads);
        const registration::MedianMagnitude got = registration::median_magnitude(values.data(), valid.data(), n);
        CHECK(got.count == int64_t(magnitudes.size()));
        if (magnitudes.empty()) continue;
        std::vector<float> sorted = magnitudes;
        std::nth_element(sorted.begin(), sorted.begin() + ptrdiff_t(sorted.size() / 2), sorted.end());
        const float want = sorted[sorted.size() / 2];
        CHECK(std::memcmp(&got.value, &want, sizeof(float)) == 0);
      }
    }
  }
}
