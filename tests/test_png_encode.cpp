// The parallel PNG encoder (io/png_encode.h): decoded by stb_image to the same
// pixels; its chunks, zlib header and checksums checked by independent code
// here; the same bytes for any thread count; a size near stb_image_write's.
#include <stb_image.h>
#include <stb_image_write.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>

#include "autograd/ops/image.h"
#include "io/image_io.h"
#include "io/png_encode.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;

namespace {

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint32_t(uint8_t(s[at + 3]));
}

// Bit by bit, without the encoder's table: the reference for its CRCs.
uint32_t crc32_bitwise(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t adler32_plain(const std::string& bytes) {
  uint32_t a = 1, b = 0;
  for (unsigned char byte : bytes) a = (a + byte) % 65521, b = (b + a) % 65521;
  return b << 16 | a;
}

// Walks the file's chunks: every CRC must match; returns the IDAT data (the
// zlib stream) and checks IHDR against the expected image.
std::string check_chunks(const std::string& png, int64_t w, int64_t h, int channels) {
  REQUIRE(png.compare(0, 8, std::string("\x89PNG\r\n\x1A\n", 8)) == 0);
  std::string idat, types;
  size_t at = 8;
  while (at < png.size()) {
    REQUIRE(at + 12 <= png.size());
    const uint32_t size = be32(png, at);
    const std::string type = png.substr(at + 4, 4), body = png.substr(at + 8, size);
    REQUIRE(be32(png, at + 8 + size) == crc32_bitwise(type + body));
    if (type == "IHDR") {
      REQUIRE(size == 13);
      CHECK(be32(body, 0) == uint32_t(w));
      CHECK(be32(body, 4) == uint32_t(h));
      CHECK(int(body[8]) == 8);
      CHECK(int(body[9]) == (channels == 3 ? 2 : 0));
    }
    if (type == "IDAT") idat += body;
    types += type + " ";
    at += 12 + size;
  }
  REQUIRE(at == png.size());
  REQUIRE(types.rfind("IHDR ", 0) == 0);
  REQUIRE(types.size() >= 10);
  REQUIRE(types.compare(types.size() - 5, 5, "IEND ") == 0);
  return idat;
}

// Everything a decoder checks, and the pixels back.
void check_png(const std::vector<uint8_t>& pixels, int64_t w, int64_t h, int channels, const std::string& what) {
  INFO(what << ", " << w << "x" << h << "x" << channels);
  const std::string png = encode_png(pixels.data(), w, h, channels);
  const std::string zlib = check_chunks(png, w, h, channels);
  // The zlib stream: header, deflate data (stb's inflate), Adler-32 of what it inflates to.
  REQUIRE(zlib.size() >= 6);
  CHECK((uint8_t(zlib[0]) * 256 + uint8_t(zlib[1])) % 31 == 0);
  CHECK((uint8_t(zlib[0]) & 0x0F) == 8);
  int inflated_size = 0;
  char* inflated = stbi_zlib_decode_malloc(zlib.data(), int(zlib.size()), &inflated_size);
  REQUIRE(inflated != nullptr);
  const std::string filtered(inflated, size_t(inflated_size));
  std::free(inflated);
  REQUIRE(int64_t(filtered.size()) == h * (w * channels + 1));
  CHECK(be32(zlib, zlib.size() - 4) == adler32_plain(filtered));
  for (int64_t y = 0; y < h; ++y) CHECK(uint8_t(filtered[size_t(y * (w * channels + 1))]) <= 4);
  // The pixels, through stb_image's PNG decoder.
  int dw = 0, dh = 0, dc = 0;
  uint8_t* decoded = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(png.data()), int(png.size()), &dw, &dh,
                                           &dc, 0);
  REQUIRE(decoded != nullptr);
  REQUIRE(dw == w);
  REQUIRE(dh == h);
  REQUIRE(dc == channels);
  const bool same = std::memcmp(decoded, pixels.data(), pixels.size()) == 0;
  stbi_image_free(decoded);
  CHECK(same);
}

std::vector<uint8_t> bytes_where(int64_t n, const std::function<uint8_t(int64_t)>& f) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = f(i);
  return v;
}

}  // namespace

TEST_CASE("png encode: checksums match their published check values", "[io][png]") {
  const std::string digits = "123456789", wiki = "Wikipedia";
  CHECK(crc32_png(reinterpret_cast<const uint8_t*>(digits.data()), digits.size()) == 0xCBF43926u);
  CHECK(adler32(reinterpret_cast<const uint8_t*>(wiki.data()), wiki.size()) == 0x11E60398u);
  // Long input: the Adler sums are reduced in blocks; against the plain loop.
  std::vector<uint8_t> ones(100000, 0xFF);
  CHECK(adler32(ones.data(), ones.size()) == adler32_plain(std::string(ones.begin(), ones.end())));
}

TEST_CASE("png encode: every kind of content decodes to the same pixels", "[io][png]") {
  uint64_t state = 12345;
  auto noise = [&](int64_t) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint8_t(state >> 56);
  };
  check_png({200, 10, 30}, 1, 1, 3, "one pixel");
  check_png({77}, 1, 1, 1, "one grey pixel");
  check_png(bytes_where(7 * 5 * 3, noise), 7, 5, 3, "noise (incompressible, literals only)");
  // 3001 bytes per row: bands of 349 rows, so three bands here.
  check_png(bytes_where(1000 * 800 * 3, noise), 1000, 800, 3, "noise over three bands");
  check_png(std::vector<uint8_t>(size_t(2000 * 700 * 3), 0), 2000, 700, 3, "all zero (258-byte matches)");
  // A period of 40000 bytes: matches at every distance up to the window's 32768 and none beyond.
  const std::vector<uint8_t> tile = bytes_where(40000, noise);
  check_png(bytes_where(1200 * 300 * 3, [&](int64_t i) { return tile[size_t(i % 40000)]; }), 1200, 300, 3,
            "a repeating pattern");
  check_png(bytes_where(513 * 257, [](int64_t i) { return uint8_t((i % 513) * 3 + (i / 513)); }), 513, 257, 1,
            "grey gradients");
  const std::vector<uint8_t> short_period = bytes_where(999, noise);
  check_png(bytes_where(333 * 400 * 3, [&](int64_t i) { return uint8_t(short_period[size_t(i % 999)] + i / 99900); }),
            333, 400, 3, "short periods with a slow drift");
}

TEST_CASE("png encode: the bytes do not depend on the thread count", "[io][png]") {
  uint64_t state = 7;
  const std::vector<uint8_t> pixels = bytes_where(900 * 1000 * 3, [&](int64_t i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint8_t((i / 3) % 900 + (state >> 61));  // gradients with a little noise: real matches
  });
  const std::string one = encode_png(pixels.data(), 900, 1000, 3, 1);
  CHECK(encode_png(pixels.data(), 900, 1000, 3, 2) == one);
  CHECK(encode_png(pixels.data(), 900, 1000, 3, 5) == one);
}

TEST_CASE("png encode: streamed rows give encode_png's bytes however they are split", "[io][png]") {
  uint64_t state = 3;
  auto noisy_gradient = [&](int64_t i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint8_t((i / 3) % 700 + (state >> 60));
  };
  struct Case {
    int64_t w, h;
    int channels, bytes_per_sample;
  };
  // 700x900 RGB: bands of 499 rows (two); 1500x1200 grey 16-bit: bands of 349 rows
  // and an IDAT chunk boundary inside a band; 5x3: one band.
  for (Case k : {Case{700, 900, 3, 1}, Case{1500, 1200, 1, 2}, Case{5, 3, 3, 1}}) {
    const int64_t row_bytes = k.w * k.channels * k.bytes_per_sample;
    const std::vector<uint8_t> rows = bytes_where(k.h * row_bytes, noisy_gradient);
    std::string whole;
    if (k.bytes_per_sample == 1) {
      whole = encode_png(rows.data(), k.w, k.h, k.channels);
    } else {
      std::vector<uint16_t> samples(size_t(k.h * k.w * k.channels));
      for (size_t i = 0; i < samples.size(); ++i) samples[i] = uint16_t(rows[2 * i] << 8 | rows[2 * i + 1]);
      whole = encode_png16(samples.data(), k.w, k.h, k.channels);
    }
    // Splits: one row at a time, uneven pieces across band ends, all at once.
    for (int64_t piece : {int64_t(1), int64_t(37), int64_t(500), k.h}) {
      INFO(k.w << "x" << k.h << "x" << k.channels << " x" << k.bytes_per_sample << " bytes, pieces of " << piece);
      std::string streamed;
      size_t flushes = 0;
      PngStreamEncoder encoder(k.w, k.h, k.channels, k.bytes_per_sample, [&](const char* data, size_t size) {
        streamed.append(data, size);
        ++flushes;
      });
      for (int64_t y = 0; y < k.h; y += piece) encoder.add_rows(rows.data() + y * row_bytes, std::min(piece, k.h - y));
      CHECK(encoder.rows_added() == k.h);
      CHECK_THROWS_WITH(encoder.add_rows(rows.data(), 1), Catch::Contains("rows given for an image of"));
      encoder.finish();
      CHECK(streamed == whole);
      // The file leaves as the rows come, not at the end only.
      if (k.h > 1000 && piece < k.h) CHECK(flushes > 3);
    }
  }
  // finish() before the last row.
  std::string out;
  PngStreamEncoder short_of_rows(4, 4, 3, 1, [&](const char* data, size_t size) { out.append(data, size); });
  const std::vector<uint8_t> two_rows(2 * 4 * 3, 9);
  short_of_rows.add_rows(two_rows.data(), 2);
  CHECK_THROWS_WITH(short_of_rows.finish(), Catch::Contains("2 of the image's 4 rows"));
}

TEST_CASE("png encode: a photo's file is about as small as stb_image_write's", "[io][png]") {
  // The demo's wide frame (480x424) upscaled twice with bicubic, as an SR output is.
  const Tensor photo = read_image(std::string(DCSR_SOURCE_DIR) + "/demo/wide.jpg");
  const ImageU8 big = tensor_to_image(bicubic_resize(photo, 2 * photo.size(2), 2 * photo.size(3)));
  const int64_t h = big.height, w = big.width, hw = h * w;
  std::vector<uint8_t> pixels(size_t(3 * hw));
  for (int64_t i = 0; i < hw; ++i)
    for (int64_t k = 0; k < 3; ++k) pixels[size_t(3 * i + k)] = big.data[size_t(k * hw + i)];
  const std::string ours = encode_png(pixels.data(), w, h, 3);
  int64_t stb_size = 0;
  auto count = [](void* context, void*, int size) { *static_cast<int64_t*>(context) += size; };
  REQUIRE(stbi_write_png_to_func(count, &stb_size, int(w), int(h), 3, pixels.data(), int(w * 3)) != 0);
  std::cout << "png encode: " << w << "x" << h << " photo: " << ours.size() << " bytes, stb_image_write "
            << stb_size << " (" << double(ours.size()) / double(stb_size) << "x)\n";
  CHECK(double(ours.size()) <= 1.03 * double(stb_size));
}
