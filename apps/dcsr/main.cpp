// dcsr: the command-line front end (prepare, train, sra, sr, register, eval,
// detail, demo, plot-log, resize, export, help).
//
// Exit status: 0 success, 1 error (bad input file, model, data, ...),
// 2 wrong command line, 3 training stopped because the loss diverged, 4 sr on
// folders skipped a pair, 130 / 143 stopped by SIGINT / SIGTERM (runtime/signals.h: train and sra stop
// at the next step boundary, every other command at once; no partial output
// is left either way). Every error is one line on stderr naming the file or
// option at fault.
// With DCSR_PROFILE=1 in the environment, a successful command ends with a
// table of the time spent in each kernel on stderr (runtime/profiler.h);
// DCSR_PROFILE=shapes splits the convolutions' rows by shape and path.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "apps/dcsr/cli.h"
#include "dcsr/training/trainer.h"
#include "nn/distributed.h"
#include "runtime/allocator.h"
#include "runtime/device.h"
#include "runtime/profiler.h"
#include "runtime/signals.h"

namespace dcsr::cli {

// The command registry: every subcommand (one file cmd_<name>.cpp each), in
// the order of the general help.
const std::vector<CommandInfo>& all_commands() {
  static const std::vector<CommandInfo> commands = {
      prepare_command(), train_command(),    sra_command(),     sr_command(),  eval_command(),
      register_command(),
      demo_command(),    plot_log_command(), resize_command(), export_command(), help_command(),
      detail_command()};
  return commands;
}

const CommandInfo* find_command(const std::string& name) {
  for (const CommandInfo& c : all_commands())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace dcsr::cli

using namespace dcsr;
using namespace dcsr::cli;

namespace {

// An error message as one line: line breaks become "; ", and a message longer
// than a screenful is cut (the reader code summarises long lists itself; this
// is the backstop).
std::string one_line(std::string message) {
  constexpr size_t kMaxChars = 600;
  std::string out;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' || message[i] == '\r') {
      while (i + 1 < message.size() && (message[i + 1] == '\n' || message[i + 1] == '\r' || message[i + 1] == ' ')) ++i;
      if (i + 1 < message.size()) out += "; ";
    } else {
      out += message[i];
    }
  }
  if (out.size() > kMaxChars)
    out = out.substr(0, kMaxChars) + " ... (" + std::to_string(out.size() - kMaxChars) + " more characters)";
  return out;
}

}  // namespace

static int run_command(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << general_help();
    return 2;
  }
  std::string name = args[0];
  if (name == "--help" || name == "-h") name = "help";
  const CommandInfo* command = find_command(name);
  if (!command) {
    std::cerr << "dcsr: unknown command '" << name << "'; run 'dcsr help' for the list\n";
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (distributed::world().size > 1 && !command->runs_on_ranks) {
    if (distributed::world().is_root())
      std::cerr << "dcsr " << command->name << ": runs in one process; under mpirun only train, sra, eval and sr "
                << "on folders share their work over the ranks (each rank would do all of it, writing the same "
                << "files)\n";
    distributed::set_exit_status_agreed();  // every rank refuses alike
    return 2;
  }
  runtime::install_stop_handlers(runtime::StopMode::kImmediate);  // train and sra switch to step boundaries
  try {
    const auto start = std::chrono::steady_clock::now();
    const int status = command->run(*command, rest);
    if (runtime::kernel_profiling()) {
      const double wall_s = seconds_since(start);
      std::cerr << "dcsr " << command->name << ": time per kernel (DCSR_PROFILE="
                << (runtime::kernel_profile_shapes() ? "shapes" : "1") << "; " << wall_s << " s in all)\n"
                << runtime::kernel_profile_table(1e3 * wall_s);
      for (Device device : {Device::CPU, Device::CUDA}) {
        if (device == Device::CUDA && !runtime::cuda_available()) continue;
        const AllocatorStats a = allocator_stats(device);
        std::cerr << "allocator (" << device_name(device) << "): " << a.system_allocs << " blocks from the "
                  << (device == Device::CUDA ? "driver" : "system") << ", " << a.cache_hits
                  << " from the cache, peak " << (a.peak_bytes_in_use >> 20) << " MiB in use\n";
      }
    }
    return status;
  } catch (const UsageError& e) {
    std::cerr << one_line(e.what()) << " (run 'dcsr help " << command->name << "' for the options)\n";
    return 2;
  } catch (const TrainingDiverged& e) {
    std::cerr << "dcsr " << command->name << ": " << one_line(e.what()) << "\n";
    return 3;
  } catch (const std::bad_alloc&) {
    std::cerr << "dcsr " << command->name << ": error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "dcsr " << command->name << ": error: " << one_line(e.what()) << "\n";
    return 1;
  }
}

namespace {

// DCSR_TIME_PROCESS=1: two lines on stderr around the command's own time, for
// the part of a run's wall time that no timing line sees: from the process's
// start (the kernel's record, in clock ticks) to main(), where the loader has
// mapped and relocated the shared libraries (CUDA's among them); and from
// main()'s return to the last exit handler, where the CUDA runtime tears its
// context down. The handler is registered first, so it runs after those that
// CUDA, MPI and NCCL register later. (On an H100, 0.4 s of a 5.5 s whole image
// lay outside dcsr's own total, docs/gpu_check_h100.md.)
std::chrono::steady_clock::time_point g_main_returned;

double seconds_since_process_start() {
  std::ifstream stat("/proc/self/stat"), uptime("/proc/uptime");
  std::string line;
  double up = 0.0;
  if (!std::getline(stat, line) || !(uptime >> up)) return -1.0;
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // after "pid (comm) "
  std::string field;
  for (int k = 3; k <= 22 && fields >> field; ++k) {  // field 22: start time, clock ticks after boot
    if (k == 22) return up - std::stod(field) / double(sysconf(_SC_CLK_TCK));
  }
  return -1.0;
}

// Returns whether DCSR_TIME_PROCESS=1 (the fast exit at the end of main says so too).
bool start_process_timing() {
  const char* env = std::getenv("DCSR_TIME_PROCESS");
  if (!env || std::string(env) != "1") return false;
  std::fprintf(stderr, "dcsr: process start to main: %.3f s (to the kernel's clock tick)\n",
               seconds_since_process_start());
  std::atexit([] {
    std::fprintf(stderr, "dcsr: main's return to the last exit handler: %.3f s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - g_main_returned).count());
  });
  return true;
}

// DCSR_FAST_EXIT: 1 (unset: 1) or 0; anything else is refused before the
// command runs. See the end of main.
bool fast_exit_switch(bool* on) {
  const char* env = std::getenv("DCSR_FAST_EXIT");
  const std::string value = env ? env : "1";
  if (value != "0" && value != "1") {
    std::fprintf(stderr, "dcsr: DCSR_FAST_EXIT: expected 1 or 0, got '%s'\n", value.c_str());
    return false;
  }
  *on = value == "1";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const bool timing_process = start_process_timing();
  bool fast_exit = true;
  if (!fast_exit_switch(&fast_exit)) return 2;
  distributed::init(&argc, &argv);  // one rank unless mpirun started this process (nn/distributed.h)
  const int status = run_command(argc, argv);
  // A rank that fails must not leave the others waiting in a collective.
  if (status != 0) distributed::abort_all(status);
  // Before returning: the CUDA runtime tears itself down in an atexit handler
  // registered after init's, so it runs before init's finalize, and NCCL's
  // communicator would then be destroyed on a driver already shutting down
  // (NCCL printed "Cuda failure 'driver shutting down'" on an H100).
  distributed::finalize();
  g_main_returned = std::chrono::steady_clock::now();
  // A successful command that started the CUDA runtime ends here, without the
  // runtime's teardown: unloading every module and destroying the context
  // (and with it the caching pool's blocks) one by one, which the driver does
  // anyway when the process ends. By now every output is on disk (written to a
  // temp file, synced and renamed by the command), the collectives are
  // finalised and no thread of ours is working; only the standard streams need
  // flushing.
  // DCSR_FAST_EXIT=0 keeps the teardown (for tools that read the process's
  // state at exit: a profiler's or a sanitizer's report). CPU-only runs always
  // return (their exit handlers are cheap, and the sanitizers' leak check is
  // one of them).
  if (status == 0 && fast_exit && runtime::cuda_runtime_started()) {
    if (timing_process)
      std::fprintf(stderr, "dcsr: main's return to the process's end: the CUDA runtime's teardown skipped "
                           "(DCSR_FAST_EXIT=0 keeps it)\n");
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(status);
  }
  return status;
}
