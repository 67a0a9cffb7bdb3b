// The demo's comparison figure (`dcsr demo`, docs/app.md):
//
//   bicubic x2          | ours (DCSR x2)      | reference (telephoto)
//   [the whole frame]   | [the whole frame]   | [the telephoto, placed where its view lies]
//   zoom: the same detail region of each, 2x nearest neighbour
//
// The three top panels have the SR size. The telephoto's field of view (by
// default the central half of the frame, fov_region(), the canonical geometry
// of dcsr-spec §10.1; else the registered view, SR pixels) is outlined in
// orange on every panel; the detail region of the zoom row is outlined in cyan.
#pragma once
#include <optional>
#include <string>

#include "dcsr/inference/metrics.h"
#include "tensor/tensor.h"

namespace dcsr {

// The zoom row's region, in SR pixels: the full width of the field of view
// and half its height, at the vertical position where the reference shows the
// most texture (largest mean absolute horizontal + vertical difference of its
// luma, candidates every 4 rows). Chosen from the reference only, never from
// our output, so the choice cannot favour the model. sr_h x sr_w: the SR
// size; fov: the view in SR pixels; ref: the reference (1, 3, fov.height,
// fov.width) at the SR's density, which shows the view.
Region detail_region(int64_t sr_h, int64_t sr_w, const Tensor& ref, const Region& fov);

// The figure, (1, 3, H', W') float32. bicubic, sr: (1, 3, 2h, 2w); ref:
// (1, 3, fov.height, fov.width), the telephoto at the SR's density over its
// view. fov: that view in SR pixels, unset = fov_region() (the canonical
// layout, where the Ref has the LR's size). Panel titles: the three strings.
struct FigureTitles {
  std::string bicubic = "bicubic x2", sr = "ours (DCSR x2)", ref = "reference (telephoto)";
};
Tensor compose_side_by_side(const Tensor& bicubic, const Tensor& sr, const Tensor& ref,
                            const FigureTitles& titles = {}, std::optional<Region> fov = std::nullopt);

// A confidence map (1, 1, hc, wc) brought to exactly h x w by repeating each
// pixel (nearest neighbour; 8k mode's map has half the LR resolution) and
// cropping the rounded-up remainder.
Tensor confidence_at(const Tensor& confidence, int64_t h, int64_t w);

}  // namespace dcsr
