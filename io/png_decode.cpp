// PNG decoding in one pass (png_decode.h): inflate, unfilter, convert to RGB.
#include "io/png_decode.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "io/png_encode.h"  // adler32
#include "tensor/error.h"

namespace dcsr {

namespace {

// ---------------------------------------------------------------- inflate

// The deflate stream's bits, least significant first. The buffer holds at
// least 56 bits after refill(): past the stream's end it is padded with zero
// bytes, and more than a buffer's worth of padding means the stream ended
// inside a block.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  void refill() {
    if (end_ - p_ >= 8) {  // eight bytes at once; only the whole bytes taken advance p_
      uint64_t v;
      std::memcpy(&v, p_, 8);  // little-endian hosts (x86-64, AArch64)
      bits_ |= v << count_;
      p_ += (63 - count_) >> 3;
      count_ |= 56;
      return;
    }
    while (count_ < 56) {  // (count_ stays below 64: a whole byte more would not fit)
      uint64_t byte = 0;
      if (p_ < end_) byte = *p_++;
      else if (++padding_ > 8) fail("unexpected end of data");
      bits_ |= byte << count_;
      count_ += 8;
    }
  }
  uint32_t peek(int n) const { return uint32_t(bits_ & ((uint64_t(1) << n) - 1)); }
  void consume(int n) { bits_ >>= n, count_ -= n; }
  uint32_t take(int n) {  // n <= 32, within what refill() gave
    const uint32_t v = peek(n);
    consume(n);
    return v;
  }
  void align_to_byte() { consume(count_ & 7); }
  // Whether bits were taken from the padding: the stream ended too soon.
  bool overrun() const { return 8 * padding_ > count_; }

  // A stored block's bytes: those still in the buffer, then straight from the stream.
  void copy_bytes(uint8_t* out, size_t n) {
    for (; n > 0 && count_ >= 8; --n) *out++ = uint8_t(take(8));
    if (n == 0) return;
    if (padding_ > 0 || size_t(end_ - p_) < n) fail("unexpected end of data in a stored block");
    std::memcpy(out, p_, n);
    p_ += n;
    bits_ = 0;  // (the bits above count_, a partial read of the bytes just copied, are stale)
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t bits_ = 0;
  int count_ = 0;
  int padding_ = 0;
};

constexpr int kFastBits = 10;  // codes up to this long decode with one lookup

// A canonical Huffman code (RFC 1951 3.2.2) from its code lengths.
struct Huffman {
  std::array<uint16_t, 1 << kFastBits> fast{};  // next kFastBits bits -> symbol << 4 | length; 0: a longer code
  std::array<uint16_t, 16> count{};             // codes of each length
  std::array<uint16_t, 288> symbol{};           // symbols by code (canonical order)

  void build(const uint8_t* lengths, int n) {
    count.fill(0);
    for (int s = 0; s < n; ++s) ++count[lengths[s]];
    count[0] = 0;
    int left = 1;  // codes still free at the current length
    for (int len = 1; len <= 15; ++len) {
      left = 2 * left - count[size_t(len)];
      if (left < 0) fail("over-subscribed Huffman code lengths");
    }
    std::array<uint16_t, 16> next{};
    for (int len = 1; len < 15; ++len) next[size_t(len + 1)] = uint16_t(next[size_t(len)] + count[size_t(len)]);
    for (int s = 0; s < n; ++s)
      if (lengths[s]) symbol[next[lengths[s]]++] = uint16_t(s);
    fast.fill(0);
    for (int len = 1, code = 0, k = 0; len <= kFastBits; ++len, code <<= 1)
      for (int i = 0; i < count[size_t(len)]; ++i, ++code, ++k) {
        int reversed = 0;  // the code's bits come first-bit-first from the stream
        for (int b = 0; b < len; ++b) reversed |= ((code >> b) & 1) << (len - 1 - b);
        for (int j = reversed; j < (1 << kFastBits); j += 1 << len)
          fast[size_t(j)] = uint16_t(symbol[size_t(k)] << 4 | len);
      }
  }

  // The next symbol; refill() must have run (a code is at most 15 bits).
  int decode(BitReader& in) const {
    const uint16_t entry = fast[in.peek(kFastBits)];
    if (entry) {
      in.consume(entry & 15);
      return entry >> 4;
    }
    // Longer codes: canonical decoding, a bit at a time (puff.c's way).
    const uint32_t bits = in.peek(15);
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= 15; ++len) {
      code |= int((bits >> (len - 1)) & 1);
      const int n = count[size_t(len)];
      if (code - n < first) {
        in.consume(len);
        return symbol[size_t(index + code - first)];
      }
      index += n;
      first = (first + n) << 1;
      code <<= 1;
    }
    fail("a code that is not in the block's Huffman code");
  }
};

// RFC 1951 3.2.5: the base and extra bits of each length code (257..285)
// and distance code (0..29).
constexpr uint16_t kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistanceBase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                        33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                        1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint8_t kDistanceExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                        6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// The output, grown on demand up to a limit; 16 bytes of slack past the
// capacity let matches be copied eight bytes at a time.
class Output {
 public:
  Output(size_t expected) : limit_(2 * expected + (size_t(1) << 16)) { grow(std::max<size_t>(expected, 64)); }
  uint8_t* at(size_t pos) { return data_.get() + pos; }
  size_t size = 0;
  // Room for n more bytes.
  void reserve_more(size_t n) {
    if (size + n <= capacity_) return;
    if (size + n > limit_) fail("it inflates to more than twice the size its header implies");
    grow(std::min(limit_, std::max(size + n, 2 * capacity_)));
  }
  Inflated release() {
    Inflated r;
    r.data.reset(data_.release());
    r.size = size;
    return r;
  }

 private:
  void grow(size_t capacity) {
    void* p = std::realloc(data_.get(), capacity + 16);
    DCSR_CHECK(p, "out of memory inflating ", capacity, " bytes");
    data_.release();
    data_.reset(static_cast<uint8_t*>(p));
    capacity_ = capacity;
  }
  std::unique_ptr<uint8_t, void (*)(void*)> data_{nullptr, std::free};
  size_t capacity_ = 0, limit_;
};

void inflate_huffman_block(BitReader& in, const Huffman& literal, const Huffman& distance, Output& out) {
  for (;;) {
    in.refill();  // 56 bits: a literal/length code with its extra bits and a distance code with its own
    const int sym = literal.decode(in);
    if (sym < 256) {
      out.reserve_more(1);
      *out.at(out.size++) = uint8_t(sym);
      continue;
    }
    if (sym == 256) return;
    if (sym > 285) fail("length code ", sym, " (286 and 287 are not used)");
    const size_t length = kLengthBase[sym - 257] + in.take(kLengthExtra[sym - 257]);
    const int d = distance.decode(in);
    if (d > 29) fail("distance code ", d, " (30 and 31 are not used)");
    const size_t back = kDistanceBase[d] + in.take(kDistanceExtra[d]);
    if (back > out.size) fail("a match reaches ", back, " bytes back, before the start of the data");
    out.reserve_more(length);
    uint8_t* dst = out.at(out.size);
    const uint8_t* src = dst - back;
    if (back >= 8) {  // eight bytes at a time: each chunk reads only bytes already written
      for (size_t i = 0; i < length; i += 8) std::memcpy(dst + i, src + i, 8);
    } else if (back == 1) {
      std::memset(dst, *src, length);
    } else {
      for (size_t i = 0; i < length; ++i) dst[i] = src[i];
    }
    out.size += length;
  }
}

// The code lengths of a dynamic block's two codes (RFC 1951 3.2.7).
void read_dynamic_codes(BitReader& in, Huffman& literal, Huffman& distance) {
  in.refill();
  const int n_literal = int(in.take(5)) + 257, n_distance = int(in.take(5)) + 1, n_length = int(in.take(4)) + 4;
  if (n_literal > 286 || n_distance > 30) fail("a dynamic block declares ", n_literal, " and ", n_distance, " codes");
  static constexpr uint8_t kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint8_t length_lengths[19] = {};
  for (int i = 0; i < n_length; ++i) {
    in.refill();
    length_lengths[kOrder[i]] = uint8_t(in.take(3));
  }
  Huffman lengths_code;
  lengths_code.build(length_lengths, 19);
  uint8_t lengths[286 + 30] = {};
  for (int i = 0; i < n_literal + n_distance;) {
    in.refill();
    const int sym = lengths_code.decode(in);
    if (sym < 16) {
      lengths[i++] = uint8_t(sym);
      continue;
    }
    int repeat = 0;
    uint8_t value = 0;
    if (sym == 16) {
      if (i == 0) fail("a repeated code length with none before it");
      value = lengths[i - 1], repeat = 3 + int(in.take(2));
    } else {
      repeat = sym == 17 ? 3 + int(in.take(3)) : 11 + int(in.take(7));
    }
    if (i + repeat > n_literal + n_distance) fail("code lengths repeated past the declared count");
    std::fill(lengths + i, lengths + i + repeat, value);
    i += repeat;
  }
  if (lengths[256] == 0) fail("a dynamic block without an end-of-block code");
  literal.build(lengths, n_literal);
  distance.build(lengths + n_literal, n_distance);
}

}  // namespace

Inflated zlib_inflate(const uint8_t* data, size_t size, size_t expected) {
  if (size < 6) fail("a zlib stream of ", size, " bytes");
  const int cmf = data[0], flg = data[1];
  if ((cmf & 15) != 8 || (cmf >> 4) > 7 || (cmf * 256 + flg) % 31 != 0) fail("a bad zlib header");
  if (flg & 32) fail("a preset dictionary, which PNG does not allow");
  BitReader in(data + 2, size - 2);
  Output out(expected);
  Huffman literal, distance;
  static const Huffman fixed_literal = [] {
    uint8_t l[288];
    std::fill(l, l + 144, 8), std::fill(l + 144, l + 256, 9);
    std::fill(l + 256, l + 280, 7), std::fill(l + 280, l + 288, 8);
    Huffman h;
    h.build(l, 288);
    return h;
  }();
  static const Huffman fixed_distance = [] {
    uint8_t l[30];
    std::fill(l, l + 30, 5);
    Huffman h;
    h.build(l, 30);
    return h;
  }();
  for (bool last = false; !last;) {
    in.refill();
    last = in.take(1) != 0;
    const uint32_t type = in.take(2);
    if (type == 0) {  // stored
      in.align_to_byte();
      in.refill();
      const uint32_t length = in.take(16), complement = in.take(16);
      if ((length ^ 0xFFFF) != complement) fail("a stored block's length does not match its complement");
      out.reserve_more(length);
      in.copy_bytes(out.at(out.size), length);
      out.size += length;
    } else if (type == 1) {
      inflate_huffman_block(in, fixed_literal, fixed_distance, out);
    } else if (type == 2) {
      read_dynamic_codes(in, literal, distance);
      inflate_huffman_block(in, literal, distance, out);
    } else {
      fail("a block of type 3 (reserved)");
    }
    if (in.overrun()) fail("unexpected end of data");
  }
  in.align_to_byte();
  in.refill();
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored = stored << 8 | in.take(8);
  if (in.overrun()) fail("the stream ends before its Adler-32");
  if (stored != adler32(out.at(0), out.size)) fail("the Adler-32 of its image data does not match");
  return out.release();
}

// ---------------------------------------------------------------- PNG

namespace {

// The Paeth predictor (RFC 2083 6.6) without its three absolute values:
// stb_image's form, equal to the reference on all 2^24 inputs (checked when
// it was written).
inline int paeth(int a, int b, int c) {
  const int threshold = 3 * c - (a + b);
  const int lo = a < b ? a : b, hi = a < b ? b : a;
  const int t = hi <= threshold ? lo : c;
  return threshold <= lo ? hi : t;
}

// Undoes row filter `type` in place (RFC 2083 6): `row` and the row above
// (`prior`, all zeros for the first row), `n` bytes, `bpp` bytes per pixel
// (kBpp when not 0: the common sizes get loops of their own).
template <size_t kBpp>
bool unfilter_row(int type, uint8_t* row, const uint8_t* prior, size_t n, size_t runtime_bpp) {
  const size_t bpp = kBpp ? kBpp : runtime_bpp;
  switch (type) {
    case 0:
      return true;
    case 1:
      for (size_t i = bpp; i < n; ++i) row[i] = uint8_t(row[i] + row[i - bpp]);
      return true;
    case 2:
      for (size_t i = 0; i < n; ++i) row[i] = uint8_t(row[i] + prior[i]);
      return true;
    case 3:
      for (size_t i = 0; i < bpp; ++i) row[i] = uint8_t(row[i] + (prior[i] >> 1));
      for (size_t i = bpp; i < n; ++i) row[i] = uint8_t(row[i] + ((row[i - bpp] + prior[i]) >> 1));
      return true;
    case 4:
      for (size_t i = 0; i < bpp; ++i) row[i] = uint8_t(row[i] + prior[i]);  // Paeth with a = c = 0 is b
      for (size_t i = bpp; i < n; ++i) row[i] = uint8_t(row[i] + paeth(row[i - bpp], prior[i], prior[i - bpp]));
      return true;
    default:
      return false;
  }
}

bool unfilter_row(int type, uint8_t* row, const uint8_t* prior, size_t n, size_t bpp) {
  switch (bpp) {
    case 3:
      return unfilter_row<3>(type, row, prior, n, bpp);
    case 4:
      return unfilter_row<4>(type, row, prior, n, bpp);
    case 6:
      return unfilter_row<6>(type, row, prior, n, bpp);
    default:
      return unfilter_row<0>(type, row, prior, n, bpp);
  }
}

// The samples of one unfiltered row of bit depth 1, 2 or 4 (one channel:
// grey or palette indices), one byte each, most significant bits first.
void unpack_row(const uint8_t* row, int64_t width, int depth, uint8_t* out) {
  const int per_byte = 8 / depth, mask = (1 << depth) - 1;
  for (int64_t x = 0; x < width; ++x) {
    const int shift = 8 - depth * (1 + int(x % per_byte));
    out[x] = uint8_t((row[x / per_byte] >> shift) & mask);
  }
}

// One unfiltered row as RGB: `channels` samples a pixel (1 grey, 2 grey +
// alpha, 3 RGB, 4 RGBA; the alpha dropped), 1 or 2 bytes a sample
// (big-endian in the file), or palette indices; grey samples of 1, 2 or 4
// bits are scaled to 8 (times 255, 85, 17, as stb_image does), after
// unpack_row.
template <typename T>
void row_to_rgb(const uint8_t* row, int64_t width, int channels, int grey_scale, const uint8_t* palette,
                int palette_size, T* out) {
  auto sample = [&](int64_t i) -> T {
    if constexpr (sizeof(T) == 2) return T(row[2 * i] << 8 | row[2 * i + 1]);
    else return T(row[i] * grey_scale);
  };
  if (palette) {
    for (int64_t x = 0; x < width; ++x) {
      const int index = row[x];
      if (index >= palette_size) fail("palette index ", index, " in a palette of ", palette_size, " colours");
      std::memcpy(out + 3 * x, palette + 3 * index, 3);
    }
    return;
  }
  if (sizeof(T) == 1 && channels == 3) {
    std::memcpy(out, row, size_t(width) * 3);
    return;
  }
  for (int64_t x = 0; x < width; ++x) {
    const int64_t in = x * channels;
    if (channels <= 2) {
      out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = sample(in);
    } else {
      out[3 * x] = sample(in), out[3 * x + 1] = sample(in + 1), out[3 * x + 2] = sample(in + 2);
    }
  }
}

constexpr PngPass kWholeImage = {0, 0, 1, 1};
constexpr PngPass kAdam7[7] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                               {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

// Whether PNG allows bit depth `depth` with colour type `colour` (RFC 2083 4.1.1).
bool valid_layout(int colour, int depth) {
  switch (colour) {
    case 0:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
      return depth == 8 || depth == 16;
    default:
      return false;
  }
}

}  // namespace

std::pair<const PngPass*, int> png_passes(int interlace) {
  return interlace ? std::pair<const PngPass*, int>{kAdam7, 7} : std::pair<const PngPass*, int>{&kWholeImage, 1};
}

std::array<int64_t, 2> png_pass_size(const PngPass& p, int64_t width, int64_t height) {
  return {width > p.x0 ? (width - p.x0 + p.dx - 1) / p.dx : 0, height > p.y0 ? (height - p.y0 + p.dy - 1) / p.dy : 0};
}

int64_t png_data_size(int64_t width, int64_t height, int64_t pixel_bits, int interlace) {
  const auto [passes, count] = png_passes(interlace);
  int64_t total = 0;
  for (int k = 0; k < count; ++k) {
    const auto [w, h] = png_pass_size(passes[k], width, height);
    if (w > 0 && h > 0) total += h * (1 + (w * pixel_bits + 7) / 8);
  }
  return total;
}

PngPixels decode_png_rgb(const std::string& bytes, const ImageHeader& header, const std::string& path) {
  DCSR_CHECK(header.format == ImageFormat::kPng, "decode_png_rgb: '", path, "' is not a PNG");
  // The chunks as check_image_bytes walked them (lengths within the file, CRCs, IHDR first, IEND).
  const PngChunks& chunks = header.png;
  const int64_t width = header.width, height = header.height;
  const int depth = chunks.bit_depth, colour = chunks.colour_type, interlace = chunks.interlace;
  const uint8_t* palette =
      chunks.palette_entries > 0 ? reinterpret_cast<const uint8_t*>(bytes.data()) + chunks.palette_at : nullptr;
  const int palette_size = chunks.palette_entries;
  const bool transparency = chunks.transparency;
  DCSR_CHECK(width > 0 && height > 0, "image '", path, "' is a corrupt PNG (", width, "x", height, " pixels)");
  DCSR_CHECK(valid_layout(colour, depth), "image '", path, "' is a corrupt PNG (bit depth ", depth,
             " with colour type ", colour, ")");
  DCSR_CHECK(interlace == 0 || interlace == 1, "image '", path, "' is a corrupt PNG (interlace method ", interlace,
             ")");
  DCSR_CHECK(colour != 3 || palette, "image '", path, "' is a corrupt PNG (a palette image without a PLTE chunk)");
  const int channels_of[7] = {1, 0, 3, 1, 2, 0, 4};
  const int channels = channels_of[colour];
  const int64_t pixel_bits = int64_t(channels) * depth;
  // Filters step by whole pixels, at least a byte (RFC 2083 6.1).
  const size_t bpp = size_t(std::max<int64_t>(1, pixel_bits / 8));
  auto row_bytes_of = [&](int64_t w) { return size_t((w * pixel_bits + 7) / 8); };
  const auto [passes, n_passes] = png_passes(interlace);
  const size_t expected = size_t(png_data_size(width, height, pixel_bits, interlace));
  const std::string zlib = png_image_data(reinterpret_cast<const uint8_t*>(bytes.data()), chunks);
  Inflated raw;
  try {
    raw = zlib_inflate(reinterpret_cast<const uint8_t*>(zlib.data()), zlib.size(), expected);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("Adler-32 of its image data does not match") != std::string::npos)
      fail("image '", path, "' is a corrupt PNG (", what, ")");
    fail("image '", path, "' is a corrupt PNG (its image data does not inflate: ", what, ")");
  }
  DCSR_CHECK(raw.size >= expected, "image '", path, "' is a truncated PNG (its image data holds ", raw.size,
             " of the ", expected, " bytes its header implies)");

  PngPixels out;
  out.width = width, out.height = height, out.is16 = depth == 16;
  // As stb_image counts them: a tRNS chunk adds an alpha channel to grey, RGB and palette images.
  out.file_channels = colour == 3 ? (transparency ? 4 : 3) : channels + (transparency && channels % 2 == 1 ? 1 : 0);
  const size_t sample_bytes = out.is16 ? 2 : 1, pixel_bytes = 3 * sample_bytes;
  out.pixels.reset(std::malloc(size_t(width) * size_t(height) * pixel_bytes));
  DCSR_CHECK(out.pixels, "out of memory decoding image '", path, "' (", width, "x", height, ")");
  uint8_t* pixels = static_cast<uint8_t*>(out.pixels.get());
  const int grey_scale = depth >= 8 ? 1 : depth == 1 ? 255 : depth == 2 ? 85 : 17;
  // Scratch: a row of a pass before it is placed (interlaced), and unpacked sub-byte samples.
  std::vector<uint8_t> pass_row(interlace ? size_t(width) * pixel_bytes : 0);
  std::vector<uint8_t> unpacked(depth < 8 ? size_t(width) : 0);
  const std::vector<uint8_t> zero_row(row_bytes_of(width), 0);
  uint8_t* line = raw.data.get();
  for (int k = 0; k < n_passes; ++k) {
    const PngPass& p = passes[k];
    const auto [w, h] = png_pass_size(p, width, height);
    if (w == 0 || h == 0) continue;
    const size_t row_bytes = row_bytes_of(w);
    const uint8_t* prior = zero_row.data();
    for (int64_t r = 0; r < h; ++r, line += row_bytes + 1) {
      const int64_t y = p.y0 + r * p.dy;
      DCSR_CHECK(unfilter_row(line[0], line + 1, prior, row_bytes, bpp), "image '", path,
                 "' is a corrupt PNG (row ", y, (interlace ? " of pass " + std::to_string(k + 1) : std::string()),
                 " has filter type ", int(line[0]), "; PNG has 0 to 4)");
      prior = line + 1;
      const uint8_t* samples = line + 1;
      if (depth < 8) unpack_row(samples, w, depth, unpacked.data()), samples = unpacked.data();
      uint8_t* target = interlace ? pass_row.data() : pixels + size_t(y) * size_t(width) * pixel_bytes;
      try {
        if (out.is16)
          row_to_rgb(samples, w, channels, 1, nullptr, 0, reinterpret_cast<uint16_t*>(target));
        else
          row_to_rgb(samples, w, channels, grey_scale, colour == 3 ? palette : nullptr, palette_size, target);
      } catch (const Error& e) {
        fail("image '", path, "' is a corrupt PNG (", e.what(), ")");
      }
      if (interlace)  // each pixel of the pass's row to its place
        for (int64_t c = 0; c < w; ++c)
          std::memcpy(pixels + (size_t(y) * size_t(width) + size_t(p.x0 + c * p.dx)) * pixel_bytes,
                      pass_row.data() + size_t(c) * pixel_bytes, pixel_bytes);
    }
  }
  return out;
}

}  // namespace dcsr
