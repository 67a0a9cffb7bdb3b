#include "apps/dcsr/args.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace dcsr::cli {

Args::Args(std::string command, std::vector<OptionSpec> specs, const std::vector<std::string>& argv,
           size_t max_positionals)
    : command_(std::move(command)), specs_(std::move(specs)) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.rfind("-", 0) != 0 && positionals_.size() < max_positionals) {
      positionals_.push_back(arg);
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      throw UsageError("dcsr " + command_ + ": unexpected argument '" + arg + "' (options start with --)");
    }
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) value = name.substr(eq + 1), name = name.substr(0, eq), inline_value = true;
    const OptionSpec* s = nullptr;
    for (const OptionSpec& candidate : specs_)
      if (candidate.name == name) s = &candidate;
    if (!s) throw UsageError("dcsr " + command_ + ": unknown option '--" + name + "'");
    if (s->value_name.empty()) {
      if (inline_value) throw UsageError("dcsr " + command_ + ": option '--" + name + "' takes no value");
      value = "1";
    } else if (!inline_value) {
      if (i + 1 >= argv.size())
        throw UsageError("dcsr " + command_ + ": option '--" + name + "' needs a value (" + s->value_name + ")");
      value = argv[++i];
    }
    // An empty file, folder or number is a slip of the shell ("--model $M" with M unset), never meant:
    // taken as absent it would quietly use a default. Only free text may be empty.
    if (!s->value_name.empty() && value.empty() && s->value_name != "TEXT")
      throw UsageError("dcsr " + command_ + ": option '--" + name + "' needs a value (" + s->value_name +
                       "), got an empty one");
    std::vector<std::string>& slot = values_[name];
    if (!slot.empty() && !s->repeatable)
      throw UsageError("dcsr " + command_ + ": option '--" + name + "' given more than once");
    slot.push_back(value);
  }
}

const OptionSpec& Args::spec(const std::string& name) const {
  for (const OptionSpec& s : specs_)
    if (s.name == name) return s;
  fail("internal: option --", name, " not declared for dcsr ", command_);
}

bool Args::has(const std::string& name) const {
  spec(name);
  return values_.count(name) > 0;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
  return has(name) ? values_.at(name).back() : fallback;
}

std::string Args::require(const std::string& name) const {
  if (!has(name))
    throw UsageError("dcsr " + command_ + ": missing option --" + name + " " + spec(name).value_name);
  return get(name);
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  return has(name) ? values_.at(name) : std::vector<std::string>{};
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0')
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects an integer, got '" + text + "'");
  if (errno != 0)
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects an integer, got '" + text +
                     "', which is out of range");
  return int64_t(v);
}

int64_t Args::get_int_in(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  const std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects " + range + ", got '" + text + "'");
  return int64_t(v);
}

double Args::get_double_in(const std::string& name, double fallback, double lo, double hi) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
    std::ostringstream range;
    range << "a number from " << lo << " to " << hi;
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects " + range.str() + ", got '" + text + "'");
  }
  return v;
}

uint64_t Args::get_u64(const std::string& name, uint64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  // Digits only: strtoull also skips white space and wraps " -1" to 2^64 - 1.
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])) || *end != '\0' || errno != 0)
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects a non-negative integer, got '" + text + "'");
  return uint64_t(v);
}

double Args::get_double(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string text = get(name);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v))
    throw UsageError("dcsr " + command_ + ": option --" + name + " expects a number, got '" + text + "'");
  return v;
}

std::string Args::options_help() const {
  std::ostringstream out;
  out << "Options:\n";
  for (const OptionSpec& s : specs_) {
    std::string left = "  --" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    out << left;
    if (left.size() < 28)
      out << std::string(28 - left.size(), ' ');
    else
      out << "\n" << std::string(28, ' ');
    out << s.help << (s.repeatable ? " (repeatable)" : "") << "\n";
  }
  out << "  --help                    this text\n";
  return out.str();
}

}  // namespace dcsr::cli
