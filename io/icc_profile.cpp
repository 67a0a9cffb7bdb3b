#include "io/icc_profile.h"

#include <stb_image.h>

#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>

#include "io/file_segments.h"

namespace dcsr {

namespace {

constexpr size_t kMaxProfileBytes = size_t(16) << 20;  // far above any real profile (a few KB to a few hundred)
constexpr char kIccId[] = "ICC_PROFILE";                 // with its NUL: the 12-byte APP2 identifier
constexpr size_t kIccIdBytes = 12;
constexpr size_t kSegmentPayload = 65535 - 2 - kIccIdBytes - 2;  // length field, id, sequence number and count

uint32_t be32(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 | uint32_t(uint8_t(b[at + 2])) << 8 |
         uint32_t(uint8_t(b[at + 3]));
}

std::string dropped(const std::string& path, const char* why) {
  std::cerr << "warning: image '" << path << "': its ICC colour profile is malformed (" << why
            << "); the outputs made from it carry none\n";
  return "";
}


// PNG: the iCCP chunk (profile name, NUL, compression method 0, zlib data),
// which comes before the image data.
std::string png_profile(const std::string& b, const std::string& path) {
  std::string body;
  bool found = false;
  for_each_png_chunk(b, [&](const std::string& type, size_t at, size_t size) {
    if (type == "iCCP") body = b.substr(at, size), found = true;
    return type != "iCCP" && type != "IDAT";
  });
  if (!found) return "";
  const size_t name_end = body.find('\0');
  if (name_end == std::string::npos || name_end == 0 || name_end > 79 || name_end + 2 > body.size() ||
      body[name_end + 1] != 0)
    return dropped(path, "a bad iCCP chunk");
  const std::string zlib = body.substr(name_end + 2);
  // Into a buffer of the most a profile may be (not zeroed: only what inflates is read).
  const std::unique_ptr<char[]> inflated(new char[kMaxProfileBytes]);
  const int n = stbi_zlib_decode_buffer(inflated.get(), int(kMaxProfileBytes), zlib.data(), int(zlib.size()));
  if (n <= 0) return dropped(path, "its iCCP data does not inflate, or inflates to more than 16 MiB");
  return valid_icc_profile_or_none(std::string(inflated.get(), size_t(n)), path);
}

// JPEG: APP2 segments "ICC_PROFILE\0", sequence number (1-based), count, data; before the first scan.
std::string jpeg_profile(const std::string& b, const std::string& path) {
  std::map<int, std::string> parts;
  int count = 0;
  bool consistent = true;
  for_each_jpeg_segment(b, [&](uint8_t marker, size_t at, size_t size) {
    if (marker != 0xE2 || size < kIccIdBytes + 2 || b.compare(at, kIccIdBytes, kIccId, kIccIdBytes) != 0) return true;
    const int sequence = uint8_t(b[at + kIccIdBytes]), total = uint8_t(b[at + kIccIdBytes + 1]);
    if (sequence == 0 || total == 0 || sequence > total || (count != 0 && total != count) || parts.count(sequence))
      return consistent = false;
    count = total;
    parts[sequence] = b.substr(at + kIccIdBytes + 2, size - kIccIdBytes - 2);
    return true;
  });
  if (!consistent) return dropped(path, "APP2 segments numbered inconsistently");
  if (parts.empty()) return "";
  if (int(parts.size()) != count) return dropped(path, "APP2 segments missing");
  std::string profile;
  for (const auto& [sequence, data] : parts) profile += data;
  return valid_icc_profile_or_none(std::move(profile), path);
}

}  // namespace

std::string valid_icc_profile_or_none(std::string profile, const std::string& path) {
  if (profile.empty()) return profile;
  if (!looks_like_icc_profile(profile)) return dropped(path, "no valid ICC header");
  // The data colour space (header bytes 16-19): the outputs are RGB, and a
  // grey or CMYK photo's profile says nothing about them (PNG forbids an
  // iCCP of another colour space than the image's); they go without one.
  return profile.compare(16, 4, "RGB ") == 0 ? profile : std::string();
}

bool looks_like_icc_profile(const std::string& p) {
  return p.size() >= 128 && p.size() <= kMaxProfileBytes && be32(p, 0) == p.size() && p.compare(36, 4, "acsp") == 0;
}

std::string icc_profile_of_png_or_jpeg(const std::string& bytes, const std::string& path) {
  if (bytes.size() >= 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1A\n", 8) == 0) return png_profile(bytes, path);
  if (bytes.size() >= 4 && uint8_t(bytes[0]) == 0xFF && uint8_t(bytes[1]) == 0xD8) return jpeg_profile(bytes, path);
  return "";
}

std::string jpeg_icc_segments(const std::string& profile) {
  const size_t segments = (profile.size() + kSegmentPayload - 1) / kSegmentPayload;
  if (segments == 0 || segments > 255) return "";  // empty, or cannot be numbered (over 16 MB): left out
  std::string app2;
  for (size_t k = 0; k < segments; ++k) {
    std::string payload(kIccId, kIccIdBytes);
    payload += char(k + 1), payload += char(segments);
    app2 += jpeg_segment(0xE2, payload + profile.substr(k * kSegmentPayload, kSegmentPayload));
  }
  return app2;
}

std::string jpeg_with_icc_profile(const std::string& jpeg, const std::string& profile) {
  std::string out = jpeg;
  if (jpeg.size() >= 4) out.insert(jpeg_metadata_offset(jpeg), jpeg_icc_segments(profile));
  return out;
}

}  // namespace dcsr
