// ICC colour profiles (io/icc_profile.h): carried from a photo to the images
// made from it. Written into PNG (iCCP) and JPEG (APP2, split over segments
// when large) and read back byte for byte, with the pixels unchanged; the
// streamed writer writes the same bytes; malformed profiles are dropped, not
// copied; `dcsr sr` gives its output the wide image's profile.
#include <stb_image.h>

#include <filesystem>

#include "cli_runner.h"
#include "io/icc_profile.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_io_helpers.h"
#include "test_util.h"

using namespace dcsr;
using namespace dcsr::test;

namespace {

// Bytes with an ICC header (size field, 'acsp' signature) and a seeded body.
std::string fake_profile(size_t size, uint32_t seed) {
  std::string p(size, '\0');
  uint32_t state = seed;
  for (char& c : p) state = state * 1664525u + 1013904223u, c = char(state >> 24);
  for (int k = 0; k < 4; ++k) p[size_t(k)] = char((size >> (24 - 8 * k)) & 0xFF);
  p.replace(36, 4, "acsp");
  p.replace(16, 4, "RGB ");  // the data colour space: outputs carry RGB profiles only
  return p;
}

// The pixels a file decodes to through stb_image (interleaved 8-bit RGB).
std::vector<uint8_t> stb_pixels(const std::string& path) {
  int w = 0, h = 0, n = 0;
  uint8_t* px = stbi_load(path.c_str(), &w, &h, &n, 3);
  REQUIRE(px != nullptr);
  std::vector<uint8_t> out(px, px + size_t(w) * size_t(h) * 3);
  stbi_image_free(px);
  return out;
}

}  // namespace

TEST_CASE("forward: a colour profile written into PNG and JPEG reads back byte for byte", "[io][icc]") {
  TempDir dir("io_icc");
  const Tensor img = test_image(19, 23, 41);
  // 3144 bytes (a typical Display P3 profile's size) and 150000 bytes (three APP2 segments in a JPEG).
  for (size_t size : {size_t(3144), size_t(150000)}) {
    INFO("profile of " << size << " bytes");
    const std::string profile = fake_profile(size, uint32_t(size));
    REQUIRE(looks_like_icc_profile(profile));
    ImageWriteOptions with, deep;
    with.icc_profile = deep.icc_profile = profile;
    deep.bit_depth = 16;
    for (const std::string name : {"a.png", "b.jpg"}) {
      INFO(name);
      write_image(dir / ("plain_" + name), img);
      write_image(dir / name, img, with);
      CHECK(read_icc_profile(dir / name) == profile);
      CHECK(read_icc_profile(dir / ("plain_" + name)).empty());
      // The pixels are those of the file without the profile.
      CHECK(stb_pixels(dir / name) == stb_pixels(dir / ("plain_" + name)));
      CHECK(count_bit_differences(read_image(dir / name), read_image(dir / ("plain_" + name))) == 0);
      // Band by band, the same file.
      ImageFileWriter writer(dir / ("bands_" + name), 3, 19, 23, with);
      writer.write_rows(narrow(img, 2, 0, 7));
      writer.write_rows(narrow(img, 2, 7, 12));
      writer.finish();
      CHECK(read_bytes_of(dir / ("bands_" + name)) == read_bytes_of(dir / name));
    }
    write_image(dir / "c16.png", img, deep);
    CHECK(read_icc_profile(dir / "c16.png") == profile);
  }
  const std::string big = fake_profile(150000, 7);
  ImageWriteOptions with_big;
  with_big.icc_profile = big;
  write_image(dir / "segments.jpg", img, with_big);
  const std::string jpeg = read_bytes_of(dir / "segments.jpg");
  size_t segments = 0;
  for (size_t at = jpeg.find("ICC_PROFILE"); at != std::string::npos; at = jpeg.find("ICC_PROFILE", at + 1))
    ++segments;
  CHECK(segments == 3);
  CHECK(uint8_t(jpeg[2]) == 0xFF);
  CHECK(uint8_t(jpeg[3]) == 0xE0);  // the JFIF segment stays first
}

TEST_CASE("errors: a malformed colour profile is dropped, not copied", "[io][icc]") {
  TempDir dir("io_icc");
  const Tensor img = test_image(8, 9, 42);
  // A profile whose size field does not match its length, written as it is.
  std::string wrong_size = fake_profile(400, 3);
  wrong_size[3] = char(wrong_size[3] + 1);
  CHECK_FALSE(looks_like_icc_profile(wrong_size));
  std::string no_signature = fake_profile(400, 4);
  no_signature.replace(36, 4, "xxxx");
  CHECK_FALSE(looks_like_icc_profile(no_signature));
  CHECK_FALSE(looks_like_icc_profile(std::string(100, 'a')));
  // Written into a PNG and a JPEG as it is, read back as no profile.
  auto dropped_from_both = [&](const std::string& profile) {
    ImageWriteOptions o;
    o.icc_profile = profile;
    write_image(dir / "p.png", img, o);
    write_image(dir / "p.jpg", img, o);
    CHECK(read_icc_profile(dir / "p.png").empty());
    CHECK(read_icc_profile(dir / "p.jpg").empty());
    CHECK(read_image(dir / "p.png").size(3) == 9);  // the image itself still reads
  };
  for (const std::string& bad : {wrong_size, no_signature}) dropped_from_both(bad);
  // APP2 segments numbered inconsistently: the second of two segments says "of 3".
  ImageWriteOptions two;
  two.icc_profile = fake_profile(100000, 5);
  write_image(dir / "two.jpg", img, two);
  std::string jpeg = read_bytes_of(dir / "two.jpg");
  const size_t second = jpeg.find("ICC_PROFILE", jpeg.find("ICC_PROFILE") + 1);
  REQUIRE(second != std::string::npos);
  jpeg[second + 13] = 3;
  write_bytes(dir / "inconsistent.jpg", jpeg);
  CHECK(read_icc_profile(dir / "inconsistent.jpg").empty());
  CHECK(icc_profile_of_png_or_jpeg("not an image", "x").empty());
  // A grey or CMYK photo's profile (its data colour space) is not for the RGB outputs.
  for (const char* space : {"GRAY", "CMYK"}) {
    std::string other = fake_profile(400, 6);
    other.replace(16, 4, space);
    REQUIRE(looks_like_icc_profile(other));
    CHECK(valid_icc_profile_or_none(other, "x").empty());
    dropped_from_both(other);
  }
  CHECK(valid_icc_profile_or_none(fake_profile(400, 7), "x") == fake_profile(400, 7));
}

TEST_CASE("forward: dcsr sr and resize give their outputs the input's colour profile", "[io][icc][cli]") {
  TempDir dir("io_icc");
  const std::string profile = fake_profile(3144, 9);
  const std::string wide = jpeg_with_icc_profile(jpeg_bytes(interleaved_rgb(test_image(40, 52, 43)), 52, 40), profile);
  write_bytes(dir / "wide.jpg", wide);
  write_bytes(dir / "tele.jpg", jpeg_bytes(interleaved_rgb(test_image(40, 52, 44)), 52, 40));
  write_bytes(dir / "plain.jpg", jpeg_bytes(interleaved_rgb(test_image(40, 52, 43)), 52, 40));
  REQUIRE(read_icc_profile(dir / "wide.jpg") == profile);
  write_model(dir / "m.ckpt", 4);
  const std::string common = " --ref tele.jpg --registration none --quiet --model m.ckpt";
  for (const std::string out : {"sr.png", "sr.jpg"}) {
    const RunResult r = run_dcsr("sr --lr wide.jpg --out " + out + common, dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK(read_icc_profile(dir / out) == profile);
  }
  REQUIRE(run_dcsr("sr --lr plain.jpg --out plain_sr.png" + common, dir.str()).status == 0);
  CHECK(read_icc_profile(dir / "plain_sr.png").empty());
  // The profile changes nothing else: the same pixels from the same samples.
  CHECK(count_bit_differences(read_image(dir / "sr.png"), read_image(dir / "plain_sr.png")) == 0);
  REQUIRE(run_dcsr("resize --in wide.jpg --out small.png --size 26x20", dir.str()).status == 0);
  CHECK(read_icc_profile(dir / "small.png") == profile);
}
