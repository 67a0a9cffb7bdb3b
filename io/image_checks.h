// The structure of an image file, checked before stb_image decodes it.
// stb_image trusts what it reads: it decodes PNGs without checking the chunk
// CRCs or zlib's Adler-32 (a flipped bit gives wrong pixels), and truncated
// BMP and JPEG files come out with a black or grey part. These checks walk the
// file's own structure and refuse such files with a one-line message naming
// the file and what is wrong:
//
// - PNG: the signature; every chunk's length within the file and its CRC-32;
//   IHDR first, IDAT present, IEND reached, a PLTE of whole entries (at most
//   256); with `inflate_png`, the image data is inflated and checked against
//   the stream's Adler-32 and against the size IHDR implies (one extra
//   inflate of the data: stb_image inflates it again when it decodes).
// - JPEG: the marker segments from SOI, each within the file; a frame header
//   (SOF) before the first scan; the entropy-coded data of every scan ends in
//   a marker, and the file reaches its end-of-image marker (EOI). Progressive
//   and restart-marker files walk the same way.
// - BMP: the headers within the file; the size the header states is no more
//   than the file's; the pixel rows (uncompressed and bit-field layouts) lie
//   inside the file.
// - Any format: at most kMaxImagePixels pixels, checked from the header before
//   anything is decoded.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dcsr {

// The largest image read_image() accepts: 2^28 pixels (268 Mpixel, e.g.
// 16384 x 16384). stb_image's PNG decoder stops at width x height x channels
// of 2^30 bytes, which is 2^28 pixels for RGBA and palette images; one limit
// for every format keeps the rule simple. A float32 RGB tensor of that size
// is 3.2 GB.
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

enum class ImageFormat { kPng, kJpeg, kBmp };

// What the walk of a PNG's chunks found, for the decoder (io/png_decode.h):
// IHDR's layout and where the other chunks it reads lie in the file's bytes.
struct PngChunks {
  int bit_depth = 0, colour_type = 0, interlace = 0;
  size_t palette_at = 0;    // PLTE's entries, 3 bytes each, from this offset
  int palette_entries = 0;  // 0: no PLTE chunk
  bool transparency = false;                      // a tRNS chunk
  std::vector<std::pair<size_t, size_t>> idat;  // each IDAT chunk's data: (offset, length)
};

struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  int64_t width = 0, height = 0;  // as stored, before the EXIF orientation
  int orientation = 1;            // the EXIF Orientation tag, 1-8 (io/exif.h); 1 unless a JPEG says otherwise
  PngChunks png;                  // PNG files only
};

// Checks `bytes`, the whole file `path` (only used in messages); throws a
// dcsr::Error naming the file when it is not a PNG, JPEG or BMP, is larger
// than kMaxImagePixels, or is corrupt or truncated as listed above.
ImageHeader check_image_bytes(const std::string& bytes, const std::string& path, bool inflate_png);

// The zlib stream of a checked PNG: its IDAT chunks' data from the file's
// bytes, concatenated.
std::string png_image_data(const uint8_t* bytes, const PngChunks& chunks);

// What `inflate_png` adds to check_image_bytes, for a PNG it has already
// checked without it (`header` its result): the image data inflated and
// checked against its Adler-32 and the size IHDR implies.
void check_png_image_data(const std::string& bytes, const ImageHeader& header, const std::string& path);

}  // namespace dcsr
