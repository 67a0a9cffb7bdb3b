#include "io/image_io.h"

#include <stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "io/exif.h"
#include "io/heif_decode.h"
#include "io/icc_profile.h"
#include "io/png_decode.h"

namespace dcsr {
namespace fs = std::filesystem;

namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

// The whole file in memory: decoding from memory lets us check the bytes
// (io/image_checks.h) before stb sees them, and gives one place for I/O errors.
std::string read_bytes(const std::string& path) {
  std::error_code ec;
  DCSR_CHECK(fs::exists(path, ec), "image '", path, "' does not exist");
  DCSR_CHECK(!fs::is_directory(path, ec), "image '", path, "' is a folder, not a file");
  // Not a device or a pipe (/dev/zero would never end).
  DCSR_CHECK(fs::is_regular_file(path, ec), "image '", path, "' is not a regular file");
  const auto size = fs::file_size(path, ec);
  DCSR_CHECK(ec || size < size_t(INT32_MAX), "image '", path, "' is too large (", size, " bytes)");
  std::ifstream file(path, std::ios::binary);
  DCSR_CHECK(file, "cannot open image '", path, "': ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << file.rdbuf();
  DCSR_CHECK(!file.bad(), "cannot read image '", path, "'");
  std::string bytes = buffer.str();
  DCSR_CHECK(!bytes.empty(), "image '", path, "' is empty (0 bytes)");
  DCSR_CHECK(bytes.size() < size_t(INT32_MAX), "image '", path, "' is too large (", bytes.size(), " bytes)");
  return bytes;
}

void warn_about_channels(int channels, const std::string& path) {
  if (channels == 1 || channels == 2)
    std::cerr << "warning: image '" << path << "' is greyscale; using it as RGB (grey in all three channels)\n";
  if (channels == 2 || channels == 4)
    std::cerr << "warning: image '" << path << "' has an alpha channel; it is ignored (not composited)\n";
}

// A decoded image: interleaved RGB (3 values per pixel), 8 or 16 bits, in a
// buffer owned by stb_image (or the HEIF decoder's copy), as stored in the
// file; `orientation` maps it upright.
struct Decoded {
  Orientation orientation;
  bool is16 = false;
  std::unique_ptr<void, void (*)(void*)> pixels{nullptr, stbi_image_free};
  int64_t height() const { return orientation.height(); }  // upright
  int64_t width() const { return orientation.width(); }
  uint16_t value(int64_t i) const {  // element i of the interleaved (stored) buffer
    return is16 ? static_cast<const uint16_t*>(pixels.get())[i] : static_cast<const uint8_t*>(pixels.get())[i];
  }
};

// The metadata of a HEIF picture as the outputs carry it (the profile checked).
PhotoMetadata metadata_of(HeifPicture& picture, const std::string& path) {
  return {valid_icc_profile_or_none(std::move(picture.icc_profile), path), std::move(picture.exif)};
}

// The same from a PNG or JPEG file's bytes.
PhotoMetadata metadata_of(const std::string& bytes, const std::string& path) {
  return {icc_profile_of_png_or_jpeg(bytes, path), exif_block_of_png_or_jpeg(bytes)};
}

// The file decoded; `metadata`, when given, gets what it says about itself
// from the same bytes (read once).
Decoded decode_rgb(const std::string& path, PhotoMetadata* metadata = nullptr) {
  std::string bytes = read_bytes(path);
  Decoded out;
  if (is_heif_bytes(bytes)) {  // HEIC, AVIF (io/heif_decode.h): decoded upright
    HeifPicture picture = heif_decode(bytes, path);
    if (metadata) *metadata = metadata_of(picture, path);
    warn_about_channels(picture.has_alpha ? 4 : 3, path);
    out.is16 = picture.is16();
    out.pixels = std::move(picture.pixels);
    out.orientation = Orientation{1, picture.height, picture.width};
    return out;
  }
  // A PNG's chunks and CRCs are checked here, its image data by
  // decode_png_rgb as it decodes it (one inflate, io/png_decode.h). JPEG
  // and BMP go to stb_image.
  const ImageHeader header = check_image_bytes(bytes, path, /*inflate_png=*/false);
  if (metadata) *metadata = metadata_of(bytes, path);
  if (header.format == ImageFormat::kPng) {
    PngPixels png = decode_png_rgb(bytes, header, path);
    warn_about_channels(png.file_channels, path);
    out.is16 = png.is16;
    out.pixels = std::move(png.pixels);
    out.orientation = Orientation{header.orientation, png.height, png.width};
    return out;
  }
  auto* buffer = reinterpret_cast<const stbi_uc*>(bytes.data());
  int len = int(bytes.size());
  int w = 0, h = 0, file_channels = 0;
  out.is16 = stbi_is_16_bit_from_memory(buffer, len);
  if (out.is16)
    out.pixels.reset(stbi_load_16_from_memory(buffer, len, &w, &h, &file_channels, 3));
  else
    out.pixels.reset(stbi_load_from_memory(buffer, len, &w, &h, &file_channels, 3));
  if (!out.pixels) fail("cannot decode image '", path, "': ", stbi_failure_reason(), " (corrupt or unsupported file)");
  DCSR_CHECK(w == header.width && h == header.height, "cannot decode image '", path, "': decoded ", w, "x", h,
             " pixels but its header says ", header.width, "x", header.height);
  warn_about_channels(file_channels, path);
  out.orientation = Orientation{header.orientation, h, w};
  return out;
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
  std::string bytes = read_bytes(path);
  if (is_heif_bytes(bytes)) {
    const HeifPicture info = heif_info(bytes, path);
    return {info.height, info.width, info.has_alpha ? 4 : 3};
  }
  const ImageHeader header = check_image_bytes(bytes, path, /*inflate_png=*/false);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()), &w, &h, &channels))
    fail("cannot read image '", path, "': ", stbi_failure_reason(), " (corrupt or unsupported file)");
  const Orientation upright{header.orientation, header.height, header.width};
  return {upright.height(), upright.width(), channels};
}

namespace {

// 8-bit samples of a decoded image, planar and upright. An upright row's
// stored pixels are evenly spaced (Orientation::row), so each row is a
// strided copy; the common one, an 8-bit image stored upright,
// a plain deinterleave the compiler vectorises (a 12 MP JPEG's took 16 ms
// pixel by pixel, 14% of reading it).
ImageU8 planar_u8(const Decoded& d) {
  const int64_t h = d.height(), w = d.width(), hw = h * w;
  ImageU8 image;
  image.height = h, image.width = w;
  image.data.resize(size_t(3 * hw));
  uint8_t* r = image.data.data();
  uint8_t *g = r + hw, *b = g + hw;
  for (int64_t y = 0; y < h; ++y) {
    const auto [base, step] = d.orientation.row(y);
    const int64_t row = y * w;
    if (!d.is16) {
      const uint8_t* src = static_cast<const uint8_t*>(d.pixels.get());
      if (step == 1) {
        const uint8_t* s = src + 3 * base;
        for (int64_t x = 0; x < w; ++x) r[row + x] = s[3 * x], g[row + x] = s[3 * x + 1], b[row + x] = s[3 * x + 2];
      } else {
        for (int64_t x = 0; x < w; ++x) {
          const uint8_t* s = src + 3 * (base + x * step);
          r[row + x] = s[0], g[row + x] = s[1], b[row + x] = s[2];
        }
      }
      continue;
    }
    const uint16_t* src = static_cast<const uint16_t*>(d.pixels.get());
    auto to8 = [](uint16_t v) { return uint8_t((uint32_t(v) * 255 + 32767) / 65535); };
    for (int64_t x = 0; x < w; ++x) {
      const uint16_t* s = src + 3 * (base + x * step);
      r[row + x] = to8(s[0]), g[row + x] = to8(s[1]), b[row + x] = to8(s[2]);
    }
  }
  return image;
}

// Copies rows top .. top+h, columns left .. left+w of a planar C x H x W
// image into dst (C x h x w, zeroed first), as convert(sample) each.
template <typename T, typename Convert>
void copy_window(const T* src, int64_t c, int64_t height, int64_t width, int64_t top, int64_t left, int64_t h,
                 int64_t w, float* dst, Convert convert) {
  std::fill(dst, dst + c * h * w, 0.0f);  // serial: a tile is small, a thread wake-up is not free
  const int64_t x0 = std::max<int64_t>(left, 0), x1 = std::min(left + w, width);
  if (x1 <= x0) return;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = std::max<int64_t>(top, 0); y < std::min(top + h, height); ++y) {
      const T* row = src + (k * height + y) * width;
      float* out = dst + (k * h + y - top) * w;
      for (int64_t x = x0; x < x1; ++x) out[x - left] = convert(row[x]);
    }
}

// A decoded image as floats in [0, 1], planar and upright (row by row, as planar_u8).
Tensor float_tensor(const Decoded& d) {
  const int64_t h = d.height(), w = d.width(), hw = h * w;
  // Divide (not multiply by a reciprocal) so that v / 255 is the float nearest
  // to the true quotient, the same value quantize() produces.
  const float range = d.is16 ? 65535.0f : 255.0f;
  Tensor out = empty({1, 3, h, w});
  float* dst = out.data<float>();
  for (int64_t y = 0; y < h; ++y) {
    const auto [base, step] = d.orientation.row(y);
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c) dst[c * hw + y * w + x] = float(d.value(3 * (base + x * step) + c)) / range;
  }
  return out;
}

}  // namespace

Tensor read_image(const std::string& path, PhotoMetadata* metadata) {
  return float_tensor(decode_rgb(path, metadata));
}

std::string read_icc_profile(const std::string& path) { return read_photo_metadata(path).icc_profile; }

PhotoMetadata read_photo_metadata(const std::string& path) {
  const std::string bytes = read_bytes(path);
  if (!is_heif_bytes(bytes)) return metadata_of(bytes, path);
  if (!heif_decoder_available()) return {};  // (reading the picture says why)
  HeifPicture info = heif_info(bytes, path);
  return metadata_of(info, path);
}

ImageU8 read_image_u8(const std::string& path) { return planar_u8(decode_rgb(path)); }

CompactImage read_image_compact(const std::string& path, PhotoMetadata* metadata) {
  Decoded d = decode_rgb(path, metadata);
  return d.is16 ? CompactImage(float_tensor(d)) : CompactImage(planar_u8(d));
}

Tensor CompactImage::to_tensor() const { return is_u8() ? image_to_tensor(u8) : f32; }

Tensor CompactImage::crop(int64_t top, int64_t left, int64_t h, int64_t w) const {
  if (!is_u8()) return crop_with_zeros(f32, top, left, h, w);
  Tensor out = empty({1, 3, h, w});
  copy_window(u8.data.data(), 3, u8.height, u8.width, top, left, h, w, out.data<float>(), u8_value);
  return out;
}

Tensor crop_with_zeros(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w) {
  DCSR_CHECK(image.dim() == 4 && image.size(0) == 1 && image.is_cpu() && image.dtype() == kFloat32,
             "crop: expected a CPU float32 image (1, C, H, W), got ", shape_str(image.shape()));
  const int64_t c = image.size(1);
  Tensor out = empty({1, c, h, w});
  copy_window(image.data<float>(), c, image.size(2), image.size(3), top, left, h, w, out.data<float>(),
              [](float v) { return v; });
  return out;
}

Tensor image_to_tensor(const ImageU8& image) {
  Tensor out = empty({1, 3, image.height, image.width});
  float* dst = out.data<float>();
  for (size_t i = 0; i < image.data.size(); ++i) dst[i] = u8_value(image.data[i]);
  return out;
}

bool is_image_file(const std::string& path) {
  std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".heic" || ext == ".heif" ||
         ext == ".avif";
}

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  DCSR_CHECK(fs::exists(dir, ec), "folder '", dir, "' does not exist");
  DCSR_CHECK(fs::is_directory(dir, ec), "'", dir, "' is not a folder");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() && !entry.is_symlink()) continue;
    if (is_image_file(entry.path().string())) files.push_back(entry.path().string());
  }
  // Pairing by sorted name (spec §10.1): plain byte order of the file names.
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return fs::path(a).filename().string() < fs::path(b).filename().string();
  });
  return files;
}

}  // namespace dcsr
