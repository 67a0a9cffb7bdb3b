// Errors: every failure in the library is a dcsr::Error whose message names
// what is wrong (op, shape, dtype, device, file, option).
#pragma once
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

}  // namespace dcsr

// DCSR_CHECK(cond, parts...): throws dcsr::Error with the concatenated parts.
#define DCSR_CHECK(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::dcsr::fail(__VA_ARGS__);   \
  } while (0)
