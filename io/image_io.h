// Image files <-> tensors. Reading: PNG (8 and 16 bit), JPEG and BMP through
// stb_image; every image becomes RGB. Writing: PNG through io/png_encode.h
// (filtered and deflated on all CPU threads), atomically (temporary file + rename), so a failed or interrupted write never
// leaves half a file under the requested name.
//
// Every failure is a dcsr::Error whose message names the file: missing,
// unreadable, not an image, corrupt or truncated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

struct ImageInfo {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;  // in the file: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
};

// Size and channel count from the header only (cheap; no decoding).
ImageInfo read_image_info(const std::string& path);

// An 8-bit RGB image, planar: data[c * H * W + y * W + x], c = 0, 1, 2 (R, G, B).
// Datasets keep their images like this (a quarter of the float size).
struct ImageU8 {
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> data;
  const uint8_t* plane(int64_t c) const { return data.data() + c * height * width; }
};

// Reads an image as RGB float32 (1, 3, H, W) in [0, 1] (8-bit: v / 255,
// 16-bit PNG: v / 65535). Grey images are replicated to the three channels and
// an alpha channel is dropped (not composited); both print a warning naming
// the file on stderr.
Tensor read_image(const std::string& path);
// The same as 8-bit planar RGB (16-bit PNGs are rounded to 8 bits).
ImageU8 read_image_u8(const std::string& path);

// (1, 3, H, W) float32 in [0, 1].
Tensor image_to_tensor(const ImageU8& image);
// round(clamp(v, 0, 1) * 255). image: (1, 3, H, W) or (3, H, W), any float dtype, CPU or CUDA.
ImageU8 tensor_to_image(const Tensor& image);

// Writes a PNG: image (1, C, H, W) or (C, H, W) with C = 1 (grey) or 3 (RGB),
// values clamped to [0, 1] and rounded to 8 bits. The parent folder must exist.
void write_png(const std::string& path, const Tensor& image);

// True for the extensions read_image understands (.png .jpg .jpeg .bmp, any case).
bool is_image_file(const std::string& path);
// The image files directly inside `dir`, sorted by name (byte order). Fails
// naming the folder when it does not exist or is not a folder.
std::vector<std::string> list_images(const std::string& dir);

}  // namespace dcsr
