// Writing images (declared in io/image_io.h): tensors to 8-bit or 16-bit
// samples, then PNG (io/png_encode.h) or JPEG (stb_image_write), written
// atomically (tensor/serialize.h: write_file_atomic).
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "io/image_io.h"
#include "io/png_encode.h"
#include "tensor/serialize.h"

namespace dcsr {
namespace fs = std::filesystem;

namespace {

enum class OutputFormat { kPng, kJpeg };

std::string extension_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext;
}

OutputFormat output_format(const std::string& path, const ImageWriteOptions& options) {
  const std::string ext = extension_of(path);
  OutputFormat format;
  if (ext == ".png")
    format = OutputFormat::kPng;
  else if (ext == ".jpg" || ext == ".jpeg")
    format = OutputFormat::kJpeg;
  else
    fail("cannot write image '", path, "': unknown extension '", fs::path(path).extension().string(),
         "' (write .png, .jpg or .jpeg)");
  DCSR_CHECK(options.bit_depth == 8 || options.bit_depth == 16, "cannot write image '", path, "': bit depth ",
             options.bit_depth, " (8 or 16)");
  DCSR_CHECK(format == OutputFormat::kPng || options.bit_depth == 8, "cannot write image '", path,
             "': JPEG is 8-bit only (a bit depth of 16 needs .png)");
  DCSR_CHECK(options.jpeg_quality >= 1 && options.jpeg_quality <= 100, "cannot write image '", path,
             "': JPEG quality ", options.jpeg_quality, " (1 to 100)");
  return format;
}

// A value in [0, 1] as an integer 0..max: round(clamp(v, 0, 1) * max), half
// to even, as quantize() in dcsr/inference/metrics.h for max = 255.
template <typename T>
T to_sample(double v, double max) {
  if (!(v > 0.0)) return 0;  // also NaN -> 0 (tensor_to_image; the writers refuse NaN first)
  if (v >= 1.0) return T(max);
  return T(std::nearbyint(v * max));
}

// Samples of a (1, C, H, W) or (C, H, W) float image on any device, and its
// C, H, W; planar (C, H, W) or interleaved (H, W, C), as image files store
// them. Straight from the tensor's own float32 or float64 values: no wider
// copy of a picture that may hold 8064x6048 pixels. `non_finite` counts the
// NaN and infinite values met.
template <typename T>
std::vector<T> image_samples(const Tensor& image, int64_t& c, int64_t& h, int64_t& w, bool interleaved,
                             const std::string& what, int64_t& non_finite) {
  DCSR_CHECK(image.defined(), what, ": undefined image tensor");
  const Shape& s = image.shape();
  bool ok = (s.size() == 4 && s[0] == 1) || s.size() == 3;
  DCSR_CHECK(ok && is_floating(image.dtype()), what, ": expected a float image (1, C, H, W) or (C, H, W), got ",
             dtype_name(image.dtype()), " ", shape_str(s));
  c = s[s.size() - 3], h = s[s.size() - 2], w = s[s.size() - 1];
  const Tensor host = image.is_cpu() ? image : image.to(Device::CPU);
  const int64_t hw = h * w;
  const double max = double(std::numeric_limits<T>::max());
  std::vector<T> out(size_t(c * hw));
  non_finite = 0;
  auto convert = [&](const auto* src) {
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < hw; ++i) {
        const double v = double(src[k * hw + i]);
        non_finite += !std::isfinite(v);
        out[size_t(interleaved ? i * c + k : k * hw + i)] = to_sample<T>(v, max);
      }
  };
  if (host.dtype() == kFloat32)
    convert(host.data<float>());
  else
    convert(host.data<double>());
  return out;
}

// The checks every written image passes: 1 or 3 channels, a sane size, no
// NaN or infinity, an existing folder.
void check_written_image(const std::string& path, const Tensor& image, int64_t c, int64_t h, int64_t w,
                         int64_t non_finite) {
  DCSR_CHECK(c == 1 || c == 3, "cannot write image '", path, "': expected 1 or 3 channels, got ",
             shape_str(image.shape()));
  DCSR_CHECK(h > 0 && w > 0 && h < (1 << 24) && w < (1 << 24), "cannot write image '", path, "': bad size ",
             shape_str(image.shape()));
  DCSR_CHECK(non_finite == 0, "cannot write image '", path, "': ", non_finite, " of its ", c * h * w,
             " values are NaN or infinite (", shape_str(image.shape()), "); nothing was written");
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  DCSR_CHECK(parent.empty() || fs::is_directory(parent, ec), "cannot write '", path, "': folder '", parent.string(),
             "' does not exist");
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
}

}  // namespace

ImageU8 tensor_to_image(const Tensor& image) {
  int64_t c, h, w, non_finite;
  ImageU8 out;
  out.data = image_samples<uint8_t>(image, c, h, w, /*interleaved=*/false, "tensor_to_image", non_finite);
  DCSR_CHECK(c == 3, "tensor_to_image: expected 3 channels, got ", shape_str(image.shape()));
  out.height = h, out.width = w;
  return out;
}

void check_image_output(const std::string& path, const ImageWriteOptions& options) { output_format(path, options); }

void write_image(const std::string& path, const Tensor& image, const ImageWriteOptions& options) {
  const OutputFormat format = output_format(path, options);
  const std::string what = "write_image '" + path + "'";
  int64_t c, h, w, non_finite;
  if (format == OutputFormat::kPng && options.bit_depth == 16) {
    const std::vector<uint16_t> samples = image_samples<uint16_t>(image, c, h, w, true, what, non_finite);
    check_written_image(path, image, c, h, w, non_finite);
    write_file_atomic(path, encode_png16(samples.data(), w, h, int(c)));
    return;
  }
  const std::vector<uint8_t> samples = image_samples<uint8_t>(image, c, h, w, true, what, non_finite);
  check_written_image(path, image, c, h, w, non_finite);
  if (format == OutputFormat::kPng) {
    write_file_atomic(path, encode_png(samples.data(), w, h, int(c)));
    return;
  }
  DCSR_CHECK(h <= 65535 && w <= 65535, "cannot write image '", path, "': JPEG allows at most 65535x65535 pixels, got ",
             w, "x", h);
  std::string jpeg;
  DCSR_CHECK(stbi_write_jpg_to_func(append_bytes, &jpeg, int(w), int(h), int(c), samples.data(), options.jpeg_quality),
             "cannot write image '", path, "': the JPEG encoder failed");
  write_file_atomic(path, jpeg);
}

void write_png(const std::string& path, const Tensor& image) {
  int64_t c, h, w, non_finite;
  const std::string what = "write_png '" + path + "'";
  const std::vector<uint8_t> pixels = image_samples<uint8_t>(image, c, h, w, true, what, non_finite);
  check_written_image(path, image, c, h, w, non_finite);
  write_file_atomic(path, encode_png(pixels.data(), w, h, int(c)));
}

}  // namespace dcsr
