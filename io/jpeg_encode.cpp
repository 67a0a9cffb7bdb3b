// Streamed JPEG encoding (jpeg_encode.h). Each step mirrors stb_image_write's
// JPEG writer (stbiw__jpg_*), so that the file is the same byte for byte: the
// same float expressions in the same order, the same rounding, the same tables.
#include "io/jpeg_encode.h"

#include <algorithm>
#include <cstring>

#include "runtime/threads.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

// Zigzag position of each row-major coefficient.
constexpr uint8_t kZigzag[64] = {0,  1,  5,  6,  14, 15, 27, 28, 2,  4,  7,  13, 16, 26, 29, 42,
                                 3,  8,  12, 17, 25, 30, 41, 43, 9,  11, 18, 24, 31, 40, 44, 53,
                                 10, 19, 23, 32, 39, 45, 52, 54, 20, 22, 33, 38, 46, 51, 55, 60,
                                 21, 34, 37, 47, 50, 56, 59, 61, 35, 36, 48, 49, 57, 58, 62, 63};

// ITU T.81 Annex K: quantisation tables (row-major) and Huffman tables (code
// counts per length 1-16, then the symbols).
constexpr uint8_t kLumaQuant[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                    14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                    18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
constexpr uint8_t kChromaQuant[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                      24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                                      99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                      99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};
constexpr uint8_t kDcLumaCounts[16] = {0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
constexpr uint8_t kDcChromaCounts[16] = {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
constexpr uint8_t kDcSymbols[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
constexpr uint8_t kAcLumaCounts[16] = {0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d};
constexpr uint8_t kAcLumaSymbols[162] = {
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14,
    0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09,
    0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65,
    0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
    0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
    0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};
constexpr uint8_t kAcChromaCounts[16] = {0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77};
constexpr uint8_t kAcChromaSymbols[162] = {
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22, 0x32,
    0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16,
    0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39,
    0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86,
    0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
    0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
    0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};

// The AAN DCT's output scale per frequency, times sqrt(8).
constexpr float kAanScale[8] = {1.0f * 2.828427125f,         1.387039845f * 2.828427125f, 1.306562965f * 2.828427125f,
                                1.175875602f * 2.828427125f, 1.0f * 2.828427125f,         0.785694958f * 2.828427125f,
                                0.541196100f * 2.828427125f, 0.275899379f * 2.828427125f};

// Canonical Huffman codes from counts and symbols (T.81 Annex C): table[symbol] = (code, length).
template <size_t N>
void huffman_codes(const uint8_t counts[16], const uint8_t* symbols, uint16_t (&table)[N][2]) {
  std::memset(table, 0, sizeof(table));
  uint32_t code = 0;
  size_t k = 0;
  for (int length = 1; length <= 16; ++length, code <<= 1)
    for (int i = 0; i < counts[length - 1]; ++i, ++code, ++k)
      table[symbols[k]][0] = uint16_t(code), table[symbols[k]][1] = uint16_t(length);
}

// The float AAN forward DCT of 8 values a stride apart, in place (stbiw__jpg_DCT).
inline void dct8(float* d, int64_t stride) {
  float d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride];
  float d4 = d[4 * stride], d5 = d[5 * stride], d6 = d[6 * stride], d7 = d[7 * stride];
  float tmp0 = d0 + d7, tmp7 = d0 - d7, tmp1 = d1 + d6, tmp6 = d1 - d6;
  float tmp2 = d2 + d5, tmp5 = d2 - d5, tmp3 = d3 + d4, tmp4 = d3 - d4;
  // Even part.
  float tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  d0 = tmp10 + tmp11;
  d4 = tmp10 - tmp11;
  float z1 = (tmp12 + tmp13) * 0.707106781f;
  d2 = tmp13 + z1;
  d6 = tmp13 - z1;
  // Odd part.
  tmp10 = tmp4 + tmp5;
  tmp11 = tmp5 + tmp6;
  tmp12 = tmp6 + tmp7;
  float z5 = (tmp10 - tmp12) * 0.382683433f;
  float z2 = tmp10 * 0.541196100f + z5;
  float z4 = tmp12 * 1.306562965f + z5;
  float z3 = tmp11 * 0.707106781f;
  float z11 = tmp7 + z3, z13 = tmp7 - z3;
  d[5 * stride] = z13 + z2;
  d[3 * stride] = z13 - z2;
  d[1 * stride] = z11 + z4;
  d[7 * stride] = z11 - z4;
  d[0] = d0, d[2 * stride] = d2, d[4 * stride] = d4, d[6 * stride] = d6;
}

// One 8x8 block (row stride `stride`), transformed in place and quantised
// into `out` in zigzag order (stbiw__jpg_processDU's first half).
void transform_block(float* block, int64_t stride, const float* divisors, int16_t* out) {
  for (int64_t r = 0; r < 8; ++r) dct8(block + r * stride, 1);
  for (int64_t c = 0; c < 8; ++c) dct8(block + c, stride);
  for (int64_t y = 0, j = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x, ++j) {
      const float v = block[y * stride + x] * divisors[j];
      out[kZigzag[j]] = int16_t(int(v < 0 ? v - 0.5f : v + 0.5f));
    }
}

// A value's JPEG category (bit count) and its bits (stbiw__jpg_calcBits).
inline void value_bits(int value, uint32_t& bits, int& length) {
  int magnitude = value < 0 ? -value : value;
  const int v = value < 0 ? value - 1 : value;
  length = 1;
  while (magnitude >>= 1) ++length;
  bits = uint32_t(v) & ((1u << length) - 1);
}

}  // namespace

JpegStreamEncoder::JpegStreamEncoder(int64_t width, int64_t height, int channels, int quality, Sink sink, int threads,
                                     const std::string& app_segments)
    : width_(width), height_(height), channels_(channels), sink_(std::move(sink)),
      threads_(threads > 0 ? threads : num_threads()) {
  DCSR_CHECK(width >= 1 && width <= 65535 && height >= 1 && height <= 65535, "JPEG: ", width, "x", height,
             " pixels (1 to 65535 each way)");
  DCSR_CHECK(channels == 1 || channels == 3, "JPEG: ", channels, " channels (1 or 3)");
  DCSR_CHECK(quality >= 1 && quality <= 100, "JPEG: quality ", quality, " (1 to 100)");
  subsample_ = quality <= 90;
  block_rows_ = subsample_ ? 16 : 8;
  // IJG's quality scaling.
  const int scale = quality < 50 ? 5000 / quality : 200 - quality * 2;
  uint8_t y_table[64], uv_table[64];  // zigzag order, as the file stores them
  for (int i = 0; i < 64; ++i) {
    const int y = (kLumaQuant[i] * scale + 50) / 100, uv = (kChromaQuant[i] * scale + 50) / 100;
    y_table[kZigzag[i]] = uint8_t(std::clamp(y, 1, 255));
    uv_table[kZigzag[i]] = uint8_t(std::clamp(uv, 1, 255));
  }
  for (int row = 0, k = 0; row < 8; ++row)
    for (int col = 0; col < 8; ++col, ++k) {
      y_divisors_[k] = 1 / (y_table[kZigzag[k]] * kAanScale[row] * kAanScale[col]);
      uv_divisors_[k] = 1 / (uv_table[kZigzag[k]] * kAanScale[row] * kAanScale[col]);
    }
  huffman_codes(kDcLumaCounts, kDcSymbols, dc_y_);
  huffman_codes(kAcLumaCounts, kAcLumaSymbols, ac_y_);
  huffman_codes(kDcChromaCounts, kDcSymbols, dc_uv_);
  huffman_codes(kAcChromaCounts, kAcChromaSymbols, ac_uv_);

  // SOI, APP0 (JFIF 1.1, no density unit, 1:1), the caller's segments, DQT.
  std::string head = std::string("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 20);
  head += app_segments;
  head += std::string("\xFF\xDB\x00\x84\x00", 5);
  head.append(reinterpret_cast<const char*>(y_table), 64);
  head += '\x01';
  head.append(reinterpret_cast<const char*>(uv_table), 64);
  // SOF0: 8-bit, three components (Y sampled 2x2 or 1x1; U, V 1x1), then DHT.
  const uint8_t frame[] = {0xFF, 0xC0, 0, 0x11, 8, uint8_t(height >> 8), uint8_t(height & 0xFF), uint8_t(width >> 8),
                           uint8_t(width & 0xFF), 3, 1, uint8_t(subsample_ ? 0x22 : 0x11), 0, 2, 0x11, 1, 3, 0x11, 1,
                           0xFF, 0xC4, 0x01, 0xA2, 0};
  head.append(reinterpret_cast<const char*>(frame), sizeof(frame));
  auto table = [&](uint8_t id, const uint8_t counts[16], const uint8_t* symbols, size_t n) {
    if (id != 0) head += char(id);  // the first table's class/id byte is frame[]'s last byte
    head.append(reinterpret_cast<const char*>(counts), 16);
    head.append(reinterpret_cast<const char*>(symbols), n);
  };
  table(0x00, kDcLumaCounts, kDcSymbols, 12);
  table(0x10, kAcLumaCounts, kAcLumaSymbols, 162);
  table(0x01, kDcChromaCounts, kDcSymbols, 12);
  table(0x11, kAcChromaCounts, kAcChromaSymbols, 162);
  // SOS: the three components, tables Y 0/0, U and V 1/1, spectral 0-63.
  head += std::string("\xFF\xDA\x00\x0C\x03\x01\x00\x02\x11\x03\x11\x00\x3F\x00", 14);
  sink_(head.data(), head.size());
}

void JpegStreamEncoder::put_bits(uint32_t code, int length) {
  // stbiw__jpg_writeBits: a 24-bit window, whole bytes out, each 0xFF followed by a stuffed 0x00.
  bit_count_ += length;
  bit_buffer_ |= code << (24 - bit_count_);
  while (bit_count_ >= 8) {
    const char c = char((bit_buffer_ >> 16) & 255);
    out_ += c;
    if (c == '\xFF') out_ += '\0';
    bit_buffer_ <<= 8;
    bit_count_ -= 8;
  }
}

void JpegStreamEncoder::encode_block_rows(const uint8_t* rows, int64_t count) {
  const int64_t unit = block_rows_;  // a unit is unit x unit pixels
  const int64_t units = (width_ + unit - 1) / unit;
  const int64_t blocks_per_unit = subsample_ ? 6 : 3;  // Y Y Y Y U V, or Y U V
  const int64_t row_bytes = width_ * channels_;
  const int64_t green = channels_ == 3 ? 1 : 0, blue = channels_ == 3 ? 2 : 0;  // grey: r = g = b
  // Unit rows go in chunks whose coefficients take at most about 8 MiB.
  const int64_t per_unit_row = units * blocks_per_unit * 64;
  const int64_t chunk = std::max<int64_t>(1, (int64_t(8) << 20) / int64_t(sizeof(int16_t) * per_unit_row));
  for (int64_t first = 0; first < count; first += chunk) {
    const int64_t n = std::min(chunk, count - first);
    coefficients_.resize(size_t(n * per_unit_row));
    // The transforms: every unit on its own, on all threads.
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (int64_t task = 0; task < n * units; ++task) {
      const int64_t unit_row = task / units, ux = task % units;
      const uint8_t* top = rows + (first + unit_row) * unit * row_bytes;
      float Y[256], U[256], V[256];
      for (int64_t r = 0, pos = 0; r < unit; ++r) {
        const uint8_t* line = top + r * row_bytes;
        for (int64_t col = ux * unit; col < ux * unit + unit; ++col, ++pos) {
          const int64_t p = std::min(col, width_ - 1) * channels_;  // the last column repeated
          const float r8 = line[p], g8 = line[p + green], b8 = line[p + blue];
          Y[pos] = +0.29900f * r8 + 0.58700f * g8 + 0.11400f * b8 - 128;
          U[pos] = -0.16874f * r8 - 0.33126f * g8 + 0.50000f * b8;
          V[pos] = +0.50000f * r8 - 0.41869f * g8 - 0.08131f * b8;
        }
      }
      int16_t* out = coefficients_.data() + (unit_row * units + ux) * blocks_per_unit * 64;
      if (subsample_) {
        transform_block(Y + 0, 16, y_divisors_, out);
        transform_block(Y + 8, 16, y_divisors_, out + 64);
        transform_block(Y + 128, 16, y_divisors_, out + 128);
        transform_block(Y + 136, 16, y_divisors_, out + 192);
        float sub_u[64], sub_v[64];
        for (int64_t yy = 0, pos = 0; yy < 8; ++yy)
          for (int64_t xx = 0; xx < 8; ++xx, ++pos) {
            const int64_t j = yy * 32 + xx * 2;
            sub_u[pos] = (U[j + 0] + U[j + 1] + U[j + 16] + U[j + 17]) * 0.25f;
            sub_v[pos] = (V[j + 0] + V[j + 1] + V[j + 16] + V[j + 17]) * 0.25f;
          }
        transform_block(sub_u, 8, uv_divisors_, out + 256);
        transform_block(sub_v, 8, uv_divisors_, out + 320);
      } else {
        transform_block(Y, 8, y_divisors_, out);
        transform_block(U, 8, uv_divisors_, out + 64);
        transform_block(V, 8, uv_divisors_, out + 128);
      }
    }
    // The coding, in order (each block's DC is coded against the one before
    // of its component): stbiw__jpg_processDU's second half.
    for (int64_t b = 0; b < n * units * blocks_per_unit; ++b) {
      const int64_t in_unit = b % blocks_per_unit;
      const int component = in_unit < blocks_per_unit - 2 ? 0 : int(in_unit - (blocks_per_unit - 3));
      const uint16_t(*dc)[2] = component == 0 ? dc_y_ : dc_uv_;
      const uint16_t(*ac)[2] = component == 0 ? ac_y_ : ac_uv_;
      const int16_t* du = coefficients_.data() + b * 64;
      uint32_t bits;
      int length;
      const int diff = du[0] - dc_prediction_[component];
      dc_prediction_[component] = du[0];
      if (diff == 0) {
        put_bits(dc[0][0], dc[0][1]);
      } else {
        value_bits(diff, bits, length);
        put_bits(dc[length][0], dc[length][1]);
        put_bits(bits, length);
      }
      int end = 63;  // the last non-zero coefficient
      while (end > 0 && du[end] == 0) --end;
      if (end == 0) {
        put_bits(ac[0x00][0], ac[0x00][1]);  // end of block
        continue;
      }
      for (int i = 1; i <= end; ++i) {
        const int start = i;
        while (du[i] == 0 && i <= end) ++i;
        int zeros = i - start;
        for (int k = 0; k < zeros >> 4; ++k) put_bits(ac[0xF0][0], ac[0xF0][1]);  // 16 zeros
        zeros &= 15;
        value_bits(du[i], bits, length);
        put_bits(ac[(zeros << 4) + length][0], ac[(zeros << 4) + length][1]);
        put_bits(bits, length);
      }
      if (end != 63) put_bits(ac[0x00][0], ac[0x00][1]);
    }
    sink_(out_.data(), out_.size());
    out_.clear();
  }
}

void JpegStreamEncoder::add_rows(const uint8_t* rows, int64_t count) {
  DCSR_CHECK(!finished_ && count >= 0 && rows_added_ + count <= height_, "JPEG: ", count, " more rows after ",
             rows_added_, " of ", height_, finished_ ? " (finished)" : "");
  const int64_t row_bytes = width_ * channels_;
  const int64_t given = count;
  if (!pending_.empty()) {  // complete the unit row begun before
    const int64_t take = std::min(count, block_rows_ - int64_t(pending_.size()) / row_bytes);
    pending_.insert(pending_.end(), rows, rows + take * row_bytes);
    rows += take * row_bytes, count -= take;
    if (int64_t(pending_.size()) == block_rows_ * row_bytes) encode_block_rows(pending_.data(), 1), pending_.clear();
  }
  const int64_t whole = count / block_rows_;  // whole unit rows straight from the caller's memory
  if (whole > 0) encode_block_rows(rows, whole);
  rows += whole * block_rows_ * row_bytes, count -= whole * block_rows_;
  pending_.insert(pending_.end(), rows, rows + count * row_bytes);
  rows_added_ += given;
  if (rows_added_ == height_ && !pending_.empty()) {  // the last unit row: its last row repeated
    std::vector<uint8_t> last(pending_.end() - row_bytes, pending_.end());
    while (int64_t(pending_.size()) < block_rows_ * row_bytes) pending_.insert(pending_.end(), last.begin(), last.end());
    encode_block_rows(pending_.data(), 1);
    std::vector<uint8_t>().swap(pending_);
  }
}

void JpegStreamEncoder::finish() {
  DCSR_CHECK(!finished_, "JPEG: the file was already finished");
  DCSR_CHECK(rows_added_ == height_, "JPEG: finished after ", rows_added_, " of ", height_, " rows");
  put_bits(0x7F, 7);  // fill the last byte with ones
  out_ += "\xFF\xD9";  // EOI
  sink_(out_.data(), out_.size());
  out_.clear();
  finished_ = true;
}

std::string encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int channels, int quality, int threads) {
  std::string file;
  JpegStreamEncoder encoder(width, height, channels, quality, [&](const char* d, size_t n) { file.append(d, n); },
                            threads);
  encoder.add_rows(pixels, height);
  encoder.finish();
  return file;
}

}  // namespace dcsr
