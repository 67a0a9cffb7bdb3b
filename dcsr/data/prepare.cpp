#include "dcsr/data/prepare.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "dcsr/data/augment.h"
#include "dcsr/data/camera_sim.h"
#include "io/image_io.h"
#include "io/output_rules.h"
#include "runtime/json_text.h"
#include "runtime/threads.h"
#include "tensor/serialize.h"

namespace dcsr {
namespace fs = std::filesystem;


DualCameraParams draw_dual_camera(Generator& gen) {
  DualCameraParams p;
  p.angle_deg = gen.uniform(-2.0, 2.0);
  p.scale = gen.uniform(0.97, 1.03);
  p.ty = gen.uniform(-4.0, 4.0);
  p.tx = gen.uniform(-4.0, 4.0);
  for (double& g : p.gain) g = gen.uniform(0.95, 1.05);
  p.gamma = gen.uniform(0.9, 1.1);
  // A slight blur only: a telephoto at twice the density is sharp. A sigma of
  // about 1 Ref/x2 pixel already removes as much detail as the wide camera's
  // own x1/2 sampling, which would leave the reference nothing to contribute.
  p.blur_sigma = gen.uniform(0.2, 0.5);
  p.noise_sigma = gen.uniform(0.5, 2.0) / 255.0;
  return p;
}

nlohmann::json dual_camera_to_json(const DualCameraParams& p) {
  return {{"angle_deg", p.angle_deg},     {"scale", p.scale},
          {"translation", {p.ty, p.tx}}, {"gain", {p.gain[0], p.gain[1], p.gain[2]}},
          {"gamma", p.gamma},             {"blur_sigma", p.blur_sigma},
          {"noise_sigma", p.noise_sigma}};
}

const char* simulation_name(Simulation s) { return s == Simulation::Camera ? "camera" : "classic"; }

Simulation parse_simulation(const std::string& name) {
  if (name == "camera") return Simulation::Camera;
  if (name == "classic") return Simulation::Classic;
  fail("unknown simulation '", name, "' (expected camera or classic)");
}

namespace {

// Renders the telephoto view: an out_h x out_w image whose pixel (R, C) shows
// Ref/x2 position ((R + 1/2)/density - 1/2, ...), mapped into the HR by the
// similarity transform (see prepare.h).
Tensor render_view(const Tensor& hr, const DualCameraParams& p, int64_t density) {
  const int64_t H = hr.size(2), W = hr.size(3), h = H / 2, w = W / 2;
  const int64_t oh = h * density, ow = w * density;
  Tensor out = empty({1, 3, oh, ow});
  const float* src = hr.data<float>();
  float* dst = out.data<float>();
  const double theta = p.angle_deg * M_PI / 180.0, cs = std::cos(theta) * p.scale, sn = std::sin(theta) * p.scale;
  const double cy = double(h) - 0.5, cx = double(w) - 0.5;                      // HR centre
  const double vy = (double(h) - 1.0) / 2.0, vx = (double(w) - 1.0) / 2.0;      // Ref/x2 centre
  parallel_for(oh, 8, [&](int64_t begin, int64_t end) {
    for (int64_t R = begin; R < end; ++R)
      for (int64_t C = 0; C < ow; ++C) {
        const double r = (double(R) + 0.5) / double(density) - 0.5 - vy;
        const double c = (double(C) + 0.5) / double(density) - 0.5 - vx;
        const double y = cy + cs * r - sn * c + p.ty, x = cx + sn * r + cs * c + p.tx;
        for (int64_t k = 0; k < 3; ++k)
          dst[(k * oh + R) * ow + C] = float(sample_bicubic(src + k * H * W, H, W, y, x));
      }
  });
  return out;
}

// Colour gain, gamma, additive Gaussian noise (drawn serially in pixel order,
// so the result does not depend on the thread count), clamp to [0, 1].
void colour_and_noise(Tensor& img, const DualCameraParams& p, Generator& gen) {
  float* data = img.data<float>();
  const int64_t plane = img.size(2) * img.size(3);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      double v = std::max(0.0, double(data[c * plane + i]) * p.gain[c]);
      v = std::pow(v, p.gamma) + p.noise_sigma * gen.normal();
      data[c * plane + i] = float(std::clamp(v, 0.0, 1.0));
    }
}

Tensor clamp01(Tensor t) {
  float* d = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = std::clamp(d[i], 0.0f, 1.0f);
  return t;
}

}  // namespace

Tensor crop_to_multiple_of_8(const Tensor& photo) {
  DCSR_CHECK(photo.dim() == 4 && photo.size(0) == 1 && photo.size(1) == 3 && photo.dtype() == kFloat32 &&
                 photo.is_cpu(),
             "simulate_dual_camera: expected a CPU float32 photo (1, 3, H, W), got ", shape_str(photo.shape()));
  const int64_t H = photo.size(2) / 8 * 8, W = photo.size(3) / 8 * 8;
  DCSR_CHECK(H >= 32 && W >= 32, "simulate_dual_camera: the photo ", photo.size(3), "x", photo.size(2),
             " is too small (needs at least 32x32)");
  // Centre crop (the odd extra row/column goes at the bottom/right).
  const int64_t top = (photo.size(2) - H) / 2, left = (photo.size(3) - W) / 2;
  Tensor hr = empty({1, 3, H, W});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      std::copy_n(photo.data<float>() + (c * photo.size(2) + top + y) * photo.size(3) + left, W,
                  hr.data<float>() + (c * H + y) * W);
  return hr;
}

SimulatedPair simulate_dual_camera(const Tensor& photo, const DualCameraParams& params, Generator& gen) {
  NoGradGuard no_grad;
  SimulatedPair out;
  out.hr = crop_to_multiple_of_8(photo);
  const int64_t H = out.hr.size(2), W = out.hr.size(3);
  out.lr_x1 = out.hr;
  out.lr_x2 = clamp01(resize_antialias(out.hr, H / 2, W / 2).to(kFloat32).to(kCPU).clone());
  out.ref_x2 = render_view(out.hr, params, 1);
  gaussian_blur_inplace(out.ref_x2, params.blur_sigma);
  colour_and_noise(out.ref_x2, params, gen);
  out.ref_x1 = render_view(out.hr, params, 2);
  gaussian_blur_inplace(out.ref_x1, 2.0 * params.blur_sigma);
  colour_and_noise(out.ref_x1, params, gen);
  return out;
}

void check_dataset_out_dir(const std::string& out_dir, bool force, const std::set<std::string>& stems) {
  std::error_code ec;
  if (!fs::exists(out_dir, ec)) return;
  DCSR_CHECK(fs::is_directory(out_dir, ec), "output '", out_dir, "' exists and is not a folder");
  DCSR_CHECK(force || fs::is_empty(out_dir, ec), "output folder '", out_dir,
             "' is not empty (pass --force to write into it anyway)");
  for (const char* sub : {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"}) {
    const fs::path folder = fs::path(out_dir) / sub;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      // Any image the dataset's readers would list (list_images: .png, .PNG, .jpg, ...), not only .png.
      const fs::path name = it->path().filename();
      const bool ours = name.extension() == ".png" && stems.count(name.stem().string());
      DCSR_CHECK(ours || !is_image_file(it->path().string()), "output folder '", out_dir,
                 "' holds another dataset's pair ('", it->path().string(),
                 "'), which would mix with the new ones; choose another --out");
    }
  }
}

int64_t prepare_dataset(const PrepareOptions& options) {
  std::vector<std::string> photos = list_images(options.photos_dir);
  DCSR_CHECK(!photos.empty(), "photo folder '", options.photos_dir, "' holds no images (.png .jpg .jpeg .bmp .heic .heif .avif)");
  std::set<std::string> stems;
  for (const std::string& path : photos) {
    std::string stem = fs::path(path).stem().string();
    DCSR_CHECK(stems.insert(stem).second, "photo folder '", options.photos_dir, "': two photos are named '", stem,
               ".*'; the dataset stores <name>.png, so names must differ");
    ImageInfo info = read_image_info(path);  // fails early on a missing or unreadable image
    DCSR_CHECK(info.height >= 32 && info.width >= 32, "photo '", path, "' (", info.width, "x", info.height,
               ") is too small (needs at least 32x32)");
  }
  check_dataset_out_dir(options.out_dir, options.force, stems);
  std::error_code ec;
  // All or nothing (io/output_rules.h): the dataset is written into a staging
  // folder that plan.commit() moves into place; a failure leaves nothing.
  OutputPlan plan;
  std::vector<std::string> expected = {"prepare.json"};
  for (const std::string& path : photos) {
    plan.add_input(path, "photo");
    for (const char* sub : {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"})
      expected.push_back(std::string(sub) + "/" + fs::path(path).stem().string() + ".png");
  }
  const std::string root = plan.stage_folder(options.out_dir, "--out", expected);
  const char* subdirs[] = {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"};
  for (const char* sub : subdirs) {
    fs::create_directories(fs::path(root) / sub, ec);
    DCSR_CHECK(!ec, "cannot create folder '", (fs::path(root) / sub).string(), "': ", ec.message());
  }
  nlohmann::json record = {{"seed", options.seed},
                           {"simulation", simulation_name(options.simulation)},
                           {"photos", options.photos_dir},
                           {"pairs", nlohmann::json::array()}};
  for (size_t i = 0; i < photos.size(); ++i) {
    const std::string stem = fs::path(photos[i]).stem().string();
    Generator gen(options.seed, 1 + uint64_t(i));
    nlohmann::json entry = {{"name", stem + ".png"}, {"photo", fs::path(photos[i]).filename().string()}};
    SimulatedPair pair;
    if (options.simulation == Simulation::Camera) {
      const CameraSimParams p = draw_camera_sim(gen);
      pair = simulate_camera_pair(read_image(photos[i]), p, gen);
      entry["hr_size"] = {pair.hr.size(3), pair.hr.size(2)};
      entry.update(camera_sim_to_json(p));
    } else {
      const DualCameraParams p = draw_dual_camera(gen);
      pair = simulate_dual_camera(read_image(photos[i]), p, gen);
      entry["hr_size"] = {pair.hr.size(3), pair.hr.size(2)};
      entry.update(dual_camera_to_json(p));
    }
    const Tensor* images[] = {&pair.hr, &pair.lr_x2, &pair.ref_x2, &pair.lr_x1, &pair.ref_x1};
    for (size_t k = 0; k < 5; ++k)
      write_png((fs::path(root) / subdirs[k] / (stem + ".png")).string(), *images[k]);
    record["pairs"].push_back(entry);
    if (options.progress) options.progress(int64_t(i) + 1, int64_t(photos.size()), stem);
  }
  write_file_atomic((fs::path(root) / "prepare.json").string(), json_text(record, 2) + "\n");
  plan.commit();
  return int64_t(photos.size());
}

}  // namespace dcsr
