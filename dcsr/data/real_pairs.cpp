#include "dcsr/data/real_pairs.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "autograd/ops/shape.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "io/image_io.h"
#include "io/output_rules.h"
#include "runtime/json_text.h"
#include "tensor/serialize.h"

namespace dcsr {
namespace fs = std::filesystem;

namespace {

Tensor clamped_cpu(const Tensor& t) {
  Tensor out = t.to(kFloat32).to(kCPU).clone();
  float* d = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) d[i] = std::clamp(d[i], 0.0f, 1.0f);
  return out;
}

// One dimension of real_protocol_crop: the image is [0, n), the view
// [v0, v0 + v_len). Returns {start, length}; length 0 when no window fits.
std::pair<int64_t, int64_t> crop_along(int64_t n, int64_t v0, int64_t v_len) {
  for (int64_t len = n / 8 * 8; len >= 8; len -= 8) {
    const int64_t lo = std::max<int64_t>(0, v0 - len / 4);
    const int64_t hi = std::min<int64_t>(n - len, v0 + v_len - 3 * len / 4);
    if (lo > hi) continue;
    const double centred = double(v0) + double(v_len) / 2.0 - double(len) / 2.0;
    return {std::clamp<int64_t>(int64_t(std::floor(centred + 0.5)), lo, hi), len};
  }
  return {0, 0};
}

}  // namespace

FovRect real_protocol_crop(const Similarity& tele_to_wide, int64_t tele_h, int64_t tele_w, int64_t wide_h,
                           int64_t wide_w) {
  const FovRect view = fov_rect(tele_to_wide, tele_h, tele_w, wide_h, wide_w);
  const auto [top, height] = crop_along(wide_h, view.y0, view.height);
  const auto [left, width] = crop_along(wide_w, view.x0, view.width);
  DCSR_CHECK(height >= 32 && width >= 32, "the telephoto's view covers only ", view.width, "x", view.height,
             " pixels of the ", wide_w, "x", wide_h, " wide image; the real protocol needs a view of at least 16x16 ",
             "(HR is twice the view, at least 32x32)");
  return {top, left, height, width};
}

namespace {

// make_real_pair with its window already chosen (real_protocol_crop).
SimulatedPair real_pair_in(const Tensor& wide, const Tensor& tele, const Similarity& tele_to_wide,
                           const FovRect& crop) {
  NoGradGuard no_grad;
  SimulatedPair out;
  out.hr = narrow(narrow(wide, 2, crop.y0, crop.height), 3, crop.x0, crop.width);
  const int64_t H = crop.height, W = crop.width;
  Similarity in_hr = tele_to_wide;
  in_hr.tx -= double(crop.x0);
  in_hr.ty -= double(crop.y0);
  out.lr_x1 = out.hr;
  out.lr_x2 = clamped_cpu(resize_antialias(out.hr, H / 2, W / 2));
  out.ref_x1 = clamped_cpu(resample_reference(tele, in_hr, FovRect{H / 4, W / 4, H / 2, W / 2}));
  out.ref_x2 = clamped_cpu(resize_antialias(out.ref_x1, H / 2, W / 2));
  return out;
}

void check_images(const Tensor& wide, const Tensor& tele) {
  for (const Tensor* image : {&wide, &tele})
    DCSR_CHECK(image->dim() == 4 && image->size(0) == 1 && image->size(1) == 3 && image->dtype() == kFloat32 &&
                   image->is_cpu(),
               "make_real_pair: expected CPU float32 images (1, 3, H, W), got ", shape_str(wide.shape()),
               " (wide) and ", shape_str(tele.shape()), " (telephoto)");
}

}  // namespace

SimulatedPair make_real_pair(const Tensor& wide, const Tensor& tele, const Similarity& tele_to_wide) {
  check_images(wide, tele);
  return real_pair_in(wide, tele, tele_to_wide,
                      real_protocol_crop(tele_to_wide, tele.size(2), tele.size(3), wide.size(2), wide.size(3)));
}

int64_t prepare_real_dataset(const RealPrepareOptions& options) {
  const std::vector<std::string> wides = list_images(options.wide_dir), teles = list_images(options.tele_dir);
  DCSR_CHECK(!wides.empty(), "wide folder '", options.wide_dir, "' holds no images (.png .jpg .jpeg .bmp .heic .heif .avif)");
  DCSR_CHECK(wides.size() == teles.size(), "wide folder '", options.wide_dir, "' holds ", wides.size(),
             " images but telephoto folder '", options.tele_dir, "' holds ", teles.size(),
             " (pairs are made by sorted name)");
  std::set<std::string> stems;
  for (size_t i = 0; i < wides.size(); ++i) {
    const std::string stem = fs::path(wides[i]).stem().string();
    DCSR_CHECK(stems.insert(stem).second, "wide folder '", options.wide_dir, "': two images are named '", stem,
               ".*'; the dataset stores <name>.png, so names must differ");
    const ImageInfo w = read_image_info(wides[i]), t = read_image_info(teles[i]);
    DCSR_CHECK(w.height >= 32 && w.width >= 32, "wide image '", wides[i], "' (", w.width, "x", w.height,
               ") is too small (needs at least 32x32)");
    DCSR_CHECK(t.height >= 8 && t.width >= 8, "telephoto '", teles[i], "' (", t.width, "x", t.height, ") is too small");
  }
  check_dataset_out_dir(options.out_dir, options.force, stems);
  std::error_code ec;
  // Every pair registered before anything is written: a refused pair fails here.
  std::vector<Registration> registrations;
  for (size_t i = 0; i < wides.size(); ++i) {
    try {
      registrations.push_back(register_pair(read_image_compact(wides[i]), read_image_compact(teles[i])));
    } catch (const Error& e) {
      fail("pair ", i + 1, " (wide '", wides[i], "', telephoto '", teles[i], "'): ", e.what());
    }
    if (options.progress) options.progress(int64_t(i) + 1, int64_t(2 * wides.size()), "registered");
  }
  OutputPlan plan;  // all or nothing (io/output_rules.h), as prepare_dataset
  std::vector<std::string> expected = {"prepare.json"};
  const char* subdirs[] = {"HR", "LR/x2", "Ref/x2", "LR/x1", "Ref/x1"};
  for (size_t i = 0; i < wides.size(); ++i) {
    plan.add_input(wides[i], "wide image");
    plan.add_input(teles[i], "telephoto");
    for (const char* sub : subdirs) expected.push_back(std::string(sub) + "/" + fs::path(wides[i]).stem().string() + ".png");
  }
  const std::string root = plan.stage_folder(options.out_dir, "--out", expected);
  for (const char* sub : subdirs) {
    fs::create_directories(fs::path(root) / sub, ec);
    DCSR_CHECK(!ec, "cannot create folder '", (fs::path(root) / sub).string(), "': ", ec.message());
  }
  nlohmann::json record = {{"protocol", "real"},
                           {"wide", options.wide_dir},
                           {"tele", options.tele_dir},
                           {"pairs", nlohmann::json::array()}};
  for (size_t i = 0; i < wides.size(); ++i) {
    const std::string stem = fs::path(wides[i]).stem().string();
    const Tensor wide = read_image(wides[i]), tele = read_image(teles[i]);
    check_images(wide, tele);
    const Similarity& tele_to_wide = registrations[i].tele_to_wide;
    const FovRect crop = real_protocol_crop(tele_to_wide, tele.size(2), tele.size(3), wide.size(2), wide.size(3));
    const SimulatedPair pair = real_pair_in(wide, tele, tele_to_wide, crop);
    const Tensor* images[] = {&pair.hr, &pair.lr_x2, &pair.ref_x2, &pair.lr_x1, &pair.ref_x1};
    for (size_t k = 0; k < 5; ++k) write_png((fs::path(root) / subdirs[k] / (stem + ".png")).string(), *images[k]);
    record["pairs"].push_back({{"name", stem + ".png"},
                               {"wide", fs::path(wides[i]).filename().string()},
                               {"tele", fs::path(teles[i]).filename().string()},
                               {"hr_size", {pair.hr.size(3), pair.hr.size(2)}},
                               {"crop_top_left", {crop.y0, crop.x0}},
                               {"registration", registration_to_json(registrations[i])}});
    if (options.progress) options.progress(int64_t(wides.size() + i) + 1, int64_t(2 * wides.size()), stem);
  }
  write_file_atomic((fs::path(root) / "prepare.json").string(), json_text(record, 2) + "\n");
  plan.commit();
  return int64_t(wides.size());
}

}  // namespace dcsr
