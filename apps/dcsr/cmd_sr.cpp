// `dcsr sr`: super-resolve a wide image with its telephoto reference, one
// pair (--lr/--ref/--out) or folders of pairs (--lr-dir/--ref-dir/--out-dir).
// The telephoto is registered to the wide image (dcsr/registration/) and,
// unless the pair is already in DCSR's canonical layout, resampled into it
// (normalise.h) before the tiled inference (dcsr-spec §8, any view).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <exception>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>

#include "apps/dcsr/cli.h"
#include "apps/dcsr/sr_batch.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/progress.h"
#include "dcsr/registration/normalise.h"
#include "dcsr/registration/register.h"
#include "io/image_io.h"
#include "nn/distributed.h"
#include "runtime/threads.h"

namespace dcsr::cli {

namespace {
namespace fs = std::filesystem;

std::string describe(const Registration& r, const std::string& source) {
  const Similarity& t = r.tele_to_wide;
  char line[320];
  std::snprintf(line, sizeof(line),
                "registration (%s): scale %.4f, angle %.3f deg, offset (%.2f, %.2f) px, confidence %.3f%s",
                source.c_str(), t.scale, t.angle * 180.0 / 3.14159265358979323846, t.tx, t.ty, r.confidence,
                r.identity ? ", identity: the canonical layout, used as it is" : "");
  return line;
}

void check_same_size(const CompactImage& lr, const CompactImage& ref, const std::string& lr_path,
                     const std::string& ref_path) {
  DCSR_CHECK(lr.height() == ref.height() && lr.width() == ref.width(), "the reference '", ref_path, "' is ",
             ref.width(), "x", ref.height(), " but the wide image '", lr_path, "' is ", lr.width(), "x", lr.height(),
             ": the telephoto must have the wide image's pixel size (it shows the central half of the view at "
             "twice the density, dcsr-spec §10.1)");
}

}  // namespace

// --registration FILE: what `dcsr register --json` wrote (sr_batch.h).
Registration read_registration_file(const std::string& path) {
  std::error_code ec;
  DCSR_CHECK(fs::is_regular_file(path, ec), "option --registration: '", path,
             "' is neither auto, none nor an existing registration JSON file (dcsr register --json)");
  std::ifstream in(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not a registration JSON file (", e.what(), ")");
  }
  return registration_from_json(j, path);
}

// A registration read from a file must be of this pair: its corners those
// of its transform for this telephoto's size, and `identity` only where the
// transform is the canonical layout of these images (callers then use the
// telephoto as it is, unchecked).
void check_registration_fits(const Registration& r, const CompactImage& wide, const CompactImage& tele,
                             const std::string& path) {
  const auto quad = fov_quad(r.tele_to_wide, tele.height(), tele.width());
  for (size_t i = 0; i < 4; ++i)
    DCSR_CHECK(std::hypot(quad[i][0] - r.fov_quad[i][0], quad[i][1] - r.fov_quad[i][1]) <= 0.5, path,
               ": its fov_quad does not match its transform for a ", tele.width(), "x", tele.height(),
               " telephoto (made for a telephoto of another size, or another pair?)");
  DCSR_CHECK(!r.identity || is_canonical_layout(r.tele_to_wide, wide.height(), wide.width(), tele.height(),
                                                tele.width()),
             path, ": 'identity' is true, but its transform is not the canonical layout of a ", wide.width(), "x",
             wide.height(), " wide image and a ", tele.width(), "x", tele.height(), " telephoto");
}

// registration: "auto", "none" or a JSON file.
PreparedPair prepare_pair(const std::string& lr_path, const std::string& ref_path, const std::string& registration) {
  PreparedPair p;
  // The two decodes run at once: an image decoder is one thread. An error in
  // the wide image is reported first, as when they ran one after the other
  // (when it throws, tele_read's destructor waits for the other decode).
  // Both are held compactly (8-bit where the files are): only what the
  // registration needs becomes float32, and only while it runs. The wide
  // image's profile and EXIF come from the same read: the output is in its
  // colour space. The registration and the resampling read the 8-bit samples
  // themselves (a 48 MP telephoto is never float32 whole).
  std::future<CompactImage> tele_read =
      std::async(std::launch::async, [&] { return read_image_compact(ref_path); });
  p.lr = read_image_compact(lr_path, &p.wide_metadata);
  CompactImage tele = tele_read.get();
  if (registration == "none") {
    check_same_size(p.lr, tele, lr_path, ref_path);
    p.ref = tele;
    return p;
  }
  Registration r;
  if (registration == "auto") {
    try {
      r = register_pair(p.lr, tele);
    } catch (const Error& e) {
      std::string message = e.what();
      if (message.find("--registration none") == std::string::npos)
        message += " (--registration none uses the pair as it is)";
      fail(lr_path, " + ", ref_path, ": ", message);
    }
  } else {
    r = read_registration_file(registration);
    check_registration_fits(r, p.lr, tele, registration);
  }
  p.registration_line = describe(r, registration == "auto" ? "auto" : registration);
  if (r.identity) {
    check_same_size(p.lr, tele, lr_path, ref_path);
    p.ref = tele;
    return p;
  }
  NormalisedReference n = normalise_reference(tele, r, p.lr.height(), p.lr.width());
  p.ref = CompactImage(n.ref);
  p.view = n.fov;
  p.ref_rect = n.ref_rect;
  p.registration_line += ", Ref " + std::to_string(n.ref.size(3)) + "x" + std::to_string(n.ref.size(2)) +
                         " over LR rows " + std::to_string(n.ref_rect.y0) + "+" + std::to_string(n.ref_rect.height) +
                         ", cols " + std::to_string(n.ref_rect.x0) + "+" + std::to_string(n.ref_rect.width) +
                         " (inside the view: rows " + std::to_string(n.fov.y0) + "+" + std::to_string(n.fov.height) +
                         ", cols " + std::to_string(n.fov.x0) + "+" + std::to_string(n.fov.width) + ")";
  return p;
}

namespace {

Mode parse_mode(const Args& args) {
  try {
    return mode_from_name(args.get("mode", "4k"));
  } catch (const Error& e) {
    throw UsageError(std::string("dcsr sr: option --mode: ") + e.what());
  }
}

// Where the tiled inference's time went (TilingTimes), for the timing line.
std::string tiling_times_text(const TilingTimes& t) {
  std::ostringstream text;
  text << "windows " << t.windows << " s, tile crops " << t.crops << " s, network calls " << t.network
       << " s, outputs to the CPU " << t.download << " s, placing " << t.placing << " s";
  return text.str();
}

int run_single(const Args& args, const SrSettings& s, const Device device) {
  const auto start = std::chrono::steady_clock::now();
  const std::string lr_path = args.require("lr"), ref_path = args.require("ref"), out_path = args.require("out");
  const std::string conf_path = args.get("confidence"), warped_path = args.get("warped-ref");
  const std::string model_path = resolve_model_path(args.get("model"), s.mode);
  OutputFiles outputs;
  outputs.declare_input(lr_path, "lr");
  outputs.declare_input(ref_path, "ref");
  outputs.declare_input(model_path, "model");
  if (s.registration != "auto" && s.registration != "none") outputs.declare_input(s.registration, "registration");
  outputs.declare(out_path, "out");
  if (!conf_path.empty()) outputs.declare(conf_path, "confidence");
  if (!warped_path.empty()) outputs.declare(warped_path, "warped-ref");
  check_image_output(out_path, s.write);
  // The two maps are 8-bit images in the format of their extension.
  if (!conf_path.empty()) check_image_output(conf_path);
  if (!warped_path.empty()) check_image_output(warped_path);

  // The model loads (on CUDA with the device's start-up, and a warm-up run
  // that loads CUDA's libraries and kernels: warm_up_network) while the pair
  // is read and registered. A bad model's error still comes first, before
  // any error of the pair.
  double model_s = 0.0;
  std::future<std::unique_ptr<DcsrNet>> model_load = std::async(std::launch::async, [&] {
    const auto model_start = std::chrono::steady_clock::now();
    std::unique_ptr<DcsrNet> loaded = load_model(model_path, device);
    if (device == kCUDA) warm_up_network(*loaded, s.mode);
    model_s = seconds_since(model_start);
    return loaded;
  });
  const auto reading_start = std::chrono::steady_clock::now();
  PreparedPair pair;
  std::exception_ptr pair_error;
  try {
    // On CUDA the loading thread is busy for a good part of a second (the
    // device's start-up, CUDA's libraries and kernels loaded by the warm-up),
    // so the registration's loops leave it a core: a loop thread sharing one
    // holds up every loop. (2 cores and a busy thread beside: dcsr register
    // took 0.58-0.67 s on 2 threads, 0.39 s on 1, 0.34 s on 2 alone.)
    ScopedThreadLimit leave_a_core(device == kCUDA ? num_threads() - 1 : num_threads());
    pair = prepare_pair(lr_path, ref_path, s.registration);
  } catch (...) {
    pair_error = std::current_exception();
  }
  const double reading_s = seconds_since(reading_start);  // with the registration
  std::unique_ptr<DcsrNet> net = model_load.get();
  if (pair_error) std::rethrow_exception(pair_error);
  if (!s.quiet && !pair.registration_line.empty()) std::cerr << pair.registration_line << "\n";

  TiledOptions opt;
  opt.batch_tiles = s.tile_batch;
  pair.place(opt);
  std::unique_ptr<ProgressBar> bar;
  if (!s.quiet) {
    bar = std::make_unique<ProgressBar>("sr tiles", 0);
    opt.progress = [&](int64_t done, int64_t total) {
      bar->set_total(total);
      bar->update(done);
    };
  }
  // The outputs are written as their rows finish (one band of memory).
  const auto inference_start = std::chrono::steady_clock::now();
  WritingTimes writing;
  const TiledResult tiled = super_resolve_to_files(pair, network_tile_forward(*net, s.mode), s, opt,
                                                   {out_path, conf_path, warped_path}, outputs, &writing);
  const double inference_s = seconds_since(inference_start) - writing.waited;
  if (bar) bar->finish();
  outputs.commit();
  const std::string behind_text =
      s.write_behind ? ", behind the inference, which waited for it " + std::to_string(writing.waited) + " s" : "";
  if (!s.quiet)
    std::cerr << "wrote " << out_path << " (" << 2 * pair.lr.width() << "x" << 2 * pair.lr.height() << ", model "
              << model_path << " in " << mode_name(s.mode) << " mode): tiled inference " << inference_s << " s on "
              << device_name(device) << " (" << tiling_times_text(tiled.times) << "), "
              << seconds_since(start) << " s in all (reading " << (s.registration == "auto" ? "and registration " : "")
              << reading_s << " s, meanwhile the model's loading" << (device == kCUDA ? " and warm-up " : " ")
              << model_s << " s; writing, as the rows came, " << writing.writing << " s" << behind_text << ")\n";
  return 0;
}

// ---- batch mode (the pairs' processing: sr_batch.cpp) ----

int run_batch(const Args& args, const SrSettings& s, const Device device) {
  for (const char* single : {"lr", "ref", "out", "confidence", "warped-ref"})
    if (args.has(single))
      throw UsageError(std::string("dcsr sr: --") + single + " does not go with --lr-dir/--ref-dir/--out-dir");
  const std::string lr_dir = args.require("lr-dir"), ref_dir = args.require("ref-dir");
  const std::string out_dir = args.require("out-dir"), ext = args.get("ext", "png");
  if (ext != "png" && ext != "jpg" && ext != "jpeg")
    throw UsageError("dcsr sr: option --ext expects png, jpg or jpeg, got '" + ext + "'");
  if (s.registration != "auto" && s.registration != "none")
    throw UsageError("dcsr sr: --registration FILE.json is for one pair; folders take auto or none");
  if (ext != "png" && s.write.bit_depth != 8)
    throw UsageError("dcsr sr: --bit-depth 16 needs --ext png (JPEG is 8-bit only)");
  const BatchPlan plan = plan_batch(lr_dir, ref_dir, out_dir, ext);
  // The model before the folder: a bad one leaves no folder behind.
  const std::string model_path = resolve_model_path(args.get("model"), s.mode);
  std::unique_ptr<DcsrNet> net = load_model(model_path, device);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  DCSR_CHECK(fs::is_directory(out_dir, ec), "cannot create the output folder '", out_dir, "'");
  return process_pairs(plan, network_tile_forward(*net, s.mode), s, model_path);
}

int run_sr(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  SrSettings s;
  s.mode = parse_mode(args);
  s.registration = args.get("registration", "auto");
  if (s.registration.empty()) throw UsageError("dcsr sr: option --registration expects auto, none or FILE.json");
  s.quiet = args.has("quiet");
  const int64_t bit_depth = args.get_int("bit-depth", 8), quality = args.get_int("quality", s.write.jpeg_quality);
  if (bit_depth != 8 && bit_depth != 16)
    throw UsageError("dcsr sr: option --bit-depth expects 8 or 16, got '" + args.get("bit-depth") + "'");
  if (quality < 1 || quality > 100)
    throw UsageError("dcsr sr: option --quality expects an integer from 1 to 100, got '" + args.get("quality") + "'");
  s.write.bit_depth = int(bit_depth), s.write.jpeg_quality = int(quality);
  const bool batch = args.has("lr-dir") || args.has("ref-dir") || args.has("out-dir");
  // Under mpirun every rank would do the one pair and write the same file.
  if (!batch && distributed::world().size > 1)
    throw UsageError("dcsr sr: one pair (--lr/--ref/--out) runs in one process; under mpirun, give folders "
                     "(--lr-dir/--ref-dir/--out-dir) to share their pairs over the ranks");
  apply_threads(args);
  const Device device = device_option(args, "sr");
  s.tile_batch = args.get_int_in("tile-batch", 1, 1, 256);
  s.band_bytes = output_band_bytes();
  s.write_behind = write_behind_for(device);
  return batch ? run_batch(args, s, device) : run_single(args, s, device);
}

}  // namespace

CommandInfo sr_command() {
  CommandInfo c;
  c.name = "sr";
  c.runs_on_ranks = true;
  c.summary = "super-resolve a wide image x2 with its telephoto reference";
  c.usage =
      "dcsr sr --lr WIDE --ref TELE --out OUT.png [--registration auto|none|R.json] [--model M] [--mode 4k|8k]\n"
      "         [--confidence C.png] [--warped-ref W.png] [--device cpu|cuda]\n"
      "       dcsr sr --lr-dir DIR --ref-dir DIR --out-dir DIR [--ext png|jpg] [--registration auto|none] ...";
  c.details =
      "TELE is registered to WIDE (--registration auto, the default): its zoom (1.2x to 16x), rotation\n"
      "(up to 15 degrees, or 5 off a quarter or half turn) and position (the view may run off WIDE's\n"
      "edge, half of it inside at least) are found and printed on one line with the confidence, and\n"
      "TELE is resampled to exactly twice WIDE's density over the part of the view it sees. A pair\n"
      "already in DCSR's layout (same pixel size, TELE = the central half at twice the density, e.g.\n"
      "CameraFusion's LR/x2 + Ref/x2) is detected and used as it is. An unrelated pair is refused\n"
      "(swapped photos, or two at the same zoom, are named as such); --registration none takes the\n"
      "pair as it is (then TELE must have WIDE's pixel size), R.json a saved registration (dcsr\n"
      "register --json). Any size works: the image is processed in tiles (dcsr-spec §8) and the output\n"
      "is exactly twice the input.\n"
      "Folders: files are paired by sorted name; OUT-DIR/<wide file's stem>.png (--ext); a bad pair is\n"
      "reported and skipped, and the exit status is 4 when any was (1: nothing done, 2: usage).\n"
      "Under mpirun -np N the pairs are shared over the ranks; rank 0 prints (docs/scaling.md).\n"
      "Without --model: $DCSR_MODEL, else in 8k mode models/real.ckpt (the SRA-adapted model) when present, else models/default.ckpt.\n"
      "--confidence writes the matching confidence (LR resolution in 4k mode, half of it in 8k mode);\n"
      "--warped-ref writes the aligned reference high frequencies + 0.5 (SR resolution).";
  c.options = {{"lr", "WIDE", "the wide-angle image (PNG, JPEG, BMP, HEIC)"},
               {"ref", "TELE", "the telephoto image"},
               {"out", "OUT.png", "the x2 result (.png or .jpg)"},
               {"registration", "auto|none|R.json", "how TELE lies in WIDE (default auto)"},
               {"lr-dir", "DIR", "folder of wide images (batch)"},
               {"ref-dir", "DIR", "folder of telephoto images, paired by sorted name (batch)"},
               {"out-dir", "DIR", "folder for the results (batch; created if missing)"},
               {"ext", "png|jpg", "the results' format in batch mode (default png)"},
               {"bit-depth", "8|16", "PNG bits per sample of the result (default 8; JPEG: 8 only)"},
               {"quality", "Q", "JPEG quality of the result, 1 to 100 (default 95)"},
               {"model", "M", "model checkpoint (default: $DCSR_MODEL, else models/real.ckpt in 8k mode when present, else models/default.ckpt)"},
               {"mode", "4k|8k", "tile and matching mode (default 4k)"},
               {"confidence", "C.png", "also write the matching confidence map (8-bit PNG or JPEG, by extension)"},
               {"warped-ref", "W.png", "also write the aligned reference high frequencies"},
               {"device", "cpu|cuda", "where the network runs (default cpu)"},
               {"tile-batch", "N", "tiles per network call, the same result for any N (default 1)"},
               {"threads", "N", "CPU threads"},
               {"quiet", "", "no progress output"}};
  c.run = run_sr;
  return c;
}

}  // namespace dcsr::cli
