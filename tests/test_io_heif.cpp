// HEIC/HEIF and AVIF photos (io/heif_decode.h). The files are made here with
// libheif's own HEVC encoder (lossless, 4:4:4), so the pixels that come back
// are known to within the one level libheif's colour conversion rounds, and
// exactly against libheif's own decode: 8-bit, 10-bit (as 16-bit samples),
// the file's rotation applied, sizes from the header, errors naming the file,
// and a `dcsr sr` run on a HEIC pair giving the bytes of the same pair as
// PNGs. A build without libheif refuses HEIF files with a message that says so.
#include <cstring>
#include <filesystem>
#include <functional>

#include "cli_runner.h"
#include "io/exif.h"
#include "io/heif_decode.h"
#include "io/image_io.h"
#include "test_files.h"
#include "test_util.h"

#ifdef DCSR_HAVE_HEIF
#include <libheif/heif.h>
#endif

using namespace dcsr;
using namespace dcsr::test;
namespace fs = std::filesystem;

namespace {

// The first bytes of a HEIC file: an ftyp box (major brand heic, compatible mif1 heic).
std::string heic_ftyp() {
  std::string box("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24);
  return box;
}

}  // namespace

TEST_CASE("forward: HEIF files are recognised by their content", "[io][heif]") {
  CHECK(is_heif_bytes(heic_ftyp()));
  std::string avif = heic_ftyp();
  avif.replace(8, 4, "avif"), avif.replace(16, 8, "mif1avif");
  CHECK(is_heif_bytes(avif));
  std::string mp4 = heic_ftyp();  // an MP4 video's ftyp: not an image
  mp4.replace(8, 4, "isom"), mp4.replace(16, 8, "iso2mp41");
  CHECK_FALSE(is_heif_bytes(mp4));
  CHECK_FALSE(is_heif_bytes(std::string("\x89PNG\r\n\x1A\n", 8) + std::string(16, '\0')));
  CHECK_FALSE(is_heif_bytes("ftyp"));
  for (const char* name : {"a.heic", "b.HEIF", "c.avif"}) CHECK(is_image_file(name));
}

TEST_CASE("errors: a broken HEIF file, or one this build cannot decode, is refused naming it", "[io][heif]") {
  TempDir dir("io_heif");
  // A HEIF header and nothing after it.
  write_bytes(dir / "broken.heic", heic_ftyp());
  const std::string expected = heif_decoder_available() ? "HEIF" : "no HEIF decoder";
  CHECK_THROWS_WITH(read_image(dir / "broken.heic"),
                    Catch::Contains("broken.heic") && Catch::Contains(expected));
  CHECK_THROWS_WITH(read_image_info(dir / "broken.heic"),
                    Catch::Contains("broken.heic") && Catch::Contains(expected));
}

#ifdef DCSR_HAVE_HEIF

namespace {

// Interleaved RGB samples (3 per pixel) in [0, max], a smooth pattern with
// some detail, different in each channel.
std::vector<uint16_t> pattern(int64_t w, int64_t h, uint32_t max) {
  std::vector<uint16_t> v(size_t(w * h * 3));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c)
        v[size_t((y * w + x) * 3 + c)] = uint16_t((x * 37 + y * 91 * (c + 1) + (x * y) % 13 * 101 + c * 500) % (max + 1));
  return v;
}

struct HeifEncoded {
  std::string bytes;
  bool ok = false;  // false: this libheif has no HEVC encoder
};

// A lossless HEIC file of interleaved RGB samples with `bits` bits each (8 or
// 10), shown with EXIF-style `orientation` (libheif writes irot/imir boxes).
HeifEncoded encode_heic(const std::vector<uint16_t>& rgb, int w, int h, int bits, int orientation = 1,
                        const std::string& icc_profile = "", const std::string& exif = "") {
  HeifEncoded out;
  heif_context* ctx = heif_context_alloc();
  heif_encoder* encoder = nullptr;
  if (heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &encoder).code != heif_error_Ok) {
    heif_context_free(ctx);
    return out;
  }
  REQUIRE(heif_encoder_set_lossless(encoder, 1).code == heif_error_Ok);
  REQUIRE(heif_encoder_set_parameter_string(encoder, "chroma", "444").code == heif_error_Ok);
  heif_image* image = nullptr;
  const heif_chroma chroma = bits == 8 ? heif_chroma_interleaved_RGB : heif_chroma_interleaved_RRGGBB_LE;
  REQUIRE(heif_image_create(w, h, heif_colorspace_RGB, chroma, &image).code == heif_error_Ok);
  REQUIRE(heif_image_add_plane(image, heif_channel_interleaved, w, h, bits).code == heif_error_Ok);
  int stride = 0;
  uint8_t* plane = heif_image_get_plane(image, heif_channel_interleaved, &stride);
  for (int y = 0; y < h; ++y)
    for (int i = 0; i < 3 * w; ++i) {
      const uint16_t v = rgb[size_t(y * 3 * w + i)];
      if (bits == 8) plane[y * stride + i] = uint8_t(v);
      else plane[y * stride + 2 * i] = uint8_t(v & 0xFF), plane[y * stride + 2 * i + 1] = uint8_t(v >> 8);
    }
  if (!icc_profile.empty())
    REQUIRE(heif_image_set_raw_color_profile(image, "prof", icc_profile.data(), icc_profile.size()).code ==
            heif_error_Ok);
  // RGB coded as RGB (matrix "identity", full range, 4:4:4).
  heif_color_profile_nclx* nclx = heif_nclx_color_profile_alloc();
  nclx->matrix_coefficients = heif_matrix_coefficients_RGB_GBR;
  nclx->full_range_flag = 1;
  heif_encoding_options* options = heif_encoding_options_alloc();
  options->output_nclx_profile = nclx;
  options->image_orientation = heif_orientation(orientation);
  heif_image_handle* handle = nullptr;
  REQUIRE(heif_context_encode_image(ctx, image, encoder, options, &handle).code == heif_error_Ok);
  if (!exif.empty())
    REQUIRE(heif_context_add_exif_metadata(ctx, handle, exif.data(), int(exif.size())).code == heif_error_Ok);
  heif_writer writer{};
  writer.writer_api_version = 1;
  writer.write = [](heif_context*, const void* data, size_t size, void* user) {
    static_cast<std::string*>(user)->append(static_cast<const char*>(data), size);
    return heif_error{heif_error_Ok, heif_suberror_Unspecified, "ok"};
  };
  REQUIRE(heif_context_write(ctx, &writer, &out.bytes).code == heif_error_Ok);
  heif_image_handle_release(handle);
  heif_encoding_options_free(options);
  heif_nclx_color_profile_free(nclx);
  heif_image_release(image);
  heif_encoder_release(encoder);
  heif_context_free(ctx);
  out.ok = true;
  return out;
}

#define HEIF_ENCODED_OR_SKIP(e)                                   \
  if (!(e).ok) {                                                  \
    WARN("SKIPPED: no HEVC encoder in this libheif");             \
    return;                                                       \
  }

// The (1, 3, H, W) tensor read_image should give for interleaved samples of
// range `max`, shown with `orientation` (io/exif.h's mapping, as for JPEG).
Tensor expected_image(const std::vector<uint16_t>& rgb, int64_t w, int64_t h, double max, int orientation) {
  const Orientation o{orientation, h, w};
  Tensor out = empty({1, 3, o.height(), o.width()});
  float* d = out.data<float>();
  const int64_t hw = o.height() * o.width();
  for (int64_t y = 0; y < o.height(); ++y)
    for (int64_t x = 0; x < o.width(); ++x)
      for (int64_t c = 0; c < 3; ++c)
        d[c * hw + y * o.width() + x] = float(double(rgb[size_t(o.source(y, x) * 3 + c)]) / max);
  return out;
}

// What libheif itself decodes from `bytes` (upright, RGB), as read_image
// documents it: 8-bit samples / 255, deeper ones round(v * 65535 / (2^bits - 1)) / 65535.
Tensor libheif_decode(const std::string& bytes) {
  heif_context* ctx = heif_context_alloc();
  REQUIRE(heif_context_read_from_memory_without_copy(ctx, bytes.data(), bytes.size(), nullptr).code == heif_error_Ok);
  heif_image_handle* handle = nullptr;
  REQUIRE(heif_context_get_primary_image_handle(ctx, &handle).code == heif_error_Ok);
  const int bits = heif_image_handle_get_luma_bits_per_pixel(handle);
  heif_image* image = nullptr;
  REQUIRE(heif_decode_image(handle, &image, heif_colorspace_RGB,
                            bits > 8 ? heif_chroma_interleaved_RRGGBB_LE : heif_chroma_interleaved_RGB, nullptr)
              .code == heif_error_Ok);
  const int w = heif_image_get_width(image, heif_channel_interleaved);
  const int h = heif_image_get_height(image, heif_channel_interleaved);
  int stride = 0;
  const uint8_t* plane = heif_image_get_plane_readonly(image, heif_channel_interleaved, &stride);
  Tensor out = empty({1, 3, h, w});
  float* d = out.data<float>();
  const uint32_t max = (1u << bits) - 1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int i = 3 * x + c;
        d[(c * h + y) * w + x] =
            bits > 8 ? float(((uint32_t(plane[y * stride + 2 * i]) | uint32_t(plane[y * stride + 2 * i + 1]) << 8) *
                                  65535u + max / 2) / max) / 65535.0f
                     : float(plane[y * stride + i]) / 255.0f;
      }
  heif_image_release(image);
  heif_image_handle_release(handle);
  heif_context_free(ctx);
  return out;
}

// The largest |a - b| over two equal-shaped tensors.
double max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(double(x[i]) - double(y[i])));
  return worst;
}

}  // namespace

TEST_CASE("forward: an 8-bit HEIC photo reads back to its pixels, upright", "[io][heif]") {
  REQUIRE(heif_decoder_available());
  TempDir dir("io_heif");
  const int w = 67, h = 45;  // odd sizes
  const std::vector<uint16_t> rgb = pattern(w, h, 255);
  for (int orientation : {1, 6, 3}) {
    INFO("orientation " << orientation);
    const HeifEncoded heic = encode_heic(rgb, w, h, 8, orientation);
    HEIF_ENCODED_OR_SKIP(heic);
    const std::string path = dir / ("photo" + std::to_string(orientation) + ".HEIC");
    write_bytes(path, heic.bytes);
    const Tensor want = expected_image(rgb, w, h, 255.0, orientation);
    const ImageInfo info = read_image_info(path);
    CHECK(info.height == want.size(2));
    CHECK(info.width == want.size(3));
    CHECK(info.channels == 3);
    const Tensor got = read_image(path);
    REQUIRE(got.shape() == want.shape());
    // libheif's lossless HEVC of RGB is within one level (its colour
    // conversion rounds); what we read is exactly what libheif decodes.
    CHECK(max_abs_difference(got, want) <= 1.0 / 255 + 1e-7);
    CHECK(count_bit_differences(got, libheif_decode(heic.bytes)) == 0);
    // The 8-bit reader agrees.
    CHECK(count_bit_differences(image_to_tensor(read_image_u8(path)), got) == 0);
  }
}

TEST_CASE("forward: a 10-bit HEIC keeps its precision as 16-bit samples", "[io][heif]") {
  TempDir dir("io_heif");
  const int w = 40, h = 33;
  const std::vector<uint16_t> rgb = pattern(w, h, 1023);
  const HeifEncoded heic = encode_heic(rgb, w, h, 10);
  HEIF_ENCODED_OR_SKIP(heic);
  write_bytes(dir / "deep.heic", heic.bytes);
  // Within one 10-bit level of the source, and exactly libheif's decode scaled to 16 bits.
  const Tensor got = read_image(dir / "deep.heic");
  CHECK(max_abs_difference(got, expected_image(rgb, w, h, 1023.0, 1)) <= 1.0 / 1023 + 0.5 / 65535 + 1e-7);
  CHECK(count_bit_differences(got, libheif_decode(heic.bytes)) == 0);
  int64_t off_the_8_bit_grid = 0;
  for (float v : got.to_vector<float>()) off_the_8_bit_grid += std::abs(v * 255.0 - std::round(v * 255.0)) > 1e-3;
  CHECK(off_the_8_bit_grid > got.numel() / 2);  // not rounded to 8 bits on the way
}

TEST_CASE("forward: a HEIC photo's ICC colour profile is read for the outputs", "[io][heif][icc]") {
  TempDir dir("io_heif");
  // An ICC header (size, 'acsp') on a patterned body, as a Display P3 profile's 536 bytes would be.
  std::string profile(536, '\0');
  for (size_t i = 0; i < profile.size(); ++i) profile[i] = char(i * 7 + 3);
  profile[0] = 0, profile[1] = 0, profile[2] = char(536 >> 8), profile[3] = char(536 & 0xFF);
  profile.replace(36, 4, "acsp");
  profile.replace(16, 4, "RGB ");  // the data colour space: outputs carry RGB profiles only
  const HeifEncoded with = encode_heic(pattern(16, 16, 255), 16, 16, 8, 1, profile);
  HEIF_ENCODED_OR_SKIP(with);
  write_bytes(dir / "p3.heic", with.bytes);
  CHECK(read_icc_profile(dir / "p3.heic") == profile);
  write_bytes(dir / "none.heic", encode_heic(pattern(16, 16, 255), 16, 16, 8).bytes);
  CHECK(read_icc_profile(dir / "none.heic").empty());  // libheif writes an nclx colour box: no ICC profile
  CHECK(read_photo_metadata(dir / "none.heic").exif.empty());
}

TEST_CASE("forward: a HEIC photo's EXIF block is read for the outputs", "[io][heif][exif]") {
  TempDir dir("io_heif");
  // A little-endian TIFF block: IFD0 with one entry, Orientation 6 (which
  // HEIF's own irot overrides: the picture is read as the file's boxes say).
  std::string tiff("II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0", 26);
  const HeifEncoded heic = encode_heic(pattern(16, 8, 255), 16, 8, 8, 1, "", tiff);
  HEIF_ENCODED_OR_SKIP(heic);
  write_bytes(dir / "exif.heic", heic.bytes);
  CHECK(read_photo_metadata(dir / "exif.heic").exif == tiff);
  CHECK(read_image_info(dir / "exif.heic").width == 16);  // not turned by the EXIF orientation
}

TEST_CASE("errors: a truncated HEIC is refused naming the file", "[io][heif]") {
  TempDir dir("io_heif");
  const HeifEncoded heic = encode_heic(pattern(32, 32, 255), 32, 32, 8);
  HEIF_ENCODED_OR_SKIP(heic);
  write_bytes(dir / "cut.heic", heic.bytes.substr(0, heic.bytes.size() / 2));
  CHECK_THROWS_WITH(read_image(dir / "cut.heic"), Catch::Contains("cut.heic"));
}

TEST_CASE("forward: dcsr sr on a HEIC pair gives the bytes of the same pair as PNGs", "[io][heif][cli]") {
  TempDir dir("io_heif");
  const int w = 60, h = 44;
  const std::vector<uint16_t> wide = pattern(w, h, 255);
  std::vector<uint16_t> tele = pattern(w, h, 255);
  for (uint16_t& v : tele) v = uint16_t(255 - v);
  const HeifEncoded wide_heic = encode_heic(wide, w, h, 8), tele_heic = encode_heic(tele, w, h, 8);
  HEIF_ENCODED_OR_SKIP(wide_heic);
  write_bytes(dir / "wide.heic", wide_heic.bytes);
  write_bytes(dir / "tele.heic", tele_heic.bytes);
  write_png(dir / "wide.png", libheif_decode(wide_heic.bytes));
  write_png(dir / "tele.png", libheif_decode(tele_heic.bytes));
  write_model(dir / "m.ckpt", 4);
  const std::string common = " --registration none --quiet --model m.ckpt";
  const RunResult from_heic = run_dcsr("sr --lr wide.heic --ref tele.heic --out a.png" + common, dir.str());
  INFO(from_heic.output);
  REQUIRE(from_heic.status == 0);
  REQUIRE(run_dcsr("sr --lr wide.png --ref tele.png --out b.png" + common, dir.str()).status == 0);
  CHECK(read_bytes_of(dir / "a.png") == read_bytes_of(dir / "b.png"));
}

#endif  // DCSR_HAVE_HEIF
