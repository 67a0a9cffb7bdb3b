// The streamed JPEG encoder (io/jpeg_encode.h): the bytes of stb_image_write's
// JPEG writer for the same pixels, at every quality band (4:2:0 and 4:4:4),
// for sizes that are not multiples of the blocks, RGB and grey, however the
// rows arrive and on any number of threads; its APP segments where the file
// format wants them; and its errors.
#include <stb_image.h>
#include <stb_image_write.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "io/file_segments.h"
#include "io/jpeg_encode.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace dcsr;

namespace {

// A photo-like test card: smooth gradients, sharp edges and noise, so every
// coefficient range and run length of the coding is used.
std::vector<uint8_t> test_card(int64_t w, int64_t h, int channels, uint32_t seed) {
  std::vector<uint8_t> p(size_t(w * h * channels));
  uint32_t state = seed;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        state = state * 1664525u + 1013904223u;
        const double smooth = 127.5 + 100 * std::sin(0.05 * double(x + 3 * c) + 0.031 * double(y));
        const double edge = ((x / 11 + y / 7) % 2) ? 40.0 : -40.0;
        const double noise = double(state >> 24) / 255.0 * 30 - 15;
        p[size_t((y * w + x) * channels + c)] = uint8_t(std::clamp(smooth + (x > w / 2 ? edge : 0) + noise, 0.0, 255.0));
      }
  return p;
}

std::string stb_jpeg(const std::vector<uint8_t>& pixels, int64_t w, int64_t h, int channels, int quality) {
  std::string out;
  auto append = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size_t(size)); };
  REQUIRE(stbi_write_jpg_to_func(append, &out, int(w), int(h), channels, pixels.data(), quality));
  return out;
}

// The file made from rows given `piece` at a time.
std::string streamed(const std::vector<uint8_t>& pixels, int64_t w, int64_t h, int channels, int quality,
                     int64_t piece, int threads, const std::string& segments = "") {
  std::string file;
  JpegStreamEncoder encoder(w, h, channels, quality, [&](const char* d, size_t n) { file.append(d, n); }, threads,
                            segments);
  for (int64_t y = 0; y < h; y += piece)
    encoder.add_rows(pixels.data() + y * w * channels, std::min(piece, h - y));
  encoder.finish();
  return file;
}

// Where two files first differ ("same" when they do not): a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return "byte " + std::to_string(i) + " of " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
  return a.size() == b.size() ? "same" : "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
}

}  // namespace

TEST_CASE("jpeg encode: the bytes of stb_image_write's JPEG writer, however the rows arrive", "[io][jpeg]") {
  struct Size {
    int64_t w, h;
  };
  for (const Size size : {Size{1, 1}, Size{8, 8}, Size{16, 16}, Size{37, 23}, Size{130, 61}, Size{257, 100}}) {
    for (int channels : {3, 1}) {
      const std::vector<uint8_t> pixels = test_card(size.w, size.h, channels, uint32_t(size.w * 31 + size.h));
      for (int quality : {1, 35, 50, 90, 91, 95, 100}) {  // 4:2:0 up to 90, 4:4:4 above
        CAPTURE(size.w, size.h, channels, quality);
        const std::string reference = stb_jpeg(pixels, size.w, size.h, channels, quality);
        CHECK(first_difference(encode_jpeg(pixels.data(), size.w, size.h, channels, quality), reference) == "same");
        for (int64_t piece : {int64_t(1), int64_t(5), int64_t(16), int64_t(17)})
          for (int threads : {1, 3})
            CHECK(first_difference(streamed(pixels, size.w, size.h, channels, quality, piece, threads), reference) == "same");
      }
    }
  }
}

TEST_CASE("jpeg encode: decodes to the image, its segments after JFIF", "[io][jpeg]") {
  const int64_t w = 96, h = 64;
  const std::vector<uint8_t> pixels = test_card(w, h, 3, 7);
  // A made-up APP1 segment goes right after the JFIF APP0, as the file format wants.
  const std::string app1 = jpeg_segment(0xE1, std::string("Exif\0\0", 6) + std::string(40, 'x'));
  const std::string file = streamed(pixels, w, h, 3, 95, 7, 2, app1);
  CHECK(jpeg_metadata_offset(file) == 20);
  CHECK(file.compare(20, app1.size(), app1) == 0);
  std::string without = file;
  without.erase(20, app1.size());
  CHECK(first_difference(without, stb_jpeg(pixels, w, h, 3, 95)) == "same");
  int dw = 0, dh = 0, dc = 0;
  uint8_t* decoded = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(file.data()), int(file.size()), &dw, &dh, &dc, 3);
  REQUIRE(decoded != nullptr);
  CHECK(dw == w);
  CHECK(dh == h);
  double sq = 0;
  for (size_t i = 0; i < pixels.size(); ++i) sq += std::pow(double(decoded[i]) - double(pixels[i]), 2);
  stbi_image_free(decoded);
  CHECK(10 * std::log10(255.0 * 255.0 / (sq / double(pixels.size()))) > 30.0);  // quality 95 on a noisy card
}

TEST_CASE("jpeg encode: bad sizes, channels, qualities and row counts are errors", "[io][jpeg]") {
  auto sink = [](const char*, size_t) {};
  CHECK_THROWS_WITH(JpegStreamEncoder(0, 10, 3, 90, sink), Catch::Contains("0x10 pixels"));
  CHECK_THROWS_WITH(JpegStreamEncoder(70000, 10, 3, 90, sink), Catch::Contains("1 to 65535"));
  CHECK_THROWS_WITH(JpegStreamEncoder(10, 10, 4, 90, sink), Catch::Contains("4 channels"));
  CHECK_THROWS_WITH(JpegStreamEncoder(10, 10, 3, 0, sink), Catch::Contains("quality 0"));
  JpegStreamEncoder encoder(4, 4, 3, 90, sink);
  const std::vector<uint8_t> rows(4 * 4 * 3, 128);
  CHECK_THROWS_WITH(encoder.finish(), Catch::Contains("0 of 4 rows"));
  encoder.add_rows(rows.data(), 3);
  CHECK_THROWS_WITH(encoder.add_rows(rows.data(), 2), Catch::Contains("2 more rows after 3 of 4"));
  encoder.add_rows(rows.data(), 1);
  encoder.finish();
  CHECK_THROWS_WITH(encoder.finish(), Catch::Contains("already finished"));
}
