#include "io/exif.h"

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

}  // namespace dcsr
