// `dcsr resize` writes the format of its --out extension (a real JPEG for
// .jpg, 16-bit PNG with --bit-depth 16) and refuses an unknown extension or a
// bad option before any work, leaving no file.
#include <filesystem>

#include "cli_runner.h"

using namespace dcsr;
namespace fs = std::filesystem;

TEST_CASE("cli: dcsr resize writes the format of the output's extension", "[cli][io][write]") {
  test::TempDir dir("io_resize");
  write_png(dir / "in.png", test::test_image(30, 40, 5));
  test::RunResult jpg = test::run_dcsr("resize --in in.png --out out.jpg --size 20x15 --quality 80", dir.str());
  INFO(jpg.output);
  REQUIRE(jpg.status == 0);
  const std::string jpeg = test::read_bytes_of(dir / "out.jpg");
  CHECK(jpeg.compare(0, 3, "\xFF\xD8\xFF") == 0);  // JPEG bytes, not PNG
  CHECK(read_image(dir / "out.jpg").shape() == Shape{1, 3, 15, 20});
  REQUIRE(test::run_dcsr("resize --in in.png --out out.jpeg --size 20x15 --quality 10", dir.str()).status == 0);
  CHECK(test::read_bytes_of(dir / "out.jpeg").size() < jpeg.size());

  REQUIRE(test::run_dcsr("resize --in in.png --out out16.png --size 20x15 --bit-depth 16", dir.str()).status == 0);
  const std::string png16 = test::read_bytes_of(dir / "out16.png");
  CHECK(png16.compare(0, 4, "\x89PNG") == 0);
  CHECK(uint8_t(png16[24]) == 16);  // IHDR bit depth
  REQUIRE(test::run_dcsr("resize --in in.png --out out8.png --size 20x15", dir.str()).status == 0);
  CHECK(uint8_t(test::read_bytes_of(dir / "out8.png")[24]) == 8);
}

TEST_CASE("errors: dcsr resize refuses unknown extensions and bad options, writing nothing", "[cli][io][write]") {
  test::TempDir dir("io_resize");
  write_png(dir / "in.png", test::test_image(30, 40, 6));
  REQUIRE_FAILS_WITH(test::run_dcsr("resize --in in.png --out out.tif --size 20x15", dir.str()), 1,
                     "unknown extension '.tif'");
  REQUIRE_FAILS_WITH(test::run_dcsr("resize --in in.png --out out.jpg --size 20x15 --bit-depth 16", dir.str()), 1,
                     "JPEG is 8-bit only");
  REQUIRE_FAILS_WITH(test::run_dcsr("resize --in in.png --out out.png --size 20x15 --bit-depth 12", dir.str()), 2,
                     "--bit-depth expects 8 or 16");
  REQUIRE_FAILS_WITH(test::run_dcsr("resize --in in.png --out out.jpg --size 20x15 --quality 101", dir.str()), 2,
                     "--quality expects an integer from 1 to 100");
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.str())) files += entry.is_regular_file();
  CHECK(files == 1);  // in.png only
}
