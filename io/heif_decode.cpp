#include "io/heif_decode.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "io/image_checks.h"
#include "tensor/error.h"

#ifdef DCSR_HAVE_HEIF
#include <libheif/heif.h>
#endif

namespace dcsr {

namespace {

uint32_t be32_at(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 | uint32_t(uint8_t(b[at + 2])) << 8 |
         uint32_t(uint8_t(b[at + 3]));
}

}  // namespace

bool is_heif_bytes(const std::string& bytes) {
  // ftyp box: size (4), "ftyp", major brand (4), minor version (4), compatible brands (4 each).
  if (bytes.size() < 16 || bytes.compare(4, 4, "ftyp") != 0) return false;
  const size_t box = std::min<size_t>(be32_at(bytes, 0), bytes.size());
  static const char* const kBrands[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "avif", "avis"};
  auto heif_brand = [&](size_t at) {
    for (const char* brand : kBrands)
      if (bytes.compare(at, 4, brand) == 0) return true;
    return false;
  };
  if (heif_brand(8)) return true;
  for (size_t at = 16; at + 4 <= box; at += 4)
    if (heif_brand(at)) return true;
  return false;
}

#ifdef DCSR_HAVE_HEIF

bool heif_decoder_available() { return true; }

namespace {

// Owners for libheif's objects.
struct ContextFree {
  void operator()(heif_context* c) const { heif_context_free(c); }
};
struct HandleRelease {
  void operator()(const heif_image_handle* h) const { heif_image_handle_release(h); }
};
struct ImageRelease {
  void operator()(const heif_image* i) const { heif_image_release(i); }
};
struct OptionsFree {
  void operator()(heif_decoding_options* o) const { heif_decoding_options_free(o); }
};

void check(const heif_error& e, const std::string& path, const char* doing) {
  if (e.code == heif_error_Ok) return;
  fail("cannot read image '", path, "': HEIF ", doing, ": ", e.message ? e.message : "unknown error",
       " (corrupt or unsupported HEIF file)");
}

// The image's ICC profile and EXIF block (HeifPicture::icc_profile, exif).
void read_metadata(const heif_image_handle* handle, const std::string& path, HeifPicture& info) {
  const heif_color_profile_type type = heif_image_handle_get_color_profile_type(handle);
  if (type == heif_color_profile_type_prof || type == heif_color_profile_type_rICC) {
    info.icc_profile.assign(heif_image_handle_get_raw_color_profile_size(handle), '\0');
    if (!info.icc_profile.empty())
      check(heif_image_handle_get_raw_color_profile(handle, info.icc_profile.data()), path, "colour profile");
  }
  heif_item_id id = 0;
  if (heif_image_handle_get_list_of_metadata_block_IDs(handle, "Exif", &id, 1) != 1) return;
  std::string block(heif_image_handle_get_metadata_size(handle, id), '\0');
  if (block.size() < 4) return;
  check(heif_image_handle_get_metadata(handle, id, block.data()), path, "EXIF block");
  // HEIF's Exif item: a 32-bit big-endian offset to the TIFF header (past "Exif\0\0" when present), then the data.
  const size_t offset = size_t(uint8_t(block[0])) << 24 | size_t(uint8_t(block[1])) << 16 |
                        size_t(uint8_t(block[2])) << 8 | uint8_t(block[3]);
  if (offset < block.size() - 4) info.exif = block.substr(4 + offset);
}

// The file's boxes parsed (the bytes must outlive the context) and its
// primary image's handle.
struct Opened {
  std::unique_ptr<heif_context, ContextFree> context;
  std::unique_ptr<const heif_image_handle, HandleRelease> handle;
};

Opened open_primary(const std::string& bytes, const std::string& path, HeifPicture& info) {
  Opened o;
  o.context.reset(heif_context_alloc());
  DCSR_CHECK(o.context, "cannot read image '", path, "': out of memory for the HEIF decoder");
  check(heif_context_read_from_memory_without_copy(o.context.get(), bytes.data(), bytes.size(), nullptr), path,
        "structure");
  heif_image_handle* handle = nullptr;
  check(heif_context_get_primary_image_handle(o.context.get(), &handle), path, "primary image");
  o.handle.reset(handle);
  info.width = heif_image_handle_get_width(handle);
  info.height = heif_image_handle_get_height(handle);
  info.has_alpha = heif_image_handle_has_alpha_channel(handle) != 0;
  const int bits = heif_image_handle_get_luma_bits_per_pixel(handle);
  info.bits = bits > 0 ? bits : 8;
  DCSR_CHECK(info.width > 0 && info.height > 0, "cannot read image '", path, "': HEIF image of size ", info.width,
             "x", info.height);
  DCSR_CHECK(info.width * info.height <= kMaxImagePixels, "cannot read image '", path, "': ", info.width, "x",
             info.height, " pixels, more than the limit of ", kMaxImagePixels);
  DCSR_CHECK(info.bits <= 16, "cannot read image '", path, "': HEIF image of ", info.bits, " bits per sample");
  read_metadata(handle, path, info);
  return o;
}

}  // namespace

HeifPicture heif_info(const std::string& bytes, const std::string& path) {
  HeifPicture info;
  open_primary(bytes, path, info);
  return info;
}

HeifPicture heif_decode(const std::string& bytes, const std::string& path) {
  HeifPicture picture;
  const Opened o = open_primary(bytes, path, picture);
  std::unique_ptr<heif_decoding_options, OptionsFree> options(heif_decoding_options_alloc());
  options->ignore_transformations = 0;  // rotation, mirror and crop applied: the picture upright
  const heif_chroma chroma = picture.is16() ? heif_chroma_interleaved_RRGGBB_LE : heif_chroma_interleaved_RGB;
  heif_image* decoded = nullptr;
  check(heif_decode_image(o.handle.get(), &decoded, heif_colorspace_RGB, chroma, options.get()), path, "decoding");
  const std::unique_ptr<const heif_image, ImageRelease> image(decoded);
  const int64_t w = heif_image_get_width(image.get(), heif_channel_interleaved);
  const int64_t h = heif_image_get_height(image.get(), heif_channel_interleaved);
  DCSR_CHECK(w == picture.width && h == picture.height, "cannot decode image '", path, "': decoded ", w, "x", h,
             " pixels but its header says ", picture.width, "x", picture.height);
  int stride = 0;
  const uint8_t* plane = heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
  DCSR_CHECK(plane, "cannot decode image '", path, "': the HEIF decoder gave no RGB pixels");
  const size_t row_samples = size_t(3 * w), bytes_per_sample = picture.is16() ? 2 : 1;
  picture.pixels = {std::malloc(row_samples * bytes_per_sample * size_t(h)), std::free};
  DCSR_CHECK(picture.pixels, "cannot decode image '", path, "': out of memory for ", w, "x", h, " pixels");
  if (!picture.is16()) {
    auto* out = static_cast<uint8_t*>(picture.pixels.get());
    for (int64_t y = 0; y < h; ++y) std::memcpy(out + size_t(y) * row_samples, plane + y * stride, row_samples);
  } else {
    // Little-endian samples of `bits` bits, scaled to 16 bits with rounding.
    const int bits = heif_image_get_bits_per_pixel_range(image.get(), heif_channel_interleaved);
    const uint32_t max_in = (uint32_t(1) << (bits > 0 && bits <= 16 ? bits : picture.bits)) - 1;
    auto* out = static_cast<uint16_t*>(picture.pixels.get());
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* row = plane + y * stride;
      for (size_t i = 0; i < row_samples; ++i) {
        const uint32_t v = std::min<uint32_t>(uint32_t(row[2 * i]) | uint32_t(row[2 * i + 1]) << 8, max_in);
        out[size_t(y) * row_samples + i] = uint16_t((v * 65535u + max_in / 2) / max_in);
      }
    }
  }
  return picture;
}

#else  // built without libheif

bool heif_decoder_available() { return false; }

namespace {
[[noreturn]] void no_decoder(const std::string& path) {
  fail("cannot read image '", path, "': a HEIF/HEIC/AVIF file, and this build has no HEIF decoder (tools/setup.sh "
       "installs libheif-dev; then rebuild), or convert it to JPEG or PNG");
}
}  // namespace

HeifPicture heif_info(const std::string&, const std::string& path) { no_decoder(path); }
HeifPicture heif_decode(const std::string&, const std::string& path) { no_decoder(path); }

#endif

}  // namespace dcsr
