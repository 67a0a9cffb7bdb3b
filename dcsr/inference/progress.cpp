#include "dcsr/inference/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace dcsr {

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t start_done, double plain_interval_s)
    : label_(std::move(label)),
      total_(total),
      start_done_(start_done),
      done_(start_done),
      tty_(::isatty(STDERR_FILENO) == 1),
      plain_interval_s_(plain_interval_s),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

// Unwound before any work was reported (an error in the checks before the
// loop): nothing to show, so no empty "0 it/s" line ahead of the error.
ProgressBar::~ProgressBar() {
  if (drawn_ || done_ != start_done_) finish();
}

double ProgressBar::rate() const {
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return s > 0.0 ? double(done_ - start_done_) / s : 0.0;
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = int64_t(seconds + 0.5);
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                (long long)(s % 60));
  return buffer;
}

void ProgressBar::update(int64_t done, const std::string& suffix) {
  done_ = done;
  suffix_ = suffix;
  draw(false);
}

void ProgressBar::message(const std::string& text) {
  if (tty_ && drawn_) std::cerr << "\r\033[K";
  std::cerr << text << "\n";
  if (tty_ && drawn_) draw(true);
}

void ProgressBar::draw(bool force) {
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  bool last = total_ > 0 && done_ >= total_;
  if (!force && !last && since < (tty_ ? 0.2 : plain_interval_s_)) return;
  last_draw_ = now;
  std::ostringstream line;
  line << label_ << "  " << done_;
  if (total_ > 0) {
    line << "/" << total_ << " [";
    const int width = 24;
    int filled = int(double(width) * double(done_) / double(total_));
    for (int i = 0; i < width; ++i) line << (i < filled ? '#' : ' ');
    line << "] " << int(100.0 * double(done_) / double(total_)) << "%";
  }
  double r = rate();
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "  %.3g it/s", r);
  line << buffer;
  if (total_ > 0 && r > 0) line << "  ETA " << format_duration(double(total_ - done_) / r);
  if (!suffix_.empty()) line << "  " << suffix_;
  if (tty_)
    std::cerr << "\r\033[K" << line.str() << std::flush;
  else
    std::cerr << line.str() << "\n";
  drawn_ = true;
  drawn_done_ = done_;
}

void ProgressBar::finish() {
  if (finished_) return;
  if (drawn_done_ != done_) draw(true);  // the final state, unless it is on screen already
  if (tty_) std::cerr << "\n";
  finished_ = true;
}

}  // namespace dcsr
