// `dcsr prepare`: a CameraFusion-layout dataset from ordinary photos (dcsr/data/prepare.h).
#include <iostream>

#include "apps/dcsr/cli.h"
#include "dcsr/inference/eval.h"
#include "dcsr/data/prepare.h"
#include "dcsr/data/real_pairs.h"
#include "dcsr/inference/progress.h"

namespace dcsr::cli {

namespace {

// --real: CameraFusion's protocol on real pairs (dcsr/data/real_pairs.h).
int run_prepare_real(const Args& args) {
  for (const char* option : {"photos", "seed", "sim"})
    if (args.has(option))
      throw UsageError(std::string("dcsr prepare: --") + option + " is for simulated pairs, not with --real");
  RealPrepareOptions opt;
  opt.wide_dir = args.require("wide");
  opt.tele_dir = args.require("tele");
  opt.out_dir = args.require("out");
  opt.force = args.has("force");
  apply_threads(args);
  device_option(args, "prepare", /*require_gpu=*/false);  // the registration runs on the CPU
  ProgressBar bar("prepare --real", 0);
  opt.progress = [&](int64_t done, int64_t total, const std::string& name) {
    bar.set_total(total);
    bar.update(done, name);
  };
  const int64_t n = prepare_real_dataset(opt);
  bar.finish();
  std::cout << "wrote " << n << " real pairs to " << opt.out_dir
            << " (HR, LR/x2, Ref/x2, LR/x1, Ref/x1, prepare.json with each registration)\n";
  return 0;
}

int run_prepare(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  if (args.has("real")) return run_prepare_real(args);
  if (args.has("wide") || args.has("tele")) throw UsageError("dcsr prepare: --wide and --tele go with --real");
  PrepareOptions opt;
  opt.photos_dir = args.require("photos");
  opt.out_dir = args.require("out");
  opt.seed = args.get_u64("seed", 1);
  opt.force = args.has("force");
  const std::string sim = args.get("sim", "camera");
  if (sim != "camera" && sim != "classic")
    throw UsageError("dcsr prepare: --sim must be camera or classic, got '" + sim + "'");
  opt.simulation = parse_simulation(sim);
  apply_threads(args);
  device_option(args, "prepare", /*require_gpu=*/false);  // accepted for uniformity; the simulation runs on the CPU
  ProgressBar bar("prepare", 0);
  opt.progress = [&](int64_t done, int64_t total, const std::string& name) {
    bar.set_total(total);
    bar.update(done, name);
  };
  int64_t n = prepare_dataset(opt);
  bar.finish();
  std::cout << "wrote " << n << " pairs to " << opt.out_dir << " (HR, LR/x2, Ref/x2, LR/x1, Ref/x1, prepare.json)\n";
  return 0;
}

}  // namespace

CommandInfo prepare_command() {
  CommandInfo c;
  c.name = "prepare";
  c.summary = "make a training/evaluation dataset from ordinary photos (simulated dual camera)";
  c.usage = "dcsr prepare --photos DIR --out DIR [--seed S] [--sim camera|classic]\n"
            "       dcsr prepare --real --wide DIR --tele DIR --out DIR";
  c.details =
      "Every photo becomes HR (cropped to a multiple of 8), LR/x2 (antialiased bicubic 1/2), LR/x1 (= HR),\n"
      "Ref/x2 (a simulated telephoto showing the central half of HR at full resolution, the LR's pixel size)\n"
      "and Ref/x1 (the same view at twice the density).\n"
      "--sim camera (default): each photo draws its own zoom around 2 (normalised back to 2), residual\n"
      "rotation/scale/shift, smooth parallax displacement, lens blur, vignetting, signal-dependent noise,\n"
      "white balance/colour matrix/exposure/gamma, JPEG (dcsr/data/camera_sim.h).\n"
      "--sim classic: the simulation models/default.ckpt was trained with: rotation +-2 deg, scale +-3%,\n"
      "shift +-4 px, colour gain +-5%, gamma +-0.1, blur sigma 0.2-0.5, noise 0.5-2/255 (dcsr/data/prepare.h).\n"
      "Every drawn parameter goes to OUT/prepare.json; the same seed gives the same bytes.\n"
      "--real: real pairs (WIDE_DIR and TELE_DIR paired by sorted name), CameraFusion's protocol: HR = the\n"
      "window of the wide image whose central half the telephoto sees (registered as dcsr register), LR =\n"
      "HR/2, Ref/x1 = the telephoto resampled to twice HR's density over its central half, Ref/x2 = Ref/x1\n"
      "halved; LR/x1 = HR (dcsr/data/real_pairs.h).";
  c.options = {{"photos", "DIR", "folder of photos (PNG, JPEG, BMP, HEIC; at least 32x32)"},
               {"real", "", "real pairs instead of photos: --wide and --tele"},
               {"wide", "DIR", "with --real: the wide camera's images"},
               {"tele", "DIR", "with --real: the telephoto images (paired with --wide by sorted name)"},
               {"out", "DIR", "output dataset folder (must be empty or new)"},
               {"seed", "S", "random seed of the perturbations (default 1)"},
               {"sim", "camera|classic", "telephoto simulation (default camera; classic: the default model's)"},
               {"force", "", "write into a non-empty output folder"},
               {"device", "cpu|cuda", "accepted for uniformity; the simulation runs on the CPU"},
               {"threads", "N", "CPU threads"}};
  c.run = run_prepare;
  return c;
}

}  // namespace dcsr::cli
