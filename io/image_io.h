// Image files <-> tensors. Reading: PNG (8 and 16 bit), JPEG and BMP through
// stb_image, after the file's structure is checked (io/image_checks.h: PNG
// CRCs and Adler-32, complete JPEG and BMP files, at most kMaxImagePixels);
// HEIC/HEIF and AVIF, as phones save photos, through libheif in builds that
// have it (io/heif_decode.h: recognised by their content, 10-bit ones as 16-bit);
// a JPEG's EXIF orientation is applied (io/exif.h), so every image comes out
// upright, as a viewer shows it; every image becomes RGB. Writing
// (io/image_write.cpp): the format follows the extension (.png 8 or 16 bit
// through io/png_encode.h, filtered and deflated on all CPU threads; .jpg/.jpeg
// through io/jpeg_encode.h, stb_image_write's coding band by band, its blocks
// transformed on all CPU threads), atomically (temporary file + rename), so a failed or
// interrupted write never leaves half a file under the requested name; an
// image holding NaN or infinite values is refused, not written.
//
// Every failure is a one-line dcsr::Error whose message names the file:
// missing, unreadable, not an image, corrupt, truncated or too large.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/image_checks.h"
#include "tensor/tensor.h"

namespace dcsr {

struct ImageInfo {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;  // in the file: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
};

// Size (upright, after the EXIF orientation) and channel count, from the
// headers only: the structure checks of read_image() but no decoding (a PNG's
// data is not inflated, so its Adler-32 is checked only by read_image()).
ImageInfo read_image_info(const std::string& path);

// An 8-bit RGB image, planar: data[c * H * W + y * W + x], c = 0, 1, 2 (R, G, B).
// Datasets keep their images like this (a quarter of the float size).
struct ImageU8 {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> data;
  const uint8_t* plane(int64_t c) const { return data.data() + c * height * width; }
};

// What a photo says about itself that the images made from it should say
// too: its ICC profile (as read_icc_profile) and its EXIF block (io/exif.h:
// JPEG APP1, PNG eXIf, HEIF Exif item; "" when none). The readers below fill
// it, when given one, from the bytes they decode: the file is read once.
struct PhotoMetadata {
  std::string icc_profile, exif;
};

// Reads an image as RGB float32 (1, 3, H, W) in [0, 1] (8-bit: v / 255,
// 16-bit PNG: v / 65535), upright (a JPEG's or PNG's EXIF orientation applied: H and W
// are the upright ones). At most kMaxImagePixels pixels. Grey images are replicated to the three channels and
// an alpha channel is dropped (not composited); both print a warning naming
// the file on stderr.
Tensor read_image(const std::string& path, PhotoMetadata* metadata = nullptr);
// The same as 8-bit planar RGB (16-bit PNGs are rounded to 8 bits).
ImageU8 read_image_u8(const std::string& path);

// The ICC colour profile the image file carries (io/icc_profile.h: PNG
// iCCP, JPEG APP2, HEIF colour property), "" when it has none; a malformed
// one gives "" and a warning naming the file. Give it to the images made from
// this one (ImageWriteOptions::icc_profile) so that they say the same colour
// space.
std::string read_icc_profile(const std::string& path);

// The metadata alone (PhotoMetadata), from the file's bytes; nothing decoded.
PhotoMetadata read_photo_metadata(const std::string& path);

// An 8-bit sample's value as read_image() gives it: float(v) / 255.0f, the
// float nearest v / 255. Every path that reads 8-bit samples directly
// (CompactImage, registration's luminance and resampling) uses this, so that
// it gives read_image()'s results bit for bit.
inline float u8_value(uint8_t v) { return float(v) / 255.0f; }

// (1, 3, H, W) float32 in [0, 1].
Tensor image_to_tensor(const ImageU8& image);

// An image as read_image() gives it, held in the least memory that keeps it
// exactly: 8-bit planar samples when the file has 8 bits per sample (a
// quarter of float32's 12 bytes per pixel), else the float32 tensor. The
// tiled inference cuts its tiles from it (dcsr/inference/tiling.h), so a
// photo is never held as float32 whole.
struct CompactImage {
  ImageU8 u8;  // the samples, when f32 is undefined
  Tensor f32;  // (1, 3, H, W) float32 on the CPU, or undefined
  CompactImage() = default;
  explicit CompactImage(Tensor image) : f32(std::move(image)) {}
  explicit CompactImage(ImageU8 image) : u8(std::move(image)) {}
  bool is_u8() const { return !f32.defined(); }
  int64_t height() const { return is_u8() ? u8.height : f32.size(2); }
  int64_t width() const { return is_u8() ? u8.width : f32.size(3); }
  // read_image()'s tensor, bit for bit (8-bit: v / 255).
  Tensor to_tensor() const;
  // (1, 3, h, w) float32: rows top .. top+h, columns left .. left+w of
  // to_tensor(), zeros outside the image (top, left may be negative).
  Tensor crop(int64_t top, int64_t left, int64_t h, int64_t w) const;
};
CompactImage read_image_compact(const std::string& path, PhotoMetadata* metadata = nullptr);

// (1, C, h, w) float32 = image[:, :, top:top+h, left:left+w], zeros outside
// the image (top, left may be negative). image: (1, C, H, W) float32, CPU.
Tensor crop_with_zeros(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w);
// round(clamp(v, 0, 1) * 255). image: (1, 3, H, W) or (3, H, W), any float dtype, CPU or CUDA.
ImageU8 tensor_to_image(const Tensor& image);

// How write_image() encodes.
struct ImageWriteOptions {
  int bit_depth = 8;      // .png: 8 or 16 (16: round(v * 65535), big-endian samples); .jpg/.jpeg: 8 only
  int jpeg_quality = 95;  // .jpg/.jpeg: 1 (smallest) to 100 (best); above 90 the colour is not subsampled
  std::string icc_profile;  // embedded when not empty (PNG iCCP, JPEG APP2): read_icc_profile() of the source
  // An EXIF block (TIFF header on) embedded when not empty (PNG eXIf, JPEG APP1), as is: make it true for the
  // new image with exif_for_output() (io/exif.h).
  std::string exif;
};

// Checks, before any work, that write_image() can write `path` with these
// options: the extension is .png, .jpg or .jpeg (any case) and the options
// suit it. Throws a one-line Error naming the file and the extension or option.
void check_image_output(const std::string& path, const ImageWriteOptions& options = {});

// Writes image (1, C, H, W) or (C, H, W), C = 1 (grey) or 3 (RGB), any float
// dtype, CPU or CUDA, values clamped to [0, 1], in the format of the path's
// extension (check_image_output). A NaN or infinite value anywhere is an
// Error naming the file and how many there are; nothing is written. The
// parent folder must exist; the write is atomic.
void write_image(const std::string& path, const Tensor& image, const ImageWriteOptions& options = {});

// Writes an 8-bit PNG whatever the extension (as write_image otherwise).
void write_png(const std::string& path, const Tensor& image);

// An image file written band by band as its rows are made, so that an image
// of any height never has to be held whole (write_image and write_png are
// this writer given one band). PNG streams (io/png_encode.h: the same bytes
// however the rows are split); JPEG keeps the 8-bit samples, a quarter of the
// float32 image, and encodes them at finish(). The checks of write_image: the
// extension, options, channels, size and folder when it is made, before any
// work; a band holding NaN or infinite values is an Error naming the file and
// the rows, and nothing is written under `path`. The file appears under `path`
// only at finish() (atomic: tensor/serialize.h's AtomicFileWriter); a writer
// destroyed before that leaves nothing.
class ImageFileWriter {
 public:
  // png_whatever_the_extension: an 8-bit PNG, as write_png.
  ImageFileWriter(const std::string& path, int64_t channels, int64_t height, int64_t width,
                  const ImageWriteOptions& options = {}, bool png_whatever_the_extension = false);
  ~ImageFileWriter();
  ImageFileWriter(ImageFileWriter&&) noexcept;
  // The next rows: (1, C, r, W) or (C, r, W), any float dtype, CPU or CUDA, values clamped to [0, 1].
  void write_rows(const Tensor& rows);
  // After the last row: the file is complete and renamed to `path`.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// True for the extensions read_image understands (.png .jpg .jpeg .bmp .heic
// .heif .avif, any case; the HEIF ones also in a build without libheif, which
// then says so naming the file, rather than skip a folder's photos).
bool is_image_file(const std::string& path);
// The image files directly inside `dir`, sorted by name (byte order). Fails
// naming the folder when it does not exist or is not a folder.
std::vector<std::string> list_images(const std::string& dir);

}  // namespace dcsr
