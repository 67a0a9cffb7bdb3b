// What registration + normalisation cost in SR quality (issue 14's quality
// goal): a 3x telephoto made from a photo with a known transform and seen
// through a different camera, fed raw to `dcsr sr`, against the same view
// given in DCSR's canonical layout by construction.
//
// Per photo (the first landscape photos of $DCSR_DATA/Sun_Hays80, default
// ../shared/data next to the source tree; skipped with a line when absent),
// for an LR W x H of 336 x 252 and of 224 x 168 (3 and 4.5 photo px per LR px):
//   photo cropped to 1008 x 756; ground truth G = resize_antialias to 2W x 2H;
//   LR = resize_antialias(G) W x H (the protocol's LR/x2 of G).
//   raw: a 3W/2 x 3H/2 telephoto at 3 telephoto px per LR px (the view is the
//        central half, as canonical, but rotated by +-2 degrees and off by a
//        few LR px), rendered from the photo, through a random camera look
//        (registration/synthetic_pair.h: colour, gain, gamma, blur, noise, JPEG).
//   canonical: the same telephoto camera and look with the view held straight
//        on the central half, shrunk by exactly 2/3 to 2 px per LR px (LR's
//        pixel size): DCSR's layout by construction, with the same detail,
//        noise and JPEG per scene area as the raw one.
// `dcsr sr` runs four times (the default model, 4k mode): raw with
// --registration auto, raw with the known transform (--registration
// truth.json: the cost of normalisation alone), canonical with
// --registration none (§8's windows), and canonical through the registered
// path's windows (below). PSNR (Y, eval's weights, no shave) against G inside
// the raw view's rectangle (fov_rect of the truth, in SR pixels), which lies
// inside both views. Runs only when the filter names it: dcsr_bench --filter
// sr_registered (minutes on 2 CPU cores).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "apps/bench/bench.h"
#include "autograd/ops/image.h"
#include "dcsr/inference/eval.h"
#include "dcsr/figures/raster.h"
#include "dcsr/inference/metrics.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "dcsr/registration/synthetic_pair.h"
#include "io/image_io.h"

namespace dcsr::bench {
namespace {
namespace fs = std::filesystem;

std::string data_root() {
  if (const char* env = std::getenv("DCSR_DATA"); env && *env) return env;
  return std::string(DCSR_SOURCE_DIR) + "/../shared/data";
}

// The dcsr binary next to this dcsr_bench.
std::string dcsr_binary() {
  std::error_code ec;
  return (fs::read_symlink("/proc/self/exe", ec).parent_path() / "dcsr").string();
}

// Runs dcsr sr; returns its exit status, its output in `log`.
int run_sr(const std::string& args, std::string& log) {
  const std::string cmd = dcsr_binary() + " sr " + args + " 2>&1";
  log.clear();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) log.append(buffer, n);
  return ::pclose(pipe);
}

// The line of `log` that starts with "registration", or "".
std::string registration_line(const std::string& log) {
  const size_t at = log.find("registration (");
  return at == std::string::npos ? "" : log.substr(at, log.find('\n', at) - at);
}

double psnr_in(const std::string& sr_path, const Tensor& truth, const Region& region) {
  Tensor sr = read_image(sr_path);
  return psnr_y(crop(sr, region), crop(truth, region), 0);
}

}  // namespace

// One density of the photo under an LR of W x (3W/4): `wanted` photos, four
// `dcsr sr` runs each, one line per photo and a mean line.
static void measure_density(const Context& ctx, const fs::path& photos, const fs::path& work, int64_t W, int wanted) {
  const int64_t H = W * 3 / 4;
  const double density = 1008.0 / double(W);
  int done = 0;
  double sum_auto = 0, sum_truth = 0, sum_canon = 0, sum_view = 0;
  Generator look_gen(14);
  for (const std::string& path : list_images(photos.string())) {
    if (done == wanted) break;
    Tensor photo = read_image(path);
    if (photo.size(2) < 756 || photo.size(3) < 1008) continue;  // landscape 1024 x 768 photos only
    photo = crop(photo, {0, 0, 756, 1008});
    const Tensor truth = resize_antialias(photo, 2 * H, 2 * W);
    const Tensor lr = resize_antialias(truth, H, W);
    const registration::CameraLook look = registration::random_look(look_gen), plain;
    // Offsets cycle through four, |dx| <= 2 and |dy| <= 2.5 LR px at W = 336 (scaled
    // with W), so that the raw view's inscribed rectangle (about 164 x 120 LR px
    // at 2 degrees for W = 336) stays inside the canonical central half (168 x 126).
    const int k = done % 4;
    const double f = double(W) / 336.0;  // offsets scale with the view
    const double angle = done % 2 ? -2.0 : 2.0, dx = f * (2.0 - 4.0 * k / 3.0), dy = f * (-2.5 + 5.0 * k / 3.0);
    const int64_t th = 3 * H / 2, tw = 3 * W / 2;  // the 3x telephoto of the central half
    registration::SyntheticPair raw = registration::make_synthetic_pair(
        photo, H, W, th, tw, 3.0, angle, W / 2.0 + dx, H / 2.0 + dy, look, plain, uint64_t(100 + done));
    // Like for like: the canonical telephoto is the same camera (3 px per LR px,
    // the same look applied per telephoto pixel), only held straight and
    // centred, then shrunk by exactly 2/3 (antialiased) onto the canonical grid.
    // Rendering it directly at 2 px per LR px would apply the look's blur,
    // noise and JPEG 1.5x coarser in scene terms and make the two pairs differ
    // in more than their geometry.
    registration::SyntheticPair canon =
        registration::make_synthetic_pair(photo, H, W, th, tw, 3.0, 0.0, W / 2.0, H / 2.0, look, plain,
                                          uint64_t(100 + done));
    canon.tele = resize_antialias(canon.tele, H, W);
    const fs::path dir = work / (std::to_string(W) + "_" + std::to_string(done));
    fs::create_directories(dir);
    write_png((dir / "lr.png").string(), lr);
    write_png((dir / "raw.png").string(), raw.tele);
    write_png((dir / "canon.png").string(), canon.tele);
    // The canonical telephoto less its last 2 rows and columns, with its exact
    // transform (2 px per LR px from LR (W/4, H/4)): no longer the canonical pixel
    // size, so `dcsr sr` takes the registered path's Ref windows
    // (ref_window_in_view) instead of §8's grid-fraction rules, which were
    // written for large images and pick other windows on these 2 x 3 and 2 x 2 tile grids.
    // Same pixels, other windows: what the window rules alone are worth.
    write_png((dir / "canon_trim.png").string(), crop(canon.tele, {0, 0, H - 2, W - 2}));
    dcsr::Registration canon_reg;
    canon_reg.tele_to_wide = canonical_similarity(H, W);
    canon_reg.confidence = 1.0;
    canon_reg.fov_quad = fov_quad(canon_reg.tele_to_wide, H - 2, W - 2);
    std::ofstream((dir / "canon.json").string()) << registration_to_json(canon_reg).dump(2);
    dcsr::Registration truth_reg;
    truth_reg.tele_to_wide = raw.truth;
    truth_reg.confidence = 1.0;
    truth_reg.fov_quad = fov_quad(raw.truth, th, tw);
    std::ofstream((dir / "truth.json").string()) << registration_to_json(truth_reg).dump(2);
    const FovRect fov = fov_rect(raw.truth, th, tw, H, W);
    const Region region{2 * fov.y0, 2 * fov.x0, 2 * fov.height, 2 * fov.width};
    const std::string d = dir.string() + "/";
    std::string log_auto, log_truth, log_canon;
    const int s_auto = run_sr("--lr " + d + "lr.png --ref " + d + "raw.png --out " + d + "sr_auto.png", log_auto);
    const int s_truth = run_sr("--lr " + d + "lr.png --ref " + d + "raw.png --out " + d +
                                   "sr_truth.png --registration " + d + "truth.json",
                               log_truth);
    const int s_canon = run_sr("--lr " + d + "lr.png --ref " + d + "canon.png --out " + d +
                                   "sr_canon.png --registration none",
                               log_canon);
    std::string log_view;
    const int s_view = run_sr("--lr " + d + "lr.png --ref " + d + "canon_trim.png --out " + d +
                                  "sr_view.png --registration " + d + "canon.json",
                              log_view);
    nlohmann::json line = {{"name", "sr_registered_3x"},
                           {"lr", {W, H}}, {"photo_px_per_lr_px", density},
                           {"photo", fs::path(path).filename().string()},
                           {"truth", {{"scale", 3.0}, {"angle_deg", angle}, {"centre_offset_lr_px", {dx, dy}}}},
                           {"fov_lr", {fov.y0, fov.x0, fov.height, fov.width}},
                           {"registration_auto", registration_line(log_auto)}};
    if (s_auto != 0 || s_truth != 0 || s_canon != 0 || s_view != 0) {
      line["error"] = "dcsr sr failed: " + log_auto.substr(0, 300) + " | " + log_truth.substr(0, 300) + " | " +
                      log_canon.substr(0, 300) + " | " + log_view.substr(0, 300);
      emit(ctx, line);
      ++done;
      continue;
    }
    const double p_auto = psnr_in(d + "sr_auto.png", truth, region);
    const double p_truth = psnr_in(d + "sr_truth.png", truth, region);
    const double p_canon = psnr_in(d + "sr_canon.png", truth, region);
    const double p_view = psnr_in(d + "sr_view.png", truth, region);
    const double p_bicubic = psnr_y(crop(quantize(bicubic_upsample(lr)), region), crop(truth, region), 0);
    line["psnr_fov_db"] = {{"raw_auto", p_auto}, {"raw_known_transform", p_truth}, {"canonical", p_canon},
                           {"canonical_view_windows", p_view}, {"bicubic", p_bicubic}};
    line["delta_auto_vs_canonical_db"] = p_auto - p_canon;
    line["delta_known_vs_canonical_db"] = p_truth - p_canon;
    line["delta_auto_vs_canonical_view_windows_db"] = p_auto - p_view;
    emit(ctx, line);
    sum_auto += p_auto, sum_truth += p_truth, sum_canon += p_canon, sum_view += p_view;
    ++done;
  }
  if (done > 0)
    emit(ctx, {{"name", "sr_registered_3x_mean"},
               {"lr", {W, H}}, {"photo_px_per_lr_px", density},
               {"photos", done},
               {"psnr_fov_db", {{"raw_auto", sum_auto / done}, {"raw_known_transform", sum_truth / done},
                                {"canonical", sum_canon / done}, {"canonical_view_windows", sum_view / done}}},
               {"delta_auto_vs_canonical_db", (sum_auto - sum_canon) / done},
               {"delta_auto_vs_canonical_view_windows_db", (sum_auto - sum_view) / done}});
}

DCSR_BENCH(sr_registered) {
  if (!opted_in(ctx, "sr_registered")) return;
  const fs::path photos = fs::path(data_root()) / "Sun_Hays80";
  std::error_code ec;
  if (!fs::is_directory(photos, ec)) {
    emit(ctx, {{"name", "sr_registered_3x"}, {"skipped", "no photos at " + photos.string()}});
    return;
  }
  const fs::path work = fs::temp_directory_path() / ("dcsr_bench_sr_registered_" + std::to_string(::getpid()));
  fs::create_directories(work);
  const int wanted = ctx.quick ? 2 : 8;
  // Two densities of the photo under the LR: 3 photo px per LR px (LR 336 x 252),
  // where the 3x telephoto is rendered at the photo's own density, so the raw
  // (rotated) one carries an interpolation blur the straight one does not;
  // and 4.5 (LR 224 x 168), where both are antialiased shrinks of the photo,
  // as a real telephoto's pixels are not interpolated from anything.
  // DCSR_BENCH_LR_WIDTH=336 or 224 runs one of the two only.
  const char* only = std::getenv("DCSR_BENCH_LR_WIDTH");
  for (const int64_t W : {int64_t(336), int64_t(224)})
    if (!only || !*only || std::atoll(only) == W) measure_density(ctx, photos, work, W, wanted);
  fs::remove_all(work, ec);
}

}  // namespace dcsr::bench

// The real Nikon short-focus + telephoto pair (SelfDZSR's demo data, about
// 3-4x) through `dcsr sr --mode 8k` end to end (automatic registration, the
// real-photo model), and a crop
// figure: bicubic x2 | ours | the telephoto as normalised (the same
// registration, resampled to the SR's density), at the most textured square of
// the telephoto's view (chosen from the telephoto only), 2x nearest neighbour.
// Writes $DCSR_FIGURE_DIR/nikon_sr_crop.png (default: the current folder).
// Runs only when the filter names it: dcsr_bench --filter sr_nikon_figure.
namespace dcsr::bench {
namespace {

// Top-left (in Ref pixels) of the size x size square of `ref` with the largest
// mean |horizontal| + |vertical| luma difference, candidates every 8 px.
std::array<int64_t, 2> most_textured(const Tensor& ref, int64_t size) {
  const int64_t h = ref.size(2), w = ref.size(3);
  std::vector<double> luma(size_t(h * w)), grad(size_t(h * w), 0.0);
  const float* d = ref.data<float>();
  for (int64_t p = 0; p < h * w; ++p) luma[size_t(p)] = 0.299 * d[p] + 0.587 * d[h * w + p] + 0.114 * d[2 * h * w + p];
  for (int64_t y = 0; y + 1 < h; ++y)
    for (int64_t x = 0; x + 1 < w; ++x)
      grad[size_t(y * w + x)] = std::abs(luma[size_t(y * w + x + 1)] - luma[size_t(y * w + x)]) +
                                std::abs(luma[size_t((y + 1) * w + x)] - luma[size_t(y * w + x)]);
  std::array<int64_t, 2> best{0, 0};
  double best_sum = -1.0;
  for (int64_t y = 0; y + size <= h; y += 8)
    for (int64_t x = 0; x + size <= w; x += 8) {
      double s = 0.0;
      for (int64_t u = 0; u < size; ++u)
        for (int64_t v = 0; v < size; ++v) s += grad[size_t((y + u) * w + x + v)];
      if (s > best_sum) best_sum = s, best = {y, x};
    }
  return best;
}

}  // namespace

DCSR_BENCH(sr_nikon_figure) {
  if (!opted_in(ctx, "sr_nikon_figure")) return;
  const fs::path pair = fs::path(data_root()) / "selfdzsr-nikon-demo";
  std::error_code ec;
  if (!fs::exists(pair / "LR.png", ec) || !fs::exists(pair / "Ref.png", ec)) {
    emit(ctx, {{"name", "sr_nikon_figure"}, {"skipped", "no pair at " + pair.string()}});
    return;
  }
  const std::string lr_path = (pair / "LR.png").string(), ref_path = (pair / "Ref.png").string();
  const Tensor lr = read_image(lr_path), tele = read_image(ref_path);
  const dcsr::Registration r = register_pair(lr, tele);
  const NormalisedReference n = normalise_reference(tele, r, lr.size(2), lr.size(3));
  const fs::path work = fs::temp_directory_path() / ("dcsr_bench_nikon_" + std::to_string(::getpid()));
  fs::create_directories(work);
  const std::string sr_path = (work / "sr.png").string();
  std::string log;
  const auto start = std::chrono::steady_clock::now();
  // 8k mode: the real-photo mode, whose default model is models/real.ckpt (SRA on real pairs).
  const int status = run_sr("--lr " + lr_path + " --ref " + ref_path + " --out " + sr_path + " --mode 8k", log);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json line = {{"name", "sr_nikon_figure"},
                         {"registration", registration_line(log)},
                         {"fov_lr", {n.fov.y0, n.fov.x0, n.fov.height, n.fov.width}},
                         {"dcsr_sr_s", seconds}};
  if (status != 0) {
    line["error"] = log.substr(0, 600);
    emit(ctx, line);
    return;
  }
  const Tensor sr = read_image(sr_path);
  const Tensor bicubic = quantize(bicubic_upsample(lr));
  const Tensor view_ref = n.fov_part();  // the telephoto over the view, at the SR's density
  const int64_t size = std::min<int64_t>({160, view_ref.size(2), view_ref.size(3)}), zoom = 2;
  const auto at = most_textured(view_ref, size);
  const Region in_ref{at[0], at[1], size, size};
  const Region in_sr{2 * n.fov.y0 + at[0], 2 * n.fov.x0 + at[1], size, size};
  const Tensor panels[3] = {crop(bicubic, in_sr), crop(sr, in_sr), crop(view_ref, in_ref)};
  const std::string titles[3] = {"bicubic x2", "ours (8k mode, real.ckpt)", "telephoto, registered"};
  const int64_t margin = 12, panel = size * zoom, title_h = Canvas::text_height(2) + 10;
  Canvas canvas(4 * margin + 3 * panel, 2 * margin + title_h + panel, Color{1, 1, 1});
  for (int64_t k = 0; k < 3; ++k) {
    const int64_t x = margin + k * (panel + margin);
    canvas.text(x, margin, titles[k], Color{0.1f, 0.1f, 0.1f}, 2);
    canvas.blit(panels[k], x, margin + title_h, zoom);
  }
  const char* dir = std::getenv("DCSR_FIGURE_DIR");
  const std::string out = (fs::path(dir && *dir ? dir : ".") / "nikon_sr_crop.png").string();
  write_png(out, canvas.image());
  line["figure"] = out;
  line["crop_sr"] = {in_sr.top, in_sr.left, size, size};
  emit(ctx, line);
  fs::remove_all(work, ec);
}

}  // namespace dcsr::bench
