// `dcsr train` (basic training, dcsr-spec §10.3). `dcsr sra` (cmd_sra.cpp) runs
// the same loop (dcsr/training/trainer.h) with other defaults, through
// run_training() below.
#include <iostream>

#include "apps/dcsr/cmd_train.h"
#include "dcsr/training/trainer.h"
#include "nn/distributed.h"
#include "runtime/signals.h"

namespace dcsr::cli {

std::vector<OptionSpec> training_options() {
  return {{"config", "FILE", "JSON config (keys: dcsr/training/trainer.h, configs/*.json); defaults as in the help"},
          {"data", "DIR", "training set (config key data)"},
          {"val-data", "DIR", "validation set, LR/x2 + Ref/x2 + HR (val_data)"},
          {"monitor", "NAME=DIR[,ref_from=DIR2]",
           "also measure this set at every validation, logged as NAME, never used to choose model_best; ref_from: "
           "image i takes DIR2's Ref/x2 image i as its reference (config key monitor)",
           true},
          {"out", "DIR", "output folder for checkpoints and the log (out_dir)"},
          {"init", "MODEL", "start from this model (init)"},
          {"resume", "CKPT", "continue a run exactly from its checkpoint (model_latest.ckpt)"},
          {"steps", "N", "stop after N steps in all (max_steps)"},
          {"epochs", "N", "number of epochs (epochs)"},
          {"seed", "S", "random seed (seed)"},
          {"device", "cpu|cuda", "where to train (device)"},
          {"set", "KEY=VALUE", "set any config key; VALUE is read as JSON if it parses, else as text", true},
          {"threads", "N", "CPU threads"},
          {"quiet", "", "no progress bar"}};
}

namespace {

// --monitor NAME=DIR[,ref_from=DIR2], each one a key of the config's "monitor".
nlohmann::json monitor_sets(const CommandInfo& self, const Args& args) {
  nlohmann::json sets = nlohmann::json::object();
  for (const std::string& spec : args.get_all("monitor")) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw UsageError("dcsr " + self.name + ": --monitor " + spec + ": expected NAME=DIR[,ref_from=DIR2]");
    const std::string name = spec.substr(0, eq);
    std::string data = spec.substr(eq + 1);
    std::string ref_from;
    const std::string ref_key = ",ref_from=";
    const size_t cut = data.find(ref_key);
    if (cut != std::string::npos) ref_from = data.substr(cut + ref_key.size()), data = data.substr(0, cut);
    if (sets.contains(name)) throw UsageError("dcsr " + self.name + ": --monitor: the name '" + name + "' is given twice");
    sets[name] = MonitorSet{data, ref_from};
  }
  return sets;
}

}  // namespace

int run_training(const CommandInfo& self, const std::vector<std::string>& argv, bool sra) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  apply_threads(args);
  // Named flags are shorthands for config keys; --set comes last and wins.
  nlohmann::json overrides = nlohmann::json::object();
  auto text = [&](const char* flag, const char* key) {
    if (args.has(flag)) overrides[key] = args.get(flag);
  };
  text("data", "data");
  text("val-data", "val_data");
  text("out", "out_dir");
  text("init", "init");
  text("device", "device");
  if (args.has("steps")) overrides["max_steps"] = args.get_int_in("steps", 0, 0, int64_t(1) << 40);
  if (args.has("epochs")) overrides["epochs"] = args.get_int_in("epochs", 0, 1, 1000000000);
  if (args.has("seed")) overrides["seed"] = args.get_u64("seed", 1);
  if (args.has("monitor")) overrides["monitor"] = monitor_sets(self, args);
  TrainConfig scratch;  // collects --set values with their parsed types
  for (const std::string& assignment : args.get_all("set")) {
    try {
      apply_override(scratch, assignment);
    } catch (const Error& e) {
      throw UsageError("dcsr " + self.name + ": --set " + assignment + ": " + e.what());
    }
    const std::string key = assignment.substr(0, assignment.find('='));
    overrides[key] = scratch.to_json()[key];
  }

  TrainOptions options;
  options.progress = !args.has("quiet");
  options.expect_sra = sra ? 1 : 0;
  TrainConfig config = sra ? TrainConfig::sra_defaults() : TrainConfig::basic_defaults();
  if (args.has("resume")) {
    if (overrides.contains("init") || overrides.contains("vgg_init"))
      throw UsageError("dcsr " + self.name + ": --resume continues a run with its own weights; --init (init, vgg_init) "
                       "starts a new run from a model: use one of them");
    if (args.has("config"))
      throw UsageError("dcsr " + self.name + ": --resume continues with the checkpoint's own config; "
                       "drop --config (use --set to change single keys)");
    options.resume = args.get("resume");
    options.resume_overrides = overrides;
  } else {
    if (args.has("config")) config = load_train_config(args.get("config"), config);
    config = TrainConfig::from_json(overrides, config);
    if (sra && config.init.empty())
      throw UsageError("dcsr sra: SRA fine-tunes a trained model: pass --init MODEL (the basic model, "
                       "e.g. experiments/basic/model_latest.ckpt)");
  }
  // SIGINT / SIGTERM: finish the step, save model_latest, write a stop line
  // naming the signal, exit 128 + signal; a second signal stops at once.
  runtime::install_stop_handlers(runtime::StopMode::kAtStepBoundary);
  options.stop_requested = [] {
    const int signal = runtime::stop_signal();
    return signal ? runtime::signal_name(signal) : std::string();
  };
  TrainResult r = train(config, options);
  const bool root = distributed::world().is_root();  // the summary once, not once a rank
  if (root) {
    std::cout << self.name << ": " << r.steps << " steps, " << r.epochs << " epochs, ";
    if (r.steps_run > 0)
      std::cout << "last loss " << r.last_loss;
    else
      std::cout << "no step run now";
    if (r.best_val_psnr >= 0) std::cout << ", best validation PSNR " << r.best_val_psnr << " dB";
    std::cout << "\ncheckpoint: " << r.checkpoint << "\n";
  }
  if (r.stopped_by.empty()) return 0;
  if (root)
    std::cout << self.name << ": stopped by " << r.stopped_by << "; continue with --resume " << r.checkpoint << "\n";
  // The ranks stopped together (the trainer's stop_request), the checkpoint
  // saved: every rank exits with 128 + the signal one of them got, and none
  // aborts the others.
  int signal = runtime::stop_signal();
  if (distributed::world().size > 1) {
    std::string agreed;
    for (const std::string& s : distributed::gather(std::to_string(signal)))
      if (agreed.empty() || std::stoi(s) > std::stoi(agreed)) agreed = s;
    distributed::broadcast(agreed);
    signal = std::stoi(agreed);
    distributed::set_exit_status_agreed();
  }
  return 128 + signal;
}

namespace {
int run_train(const CommandInfo& self, const std::vector<std::string>& argv) { return run_training(self, argv, false); }
}  // namespace

CommandInfo train_command() {
  CommandInfo c;
  c.name = "train";
  c.runs_on_ranks = true;
  c.summary = "train DCSR on a dataset (4k mode, HR target)";
  c.usage = "dcsr train --data DIR [--val-data DIR] [--monitor NAME=DIR]... [--out DIR] [--config FILE] "
            "[--set KEY=VALUE]... [--resume CKPT]";
  c.details =
      "Defaults (= configs/train_basic.json): batch 4, patch 128, 300 patches per image and epoch, n_feats 64,\n"
      "loss 1*L1+0.05*CX_ref+0.01*CX_hr in the patch4 feature space, Adam lr 1e-4, milestones 20/45/80 (x0.5),\n"
      "1000 epochs, seed 1. Writes OUT/model_latest.ckpt (model + Adam + RNG state), model_best.ckpt (best\n"
      "validation PSNR) and train_log.jsonl. --resume continues exactly where the checkpoint left off.\n"
      "--monitor sets (real pairs beside a synthetic --val-data, say) are measured at every validation and\n"
      "logged as \"monitor\" lines; dcsr plot-log draws them.\n"
      "A NaN/Inf loss stops with status 3 and keeps the last good checkpoint. Ctrl-C (SIGINT) or SIGTERM\n"
      "stops after the current step: model_latest.ckpt is saved, a stop line written, status 130 / 143.";
  c.options = training_options();
  c.run = run_train;
  return c;
}

}  // namespace dcsr::cli
