#include "io/image_checks.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "io/exif.h"
#include "io/png_decode.h"
#include "io/png_encode.h"
#include "tensor/tensor.h"

namespace dcsr {

namespace {

uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }

void check_pixel_count(int64_t width, int64_t height, const std::string& path) {
  DCSR_CHECK(width > 0 && height > 0, "image '", path, "' has no pixels (its header says ", width, "x", height, ")");
  // Not width * height: PNG and BMP headers hold sizes up to 2^32 - 1, whose
  // product overflows int64 (UBSan found 3199044530 x 4294967295).
  if (width <= kMaxImagePixels && height <= kMaxImagePixels / width) return;
  char mpixel[32];
  std::snprintf(mpixel, sizeof(mpixel), "%.1f", double(width) * double(height) / 1e6);
  fail("image '", path, "' is ", width, "x", height, " pixels (", mpixel, " Mpixel): more than the ",
       kMaxImagePixels, " pixels (2^28, 268 Mpixel) an image may have");
}

// ---- PNG ----

// A chunk type for a message: its four bytes, anything unprintable as '?'.
std::string chunk_name(const uint8_t* type) {
  std::string name(4, '?');
  for (int i = 0; i < 4; ++i)
    if (type[i] >= 0x20 && type[i] < 0x7F) name[size_t(i)] = char(type[i]);
  return name;
}

// The bytes of the filtered image data IHDR implies (png_data_size); 0 for
// a colour type PNG lacks.
int64_t png_data_size_of(int64_t width, int64_t height, int bit_depth, int colour_type, int interlace) {
  const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
  if (colour_type < 0 || colour_type > 6 || channels[colour_type] == 0) return 0;
  return png_data_size(width, height, int64_t(channels[colour_type]) * bit_depth, interlace);
}

// Inflates the zlib stream of the IDAT chunks and checks its Adler-32 (the
// last four bytes of the stream) and its length: zlib_inflate
// (io/png_decode.h), which stops a stream that inflates to more than twice
// `expected`.
void check_png_data(const std::string& zlib, int64_t expected, const std::string& path) {
  DCSR_CHECK(zlib.size() >= 6, "image '", path, "' is a corrupt PNG (its image data is ", zlib.size(), " bytes)");
  Inflated inflated;
  try {
    inflated = zlib_inflate(reinterpret_cast<const uint8_t*>(zlib.data()), zlib.size(), size_t(expected));
  } catch (const Error& e) {
    fail("image '", path, "' is a corrupt PNG (its image data does not inflate: ", e.what(), ")");
  }
  DCSR_CHECK(int64_t(inflated.size) >= expected, "image '", path, "' is a truncated PNG (its image data holds ",
             inflated.size, " of the ", expected, " bytes its header implies)");
}

}  // namespace

void check_png_image_data(const std::string& bytes, const ImageHeader& header, const std::string& path) {
  const PngChunks& png = header.png;
  check_png_data(png_image_data(reinterpret_cast<const uint8_t*>(bytes.data()), png),
                 png_data_size_of(header.width, header.height, png.bit_depth, png.colour_type, png.interlace), path);
}

std::string png_image_data(const uint8_t* bytes, const PngChunks& chunks) {
  size_t total = 0;
  for (const auto& [at, length] : chunks.idat) total += length;
  std::string zlib;
  zlib.reserve(total);
  for (const auto& [at, length] : chunks.idat) zlib.append(reinterpret_cast<const char*>(bytes + at), length);
  return zlib;
}

namespace {

ImageHeader check_png(const uint8_t* b, size_t n, const std::string& path) {
  ImageHeader header;
  header.format = ImageFormat::kPng;
  PngChunks& png = header.png;
  for (size_t pos = 8, index = 0;; ++index) {
    DCSR_CHECK(n - pos >= 12, "image '", path, "' is a truncated PNG (it ends at byte ", n, " before its IEND chunk)");
    const uint32_t length = be32(b + pos);
    const uint8_t* type = b + pos + 4;
    const std::string name = chunk_name(type);
    DCSR_CHECK(length <= n - pos - 12, "image '", path, "' is a truncated PNG (chunk '", name, "' at byte ", pos,
               " claims ", length, " bytes; the file ends first)");
    const uint32_t crc = be32(b + pos + 8 + length);
    DCSR_CHECK(crc == crc32_png(type, size_t(length) + 4), "image '", path,
               "' is a corrupt PNG (CRC mismatch in chunk '", name, "' at byte ", pos, ")");
    const uint8_t* data = b + pos + 8;
    const bool is_ihdr = std::memcmp(type, "IHDR", 4) == 0;
    DCSR_CHECK(is_ihdr == (index == 0), "image '", path, "' is a corrupt PNG (",
               is_ihdr ? "a second IHDR chunk" : "its first chunk is not IHDR", ")");
    if (is_ihdr) {
      DCSR_CHECK(length == 13, "image '", path, "' is a corrupt PNG (IHDR has ", length, " bytes, not 13)");
      header.width = be32(data), header.height = be32(data + 4);
      png.bit_depth = data[8], png.colour_type = data[9], png.interlace = data[12];
      DCSR_CHECK(data[10] == 0 && data[11] == 0, "image '", path, "' is a corrupt PNG (compression method ",
                 int(data[10]), ", filter method ", int(data[11]), "; PNG defines 0 for both)");
      check_pixel_count(header.width, header.height, path);
    } else if (name[0] >= 'A' && name[0] <= 'Z' && std::memcmp(type, "PLTE", 4) != 0 &&
               std::memcmp(type, "IDAT", 4) != 0 && std::memcmp(type, "IEND", 4) != 0) {
      // A critical chunk (upper-case first letter) that PNG does not define:
      // a decoder must not guess what it changes (RFC 2083 4.3).
      fail("image '", path, "' has a critical PNG chunk '", name, "' that this reader does not know");
    } else if (std::memcmp(type, "PLTE", 4) == 0) {  // stb_image refuses the same
      DCSR_CHECK(length % 3 == 0 && length <= 768, "image '", path, "' is a corrupt PNG (a PLTE chunk of ", length,
                 " bytes)");
      png.palette_at = pos + 8, png.palette_entries = int(length / 3);
    } else if (std::memcmp(type, "tRNS", 4) == 0) {
      png.transparency = true;
    } else if (std::memcmp(type, "eXIf", 4) == 0) {  // a TIFF block, as a JPEG's after "Exif\0\0"
      header.orientation = exif_orientation(data, length);
    } else if (std::memcmp(type, "IDAT", 4) == 0) {
      png.idat.emplace_back(pos + 8, size_t(length));
    } else if (std::memcmp(type, "IEND", 4) == 0) {
      break;  // anything after IEND is not part of the image
    }
    pos += 12 + size_t(length);
  }
  DCSR_CHECK(!png.idat.empty(), "image '", path, "' is a corrupt PNG (no IDAT chunk: no image data)");
  return header;
}

// ---- JPEG ----

std::string hex_byte(uint8_t v) {
  char text[8];
  std::snprintf(text, sizeof(text), "0x%02X", v);
  return text;
}

bool is_frame_header(uint8_t marker) {  // SOF0-SOF15 but DHT (C4), JPG (C8), DAC (CC)
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

bool is_progressive(uint8_t frame_marker) { return frame_marker == 0xC2 || frame_marker == 0xC6; }

// The frame types stb_image decodes: baseline (C0), extended sequential (C1)
// and progressive (C2), all Huffman-coded. The others are lossless (C3),
// hierarchical (C5-C7) or arithmetic-coded (C9-CB, CD-CF).
const char* unsupported_frame(uint8_t marker) {
  if (marker <= 0xC2) return nullptr;
  if (marker >= 0xC9) return "an arithmetic-coded";
  return marker == 0xC3 ? "a lossless" : "a hierarchical";
}

// The tables a JPEG has defined so far (DQT, DHT), in file order, and the
// components of its first frame header. stb_image keeps its Huffman and
// quantization tables in a malloc'd struct it never clears: a scan that uses
// a table the file never defined decodes with whatever that memory held. For
// Huffman tables that means wild reads (a segfault that depends on the heap's
// history: the fuzzer's seed 7 crash). So every scan must use only tables
// defined before it.
struct JpegTables {
  bool huffman[2][4] = {};  // [0 DC / 1 AC][table id]
  bool quant[4] = {};
  uint8_t frame_marker = 0;
  std::vector<std::pair<uint8_t, uint8_t>> components;  // (component id, quantization table) from SOF
  std::vector<bool> scanned;                            // per component: in some scan yet

  // DQT: one or more (Pq|Tq, 64 or 128 values), filling the segment exactly.
  void define_quant(const uint8_t* data, size_t size, size_t at, const std::string& path) {
    for (size_t i = 0; i < size;) {
      const int precision = data[i] >> 4, id = data[i] & 15;
      const size_t bytes = 1 + (precision ? 128 : 64);
      DCSR_CHECK(precision <= 1 && id <= 3 && bytes <= size - i, "image '", path,
                 "' is a corrupt JPEG (bad quantization table in the segment at byte ", at, ")");
      quant[id] = true;
      i += bytes;
    }
  }
  // DHT: one or more (Tc|Th, 16 code counts, the values), filling the segment
  // exactly. A table has at most 256 codes: stb_image writes one byte per
  // code into a 257-byte array without checking (UBSan caught the overflow).
  void define_huffman(const uint8_t* data, size_t size, size_t at, const std::string& path) {
    for (size_t i = 0; i < size;) {
      DCSR_CHECK(size - i >= 17, "image '", path, "' is a corrupt JPEG (Huffman table segment at byte ", at,
                 " ends inside a table)");
      const int table_class = data[i] >> 4, id = data[i] & 15;
      size_t codes = 0;
      for (int k = 1; k <= 16; ++k) codes += data[i + size_t(k)];
      DCSR_CHECK(table_class <= 1 && id <= 3 && codes <= 256 && 17 + codes <= size - i, "image '", path,
                 "' is a corrupt JPEG (bad Huffman table in the segment at byte ", at, ": class ", table_class,
                 ", id ", id, ", ", codes, " codes)");
      huffman[table_class][id] = true;
      i += 17 + codes;
    }
  }
  void set_frame(uint8_t marker, const uint8_t* data, size_t size) {
    frame_marker = marker;
    const int64_t height = (data[1] << 8) | data[2], width = (data[3] << 8) | data[4];
    int h_max = 1, v_max = 1;
    for (size_t c = 0, count = data[5]; c < count && 8 + 3 * c < size; ++c)
      h_max = std::max(h_max, data[7 + 3 * c] >> 4), v_max = std::max(v_max, data[7 + 3 * c] & 15);
    for (size_t c = 0, count = data[5]; c < count && 8 + 3 * c < size; ++c) {
      components.emplace_back(data[6 + 3 * c], data[8 + 3 * c]);
      // The component's 8x8 blocks (A.1.1): its size is the frame's scaled by its sampling factors.
      const int h = std::max(1, data[7 + 3 * c] >> 4), v = std::max(1, data[7 + 3 * c] & 15);
      const int64_t cw = (width * h + h_max - 1) / h_max, ch = (height * v + v_max - 1) / v_max;
      blocks += ((cw + 7) / 8) * ((ch + 7) / 8);
    }
    scanned.assign(components.size(), false);
  }
  // Every block of every component begins with a Huffman-coded DC symbol
  // (baseline scans, and progressive DC scans), and a Huffman code is at
  // least one bit long: so the scans' entropy-coded data holds at least one
  // bit a block. A header claiming far more pixels than its data could hold
  // (a JPEG cut short, or a 600-byte file claiming 16384 x 16384, which
  // stb_image would decode into 800 MB of grey) is refused.
  int64_t blocks = 0;
  // SOS: Ns, (Cs, Td|Ta) per component, Ss, Se, Ah|Al. Throws naming the first table used but not defined.
  void check_scan(const uint8_t* data, size_t size, size_t at, const std::string& path) {
    const size_t count = size >= 1 ? data[0] : 0;
    if (size < 4 + 2 * count) return;  // stb_image rejects a short scan header
    const uint8_t spectral_start = data[1 + 2 * count], approximation_high = data[3 + 2 * count] >> 4;
    // Baseline scans decode with both tables; progressive DC scans with the DC
    // table only (refinements with none), AC scans with the AC table.
    const bool progressive = is_progressive(frame_marker);
    const bool uses_dc = !progressive || (spectral_start == 0 && approximation_high == 0);
    const bool uses_ac = !progressive || spectral_start != 0;
    for (size_t k = 0; k < count; ++k) {
      const uint8_t id = data[1 + 2 * k], dc = data[2 + 2 * k] >> 4, ac = data[2 + 2 * k] & 15;
      const auto component = std::find_if(components.begin(), components.end(),
                                          [&](const auto& c) { return c.first == id; });
      if (component == components.end()) continue;  // stb_image rejects an unknown component
      scanned[size_t(component - components.begin())] = true;
      auto require = [&](bool defined, const char* what, int table) {
        DCSR_CHECK(defined, "image '", path, "' is a corrupt JPEG (the scan at byte ", at, " uses ", what, " table ",
                   table, ", which the file does not define before it)");
      };
      if (component->second <= 3) require(quant[component->second], "quantization", component->second);
      if (uses_dc) require(dc <= 3 && huffman[0][dc], "Huffman DC", dc);
      if (uses_ac) require(ac <= 3 && huffman[1][ac], "Huffman AC", ac);
    }
  }
  // A component no scan carries would come out of uninitialised memory too.
  void check_every_component_scanned(const std::string& path) const {
    for (size_t c = 0; c < components.size(); ++c)
      DCSR_CHECK(scanned[c], "image '", path, "' is a corrupt JPEG (component ", int(components[c].first),
                 " of its frame is in no scan: it has no image data)");
  }
};

ImageHeader check_jpeg(const uint8_t* b, size_t n, const std::string& path) {
  ImageHeader header;
  header.format = ImageFormat::kJpeg;
  JpegTables tables;
  bool have_frame = false, have_scan = false, have_exif = false;
  int64_t entropy_bytes = 0;  // of all scans
  auto truncated = [&](const char* where) {
    fail("image '", path, "' is a truncated or corrupt JPEG (", where, "; no end-of-image marker)");
  };
  size_t pos = 2;  // after SOI
  for (;;) {
    if (pos >= n) truncated("it ends between segments");
    DCSR_CHECK(b[pos] == 0xFF, "image '", path, "' is a corrupt JPEG (no marker at byte ", pos, ")");
    while (pos < n && b[pos] == 0xFF) ++pos;  // a marker may be preceded by fill bytes
    if (pos >= n) truncated("it ends in a marker");
    const uint8_t marker = b[pos++];
    if (marker == 0xD9) break;                                       // EOI
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) continue;  // RSTn, TEM: no length
    DCSR_CHECK(marker != 0xD8 && marker != 0x00, "image '", path, "' is a corrupt JPEG (marker ", hex_byte(marker),
               " at byte ", pos - 1, ")");
    if (n - pos < 2) truncated("it ends in a segment header");
    const size_t length = be16(b + pos);  // includes its own two bytes
    DCSR_CHECK(length >= 2, "image '", path, "' is a corrupt JPEG (segment length ", length, " at byte ", pos, ")");
    if (length > n - pos) truncated("a segment runs past the end of the file");
    const uint8_t* data = b + pos + 2;
    const size_t size = length - 2;
    if (is_frame_header(marker) && !have_frame) {
      DCSR_CHECK(size >= 6, "image '", path, "' is a corrupt JPEG (frame header of ", size, " bytes)");
      if (const char* kind = unsupported_frame(marker))
        fail("image '", path, "' is ", kind, " JPEG (frame type ", hex_byte(marker),
             "), which this reader does not decode; save it as a baseline or progressive JPEG or as PNG");
      header.height = be16(data + 1), header.width = be16(data + 3);
      check_pixel_count(header.width, header.height, path);
      tables.set_frame(marker, data, size);
      have_frame = true;
    } else if (marker == 0xDB) {
      tables.define_quant(data, size, pos - 2, path);
    } else if (marker == 0xC4) {
      tables.define_huffman(data, size, pos - 2, path);
    } else if (marker == 0xE1 && !have_exif && size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) {
      header.orientation = exif_orientation(data + 6, size - 6);
      have_exif = true;
    }
    pos += length;
    if (marker != 0xDA) continue;
    // SOS: the entropy-coded data follows, up to the next marker. Inside it
    // every FF is followed by 00 (a stuffed byte) or a restart marker D0-D7.
    DCSR_CHECK(have_frame, "image '", path, "' is a corrupt JPEG (a scan before the frame header)");
    tables.check_scan(data, size, pos - length - 2, path);
    have_scan = true;
    const size_t scan_begin = pos;
    for (;;) {
      const void* ff = pos < n ? std::memchr(b + pos, 0xFF, n - pos) : nullptr;
      if (ff == nullptr || static_cast<const uint8_t*>(ff) + 1 >= b + n) truncated("its scan data is cut off");
      pos = size_t(static_cast<const uint8_t*>(ff) - b);
      const uint8_t next = b[pos + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7))
        pos += 2;
      else if (next == 0xFF)
        pos += 1;  // fill byte before a marker
      else
        break;  // a marker: the outer loop reads it
    }
    entropy_bytes += pos - scan_begin;
  }
  DCSR_CHECK(have_scan, "image '", path, "' is a corrupt JPEG (it ends before any image data)");
  tables.check_every_component_scanned(path);
  DCSR_CHECK(8 * entropy_bytes >= tables.blocks, "image '", path, "' is a truncated or corrupt JPEG (its scans hold ",
             entropy_bytes, " bytes of image data; its ", header.width, "x", header.height, " frame's ", tables.blocks,
             " blocks need at least one bit each)");
  return header;
}

// ---- BMP ----

ImageHeader check_bmp(const uint8_t* b, size_t n, const std::string& path) {
  ImageHeader header;
  header.format = ImageFormat::kBmp;
  DCSR_CHECK(n >= 26, "image '", path, "' is a truncated BMP (", n, " bytes: shorter than its headers)");
  const uint32_t file_size = le32(b + 2), offset = le32(b + 10), info_size = le32(b + 14);
  DCSR_CHECK(info_size >= 12 && info_size <= n - 14, "image '", path,
             "' is a truncated or corrupt BMP (info header of ", info_size, " bytes in a file of ", n, ")");
  int64_t height = 0;
  uint32_t bits = 0, compression = 0;
  if (info_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    header.width = le16(b + 18), height = le16(b + 20), bits = le16(b + 24);
  } else {
    DCSR_CHECK(info_size >= 40, "image '", path, "' is a corrupt BMP (info header of ", info_size, " bytes)");
    header.width = int32_t(le32(b + 18)), height = int32_t(le32(b + 22));
    bits = le16(b + 28), compression = le32(b + 30);
  }
  header.height = height < 0 ? -height : height;  // negative: rows stored top-down
  check_pixel_count(header.width, header.height, path);
  DCSR_CHECK(file_size == 0 || file_size <= n, "image '", path, "' is a truncated BMP (its header says ", file_size,
             " bytes, the file has ", n, ")");
  DCSR_CHECK(offset >= 14 + info_size && offset <= n, "image '", path,
             "' is a truncated or corrupt BMP (pixel data at byte ", offset, " of a file of ", n, ")");
  // Uncompressed (0) and bit-field (3, 6) layouts: rows of whole 32-bit words.
  const bool plain = compression == 0 || compression == 3 || compression == 6;
  if (plain && (bits == 1 || bits == 4 || bits == 8 || bits == 16 || bits == 24 || bits == 32)) {
    const int64_t row_bytes = (header.width * bits + 31) / 32 * 4;
    DCSR_CHECK(row_bytes * header.height <= int64_t(n - offset), "image '", path, "' is a truncated BMP (its ",
               header.height, " rows need ", row_bytes * header.height, " bytes after byte ", offset, "; the file has ",
               n - offset, ")");
  }
  return header;
}

}  // namespace

ImageHeader check_image_bytes(const std::string& bytes, const std::string& path, bool inflate_png) {
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  if (n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1A\n", 8) == 0) {
    const ImageHeader header = check_png(b, n, path);
    if (inflate_png) check_png_image_data(bytes, header, path);
    return header;
  }
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return check_jpeg(b, n, path);
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return check_bmp(b, n, path);
  fail("cannot read image '", path,
       "': not a PNG, JPEG or BMP file (supported formats: PNG, JPEG, BMP, and HEIC/HEIF/AVIF when built with libheif)");
}

}  // namespace dcsr
