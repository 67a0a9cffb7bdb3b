// The one-pass PNG decoder (io/png_decode.h) against stb_image on every
// layout it takes, and its inflater on every kind of deflate block: stored,
// fixed Huffman (stb_image_write's zlib, with matches), and dynamic Huffman
// written here with codes up to 15 bits long (the slow path past the 10-bit
// table), repeated code lengths and length/distance pairs. Then the errors:
// each names the file and says what is wrong.
#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "io/image_io.h"
#include "io/png_decode.h"
#include "io/png_encode.h"
#include "test_files.h"
#include "test_io_helpers.h"
#include "test_util.h"

// stb_image_write's zlib compressor (LZ77 + fixed Huffman codes; third_party/stb_write_impl.c).
extern "C" unsigned char* stbi_zlib_compress(unsigned char* data, int data_len, int* out_len, int quality);

using namespace dcsr;

namespace {

// Bits least significant first, as deflate packs them.
struct BitWriter {
  std::string bytes;
  uint64_t buffer = 0;
  int count = 0;
  void put(uint32_t value, int bits) {
    buffer |= uint64_t(value) << count, count += bits;
    for (; count >= 8; count -= 8, buffer >>= 8) bytes += char(buffer & 0xFF);
  }
  // A Huffman code: its bits go most significant first.
  void put_code(uint32_t code, int length) {
    for (int b = length - 1; b >= 0; --b) put((code >> b) & 1, 1);
  }
  void flush() {
    if (count > 0) put(0, 8 - count);
  }
};

// Canonical codes (RFC 1951 3.2.2) for the lengths.
std::vector<uint32_t> canonical_codes(const std::vector<int>& lengths) {
  int count[16] = {}, next[16] = {};
  for (int l : lengths) ++count[l];
  count[0] = 0;
  for (int len = 1, code = 0; len < 16; ++len) code = (code + count[len - 1]) << 1, next[len] = code;
  std::vector<uint32_t> codes(lengths.size());
  for (size_t s = 0; s < lengths.size(); ++s)
    if (lengths[s]) codes[s] = uint32_t(next[lengths[s]]++);
  return codes;
}

// One final dynamic-Huffman block holding `data`, with hand-made complete
// codes: every literal 9 bits long (half the code space); length codes
// 257..270 and end-of-block 2, 3, ..., 15, 15 bits (the other half), so that
// matches and the block's end take the decoder past its 10-bit table. Runs
// of one byte become matches at distance 1 (lengths 3 to 26).
std::string deflate_dynamic(const std::string& data) {
  std::vector<int> literal(286, 0), distance(30, 5);
  for (int s = 0; s < 256; ++s) literal[size_t(s)] = 9;
  for (int k = 0; k < 14; ++k) literal[size_t(257 + k)] = k + 2;
  literal[256] = 15;
  distance[0] = distance[1] = 4;  // 2 x 1/16 + 28 x 1/32: complete
  const std::vector<uint32_t> lit_codes = canonical_codes(literal), dist_codes = canonical_codes(distance);
  // The code lengths, run-length coded with 16 (repeat the last 3-6 times),
  // 17 (3-10 zeros) and 18 (11-138 zeros).
  std::vector<int> all(literal);
  all.insert(all.end(), distance.begin(), distance.end());
  std::vector<std::pair<int, int>> symbols;  // (symbol, extra bits value)
  for (size_t i = 0; i < all.size();) {
    size_t run = 1;
    while (i + run < all.size() && all[i + run] == all[i]) ++run;
    if (all[i] == 0 && run >= 11) {
      const size_t n = std::min<size_t>(run, 138);
      symbols.push_back({18, int(n - 11)}), i += n;
    } else if (all[i] == 0 && run >= 3) {
      const size_t n = std::min<size_t>(run, 10);
      symbols.push_back({17, int(n - 3)}), i += n;
    } else if (i > 0 && all[i] == all[i - 1] && run >= 3) {
      const size_t n = std::min<size_t>(run, 6);
      symbols.push_back({16, int(n - 3)}), i += n;
    } else {
      symbols.push_back({all[i], 0}), i += 1;
    }
  }
  // The code-length code: 13 symbols of 4 bits and 6 of 5 (complete).
  std::vector<int> length_lengths(19, 4);
  for (int s : {1, 3, 5, 7, 11, 14}) length_lengths[size_t(s)] = 5;
  const std::vector<uint32_t> length_codes = canonical_codes(length_lengths);
  static constexpr int kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  BitWriter w;
  w.put(1, 1), w.put(2, 2);  // final, dynamic
  w.put(286 - 257, 5), w.put(30 - 1, 5), w.put(19 - 4, 4);
  for (int k : kOrder) w.put(uint32_t(length_lengths[size_t(k)]), 3);
  for (auto [s, extra] : symbols) {
    w.put_code(length_codes[size_t(s)], length_lengths[size_t(s)]);
    if (s == 16) w.put(uint32_t(extra), 2);
    if (s == 17) w.put(uint32_t(extra), 3);
    if (s == 18) w.put(uint32_t(extra), 7);
  }
  static constexpr int kLengthBase[14] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23};
  static constexpr int kLengthExtra[14] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2};
  for (size_t i = 0; i < data.size();) {
    size_t run = 0;  // bytes after i equal to data[i]
    while (i + 1 + run < data.size() && data[i + 1 + run] == data[i] && run < 26) ++run;
    const int byte = uint8_t(data[i]);
    w.put_code(lit_codes[size_t(byte)], 9);
    ++i;
    if (run >= 3) {  // a match at distance 1
      int code = 13;
      while (kLengthBase[code] > int(run)) --code;
      w.put_code(lit_codes[size_t(257 + code)], literal[size_t(257 + code)]);
      w.put(uint32_t(int(run) - kLengthBase[code]), kLengthExtra[code]);
      w.put_code(dist_codes[0], distance[0]);
      i += run;
    }
  }
  w.put_code(lit_codes[256], 15);
  w.flush();
  return w.bytes;
}

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  test::write_be32(s, 0, v);
  return s;
}

std::string zlib_wrap(const std::string& deflate, const std::string& data) {
  return std::string("\x78\x01", 2) + deflate +
         be32(adler32(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

// Stored blocks of at most `block` bytes.
std::string deflate_stored(const std::string& data, size_t block) {
  std::string out;
  for (size_t at = 0; at == 0 || at < data.size(); at += block) {
    const size_t n = std::min(block, data.size() - at);
    const bool last = at + n >= data.size();
    out += char(last ? 1 : 0);
    out += char(n & 0xFF), out += char(n >> 8), out += char(~n & 0xFF), out += char((~n >> 8) & 0xFF);
    out += data.substr(at, n);
  }
  return out;
}

std::string fixed_huffman_zlib(const std::string& data) {  // stb_image_write's, with its Adler-32
  int length = 0;
  unsigned char* z = stbi_zlib_compress(reinterpret_cast<unsigned char*>(const_cast<char*>(data.data())),
                                        int(data.size()), &length, 8);
  REQUIRE(z != nullptr);
  std::string out(reinterpret_cast<const char*>(z), size_t(length));
  std::free(z);
  return out;
}

std::string chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  return be32(uint32_t(data.size())) + body +
         be32(crc32_png(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

// A PNG file: IHDR, the extra chunks, the zlib stream cut into IDATs of
// `idat_size` bytes, IEND.
std::string png_file(int64_t w, int64_t h, int depth, int colour, const std::string& zlib, size_t idat_size = 1000,
                     const std::string& extra = "", int interlace = 0) {
  std::string ihdr = be32(uint32_t(w)) + be32(uint32_t(h));
  ihdr += char(depth), ihdr += char(colour), ihdr += '\0', ihdr += '\0', ihdr += char(interlace);
  std::string png = std::string("\x89PNG\r\n\x1A\n", 8) + chunk("IHDR", ihdr) + extra;
  for (size_t at = 0; at < zlib.size(); at += idat_size) png += chunk("IDAT", zlib.substr(at, idat_size));
  return png + chunk("IEND", "");
}

// Rows of random samples, each row filtered with a random filter type
// (0-4, as an encoder may choose): the bytes a PNG's zlib stream holds.
// Runs are common (matches); palette indices stay below `palette_size`.
std::string filtered_rows(int64_t w, int64_t h, int bpp, int palette_size, std::mt19937& rng) {
  const size_t row_bytes = size_t(w) * size_t(bpp);
  std::vector<uint8_t> image(size_t(h) * row_bytes);
  for (size_t i = 0; i < image.size(); ++i) {
    const bool repeat = i >= size_t(bpp) && rng() % 3 == 0;
    image[i] = repeat ? image[i - size_t(bpp)] : uint8_t(rng());
    if (palette_size) image[i] = uint8_t(image[i] % palette_size);
  }
  std::string out;
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = image.data() + size_t(y) * row_bytes;
    const uint8_t* up = y > 0 ? row - row_bytes : nullptr;
    const int type = int(rng() % 5);
    std::string line(1, char(type));
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= size_t(bpp) ? row[i - size_t(bpp)] : 0, b = up ? up[i] : 0;
      const int c = (up && i >= size_t(bpp)) ? up[i - size_t(bpp)] : 0;
      const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
      const int paeth = (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
      const int predicted[5] = {0, a, b, (a + b) / 2, paeth};
      line += char(uint8_t(row[i] - predicted[type]));
    }
    out += line;
  }
  return out;
}

// The zlib payload of a whole image: each pass's rows (one pass, or Adam7's
// seven, RFC 2083 8.2; an empty pass has no bytes) through filtered_rows.
// Pixels of under 8 bits are filtered as bytes (bpp 1): packed samples,
// any value (a palette of 2^depth entries makes every index valid).
std::string image_rows(int64_t w, int64_t h, int pixel_bits, int palette_size, bool interlaced, std::mt19937& rng) {
  const int passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                            {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  const int whole[1][4] = {{0, 0, 1, 1}};
  std::string out;
  for (const auto& p : interlaced ? std::vector<const int*>{passes[0], passes[1], passes[2], passes[3], passes[4],
                                                             passes[5], passes[6]}
                                  : std::vector<const int*>{whole[0]}) {
    const int64_t pw = w > p[0] ? (w - p[0] + p[2] - 1) / p[2] : 0, ph = h > p[1] ? (h - p[1] + p[3] - 1) / p[3] : 0;
    if (pw == 0 || ph == 0) continue;
    if (pixel_bits >= 8)
      out += filtered_rows(pw, ph, pixel_bits / 8, pixel_bits == 8 ? palette_size : 0, rng);
    else
      out += filtered_rows((pw * pixel_bits + 7) / 8, ph, 1, 0, rng);
  }
  return out;
}

struct Stb {
  std::unique_ptr<void, void (*)(void*)> pixels{nullptr, stbi_image_free};
  int w = 0, h = 0, comp = 0;
  bool is16 = false;
};
Stb stb_decode(const std::string& png) {
  Stb s;
  const auto* b = reinterpret_cast<const stbi_uc*>(png.data());
  s.is16 = stbi_is_16_bit_from_memory(b, int(png.size()));
  if (s.is16) s.pixels.reset(stbi_load_16_from_memory(b, int(png.size()), &s.w, &s.h, &s.comp, 3));
  else s.pixels.reset(stbi_load_from_memory(b, int(png.size()), &s.w, &s.h, &s.comp, 3));
  return s;
}

// decode_png_rgb on a file as read_image hands it over: after check_image_bytes.
PngPixels decode_checked(const std::string& png, const std::string& path) {
  return decode_png_rgb(png, check_image_bytes(png, path, /*inflate_png=*/false), path);
}

}  // namespace

TEST_CASE("png decode: the inflater on stored, fixed and dynamic blocks", "[io][png_decode]") {
  std::mt19937 rng(5);
  std::string data;
  for (int i = 0; i < 70000; ++i) {  // runs, repeats from far back, and noise
    const int kind = int(rng() % 4);
    const uint8_t v = uint8_t(16 + rng() % 240);
    if (kind == 0) data.append(size_t(3 + rng() % 40), char(v));
    else if (kind == 1 && data.size() > 20000) data += data.substr(data.size() - 20000 + rng() % 100, 10 + rng() % 50);
    else data += char(v);
    if (data.size() > 200000) break;
  }
  auto inflate = [&](const std::string& z, size_t expected) {
    const Inflated out = zlib_inflate(reinterpret_cast<const uint8_t*>(z.data()), z.size(), expected);
    return std::string(reinterpret_cast<const char*>(out.data.get()), out.size);
  };
  const std::string stored = zlib_wrap(deflate_stored(data, 65535), data);
  const std::string fixed = fixed_huffman_zlib(data);
  const std::string dynamic = zlib_wrap(deflate_dynamic(data), data);
  CHECK(fixed.size() < data.size() / 2);  // matches were made
  CHECK(dynamic.size() < data.size());
  for (const std::string* z : {&stored, &fixed, &dynamic}) {
    CHECK(inflate(*z, data.size()) == data);
    CHECK(inflate(*z, data.size() / 2) == data);           // grown from a smaller guess
    CHECK(inflate(*z + "trailing", data.size()) == data);  // bytes after the Adler-32 are ignored
  }
  CHECK(inflate(zlib_wrap(deflate_stored("", 10), ""), 0).empty());
  // Every length code of the dynamic block (2 to 15 bits): runs of 4 to 26.
  std::string runs;
  for (int n = 4; n <= 27; ++n) runs += std::string(size_t(n), char('a' + n % 7)) + "|";
  CHECK(inflate(zlib_wrap(deflate_dynamic(runs), runs), runs.size()) == runs);
}

TEST_CASE("png decode: every layout gives stb_image's pixels and channel count", "[io][png_decode]") {
  std::mt19937 rng(11);
  struct Layout {
    int colour, depth;
    bool transparency, interlaced;
  };
  const Layout layouts[] = {
      {0, 8, false, false},  {0, 16, false, false}, {2, 8, false, false}, {2, 16, false, false},
      {4, 8, false, false},  {4, 16, false, false}, {6, 8, false, false}, {6, 16, false, false},
      {3, 8, false, false},  {3, 8, true, false},   {0, 8, true, false},  {2, 16, true, false},
      // bit depths under 8 (grey scaled to 8 bits, palette indices packed)
      {0, 1, false, false},  {0, 2, false, false},  {0, 4, false, false}, {0, 4, true, false},
      {3, 1, false, false},  {3, 2, false, false},  {3, 4, true, false},
      // interlaced (Adam7)
      {0, 1, false, true},   {0, 8, false, true},   {0, 16, false, true}, {2, 8, false, true},
      {2, 16, false, true},  {3, 4, false, true},   {3, 8, false, true},  {4, 8, false, true},
      {6, 16, false, true}};
  const int channels_of[7] = {1, 0, 3, 1, 2, 0, 4};
  for (const Layout& l : layouts)
    for (int zlib_kind = 0; zlib_kind < 3; ++zlib_kind) {
      // Sizes from 1 (passes of Adam7 left empty) to 56 x 38.
      const int64_t w = zlib_kind == 0 ? 1 + int64_t(rng() % 7) : 17 + int64_t(rng() % 40);
      const int64_t h = zlib_kind == 0 ? 1 + int64_t(rng() % 5) : 9 + int64_t(rng() % 30);
      CAPTURE(l.colour, l.depth, l.transparency, l.interlaced, zlib_kind, w, h);
      const int palette_size = l.colour == 3 ? (l.depth == 8 ? 200 : 1 << l.depth) : 0;
      const std::string raw = image_rows(w, h, channels_of[l.colour] * l.depth, palette_size, l.interlaced, rng);
      const std::string zlib = zlib_kind == 0   ? zlib_wrap(deflate_stored(raw, 300), raw)
                               : zlib_kind == 1 ? fixed_huffman_zlib(raw)
                                                : zlib_wrap(deflate_dynamic(raw), raw);
      std::string extra;
      if (l.colour == 3) {
        std::string palette;
        for (int i = 0; i < 3 * palette_size; ++i) palette += char(rng());
        extra += chunk("PLTE", palette);
      }
      if (l.transparency)  // palette: alpha of the first colours; grey: one 16-bit key; RGB: three
        extra += chunk("tRNS", std::string(l.colour == 3 ? std::min(5, palette_size) : l.colour == 0 ? 2 : 6, '\x01'));
      const std::string png = png_file(w, h, l.depth, l.colour, zlib, 97, extra, l.interlaced ? 1 : 0);
      const PngPixels ours = decode_checked(png, "layout.png");
      const Stb stb = stb_decode(png);
      REQUIRE(stb.pixels);
      CHECK(ours.width == stb.w);
      CHECK(ours.height == stb.h);
      CHECK(ours.is16 == stb.is16);
      CHECK(ours.file_channels == stb.comp);
      const size_t bytes = size_t(w * h * 3) * (stb.is16 ? 2 : 1);
      CHECK(std::memcmp(ours.pixels.get(), stb.pixels.get(), bytes) == 0);
    }
}

TEST_CASE("png decode: the files dcsr writes and reads back, through read_image", "[io][png_decode]") {
  test::TempDir dir("png_decode");
  const Tensor image = test::test_image(37, 53, 3);
  for (int depth : {8, 16}) {
    ImageWriteOptions options;
    options.bit_depth = depth;
    const std::string path = dir / ("d" + std::to_string(depth) + ".png");
    write_image(path, image, options);
    const std::string bytes = test::read_bytes_of(path);
    const PngPixels ours = decode_checked(bytes, path);
    const Stb stb = stb_decode(bytes);
    CHECK(std::memcmp(ours.pixels.get(), stb.pixels.get(), size_t(37 * 53 * 3 * depth / 8)) == 0);
    // read_image: within the sample's rounding of what was written.
    const Tensor back = read_image(path);
    float worst = 0.0f;
    for (int64_t i = 0; i < image.numel(); ++i)
      worst = std::max(worst, std::abs(back.data<float>()[i] - image.data<float>()[i]));
    CHECK(worst <= (depth == 8 ? 0.5f / 255.0f : 0.5f / 65535.0f) + 1e-7f);
  }
}

TEST_CASE("png decode: errors naming the file", "[io][png_decode][errors]") {
  std::mt19937 rng(3);
  const std::string raw = filtered_rows(20, 10, 3, 0, rng);
  const std::string good_zlib = zlib_wrap(deflate_dynamic(raw), raw);
  CHECK(decode_checked(png_file(20, 10, 8, 2, good_zlib), "ok.png").width == 20);
  auto error = [](const std::string& png) {
    try {
      decode_checked(png, "bad.png");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto expect = [&](const std::string& png, const std::string& words) {
    const std::string message = error(png);
    INFO(message);
    CHECK_THAT(message, Catch::Contains("bad.png") && Catch::Contains(words));
  };
  // The stream: header, Adler-32, truncation, reserved block type, bad codes.
  std::string z = good_zlib;
  z[0] = '\x79';
  expect(png_file(20, 10, 8, 2, z), "zlib header");
  z = good_zlib;
  z.back() = char(z.back() ^ 1);
  expect(png_file(20, 10, 8, 2, z), "Adler-32");
  expect(png_file(20, 10, 8, 2, good_zlib.substr(0, good_zlib.size() / 2)), "does not inflate");
  expect(png_file(20, 10, 8, 2, good_zlib.substr(0, good_zlib.size() - 2)), "before its Adler-32");
  expect(png_file(20, 10, 8, 2, std::string("\x78\x01\x07\x00\x00\x00\x00\x00", 8)), "type 3");
  expect(png_file(20, 10, 8, 2, std::string("\x78\x01\x01\x05\x00\x00\x00", 7) + "abcde"), "complement");
  {  // a match before the start: fixed block, length code 257, distance code 0, as the first symbol
    BitWriter w;
    w.put(1, 1), w.put(1, 2);
    w.put_code(1, 7);  // 257 in the fixed code: 0000001
    w.put_code(0, 5);  // distance 1
    w.flush();
    expect(png_file(20, 10, 8, 2, std::string("\x78\x01", 2) + w.bytes + std::string(4, '\0')), "before the start");
  }
  {  // over-subscribed code lengths: every code-length code 1 bit long
    BitWriter w;
    w.put(1, 1), w.put(2, 2), w.put(0, 5), w.put(0, 5), w.put(15, 4);
    for (int k = 0; k < 19; ++k) w.put(1, 3);
    w.flush();
    expect(png_file(20, 10, 8, 2, std::string("\x78\x01", 2) + w.bytes + std::string(8, '\0')), "over-subscribed");
  }
  // Too little data for the header's size; too much (a stream that inflates past its bound).
  expect(png_file(20, 11, 8, 2, good_zlib), "truncated PNG");
  const std::string big(200000, 'A');
  expect(png_file(20, 10, 8, 2, fixed_huffman_zlib(big)), "more than twice");
  // Rows: an unknown filter type; a palette index past the palette.
  std::string bad_filter = raw;
  bad_filter[61] = 5;  // row 1's filter byte (61 = 1 + 20 x 3)
  expect(png_file(20, 10, 8, 2, zlib_wrap(deflate_stored(bad_filter, 1000), bad_filter)), "filter type 5");
  const std::string indices = filtered_rows(20, 10, 1, 200, rng);
  const std::string small_palette = chunk("PLTE", std::string(3 * 16, '\x40'));
  expect(png_file(20, 10, 8, 3, zlib_wrap(deflate_stored(indices, 1000), indices), 1000, small_palette), "palette");
  expect(png_file(20, 10, 8, 3, zlib_wrap(deflate_stored(indices, 1000), indices)), "without a PLTE");
  // A palette of part entries, or of more than 256 (refused by the chunk walk, as stb_image refuses it).
  for (size_t bytes : {size_t(7), size_t(771)})
    expect(png_file(20, 10, 8, 3, zlib_wrap(deflate_stored(indices, 1000), indices), 1000,
                    chunk("PLTE", std::string(bytes, '\x40'))),
           "a PLTE chunk of " + std::to_string(bytes) + " bytes");
  // Layouts PNG does not define, and a palette index of 4 bits past a palette of 3.
  expect(png_file(20, 10, 4, 2, good_zlib), "bit depth 4 with colour type 2");
  expect(png_file(20, 10, 16, 3, good_zlib), "bit depth 16 with colour type 3");
  expect(png_file(20, 10, 8, 2, good_zlib, 1000, "", 2), "interlace method 2");
  const std::string nibbles = filtered_rows(10, 10, 1, 0, rng);  // 20 indices of 4 bits a row, any of 0-15
  expect(png_file(20, 10, 4, 3, zlib_wrap(deflate_stored(nibbles, 1000), nibbles), 1000,
                  chunk("PLTE", std::string(9, '\x40'))),
         "in a palette of 3 colours");
  // An interlaced file that inflates far past its size (they went to stb_image, unbounded).
  expect(png_file(16, 16, 8, 0, fixed_huffman_zlib(std::string(1 << 20, '\0')), 1000, "", 1), "more than twice");
  // Through read_image: the one-line message names the file.
  test::TempDir dir("png_decode");
  test::write_bytes(dir / "cut.png", png_file(20, 11, 8, 2, good_zlib));
  CHECK_THROWS_WITH(read_image(dir / "cut.png"), Catch::Contains("cut.png") && Catch::Contains("truncated"));
  // Grey of 4 bits (a layout stb_image decoded, after a check of its own): a wrong Adler-32, and less
  // data than IHDR implies (20 x 200 at 4 bits: 2200 bytes).
  std::string bad_adler = good_zlib;
  bad_adler.back() = char(bad_adler.back() ^ 1);
  test::write_bytes(dir / "grey4_adler.png", png_file(20, 10, 4, 0, bad_adler));
  CHECK_THROWS_WITH(read_image(dir / "grey4_adler.png"),
                    Catch::Contains("grey4_adler.png") && Catch::Contains("Adler-32"));
  test::write_bytes(dir / "grey4_cut.png", png_file(20, 200, 4, 0, good_zlib));
  CHECK_THROWS_WITH(read_image(dir / "grey4_cut.png"),
                    Catch::Contains("grey4_cut.png") && Catch::Contains("truncated"));
  const std::string grey4_rows = filtered_rows(10, 10, 1, 0, rng);  // 20 pixels of 4 bits: 10 bytes a row
  test::write_bytes(dir / "grey4.png", png_file(20, 10, 4, 0, zlib_wrap(deflate_dynamic(grey4_rows), grey4_rows)));
  CHECK(read_image(dir / "grey4.png").shape() == Shape{1, 3, 10, 20});
}
