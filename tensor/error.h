// Errors: every failure in the library is a dcsr::Error whose message names
// what is wrong (op, shape, dtype, device, file, option).
#pragma once
#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dcsr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream stream;
  (stream << ... << parts);
  return stream.str();
}
}  // namespace detail

// Builds a message from any streamable parts: fail("conv2d: weight ", shape_str(s)).
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(detail::concat(parts...));
}

// The number `text` spells when it is decimal digits only (no sign, space or
// other character; leading zeros allowed) from `lo` to `hi`; nullopt
// otherwise, a value past 2^64 - 1 included. For a count read from a command
// line or a file, whose caller names the option or field in its error:
// strtoll and its kin skip white space, take a sign and stop at the first
// other character (atoi took "2abc" as 2, strtoull wrapped " -1" to 2^64 - 1).
inline std::optional<uint64_t> parse_decimal_digits(const std::string& text, uint64_t lo, uint64_t hi) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = uint64_t(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (value < lo || value > hi) return std::nullopt;
  return value;
}

}  // namespace dcsr

// DCSR_CHECK(cond, parts...): throws dcsr::Error with the concatenated parts.
#define DCSR_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::dcsr::fail(__VA_ARGS__);   \
  } while (0)
