#include "runtime/signals.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace dcsr::runtime {

namespace {

struct Cleanup {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 armed
  CleanupKind kind = CleanupKind::kUnlink;
  char a[PATH_MAX] = {};
  char b[PATH_MAX] = {};
};

Cleanup g_cleanups[kMaxExitCleanups];
volatile sig_atomic_t g_stop_signal = 0;
std::atomic<int> g_mode{int(StopMode::kImmediate)};

// Linux's directory entry as getdents64 returns it.
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

bool is_dot(const char* name) { return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)); }

// Removes everything in the open folder `dir_fd` (async-signal-safe; at most
// `depth` levels of subfolders).
void empty_folder(int dir_fd, int depth) {
  char buffer[4096];
  for (int pass = 0; pass < 2; ++pass) {  // a second pass for entries the first listing missed
    ::lseek(dir_fd, 0, SEEK_SET);
    for (;;) {
      long n = ::syscall(SYS_getdents64, dir_fd, buffer, sizeof(buffer));
      if (n <= 0) break;
      for (long offset = 0; offset < n;) {
        const auto* entry = reinterpret_cast<const LinuxDirent64*>(buffer + offset);
        offset += entry->d_reclen;
        if (is_dot(entry->d_name)) continue;
        if (::unlinkat(dir_fd, entry->d_name, 0) == 0 || depth <= 0) continue;
        int sub = ::openat(dir_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) continue;
        empty_folder(sub, depth - 1);
        ::close(sub);
        ::unlinkat(dir_fd, entry->d_name, AT_REMOVEDIR);
      }
    }
  }
}

void run_one(const Cleanup& c) {
  switch (c.kind) {
    case CleanupKind::kUnlink:
      ::unlink(c.a);
      break;
    case CleanupKind::kRestore:
      ::rename(c.a, c.b);  // a no-op when both name the same file ...
      ::unlink(c.a);       // ... so the kept link goes in any case
      break;
    case CleanupKind::kRemoveTree: {
      int fd = ::open(c.a, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) break;
      empty_folder(fd, 16);
      ::close(fd);
      ::rmdir(c.a);
      break;
    }
  }
}

std::atomic<int> g_holds{0};           // live HoldStops
std::atomic<int> g_held_signal{0};     // a signal that arrived while one lived

// The stop note (set_stop_note) in two slots: set_stop_note fills the one the
// handler does not read, then names it. Once a handler has begun it changes
// nothing more, so the slot being read stays whole whichever thread reads it.
struct StopNote {
  char head[256];
  char tail[8192];
  size_t head_size = 0, tail_size = 0;
};
StopNote g_notes[2];
std::atomic<int> g_note_slot{-1};      // the slot a handler writes out, or -1: none
std::atomic<bool> g_note_read{false};  // a handler has taken the note

size_t copy_clipped(char* to, size_t capacity, const std::string& from) {
  const size_t n = std::min(from.size(), capacity);
  std::memcpy(to, from.data(), n);
  return n;
}

// Async-signal-safe: write(2) of what set_stop_note left, once (a second
// signal on another thread writes no second line).
void write_stop_note(int signal) {
  if (g_note_read.exchange(true)) return;
  const int slot = g_note_slot.load();
  if (slot < 0) return;
  const StopNote& note = g_notes[slot];
  const char* name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
  (void)!::write(STDERR_FILENO, note.head, note.head_size);
  (void)!::write(STDERR_FILENO, name, std::strlen(name));
  (void)!::write(STDERR_FILENO, note.tail, note.tail_size);
  (void)!::write(STDERR_FILENO, "\n", 1);
}

void on_signal(int signal) {
  if (g_holds.load() > 0) {
    int none = 0;
    g_held_signal.compare_exchange_strong(none, signal);
    return;
  }
  if (g_mode.load() == int(StopMode::kAtStepBoundary) && g_stop_signal == 0) {
    g_stop_signal = signal;
    const char note[] = "\nstopping at the next step boundary (a second signal stops at once)\n";
    (void)!::write(STDERR_FILENO, note, sizeof(note) - 1);
    return;
  }
  write_stop_note(signal);
  run_exit_cleanups();
  ::_exit(128 + signal);
}

bool copy_path(char (&to)[PATH_MAX], const std::string& from) {
  if (from.size() >= PATH_MAX) return false;
  std::memcpy(to, from.c_str(), from.size() + 1);
  return true;
}

}  // namespace

void install_stop_handlers(StopMode mode) {
  g_mode.store(int(mode));
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);  // one handler at a time
  sigaddset(&action.sa_mask, SIGTERM);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

HoldStops::HoldStops() { g_holds.fetch_add(1); }

HoldStops::~HoldStops() {
  if (g_holds.fetch_sub(1) != 1) return;
  const int held = g_held_signal.exchange(0);
  if (held != 0) on_signal(held);  // as if it arrived now
}

void set_stop_note(const std::string& head, const std::string& tail) {
  if (g_note_read.load()) return;  // a handler is writing the note: leave it whole
  if (head.empty() && tail.empty()) {
    g_note_slot.store(-1);
    return;
  }
  const int slot = g_note_slot.load() == 0 ? 1 : 0;
  StopNote& note = g_notes[slot];
  note.head_size = copy_clipped(note.head, sizeof(note.head), head);
  note.tail_size = copy_clipped(note.tail, sizeof(note.tail), tail);
  g_note_slot.store(slot);
}

int stop_signal() { return g_stop_signal; }
void clear_stop_signal() { g_stop_signal = 0; }

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

int add_exit_cleanup(CleanupKind kind, const std::string& a, const std::string& b) {
  for (int slot = 0; slot < kMaxExitCleanups; ++slot) {
    int expected = 0;
    Cleanup& c = g_cleanups[slot];
    if (!c.state.compare_exchange_strong(expected, 1)) continue;
    c.kind = kind;
    if (!copy_path(c.a, a) || !copy_path(c.b, b)) {
      c.state.store(0);
      return -1;
    }
    c.state.store(2);  // armed: the handler may run it from now on
    return slot;
  }
  return -1;
}

void remove_exit_cleanup(int slot) {
  if (slot >= 0 && slot < kMaxExitCleanups) g_cleanups[slot].state.store(0);
}

void run_exit_cleanups() {
  for (Cleanup& c : g_cleanups)
    if (c.state.load() == 2) run_one(c);
}

}  // namespace dcsr::runtime
