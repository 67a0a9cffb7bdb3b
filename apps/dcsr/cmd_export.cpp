// `dcsr export`: a training checkpoint (model + Adam state + loop state, as
// `dcsr train` writes it) reduced to what inference needs: the model's
// weights and config. A width-32 model is 4 MB this way instead of 12 MB;
// the training config stays in the header for provenance, its folders
// reduced to their last component.
#include <filesystem>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "dcsr/inference/eval.h"
#include "nn/checkpoint.h"

namespace dcsr::cli {

namespace {

int run_export(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string in_path = args.require("model"), out_path = args.require("out");
  OutputFiles outputs;
  outputs.declare_input(in_path, "model");
  outputs.declare(out_path, "out");
  load_model(in_path);  // a checkpoint that is not a loadable model fails here, before anything is written
  const Checkpoint full = read_checkpoint(in_path);
  Checkpoint weights;
  weights.config = full.config;
  int64_t dropped = 0;
  for (const auto& [name, t] : full.tensors) {
    if (name.rfind(kOptimizerPrefix, 0) == 0) ++dropped;
    else weights.tensors.emplace_back(name, t);
  }
  if (full.extra.contains("train_config")) {
    // Folders are reduced to their last component: a shared model should not
    // carry the trainer's folder layout.
    nlohmann::json config = full.extra["train_config"];
    auto last_component = [](nlohmann::json& value) {
      if (!value.is_string() || value.get<std::string>().empty()) return;
      std::filesystem::path folder(value.get<std::string>());
      if (!folder.has_filename()) folder = folder.parent_path();  // "runs/a/": "a", not ""
      value = folder.filename().string();
    };
    for (const char* key : {"data", "val_data", "out_dir", "init", "vgg_init", "vgg_weights"})
      if (config.contains(key)) last_component(config[key]);
    if (config.contains("monitor") && config["monitor"].is_object())
      for (auto& [name, set] : config["monitor"].items()) {
        if (set.is_string()) last_component(set);
        if (set.is_object())
          for (auto& [key, folder] : set.items()) last_component(folder);
      }
    weights.extra["train_config"] = config;
  }
  if (full.extra.contains("loop") && full.extra["loop"].contains("step"))
    weights.extra["trained_steps"] = full.extra["loop"]["step"];
  weights.extra["exported_from"] = "a dcsr training checkpoint, optimiser state dropped";
  outputs.write(out_path, [&](const std::string& path) { save_checkpoint(path, weights); });
  load_model(out_path);  // the result must load strictly as a model, or the old file is put back
  outputs.commit();
  std::cout << "wrote " << out_path << ": " << weights.tensors.size() << " model tensors (" << dropped
            << " optimiser tensors dropped)\n";
  return 0;
}

}  // namespace

CommandInfo export_command() {
  CommandInfo c;
  c.name = "export";
  c.summary = "keep only a checkpoint's model weights and config (for inference and distribution)";
  c.usage = "dcsr export --model CKPT --out OUT.ckpt";
  c.details = "Drops the Adam state and the training loop state; the training config stays in the header, "
              "its folders reduced to their last component. "
              "The result loads with --model everywhere but cannot be resumed.";
  c.options = {{"model", "CKPT", "checkpoint written by dcsr train or dcsr sra"},
               {"out", "OUT.ckpt", "the model-only checkpoint to write"}};
  c.run = run_export;
  return c;
}

}  // namespace dcsr::cli
