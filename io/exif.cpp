#include "io/exif.h"

#include <cstring>

#include "io/file_segments.h"

namespace dcsr {

namespace {

// Reads 16/32-bit values of a TIFF block in its byte order, refusing any read
// past the block's end.
struct TiffReader {
  const uint8_t* data;
  size_t size;
  bool big_endian;

  bool u16(size_t at, uint32_t& v) const {
    if (at > size || size - at < 2) return false;
    v = big_endian ? uint32_t(data[at]) << 8 | data[at + 1] : uint32_t(data[at + 1]) << 8 | data[at];
    return true;
  }
  bool u32(size_t at, uint32_t& v) const {
    uint32_t a, b;
    if (!u16(at, a) || !u16(at + 2, b)) return false;
    v = big_endian ? a << 16 | b : b << 16 | a;
    return true;
  }
};

constexpr uint32_t kOrientationTag = 0x0112;
constexpr uint32_t kTypeShort = 3, kTypeLong = 4;
constexpr uint32_t kImageWidthTag = 0x0100, kImageLengthTag = 0x0101, kExifIfdTag = 0x8769;
constexpr uint32_t kPixelXTag = 0xA002, kPixelYTag = 0xA003;

// Writes a 16/32-bit value in the block's byte order (the caller checked the range).
void put(std::string& b, size_t at, uint32_t v, int bytes, bool big_endian) {
  for (int k = 0; k < bytes; ++k) b[at + size_t(k)] = char(v >> (8 * (big_endian ? bytes - 1 - k : k)));
}

// The entries of the IFD at `ifd`: calls visit(entry offset, tag, type,
// count) for each. False when the IFD runs past the block.
template <typename Visit>
bool for_each_entry(const TiffReader& r, uint32_t ifd, Visit&& visit) {
  uint32_t entries = 0;
  if (!r.u16(ifd, entries) || size_t(ifd) + 2 + 12 * size_t(entries) + 4 > r.size) return false;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t entry = size_t(ifd) + 2 + 12 * size_t(i);
    uint32_t tag = 0, type = 0, count = 0;
    r.u16(entry, tag), r.u16(entry + 2, type), r.u32(entry + 4, count);
    visit(entry, tag, type, count);
  }
  return true;
}

}  // namespace

int exif_orientation(const uint8_t* tiff, size_t size) {
  if (tiff == nullptr || size < 8) return 1;
  TiffReader r{tiff, size, false};
  if (tiff[0] == 'M' && tiff[1] == 'M')
    r.big_endian = true;
  else if (!(tiff[0] == 'I' && tiff[1] == 'I'))
    return 1;
  uint32_t magic = 0, ifd0 = 0, entries = 0;
  if (!r.u16(2, magic) || magic != 42 || !r.u32(4, ifd0) || !r.u16(ifd0, entries)) return 1;
  // IFD0: a count, then 12-byte entries (tag, type, count, value or offset).
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t entry = size_t(ifd0) + 2 + 12 * size_t(i);
    uint32_t tag = 0, type = 0, count = 0, value = 0;
    if (!r.u16(entry, tag) || !r.u16(entry + 2, type) || !r.u32(entry + 4, count)) return 1;
    if (tag != kOrientationTag) continue;
    // A SHORT (the standard type) or a LONG, one value, stored in the entry itself.
    bool ok = count == 1 && ((type == kTypeShort && r.u16(entry + 8, value)) ||
                             (type == kTypeLong && r.u32(entry + 8, value)));
    return ok && value >= 1 && value <= 8 ? int(value) : 1;
  }
  return 1;
}

std::string exif_for_output(const std::string& tiff, int64_t width, int64_t height) {
  if (tiff.size() < 8 || tiff.size() > (size_t(1) << 24)) return "";
  const auto* data = reinterpret_cast<const uint8_t*>(tiff.data());
  TiffReader r{data, tiff.size(), false};
  if (tiff.compare(0, 2, "MM") == 0) r.big_endian = true;
  else if (tiff.compare(0, 2, "II") != 0) return "";
  uint32_t magic = 0, ifd0 = 0;
  if (!r.u16(2, magic) || magic != 42 || !r.u32(4, ifd0)) return "";
  std::string out = tiff;
  uint32_t exif_ifd = 0;
  // A one-value SHORT or LONG entry set to v (a SHORT only when v fits).
  auto set_value = [&](size_t entry, uint32_t type, uint32_t count, int64_t v) {
    if (count != 1 || v < 0) return;
    if (type == kTypeShort && v <= 0xFFFF) put(out, entry + 8, uint32_t(v), 2, r.big_endian);
    if (type == kTypeLong && v <= 0xFFFFFFFFll) put(out, entry + 8, uint32_t(v), 4, r.big_endian);
  };
  uint32_t entries = 0;
  const bool ifd0_ok = for_each_entry(r, ifd0, [&](size_t entry, uint32_t tag, uint32_t type, uint32_t count) {
    if (tag == kOrientationTag) set_value(entry, type, count, 1);
    if (tag == kImageWidthTag) set_value(entry, type, count, width);
    if (tag == kImageLengthTag) set_value(entry, type, count, height);
    if (tag == kExifIfdTag && type == kTypeLong && count == 1) r.u32(entry + 8, exif_ifd);
  });
  if (!ifd0_ok || !r.u16(ifd0, entries)) return "";
  put(out, size_t(ifd0) + 2 + 12 * size_t(entries), 0, 4, r.big_endian);  // no IFD1: the thumbnail goes
  if (exif_ifd != 0 && !for_each_entry(r, exif_ifd, [&](size_t entry, uint32_t tag, uint32_t type, uint32_t count) {
        if (tag == kPixelXTag) set_value(entry, type, count, width);
        if (tag == kPixelYTag) set_value(entry, type, count, height);
      }))
    return "";
  return out;
}

std::string exif_block_of_png_or_jpeg(const std::string& b) {
  std::string tiff;
  // PNG: the eXIf chunk (before IDAT, or anywhere before IEND in older files).
  for_each_png_chunk(b, [&](const std::string& type, size_t at, size_t size) {
    if (type != "eXIf") return true;
    tiff = b.substr(at, size);
    return false;
  });
  if (!tiff.empty()) return tiff;
  for_each_jpeg_segment(b, [&](uint8_t marker, size_t at, size_t size) {
    if (marker != 0xE1 || size < 6 || b.compare(at, 6, "Exif\0\0", 6) != 0) return true;
    tiff = b.substr(at + 6, size - 6);
    return false;
  });
  return tiff;
}

std::string jpeg_exif_segment(const std::string& tiff) {
  if (tiff.empty() || tiff.size() > 65535 - 2 - 6) return "";
  return jpeg_segment(0xE1, std::string("Exif\0\0", 6) + tiff);
}

std::string jpeg_with_exif(const std::string& jpeg, const std::string& tiff) {
  std::string out = jpeg;
  if (jpeg.size() >= 4) out.insert(jpeg_metadata_offset(jpeg), jpeg_exif_segment(tiff));
  return out;
}

}  // namespace dcsr
