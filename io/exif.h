// EXIF orientation: the camera stores a photo's pixels as the sensor read
// them and records, in the TIFF tag 0x0112 (Orientation) of the EXIF block
// (a JPEG's APP1 segment "Exif\0\0" + a TIFF header + IFD0), how a viewer must
// turn them to show the photo upright. stb_image ignores the tag; read_image()
// applies it (io/image_io.cpp), so every command sees the upright picture.
//
// The eight values (EXIF 2.3, tag 274), as "stored row 0 is the visual ...,
// stored column 0 is the visual ...":
//   1 top, left (as stored)         5 left, top     (transposed)
//   2 top, right (mirrored)         6 right, top    (turn 90 degrees clockwise to view)
//   3 bottom, right (turn 180)      7 right, bottom (transverse)
//   4 bottom, left (flipped)        8 left, bottom  (turn 90 degrees anticlockwise to view)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dcsr {

// The Orientation tag of an EXIF block: `tiff` points just after "Exif\0\0"
// (the TIFF header, byte order "II" or "MM"), `size` bytes. 1 when the tag is
// absent, out of range, or the block is malformed (a bad EXIF block is
// ignored, never trusted and never read past its end).
int exif_orientation(const uint8_t* tiff, size_t size);

// ---- Carrying a photo's EXIF block to the images made from it ----
// The block holds what a photo library sorts and groups by (the capture
// time, the camera, the place), so `dcsr sr` gives it to its output, made
// true for the new image (exif_for_output).

// The EXIF block (from its TIFF header on) of a JPEG (the first APP1
// "Exif\0\0" segment) or PNG (the eXIf chunk) file's bytes; "" when it has
// none. HEIF files: io/heif_decode.h.
std::string exif_block_of_png_or_jpeg(const std::string& bytes);

// The block as it must travel with an upright width x height image made from
// its photo: Orientation 1 (the pixels are written upright), the pixel
// dimensions (ExifImageWidth/Height, 0xA002/0xA003, and IFD0's ImageWidth/
// ImageLength where present) set to the new size, and the thumbnail (IFD1)
// unlinked, as it shows the old picture in the old orientation. Everything
// else, the maker notes included, is kept byte for byte. "" when the block is
// malformed (not a TIFF header, an IFD past its end): a bad block is dropped,
// not copied.
std::string exif_for_output(const std::string& tiff, int64_t width, int64_t height);

// The APP1 "Exif\0\0" segment that carries the block in a JPEG file ("" for
// an empty block, or one over the segment's 65527 bytes: left out).
std::string jpeg_exif_segment(const std::string& tiff);
// `jpeg` (a JPEG file from a writer that puts no APP1 in) with that segment
// right after SOI and the APP0 (JFIF) segment (io/file_segments.h).
std::string jpeg_with_exif(const std::string& jpeg, const std::string& tiff);

// Where each upright pixel comes from, for a stored (decoded) image of
// stored_height x stored_width pixels and an EXIF orientation 1-8.
struct Orientation {
  int tag = 1;
  int64_t stored_height = 0, stored_width = 0;

  bool swaps_axes() const { return tag >= 5 && tag <= 8; }
  int64_t height() const { return swaps_axes() ? stored_width : stored_height; }  // upright
  int64_t width() const { return swaps_axes() ? stored_height : stored_width; }
  // The stored pixel (row-major index) shown at upright (y, x).
  int64_t source(int64_t y, int64_t x) const {
    const int64_t h = stored_height, w = stored_width;
    switch (tag) {
      case 2: return y * w + (w - 1 - x);
      case 3: return (h - 1 - y) * w + (w - 1 - x);
      case 4: return (h - 1 - y) * w + x;
      case 5: return x * w + y;
      case 6: return (h - 1 - x) * w + y;
      case 7: return (h - 1 - x) * w + (w - 1 - y);
      case 8: return x * w + (w - 1 - y);
      default: return y * w + x;
    }
  }
  // Upright row y's stored pixels, evenly spaced for every tag (source is
  // linear in x): pixel x of the row is stored at first + x * step.
  struct Row {
    int64_t first = 0, step = 1;
  };
  Row row(int64_t y) const {
    const int64_t first = source(y, 0);
    return {first, width() > 1 ? source(y, 1) - first : 1};
  }
};

}  // namespace dcsr
