// `dcsr help [COMMAND]` and the texts it prints.
#include <iostream>
#include <sstream>

#include "apps/dcsr/cli.h"

namespace dcsr::cli {

std::string general_help() {
  std::ostringstream out;
  out << "dcsr: dual-camera super-resolution (DCSR, ICCV 2021) in C++\n\n"
      << "Usage: dcsr COMMAND [OPTIONS]\n\nCommands:\n";
  for (const CommandInfo& c : all_commands()) {
    std::string left = "  " + c.name;
    out << left << std::string(left.size() < 12 ? 12 - left.size() : 1, ' ') << c.summary << "\n";
  }
  out << "\nRun 'dcsr help COMMAND' for a command's options.\n"
      << "Exit status: 0 success, 1 error, 2 wrong command line, 3 training diverged, 4 sr on folders skipped\n"
         "a pair, 130 / 143 stopped by SIGINT / SIGTERM.\n";
  return out.str();
}

std::string command_help(const CommandInfo& c) {
  std::ostringstream out;
  out << "Usage: " << c.usage << "\n\n" << c.summary << "\n";
  if (!c.details.empty()) out << "\n" << c.details << "\n";
  out << "\n" << Args(c.name, c.options, {}).options_help();
  return out.str();
}

namespace {

int run_help(const CommandInfo& self, const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
    std::cout << general_help();
    return 0;
  }
  if (argv.size() > 1) throw UsageError("dcsr help: expected one command name, got " + std::to_string(argv.size()));
  const CommandInfo* c = find_command(argv[0]);
  if (!c) throw UsageError("dcsr help: unknown command '" + argv[0] + "'");
  (void)self;
  std::cout << command_help(*c);
  return 0;
}

}  // namespace

CommandInfo help_command() {
  CommandInfo c;
  c.name = "help";
  c.runs_on_ranks = true;
  c.summary = "show the commands, or one command's options";
  c.usage = "dcsr help [COMMAND]";
  c.run = run_help;
  return c;
}

}  // namespace dcsr::cli
