// What `dcsr train` and `dcsr sra` share: their options and their run.
#pragma once
#include <string>
#include <vector>

#include "apps/dcsr/cli.h"

namespace dcsr::cli {

std::vector<OptionSpec> training_options();

// Parses the options into a TrainConfig (SRA's defaults when `sra`), trains,
// and prints the summary; returns the exit status.
int run_training(const CommandInfo& self, const std::vector<std::string>& argv, bool sra);

}  // namespace dcsr::cli
