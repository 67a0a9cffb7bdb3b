// ICC colour profiles, carried from a photo to the image made from it. The
// network works on the samples as they are, so its output is in the colour
// space of its input; a wide image that says "Display P3" (as iPhone photos
// do) must give an output that says so too, or viewers show it as sRGB, with
// duller colours. Profiles are read from PNG (iCCP), JPEG (APP2
// "ICC_PROFILE" segments, in sequence order) and HEIF (its colour property,
// io/heif_decode.h), and written into PNG (iCCP, io/png_encode.h) and JPEG
// (APP2 segments after the file's header). They are not interpreted: only
// their header is checked (size and the 'acsp' signature), and a malformed
// one is dropped with a warning rather than copied. A profile whose data
// colour space is not RGB (a grey or CMYK photo's) is dropped without one:
// the outputs are RGB.
#pragma once
#include <string>

namespace dcsr {

// Whether `profile` has an ICC header: at least 128 bytes, its size field
// equal to its length, 'acsp' at byte 36.
bool looks_like_icc_profile(const std::string& profile);

// The ICC profile inside a PNG or JPEG file's bytes ("" when it has none).
// A malformed one (a bad header, iCCP data that does not inflate, APP2
// segments missing or numbered inconsistently) gives "" and a warning on
// stderr naming `path`.
std::string icc_profile_of_png_or_jpeg(const std::string& bytes, const std::string& path);

// `profile` when it looks like an ICC profile of RGB data (or is empty), else
// "" (with a warning naming `path` when it is malformed) (for profiles from
// elsewhere too, e.g. a HEIF file's).
std::string valid_icc_profile_or_none(std::string profile, const std::string& path);

// The APP2 "ICC_PROFILE" segments that carry the profile in a JPEG file, as
// many as it needs (65519 bytes each, at most 255; "" for an empty profile or
// one too large to number).
std::string jpeg_icc_segments(const std::string& profile);
// `jpeg` (a JPEG file from a writer that puts no APP2 segments in) with those
// segments right after SOI and the APP0 (JFIF) segment (io/file_segments.h).
std::string jpeg_with_icc_profile(const std::string& jpeg, const std::string& profile);

}  // namespace dcsr
