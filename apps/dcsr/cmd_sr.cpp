// `dcsr sr`: super-resolve one wide image with its telephoto reference.
#include <chrono>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "autograd/ops/elementwise.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/progress.h"
#include "io/image_io.h"

namespace dcsr::cli {

namespace {

int run_sr(const CommandInfo& self, const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string lr_path = args.require("lr"), ref_path = args.require("ref"), out_path = args.require("out");
  const std::string conf_path = args.get("confidence"), warped_path = args.get("warped-ref");
  Mode mode;
  try {
    mode = mode_from_name(args.get("mode", "4k"));
  } catch (const Error& e) {
    throw UsageError(std::string("dcsr sr: option --mode: ") + e.what());
  }
  apply_threads(args);
  OutputFiles outputs;
  outputs.declare(out_path, "out");
  if (!conf_path.empty()) outputs.declare(conf_path, "confidence");
  if (!warped_path.empty()) outputs.declare(warped_path, "warped-ref");
  const Device device = select_device(args.get("device", "cpu"));

  const auto reading_start = std::chrono::steady_clock::now();
  Tensor lr = read_image(lr_path), ref = read_image(ref_path);
  const double reading_s = seconds_since(reading_start);
  DCSR_CHECK(lr.size(2) == ref.size(2) && lr.size(3) == ref.size(3), "the reference '", ref_path, "' is ",
             ref.size(3), "x", ref.size(2), " but the wide image '", lr_path, "' is ", lr.size(3), "x", lr.size(2),
             ": the telephoto must have the wide image's pixel size (it shows the central half of the view at "
             "twice the density, dcsr-spec §10.1)");
  const std::string model_path = resolve_model_path(args.get("model"));
  const auto model_start = std::chrono::steady_clock::now();
  std::unique_ptr<DcsrNet> net = load_model(model_path, device);  // on CUDA: the device's start-up too
  const double model_s = seconds_since(model_start);

  TiledOptions opt;
  opt.want_confidence = !conf_path.empty();
  opt.want_warped_ref = !warped_path.empty();
  std::unique_ptr<ProgressBar> bar;
  if (!args.has("quiet")) {
    bar = std::make_unique<ProgressBar>("sr tiles", 0);
    opt.progress = [&](int64_t done, int64_t total) {
      bar->set_total(total);
      bar->update(done);
    };
  }
  const auto inference_start = std::chrono::steady_clock::now();
  // Every tile's result is on the CPU when this returns (place_core copies it).
  TiledResult r = tiled_inference(lr, ref, mode, network_tile_forward(*net, mode), opt);
  const double inference_s = seconds_since(inference_start);
  if (bar) bar->finish();

  const auto writing_start = std::chrono::steady_clock::now();
  write_png(out_path, r.sr);
  outputs.written(out_path);
  if (opt.want_confidence) {
    write_png(conf_path, r.confidence);  // max cosine similarity, clamped to [0, 1]
    outputs.written(conf_path);
  }
  if (opt.want_warped_ref) {
    write_png(warped_path, add(r.warped_ref, 0.5));  // high frequencies around mid-grey
    outputs.written(warped_path);
  }
  outputs.commit();
  const double writing_s = seconds_since(writing_start);
  if (!args.has("quiet"))
    std::cerr << "wrote " << out_path << " (" << r.sr.size(3) << "x" << r.sr.size(2) << "): tiled inference "
              << inference_s << " s on " << device_name(device) << ", " << seconds_since(start)
              << " s in all (reading " << reading_s << " s, model " << model_s << " s, PNG writing " << writing_s
              << " s)\n";
  return 0;
}

}  // namespace

CommandInfo sr_command() {
  CommandInfo c;
  c.name = "sr";
  c.summary = "super-resolve a wide image x2 with its telephoto reference";
  c.usage = "dcsr sr --lr WIDE --ref TELE --out OUT.png [--model M] [--mode 4k|8k] [--confidence C.png] "
            "[--warped-ref W.png] [--device cpu|cuda]";
  c.details =
      "WIDE and TELE must have the same pixel size: TELE shows the central half of WIDE's view at twice\n"
      "the density (CameraFusion's LR/x2 + Ref/x2 in 4k mode, LR/x1 + Ref/x1 in 8k mode). Any size works:\n"
      "the image is processed in tiles (dcsr-spec §8) and the output is exactly twice the input.\n"
      "Without --model: $DCSR_MODEL, else models/default.ckpt.\n"
      "--confidence writes the matching confidence (LR resolution in 4k mode, half of it in 8k mode);\n"
      "--warped-ref writes the aligned reference high frequencies + 0.5 (SR resolution).";
  c.options = {{"lr", "WIDE", "the wide-angle image (PNG, JPEG, BMP)"},
               {"ref", "TELE", "the telephoto image, same pixel size"},
               {"out", "OUT.png", "the x2 result (PNG)"},
               {"model", "M", "model checkpoint (default: $DCSR_MODEL or models/default.ckpt)"},
               {"mode", "4k|8k", "tile and matching mode (default 4k)"},
               {"confidence", "C.png", "also write the matching confidence map"},
               {"warped-ref", "W.png", "also write the aligned reference high frequencies"},
               {"device", "cpu|cuda", "where the network runs (default cpu)"},
               {"threads", "N", "CPU threads"},
               {"quiet", "", "no progress output"}};
  c.run = run_sr;
  return c;
}

}  // namespace dcsr::cli
