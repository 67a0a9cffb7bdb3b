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

#include "io/png_encode.h"
#include "tensor/serialize.h"

namespace dcsr {
namespace fs = std::filesystem;

namespace {

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

// The whole file in memory: decoding from memory lets us check the bytes
// (JPEG end marker) before stb sees them, and gives one place for I/O errors.
std::string read_bytes(const std::string& path) {
  std::error_code ec;
  DCSR_CHECK(fs::exists(path, ec), "image '", path, "' does not exist");
  DCSR_CHECK(!fs::is_directory(path, ec), "image '", path, "' is a folder, not a file");
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

// stb_image decodes a truncated baseline JPEG without complaint (the missing
// part comes out grey). A complete JPEG has an end-of-image marker FF D9 after
// its last start-of-scan marker FF DA; entropy-coded data escapes every FF
// byte, so the marker cannot appear by accident inside the scan. (An EXIF
// thumbnail has its own FF D9, but it sits in an APP1 segment before the
// main image's scans.)
void check_jpeg_complete(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 4 || uint8_t(bytes[0]) != 0xFF || uint8_t(bytes[1]) != 0xD8) return;  // not a JPEG
  size_t last_sos = std::string::npos;
  for (size_t i = 0; i + 1 < bytes.size(); ++i)
    if (uint8_t(bytes[i]) == 0xFF && uint8_t(bytes[i + 1]) == 0xDA) last_sos = i;
  bool complete = false;
  if (last_sos != std::string::npos)
    for (size_t i = last_sos + 2; i + 1 < bytes.size() && !complete; ++i)
      complete = uint8_t(bytes[i]) == 0xFF && uint8_t(bytes[i + 1]) == 0xD9;
  DCSR_CHECK(complete, "image '", path, "' is a truncated or corrupt JPEG (no end-of-image marker)");
}

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

void warn_about_channels(int channels, const std::string& path) {
  if (channels == 1 || channels == 2)
    std::cerr << "warning: image '" << path << "' is greyscale; using it as RGB (grey in all three channels)\n";
  if (channels == 2 || channels == 4)
    std::cerr << "warning: image '" << path << "' has an alpha channel; it is ignored (not composited)\n";
}

// A decoded image: interleaved RGB (3 values per pixel), 8 or 16 bits, in a
// buffer owned by stb_image.
struct Decoded {
  int64_t height = 0, width = 0;
  bool is16 = false;
  std::unique_ptr<void, StbFree> pixels;
  uint16_t value(int64_t i) const {  // element i of the interleaved buffer
    return is16 ? static_cast<const uint16_t*>(pixels.get())[i] : static_cast<const uint8_t*>(pixels.get())[i];
  }
};

Decoded decode_rgb(const std::string& path) {
  std::string bytes = read_bytes(path);
  check_jpeg_complete(bytes, path);
  auto* buffer = reinterpret_cast<const stbi_uc*>(bytes.data());
  int len = int(bytes.size());
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(buffer, len, &w, &h, &channels))
    fail("cannot read image '", path, "': ", stbi_failure_reason(), " (supported formats: PNG, JPEG, BMP)");
  DCSR_CHECK(w > 0 && h > 0, "image '", path, "' has no pixels");
  Decoded out;
  out.is16 = stbi_is_16_bit_from_memory(buffer, len);
  int file_channels = 0;
  if (out.is16)
    out.pixels.reset(stbi_load_16_from_memory(buffer, len, &w, &h, &file_channels, 3));
  else
    out.pixels.reset(stbi_load_from_memory(buffer, len, &w, &h, &file_channels, 3));
  if (!out.pixels) fail("cannot decode image '", path, "': ", stbi_failure_reason(), " (corrupt or truncated file?)");
  warn_about_channels(file_channels, path);
  out.height = h, out.width = w;
  return out;
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
  std::string bytes = read_bytes(path);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()), &w, &h, &channels))
    fail("cannot read image '", path, "': ", stbi_failure_reason(), " (supported formats: PNG, JPEG, BMP)");
  return {h, w, channels};
}

Tensor read_image(const std::string& path) {
  Decoded d = decode_rgb(path);
  const int64_t hw = d.height * d.width;
  // Divide (not multiply by a reciprocal) so that v / 255 is the float nearest
  // to the true quotient, the same value quantize() produces.
  const float range = d.is16 ? 65535.0f : 255.0f;
  Tensor out = empty({1, 3, d.height, d.width});
  float* dst = out.data<float>();
  for (int64_t i = 0; i < hw; ++i)
    for (int64_t c = 0; c < 3; ++c) dst[c * hw + i] = float(d.value(3 * i + c)) / range;
  return out;
}

ImageU8 read_image_u8(const std::string& path) {
  Decoded d = decode_rgb(path);
  const int64_t hw = d.height * d.width;
  ImageU8 image;
  image.height = d.height, image.width = d.width;
  image.data.resize(size_t(3 * hw));
  for (int64_t i = 0; i < hw; ++i)
    for (int64_t c = 0; c < 3; ++c) {
      uint16_t v = d.value(3 * i + c);
      image.data[size_t(c * hw + i)] = d.is16 ? uint8_t((uint32_t(v) * 255 + 32767) / 65535) : uint8_t(v);
    }
  return image;
}

Tensor image_to_tensor(const ImageU8& image) {
  Tensor out = empty({1, 3, image.height, image.width});
  float* dst = out.data<float>();
  for (size_t i = 0; i < image.data.size(); ++i) dst[i] = float(image.data[i]) / 255.0f;
  return out;
}

namespace {

// A value in [0, 1] as 8-bit.
uint8_t to_u8(double v) {
  if (!(v > 0.0)) return 0;  // also NaN -> 0
  if (v >= 1.0) return 255;
  return uint8_t(std::nearbyint(v * 255.0));  // half to even, as quantize() in dcsr/inference/metrics.h
}

// A (1, C, H, W) or (C, H, W) float image on any device as 8-bit values
// (to_u8) and its C, H, W; planar (C, H, W) or interleaved (H, W, C), as PNG
// rows store them. Straight from the tensor's own float32 or
// float64 values: no wider copy of a picture that may hold 8064x6048 pixels.
std::vector<uint8_t> image_bytes(const Tensor& image, int64_t& c, int64_t& h, int64_t& w, bool interleaved,
                                 const char* what) {
  DCSR_CHECK(image.defined(), what, ": undefined image tensor");
  const Shape& s = image.shape();
  bool ok = (s.size() == 4 && s[0] == 1) || s.size() == 3;
  DCSR_CHECK(ok && is_floating(image.dtype()), what, ": expected a float image (1, C, H, W) or (C, H, W), got ",
             dtype_name(image.dtype()), " ", shape_str(s));
  c = s[s.size() - 3], h = s[s.size() - 2], w = s[s.size() - 1];
  const Tensor host = image.is_cpu() ? image : image.to(Device::CPU);
  const int64_t hw = h * w;
  std::vector<uint8_t> out(size_t(c * hw));
  auto convert = [&](const auto* src) {
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < hw; ++i) out[size_t(interleaved ? i * c + k : k * hw + i)] = to_u8(double(src[k * hw + i]));
  };
  if (host.dtype() == kFloat32)
    convert(host.data<float>());
  else
    convert(host.data<double>());
  return out;
}

}  // namespace

ImageU8 tensor_to_image(const Tensor& image) {
  int64_t c, h, w;
  ImageU8 out;
  out.data = image_bytes(image, c, h, w, /*interleaved=*/false, "tensor_to_image");
  DCSR_CHECK(c == 3, "tensor_to_image: expected 3 channels, got ", shape_str(image.shape()));
  out.height = h, out.width = w;
  return out;
}

void write_png(const std::string& path, const Tensor& image) {
  int64_t c, h, w;
  const std::vector<uint8_t> pixels = image_bytes(image, c, h, w, /*interleaved=*/true, "write_png");
  DCSR_CHECK(c == 1 || c == 3, "write_png '", path, "': expected 1 or 3 channels, got ", shape_str(image.shape()));
  DCSR_CHECK(h > 0 && w > 0 && h < (1 << 24) && w < (1 << 24), "write_png '", path, "': bad size ",
             shape_str(image.shape()));
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  DCSR_CHECK(parent.empty() || fs::is_directory(parent, ec), "cannot write '", path, "': folder '", parent.string(),
             "' does not exist");
  write_file_atomic(path, encode_png(pixels.data(), w, h, int(c)));
}

bool is_image_file(const std::string& path) {
  std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
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
