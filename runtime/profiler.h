// Per-kernel time accounting: where does a run spend its time?
//
// Every kernel entry point (kernels/dispatch_*.cpp) and every host<->device copy
// opens a KernelScope. Profiling is off by default and then costs one relaxed
// atomic load per kernel call. When it is on (set_kernel_profiling(true), or
// DCSR_PROFILE=1 in the environment), each call is timed from entry to exit
// and charged to its name ("conv2d_forward", "binary:add", ...) and device:
//
//   * CUDA: the device is synchronised before and after the kernel, so that
//     asynchronous launches are charged to the kernel that made them. This
//     serialises the GPU: the table shows what each kernel costs, not how
//     well the pipeline overlaps; compare its total with the unprofiled wall
//     time to see the host's share.
//   * Nested entry points (a kernel that calls another through the dispatch
//     layer) are charged to the outermost one only, so the rows add up to the
//     time spent in kernels.
//   * Calls from several host threads at once are each timed; their sum may
//     then exceed the wall time.
//
// Used by `dcsr_bench --profile VARIANT` and by every `dcsr` command when
// DCSR_PROFILE=1 (the table goes to standard error at the end).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/types.h"

namespace dcsr::runtime {

void set_kernel_profiling(bool on);
bool kernel_profiling();  // initially true when the environment has DCSR_PROFILE=1

struct KernelProfileRow {
  std::string kernel;  // entry point name, e.g. "conv2d_forward", "unary:relu"
  Device device;
  int64_t calls = 0;
  double ms = 0.0;  // total time inside the calls
};

// Rows recorded since the last reset, the most expensive first.
std::vector<KernelProfileRow> kernel_profile();
void reset_kernel_profile();

// Rows as an aligned text table with each row's share of `total_ms` (the
// wall time of the profiled work; <= 0: the share of the kernels' own sum),
// and a last line with the time outside kernels (or the kernels' sum).
std::string kernel_profile_table(const std::vector<KernelProfileRow>& rows, double total_ms = 0.0);
// The same for the rows recorded so far.
inline std::string kernel_profile_table(double total_ms = 0.0) { return kernel_profile_table(kernel_profile(), total_ms); }

// Times one kernel call while profiling is on (see the top of this file).
// `kernel` and `detail` must outlive the scope (string literals, op names).
class KernelScope {
 public:
  KernelScope(const char* kernel, Device device, const char* detail = nullptr);
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  void finish() noexcept;
  const char* kernel_ = nullptr;  // null: this scope records nothing (off, or nested)
  bool entered_ = false;          // counted in the thread's nesting depth
  const char* detail_ = nullptr;
  Device device_ = Device::CPU;
  int64_t start_ns_ = 0;
};

}  // namespace dcsr::runtime
