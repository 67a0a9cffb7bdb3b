// `dcsr prepare`'s camera simulation (dcsr/data/camera_sim.h): the geometry
// without perturbation, the zoom and parallax undone or applied as documented,
// and the same seed giving byte-identical pairs with every parameter recorded.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dcsr/data/camera_sim.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.data<float>()[i] != b.data<float>()[i]) return false;
  return true;
}

// A dark image with one bright Gaussian spot (sigma 2 px) at (y, x).
Tensor spot_image(int64_t h, int64_t w, double y, double x) {
  Tensor t = empty({1, 3, h, w});
  float* d = t.data<float>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < h; ++r)
      for (int64_t col = 0; col < w; ++col)
        d[(c * h + r) * w + col] =
            float(0.1 + 0.8 * std::exp(-((r - y) * (r - y) + (col - x) * (col - x)) / (2.0 * 4.0)));
  return t;
}

// The brightness-weighted centre {y, x} of channel 0 above the background.
std::array<double, 2> centroid(const Tensor& t) {
  const int64_t h = t.size(2), w = t.size(3);
  double s = 0, sy = 0, sx = 0;
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      const double v = std::max(0.0, double(t.data<float>()[r * w + c]) - 0.1);
      s += v, sy += v * double(r), sx += v * double(c);
    }
  return {sy / s, sx / s};
}

}  // namespace

TEST_CASE("forward: the camera simulation without perturbation is the canonical layout", "[prepare][camera]") {
  const Tensor photo = test::test_image(64, 96, 4);  // HR 64 x 96, LR 32 x 48
  Generator gen(1);
  const SimulatedPair s = simulate_camera_pair(photo, CameraSimParams{}, gen);
  REQUIRE(s.ref_x2.size(2) == 32);
  REQUIRE(s.ref_x2.size(3) == 48);
  REQUIRE(s.ref_x1.size(2) == 64);
  // Ref/x2 pixel (r, c) is HR pixel (h/2 + r, w/2 + c) = (16 + r, 24 + c).
  double worst = 0.0;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < 32; ++r)
      for (int64_t x = 0; x < 48; ++x)
        worst = std::max(worst, std::abs(double(s.ref_x2.data<float>()[(c * 32 + r) * 48 + x]) -
                                         double(s.hr.data<float>()[(c * 64 + 16 + r) * 96 + 24 + x])));
  CHECK(worst < 1e-5);
}

TEST_CASE("forward: the zoom is normalised back, a parallax field moves the content", "[prepare][camera]") {
  // A spot 10 HR px below and 14 right of the centre: Ref/x2 shows it at
  // (16 + 10 + ..) for every zoom, since normalisation undoes the zoom.
  const Tensor photo = spot_image(64, 96, 31.5 + 10.0, 47.5 + 14.0);
  const std::array<double, 2> expected = {15.5 + 10.0, 23.5 + 14.0};
  for (double zoom : {1.85, 2.0, 2.15}) {
    CameraSimParams p;
    p.zoom = zoom;
    Generator gen(1);
    const SimulatedPair s = simulate_camera_pair(photo, p, gen);
    INFO("zoom " << zoom);
    const std::array<double, 2> at = centroid(s.ref_x2);
    CHECK(at[0] == Approx(expected[0]).margin(0.1));
    CHECK(at[1] == Approx(expected[1]).margin(0.1));
  }
  CameraSimParams shifted;
  shifted.parallax.grid_h = shifted.parallax.grid_w = 2;
  shifted.parallax.dy.assign(4, 1.5);  // the telephoto reads 1.5 px lower: the content moves up
  shifted.parallax.dx.assign(4, -2.0);
  Generator gen(1);
  const std::array<double, 2> at = centroid(simulate_camera_pair(photo, shifted, gen).ref_x2);
  CHECK(at[0] == Approx(expected[0] - 1.5).margin(0.1));
  CHECK(at[1] == Approx(expected[1] + 2.0).margin(0.1));
}

TEST_CASE("forward: the camera simulation is deterministic for a seed, and the LR path is untouched",
          "[prepare][camera]") {
  const Tensor photo = test::test_image(72, 88, 6);
  Generator d1(5, 2), d2(5, 2), d3(6, 2);
  const CameraSimParams p1 = draw_camera_sim(d1), p2 = draw_camera_sim(d2), p3 = draw_camera_sim(d3);
  CHECK(camera_sim_to_json(p1) == camera_sim_to_json(p2));
  CHECK(camera_sim_to_json(p1) != camera_sim_to_json(p3));
  CHECK(p1.zoom >= 1.85);
  CHECK(p1.zoom < 2.15);
  const SimulatedPair a = simulate_camera_pair(photo, p1, d1), b = simulate_camera_pair(photo, p2, d2);
  CHECK(same_values(a.ref_x2, b.ref_x2));
  CHECK(same_values(a.ref_x1, b.ref_x1));
  const SimulatedPair c = simulate_camera_pair(photo, p3, d3);
  CHECK(!same_values(a.ref_x2, c.ref_x2));
  // LR/x2 and HR do not depend on the simulation: the classic one gives the same.
  Generator g4(1);
  const SimulatedPair classic = simulate_dual_camera(photo, DualCameraParams{}, g4);
  CHECK(same_values(a.lr_x2, classic.lr_x2));
  CHECK(same_values(a.hr, classic.hr));
}

TEST_CASE("forward: prepare --sim camera gives byte-identical pairs for a seed and records every parameter",
          "[prepare][camera]") {
  test::TempDir dir("prepare_camera");
  fs::create_directories(dir / "photos");
  write_png(dir / "photos/a.png", test::test_image(70, 90, 1));
  write_png(dir / "photos/b.png", test::test_image(64, 80, 2));
  PrepareOptions opt;
  opt.photos_dir = dir / "photos";
  opt.seed = 9;
  for (const char* out : {"out1", "out2"}) {
    opt.out_dir = dir / out;
    REQUIRE(prepare_dataset(opt) == 2);
  }
  for (const char* sub : {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"})
    for (const char* name : {"a.png", "b.png"}) {
      INFO(sub << "/" << name);
      const std::string one = test::read_bytes_of(dir / ("out1/" + std::string(sub) + "/" + name));
      CHECK(!one.empty());
      CHECK(one == test::read_bytes_of(dir / ("out2/" + std::string(sub) + "/" + name)));
    }
  std::ifstream in(dir / "out1/prepare.json");
  const nlohmann::json record = nlohmann::json::parse(in);
  CHECK(record.at("simulation") == "camera");
  REQUIRE(record.at("pairs").size() == 2);
  for (const char* key : {"zoom", "angle_deg", "scale", "translation", "parallax", "blur_sigma", "vignette", "noise",
                          "colour", "jpeg_quality"})
    CHECK(record["pairs"][0].contains(key));

  opt.simulation = Simulation::Classic;
  opt.out_dir = dir / "classic";
  prepare_dataset(opt);
  std::ifstream in2(dir / "classic/prepare.json");
  const nlohmann::json classic = nlohmann::json::parse(in2);
  CHECK(classic.at("simulation") == "classic");
  CHECK(classic["pairs"][0].contains("gain"));
  CHECK(!classic["pairs"][0].contains("zoom"));
  CHECK(test::read_bytes_of(dir / "classic/LR/x2/a.png") == test::read_bytes_of(dir / "out1/LR/x2/a.png"));
  CHECK(test::read_bytes_of(dir / "classic/Ref/x2/a.png") != test::read_bytes_of(dir / "out1/Ref/x2/a.png"));
}
