// `dcsr sr` with registration and on folders (apps/dcsr/cmd_sr.cpp), through
// the built binary as tests/test_cli.cpp does: a saved registration, the
// refusal of an unrelated pair, and batch mode skipping a corrupt pair with an
// exit status that says so.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "registration_fixtures.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

using test::quote;
using test::registration_of;
using test::run_dcsr;
using test::RunResult;

// The synthetic scene the wide image and the telephoto show.
double wide_scene(double x, double y, int64_t c) {
  return 0.5 + 0.3 * std::sin(0.37 * x + 0.21 * y + double(c)) * std::cos(0.13 * y - 0.05 * x);
}

// Its telephoto through t.
Tensor render_tele(const Similarity& t, int64_t th, int64_t tw) { return test::tele_of(wide_scene, t, th, tw); }

}  // namespace

TEST_CASE("forward: dcsr sr takes a saved registration and resamples the telephoto", "[cli][sr_batch]") {
  test::TempDir dir("sr_reg");
  const std::string model = dir / "m.ckpt";
  test::write_model(model, 4);
  const int64_t h = 40, w = 56;
  write_png(dir / "wide.png", render_tele(Similarity{1.0, 0.0, 0.0, 0.0}, h, w));
  const Similarity t{3.0, 0.03, 17.0, 9.0};
  write_png(dir / "tele.png", render_tele(t, 60, 75));
  {
    std::ofstream json(dir / "r.json");
    json << registration_to_json(registration_of(t, 60, 75, 0.9)).dump(2);
  }
  RunResult r = run_dcsr("sr --lr wide.png --ref tele.png --out out.png --registration r.json --model " + quote(model),
                         dir.str());
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("registration (r.json): scale 3.0000, angle 1.719 deg"));
  // The Ref covers the view's bounds at twice the density; the rectangle inside the view is named too.
  const FovRect b = view_bounds(t, 60, 75, h, w), f = fov_rect(t, 60, 75, h, w);
  CHECK_THAT(r.output, Catch::Contains("Ref " + std::to_string(2 * b.width) + "x" + std::to_string(2 * b.height) +
                                       " over LR rows " + std::to_string(b.y0) + "+" + std::to_string(b.height)));
  CHECK_THAT(r.output, Catch::Contains("inside the view: rows " + std::to_string(f.y0) + "+" +
                                       std::to_string(f.height) + ", cols " + std::to_string(f.x0) + "+" +
                                       std::to_string(f.width)));
  const ImageInfo out = read_image_info(dir / "out.png");
  CHECK((out.height == 2 * h && out.width == 2 * w));
  // A registration made for another telephoto size is refused, naming the problem; nothing is written.
  write_png(dir / "tele_small.png", render_tele(t, 50, 75));
  RunResult bad = run_dcsr(
      "sr --lr wide.png --ref tele_small.png --out out2.png --registration r.json --model " + quote(model), dir.str());
  REQUIRE_FAILS_WITH(bad, 1, "another size");
  CHECK_FALSE(fs::exists(dir / "out2.png"));
  // 'identity' set by hand on a transform that is not the canonical layout
  // (it made sr use the telephoto as it is, unchecked).
  {
    nlohmann::json tampered = registration_to_json(registration_of(t, 60, 75, 0.9));
    tampered["identity"] = true;
    std::ofstream json(dir / "r_identity.json");
    json << tampered.dump(2);
  }
  REQUIRE_FAILS_WITH(run_dcsr("sr --lr wide.png --ref tele.png --out out3.png --registration r_identity.json --model " +
                                  quote(model),
                              dir.str()),
                     1, "'identity' is true, but its transform is not the canonical layout");
  CHECK_FALSE(fs::exists(dir / "out3.png"));
  REQUIRE_FAILS_WITH(run_dcsr("sr --lr wide.png --ref tele.png --out o.png --registration nofile.json --model " +
                                  quote(model),
                              dir.str()),
                     1, "neither auto, none nor an existing registration JSON file");
}

TEST_CASE("errors: dcsr sr refuses an unrelated pair and names --registration none", "[cli][sr_batch]") {
  test::TempDir dir("sr_refuse");
  const std::string model = dir / "m.ckpt";
  test::write_model(model, 4);
  write_png(dir / "wide.png", test::test_image(96, 128, 1));
  Generator gen(7);
  write_png(dir / "noise.png", uniform({1, 3, 96, 128}, gen));
  RunResult r = run_dcsr("sr --lr wide.png --ref noise.png --out out.png --model " + quote(model), dir.str());
  REQUIRE_FAILS_WITH(r, 1, "--registration none");
  CHECK_FALSE(fs::exists(dir / "out.png"));
  // Forced, the same pair goes through as it is.
  RunResult forced =
      run_dcsr("sr --lr wide.png --ref noise.png --out out.png --registration none --quiet --model " + quote(model),
               dir.str());
  INFO(forced.output);
  CHECK(forced.status == 0);
  CHECK(fs::exists(dir / "out.png"));
}

TEST_CASE("forward: dcsr sr on folders skips a corrupt pair and says so in its exit status", "[cli][sr_batch]") {
  test::TempDir dir("sr_batch");
  const std::string model = dir / "m.ckpt";
  test::write_model(model, 4);
  fs::create_directories(dir / "wide");
  fs::create_directories(dir / "tele");
  for (int k = 0; k < 3; ++k) {
    const std::string name = "p" + std::to_string(k) + ".png";
    write_png(dir / ("wide/" + name), test::test_image(20 + k, 24, uint64_t(1 + k)));
    write_png(dir / ("tele/" + name), test::test_image(20 + k, 24, uint64_t(11 + k)));
  }
  test::write_bytes(dir / "wide/notes.txt", "not an image: ignored");
  const std::string args = "sr --lr-dir wide --ref-dir tele --registration none --model " + quote(model);
  RunResult ok = run_dcsr(args + " --out-dir out", dir.str());
  INFO(ok.output);
  REQUIRE(ok.status == 0);
  for (int k = 0; k < 3; ++k)
    CHECK(read_image_info(dir / ("out/p" + std::to_string(k) + ".png")).height == 2 * (20 + k));
  CHECK_THAT(ok.output, Catch::Contains("3 pairs written") && Catch::Contains("m.ckpt in 4k mode)"));

  // The second telephoto cut in half: pair 2 is reported and skipped, 1 and 3 are written.
  const std::string png = test::read_bytes_of(dir / "tele/p1.png");
  test::write_bytes(dir / "tele/p1.png", png.substr(0, png.size() / 2));
  RunResult some = run_dcsr(args + " --out-dir out2", dir.str());
  INFO(some.output);
  CHECK(some.status == 4);
  CHECK_THAT(some.output, Catch::Contains("pair 2/3 skipped") && Catch::Contains("p1.png"));
  CHECK_THAT(some.output, Catch::Contains("1 of 3 pairs failed") && Catch::Contains("m.ckpt in 4k mode)"));
  CHECK(fs::exists(dir / "out2/p0.png"));
  CHECK_FALSE(fs::exists(dir / "out2/p1.png"));
  CHECK(fs::exists(dir / "out2/p2.png"));

  // Up-front refusals: nothing is written.
  REQUIRE_FAILS_WITH(run_dcsr(args + " --out-dir wide", dir.str()), 1, "outputs could replace inputs");
  fs::create_directories(dir / "tele_more");
  for (const char* name : {"a.png", "b.png"}) fs::copy_file(dir / "wide/p0.png", dir / (std::string("tele_more/") + name));
  REQUIRE_FAILS_WITH(run_dcsr("sr --lr-dir wide --ref-dir tele_more --out-dir out3 --model " + quote(model), dir.str()),
                     1, "has 3 images but --ref-dir");
  CHECK_FALSE(fs::exists(dir / "out3"));
  REQUIRE_FAILS_WITH(run_dcsr(args + " --out-dir out4 --ext tif", dir.str()), 2, "--ext expects png, jpg or jpeg");
  REQUIRE_FAILS_WITH(run_dcsr(args + " --out-dir out4 --out x.png", dir.str()), 2, "does not go with");
  // Options that no pair could be written with, and a bad model, are refused
  // before any pair, leaving no folder (they were a skip per pair, exit 4, and
  // an empty folder).
  REQUIRE_FAILS_WITH(run_dcsr(args + " --out-dir out5 --ext jpg --bit-depth 16", dir.str()), 2, "--bit-depth 16");
  REQUIRE_FAILS_WITH(
      run_dcsr("sr --lr-dir wide --ref-dir tele --registration none --model nope.ckpt --out-dir out6", dir.str()), 1,
      "nope.ckpt");
  CHECK_FALSE(fs::exists(dir / "out5"));
  CHECK_FALSE(fs::exists(dir / "out6"));
}
