// Shared pieces of the `dcsr` subcommands.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "apps/dcsr/args.h"
#include "dcsr/model/config.h"
#include "tensor/types.h"
#include "io/output_rules.h"

namespace dcsr::cli {

// A subcommand: its help and its entry point. run() gets the arguments after
// "dcsr <name>", returns the exit status and throws UsageError / Error on failure.
struct CommandInfo {
  std::string name, summary, usage, details;
  std::vector<OptionSpec> options;
  int (*run)(const CommandInfo& self, const std::vector<std::string>& argv) = nullptr;
  // Whether its ranks share the work under mpirun (train, sra, eval, sr on
  // folders; help says the same on each). Every other command is refused
  // there: each rank would do all of it and write the same files.
  bool runs_on_ranks = false;
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

// The model used when --model is not given: $DCSR_MODEL if set, else (8K
// mode only) the first models/real.ckpt found by find_repo_file(), else the
// first models/default.ckpt. Fails naming the places it looked, with
// instructions, when none exists (apps/dcsr/model_path.cpp).
std::string resolve_model_path(const std::string& given, Mode mode = Mode::K4);

// A file of the repository, e.g. "demo/wide.jpg", found from any working
// folder: the path relative to the current folder when it exists there, else
// next to this executable (<exe dir>/../FILE, <exe dir>/../../FILE: a build's
// <repo>/build/bin/dcsr -> <repo>/FILE), else under its install prefix
// (<prefix>/bin/dcsr -> <prefix>/share/dcsr/FILE); "" when none exists.
std::string find_repo_file(const std::string& relative);

// Applies --threads N when given (1 to dcsr::kMaxThreads, runtime/threads.h:
// the same limit as DCSR_NUM_THREADS).
void apply_threads(const Args& args);

// --device (default cpu): a name other than cpu or cuda is a usage error (exit
// 2, as every wrong command line); `require_gpu` false: only the name is
// checked (a command that runs on the CPU whatever is asked, as prepare).
Device device_option(const Args& args, const std::string& command, bool require_gpu = true);

// The files of one command: a thin front for io/output_rules.h (the rules
// and what they promise are there). Declare every input and output before any
// work; declare() checks each output up front (folder exists, not a folder,
// not a link or device, writable with its temp name, not an input or another
// output) so that a typo fails before minutes of work. Write each output with
// write() (or plan().stage_folder() for a folder of files), then commit(). If the
// command fails or is interrupted first, the outputs this run wrote are removed
// and any file they replaced is put back byte for byte.
class OutputFiles {
 public:
  OutputFiles() = default;
  OutputFiles(const OutputFiles&) = delete;
  OutputFiles& operator=(const OutputFiles&) = delete;
  // An output file of option --<option>.
  void declare(const std::string& path, const std::string& option) { plan_.add_output(path, "--" + option); }
  // An input file of option --<option> (no output may be the same file).
  void declare_input(const std::string& path, const std::string& option) { plan_.add_input(path, "--" + option); }
  // Writes a declared output: writer(path) must replace the file by rename
  // (write_png, save_checkpoint and write_file_atomic do).
  template <typename Writer>
  void write(const std::string& path, Writer&& writer) {
    plan_.begin_write(path);
    writer(path);
  }
  void commit() { plan_.commit(); }
  // The rules themselves: free-form names, staged folders (eval --save-dir, batch sr).
  OutputPlan& plan() { return plan_; }

 private:
  OutputPlan plan_;
};

// Seconds of wall time since `start` (the timing lines of sr, demo and DCSR_PROFILE).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace dcsr::cli
