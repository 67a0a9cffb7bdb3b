// Target cli: apps/dcsr/args.h's Args on mutated command lines, with the real
// option lists of every subcommand. Seeds are built from each command's
// options; runs drop, repeat, swap and insert arguments, use --name=value,
// stray dashes and positionals, and mutate the bytes of one argument. Every
// getter is then called on every option; only dcsr::Error (UsageError) may
// come out.
#include <type_traits>

#include "apps/dcsr/cli.h"
#include "tests/fuzz/fuzz.h"

namespace dcsr::cli {
// The registry lives next to main() in apps/dcsr/main.cpp, which the fuzzer
// (with its own main) does not link; weak, so that a registry moved into
// another file of the app wins.
__attribute__((weak)) const std::vector<CommandInfo>& all_commands() {
  static const std::vector<CommandInfo> commands = {
      prepare_command(),  train_command(),  sra_command(),    sr_command(),   eval_command(), register_command(),
      demo_command(),     plot_log_command(), resize_command(), export_command(), help_command(), detail_command()};
  return commands;
}
__attribute__((weak)) const CommandInfo* find_command(const std::string& name) {
  for (const CommandInfo& c : all_commands())
    if (c.name == name) return &c;
  return nullptr;
}
}  // namespace dcsr::cli

namespace dcsr::fuzz {
namespace {

using cli::Args;

// The range-checked getters, where this version of Args has them.
template <typename A>
auto ranged_getters(const A& args, const std::string& name, int) -> decltype(args.get_int_in(name, 0, 0, 0), void()) {
  try {
    args.get_int_in(name, 1, 1, 1024);
  } catch (const Error&) {
  }
  try {
    args.get_double_in(name, 0.5, 0.0, 1.0);
  } catch (const Error&) {
  }
}
template <typename A>
void ranged_getters(const A&, const std::string&, long) {}

std::string plausible_value(Rng& rng, const std::string& value_name) {
  if (rng.chance(3)) return interesting_text(rng);
  static const std::vector<std::string> values = {"4", "0.5", "1e-4", "out.png", "in.jpg", "model.ckpt", "cpu",
                                                  "4k", "8k", "dir", "lr=2e-4", "64", "auto"};
  return value_name.empty() ? "" : rng.pick(values);
}

void run_cli(const std::vector<Seed>&, Rng& rng, std::string& input) {
  const auto& commands = cli::all_commands();
  const cli::CommandInfo& command = commands[size_t(rng.below(commands.size()))];
  std::vector<std::string> argv;
  for (const cli::OptionSpec& o : command.options) {
    if (!rng.chance(2)) continue;
    const std::string value = plausible_value(rng, o.value_name);
    if (!o.value_name.empty() && rng.chance(4)) {
      argv.push_back("--" + o.name + "=" + value);
    } else {
      argv.push_back("--" + o.name);
      if (!o.value_name.empty()) argv.push_back(value);
    }
  }
  const int edits = int(rng.below(4));
  for (int i = 0; i < edits; ++i) {
    const size_t at = argv.empty() ? 0 : size_t(rng.below(argv.size()));
    switch (rng.below(7)) {
      case 0: if (!argv.empty()) argv.erase(argv.begin() + long(at)); break;
      case 1: if (!argv.empty()) argv.push_back(argv[at]); break;
      case 2: if (argv.size() >= 2) std::swap(argv[at], argv[size_t(rng.below(argv.size()))]); break;
      case 3: argv.insert(argv.begin() + long(at), rng.pick(std::vector<std::string>{"-h", "--help", "--", "-", "--=", "-x", "pos"})); break;
      case 4: argv.insert(argv.begin() + long(at), "--" + interesting_text(rng)); break;
      case 5: if (!argv.empty()) mutate_bytes(argv[at], rng); break;
      default: argv.push_back(interesting_text(rng)); break;
    }
  }
  input = command.name;
  for (const std::string& a : argv) input += std::string(1, '\0') + a;
  Args args(command.name, command.options, argv, size_t(rng.below(2)));
  for (const cli::OptionSpec& o : command.options) {
    args.has(o.name);
    args.get(o.name);
    args.get_all(o.name);
    try {
      args.require(o.name);
    } catch (const Error&) {
    }
    if (o.value_name.empty()) continue;
    try {
      args.get_int(o.name, 0);
    } catch (const Error&) {
    }
    try {
      args.get_u64(o.name, 0);
    } catch (const Error&) {
    }
    try {
      args.get_double(o.name, 0);
    } catch (const Error&) {
    }
    ranged_getters(args, o.name, 0);
  }
  args.options_help();
  cli::command_help(command);
}

}  // namespace

std::vector<Target> cli_targets() {
  return {{"cli", "apps/dcsr/args.h Args with every subcommand's options, then every getter",
           [] { return std::vector<Seed>{}; }, run_cli}};
}

}  // namespace dcsr::fuzz
