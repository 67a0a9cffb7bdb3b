// Targets png, bmp, jpeg, heif: io/image_io.h's read_image_info and read_image on
// a mutated file. Seeds are written here: PNGs by a tiny encoder with stored
// (uncompressed) deflate blocks, so that mutations reach the scanlines and
// their filter bytes, in every colour type, bit depth and interlacing, plus
// one from write_png; BMPs in every bit depth and header version; JPEGs from
// stb_image_write, plus a progressive one and one with restart markers and
// 2x1 subsampling (tests/fuzz/jpeg_seeds.h); HEIC and AVIF files from libheif's
// encoder (tests/fuzz/heif_seeds.h), their box sizes and image sizes as the
// fields to edit. A third of the PNG runs repair
// the CRCs after mutating, another third the Adler-32 too.
#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

#include <stb_image_write.h>

#include "io/exif.h"
#include "io/icc_profile.h"
#include "io/image_io.h"
#include "tensor/error.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/heif_seeds.h"
#include "tests/fuzz/jpeg_seeds.h"

namespace dcsr::fuzz {
namespace {

void put_be32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += char((v >> s) & 0xff);
}
void put_le(std::string& out, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out += char((v >> (8 * i)) & 0xff);
}

uint32_t crc32(const char* data, size_t n) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ uint8_t(data[i])) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t adler32(const std::string& data) {
  uint32_t a = 1, b = 0;
  for (char c : data) a = (a + uint8_t(c)) % 65521, b = (b + a) % 65521;
  return (b << 16) | a;
}

// ---------------------------------------------------------------- metadata

// An EXIF block as phones write one (little-endian): IFD0 with Orientation 6
// and the Exif IFD's pointer, the Exif IFD with PixelX/YDimension (LONG,
// SHORT), a thumbnail IFD1 (its Compression) linked from IFD0.
const std::string kSeedExif(
    "II*\0\x08\0\0\0"
    "\x02\0" "\x12\x01\x03\0\x01\0\0\0\x06\0\0\0" "\x69\x87\x04\0\x01\0\0\0\x26\0\0\0" "\x44\0\0\0"
    "\x02\0" "\x02\xA0\x04\0\x01\0\0\0\x40\0\0\0" "\x03\xA0\x03\0\x01\0\0\0\x30\0\0\0" "\0\0\0\0"
    "\x01\0" "\x03\x01\x03\0\x01\0\0\0\x06\0\0\0" "\0\0\0\0",
    86);

// A 200-byte profile with an ICC header (size, 'acsp').
std::string seed_icc_profile() {
  std::string p(200, '\x07');
  p[0] = 0, p[1] = 0, p[2] = 0, p[3] = char(200);
  p.replace(36, 4, "acsp");
  p.replace(16, 4, "RGB ");  // the data colour space: outputs carry RGB profiles only
  return p;
}

// ---------------------------------------------------------------- PNG

const char kPngMagic[] = "\x89PNG\r\n\x1a\n";

void png_chunk(Seed& seed, const char* type, const std::string& data) {
  seed.fields.push_back({seed.bytes.size(), 4, true});  // the chunk length
  put_be32(seed.bytes, uint32_t(data.size()));
  const std::string body = std::string(type, 4) + data;
  seed.bytes += body;
  put_be32(seed.bytes, crc32(body.data(), body.size()));
}

// A PNG of random pixels: colour type `ct`, `depth` bits, Adam7 when `interlaced`.
Seed make_png(Rng& rng, int w, int h, int ct, int depth, bool interlaced) {
  Seed seed{std::string(kPngMagic, 8), {}, ".png"};
  std::string ihdr;
  put_be32(ihdr, uint32_t(w));
  put_be32(ihdr, uint32_t(h));
  ihdr += char(depth), ihdr += char(ct), ihdr += '\0', ihdr += '\0', ihdr += char(interlaced);
  const size_t ihdr_at = seed.bytes.size() + 8;
  png_chunk(seed, "IHDR", ihdr);
  seed.fields.insert(seed.fields.end(), {{ihdr_at, 4, true}, {ihdr_at + 4, 4, true}, {ihdr_at + 8, 1, true},
                                         {ihdr_at + 9, 1, true}, {ihdr_at + 10, 1, true}, {ihdr_at + 11, 1, true},
                                         {ihdr_at + 12, 1, true}});
  if (ct == 3) {
    std::string plte(3 * 16, '\0'), trns(5, '\x80');
    for (char& c : plte) c = char(rng.next());
    png_chunk(seed, "PLTE", plte);
    png_chunk(seed, "tRNS", trns);
  }
  const int channels = ct == 0 || ct == 3 ? 1 : ct == 2 ? 3 : ct == 4 ? 2 : 4;
  // Raw scanlines: a filter byte (0..4) and the packed row, per row of each pass.
  std::string raw;
  const int passes = interlaced ? 7 : 1;
  static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  for (int p = 0; p < passes; ++p) {
    const int pw = interlaced ? (w - x0[p] + dx[p] - 1) / dx[p] : w;
    const int ph = interlaced ? (h - y0[p] + dy[p] - 1) / dy[p] : h;
    if (pw <= 0 || ph <= 0) continue;
    const size_t row_bytes = (size_t(pw) * size_t(channels) * size_t(depth) + 7) / 8;
    for (int y = 0; y < ph; ++y) {
      raw += char(rng.below(5));
      for (size_t i = 0; i < row_bytes; ++i) raw += char(rng.next());
    }
  }
  // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
  std::string z = "\x78\x01";
  for (size_t at = 0; at < raw.size() || at == 0; at += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    z += char(at + n >= raw.size() ? 1 : 0);
    const size_t len_at = seed.bytes.size() + 8 + z.size();  // inside the IDAT written below
    put_le(z, n, 2);
    put_le(z, uint16_t(~n), 2);
    z += raw.substr(at, n);
    seed.fields.push_back({len_at, 2, false});
    if (raw.empty()) break;
  }
  put_be32(z, adler32(raw));
  png_chunk(seed, "IDAT", z);
  png_chunk(seed, "IEND", "");
  return seed;
}

// Rewrites every chunk's CRC (while the chunk lengths still fit) and, when
// the zlib stream is made of whole stored blocks, its Adler-32.
void png_repair(std::string& bytes, bool adler) {
  if (bytes.size() < 8 || bytes.compare(0, 8, kPngMagic, 8) != 0) return;
  std::string idat;                  // the IDAT payloads joined
  std::vector<size_t> idat_offsets;  // file offset of each byte of `idat`
  size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = uint32_t(read_field(bytes, {at, 4, true}));
    if (length > bytes.size() - at - 12) return;
    if (bytes.compare(at + 4, 4, "IDAT") == 0) {
      idat += bytes.substr(at + 8, length);
      for (size_t i = 0; i < length; ++i) idat_offsets.push_back(at + 8 + i);
    }
    at += 12 + length;
  }
  if (adler && idat.size() >= 6) {
    std::string raw;
    size_t z = 2;
    bool last = false;
    while (!last && z + 5 <= idat.size() && (uint8_t(idat[z]) & 6) == 0) {
      last = idat[z] & 1;
      const size_t n = uint8_t(idat[z + 1]) | size_t(uint8_t(idat[z + 2])) << 8;
      if (n > idat.size() - z - 5) break;
      raw += idat.substr(z + 5, n);
      z += 5 + n;
    }
    if (last && z + 4 <= idat.size()) {
      const uint32_t sum = adler32(raw);
      for (int i = 0; i < 4; ++i) bytes[idat_offsets[z + size_t(i)]] = char((sum >> (24 - 8 * i)) & 0xff);
    }
  }
  at = 8;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = uint32_t(read_field(bytes, {at, 4, true}));
    if (length > bytes.size() - at - 12) return;
    write_field(bytes, {at + 8 + length, 4, true}, crc32(bytes.data() + at + 4, 4 + size_t(length)));
    at += 12 + length;
  }
}

std::vector<Seed> png_seeds() {
  Rng rng(17);
  std::vector<Seed> seeds;
  const int kinds[][4] = {{0, 8, 0, 0},  {0, 1, 0, 0}, {0, 4, 0, 0}, {0, 16, 0, 0}, {2, 8, 0, 0},
                          {2, 16, 0, 0}, {3, 8, 0, 0}, {3, 2, 0, 0}, {4, 8, 0, 0},  {6, 8, 0, 0},
                          {6, 16, 0, 0}, {2, 8, 1, 0}, {0, 1, 1, 0}, {6, 16, 1, 0}};
  for (const auto& k : kinds) seeds.push_back(make_png(rng, 5 + int(rng.below(20)), 1 + int(rng.below(9)), k[0], k[1], k[2]));
  seeds.push_back(make_png(rng, 1, 1, 2, 8, false));
  // One through the project's own encoder (real deflate, fixed Huffman codes).
  const std::string path = scratch_dir() + "/seed.png";
  Tensor image = zeros({1, 3, 6, 9});
  write_png(path, image);
  Seed written{"", {}, ".png"};
  std::ifstream in(path, std::ios::binary);
  written.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  for (const Field& f : std::vector<Field>{{16, 4, true}, {20, 4, true}, {24, 1, true}, {25, 1, true}, {28, 1, true}})
    written.fields.push_back(f);
  seeds.push_back(written);
  // One with the metadata an output carries: an iCCP chunk (a zlib stream
  // of its own) and an eXIf chunk.
  ImageWriteOptions with_metadata;
  with_metadata.icc_profile = seed_icc_profile(), with_metadata.exif = kSeedExif;
  write_image(path, image, with_metadata);
  std::ifstream again(path, std::ios::binary);
  seeds.push_back({std::string(std::istreambuf_iterator<char>(again), std::istreambuf_iterator<char>()), {}, ".png"});
  return seeds;
}

// ---------------------------------------------------------------- BMP

// A BMP of random pixels: `bpp` bits, a header of `header_size` bytes (40, 108 or 124),
// rows bottom-up, or top-down when `top_down`.
Seed make_bmp(Rng& rng, int w, int h, int bpp, int header_size, bool top_down) {
  const bool masks = bpp == 16 || (bpp == 32 && header_size > 40);
  const uint32_t palette = bpp <= 8 ? 4u << bpp : 0;
  const uint32_t data_at = 14 + uint32_t(header_size) + palette + (masks && header_size == 40 ? 12 : 0);
  const uint32_t row = (uint32_t(w) * uint32_t(bpp) + 31) / 32 * 4, image = row * uint32_t(h);
  Seed seed{"BM", {}, ".bmp"};
  put_le(seed.bytes, data_at + image, 4);
  put_le(seed.bytes, 0, 4);
  put_le(seed.bytes, data_at, 4);
  put_le(seed.bytes, uint32_t(header_size), 4);
  put_le(seed.bytes, uint32_t(w), 4);
  put_le(seed.bytes, uint32_t(top_down ? -h : h), 4);
  put_le(seed.bytes, 1, 2);
  put_le(seed.bytes, uint32_t(bpp), 2);
  put_le(seed.bytes, masks ? 3 : 0, 4);  // BI_BITFIELDS or BI_RGB
  put_le(seed.bytes, image, 4);
  put_le(seed.bytes, 2835, 4);
  put_le(seed.bytes, 2835, 4);
  put_le(seed.bytes, bpp <= 8 ? 1u << bpp : 0, 4);
  put_le(seed.bytes, 0, 4);
  if (masks || header_size > 40) {  // masks: RGB(A); 565 for 16 bits
    const uint32_t m16[4] = {0xf800, 0x07e0, 0x001f, 0}, m32[4] = {0xff0000, 0xff00, 0xff, 0xff000000u};
    for (int i = 0; i < (header_size > 40 ? 4 : 3); ++i) put_le(seed.bytes, bpp == 16 ? m16[i] : m32[i], 4);
  }
  seed.bytes.resize(14 + size_t(header_size) + (masks && header_size == 40 ? 12 : 0), '\0');
  for (uint32_t i = 0; i < palette; ++i) seed.bytes += char(rng.next());
  for (uint32_t i = 0; i < image; ++i) seed.bytes += char(rng.next());
  for (size_t at : {2, 10, 14, 18, 22, 28, 30, 34, 46}) seed.fields.push_back({at, 4, false});
  seed.fields.push_back({26, 2, false});
  seed.fields.push_back({28, 2, false});
  if (masks || header_size > 40)
    for (size_t at : {54, 58, 62}) seed.fields.push_back({at, 4, false});
  return seed;
}

std::vector<Seed> bmp_seeds() {
  Rng rng(19);
  return {make_bmp(rng, 13, 7, 24, 40, false), make_bmp(rng, 5, 4, 32, 40, false),
          make_bmp(rng, 9, 5, 8, 40, false),   make_bmp(rng, 11, 3, 4, 40, false),
          make_bmp(rng, 17, 4, 1, 40, false),  make_bmp(rng, 6, 3, 16, 40, false),
          make_bmp(rng, 7, 6, 24, 40, true),   make_bmp(rng, 6, 5, 32, 124, false),
          make_bmp(rng, 4, 4, 32, 108, true),  make_bmp(rng, 1, 1, 24, 40, false)};
}

// ---------------------------------------------------------------- JPEG

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

// A JPEG seed: the marker segments' lengths and the SOF, DQT, DHT and first
// SOS fields marked.
Seed jpeg_seed(std::string bytes) {
  Seed seed{std::move(bytes), {}, ".jpg"};
  const std::string& b = seed.bytes;
  size_t at = 2;
  while (at + 4 <= b.size() && uint8_t(b[at]) == 0xff) {
    const uint8_t marker = uint8_t(b[at + 1]);
    const size_t length = size_t(read_field(b, {at + 2, 2, true}));
    seed.fields.push_back({at + 1, 1, true});  // the marker itself (SOF0 -> SOF2 ...)
    seed.fields.push_back({at + 2, 2, true});
    const size_t body = at + 4;
    if ((marker == 0xc0 || marker == 0xc1 || marker == 0xc2) && body + 6 <= b.size()) {
      seed.fields.insert(seed.fields.end(), {{body, 1, true}, {body + 1, 2, true}, {body + 3, 2, true}, {body + 5, 1, true}});
      for (size_t c = 0; c < uint8_t(b[body + 5]) && body + 8 + 3 * c < b.size(); ++c)
        seed.fields.insert(seed.fields.end(), {{body + 6 + 3 * c, 1, true}, {body + 7 + 3 * c, 1, true}, {body + 8 + 3 * c, 1, true}});
    }
    if (marker == 0xdb || marker == 0xc4) seed.fields.push_back({body, 1, true});
    if (marker == 0xc4)
      for (size_t i = 1; i <= 16 && body + i < b.size(); ++i) seed.fields.push_back({body + i, 1, true});
    if (marker == 0xda) {
      for (size_t i = 0; i < length - 2 && body + i < b.size(); ++i) seed.fields.push_back({body + i, 1, true});
      break;  // entropy-coded data follows
    }
    at += 2 + length;
  }
  return seed;
}

// A JPEG from stb_image_write (baseline; 4:2:0 below quality 90).
Seed make_jpeg(Rng& rng, int w, int h, int channels, int quality) {
  std::vector<uint8_t> pixels(size_t(w * h * channels));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(128 + 60 * std::sin(0.3 * double(i)) + rng.below(40));
  std::string bytes;
  stbi_write_jpg_to_func(append_bytes, &bytes, w, h, channels, pixels.data(), quality);
  return jpeg_seed(std::move(bytes));
}

template <size_t N>
Seed embedded_jpeg(const unsigned char (&bytes)[N]) {
  return jpeg_seed(std::string(reinterpret_cast<const char*>(bytes), N));
}

std::vector<Seed> jpeg_seeds() {
  Rng rng(23);
  std::vector<Seed> seeds = {make_jpeg(rng, 17, 9, 3, 50), make_jpeg(rng, 8, 8, 3, 95),  make_jpeg(rng, 33, 16, 1, 75),
                             make_jpeg(rng, 1, 1, 3, 90),  make_jpeg(rng, 24, 17, 3, 20), embedded_jpeg(kProgressiveJpeg),
                             embedded_jpeg(kRestartJpeg)};
  // With an EXIF block (APP1) and an ICC profile over two APP2 segments.
  const std::string plain = make_jpeg(rng, 12, 10, 3, 80).bytes;
  std::string profile = seed_icc_profile() + std::string(70000, '\x05');
  profile[1] = char(profile.size() >> 16), profile[2] = char(profile.size() >> 8), profile[3] = char(profile.size());
  seeds.push_back(jpeg_seed(jpeg_with_exif(jpeg_with_icc_profile(plain, profile), kSeedExif)));
  return seeds;
}

// ---------------------------------------------------------------- HEIF

// The size field of every ISO BMFF box, inside the containers a HEIF file
// nests its item boxes in, and the width and height of every ispe box.
void heif_box_fields(Seed& seed, size_t at, size_t end) {
  const std::string& b = seed.bytes;
  while (at + 8 <= end) {
    const size_t size = size_t(read_field(b, {at, 4, true}));
    if (size < 8 || size > end - at) return;
    seed.fields.push_back({at, 4, true});
    const std::string type = b.substr(at + 4, 4);
    size_t children = 0;  // where the box's child boxes start, 0: none
    if (type == "meta" || type == "iref") children = at + 12;  // FullBox: version and flags first
    else if (type == "iprp" || type == "ipco" || type == "dinf") children = at + 8;
    else if (type == "iinf") children = at + 14;  // FullBox, then a 16-bit entry count (version 0)
    if (type == "ispe" && size >= 20) seed.fields.insert(seed.fields.end(), {{at + 12, 4, true}, {at + 16, 4, true}});
    if (children) heif_box_fields(seed, children, at + size);
    at += size;
  }
}

template <size_t N>
Seed embedded_heif(const unsigned char (&bytes)[N], const char* extension) {
  Seed seed{std::string(reinterpret_cast<const char*>(bytes), N), {}, extension};
  heif_box_fields(seed, 0, seed.bytes.size());
  return seed;
}

std::vector<Seed> heif_seeds() {
  return {embedded_heif(kLossyHeic, ".heic"), embedded_heif(kLosslessHeic, ".heic"),
          embedded_heif(kTenBitHeic, ".heic"), embedded_heif(kAvif, ".avif")};
}

// ---------------------------------------------------------------- the run

void run_image(const std::vector<Seed>& seeds, Rng& rng, std::string& input, bool png) {
  const Seed& seed = rng.pick(seeds);
  input = mutate_seed(seed, rng);
  if (png && !rng.chance(3)) png_repair(input, rng.chance(2));
  static const std::vector<std::string> extensions = {".png", ".bmp", ".jpg", ".jpeg", ".PNG", ".heic"};
  const std::string path = scratch_dir() + "/input" + (rng.chance(16) ? rng.pick(extensions) : seed.extension);
  write_whole_file(path, input);
  ImageInfo info;
  bool info_ok = true;
  try {
    info = read_image_info(path);
  } catch (const Error&) {
    info_ok = false;
  }
  // The metadata carried to outputs (ICC profile, EXIF made true for a new
  // size): whatever the file holds, values or an Error, never a crash.
  try {
    const PhotoMetadata metadata = read_photo_metadata(path);
    const std::string exif = exif_for_output(metadata.exif, 64, 48);
    if (!metadata.icc_profile.empty() && !looks_like_icc_profile(metadata.icc_profile))
      throw std::logic_error("read_photo_metadata kept a profile without an ICC header");
    if (!exif.empty() && exif.size() != metadata.exif.size())
      throw std::logic_error("exif_for_output changed the EXIF block's size");
  } catch (const Error&) {
  }
  const Tensor image = read_image(path);  // throws dcsr::Error on rejection
  if (image.dim() != 4 || image.size(0) != 1 || image.size(1) != 3)
    throw std::logic_error("read_image returned shape " + shape_str(image.shape()));
  if (info_ok && (info.height != image.size(2) || info.width != image.size(3)))
    throw std::logic_error("read_image_info says " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                           ", read_image gives " + shape_str(image.shape()));
  for (float v : image.to_vector<float>())
    if (!(v >= 0.f && v <= 1.f)) throw std::logic_error("read_image returned a value outside [0, 1]");
}

}  // namespace

std::vector<Target> image_targets() {
  return {{"png", "io/image_io.h read_image_info + read_image on a mutated PNG", png_seeds,
           [](const std::vector<Seed>& s, Rng& r, std::string& in) { run_image(s, r, in, true); }},
          {"bmp", "the same on a mutated BMP", bmp_seeds,
           [](const std::vector<Seed>& s, Rng& r, std::string& in) { run_image(s, r, in, false); }},
          {"jpeg", "the same on a mutated JPEG", jpeg_seeds,
           [](const std::vector<Seed>& s, Rng& r, std::string& in) { run_image(s, r, in, false); }},
          {"heif", "the same on a mutated HEIC or AVIF (libheif, where the build has it)", heif_seeds,
           [](const std::vector<Seed>& s, Rng& r, std::string& in) { run_image(s, r, in, false); }}};
}

}  // namespace dcsr::fuzz
