// Shared pieces of the `dcsr` subcommands.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "apps/dcsr/args.h"

namespace dcsr::cli {

// A subcommand: its help and its entry point. run() gets the arguments after
// "dcsr <name>", returns the exit status and throws UsageError / Error on failure.
struct CommandInfo {
  std::string name, summary, usage, details;
  std::vector<OptionSpec> options;
  int (*run)(const CommandInfo& self, const std::vector<std::string>& argv) = nullptr;
};

// One per file cmd_<name>.cpp.
CommandInfo prepare_command();
CommandInfo train_command();
CommandInfo sra_command();
CommandInfo sr_command();
CommandInfo register_command();
CommandInfo eval_command();
CommandInfo demo_command();
CommandInfo plot_log_command();
CommandInfo resize_command();
CommandInfo export_command();
CommandInfo help_command();
CommandInfo detail_command();

// Every subcommand, in the order of the general help.
const std::vector<CommandInfo>& all_commands();
const CommandInfo* find_command(const std::string& name);
std::string general_help();
std::string command_help(const CommandInfo& command);

// The model used when --model is not given: $DCSR_MODEL if set, else the
// first models/default.ckpt found by find_repo_file(). Fails naming the places
// it looked, with instructions, when none exists (apps/dcsr/model_path.cpp).
std::string resolve_model_path(const std::string& given);

// A file of the repository, e.g. "demo/wide.jpg", found from any working
// folder: the path relative to the current folder when it exists there, else
// next to this executable (<exe dir>/../FILE, <exe dir>/../../FILE: a build's
// <repo>/build/bin/dcsr -> <repo>/FILE), else under its install prefix
// (<prefix>/bin/dcsr -> <prefix>/share/dcsr/FILE); "" when none exists.
std::string find_repo_file(const std::string& relative);

// Applies --threads N when given.
void apply_threads(const Args& args);

// Output files of one command. declare() checks up front that each path can
// be written (its folder exists, it is not a folder) so that a typo fails
// before minutes of work; written() records a finished file. If the command
// fails (the object is destroyed without commit()), the files written so far
// are removed again: no partial set of outputs is left behind.
class OutputFiles {
 public:
  OutputFiles() = default;
  ~OutputFiles();
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  void declare(const std::string& path, const std::string& option);
  void written(const std::string& path) { written_.push_back(path); }
  void commit() { committed_ = true; }

 private:
  std::vector<std::string> written_;
  bool committed_ = false;
};

// Seconds of wall time since `start` (the timing lines of sr, demo and DCSR_PROFILE).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace dcsr::cli
