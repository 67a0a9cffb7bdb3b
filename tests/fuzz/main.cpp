// dcsr_fuzz --target NAME|all --runs N --seed S [--first I] [--save FILE] [--keep-going] [--list]
//
// Runs inputs I .. I+N-1 of each chosen target (tests/fuzz/fuzz.h). Exit
// status 0 when every input was accepted or rejected with dcsr::Error; 1 on
// the first other exception, with the input written to --save (default
// dcsr_fuzz_failure_<target>_<run>.bin), or with --keep-going after all runs,
// counting the failures (the first of each distinct message is written); a
// crash or a sanitizer report prints the target, the run and the command that
// replays it.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <typeinfo>

#include "tensor/error.h"
#include "tests/fuzz/fuzz.h"

extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

using namespace dcsr::fuzz;

// What is running, for the crash report (written with async-signal-safe calls only).
char g_replay[512] = "";
const std::string* g_input = nullptr;
char g_crash_file[256] = "";

void report_crash() {
  if (g_replay[0]) {
    ssize_t ignored = ::write(2, g_replay, std::strlen(g_replay));
    (void)ignored;
  }
  if (g_input && g_crash_file[0]) {
    int fd = ::open(g_crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_input->data(), g_input->size());
      (void)ignored;
      ::close(fd);
    }
  }
}

void on_signal(int sig) {
  report_crash();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

uint64_t run_seed(uint64_t seed, const std::string& target, uint64_t run) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the target's name
  for (char c : target) h = (h ^ uint8_t(c)) * 1099511628211ULL;
  Rng mix(seed ^ h ^ (run * 0x9e3779b97f4a7c15ULL));
  return mix.next();
}

int usage(const std::string& why) {
  std::cerr << "dcsr_fuzz: " << why << "\nusage: dcsr_fuzz --target NAME|all --runs N --seed S [--first I]"
            << " [--save FILE] [--list]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Target> targets;
  for (auto group : {image_targets, checkpoint_targets, config_targets, cli_targets})
    for (Target& t : group()) targets.push_back(std::move(t));
  std::string which, save;
  bool keep_going = false;
  uint64_t failures = 0;
  uint64_t runs = 1000, seed = 1, first = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--list") {
      for (const Target& t : targets) std::cout << t.name << "\t" << t.summary << "\n";
      return 0;
    } else if (arg == "--keep-going") {
      keep_going = true;
    } else if (arg == "--target" && has_value) {
      which = argv[++i];
    } else if ((arg == "--runs" || arg == "--seed" || arg == "--first") && has_value) {
      char* end = nullptr;
      const uint64_t v = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || argv[i][0] == '-') return usage("bad number for " + arg + ": " + argv[i]);
      (arg == "--runs" ? runs : arg == "--seed" ? seed : first) = v;
    } else if (arg == "--save" && has_value) {
      save = argv[++i];
    } else {
      return usage("unexpected argument '" + arg + "'");
    }
  }
  if (which.empty()) return usage("no --target");
  std::vector<const Target*> chosen;
  for (const Target& t : targets)
    if (which == "all" || which == t.name) chosen.push_back(&t);
  if (chosen.empty()) return usage("unknown target '" + which + "' (see --list)");

  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::signal(sig, on_signal);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(report_crash);
  // GCC links UBSan as its own library with its own copy of the sanitizer
  // runtime: the call above reaches ASan's copy only, and a UBSan report would
  // end the process without the replay line. Register with UBSan's copy too.
  if (void* ubsan = ::dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD)) {
    using SetCallback = void (*)(void (*)(void));
    if (auto set = reinterpret_cast<SetCallback>(::dlsym(ubsan, "__sanitizer_set_death_callback"))) set(report_crash);
    ::dlclose(ubsan);
  }
  std::ostringstream silenced;  // the readers' warnings (grey, alpha) would flood stderr
  for (const Target* target : chosen) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Seed> seeds = target->make_seeds();
    uint64_t accepted = 0, rejected = 0, failed = 0;
    std::set<std::string> messages;
    std::string input;
    g_input = &input;
    std::snprintf(g_crash_file, sizeof g_crash_file, "dcsr_fuzz_crash_%s.bin", target->name.c_str());
    for (uint64_t run = first; run < first + runs; ++run) {
      std::snprintf(g_replay, sizeof g_replay,
                    "\ndcsr_fuzz: CRASH in target %s at run %llu; the input is in %s; replay: dcsr_fuzz --target %s "
                    "--seed %llu --first %llu --runs 1\n",
                    target->name.c_str(), (unsigned long long)run, g_crash_file, target->name.c_str(),
                    (unsigned long long)seed, (unsigned long long)run);
      Rng rng(run_seed(seed, target->name, run));
      input.clear();
      std::streambuf* err = std::cerr.rdbuf(silenced.rdbuf());
      std::string failure;
      try {
        target->run(seeds, rng, input);
        ++accepted;
      } catch (const dcsr::Error&) {
        ++rejected;
      } catch (const std::exception& e) {
        failure = std::string("exception ") + typeid(e).name() + ": " + e.what();
      } catch (...) {
        failure = "an exception that is not a std::exception";
      }
      std::cerr.rdbuf(err);
      silenced.str("");
      if (!save.empty() && runs == 1) std::ofstream(save, std::ios::binary) << input;
      if (failure.empty()) continue;
      ++failed;
      std::string kind = failure.substr(0, 120);  // one report per kind of failure: digits dropped
      kind.erase(std::remove_if(kind.begin(), kind.end(), [](char c) { return c >= '0' && c <= '9'; }), kind.end());
      if (keep_going && !messages.insert(kind).second) continue;
      const std::string file =
          !save.empty() ? save : "dcsr_fuzz_failure_" + target->name + "_" + std::to_string(run) + ".bin";
      std::ofstream(file, std::ios::binary) << input;
      std::cerr << "dcsr_fuzz: FAILURE in target " << target->name << " at run " << run << " (seed " << seed
                << "): " << failure << "\n  input (" << input.size() << " bytes) written to " << file
                << "\n  replay: dcsr_fuzz --target " << target->name << " --seed " << seed << " --first " << run
                << " --runs 1\n";
      if (!keep_going) return 1;
    }
    g_replay[0] = '\0';
    g_input = nullptr;  // `input` ends with this loop; a leak report at exit must not read it
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "dcsr_fuzz " << target->name << ": " << runs << " inputs (seed " << seed << ", runs " << first
              << ".." << first + runs - 1 << "): " << accepted << " accepted, " << rejected
              << " rejected with dcsr::Error, " << failed << " failures, " << seconds << " s" << std::endl;
    failures += failed;
  }
  return failures ? 1 : 0;
}
