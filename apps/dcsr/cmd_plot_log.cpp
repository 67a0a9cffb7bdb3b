// `dcsr plot-log`: the loss curves of a training log as a PNG (dcsr/figures/plot_log.h).
#include <iostream>

#include "apps/dcsr/cli.h"
#include "dcsr/figures/plot_log.h"
#include "io/image_io.h"

namespace dcsr::cli {

namespace {

int run_plot_log(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv, /*max_positionals=*/64);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  if (args.positionals().empty()) throw UsageError("dcsr plot-log: missing the log file (LOG.jsonl)");
  const std::vector<std::string>& log_paths = args.positionals();
  const std::string out_path = args.require("out");
  std::string joined;
  for (const std::string& path : log_paths) joined += (joined.empty() ? "" : " + ") + path;
  PlotOptions opt;
  opt.smooth = args.get_int_in("smooth", 0, 0, 1000000);  // 0: automatic
  opt.width = args.get_int_in("width", 1000, 400, 8000);
  opt.title = args.get("title", "training loss: " + joined);
  OutputFiles outputs;
  for (const std::string& path : log_paths) outputs.declare_input(path, "log");
  outputs.declare(out_path, "out");
  check_image_output(out_path);  // PNG or JPEG by the extension, as every image output
  TrainingLog log = read_training_logs(log_paths);
  outputs.write(out_path, [&](const std::string& path) { write_image(path, plot_training_log(log, opt)); });
  outputs.commit();
  std::cout << "wrote " << out_path << " (" << log.losses[0].step.size() << " train points, "
            << log.val_psnr.step.size() << " validation points";
  for (const PsnrCurves& m : log.monitors) std::cout << ", " << m.psnr.step.size() << " of '" << m.name << "'";
  std::cout << ")\n";
  return 0;
}

}  // namespace

CommandInfo plot_log_command() {
  CommandInfo c;
  c.name = "plot-log";
  c.summary = "plot the loss curves and validation PSNR of a training log (train_log.jsonl) as a PNG";
  c.usage = "dcsr plot-log LOG.jsonl [MORE.jsonl ...] --out PLOT.png [--smooth N] [--title TEXT] [--width PX]";
  c.details =
      "Top: the total loss and each loss term against the step (log scale), the logged values faint and\n"
      "their moving average bold. Below, when the log has validation lines: the validation PSNR and the\n"
      "bicubic PSNR of the same images (dashed), and the same for each monitored set (dcsr train --monitor).\n"
      "Steps logged again after a resume replace the earlier ones. Several logs are runs that continue one\n"
      "another (a run started with --init from the one before): drawn as one curve, each log's steps counted\n"
      "on from the last step of the logs before it.";
  c.options = {{"out", "PLOT.png", "the figure (PNG, or JPEG by the extension)"},
               {"smooth", "N", "moving average over N log lines (default 0: about 1/20 of them, 1..50)"},
               {"title", "TEXT", "the title (default: 'training loss: LOG.jsonl')"},
               {"width", "PX", "image width (default 1000)"}};
  c.run = run_plot_log;
  return c;
}

}  // namespace dcsr::cli
