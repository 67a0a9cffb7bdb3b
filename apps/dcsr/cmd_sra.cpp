// `dcsr sra`: self-supervised real-image adaptation of a trained model
// (dcsr-spec §10.4), the training loop of `dcsr train` with SRA's defaults.
#include "apps/dcsr/cmd_train.h"

namespace dcsr::cli {

CommandInfo sra_command() {
  CommandInfo c;
  c.name = "sra";
  c.runs_on_ranks = true;
  c.summary = "self-supervised real-image adaptation of a trained model (8k mode, LR target)";
  c.usage = "dcsr sra --data DIR --init MODEL [--val-data DIR] [--monitor NAME=DIR]... [--out DIR] [--config FILE] "
            "[--set KEY=VALUE]...";
  c.details =
      "Defaults (= configs/sra.json): like train, but LR/x1 + Ref/x1 with the LR crop as target, 8k mode,\n"
      "loss 1*L1+0.1*CX_ref, 3 epochs, out_dir experiments/sra. Validation (--val-data) runs in val_mode\n"
      "(default 4k) on LR/x2 + Ref/x2 against HR, the only setting with a ground truth.";
  c.options = training_options();
  c.run = [](const CommandInfo& self, const std::vector<std::string>& argv) { return run_training(self, argv, true); };
  return c;
}

}  // namespace dcsr::cli
