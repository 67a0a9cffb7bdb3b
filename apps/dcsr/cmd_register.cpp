// `dcsr register`: where a telephoto's view lies in the wide image
// (dcsr/registration/register.h): prints the similarity transform, its
// confidence and the field-of-view corners; writes them as JSON (what
// `dcsr sr --registration FILE.json` reads) and an overlay: the wide image
// with the telephoto's outline drawn on it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "dcsr/figures/raster.h"
#include "dcsr/registration/register.h"
#include "io/image_io.h"
#include "tensor/serialize.h"

namespace dcsr::cli {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kOverlayLongSide = 1600;  // overlays of bigger images are downscaled to this

bool has_extension(const std::string& path, const std::string& ext) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return e == ext;
}

// Refuses an output that is one of the inputs (before any work).
void check_not_input(const std::string& output, const std::string& option, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (output == input || std::filesystem::equivalent(output, input, ec))
      throw UsageError("dcsr register: --" + option + " " + output + " is an input; choose another file");
  }
}

// The wide image (downscaled when big) with the telephoto's outline (solid)
// and, for reference, the canonical DCSR layout's central half (dashed).
Tensor draw_overlay(const Tensor& wide, const Registration& reg) {
  NoGradGuard no_grad;
  const int64_t H = wide.size(2), W = wide.size(3);
  const double zoom = std::min(1.0, double(kOverlayLongSide) / double(std::max(H, W)));
  const int64_t h = std::max<int64_t>(1, std::llround(double(H) * zoom)), w = std::max<int64_t>(1, std::llround(double(W) * zoom));
  const double zx = double(w) / double(W), zy = double(h) / double(H);
  Canvas canvas(w, h, Color{0, 0, 0});
  canvas.blit(zoom < 1.0 ? resize_antialias(wide, h, w) : wide, 0, 0);
  const int64_t pen = std::max<int64_t>(2, std::max(w, h) / 300);
  // Points in wide pixels -> canvas pixel centres.
  auto line = [&](std::array<double, 2> a, std::array<double, 2> b, Color c, int64_t dash) {
    canvas.line(a[0] * zx - 0.5, a[1] * zy - 0.5, b[0] * zx - 0.5, b[1] * zy - 0.5, c, pen, dash);
  };
  const std::array<std::array<double, 2>, 4> centre_half = {
      {{W / 4.0, H / 4.0}, {3 * W / 4.0, H / 4.0}, {3 * W / 4.0, 3 * H / 4.0}, {W / 4.0, 3 * H / 4.0}}};
  for (size_t i = 0; i < 4; ++i) line(centre_half[i], centre_half[(i + 1) % 4], Color{0.3f, 0.8f, 1.0f}, 4 * pen);
  for (size_t i = 0; i < 4; ++i) line(reg.fov_quad[i], reg.fov_quad[(i + 1) % 4], Color{1.0f, 0.85f, 0.0f}, 0);
  // The telephoto's top edge marked with a second line inside, so its orientation shows.
  const auto& q = reg.fov_quad;
  const double inset = 3.0 * double(pen) / std::min(zx, zy);
  auto inward = [&](const std::array<double, 2>& p, const std::array<double, 2>& towards) {
    const double dx = towards[0] - p[0], dy = towards[1] - p[1], n = std::hypot(dx, dy);
    return std::array<double, 2>{p[0] + inset * dx / n, p[1] + inset * dy / n};
  };
  line(inward(q[0], q[3]), inward(q[1], q[2]), Color{1.0f, 0.2f, 0.1f}, 0);
  return canvas.image();
}

int run_register(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string lr_path = args.require("lr"), ref_path = args.require("ref");
  const std::string json_path = args.get("json"), overlay_path = args.get("overlay");
  RegisterOptions options;
  options.min_confidence = args.get_double("min-confidence", options.min_confidence);
  if (!(options.min_confidence >= -1.0 && options.min_confidence <= 1.0))
    throw UsageError("dcsr register: --min-confidence expects a number in [-1, 1], got '" + args.get("min-confidence") +
                     "'");
  if (!overlay_path.empty() && !has_extension(overlay_path, ".png"))
    throw UsageError("dcsr register: --overlay writes a PNG; give a name ending in .png, got '" + overlay_path + "'");
  if (!json_path.empty() && !overlay_path.empty() && json_path == overlay_path)
    throw UsageError("dcsr register: --json and --overlay name the same file " + json_path);
  apply_threads(args);
  OutputFiles outputs;
  for (const auto& [path, option] : {std::pair{json_path, "json"}, std::pair{overlay_path, "overlay"}}) {
    if (path.empty()) continue;
    check_not_input(path, option, {lr_path, ref_path});
    outputs.declare(path, option);
  }
  const Tensor wide = read_image(lr_path), tele = read_image(ref_path);
  Registration reg;
  try {
    reg = register_pair(wide, tele, options);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (wide " + lr_path + ", telephoto " + ref_path + ")");
  }
  const Similarity& t = reg.tele_to_wide;
  char line[256];
  std::printf("wide %s: %lldx%lld, telephoto %s: %lldx%lld\n", lr_path.c_str(), (long long)wide.size(3),
              (long long)wide.size(2), ref_path.c_str(), (long long)tele.size(3), (long long)tele.size(2));
  std::snprintf(line, sizeof(line), "scale %.5f (telephoto pixels per wide pixel), angle %.4f degrees", t.scale,
                t.angle * 180.0 / kPi);
  std::cout << line << "\n";
  std::snprintf(line, sizeof(line), "translation %.3f %.3f (wide pixels of the telephoto's top-left corner)", t.tx, t.ty);
  std::cout << line << "\n";
  std::snprintf(line, sizeof(line), "confidence %.4f (ZNCC of band-passed luminance over the overlap)", reg.confidence);
  std::cout << line << "\n";
  std::cout << "field of view (wide pixels; top-left, top-right, bottom-right, bottom-left):";
  for (const auto& c : reg.fov_quad) {
    std::snprintf(line, sizeof(line), " (%.2f, %.2f)", c[0], c[1]);
    std::cout << line;
  }
  std::cout << "\n"
            << (reg.identity ? "canonical: yes (already DCSR's layout; dcsr sr uses the pair as it is)\n"
                             : "canonical: no\n");
  if (!json_path.empty()) {
    write_file_atomic(json_path, registration_to_json(reg).dump(2) + "\n");
    outputs.written(json_path);
    std::cout << "wrote " << json_path << "\n";
  }
  if (!overlay_path.empty()) {
    write_png(overlay_path, draw_overlay(wide, reg));
    outputs.written(overlay_path);
    std::cout << "wrote " << overlay_path << "\n";
  }
  outputs.commit();
  return 0;
}

}  // namespace

CommandInfo register_command() {
  CommandInfo c;
  c.name = "register";
  c.summary = "find where a telephoto's view lies in the wide image (scale, angle, offset)";
  c.usage = "dcsr register --lr WIDE --ref TELE [--json R.json] [--overlay O.png]";
  c.details =
      "Registers a phone's wide + telephoto pair with a similarity transform (zoom 1.2x-8x, rotation within 5 "
      "degrees, any offset that keeps most of the view inside the wide image): a coarse search of normalised "
      "cross-correlation over scales and angles, then robust Gauss-Newton refinement on an image pyramid. Prints the "
      "transform, its confidence (ZNCC of band-passed luminance over the overlap) and the view's corners; a pair "
      "whose confidence is below --min-confidence is refused. --json writes what `dcsr sr --registration FILE.json` "
      "reads; --overlay draws the telephoto's outline (solid, its top edge doubled in red) and the canonical central "
      "half (dashed) on the wide image. Details: docs/registration.md.";
  c.options = {{"lr", "WIDE", "the wide image (PNG, JPEG, BMP)"},
               {"ref", "TELE", "the telephoto image"},
               {"json", "R.json", "write the registration as JSON"},
               {"overlay", "O.png", "write the wide image with the telephoto's outline (PNG)"},
               {"min-confidence", "C", "refuse the pair below this confidence (default 0.25)"},
               {"threads", "N", "CPU threads"}};
  c.run = run_register;
  return c;
}

}  // namespace dcsr::cli
