// A minimal RGB rasteriser for the figures the `dcsr` command draws (the
// demo's side-by-side, the training-loss plot): filled rectangles, outlines,
// straight lines (solid or dashed), image blits with integer nearest-neighbour
// zoom, and text in a built-in 5x7 bitmap font. No anti-aliasing: a pixel is
// painted or not, which keeps the code short and the output exact.
//
// Coordinates are (x, y) = (column, row) with the origin at the top-left
// pixel; everything is clipped to the canvas, so callers may draw partly
// outside it. The canvas is a (1, 3, H, W) float32 tensor in [0, 1] that
// write_png() saves as it is.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace dcsr {

struct Color {
  float r = 0, g = 0, b = 0;
};

// `a` moved towards `b` by t in [0, 1] (t = 0: a).
Color mix(const Color& a, const Color& b, float t);

class Canvas {
 public:
  Canvas(int64_t width, int64_t height, Color background);

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  // (1, 3, H, W) float32: what write_png() takes.
  const Tensor& image() const { return image_; }

  void set(int64_t x, int64_t y, const Color& c);  // ignored outside the canvas
  void fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, const Color& c);
  // A rectangle's border drawn `thickness` px inwards from (x, y, w, h).
  void outline_rect(int64_t x, int64_t y, int64_t w, int64_t h, int64_t thickness, const Color& c);
  // A line from (x0, y0) to (x1, y1) (pixel centres), `thickness` px wide
  // (a square pen). dash > 0: dash px drawn, dash px skipped, along the line.
  void line(double x0, double y0, double x1, double y1, const Color& c, int64_t thickness = 1, int64_t dash = 0);
  // Copies an image (1, 3, h, w) or (1, 1, h, w) (grey), any float dtype on
  // the CPU, with its top-left at (x, y), each pixel repeated zoom x zoom.
  void blit(const Tensor& image, int64_t x, int64_t y, int64_t zoom = 1);

  // Text in the 5x7 font, top-left at (x, y), every font pixel drawn as a
  // scale x scale square. Characters outside printable ASCII show as a box.
  void text(int64_t x, int64_t y, const std::string& s, const Color& c, int64_t scale = 1);
  static int64_t text_width(const std::string& s, int64_t scale = 1);
  // The height of capitals and digits (7 * scale); descenders (g, p, y, ...)
  // reach 2 * scale further down.
  static int64_t text_height(int64_t scale = 1);

 private:
  int64_t width_, height_;
  Tensor image_;
  float* data_;  // image_'s storage: plane c at data_ + c * H * W
};

}  // namespace dcsr
