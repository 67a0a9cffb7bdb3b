// The telephoto brought into DCSR's geometry (dcsr-spec §10.1, generalised):
// given where its view lies in the wide image (a Registration), it is
// resampled, de-rotated, to exactly twice the wide image's pixel density over
// an axis-aligned rectangle of whole wide (LR) pixels. Two rectangles:
//   fov: the largest one inside the view (fov_rect), every pixel of it seen
//        by the telephoto: what tiled inference (dcsr/inference/tiling.h)
//        counts as "inside the view" when it picks the tiles' Ref windows,
//        and what figures and measures call the field of view;
//   ref_rect: the smallest one holding the whole view (view_bounds), which
//        the Ref covers. A rotated or off-grid view reaches beyond fov on
//        every side; cutting the Ref at fov would leave the LR pixels along
//        fov's edges without the telephoto's context around them. Measured
//        with dcsr_bench --filter sr_registered (3x, +-2 degrees): about
//        0.3 dB in the field of view. The corners of ref_rect outside the
//        view repeat the telephoto's border.
//
// Coordinates as in registration.h (pixel (r, c) covers [c, c + 1) x
// [r, r + 1)). Ref pixel (r, c) covers LR [x0 + c/2, x0 + (c + 1)/2) x
// [y0 + r/2, y0 + (r + 1)/2) with (x0, y0) the corner of ref_rect: its centre
// is LR (x0 + (c + 0.5)/2, y0 + (r + 0.5)/2), mapped into the telephoto by
// Similarity::to_tele.
//
// Resampling: each Ref pixel is a weighted sum of telephoto pixels with the
// Keys cubic kernel (a = -0.5) in the telephoto's own axes, stretched by the
// shrink factor k = max(1, scale / 2) telephoto pixels per Ref pixel when the
// telephoto is reduced (the antialiasing of MATLAB's imresize and of
// resize_antialias, here through a similarity), weights normalised to sum 1,
// telephoto indices clamped at its border. For k = 1 this is plain bicubic
// interpolation, so a canonical pair (scale 2, angle 0, tx = W/4, ty = H/4)
// gives back the telephoto's own pixels.
#pragma once
#include <cstdint>

#include "dcsr/registration/registration.h"
#include "io/image_io.h"
#include "tensor/tensor.h"

namespace dcsr {

// The largest axis-aligned rectangle of whole LR pixels inside the telephoto's
// view (the quadrilateral of its frame [0, tele_w] x [0, tele_h] mapped by
// tele_to_wide) and inside the LR image [0, lr_w] x [0, lr_h]. Ties: the first
// found (smallest y0, then smallest height). Fails (naming the sizes) when the
// view and the LR image overlap in less than one pixel.
FovRect fov_rect(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t lr_h, int64_t lr_w);

// The smallest axis-aligned rectangle of whole LR pixels that holds the
// telephoto's view (the quadrilateral of its frame mapped by tele_to_wide),
// clipped to the LR image [0, lr_w] x [0, lr_h]. For an axis-aligned view on
// whole pixels (the canonical layout) it is fov_rect. Fails as fov_rect does.
FovRect view_bounds(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t lr_h, int64_t lr_w);

struct NormalisedReference {
  Tensor ref;        // (1, 3, 2 ref_rect.height, 2 ref_rect.width) float32, CPU
  FovRect fov;       // inside the view (fov_rect); inside ref_rect
  FovRect ref_rect;  // where ref lies (view_bounds)
  // ref cropped to fov: (1, 3, 2 fov.height, 2 fov.width).
  Tensor fov_part() const;
};

// tele: (1, 3, Ht, Wt) float32 CPU, the image the registration was made for
// (its fov_quad must match tele's size under tele_to_wide within 1e-3 px, else
// an Error says the registration belongs to another image size).
// lr_h x lr_w: the wide (LR) image's size.
NormalisedReference normalise_reference(const Tensor& tele, const Registration& registration, int64_t lr_h,
                                        int64_t lr_w);
// The same from the telephoto as read (8-bit samples read where they are: a
// 48 MP telephoto is never held as float32), the same Ref bit for bit.
NormalisedReference normalise_reference(const CompactImage& tele, const Registration& registration, int64_t lr_h,
                                        int64_t lr_w);

// The resampling alone, for a given rectangle (which may reach outside the
// view: such pixels repeat the telephoto's border).
Tensor resample_reference(const Tensor& tele, const Similarity& tele_to_wide, const FovRect& fov);

}  // namespace dcsr
