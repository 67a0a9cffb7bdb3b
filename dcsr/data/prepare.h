// `dcsr prepare`: a CameraFusion-layout dataset (dcsr/data/data.h) from ordinary
// photos, by simulating the dual camera. Two simulations: "camera" (the
// default, dcsr/data/camera_sim.h) and "classic", described here.
//
// Per photo (h x w below is the LR size):
//   HR     = the photo, centre-cropped to a multiple of 8 in both dimensions
//            (2h x 2w; h and w are then multiples of 4, so h/4 and w/4 are exact).
//   LR/x2  = resize_antialias(HR, h, w): antialiased bicubic 1/2 (the wide camera's image at 1/2).
//   LR/x1  = HR (the wide camera's image at full size, for SRA).
//   Ref/x2 = the telephoto at 1/2, h x w, i.e. exactly the LR's pixel size
//            (spec §10.1). Geometry, in pixel-centre coordinates (integer =
//            pixel centre): before perturbation, Ref/x2 pixel (r, c) shows HR
//            position (h/2 + r, w/2 + c): the central half of the HR at full
//            resolution, which is h x w already, so no padding is needed. In
//            LR coordinates that is (h/4 + r/2, w/4 + c/2), so the sampling
//            rule of §10.2 (Ref crop top-left = 2(y - h/4) + delta) finds the
//            LR crop's content at delta = 0. The perturbation is a similarity
//            transform about the view's centre (the HR's centre, (h - 1/2, w - 1/2)):
//              HR position = centre + scale * Rot(angle) * ((r, c) - ((h-1)/2, (w-1)/2)) + (ty, tx)
//            sampled from the HR with bicubic interpolation (Keys, a = -0.5,
//            border replicated; the view's margin of h/2 HR pixels is far
//            larger than the displacements, so the border is not reached for
//            photos of useful size), then blurred, colour-shifted and noised.
//   Ref/x1 = the telephoto at full size, 2h x 2w: the same transform rendered
//            at twice the density (Ref/x1 pixel (R, C) = Ref/x2 position
//            ((R + 1/2)/2 - 1/2, (C + 1/2)/2 - 1/2)), blur sigma doubled. It
//            is interpolated from the photo, so it holds no detail beyond the
//            HR's: enough to exercise SRA, not to train it well (use real
//            pairs for that).
// Perturbation (drawn per photo, uniformly): rotation +-2 degrees, scale
// 1 +- 3 %, translation +-4 Ref/x2 px per axis, per-channel gain 1 +- 5 %,
// gamma 1 +- 0.1 (v -> (gain v)^gamma), Gaussian blur sigma 0.2..0.5 Ref/x2
// px, Gaussian noise sigma 0.5/255..2/255; values clamped to [0, 1] and
// stored as 8-bit PNG.
//
// Seeded: photo i (in sorted order) draws from Generator(seed, stream 1 + i),
// so a photo's result does not depend on the others. prepare.json in the
// output records the seed and every photo's parameters.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr {

struct DualCameraParams {
  double angle_deg = 0, scale = 1, ty = 0, tx = 0;  // similarity transform (Ref/x2 pixels)
  double gain[3] = {1, 1, 1};
  double gamma = 1;
  double blur_sigma = 0;   // Ref/x2 pixels
  double noise_sigma = 0;  // in [0, 1] units
};

// Draws the perturbation in the order of the struct's fields.
DualCameraParams draw_dual_camera(Generator& gen);
nlohmann::json dual_camera_to_json(const DualCameraParams& p);

// The HR of the protocol: the photo (1, 3, H, W) float32, H, W >= 32,
// centre-cropped to a multiple of 8 in both dimensions.
Tensor crop_to_multiple_of_8(const Tensor& photo);

struct SimulatedPair {
  Tensor hr, lr_x2, ref_x2, lr_x1, ref_x1;  // (1, 3, ...) float32 in [0, 1]
};

// photo: (1, 3, H, W) float32 with H, W >= 32. The noise is drawn from `gen`
// (after the parameters, when the caller drew them from the same generator).
SimulatedPair simulate_dual_camera(const Tensor& photo, const DualCameraParams& params, Generator& gen);

// Which telephoto simulation `dcsr prepare` runs: Camera (dcsr/data/camera_sim.h,
// the default: closer to real phones) or Classic (the one above, with which
// models/default.ckpt was trained and validated).
enum class Simulation { Camera, Classic };
const char* simulation_name(Simulation s);
Simulation parse_simulation(const std::string& name);  // "camera" or "classic"; else fails

struct PrepareOptions {
  std::string photos_dir, out_dir;
  uint64_t seed = 1;
  Simulation simulation = Simulation::Camera;
  bool force = false;  // allow a non-empty output folder
  std::function<void(int64_t done, int64_t total, const std::string& name)> progress;
};

// Writes OUT/{HR, LR/x2, Ref/x2, LR/x1, Ref/x1}/<photo stem>.png and
// OUT/prepare.json; returns the number of pairs. Fails before writing
// anything when the photo folder is missing or empty, a photo's header cannot
// be read or is smaller than 32x32, two photos share a stem, or the output
// folder is not empty (unless force). A photo whose body turns out corrupt
// fails when its turn comes; every file is written atomically.
int64_t prepare_dataset(const PrepareOptions& options);

// The output folder of a dataset of pairs named <stem>.png about to be made:
// a folder, if it exists, and empty unless `force`; even with `force`, not
// one whose HR, LR or Ref folders hold an image of another name: that pair
// would sit beside the new ones, uncounted by prepare.json, and eval would
// take it too. (The same pairs again, as a rerun makes them, are replaced.)
void check_dataset_out_dir(const std::string& out_dir, bool force, const std::set<std::string>& stems);

}  // namespace dcsr
