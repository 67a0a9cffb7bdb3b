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
#include "runtime/json_text.h"
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

// Bilinear sample of channel c of an RGB image (1, 3, H, W) at continuous
// coordinates, clamped to the image.
float sample_rgb(const Tensor& image, int64_t c, double x, double y) {
  const int64_t H = image.size(2), W = image.size(3);
  const double fx = std::clamp(x - 0.5, 0.0, double(W - 1)), fy = std::clamp(y - 0.5, 0.0, double(H - 1));
  const int64_t x0 = std::min<int64_t>(int64_t(fx), W - 2 < 0 ? 0 : W - 2), y0 = std::min<int64_t>(int64_t(fy), H - 2 < 0 ? 0 : H - 2);
  const int64_t x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
  const float ax = float(fx - double(x0)), ay = float(fy - double(y0));
  const float* p = image.data<float>() + c * H * W;
  const float top = p[y0 * W + x0] + ax * (p[y0 * W + x1] - p[y0 * W + x0]);
  const float bottom = p[y1 * W + x0] + ax * (p[y1 * W + x1] - p[y1 * W + x0]);
  return top + ay * (bottom - top);
}

// The view's bounding box in the wide image's frame, at up to the
// telephoto's density (at most kOverlayLongSide px long): 8 x 8 checkerboard
// cells alternate between the wide image (upsampled) and the telephoto
// resampled through the registration. Where they are aligned, edges run on
// straight across the cells' borders; colours differ as the cameras do.
Tensor draw_checkerboard(const Tensor& wide, const Tensor& tele, const Registration& reg) {
  NoGradGuard no_grad;
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (const auto& c : reg.fov_quad)
    x0 = std::min(x0, c[0]), y0 = std::min(y0, c[1]), x1 = std::max(x1, c[0]), y1 = std::max(y1, c[1]);
  x0 = std::max(x0, 0.0), y0 = std::max(y0, 0.0);
  x1 = std::min(x1, double(wide.size(3))), y1 = std::min(y1, double(wide.size(2)));
  DCSR_CHECK(x1 - x0 >= 1 && y1 - y0 >= 1, "register: the view does not overlap the wide image");
  const double scale = reg.tele_to_wide.scale;
  const double zoom = std::min(scale, double(kOverlayLongSide) / std::max(x1 - x0, y1 - y0));  // output px per wide px
  const int64_t w = std::max<int64_t>(8, std::llround((x1 - x0) * zoom)), h = std::max<int64_t>(8, std::llround((y1 - y0) * zoom));
  // The telephoto at the output's density first (antialiased), so that sampling it does not alias.
  Tensor t = tele;
  double tele_zoom = 1.0;  // resized telephoto px per telephoto px
  if (zoom < scale * 0.999) {
    tele_zoom = zoom / scale;
    t = resize_antialias(tele, std::max<int64_t>(2, std::llround(double(tele.size(2)) * tele_zoom)),
                         std::max<int64_t>(2, std::llround(double(tele.size(3)) * tele_zoom)));
  }
  const double tzx = double(t.size(3)) / double(tele.size(3)), tzy = double(t.size(2)) / double(tele.size(2));
  Tensor out = empty({1, 3, h, w});
  float* o = out.data<float>();
  const int64_t cell = std::max<int64_t>(1, std::max(w, h) / 8);
  for (int64_t v = 0; v < h; ++v)
    for (int64_t u = 0; u < w; ++u) {
      const double xw = x0 + (double(u) + 0.5) / zoom, yw = y0 + (double(v) + 0.5) / zoom;
      const auto xt = reg.tele_to_wide.to_tele(xw, yw);
      const bool inside = xt[0] >= 0 && xt[1] >= 0 && xt[0] <= double(tele.size(3)) && xt[1] <= double(tele.size(2));
      const bool use_tele = inside && ((u / cell + v / cell) % 2 == 1);
      for (int64_t c = 0; c < 3; ++c)
        o[(c * h + v) * w + u] = use_tele ? sample_rgb(t, c, xt[0] * tzx, xt[1] * tzy) : sample_rgb(wide, c, xw, yw);
    }
  return out;
}

int run_register(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string lr_path = args.require("lr"), ref_path = args.require("ref");
  const std::string json_path = args.get("json"), overlay_path = args.get("overlay"), check_path = args.get("check");
  RegisterOptions options;
  options.min_confidence = args.get_double("min-confidence", options.min_confidence);
  if (!(options.min_confidence >= -1.0 && options.min_confidence <= 1.0))
    throw UsageError("dcsr register: --min-confidence expects a number in [-1, 1], got '" + args.get("min-confidence") +
                     "'");
  if (!overlay_path.empty() && !has_extension(overlay_path, ".png"))
    throw UsageError("dcsr register: --overlay writes a PNG; give a name ending in .png, got '" + overlay_path + "'");
  if (!check_path.empty() && !has_extension(check_path, ".png"))
    throw UsageError("dcsr register: --check writes a PNG; give a name ending in .png, got '" + check_path + "'");
  for (const auto& [a, b] : {std::pair{json_path, overlay_path}, {json_path, check_path}, {overlay_path, check_path}})
    if (!a.empty() && a == b) throw UsageError("dcsr register: two outputs name the same file " + a);
  apply_threads(args);
  OutputFiles outputs;
  for (const auto& [path, option] : {std::pair{json_path, "json"}, std::pair{overlay_path, "overlay"}, std::pair{check_path, "check"}}) {
    if (path.empty()) continue;
    check_not_input(path, option, {lr_path, ref_path});
    outputs.declare(path, option);
  }
  // Held as read (8-bit samples); float32 copies only for the drawings.
  const CompactImage wide = read_image_compact(lr_path), tele = read_image_compact(ref_path);
  Registration reg;
  try {
    reg = register_pair(wide, tele, options);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (wide " + lr_path + ", telephoto " + ref_path +
                "; dcsr sr --registration none uses a pair as it is)");
  }
  const Similarity& t = reg.tele_to_wide;
  char line[256];
  std::printf("wide %s: %lldx%lld, telephoto %s: %lldx%lld\n", lr_path.c_str(), (long long)wide.width(),
              (long long)wide.height(), ref_path.c_str(), (long long)tele.width(), (long long)tele.height());
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
    outputs.write(json_path,
                  [&](const std::string& p) { write_file_atomic(p, json_text(registration_to_json(reg), 2) + "\n"); });
    std::cout << "wrote " << json_path << "\n";
  }
  // The drawings' float32 copy of the wide image, made once and only for them.
  const Tensor wide32 = overlay_path.empty() && check_path.empty() ? Tensor() : wide.to_tensor();
  if (!overlay_path.empty()) {
    outputs.write(overlay_path, [&](const std::string& p) { write_png(p, draw_overlay(wide32, reg)); });
    std::cout << "wrote " << overlay_path << "\n";
  }
  if (!check_path.empty()) {
    outputs.write(check_path,
                  [&](const std::string& p) { write_png(p, draw_checkerboard(wide32, tele.to_tensor(), reg)); });
    std::cout << "wrote " << check_path << "\n";
  }
  outputs.commit();
  return 0;
}

}  // namespace

CommandInfo register_command() {
  CommandInfo c;
  c.name = "register";
  c.summary = "find where a telephoto's view lies in the wide image (scale, angle, offset)";
  c.usage = "dcsr register --lr WIDE --ref TELE [--json R.json] [--overlay O.png] [--check C.png]";
  c.details =
      "Registers a phone's wide + telephoto pair with a similarity transform (zoom 1.2x-16x, rotation within 15 "
      "degrees of upright or 5 of a quarter or half turn, any offset that keeps most of the view inside the wide "
      "image): a coarse search of normalised cross-correlation over scales and angles, then robust Gauss-Newton "
      "refinement on an image pyramid. Prints the transform, its confidence (ZNCC of band-passed luminance over "
      "the overlap) and the view's corners; a pair "
      "whose confidence is below --min-confidence is refused (the message says so when the two photos look swapped or "
      "show the same zoom). --json writes what `dcsr sr --registration FILE.json` "
      "reads; --overlay draws the telephoto's outline (solid, its top edge doubled in red) and the canonical central "
      "half (dashed) on the wide image; --check shows the view as a checkerboard of the wide image and the "
      "telephoto resampled into its frame (aligned: edges run on across the cells). Details: docs/registration.md.";
  c.options = {{"lr", "WIDE", "the wide image (PNG, JPEG, BMP, HEIC)"},
               {"ref", "TELE", "the telephoto image"},
               {"json", "R.json", "write the registration as JSON"},
               {"overlay", "O.png", "write the wide image with the telephoto's outline (PNG)"},
               {"check", "C.png", "write the view as a checkerboard of wide and registered telephoto (PNG)"},
               {"min-confidence", "C", "refuse the pair below this confidence (default 0.25)"},
               {"threads", "N", "CPU threads"}};
  c.run = run_register;
  return c;
}

}  // namespace dcsr::cli
