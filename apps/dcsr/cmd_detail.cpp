// `dcsr detail`: the detail-transfer measure (dcsr/inference/detail_transfer.h)
// of an 8K-mode output against its telephoto, with bicubic x2 of the same wide
// image measured in the same run.
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/dcsr/cli.h"
#include "apps/dcsr/sr_batch.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "dcsr/inference/detail_transfer.h"
#include "dcsr/inference/metrics.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "io/image_io.h"
#include "runtime/json_text.h"
#include "tensor/serialize.h"

namespace dcsr::cli {

namespace {

// --fov Y0,X0,H,W (LR pixels) or the canonical central half.
std::array<int64_t, 4> parse_fov(const Args& args, int64_t lr_h, int64_t lr_w) {
  if (!args.has("fov")) return {lr_h / 4, lr_w / 4, lr_h / 2, lr_w / 2};
  std::array<int64_t, 4> v{};
  std::stringstream in(args.get("fov"));
  char comma = ',';
  char extra = 0;
  for (size_t i = 0; i < 4; ++i)
    if (!(in >> v[i]) || (i < 3 && !(in >> comma)) || comma != ',' || (i == 3 && in >> extra))
      throw UsageError("dcsr detail: --fov must be Y0,X0,H,W in wide-image pixels, got '" + args.get("fov") + "'");
  // Compared without sums, which a huge value would overflow.
  if (v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0 || v[0] > lr_h || v[1] > lr_w || v[2] > lr_h - v[0] ||
      v[3] > lr_w - v[1])
    throw UsageError("dcsr detail: --fov " + args.get("fov") + " does not lie inside the " + std::to_string(lr_w) +
                     "x" + std::to_string(lr_h) + " wide image");
  return v;
}

// rows [y0, y0 + h), cols [x0, x0 + w) of a (1, 3, H, W) image.
Tensor crop(const Tensor& img, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  const int64_t H = img.size(2), W = img.size(3);
  Tensor out = empty({1, 3, h, w});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      std::copy_n(img.data<float>() + (c * H + y0 + y) * W + x0, w, out.data<float>() + (c * h + y) * w);
  return out;
}

int run_detail(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string sr_path = args.require("sr"), ref_path = args.require("ref"), lr_path = args.require("lr");
  DetailOptions opt;
  // Ranges that keep the measure meaningful and its work bounded: a block
  // larger than any output has no blocks, a search of thousands of pixels
  // is no longer a residual misalignment, and a Gaussian of sigma 100 has a
  // kernel of 600 pixels.
  opt.block = args.get_int_in("block", opt.block, 8, 4096);
  opt.search = args.get_int_in("search", opt.search, 0, 256);
  opt.sigma_fine = args.get_double_in("sigma-fine", opt.sigma_fine, 0.0, 100.0);
  opt.sigma_coarse = args.get_double_in("sigma-coarse", opt.sigma_coarse, 0.0, 100.0);
  if (opt.sigma_coarse <= opt.sigma_fine) throw UsageError("dcsr detail: --sigma-coarse must be above --sigma-fine");
  apply_threads(args);
  const std::string registration = args.get("registration", "auto");
  if (registration != "none" && args.has("fov"))
    throw UsageError("dcsr detail: --fov goes with --registration none (a registration finds the view itself)");
  OutputFiles outputs;
  outputs.declare_input(sr_path, "sr");
  outputs.declare_input(ref_path, "ref");
  outputs.declare_input(lr_path, "lr");
  if (registration != "auto" && registration != "none") outputs.declare_input(registration, "registration");
  if (args.has("json")) outputs.declare(args.get("json"), "json");
  NoGradGuard no_grad;
  const Tensor lr = read_image(lr_path), sr = read_image(sr_path);
  Tensor ref = read_image(ref_path);
  const int64_t h = lr.size(2), w = lr.size(3);
  DCSR_CHECK(sr.size(2) == 2 * h && sr.size(3) == 2 * w, "the output '", sr_path, "' is ", sr.size(3), "x",
             sr.size(2), " but twice the wide image '", lr_path, "' is ", 2 * w, "x", 2 * h);
  std::array<int64_t, 4> fov = parse_fov(args, h, w);
  // The canonical layout of an odd-sized pair (TELE the wide image's size, as
  // `dcsr sr --registration none` takes it): the central half is h/2 x w/2
  // wide pixels, so the telephoto's last row or column lies past it.
  if (registration == "none" && !args.has("fov") && ref.size(2) == h && ref.size(3) == w &&
      (2 * fov[2] != h || 2 * fov[3] != w))
    ref = crop(ref, 0, 0, 2 * fov[2], 2 * fov[3]);
  if (registration != "none") {  // the telephoto normalised into the output's geometry (registration/normalise.h)
    const Registration r = registration == "auto" ? register_pair(lr, ref) : read_registration_file(registration);
    const NormalisedReference n = normalise_reference(ref, r, h, w);
    ref = n.fov_part();
    fov = {n.fov.y0, n.fov.x0, n.fov.height, n.fov.width};
    std::printf("registration (%s): scale %.4f, angle %.3f deg, offset (%.2f, %.2f) px, confidence %.3f\n",
                registration.c_str(), r.tele_to_wide.scale, r.tele_to_wide.angle * 180.0 / 3.14159265358979323846,
                r.tele_to_wide.tx, r.tele_to_wide.ty, r.confidence);
  }
  DCSR_CHECK(ref.size(2) == 2 * fov[2] && ref.size(3) == 2 * fov[3], "the telephoto '", ref_path, "' is ",
             ref.size(3), "x", ref.size(2), " but the view (", fov[3], "x", fov[2],
             " wide pixels) at twice the density is ", 2 * fov[3], "x", 2 * fov[2],
             ": pass the telephoto normalised into the output's geometry (and --fov for a non-central view)");
  const Tensor bicubic = quantize(bicubic_resize(lr, 2 * h, 2 * w)).to(kFloat32).to(kCPU).clone();
  auto measure = [&](const Tensor& out) {
    return detail_transfer(crop(out, 2 * fov[0], 2 * fov[1], 2 * fov[2], 2 * fov[3]), ref, opt);
  };
  const DetailScore ours = measure(sr), bic = measure(bicubic);
  std::cout << "detail transfer inside the telephoto's view (" << 2 * fov[3] << "x" << 2 * fov[2]
            << " output px from (" << 2 * fov[0] << ", " << 2 * fov[1] << "), " << ours.blocks << " blocks of "
            << opt.block << " px, search +-" << opt.search << " px):\n"
            << "  correlation of the luminance detail band with the telephoto's (1 = the telephoto's detail)\n";
  char line[160];
  std::snprintf(line, sizeof line, "  %-8s correlation %.4f   detail energy %.3f of the telephoto's\n", "ours",
                ours.correlation, ours.energy_ratio);
  std::cout << line;
  std::snprintf(line, sizeof line, "  %-8s correlation %.4f   detail energy %.3f of the telephoto's\n", "bicubic",
                bic.correlation, bic.energy_ratio);
  std::cout << line;
  if (args.has("json")) {
    auto to_json = [](const DetailScore& s) {
      return nlohmann::json{{"correlation", s.correlation}, {"energy_ratio", s.energy_ratio}, {"blocks", s.blocks}};
    };
    const nlohmann::json j = {{"sr", sr_path},
                              {"ref", ref_path},
                              {"lr", lr_path},
                              {"fov", fov},
                              {"registration", registration},
                              {"block", opt.block},
                              {"search", opt.search},
                              {"sigma_fine", opt.sigma_fine},
                              {"sigma_coarse", opt.sigma_coarse},
                              {"ours", to_json(ours)},
                              {"bicubic", to_json(bic)}};
    outputs.write(args.get("json"), [&](const std::string& path) { write_file_atomic(path, json_text(j, 2) + "\n"); });
  }
  outputs.commit();
  return 0;
}

}  // namespace

CommandInfo detail_command() {
  CommandInfo c;
  c.name = "detail";
  c.summary = "measure detail transfer in 8k mode (no ground truth): the output's detail against the telephoto's";
  c.usage = "dcsr detail --sr OUT.png --ref TELE --lr WIDE [--registration auto|none|R.json] [--json FILE]";
  c.details =
      "Compares the output inside the telephoto's view with the telephoto, ignoring colour: the weighted\n"
      "correlation of luminance detail bands (difference of Gaussians, sigma 0.5 and 1.2 output px) per block,\n"
      "each block searched over small shifts for residual misalignment (dcsr/inference/detail_transfer.h).\n"
      "Bicubic x2 of WIDE is measured in the same run. TELE is the telephoto as dcsr sr takes it: registered\n"
      "onto WIDE and resampled into the output's geometry (--registration auto, the default, or a file of\n"
      "dcsr register --json); --registration none takes it as it is: the canonical layout (TELE the wide\n"
      "image's size, the central half at twice the density) or, with --fov, that view at twice the density.";
  c.options = {{"sr", "OUT", "the super-resolved image (twice WIDE's size)"},
               {"ref", "TELE", "the telephoto as taken (as dcsr sr takes it; registered with --registration)"},
               {"lr", "WIDE", "the wide image the output was made from"},
               {"registration", "auto|none|R.json", "how TELE lies in WIDE (default auto, as dcsr sr)"},
               {"fov", "Y0,X0,H,W", "with --registration none: TELE's view in WIDE pixels (default the central half)"},
               {"block", "N", "block side in output pixels (default 48)"},
               {"search", "N", "largest shift searched per axis, output pixels (default 4)"},
               {"sigma-fine", "S", "the detail band's inner Gaussian, output px (default 0.5)"},
               {"sigma-coarse", "S", "the detail band's outer Gaussian, output px (default 1.2)"},
               {"json", "FILE", "also write the scores as JSON"},
               {"threads", "N", "CPU threads"}};
  c.run = run_detail;
  return c;
}

}  // namespace dcsr::cli
