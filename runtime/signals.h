// SIGINT and SIGTERM: how a command stops, and what it removes on the way out.
//
// Two ways to stop (install_stop_handlers):
//   kImmediate        the first signal runs the exit cleanups below and ends the
//                     process with status 128 + signal (130 for SIGINT, 143
//                     for SIGTERM): `dcsr sr`, `eval`, `prepare`, ...
//   kAtStepBoundary   the first signal only sets a flag that a loop reads at its
//                     next step boundary (stop_signal(); `dcsr train`, `sra`);
//                     a second signal acts as kImmediate.
//
// Exit cleanups are what a run must undo when it is ended at once: its temp
// files, its half-made folders, and the files it replaced (restored from a
// kept link). They run inside the signal handler, so they use only
// async-signal-safe calls (unlink, rename, openat, getdents64); registering
// one takes a mutex-free slot of a fixed table (kMaxExitCleanups).
#pragma once
#include <string>

namespace dcsr::runtime {

enum class StopMode { kImmediate, kAtStepBoundary };

// Installs the handlers for SIGINT and SIGTERM (again: changes the mode).
void install_stop_handlers(StopMode mode);

// While one lives, a signal that would end the process at once is held: it
// ends the process when the last one goes (its cleanups then run as usual).
// For work that must not be cut in half on any thread, such as moving a
// staged folder's files into place (OutputPlan::commit): blocking the signals
// on one thread does not keep the kernel from handing a process-directed
// signal to another (an OpenMP worker).
class HoldStops {
 public:
  HoldStops();
  ~HoldStops();
  HoldStops(const HoldStops&) = delete;
  HoldStops& operator=(const HoldStops&) = delete;
};

// The line a signal that ends the process at once writes to stderr first:
// `head`, the signal's name ("SIGINT", "SIGTERM" or "a signal"), `tail` and a
// line break. For a run that stops with work already done and kept, to say
// how much (`dcsr sr` on folders: how many pairs were written). Replaces the
// note before; an empty head and tail: none. Safe to call while a signal may
// arrive on any thread (the handler reads a slot this does not write).
void set_stop_note(const std::string& head, const std::string& tail);

// The signal that asked the run to stop at its next step boundary, or 0.
int stop_signal();
// Clears the flag (tests).
void clear_stop_signal();
// "SIGINT", "SIGTERM", or "signal N".
std::string signal_name(int signal);

enum class CleanupKind {
  kUnlink,       // remove file `a` if it exists
  kRestore,      // rename `a` (a kept link to the old file) back to `b`
  kRemoveTree,   // remove folder `a` and everything in it
};

constexpr int kMaxExitCleanups = 64;
// Registers an exit cleanup; returns its slot (for remove_exit_cleanup), or
// -1 when the table is full or a path is longer than PATH_MAX (the cleanup
// then does not happen on a signal; the ordinary rollback still does it).
int add_exit_cleanup(CleanupKind kind, const std::string& a, const std::string& b = "");
void remove_exit_cleanup(int slot);  // -1 is ignored

// Runs the registered cleanups now (the signal handler's work; tests).
void run_exit_cleanups();

}  // namespace dcsr::runtime
