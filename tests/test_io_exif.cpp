// EXIF orientation (io/exif.h): JPEGs the test writes itself, with an EXIF
// APP1 segment spliced in after SOI, come out of read_image() upright for all
// eight orientations and both TIFF byte orders; malformed EXIF is ignored.
#include <filesystem>

#include "io/exif.h"
#include "test_io_helpers.h"
#include "test_util.h"

using namespace dcsr;

namespace {

// The stored pixels of an upright image for an EXIF orientation, built from
// the standard's own words ("stored row 0 is the visual ..., stored column 0
// is the visual ...", EXIF 2.3 tag 274), independently of io/exif.h's mapping.
// upright: (1, 3, H, W) -> stored (1, 3, H, W) or (1, 3, W, H).
Tensor stored_for(const Tensor& upright, int orientation) {
  const int64_t h = upright.size(2), w = upright.size(3);
  const bool swap = orientation >= 5;
  const int64_t sh = swap ? w : h, sw = swap ? h : w;
  const std::vector<float> u = upright.to_vector<float>();
  std::vector<float> s(u.size());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < sh; ++r)
      for (int64_t k = 0; k < sw; ++k) {
        int64_t y = 0, x = 0;  // the upright pixel stored at (r, k)
        switch (orientation) {
          case 1: y = r, x = k; break;                   // row 0 top, column 0 left
          case 2: y = r, x = w - 1 - k; break;           // row 0 top, column 0 right
          case 3: y = h - 1 - r, x = w - 1 - k; break;   // row 0 bottom, column 0 right
          case 4: y = h - 1 - r, x = k; break;           // row 0 bottom, column 0 left
          case 5: y = k, x = r; break;                   // row 0 left, column 0 top
          case 6: y = k, x = w - 1 - r; break;           // row 0 right, column 0 top
          case 7: y = h - 1 - k, x = w - 1 - r; break;   // row 0 right, column 0 bottom
          default: y = h - 1 - k, x = r; break;          // 8: row 0 left, column 0 bottom
        }
        s[size_t((c * sh + r) * sw + k)] = u[size_t((c * h + y) * w + x)];
      }
  return from_vector<float>(s, {1, 3, sh, sw});
}

// Mean absolute difference of two images of the same shape.
double mean_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) sum += std::abs(double(x[i]) - double(y[i]));
  return sum / double(x.size());
}

}  // namespace

TEST_CASE("forward: all 8 EXIF orientations read upright, both byte orders", "[io][exif]") {
  test::TempDir dir("io_exif");
  // Non-square, with a different picture in every corner, so that a wrong
  // turn, flip or transpose shows as a large difference (or a wrong shape).
  const int64_t h = 24, w = 40;
  const Tensor upright = test::test_image(h, w, 3);
  for (bool big_endian : {false, true})
    for (int orientation = 1; orientation <= 8; ++orientation) {
      INFO("orientation " << orientation << (big_endian ? ", big-endian" : ", little-endian"));
      const Tensor stored = stored_for(upright, orientation);
      const std::string jpeg = test::jpeg_bytes(test::interleaved_rgb(stored), stored.size(3), stored.size(2));
      const std::string path = dir / ("o" + std::to_string(orientation) + (big_endian ? "m" : "i") + ".jpg");
      test::write_bytes(path, test::with_exif(jpeg, test::exif_tiff(orientation, big_endian)));

      const Tensor read = read_image(path);
      REQUIRE(read.shape() == Shape{1, 3, h, w});
      CHECK(mean_abs_diff(read, upright) < 0.01);  // JPEG at quality 98: about 0.003
      const ImageU8 u8 = read_image_u8(path);
      CHECK(u8.height == h);
      CHECK(u8.width == w);
      test::require_close(image_to_tensor(u8), read, 1e-6);
      const ImageInfo info = read_image_info(path);
      CHECK(info.height == h);
      CHECK(info.width == w);
    }
}

TEST_CASE("forward: a PNG's eXIf orientation reads upright too, bit for bit", "[io][exif]") {
  // It used to be ignored on reading while the outputs' EXIF said Orientation
  // 1: an output stored sideways and declared upright.
  test::TempDir dir("io_exif_png");
  const Tensor upright = test::test_image(24, 40, 5);
  const ImageU8 upright8 = tensor_to_image(upright);
  for (int orientation = 1; orientation <= 8; ++orientation) {
    INFO("orientation " << orientation);
    ImageWriteOptions o;
    o.exif = test::exif_tiff(orientation, orientation % 2 == 0);
    const std::string path = dir / ("o" + std::to_string(orientation) + ".png");
    write_image(path, stored_for(image_to_tensor(upright8), orientation), o);
    const ImageU8 read = read_image_u8(path);
    REQUIRE((read.height == 24 && read.width == 40));
    CHECK(read.data == upright8.data);
    CHECK(read_image_info(path).width == 40);
  }
}

TEST_CASE("forward: the stored pixels of other orientations differ from the upright ones", "[io][exif]") {
  // The check above is only meaningful if the eight layouts are different
  // pictures: a stored image read as if upright is far from the upright one.
  const Tensor upright = test::test_image(24, 40, 3);
  for (int orientation = 2; orientation <= 8; ++orientation) {
    const Tensor stored = stored_for(upright, orientation);
    if (stored.shape() == upright.shape()) CHECK(mean_abs_diff(stored, upright) > 0.05);
  }
}

TEST_CASE("errors: a malformed EXIF block is ignored, never trusted", "[io][exif]") {
  test::TempDir dir("io_exif");
  const Tensor image = test::test_image(16, 24, 4);
  const std::string jpeg = test::jpeg_bytes(test::interleaved_rgb(image), 24, 16);
  const std::string good = test::exif_tiff(6, false);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"short", good.substr(0, 5)},
      {"bad order", "XX" + good.substr(2)},
      {"bad magic", good.substr(0, 2) + std::string("\x2B\x00", 2) + good.substr(4)},
      {"IFD past the end", good.substr(0, 4) + std::string("\xF0\xFF\x00\x00", 4) + good.substr(8)},
      {"entries past the end", good.substr(0, 8) + std::string("\xFF\xFF", 2) + good.substr(10, 12)},
      {"cut in the entry", good.substr(0, 30)},
      {"value 9", test::exif_tiff(9, false)},
      {"value 0", test::exif_tiff(0, true)},
  };
  for (const auto& [name, tiff] : cases) {
    INFO(name);
    const std::string path = dir / "bad_exif.jpg";
    test::write_bytes(path, test::with_exif(jpeg, tiff));
    const Tensor read = read_image(path);  // as stored: orientation 1
    REQUIRE(read.shape() == Shape{1, 3, 16, 24});
    CHECK(mean_abs_diff(read, image) < 0.01);
  }
  // The parser itself, straight on the bytes.
  const auto* g = reinterpret_cast<const uint8_t*>(good.data());
  CHECK(exif_orientation(g, good.size()) == 6);
  // The orientation value is bytes 30-31: any block cut before them reads as 1.
  for (size_t cut = 0; cut < good.size(); ++cut) CHECK(exif_orientation(g, cut) == (cut >= 32 ? 6 : 1));
  CHECK(exif_orientation(nullptr, 100) == 1);
}

TEST_CASE("forward: Orientation maps every upright pixel to one stored pixel", "[io][exif]") {
  for (int tag = 1; tag <= 8; ++tag) {
    Orientation o{tag, 3, 5};
    CHECK(o.height() * o.width() == 15);
    std::vector<int> hits(15, 0);
    for (int64_t y = 0; y < o.height(); ++y)
      for (int64_t x = 0; x < o.width(); ++x) {
        const int64_t s = o.source(y, x);
        REQUIRE(s >= 0);
        REQUIRE(s < 15);
        ++hits[size_t(s)];
        CHECK(o.row(y).first + x * o.row(y).step == s);  // rows are evenly spaced (image_io.cpp copies them so)
      }
    for (int n : hits) CHECK(n == 1);
  }
}
