// JPEG encoding, rows in as they are made, bytes out as they are final, the
// block transforms on all CPU threads.
//
// The coding is stb_image_write's (after Jon Olick's jo_jpeg): baseline
// sequential JPEG, JFIF; Rec. 601 colour conversion in float; the float AAN
// DCT; the Annex K quantisation tables scaled by quality as IJG does; chroma
// 4:2:0 (2x2 averages) at quality <= 90 and 4:4:4 above; the standard Huffman
// tables; the last row and column repeated to fill partial blocks. So the
// bytes are stbi_write_jpg_to_func's for the same pixels (tested), however the
// rows arrive. What differs is what is held: the rows of one block row (8, or
// 16 with 4:2:0) and the coefficients of the block rows complete in one call,
// not the whole image (stb needs all its samples at once: 3 bytes a pixel).
// Grey images (1 channel) are written as stb writes them: three components,
// the chroma blocks neutral.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dcsr {

class JpegStreamEncoder {
 public:
  using Sink = std::function<void(const char* data, size_t size)>;
  // width, height: 1 to 65535; channels: 1 (grey) or 3 (RGB); quality 1 to 100.
  // app_segments: whole APPn segments (EXIF's APP1, the ICC profile's APP2:
  // io/exif.h, io/icc_profile.h) placed right after the JFIF segment.
  // threads <= 0: num_threads().
  JpegStreamEncoder(int64_t width, int64_t height, int channels, int quality, Sink sink, int threads = 0,
                    const std::string& app_segments = "");
  // `count` rows of width * channels 8-bit samples, interleaved, top to bottom.
  void add_rows(const uint8_t* rows, int64_t count);
  // After the last row: the final bits and the end-of-image marker.
  void finish();
  int64_t rows_added() const { return rows_added_; }

 private:
  // Transforms and codes `count` complete block rows (block_rows_ image rows each).
  void encode_block_rows(const uint8_t* rows, int64_t count);
  void put_bits(uint32_t code, int length);

  int64_t width_, height_, channels_;
  bool subsample_;             // 4:2:0 (16x16 units of 4 Y + U + V) or 4:4:4 (8x8 units of Y + U + V)
  int64_t block_rows_;         // image rows per unit row: 16 or 8
  Sink sink_;
  int threads_;
  float y_divisors_[64], uv_divisors_[64];  // reciprocal quantisation steps with the DCT's scale, row-major
  uint16_t dc_y_[12][2], ac_y_[256][2], dc_uv_[12][2], ac_uv_[256][2];  // (code, length)
  int64_t rows_added_ = 0;
  std::vector<uint8_t> pending_;  // rows of the unit row not yet complete
  std::vector<int16_t> coefficients_;  // quantised, zigzag order, for the unit rows being coded
  int dc_prediction_[3] = {0, 0, 0};
  uint32_t bit_buffer_ = 0;
  int bit_count_ = 0;
  std::string out_;  // coded bytes not yet handed to the sink
  bool finished_ = false;
};

// The whole file for an image in memory (height rows of width * channels bytes).
std::string encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality,
                        int threads = 0);

}  // namespace dcsr
