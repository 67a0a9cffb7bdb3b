// A JPEG file's marker segments and a PNG file's chunks, for the metadata
// they carry (EXIF in APP1 or eXIf, ICC profiles in APP2 or iCCP: io/exif.h,
// io/icc_profile.h). The full structure checks are io/image_checks.h's; these
// walks only stop at what they cannot read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dcsr {

// Calls visit(marker, payload offset, payload bytes) for each segment with a
// length from SOI to the first scan (SOS) or the end (EOI), or until visit
// returns false. Payloads are within `b`; a segment running past the file
// ends the walk.
template <typename Visit>
void for_each_jpeg_segment(const std::string& b, Visit&& visit) {
  if (b.size() < 4 || uint8_t(b[0]) != 0xFF || uint8_t(b[1]) != 0xD8) return;
  for (size_t at = 2; at + 4 <= b.size() && uint8_t(b[at]) == 0xFF;) {
    const uint8_t marker = uint8_t(b[at + 1]);
    if (marker == 0xDA || marker == 0xD9) return;  // start of scan, end of image
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0xFF) {
      at += marker == 0xFF ? 1 : 2;  // a fill byte, or a marker without a length
      continue;
    }
    const size_t length = size_t(uint8_t(b[at + 2])) << 8 | uint8_t(b[at + 3]);
    if (length < 2 || at + 2 + length > b.size()) return;
    if (!visit(marker, at + 4, length - 2)) return;
    at += 2 + length;
  }
}

// Calls visit(type, data offset, data bytes) for each chunk of a PNG file's
// bytes after the signature, in order, until visit returns false or IEND; a
// chunk running past the file ends the walk. (Not a PNG: no calls.)
template <typename Visit>
void for_each_png_chunk(const std::string& b, Visit&& visit) {
  if (b.size() < 8 || b.compare(0, 8, "\x89PNG\r\n\x1A\n", 8) != 0) return;
  for (size_t at = 8; at + 12 <= b.size();) {
    size_t length = 0;
    for (int k = 0; k < 4; ++k) length = length << 8 | uint8_t(b[at + size_t(k)]);
    if (length > b.size() - at - 12) return;
    const std::string type = b.substr(at + 4, 4);
    if (type == "IEND" || !visit(type, at + 8, length)) return;
    at += 12 + length;
  }
}

// Where metadata segments go in a JPEG file: after SOI, and after an APP0
// (JFIF) segment right behind it, which must stay first.
inline size_t jpeg_metadata_offset(const std::string& jpeg) {
  if (jpeg.size() >= 6 && uint8_t(jpeg[2]) == 0xFF && uint8_t(jpeg[3]) == 0xE0)
    return 4 + (size_t(uint8_t(jpeg[4])) << 8 | uint8_t(jpeg[5]));
  return 2;
}

// A segment: 0xFF, the marker, its length (payload + 2, big-endian), the payload (at most 65533 bytes).
inline std::string jpeg_segment(uint8_t marker, const std::string& payload) {
  const size_t length = payload.size() + 2;
  std::string s = "\xFF";
  s += char(marker), s += char(length >> 8), s += char(length & 0xFF);
  return s + payload;
}

}  // namespace dcsr
