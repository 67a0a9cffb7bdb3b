// Whether ops record autograd history on this thread. Backward passes run with
// recording off (no double backward), and inference code can switch it off
// with a NoGradGuard to save the memory of saved tensors.
#pragma once

namespace dcsr {

class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool enabled);
};

class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace dcsr
