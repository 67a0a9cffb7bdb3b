// Writing images (declared in io/image_io.h): tensors to 8-bit or 16-bit
// samples, then PNG (io/png_encode.h) or JPEG (io/jpeg_encode.h), each band
// encoded as it comes, the file written atomically (tensor/serialize.h:
// AtomicFileWriter).
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <memory>

#include "io/exif.h"
#include "io/icc_profile.h"
#include "io/image_io.h"
#include "io/jpeg_encode.h"
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

// C, H, W of a (1, C, H, W) or (C, H, W) image, as image_samples reads them.
std::array<int64_t, 3> image_chw(const Tensor& image, const std::string& what) {
  DCSR_CHECK(image.defined(), what, ": undefined image tensor");
  const Shape& s = image.shape();
  DCSR_CHECK(((s.size() == 4 && s[0] == 1) || s.size() == 3) && is_floating(image.dtype()), what,
             ": expected a float image (1, C, H, W) or (C, H, W), got ", dtype_name(image.dtype()), " ", shape_str(s));
  return {s[s.size() - 3], s[s.size() - 2], s[s.size() - 1]};
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
  const std::array<int64_t, 3> chw = image_chw(image, what);
  c = chw[0], h = chw[1], w = chw[2];
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

// The checks every written image passes before any of it is made: 1 or 3
// channels, a sane size, an existing folder (the values are checked as they
// come: ImageFileWriter::write_rows).
void check_image_shape(const std::string& path, int64_t c, int64_t h, int64_t w) {
  DCSR_CHECK(c == 1 || c == 3, "cannot write image '", path, "': expected 1 or 3 channels, got ", c);
  DCSR_CHECK(h > 0 && w > 0 && h < (1 << 24) && w < (1 << 24), "cannot write image '", path, "': bad size ", w, "x",
             h);
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  DCSR_CHECK(parent.empty() || fs::is_directory(parent, ec), "cannot write '", path, "': folder '", parent.string(),
             "' does not exist");
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

struct ImageFileWriter::State {
  std::string path;
  ImageWriteOptions options;
  OutputFormat format = OutputFormat::kPng;
  int64_t c = 0, h = 0, w = 0, rows = 0;
  std::unique_ptr<AtomicFileWriter> file;
  std::unique_ptr<PngStreamEncoder> png;
  std::unique_ptr<JpegStreamEncoder> jpeg;
};

ImageFileWriter::ImageFileWriter(const std::string& path, int64_t channels, int64_t height, int64_t width,
                                 const ImageWriteOptions& options, bool png_whatever_the_extension)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path, s.options = options, s.c = channels, s.h = height, s.w = width;
  s.format = png_whatever_the_extension ? OutputFormat::kPng : output_format(path, options);
  if (png_whatever_the_extension) s.options.bit_depth = 8;
  check_image_shape(path, channels, height, width);
  if (s.format == OutputFormat::kJpeg)
    DCSR_CHECK(height <= 65535 && width <= 65535, "cannot write image '", path,
               "': JPEG allows at most 65535x65535 pixels, got ", width, "x", height);
  s.file = std::make_unique<AtomicFileWriter>(path);
  AtomicFileWriter* file = s.file.get();
  auto to_file = [file](const char* data, size_t size) { file->append(data, size); };  // the encoders' sink
  if (s.format == OutputFormat::kPng)
    s.png = std::make_unique<PngStreamEncoder>(width, height, int(channels), s.options.bit_depth / 8, to_file, 0,
                                               s.options.icc_profile, s.options.exif);
  else  // APP0 (JFIF), then APP1 (EXIF), then APP2 (ICC)
    s.jpeg = std::make_unique<JpegStreamEncoder>(width, height, int(channels), s.options.jpeg_quality, to_file, 0,
                                                 jpeg_exif_segment(s.options.exif) +
                                                     jpeg_icc_segments(s.options.icc_profile));
}

ImageFileWriter::~ImageFileWriter() = default;
ImageFileWriter::ImageFileWriter(ImageFileWriter&&) noexcept = default;

void ImageFileWriter::write_rows(const Tensor& rows) {
  DCSR_CHECK(state_ && state_->file, "cannot write image", state_ ? " '" + state_->path + "'" : std::string(),
             ": its writer was finished, or given up after an error");
  State& s = *state_;
  const std::string what = "write_image '" + s.path + "'";
  const std::array<int64_t, 3> chw = image_chw(rows, what);
  DCSR_CHECK(chw[0] == s.c && chw[2] == s.w && s.rows + chw[1] <= s.h, "cannot write image '", s.path, "': rows ",
             shape_str(rows.shape()), " after ", s.rows, " of its ", s.h, " rows do not fit a ", s.c, "x", s.h, "x",
             s.w, " image");
  int64_t c, h, w, non_finite;
  const bool whole = s.rows == 0 && chw[1] == s.h;
  auto refuse_non_finite = [&] {
    if (non_finite == 0) return;
    s.png.reset();
    s.jpeg.reset();
    s.file.reset();  // removes the temporary file: nothing was written under the name
    if (whole)
      fail("cannot write image '", s.path, "': ", non_finite, " of its ", c * h * w, " values are NaN or infinite (",
           shape_str(rows.shape()), "); nothing was written");
    fail("cannot write image '", s.path, "': ", non_finite, " of the ", c * h * w, " values of rows ", s.rows, " to ",
         s.rows + h - 1, " are NaN or infinite; nothing was written");
  };
  if (s.format == OutputFormat::kPng && s.options.bit_depth == 16) {
    std::vector<uint16_t> samples = image_samples<uint16_t>(rows, c, h, w, true, what, non_finite);
    refuse_non_finite();
    // PNG stores each sample big-endian: the bytes rewritten in place, not in a second buffer.
    uint8_t* big_endian = reinterpret_cast<uint8_t*>(samples.data());
    for (size_t i = 0; i < samples.size(); ++i) {
      const uint16_t v = samples[i];
      big_endian[2 * i] = uint8_t(v >> 8), big_endian[2 * i + 1] = uint8_t(v & 0xFF);
    }
    s.png->add_rows(big_endian, h);
  } else {
    std::vector<uint8_t> samples = image_samples<uint8_t>(rows, c, h, w, true, what, non_finite);
    refuse_non_finite();
    if (s.png)
      s.png->add_rows(samples.data(), h);
    else
      s.jpeg->add_rows(samples.data(), h);
  }
  s.rows += h;
}

void ImageFileWriter::finish() {
  DCSR_CHECK(state_ && state_->file, "cannot write image", state_ ? " '" + state_->path + "'" : std::string(),
             ": its writer was finished, or given up after an error");
  State& s = *state_;
  DCSR_CHECK(s.rows == s.h, "cannot write image '", s.path, "': ", s.rows, " of its ", s.h, " rows were made");
  if (s.png)
    s.png->finish();
  else
    s.jpeg->finish();
  s.file->commit();
  s.file.reset();
}

void write_image(const std::string& path, const Tensor& image, const ImageWriteOptions& options) {
  output_format(path, options);  // the extension's error before the shape's
  const std::array<int64_t, 3> chw = image_chw(image, "write_image '" + path + "'");
  ImageFileWriter writer(path, chw[0], chw[1], chw[2], options);
  writer.write_rows(image);
  writer.finish();
}

void write_png(const std::string& path, const Tensor& image) {
  const std::array<int64_t, 3> chw = image_chw(image, "write_png '" + path + "'");
  ImageFileWriter writer(path, chw[0], chw[1], chw[2], {}, /*png_whatever_the_extension=*/true);
  writer.write_rows(image);
  writer.finish();
}

}  // namespace dcsr
