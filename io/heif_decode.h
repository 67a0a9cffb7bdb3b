// HEIF images: HEIC (HEVC inside, the format iPhones and many Android phones
// save their photos in) and AVIF (AV1 inside), decoded through libheif in
// builds that have it (CMake finds it with pkg-config; tools/setup.sh installs
// libheif-dev). read_image() (io/image_io.h) comes here for them; elsewhere a
// HEIF file is refused with a message that says how to get the decoder.
//
// The picture is the file's primary image, upright: libheif applies the
// file's own rotation, mirroring and crop (irot, imir, clap), which HEIF
// defines as the way to show it (an EXIF orientation inside a HEIF file is
// not applied again). Images with more than 8 bits per sample (10-bit HEIC)
// come out as 16-bit samples, v * 65535 / (2^bits - 1) rounded, so that
// read_image() keeps their precision as it does for a 16-bit PNG. Colour
// profiles are not applied (the samples are taken as they are, as for PNG
// and JPEG); an ICC profile is carried to the outputs (HeifPicture::icc_profile).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace dcsr {

// Whether `bytes` start like a HEIF file: an ISO base media 'ftyp' box whose
// major or compatible brands include a HEIF or AVIF one (heic, heix, hevc,
// hevx, heim, heis, mif1, msf1, avif, avis). Needs no decoder.
bool is_heif_bytes(const std::string& bytes);

// Whether this build decodes HEIF (was built with libheif).
bool heif_decoder_available();

struct HeifPicture {
  int64_t width = 0, height = 0;  // upright
  bool has_alpha = false;
  int bits = 8;  // bits per sample in the file
  // Interleaved RGB, width * height * 3 samples: uint8_t when bits == 8,
  // else uint16_t scaled to 0..65535. Empty from heif_info().
  std::unique_ptr<void, void (*)(void*)> pixels{nullptr, nullptr};
  // What the outputs carry (io/icc_profile.h, io/exif.h), as the file holds
  // them: the ICC profile of the 'prof' or 'rICC' colour property ("" when
  // there is none or only an nclx one), and the Exif item's block from its
  // TIFF header on ("" when none; its Orientation is not applied: irot/imir are).
  std::string icc_profile, exif;
  bool is16() const { return bits > 8; }
};

// The primary image's size, alpha, bit depth, ICC profile and EXIF block,
// from the file's boxes only (nothing decoded). Throws a one-line Error naming `path` when the file is
// not a readable HEIF file, holds more than kMaxImagePixels pixels, or this
// build has no HEIF decoder.
HeifPicture heif_info(const std::string& bytes, const std::string& path);

// The primary image decoded (see above); the same errors, and a decoding
// error of the file's image data, name `path`.
HeifPicture heif_decode(const std::string& bytes, const std::string& path);


}  // namespace dcsr
