// `dcsr prepare --real`: CameraFusion's protocol on real phone pairs, so that
// real pairs have ground truth (dcsr-spec §10.1, §11):
//   HR     = the window of the wide image (real_protocol_crop) whose central
//            half is inside the telephoto's view, 2h x 2w;
//   LR/x2  = resize_antialias(HR, h, w);
//   LR/x1  = HR (the wide image at full size, for SRA);
//   Ref/x1 = the telephoto registered onto the wide image
//            (dcsr/registration/register.h) and resampled
//            (dcsr/registration/normalise.h's resample_reference) to twice
//            the wide's density over the central half of HR: HR rectangle
//            {y0 = h/2, x0 = w/2, 2h/2, 2w/2}, so 2h x 2w; pixels outside the
//            telephoto's view repeat its border;
//   Ref/x2 = resize_antialias(Ref/x1, h, w): at the wide's density, the
//            LR's pixel size (the canonical layout of 4K mode).
// The registration is of the whole wide image; the crop moves it by the
// crop's offset. prepare.json records each pair's registration (in the
// whole wide image's pixels) and its crop.
//
// Why the crop follows the view: the protocol assumes the telephoto shows
// the central half of HR (§10.1). A real telephoto's view is off centre
// (the lenses sit side by side) and its zoom is not exactly 2. Cropping the
// wide image's centre, as this command first did, left 12-16% of the
// dualfocal pairs' "field of view" (their central half) outside the
// telephoto's view, where Ref/x1 only repeats the telephoto's border: the
// measures inside the field of view mixed in pixels no reference can help,
// and training crops could pair LR detail with that smear.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "dcsr/data/prepare.h"
#include "dcsr/registration/registration.h"

namespace dcsr {

// The HR window of a pair, in the whole wide image's pixels: per dimension
// the longest length L, a multiple of 8 and at most the image's, for which a
// whole-pixel start s exists with the window inside the image and its
// central half [s + L/4, s + 3L/4) inside the telephoto's view (fov_rect,
// normalise.h: the largest axis-aligned rectangle the telephoto sees); of
// those starts, the one that centres the view best (ties: the smaller s).
// A canonical pair (a multiple of 8, the view its central half) keeps the
// whole image. Fails, naming the sizes, when the view is under 16 pixels in
// a dimension (HR would be under 32).
FovRect real_protocol_crop(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t wide_h,
                           int64_t wide_w);

// wide, tele: (1, 3, H, W) float32 CPU in [0, 1]; tele_to_wide: telephoto
// pixels -> pixels of the whole (uncropped) wide image. HR is the window
// real_protocol_crop gives.
SimulatedPair make_real_pair(const Tensor& wide, const Tensor& tele, const Similarity& tele_to_wide);

struct RealPrepareOptions {
  std::string wide_dir, tele_dir, out_dir;
  bool force = false;  // allow a non-empty output folder
  std::function<void(int64_t done, int64_t total, const std::string& name)> progress;
};

// Pairs WIDE_DIR's and TELE_DIR's images by sorted name (the counts must
// match), registers every pair before writing anything (a pair the
// registration refuses fails naming both files), then writes
// OUT/{HR, LR/x2, Ref/x2, LR/x1, Ref/x1}/<wide stem>.png and OUT/prepare.json.
// Returns the number of pairs.
int64_t prepare_real_dataset(const RealPrepareOptions& options);

}  // namespace dcsr
