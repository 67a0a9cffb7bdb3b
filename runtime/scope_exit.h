// Runs a function when the scope ends, however it ends (a return, an
// exception): `const ScopeExit clear([&] { ... });`. The function must not
// throw (it runs from a destructor).
#pragma once
#include <utility>

namespace dcsr {

template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F fn) : fn_(std::move(fn)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() { fn_(); }

 private:
  F fn_;
};

}  // namespace dcsr
