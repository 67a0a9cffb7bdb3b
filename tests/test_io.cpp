// Image files: round trips, formats, grey/alpha conversion, atomic writes and
// the error messages for bad files.
#include <stb_image_write.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "dcsr/inference/metrics.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;
namespace fs = std::filesystem;

namespace {

// Captures what the code under test prints on std::cerr.
class CaptureStderr {
 public:
  CaptureStderr() : old_(std::cerr.rdbuf(buffer_.rdbuf())) {}
  ~CaptureStderr() { std::cerr.rdbuf(old_); }
  std::string text() const { return buffer_.str(); }

 private:
  std::ostringstream buffer_;
  std::streambuf* old_;
};

std::vector<uint8_t> interleaved_u8(const Tensor& img, int64_t channels) {
  const int64_t h = img.size(2), w = img.size(3);
  std::vector<double> v = quantize(img).to_vector<double>();
  std::vector<uint8_t> out(size_t(h * w * channels));
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < channels; ++c)
      out[size_t(i * channels + c)] = uint8_t(std::lround(v[size_t((c % 3) * h * w + i)] * 255.0));
  return out;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("forward: PNG round trip is exact after 8-bit quantisation", "[io]") {
  test::TempDir dir("io");
  Tensor img = test::test_image(13, 17, 3);
  write_png(dir / "a.png", img);
  Tensor back = read_image(dir / "a.png");
  REQUIRE(back.shape() == Shape{1, 3, 13, 17});
  CHECK(back.dtype() == kFloat32);
  test::require_close(back, quantize(img), 1e-7);
  ImageU8 u8 = read_image_u8(dir / "a.png");
  CHECK(u8.height == 13);
  CHECK(u8.width == 17);
  test::require_close(image_to_tensor(u8), back, 1e-12);
  ImageInfo info = read_image_info(dir / "a.png");
  CHECK(info.height == 13);
  CHECK(info.width == 17);
  CHECK(info.channels == 3);
  // Out-of-range values are clamped, not wrapped.
  Tensor wild = from_vector<float>({-0.5f, 1.5f, 0.5f}, {3, 1, 1});
  write_png(dir / "b.png", wild);
  CHECK(read_image(dir / "b.png").to_vector<float>() == std::vector<float>{0.0f, 1.0f, 128.0f / 255.0f});
}

TEST_CASE("forward: grey and alpha images become RGB with a warning", "[io]") {
  test::TempDir dir("io");
  Tensor img = test::test_image(6, 5, 4);
  std::vector<uint8_t> grey = interleaved_u8(img, 1), rgba = interleaved_u8(img, 4), ga = interleaved_u8(img, 2);
  REQUIRE(stbi_write_png((dir / "grey.png").c_str(), 5, 6, 1, grey.data(), 5));
  REQUIRE(stbi_write_png((dir / "rgba.png").c_str(), 5, 6, 4, rgba.data(), 20));
  REQUIRE(stbi_write_png((dir / "ga.png").c_str(), 5, 6, 2, ga.data(), 10));
  {
    CaptureStderr err;
    Tensor g = read_image(dir / "grey.png");
    CHECK_THAT(err.text(), Catch::Contains("grey.png") && Catch::Contains("greyscale"));
    std::vector<float> v = g.to_vector<float>();
    for (int64_t i = 0; i < 30; ++i) {
      CHECK(v[size_t(i)] == v[size_t(30 + i)]);
      CHECK(v[size_t(i)] == v[size_t(60 + i)]);
      CHECK(v[size_t(i)] == float(grey[size_t(i)]) / 255.0f);
    }
  }
  {
    CaptureStderr err;
    Tensor a = read_image(dir / "rgba.png");
    CHECK_THAT(err.text(), Catch::Contains("rgba.png") && Catch::Contains("alpha"));
    CHECK(a.shape() == Shape{1, 3, 6, 5});
    test::require_close(a, quantize(img), 1e-7);  // alpha dropped, colours kept
  }
  {
    CaptureStderr err;
    read_image(dir / "ga.png");
    CHECK_THAT(err.text(), Catch::Contains("greyscale") && Catch::Contains("alpha"));
  }
  {
    CaptureStderr err;
    write_png(dir / "rgb.png", img);
    read_image(dir / "rgb.png");
    CHECK(err.text().empty());  // plain RGB: silent
  }
}

TEST_CASE("forward: JPEG and BMP are read", "[io]") {
  test::TempDir dir("io");
  Tensor img = test::test_image(16, 24, 5);
  std::vector<uint8_t> rgb = interleaved_u8(img, 3);
  REQUIRE(stbi_write_bmp((dir / "a.bmp").c_str(), 24, 16, 3, rgb.data()));
  test::require_close(read_image(dir / "a.bmp"), quantize(img), 1e-7);
  REQUIRE(stbi_write_jpg((dir / "a.jpg").c_str(), 24, 16, 3, rgb.data(), 98));
  Tensor j = read_image(dir / "a.jpg");
  REQUIRE(j.shape() == Shape{1, 3, 16, 24});
  test::require_close(j, img, 0.08);  // lossy, but the same picture
}

TEST_CASE("errors: missing, empty, garbage, truncated files name the file", "[io]") {
  test::TempDir dir("io");
  CHECK_THROWS_WITH(read_image(dir / "nope.png"), Catch::Contains("nope.png") && Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(read_image(dir.str()), Catch::Contains("is a folder"));
  test::write_bytes(dir / "empty.png", "");
  CHECK_THROWS_WITH(read_image(dir / "empty.png"), Catch::Contains("empty.png") && Catch::Contains("empty"));
  test::write_bytes(dir / "text.png", "this is not an image at all, just some words");
  CHECK_THROWS_WITH(read_image(dir / "text.png"), Catch::Contains("cannot read image") && Catch::Contains("text.png"));
  CHECK_THROWS_WITH(read_image_info(dir / "text.png"), Catch::Contains("text.png"));

  write_png(dir / "good.png", test::test_image(32, 32, 6));
  std::string png = test::read_bytes_of(dir / "good.png");
  test::write_bytes(dir / "cut.png", png.substr(0, png.size() / 2));
  CHECK_THROWS_WITH(read_image(dir / "cut.png"), Catch::Contains("cut.png"));

  std::vector<uint8_t> rgb = interleaved_u8(test::test_image(32, 32, 7), 3);
  REQUIRE(stbi_write_jpg((dir / "good.jpg").c_str(), 32, 32, 3, rgb.data(), 90));
  std::string jpg = test::read_bytes_of(dir / "good.jpg");
  CHECK_NOTHROW(read_image(dir / "good.jpg"));
  test::write_bytes(dir / "cut.jpg", jpg.substr(0, jpg.size() * 3 / 4));
  CHECK_THROWS_WITH(read_image(dir / "cut.jpg"), Catch::Contains("cut.jpg") && Catch::Contains("truncated"));
}

TEST_CASE("errors: a failed PNG write leaves no file behind", "[io]") {
  test::TempDir dir("io");
  CHECK_THROWS_WITH(write_png(dir / "missing/out.png", test::test_image(4, 4)),
                    Catch::Contains("out.png") && Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(write_png(dir / "bad.png", zeros({1, 2, 4, 4})), Catch::Contains("1 or 3 channels"));
  CHECK_THROWS_WITH(write_png(dir / "bad.png", zeros({4, 4})), Catch::Contains("(1, C, H, W)"));
  CHECK(files_in(dir.str()) == 0);
  // Overwriting is atomic: the old file stays whole when the new write fails.
  write_png(dir / "keep.png", test::test_image(4, 4, 8));
  std::string before = test::read_bytes_of(dir / "keep.png");
  CHECK_THROWS(write_png(dir / "keep.png", zeros({1, 2, 4, 4})));
  CHECK(test::read_bytes_of(dir / "keep.png") == before);
  CHECK(files_in(dir.str()) == 1);  // no temporary left over
}

TEST_CASE("forward: list_images keeps image files sorted by name", "[io]") {
  test::TempDir dir("io");
  for (const char* name : {"b.png", "a.JPG", "c.bmp", "notes.txt", "d.jpeg"}) test::write_bytes(dir / name, "x");
  fs::create_directories(dir / "sub.png");
  std::vector<std::string> files = list_images(dir.str());
  REQUIRE(files.size() == 4);
  CHECK(fs::path(files[0]).filename() == "a.JPG");
  CHECK(fs::path(files[1]).filename() == "b.png");
  CHECK(fs::path(files[2]).filename() == "c.bmp");
  CHECK(fs::path(files[3]).filename() == "d.jpeg");
  CHECK_THROWS_WITH(list_images(dir / "nothing"), Catch::Contains("nothing") && Catch::Contains("does not exist"));
}
