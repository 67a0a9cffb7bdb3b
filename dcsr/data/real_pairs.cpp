#include "dcsr/data/real_pairs.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "io/image_io.h"
#include "io/output_rules.h"
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

}  // namespace

SimulatedPair make_real_pair(const Tensor& wide, const Tensor& tele, const Similarity& tele_to_wide) {
  NoGradGuard no_grad;
  SimulatedPair out;
  out.hr = crop_to_multiple_of_8(wide);  // checks the shape
  const int64_t H = out.hr.size(2), W = out.hr.size(3);
  const int64_t top = (wide.size(2) - H) / 2, left = (wide.size(3) - W) / 2;  // as crop_to_multiple_of_8 cuts
  Similarity in_hr = tele_to_wide;
  in_hr.tx -= double(left);
  in_hr.ty -= double(top);
  out.lr_x1 = out.hr;
  out.lr_x2 = clamped_cpu(resize_antialias(out.hr, H / 2, W / 2));
  out.ref_x1 = clamped_cpu(resample_reference(tele, in_hr, FovRect{H / 4, W / 4, H / 2, W / 2}));
  out.ref_x2 = clamped_cpu(resize_antialias(out.ref_x1, H / 2, W / 2));
  return out;
}

int64_t prepare_real_dataset(const RealPrepareOptions& options) {
  const std::vector<std::string> wides = list_images(options.wide_dir), teles = list_images(options.tele_dir);
  DCSR_CHECK(!wides.empty(), "wide folder '", options.wide_dir, "' holds no images (.png .jpg .jpeg .bmp)");
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
  std::error_code ec;
  if (fs::exists(options.out_dir, ec)) {
    DCSR_CHECK(fs::is_directory(options.out_dir, ec), "output '", options.out_dir, "' exists and is not a folder");
    DCSR_CHECK(options.force || fs::is_empty(options.out_dir, ec), "output folder '", options.out_dir,
               "' is not empty (pass --force to write into it anyway)");
  }
  // Every pair registered before anything is written: a refused pair fails here.
  std::vector<Registration> registrations;
  for (size_t i = 0; i < wides.size(); ++i) {
    try {
      registrations.push_back(register_pair(read_image(wides[i]), read_image(teles[i])));
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
    const Tensor wide = read_image(wides[i]);
    const SimulatedPair pair = make_real_pair(wide, read_image(teles[i]), registrations[i].tele_to_wide);
    const Tensor* images[] = {&pair.hr, &pair.lr_x2, &pair.ref_x2, &pair.lr_x1, &pair.ref_x1};
    for (size_t k = 0; k < 5; ++k) write_png((fs::path(root) / subdirs[k] / (stem + ".png")).string(), *images[k]);
    record["pairs"].push_back({{"name", stem + ".png"},
                               {"wide", fs::path(wides[i]).filename().string()},
                               {"tele", fs::path(teles[i]).filename().string()},
                               {"hr_size", {pair.hr.size(3), pair.hr.size(2)}},
                               {"crop_top_left", {(wide.size(2) - pair.hr.size(2)) / 2, (wide.size(3) - pair.hr.size(3)) / 2}},
                               {"registration", registration_to_json(registrations[i])}});
    if (options.progress) options.progress(int64_t(wides.size() + i) + 1, int64_t(2 * wides.size()), stem);
  }
  write_file_atomic((fs::path(root) / "prepare.json").string(), record.dump(2) + "\n");
  plan.commit();
  return int64_t(wides.size());
}

}  // namespace dcsr
