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
//
// By shape: with DCSR_PROFILE=shapes (or set_kernel_profile_shapes(true)),
// the kernels that pass a shape (the convolutions) get one row per shape and
// path taken, e.g. "conv2d_forward:32->32 3x3 s1 p1 at 1x228x292
// (winograd4/avx512)". The path is what the kernel noted with
// note_kernel_path while it ran (the CPU conv's Winograd variant or direct
// path, the CUDA forward's kernel): the path it took, not the one a plan
// would pick. Off (the default), a shape costs nothing: the callers build it
// only when kernel_profile_shapes() is true.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/types.h"

namespace dcsr::runtime {

void set_kernel_profiling(bool on);
bool kernel_profiling();  // initially true when the environment has DCSR_PROFILE=1 (or =shapes)

// Rows by shape (see above); true only while profiling is on too.
void set_kernel_profile_shapes(bool on);
bool kernel_profile_shapes();  // initially true when the environment has DCSR_PROFILE=shapes

// Records the path the running kernel takes, for its row when profiling by
// shape (the last note of the outermost scope's call wins); does nothing
// otherwise. Call it from the thread that opened the scope.
void note_kernel_path(std::string_view path);

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
  // With a detail made for this call (a shape): an empty one adds nothing.
  KernelScope(const char* kernel, Device device, std::string shape_detail);
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  void finish() noexcept;
  const char* kernel_ = nullptr;  // null: this scope records nothing (off, or nested)
  bool entered_ = false;          // counted in the thread's nesting depth
  const char* detail_ = nullptr;
  std::string shape_detail_;  // by shape only: the call's shape
  Device device_ = Device::CPU;
  int64_t start_ns_ = 0;
};

}  // namespace dcsr::runtime
