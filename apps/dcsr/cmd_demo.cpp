// `dcsr demo`: the embedded real dual-camera pair (demo/, see
// demo/ATTRIBUTION.md) super-resolved x2 with the default model, next to
// bicubic and the reference.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "apps/dcsr/sr_batch.h"
#include "dcsr/figures/compose.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/metrics.h"
#include "dcsr/inference/progress.h"
#include "io/image_io.h"

namespace dcsr::cli {

namespace {
namespace fs = std::filesystem;

const char* kGetModel =
    "The default model is part of the repository (models/default.ckpt, described in models/README.md). "
    "Without it: train one (dcsr prepare --photos PHOTOS --out data/train, then dcsr train --config "
    "configs/default_model.json --data data/train --out experiments/default) and run dcsr demo --model "
    "experiments/default/model_latest.ckpt, or convert the published weights (docs/published_weights.md); "
    "DCSR_MODEL=FILE also works";

// The model file: --model, else $DCSR_MODEL, else (8K mode) models/real.ckpt
// when shipped, else models/default.ckpt; a missing file fails here, with how
// to get one, before any work is done.
std::string demo_model(const Args& args, Mode mode) {
  std::string path;
  try {
    path = resolve_model_path(args.get("model"), mode);
  } catch (const Error& e) {
    fail(e.what());  // the places it looked, and how to get a model
  }
  std::error_code ec;
  DCSR_CHECK(fs::is_regular_file(path, ec), "the model '", path, "' does not exist. ", kGetModel);
  return path;
}

// --lr / --ref, else the embedded pair.
std::string demo_image(const Args& args, const std::string& option, const std::string& embedded) {
  if (args.has(option)) return args.get(option);
  std::string found = find_repo_file(embedded);
  DCSR_CHECK(!found.empty(), "the demo image '", embedded,
             "' was not found: run dcsr demo from the repository's root folder, or pass --lr and --ref");
  return found;
}

// Mean of the confidence map over the telephoto's view (LR pixels) and outside it.
void confidence_means(const Tensor& conf, const Region& fov, double& inside, double& outside) {
  const int64_t h = conf.size(2), w = conf.size(3);
  const float* c = conf.data<float>();
  double sum_in = 0, sum_out = 0;
  int64_t n_in = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const bool in = y >= fov.top && y < fov.top + fov.height && x >= fov.left && x < fov.left + fov.width;
      (in ? sum_in : sum_out) += c[y * w + x];
      n_in += in;
    }
  inside = n_in ? sum_in / double(n_in) : 0;
  outside = h * w > n_in ? sum_out / double(h * w - n_in) : 0;
}

int run_demo(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  Mode mode;
  try {
    mode = mode_from_name(args.get("mode", "8k"));
  } catch (const Error& e) {
    throw UsageError(std::string("dcsr demo: option --mode: ") + e.what());
  }
  if (args.has("lr") != args.has("ref")) throw UsageError("dcsr demo: --lr and --ref go together");
  apply_threads(args);
  const bool quiet = args.has("quiet");
  const Device device = device_option(args, "demo");

  // Everything that can be checked cheaply, before minutes of work.
  const std::string lr_path = demo_image(args, "lr", "demo/ultrawide.jpg");
  const std::string ref_path = demo_image(args, "ref", "demo/wide.jpg");
  const std::string model_path = demo_model(args, mode);
  const std::string registration = args.get("registration", "auto");
  // The three files are written into a staging folder that the commit moves
  // into DIR (io/output_rules.h): all three or none, never over an input.
  const fs::path out_dir = args.get("out", "out/demo");
  if (out_dir.empty()) throw UsageError("dcsr demo: --out needs a folder name");
  OutputFiles outputs;
  outputs.declare_input(lr_path, "lr");
  outputs.declare_input(ref_path, "ref");
  outputs.declare_input(model_path, "model");
  if (registration != "auto" && registration != "none") outputs.declare_input(registration, "registration");
  const fs::path stage =
      outputs.plan().stage_folder(out_dir.string(), "--out", {"sr.png", "side_by_side.png", "confidence.png"});
  const std::string sr_path = (out_dir / "sr.png").string();
  const std::string figure_path = (out_dir / "side_by_side.png").string();
  const std::string conf_path = (out_dir / "confidence.png").string();
  std::unique_ptr<DcsrNet> net = load_model(model_path, device);
  // As `dcsr sr` does: the telephoto registered and resampled to twice the
  // wide's density over its view (dcsr/registration/), or used as it is.
  const PreparedPair pair = prepare_pair(lr_path, ref_path, registration);
  const Tensor lr = pair.lr.to_tensor(), ref = pair.ref.to_tensor();  // a demo-sized pair: held as floats
  if (!quiet && !pair.registration_line.empty()) std::cerr << "dcsr demo: " << pair.registration_line << "\n";

  const auto start = std::chrono::steady_clock::now();
  TiledOptions opt;
  opt.want_confidence = true;
  pair.place(opt);
  std::unique_ptr<ProgressBar> bar;
  if (!quiet) {
    std::cerr << "dcsr demo: super-resolving " << lr_path << " (" << lr.size(3) << "x" << lr.size(2) << ") with "
              << ref_path << " as the reference, " << mode_name(mode) << " mode, model " << model_path
              << " (n_feats " << net->config().n_feats << ")\n";
    bar = std::make_unique<ProgressBar>("demo tiles", 0);
    opt.progress = [&](int64_t done, int64_t total) {
      bar->set_total(total);
      bar->update(done);
    };
  }
  TiledResult r = tiled_inference(lr, ref, mode, network_tile_forward(*net, mode), opt);
  if (bar) bar->finish();
  const double seconds = seconds_since(start);

  const Tensor bicubic = bicubic_upsample(lr);
  // The telephoto's view: SR pixels in the figure, LR pixels for the confidence.
  const Region lr_view = pair.view ? Region{pair.view->y0, pair.view->x0, pair.view->height, pair.view->width}
                                   : fov_region(lr.size(2), lr.size(3));
  const Region sr_view{2 * lr_view.top, 2 * lr_view.left, 2 * lr_view.height, 2 * lr_view.width};
  // The telephoto's part over the view (the Ref may reach beyond it: pair.ref_rect).
  const Tensor ref_view =
      pair.ref_rect ? crop(ref, {2 * (lr_view.top - pair.ref_rect->y0), 2 * (lr_view.left - pair.ref_rect->x0),
                                 sr_view.height, sr_view.width})
                    : ref;
  const Tensor figure = compose_side_by_side(bicubic, r.sr, ref_view, {}, sr_view);
  const Tensor confidence = confidence_at(r.confidence, lr.size(2), lr.size(3));  // values already in [0, 1]
  write_png((stage / "sr.png").string(), r.sr);
  write_png((stage / "side_by_side.png").string(), figure);
  write_png((stage / "confidence.png").string(), confidence);
  outputs.commit();

  double conf_in = 0, conf_out = 0;
  confidence_means(confidence, lr_view, conf_in, conf_out);
  int64_t tiles = 0;
  for (int64_t n : r.window_counts) tiles += n;
  char line[512];
  std::snprintf(line, sizeof(line), "dcsr demo: %lldx%lld -> %lldx%lld, %s mode, %lld tiles, %.1f s\n",
                (long long)lr.size(3), (long long)lr.size(2), (long long)r.sr.size(3), (long long)r.sr.size(2),
                mode_name(mode), (long long)tiles, seconds);
  std::cout << line;
  // One line per file, the descriptions aligned (side_by_side.png is the longest name).
  const size_t pad = figure_path.size() + 3;
  auto row = [&](const std::string& path, const std::string& what) {
    std::cout << "  " << path << std::string(pad - path.size(), ' ') << what << "\n";
  };
  row(sr_path, "the result, " + std::to_string(r.sr.size(3)) + "x" + std::to_string(r.sr.size(2)));
  row(figure_path, "bicubic x2 | ours | the reference; below, a 2x zoom of the cyan box (orange: the telephoto's view)");
  std::snprintf(line, sizeof(line), "matching confidence (white: matched): mean %.2f inside the telephoto's view, "
                "%.2f outside", conf_in, conf_out);
  row(conf_path, line);
  return 0;
}

}  // namespace

CommandInfo demo_command() {
  CommandInfo c;
  c.name = "demo";
  c.summary = "super-resolve the embedded real dual-camera pair and write a side-by-side comparison";
  c.usage = "dcsr demo [--model M] [--out DIR] [--mode 8k|4k] [--lr WIDE --ref TELE] [--registration auto|none|R.json]";
  c.details =
      "The embedded pair (demo/ultrawide.jpg as the wide camera, demo/wide.jpg as the telephoto; real phone\n"
      "frames, demo/ATTRIBUTION.md) is super-resolved x2 at full size in 8k mode (the real-image mode,\n"
      "dcsr-spec §7; --mode 4k: the same frames with 4k-mode matching). Writes into DIR (default out/demo):\n"
      "  sr.png            the result (twice the input size)\n"
      "  side_by_side.png  bicubic x2 | ours | the reference placed where its view lies, the telephoto's\n"
      "                    view outlined (orange), and a 2x nearest-neighbour zoom of one region (cyan box)\n"
      "  confidence.png    the matching confidence at the input's size (8k mode: each value covers 2x2)\n"
      "Without --model: $DCSR_MODEL, else in 8k mode models/real.ckpt (the SRA-adapted model) when present, else models/default.ckpt.";
  c.options = {{"model", "M", "model checkpoint (default: $DCSR_MODEL, else models/real.ckpt in 8k mode when present, else models/default.ckpt)"},
               {"out", "DIR", "output folder, created if needed (default out/demo)"},
               {"mode", "8k|4k", "matching mode (default 8k)"},
               {"lr", "WIDE", "another wide image instead of demo/ultrawide.jpg"},
               {"ref", "TELE", "its telephoto image"},
               {"registration", "auto|none|R.json", "where the telephoto's view lies, as for dcsr sr (default auto)"},
               {"device", "cpu|cuda", "where the network runs (default cpu)"},
               {"threads", "N", "CPU threads"},
               {"quiet", "", "no progress output"}};
  c.run = run_demo;
  return c;
}

}  // namespace dcsr::cli
