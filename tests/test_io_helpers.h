// Small image files made in memory for the io/ tests (tests/test_io_*.cpp):
// interleaved 8-bit pixels, JPEG bytes from stb_image_write, EXIF blocks, and
// PNG chunk surgery (walk, patch, re-CRC).
#pragma once
#include <stb_image_write.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dcsr/inference/metrics.h"
#include "io/png_encode.h"
#include "test_files.h"
#include "test_util.h"

namespace dcsr::test {

// A (1, 3, h, w) image in [0, 1] as interleaved 8-bit RGB (quantize()'s rounding).
inline std::vector<uint8_t> interleaved_rgb(const Tensor& image) {
  const int64_t h = image.size(2), w = image.size(3);
  const std::vector<double> v = quantize(image).to_vector<double>();
  std::vector<uint8_t> out(size_t(h * w * 3));
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t c = 0; c < 3; ++c) out[size_t(i * 3 + c)] = uint8_t(std::lround(v[size_t(c * h * w + i)] * 255.0));
  return out;
}

// JPEG file bytes of interleaved RGB pixels.
inline std::string jpeg_bytes(const std::vector<uint8_t>& rgb, int64_t w, int64_t h, int quality = 98) {
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  REQUIRE(stbi_write_jpg_to_func(append, &out, int(w), int(h), 3, rgb.data(), quality));
  return out;
}

inline void put16(std::string& s, uint32_t v, bool big_endian) {
  s += char(big_endian ? v >> 8 : v & 0xFF), s += char(big_endian ? v & 0xFF : v >> 8);
}
inline void put32(std::string& s, uint32_t v, bool big_endian) {
  put16(s, big_endian ? v >> 16 : v & 0xFFFF, big_endian), put16(s, big_endian ? v & 0xFFFF : v >> 16, big_endian);
}

// The TIFF block of an EXIF segment: header, then IFD0 with two entries
// (ImageWidth as a decoy, then Orientation = `orientation`), no next IFD.
inline std::string exif_tiff(int orientation, bool big_endian) {
  std::string t = big_endian ? "MM" : "II";
  put16(t, 42, big_endian);
  put32(t, 8, big_endian);  // IFD0 right after the header
  put16(t, 2, big_endian);  // two entries
  put16(t, 0x0100, big_endian), put16(t, 4, big_endian), put32(t, 1, big_endian), put32(t, 640, big_endian);
  put16(t, 0x0112, big_endian), put16(t, 3, big_endian), put32(t, 1, big_endian);
  put16(t, uint32_t(orientation), big_endian), put16(t, 0, big_endian);  // a SHORT, left-justified in the 4 bytes
  put32(t, 0, big_endian);                                               // no IFD1
  return t;
}

// `jpeg` with an APP1 segment holding "Exif\0\0" + `tiff` right after SOI.
inline std::string with_exif(const std::string& jpeg, const std::string& tiff) {
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  std::string segment = "\xFF\xE1";
  put16(segment, uint32_t(payload.size() + 2), true);
  return jpeg.substr(0, 2) + segment + payload + jpeg.substr(2);
}

// A PNG chunk: where it starts in the file and its data length.
struct PngChunk {
  size_t offset = 0;  // of the length field
  uint32_t length = 0;
  std::string type;
};

inline uint32_t read_be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint8_t(s[at + 3]);
}
inline void write_be32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + size_t(i)] = char(v >> (24 - 8 * i));
}

inline std::vector<PngChunk> png_chunks(const std::string& png) {
  std::vector<PngChunk> chunks;
  for (size_t pos = 8; pos + 12 <= png.size();) {
    PngChunk c{pos, read_be32(png, pos), png.substr(pos + 4, 4)};
    chunks.push_back(c);
    pos += 12 + c.length;
  }
  return chunks;
}

// Recomputes the CRC of `chunk` after its type or data changed.
inline void fix_crc(std::string& png, const PngChunk& chunk) {
  const auto* p = reinterpret_cast<const uint8_t*>(png.data()) + chunk.offset + 4;
  write_be32(png, chunk.offset + 8 + chunk.length, crc32_png(p, size_t(chunk.length) + 4));
}

// `png` with a tEXt chunk inserted after IHDR (an ancillary chunk, so that
// the file has one of each kind).
inline std::string with_text_chunk(const std::string& png) {
  const std::string data = std::string("Comment\0", 8) + "made by the io tests";
  std::string chunk;
  put32(chunk, uint32_t(data.size()), true);
  chunk += "tEXt" + data;
  put32(chunk, crc32_png(reinterpret_cast<const uint8_t*>(chunk.data()) + 4, data.size() + 4), true);
  const size_t after_ihdr = 8 + 12 + 13;
  return png.substr(0, after_ihdr) + chunk + png.substr(after_ihdr);
}

}  // namespace dcsr::test
