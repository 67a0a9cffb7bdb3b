// PNG encoding on all CPU threads. The rows are cut into bands; each band is
// filtered and deflated on its own thread, and the bands' deflate data are
// joined into the one zlib stream PNG requires: every band but the last ends
// with an empty stored block, which brings it to a byte boundary, so the next
// band's blocks can follow it byte for byte (as pigz does). A band's matches
// reach back only within the band; with bands of at least 1 MiB that costs
// well under 1% of the size.
//
// The deflate data is LZ77 (hash chains over a 32 KiB window, one step of lazy
// matching) with the fixed Huffman codes, the same format stb_image_write
// writes, and each row takes the PNG filter with the least sum of absolute
// (signed) bytes, the heuristic stb_image_write and libpng use. A 4032x3024
// RGB photo: see dcsr_bench's png_encode line for the time against
// stb_image_write in the same run, and tests/test_png_encode.cpp for the size.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dcsr {

// The PNG file for 8-bit interleaved pixels (height rows of width * channels
// bytes; channels 1 = grey, 3 = RGB). `threads` <= 0: num_threads().
std::string encode_png(const uint8_t* pixels, int64_t width, int64_t height, int channels, int threads = 0);
// The same with 16-bit samples (interleaved, native byte order here; the file
// holds them big-endian, as PNG requires): a PNG of bit depth 16.
std::string encode_png16(const uint16_t* samples, int64_t width, int64_t height, int channels, int threads = 0);

// The same file made piece by piece, for an image made band by band: rows
// go in top to bottom, in any number of calls, and the file's bytes go to
// `sink` as soon as they are final. The bytes are encode_png's for the same
// pixels however the rows arrive (the bands are cut at the same rows and the
// IDAT chunks at the same offsets), and what is held is the rows of the bands
// not yet complete and under 1 MiB of compressed data: an image of any height
// is encoded in memory of a few bands. Bands that complete in one call are
// filtered and deflated on `threads` threads (<= 0: num_threads()).
class PngStreamEncoder {
 public:
  using Sink = std::function<void(const char* data, size_t size)>;
  // bytes_per_sample: 1 (8-bit) or 2 (16-bit, each sample big-endian as the file stores it).
  // icc_profile, exif: when not empty, an iCCP chunk carries the profile
  // (io/icc_profile.h) and an eXIf chunk the EXIF block (io/exif.h).
  PngStreamEncoder(int64_t width, int64_t height, int channels, int bytes_per_sample, Sink sink, int threads = 0,
                   const std::string& icc_profile = "", const std::string& exif = "");
  // `count` rows of width * channels samples, interleaved.
  void add_rows(const uint8_t* rows, int64_t count);
  // After the last row: the checksum and the end of the file.
  void finish();
  int64_t rows_added() const { return rows_added_; }

 private:
  void compress_bands(const uint8_t* raw, int64_t complete);
  void emit_chunks(bool last);

  int64_t width_, height_, bpp_, row_bytes_, band_rows_ = 0, bands_ = 0;
  Sink sink_;
  int threads_;
  int64_t rows_added_ = 0, next_band_ = 0;  // next_band_: the first band not yet compressed
  std::vector<uint8_t> pending_;            // raw rows from band next_band_'s first row on (not yet complete)
  std::vector<uint8_t> above_;              // the raw row above that one (zeros for row 0)
  std::string zlib_;                        // compressed bytes not yet in an IDAT chunk
  uint32_t adler_ = 1;
  bool finished_ = false;
};

// The checksums PNG and zlib use (exposed for the tests).
uint32_t crc32_png(const uint8_t* data, size_t size, uint32_t crc = 0);
uint32_t adler32(const uint8_t* data, size_t size, uint32_t adler = 1);

}  // namespace dcsr
