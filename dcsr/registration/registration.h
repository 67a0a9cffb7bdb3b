// Registration of a phone's wide + telephoto pair: where the telephoto's view
// lies in the wide image, as a similarity transform, and the telephoto
// resampled into DCSR's geometry (twice the wide's density, axis-aligned).
//
// Coordinates: continuous pixel coordinates with pixel (row r, column c)
// covering [c, c + 1) x [r, r + 1) (x right, y down); its centre is
// (c + 0.5, r + 0.5). A canonical DCSR pair (Ref/x2 of the LR's pixel size,
// showing the central half of the view at twice the density, dcsr-spec §10.1)
// is then exactly scale 2, angle 0, tx = W / 4, ty = H / 4.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace dcsr {

// Wide pixel coordinates -> telephoto pixel coordinates, the rotation's
// cosine and sine (times the scale) computed once: for many points.
// (Compiled in one place, registration.cpp, so that every caller gets the
// same bits: how a compiler fuses c dx + s dy may differ where it inlines.)
struct ToTele {
  double c = 1.0, s = 0.0, tx = 0.0, ty = 0.0;
  std::array<double, 2> operator()(double x_w, double y_w) const;
};

// Telephoto pixel coordinates -> wide pixel coordinates:
//   x_w = ( cos(angle) x_t - sin(angle) y_t) / scale + tx
//   y_w = ( sin(angle) x_t + cos(angle) y_t) / scale + ty
// scale: telephoto pixels per wide pixel (the zoom ratio when both cameras
// have the same pixel count); angle in radians.
struct Similarity {
  double scale = 1.0, angle = 0.0, tx = 0.0, ty = 0.0;
  std::array<double, 2> to_wide(double x_t, double y_t) const;
  std::array<double, 2> to_tele(double x_w, double y_w) const;
  ToTele to_tele_map() const;
};

struct Registration {
  Similarity tele_to_wide;
  // How sure the fit is, in [-1, 1] (higher is better); register_pair documents the measure.
  double confidence = 0.0;
  // The telephoto image's outer corners in wide pixels: its (0, 0), (Wt, 0),
  // (Wt, Ht), (0, Ht) mapped by tele_to_wide (top-left, top-right,
  // bottom-right, bottom-left of the telephoto's own frame).
  std::array<std::array<double, 2>, 4> fov_quad{};
  // The pair is already in DCSR's canonical layout (same pixel size, the
  // central half at twice the density): callers then change nothing.
  bool identity = false;
};

// The telephoto's view in LR (wide) pixels, axis-aligned and whole pixels:
// rows [y0, y0 + height), cols [x0, x0 + width). A canonical pair has
// {H/4, W/4, H/2, W/2} for an H x W LR.
struct FovRect {
  int64_t y0 = 0, x0 = 0, height = 0, width = 0;
};

nlohmann::json registration_to_json(const Registration& r);
// `source` names the file in errors.
Registration registration_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace dcsr
