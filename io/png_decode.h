// PNG decoding in one pass: the image data is inflated once, its Adler-32 and
// length checked, and the rows unfiltered and converted to RGB as they stand.
// Before, the data was inflated twice: once by io/image_checks.cpp to check
// it (stb_image checks neither the Adler-32 nor, always, the length) and once
// more by stb_image to decode it. The pixels are those stb_image's loaders
// give for 3 channels, bit for bit (tests/test_png_decode.cpp compares them on
// every layout this file takes):
//
// - bit depth 8 or 16, not interlaced: greyscale (the grey in all three
//   channels), RGB, greyscale + alpha and RGBA (the alpha dropped, not
//   composited), and palette images of bit depth 8 (an index beyond the
//   palette is an error here; stb_image reads an uninitialised entry);
// - 16-bit files give 16-bit samples in native byte order (stbi_load_16).
//
// Anything else (interlaced files, bit depths 1, 2 and 4) is left to
// stb_image: decode_png_rgb returns nothing and the caller takes the old way.
//
// The inflater is written for speed and for hostile input: a 64-bit bit
// buffer refilled eight bytes at a time, a 10-bit lookup table per Huffman
// code with a canonical decode for longer codes, matches copied eight bytes at
// a time, and every length, distance, code and size checked (the fuzzer's
// image target reaches it under AddressSanitizer).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "io/image_checks.h"

namespace dcsr {

struct PngPixels {
  int64_t width = 0, height = 0;
  int file_channels = 0;  // as stb_image's `comp`: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (one more with tRNS; a palette 3)
  bool is16 = false;      // 16-bit samples (native byte order), else 8-bit
  // Interleaved RGB, height * width * 3 samples, owned (malloc: freed by std::free).
  std::unique_ptr<void, void (*)(void*)> pixels{nullptr, std::free};
};

// `bytes`: a whole PNG file, `header` what check_image_bytes found in it (the
// chunks it walked and checked, their CRCs; the decoder does not walk them
// again); `path` names it in errors. Returns nothing for a layout left
// to stb_image (above). Throws a dcsr::Error naming the file when the image
// data does not inflate, fails its Adler-32, holds fewer bytes than the
// header implies, uses an unknown row filter, or indexes past its palette.
std::optional<PngPixels> decode_png_rgb(const std::string& bytes, const ImageHeader& header, const std::string& path);

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
