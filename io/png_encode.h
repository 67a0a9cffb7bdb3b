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
#include <string>

namespace dcsr {

// The PNG file for 8-bit interleaved pixels (height rows of width * channels
// bytes; channels 1 = grey, 3 = RGB). `threads` <= 0: num_threads().
std::string encode_png(const uint8_t* pixels, int64_t width, int64_t height, int channels, int threads = 0);
// The same with 16-bit samples (interleaved, native byte order here; the file
// holds them big-endian, as PNG requires): a PNG of bit depth 16.
std::string encode_png16(const uint16_t* samples, int64_t width, int64_t height, int channels, int threads = 0);

// The checksums PNG and zlib use (exposed for the tests).
uint32_t crc32_png(const uint8_t* data, size_t size, uint32_t crc = 0);
uint32_t adler32(const uint8_t* data, size_t size, uint32_t adler = 1);

}  // namespace dcsr
