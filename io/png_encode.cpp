#include "io/png_encode.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tensor/error.h"
#include "runtime/threads.h"

namespace dcsr {

namespace {

// ---------------------------------------------------------------- checksums

// CRC-32 tables for eight bytes at a time ("slicing by 8"): t[0] is the
// byte-at-a-time table, t[k][n] the CRC of byte n followed by k zero bytes.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
const CrcTables& crc_tables() {
  static const CrcTables tables = [] {
    CrcTables t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][n] = c;
    }
    for (size_t k = 1; k < 8; ++k)
      for (size_t n = 0; n < 256; ++n) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xFF];
    return t;
  }();
  return tables;
}

// ---------------------------------------------------------------- filtering

int paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

// A byte under PNG filter F (0 none, 1 sub, 2 up, 3 average, 4 Paeth) from
// the raw byte x, the byte a one pixel to its left, b above it and c above a
// (0 where they fall outside the image).
template <int F>
inline uint8_t filtered_byte(int x, int a, int b, int c) {
  const int predicted = F == 0 ? 0 : F == 1 ? a : F == 2 ? b : F == 3 ? (a + b) >> 1 : paeth(a, b, c);
  return uint8_t(x - predicted);
}

// Calls visit(i, filtered byte i) along a row; bpp: bytes per pixel. The
// first pixel (nothing to its left) is split off so that the main loop has
// no branch and vectorises.
template <int F, typename Visit>
inline void for_each_filtered(const uint8_t* row, const uint8_t* above, int64_t n, int bpp, Visit&& visit) {
  const int64_t first = std::min<int64_t>(bpp, n);
  for (int64_t i = 0; i < first; ++i) visit(i, filtered_byte<F>(row[i], 0, above[i], 0));
  for (int64_t i = first; i < n; ++i) visit(i, filtered_byte<F>(row[i], row[i - bpp], above[i], above[i - bpp]));
}

template <int F>
int64_t filter_cost(const uint8_t* row, const uint8_t* above, int64_t n, int bpp) {
  int64_t cost = 0;
  for_each_filtered<F>(row, above, n, bpp, [&](int64_t, uint8_t v) { cost += std::abs(int(int8_t(v))); });
  return cost;
}

template <int F>
void write_filtered(const uint8_t* row, const uint8_t* above, int64_t n, int bpp, uint8_t* out) {
  out[0] = uint8_t(F);
  for_each_filtered<F>(row, above, n, bpp, [&](int64_t i, uint8_t v) { out[1 + i] = v; });
}

// Writes one filtered row (filter byte + n bytes) for the raw row `row` over
// `above` (the previous raw row, or zeros): the filter whose output has the
// least sum of |signed byte| (ties: the lower filter number).
void filter_row(const uint8_t* row, const uint8_t* above, int64_t n, int bpp, uint8_t* out) {
  const int64_t costs[5] = {filter_cost<0>(row, above, n, bpp), filter_cost<1>(row, above, n, bpp),
                            filter_cost<2>(row, above, n, bpp), filter_cost<3>(row, above, n, bpp),
                            filter_cost<4>(row, above, n, bpp)};
  switch (int(std::min_element(costs, costs + 5) - costs)) {
    case 0: return write_filtered<0>(row, above, n, bpp, out);
    case 1: return write_filtered<1>(row, above, n, bpp, out);
    case 2: return write_filtered<2>(row, above, n, bpp, out);
    case 3: return write_filtered<3>(row, above, n, bpp, out);
    default: return write_filtered<4>(row, above, n, bpp, out);
  }
}

// ---------------------------------------------------------------- deflate

// Fixed Huffman codes (RFC 1951 §3.2.6), bit-reversed for an LSB-first writer.
struct FixedCodes {
  uint16_t lit_code[288];
  uint8_t lit_bits[288];
  uint16_t dist_code[30];
  // Length 3..258 -> symbol (257..285), extra bit count and extra value.
  uint16_t len_symbol[259];
  uint8_t len_extra_bits[259];
  uint16_t len_extra[259];
};

uint32_t reverse_bits(uint32_t code, int bits) {
  uint32_t r = 0;
  for (int i = 0; i < bits; ++i) r |= ((code >> i) & 1u) << (bits - 1 - i);
  return r;
}

const FixedCodes& fixed_codes() {
  static const FixedCodes codes = [] {
    FixedCodes c{};
    for (int s = 0; s < 288; ++s) {
      uint32_t code;
      int bits;
      if (s < 144) code = 0x30 + s, bits = 8;
      else if (s < 256) code = 0x190 + (s - 144), bits = 9;
      else if (s < 280) code = s - 256, bits = 7;
      else code = 0xC0 + (s - 280), bits = 8;
      c.lit_code[s] = uint16_t(reverse_bits(code, bits));
      c.lit_bits[s] = uint8_t(bits);
    }
    for (int d = 0; d < 30; ++d) c.dist_code[d] = uint16_t(reverse_bits(uint32_t(d), 5));
    static const int base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const int extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    for (int k = 0; k < 29; ++k) {
      const int end = k == 28 ? 259 : base[k + 1];
      for (int len = base[k]; len < end && len < 259; ++len) {
        c.len_symbol[len] = uint16_t(257 + k);
        c.len_extra_bits[len] = uint8_t(extra[k]);
        c.len_extra[len] = uint16_t(len - base[k]);
      }
    }
    return c;
  }();
  return codes;
}

// Appends bits least significant first, as deflate packs them.
class BitWriter {
 public:
  explicit BitWriter(std::string& out) : out_(out) {}
  void put(uint32_t bits, int n) {  // n <= 32
    acc_ |= uint64_t(bits) << count_;
    count_ += n;
    while (count_ >= 8) {
      out_.push_back(char(acc_ & 0xFF));
      acc_ >>= 8;
      count_ -= 8;
    }
  }
  void align_to_byte() {
    if (count_ > 0) put(0, 8 - count_);
  }

 private:
  std::string& out_;
  uint64_t acc_ = 0;
  int count_ = 0;
};

// How many leading bytes of a and b agree, at most `limit`: eight at a time,
// the first differing byte found from the lowest set bit of the XOR (which
// is the first byte in memory on a little-endian machine).
int common_prefix(const uint8_t* a, const uint8_t* b, int limit) {
  int len = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; len + 8 <= limit; len += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + len, 8);
    std::memcpy(&y, b + len, 8);
    if (x != y) return len + (__builtin_ctzll(x ^ y) >> 3);
  }
#endif
  while (len < limit && a[len] == b[len]) ++len;
  return len;
}

constexpr int kWindow = 32768, kMinMatch = 3, kMaxMatch = 258;
constexpr int kHashBits = 15, kMaxChain = 16;

// Deflate blocks for one band of data: one fixed-Huffman block; then, unless
// `last`, an empty stored block that ends on a byte boundary (the next band
// starts there); if `last`, the block is final and padded to a byte.
std::string deflate_band(const uint8_t* data, int64_t n, bool last) {
  const FixedCodes& fc = fixed_codes();
  std::string out;
  out.reserve(size_t(n / 3 + 64));
  BitWriter bw(out);
  bw.put(last ? 1 : 0, 1);  // BFINAL
  bw.put(1, 2);             // BTYPE 01: fixed Huffman codes

  std::vector<int32_t> head(size_t(1) << kHashBits, -1), prev(kWindow, -1);
  auto hash_at = [&](int64_t i) {
    const uint32_t v = uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8 | data[i + 2];
    return (v * 2654435761u) >> (32 - kHashBits);
  };
  int64_t inserted = 0;  // positions below this are in the hash chains
  auto insert_up_to = [&](int64_t end) {
    for (; inserted < end && inserted + kMinMatch <= n; ++inserted) {
      const uint32_t h = hash_at(inserted);
      prev[inserted & (kWindow - 1)] = head[h];
      head[h] = int32_t(inserted);
    }
    inserted = std::max(inserted, end);
  };
  // The longest earlier match at i (length 0 if under kMinMatch).
  auto find = [&](int64_t i, int& best_dist) {
    int best = kMinMatch - 1;
    if (i + kMinMatch > n) return 0;
    const int limit = int(std::min<int64_t>(kMaxMatch, n - i));
    int64_t cand = head[hash_at(i)];
    for (int chain = 0; cand >= 0 && i - cand <= kWindow && chain < kMaxChain; ++chain) {
      if (data[cand + best] == data[i + best]) {
        const int len = common_prefix(data + cand, data + i, limit);
        if (len > best) {
          best = len, best_dist = int(i - cand);
          if (len == limit) break;
        }
      }
      const int64_t next = prev[cand & (kWindow - 1)];
      if (next >= cand) break;  // a slot reused by a newer position (a guard: within the window it cannot be)
      cand = next;
    }
    return best >= kMinMatch ? best : 0;
  };
  auto literal = [&](uint8_t b) { bw.put(fc.lit_code[b], fc.lit_bits[b]); };
  auto match = [&](int len, int dist) {
    const int sym = fc.len_symbol[len];
    bw.put(fc.lit_code[sym], fc.lit_bits[sym]);
    if (fc.len_extra_bits[len]) bw.put(fc.len_extra[len], fc.len_extra_bits[len]);
    const uint32_t x = uint32_t(dist - 1);
    if (x < 4) {
      bw.put(fc.dist_code[x], 5);
    } else {
      const int nb = 31 - __builtin_clz(x), hi = int((x >> (nb - 1)) & 1u);
      bw.put(fc.dist_code[2 * nb + hi], 5);
      bw.put(x - (uint32_t(2 + hi) << (nb - 1)), nb - 1);
    }
  };

  int64_t i = 0;
  while (i < n) {
    insert_up_to(i);
    int dist = 0;
    const int len = find(i, dist);
    if (len == 0) {
      literal(data[i]);
      ++i;
      continue;
    }
    // One step of lazy matching: a longer match one byte on wins.
    if (len < 32 && i + 1 < n) {
      insert_up_to(i + 1);
      int dist_next = 0;
      if (find(i + 1, dist_next) > len) {
        literal(data[i]);
        ++i;
        continue;
      }
    }
    match(len, dist);
    i += len;
  }
  bw.put(fc.lit_code[256], fc.lit_bits[256]);  // end of block
  if (!last) bw.put(0, 3);                     // BFINAL 0, BTYPE 00: an empty stored block
  bw.align_to_byte();
  if (!last) out.append("\x00\x00\xFF\xFF", 4);  // its LEN 0 and NLEN
  return out;
}

// ---------------------------------------------------------------- chunks

void put_be32(std::string& out, uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out.append(b, 4);
}

void put_chunk(std::string& out, const char* type, const char* data, size_t size) {
  put_be32(out, uint32_t(size));
  const size_t start = out.size();
  out.append(type, 4);
  out.append(data, size);
  put_be32(out, crc32_png(reinterpret_cast<const uint8_t*>(out.data() + start), size + 4));
}

}  // namespace

uint32_t crc32_png(const uint8_t* data, size_t size, uint32_t crc) {
  const CrcTables& t = crc_tables();
  crc = ~crc;
  for (; size >= 8; data += 8, size -= 8) {
    const uint32_t lo = crc ^ (uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 |
                               uint32_t(data[3]) << 24);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][data[4]] ^
          t[2][data[5]] ^ t[1][data[6]] ^ t[0][data[7]];
  }
  for (size_t i = 0; i < size; ++i) crc = t[0][(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint32_t adler32(const uint8_t* data, size_t size, uint32_t adler) {
  uint32_t a = adler & 0xFFFF, b = adler >> 16;
  while (size > 0) {
    const size_t block = std::min<size_t>(size, 5552);  // the longest run before b can overflow 32 bits
    for (size_t i = 0; i < block; ++i) a += data[i], b += a;
    a %= 65521, b %= 65521;
    data += block, size -= block;
  }
  return b << 16 | a;
}

PngStreamEncoder::PngStreamEncoder(int64_t width, int64_t height, int channels, int bytes_per_sample, Sink sink,
                                   int threads, const std::string& icc_profile, const std::string& exif)
    : width_(width), height_(height), bpp_(channels * bytes_per_sample), row_bytes_(width * bpp_),
      sink_(std::move(sink)), threads_(threads > 0 ? threads : num_threads()) {
  DCSR_CHECK(channels == 1 || channels == 3, "encode_png: ", channels, " channels (1 or 3)");
  DCSR_CHECK(bytes_per_sample == 1 || bytes_per_sample == 2, "encode_png: ", bytes_per_sample,
             " bytes per sample (1 or 2)");
  DCSR_CHECK(width > 0 && height > 0 && width < (int64_t(1) << 24) && height < (int64_t(1) << 24),
             "encode_png: bad size ", width, "x", height);
  // Bands of about 1 MiB of filtered data: the output depends neither on
  // the thread count nor on how the rows arrive.
  band_rows_ = std::max<int64_t>(1, (int64_t(1) << 20) / (row_bytes_ + 1));
  bands_ = (height + band_rows_ - 1) / band_rows_;
  std::string head("\x89PNG\r\n\x1A\n", 8), header;
  put_be32(header, uint32_t(width));
  put_be32(header, uint32_t(height));
  header += char(8 * bytes_per_sample);   // bit depth
  header += char(channels == 3 ? 2 : 0);  // colour type: RGB or grey
  header.append(3, '\0');                // deflate, adaptive filtering, no interlace
  put_chunk(head, "IHDR", header.data(), header.size());
  if (!icc_profile.empty()) {
    // iCCP: a profile name, NUL, compression method 0, the profile as a zlib stream.
    std::string iccp("ICC profile\0\0", 13);
    iccp += "\x78\x5E";
    const auto* profile = reinterpret_cast<const uint8_t*>(icc_profile.data());
    iccp += deflate_band(profile, int64_t(icc_profile.size()), /*last=*/true);
    put_be32(iccp, adler32(profile, icc_profile.size()));
    put_chunk(head, "iCCP", iccp.data(), iccp.size());
  }
  if (!exif.empty()) put_chunk(head, "eXIf", exif.data(), exif.size());
  sink_(head.data(), head.size());
  zlib_ = "\x78\x5E";  // deflate, 32 KiB window
  above_.assign(size_t(row_bytes_), 0);  // the row above row 0: zeros
}

void PngStreamEncoder::add_rows(const uint8_t* rows, int64_t count) {
  DCSR_CHECK(count >= 0 && rows_added_ + count <= height_, "encode_png: ", rows_added_ + count,
             " rows given for an image of ", height_);
  rows_added_ += count;
  const int64_t complete = rows_added_ == height_ ? bands_ : rows_added_ / band_rows_;
  // Rows from band next_band_'s first row on that complete bands take.
  const int64_t used = std::min(height_, complete * band_rows_) - next_band_ * band_rows_;
  if (pending_.empty()) {
    // The rows start at that first row: the complete bands are compressed
    // from the caller's rows, and only the rest is kept.
    compress_bands(rows, complete);
    pending_.assign(rows + used * row_bytes_, rows + count * row_bytes_);
    return;
  }
  // Grown and copied rather than insert(end, first, last): GCC 14 warns of an
  // overflow inside that vector::insert that cannot happen (-Wstringop-overflow).
  const size_t kept = pending_.size(), added = size_t(count * row_bytes_);
  pending_.resize(kept + added);
  if (added > 0) std::memcpy(pending_.data() + kept, rows, added);
  compress_bands(pending_.data(), complete);
  pending_.erase(pending_.begin(), pending_.begin() + used * row_bytes_);
}

// Filters and deflates bands next_band_ .. complete - 1, one band per thread,
// and passes their data on in order. raw: the rows from band next_band_'s
// first row on.
void PngStreamEncoder::compress_bands(const uint8_t* raw, int64_t complete) {
  const int64_t first = next_band_, ready = complete - first;
  if (ready <= 0) return;
  const int64_t line = row_bytes_ + 1, row0 = first * band_rows_;  // row0: raw's first row
  std::vector<std::vector<uint8_t>> filtered(static_cast<size_t>(ready));
  std::vector<std::string> deflated(static_cast<size_t>(ready));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
  for (int64_t k = 0; k < ready; ++k) {
    const int64_t band = first + k, y0 = band * band_rows_, y1 = std::min(height_, y0 + band_rows_);
    std::vector<uint8_t>& f = filtered[size_t(k)];
    f.resize(size_t((y1 - y0) * line));
    for (int64_t y = y0; y < y1; ++y) {
      const uint8_t* row = raw + (y - row0) * row_bytes_;
      filter_row(row, y > row0 ? row - row_bytes_ : above_.data(), row_bytes_, bpp_, f.data() + (y - y0) * line);
    }
    deflated[size_t(k)] = deflate_band(f.data(), int64_t(f.size()), band + 1 == bands_);
  }
  for (int64_t k = 0; k < ready; ++k) {
    adler_ = adler32(filtered[size_t(k)].data(), filtered[size_t(k)].size(), adler_);
    zlib_ += deflated[size_t(k)];
    emit_chunks(false);
  }
  next_band_ = complete;
  const int64_t done_rows = std::min(height_, complete * band_rows_) - row0;
  std::copy_n(raw + (done_rows - 1) * row_bytes_, row_bytes_, above_.begin());
}

// IDAT chunks of 1 MiB of the zlib stream; at the end also the remainder.
void PngStreamEncoder::emit_chunks(bool last) {
  const size_t chunk = size_t(1) << 20;
  size_t at = 0;
  std::string out;
  for (; zlib_.size() - at >= chunk || (last && at < zlib_.size()); at += std::min(chunk, zlib_.size() - at))
    put_chunk(out, "IDAT", zlib_.data() + at, std::min(chunk, zlib_.size() - at));
  if (at == 0) return;
  zlib_.erase(0, at);
  sink_(out.data(), out.size());
}

void PngStreamEncoder::finish() {
  DCSR_CHECK(rows_added_ == height_, "encode_png: ", rows_added_, " of the image's ", height_, " rows were given");
  DCSR_CHECK(!finished_, "encode_png: finished twice");
  finished_ = true;
  put_be32(zlib_, adler_);
  emit_chunks(true);
  std::string end;
  put_chunk(end, "IEND", "", 0);
  sink_(end.data(), end.size());
}

namespace {

// bytes_per_sample: 1 (8-bit) or 2 (16-bit, big-endian samples as PNG stores them).
std::string encode_png_samples(const uint8_t* pixels, int64_t width, int64_t height, int channels,
                               int bytes_per_sample, int threads) {
  std::string png;
  PngStreamEncoder encoder(
      width, height, channels, bytes_per_sample, [&](const char* data, size_t size) { png.append(data, size); },
      threads);
  encoder.add_rows(pixels, height);
  encoder.finish();
  return png;
}

}  // namespace

std::string encode_png(const uint8_t* pixels, int64_t width, int64_t height, int channels, int threads) {
  return encode_png_samples(pixels, width, height, channels, 1, threads);
}

std::string encode_png16(const uint16_t* samples, int64_t width, int64_t height, int channels, int threads) {
  DCSR_CHECK(width > 0 && height > 0 && width < (int64_t(1) << 24) && height < (int64_t(1) << 24),
             "encode_png16: bad size ", width, "x", height);
  const size_t count = size_t(width * height * channels);
  std::vector<uint8_t> big_endian(2 * count);
  for (size_t i = 0; i < count; ++i) {
    big_endian[2 * i] = uint8_t(samples[i] >> 8);
    big_endian[2 * i + 1] = uint8_t(samples[i] & 0xFF);
  }
  return encode_png_samples(big_endian.data(), width, height, channels, 2, threads);
}

}  // namespace dcsr
