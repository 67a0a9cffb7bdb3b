// dcsr: the command-line front end (prepare, train, sra, sr, eval, help).
//
// Exit status: 0 success, 1 error (bad input file, model, data, ...),
// 2 wrong command line, 3 training stopped because the loss diverged.
// Every error is one message on stderr naming the file or option at fault.
// With DCSR_PROFILE=1 in the environment, a successful command ends with a
// table of the time spent in each kernel on stderr (runtime/profiler.h).
#include <chrono>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "apps/dcsr/cli.h"
#include "dcsr/training/trainer.h"
#include "runtime/profiler.h"

namespace dcsr::cli {

// The command registry: every subcommand (one file cmd_<name>.cpp each), in
// the order of the general help.
const std::vector<CommandInfo>& all_commands() {
  static const std::vector<CommandInfo> commands = {
      prepare_command(), train_command(),    sra_command(),     sr_command(),  eval_command(),
      register_command(),
      demo_command(),    plot_log_command(), resize_command(), export_command(), help_command(),
      detail_command()};
  return commands;
}

const CommandInfo* find_command(const std::string& name) {
  for (const CommandInfo& c : all_commands())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace dcsr::cli

using namespace dcsr;
using namespace dcsr::cli;

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << general_help();
    return 2;
  }
  std::string name = args[0];
  if (name == "--help" || name == "-h") name = "help";
  const CommandInfo* command = find_command(name);
  if (!command) {
    std::cerr << "dcsr: unknown command '" << name << "'; run 'dcsr help' for the list\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    const auto start = std::chrono::steady_clock::now();
    const int status = command->run(*command, rest);
    if (runtime::kernel_profiling()) {
      const double wall_s = seconds_since(start);
      std::cerr << "dcsr " << command->name << ": time per kernel (DCSR_PROFILE=1; " << wall_s << " s in all)\n"
                << runtime::kernel_profile_table(1e3 * wall_s);
    }
    return status;
  } catch (const UsageError& e) {
    std::cerr << e.what() << "\nRun 'dcsr help " << command->name << "' for the options.\n";
    return 2;
  } catch (const TrainingDiverged& e) {
    std::cerr << "dcsr " << command->name << ": " << e.what() << "\n";
    return 3;
  } catch (const std::bad_alloc&) {
    std::cerr << "dcsr " << command->name << ": error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "dcsr " << command->name << ": error: " << e.what() << "\n";
    return 1;
  }
}
