// PNG decoding in one pass: the image data is inflated once, its Adler-32 and
// length checked, and the rows unfiltered and converted to RGB as they stand.
// Every layout PNG defines is decoded here (stb_image no longer decodes
// PNGs: it read palette indices past the palette from uninitialised memory,
// and inflated interlaced or sub-byte files without a bound), with the pixels
// stb_image's loaders gave for 3 channels, bit for bit (tests/test_png_decode.cpp
// compares them on every layout):
//
// - bit depths 1, 2, 4, 8 and 16, as PNG allows them per colour type;
//   greyscale (in all three channels; 1, 2 and 4 bits scaled to 8 by 255, 85
//   and 17), RGB, greyscale + alpha and RGBA (the alpha dropped, not
//   composited), palette images (an index beyond the palette is an error);
// - interlaced (Adam7) and plain files;
// - 16-bit files give 16-bit samples in native byte order (stbi_load_16).
//
// The inflater is written for speed and for hostile input: a 64-bit bit
// buffer refilled eight bytes at a time, a 10-bit lookup table per Huffman
// code with a canonical decode for longer codes, matches copied eight bytes at
// a time, and every length, distance, code and size checked (the fuzzer's
// image target reaches it under AddressSanitizer).
#pragma once
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "io/image_checks.h"

namespace dcsr {

struct PngPixels {
  int64_t width = 0, height = 0;
  int file_channels = 0;  // as stb_image's `comp`: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (one more with tRNS; a palette 3)
  bool is16 = false;      // 16-bit samples (native byte order), else 8-bit
  // Interleaved RGB, height * width * 3 samples, owned (malloc: freed by std::free).
  std::unique_ptr<void, void (*)(void*)> pixels{nullptr, std::free};
};

// A pass of a PNG image: its pixels (y0 + r dy, x0 + c dx). A plain image is
// one pass (0, 0, 1, 1), an interlaced one Adam7's seven (RFC 2083 8.2), each
// filtered on its own; a pass with no pixel holds no bytes at all.
struct PngPass {
  int64_t x0, y0, dx, dy;
};
// The passes of interlace method 0 or 1, and how many.
std::pair<const PngPass*, int> png_passes(int interlace);
// A pass's width and height in pixels for a width x height image (0 where it has none).
std::array<int64_t, 2> png_pass_size(const PngPass& pass, int64_t width, int64_t height);
// The bytes of filtered image data IHDR implies: a filter byte and the
// packed row (`pixel_bits` a pixel), per row of each pass.
int64_t png_data_size(int64_t width, int64_t height, int64_t pixel_bits, int interlace);

// `bytes`: a whole PNG file, `header` what check_image_bytes found in it (the
// chunks it walked and checked, their CRCs; the decoder does not walk them
// again); `path` names it in errors. Throws a dcsr::Error naming the file
// when the header's layout is not PNG's, the image data does not inflate,
// fails its Adler-32, holds fewer bytes than the header implies (or inflates
// to more than twice that), uses an unknown row filter, or indexes past its
// palette.
PngPixels decode_png_rgb(const std::string& bytes, const ImageHeader& header, const std::string& path);

// The zlib stream `data` inflated (RFC 1950/1951), its Adler-32 checked.
// `expected`: the size the caller expects (room is made for it at once,
// untouched until written); the output may be longer, up to twice that plus
// 64 KiB, and no longer (a stream that inflates further is an error, not an
// allocation). Bytes after the Adler-32 are ignored. Errors (dcsr::Error) say
// what is wrong in the stream, for the caller to put behind the file's name.
struct Inflated {
  std::unique_ptr<uint8_t, void (*)(void*)> data{nullptr, std::free};
  size_t size = 0;
};
Inflated zlib_inflate(const uint8_t* data, size_t size, size_t expected);

}  // namespace dcsr
