// A photo's EXIF block carried to the images made from it (io/exif.h):
// made true for the new image (Orientation 1, the new pixel dimensions, no
// thumbnail) with everything else kept byte for byte, in both byte orders;
// written into JPEG (APP1, between JFIF and the ICC profile's APP2) and PNG
// (eXIf) and read back; malformed blocks dropped; `dcsr sr` and `dcsr resize`
// give their outputs the input's capture time.
#include <filesystem>

#include "cli_runner.h"
#include "io/exif.h"
#include "io/icc_profile.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_io_helpers.h"
#include "test_util.h"

using namespace dcsr;
using namespace dcsr::test;

namespace {

// A TIFF block as a phone writes one, in either byte order:
//   IFD0 at 8: Orientation (SHORT) `orientation`, DateTime (ASCII, at 62),
//     ExifIFD pointer (LONG, 88), Make (ASCII "Phone", at 82); next IFD 150.
//   ExifIFD at 88: PixelXDimension (LONG) 640, PixelYDimension (SHORT) 480,
//     DateTimeOriginal (ASCII, at 130); next 0.
//   IFD1 at 150: Compression (SHORT) 6, a thumbnail's; next 0. 168 bytes.
constexpr size_t kExifIfd = 88, kIfd1 = 150;
const char kDateTime[] = "2026:12:05 10:00:00", kDateTimeOriginal[] = "2026:12:05 09:59:58";

std::string photo_exif(bool big_endian, int orientation = 6) {
  std::string t = big_endian ? "MM" : "II";
  auto u16 = [&](uint32_t v) { put16(t, v, big_endian); };
  auto u32 = [&](uint32_t v) { put32(t, v, big_endian); };
  auto entry = [&](uint32_t tag, uint32_t type, uint32_t count, uint32_t value) {
    u16(tag), u16(type), u32(count);
    if (type == 3 && count == 1) u16(value), u16(0);  // a SHORT sits in the entry's first two bytes
    else u32(value);
  };
  u16(42), u32(8);
  u16(4);
  entry(0x010F, 2, 6, 82);            // Make
  entry(0x0112, 3, 1, uint32_t(orientation));
  entry(0x0132, 2, 20, 62);           // DateTime
  entry(0x8769, 4, 1, kExifIfd);      // the Exif IFD
  u32(kIfd1);
  t.append(kDateTime, 20);            // 62
  t.append("Phone\0", 6);             // 82
  u16(3);                             // 88: the Exif IFD
  entry(0xA002, 4, 1, 640);
  entry(0xA003, 3, 1, 480);
  entry(0x9003, 2, 20, 130);          // DateTimeOriginal
  u32(0);
  t.append(kDateTimeOriginal, 20);    // 130
  u16(1);                             // 150: IFD1
  entry(0x0103, 3, 1, 6);
  u32(0);
  REQUIRE(t.size() == 168);
  return t;
}

uint32_t read_u(const std::string& t, size_t at, int bytes) {
  const bool big = t[0] == 'M';
  uint32_t v = 0;
  for (int k = 0; k < bytes; ++k) v |= uint32_t(uint8_t(t[at + size_t(k)])) << (8 * (big ? bytes - 1 - k : k));
  return v;
}

// The inline value of `tag` in the IFD at `ifd` (SHORT or LONG), or -1.
int64_t tag_value(const std::string& t, size_t ifd, uint32_t tag) {
  const uint32_t n = read_u(t, ifd, 2);
  for (uint32_t i = 0; i < n; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (read_u(t, e, 2) != tag) continue;
    return read_u(t, e + 2, 2) == 3 ? read_u(t, e + 8, 2) : read_u(t, e + 8, 4);
  }
  return -1;
}

}  // namespace

TEST_CASE("forward: an EXIF block made true for the new image, the rest kept", "[io][exif]") {
  for (bool big_endian : {false, true}) {
    INFO((big_endian ? "MM" : "II"));
    const std::string in = photo_exif(big_endian);
    const std::string out = exif_for_output(in, 1280, 960);
    REQUIRE(out.size() == in.size());
    CHECK(exif_orientation(reinterpret_cast<const uint8_t*>(out.data()), out.size()) == 1);
    CHECK(tag_value(out, kExifIfd, 0xA002) == 1280);
    CHECK(tag_value(out, kExifIfd, 0xA003) == 960);
    CHECK(read_u(out, 8 + 2 + 4 * 12, 4) == 0);  // IFD0's next: the thumbnail is unlinked
    // Every other byte as it was: the dates, the make, the tags' order.
    size_t changed = 0;
    for (size_t i = 0; i < in.size(); ++i) changed += in[i] != out[i];
    CHECK(changed <= 2 + 4 + 2 + 4);  // orientation, next IFD, two dimensions
    CHECK(out.compare(62, 20, std::string(kDateTime, 20)) == 0);
    CHECK(out.compare(130, 20, std::string(kDateTimeOriginal, 20)) == 0);
    // A SHORT dimension cannot hold 70000: it keeps its old value.
    CHECK(tag_value(exif_for_output(in, 70000, 70000), kExifIfd, 0xA003) == 480);
    CHECK(tag_value(exif_for_output(in, 70000, 70000), kExifIfd, 0xA002) == 70000);
  }
}

TEST_CASE("errors: a malformed EXIF block is dropped, not copied", "[io][exif]") {
  const std::string good = photo_exif(false);
  CHECK(exif_for_output("", 10, 10).empty());
  CHECK(exif_for_output(std::string("XX*\0\x08\0\0\0", 8), 10, 10).empty());
  std::string ifd_past_end = good;
  ifd_past_end[4] = char(200);  // IFD0 at 200 of 168 bytes
  CHECK(exif_for_output(ifd_past_end, 10, 10).empty());
  std::string exif_ifd_past_end = good;
  exif_ifd_past_end[8 + 2 + 3 * 12 + 8] = char(250);  // the Exif IFD pointer
  CHECK(exif_for_output(exif_ifd_past_end, 10, 10).empty());
  CHECK(exif_for_output(good.substr(0, 40), 10, 10).empty());  // IFD0 cut short
}

TEST_CASE("forward: EXIF written into JPEG and PNG reads back, with the ICC profile beside it", "[io][exif]") {
  TempDir dir("io_exif_carry");
  const Tensor img = test_image(12, 16, 51);
  const std::string exif = exif_for_output(photo_exif(true), 16, 12);
  std::string profile(3144, '\x11');
  for (int k = 0; k < 4; ++k) profile[size_t(k)] = char((3144 >> (24 - 8 * k)) & 0xFF);
  profile.replace(36, 4, "acsp");
  profile.replace(16, 4, "RGB ");  // the data colour space: outputs carry RGB profiles only
  ImageWriteOptions o;
  o.exif = exif, o.icc_profile = profile;
  for (const std::string name : {"a.jpg", "b.png"}) {
    INFO(name);
    write_image(dir / name, img, o);
    const PhotoMetadata m = read_photo_metadata(dir / name);
    CHECK(m.exif == exif);
    CHECK(m.icc_profile == profile);
    // Orientation 1: the image reads back as written, not turned.
    CHECK(read_image(dir / name).shape() == Shape{1, 3, 12, 16});
  }
  // JPEG: APP0 (JFIF), APP1 (EXIF), APP2 (ICC), in that order.
  const std::string jpeg = read_bytes_of(dir / "a.jpg");
  const size_t app1 = jpeg.find("Exif\0\0", 0, 6), app2 = jpeg.find("ICC_PROFILE");
  CHECK(uint8_t(jpeg[3]) == 0xE0);
  REQUIRE(app1 != std::string::npos);
  REQUIRE(app2 != std::string::npos);
  CHECK(app1 < app2);
  CHECK(uint8_t(jpeg[app1 - 3]) == 0xE1);
  // A block too large for one APP1 segment is left out of a JPEG (a PNG takes it).
  ImageWriteOptions huge;
  huge.exif = exif + std::string(70000, '\0');
  write_image(dir / "huge.jpg", img, huge);
  write_image(dir / "huge.png", img, huge);
  CHECK(read_photo_metadata(dir / "huge.jpg").exif.empty());
  CHECK(read_photo_metadata(dir / "huge.png").exif == huge.exif);
}

TEST_CASE("forward: dcsr sr and resize carry the wide photo's EXIF, upright and resized", "[io][exif][cli]") {
  TempDir dir("io_exif_carry");
  // The wide photo stored 52 wide, 40 high, with Orientation 6: upright it is 40 x 52.
  const std::string stored = jpeg_bytes(interleaved_rgb(test_image(40, 52, 52)), 52, 40);
  write_bytes(dir / "wide.jpg", jpeg_with_exif(stored, photo_exif(false, 6)));
  write_png(dir / "tele.png", test_image(52, 40, 53));  // upright, as the wide image reads
  REQUIRE(read_image_info(dir / "wide.jpg").width == 40);
  write_model(dir / "m.ckpt", 4);
  for (const std::string out : {"sr.png", "sr.jpg"}) {
    const RunResult r =
        run_dcsr("sr --lr wide.jpg --ref tele.png --registration none --quiet --model m.ckpt --out " + out, dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    const std::string exif = read_photo_metadata(dir / out).exif;
    REQUIRE(exif.size() == 168);
    CHECK(exif_orientation(reinterpret_cast<const uint8_t*>(exif.data()), exif.size()) == 1);
    CHECK(tag_value(exif, kExifIfd, 0xA002) == 80);   // the output, upright: 80 x 104
    CHECK(tag_value(exif, kExifIfd, 0xA003) == 104);
    CHECK(exif.compare(130, 20, std::string(kDateTimeOriginal, 20)) == 0);
    CHECK(read_image_info(dir / out).width == 80);  // not turned again by a viewer or by us
  }
  REQUIRE(run_dcsr("resize --in wide.jpg --out small.png --size 20x26", dir.str()).status == 0);
  const std::string small = read_photo_metadata(dir / "small.png").exif;
  CHECK(tag_value(small, kExifIfd, 0xA002) == 20);
  CHECK(small.compare(62, 20, std::string(kDateTime, 20)) == 0);
}
