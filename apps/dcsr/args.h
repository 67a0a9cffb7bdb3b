// Command-line options of the `dcsr` subcommands: `--name value`,
// `--name=value` and value-less flags, plus up to `max_positionals` plain
// arguments where a command takes them (`dcsr plot-log LOG.jsonl`). Anything
// else (an unknown option, a missing value, a stray positional argument) is a
// UsageError naming it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace dcsr::cli {

// Wrong command line: main() prints it with a hint and exits with status 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

struct OptionSpec {
  std::string name;        // without the dashes: "lr"
  std::string value_name;  // "FILE"; empty for a flag
  std::string help;
  bool repeatable = false;
};

class Args {
 public:
  // Parses argv (without the program and subcommand names). --help / -h is
  // always accepted and sets help().
  Args(std::string command, std::vector<OptionSpec> specs, const std::vector<std::string>& argv,
       size_t max_positionals = 0);

  bool help() const { return help_; }
  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // Fails with a UsageError naming the option when it is missing.
  std::string require(const std::string& name) const;
  std::vector<std::string> get_all(const std::string& name) const;
  // The plain arguments, in order (at most max_positionals).
  const std::vector<std::string>& positionals() const { return positionals_; }
  int64_t get_int(const std::string& name, int64_t fallback) const;
  uint64_t get_u64(const std::string& name, uint64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  // The same, checked against [lo, hi]: a UsageError gives the range
  // ("option --threads expects an integer from 1 to 1024, got '100000'").
  int64_t get_int_in(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const;
  double get_double_in(const std::string& name, double fallback, double lo, double hi) const;

  // "Options:" followed by one line per option.
  std::string options_help() const;

 private:
  const OptionSpec& spec(const std::string& name) const;

  std::string command_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positionals_;
  bool help_ = false;
};

}  // namespace dcsr::cli
