// A progress line on stderr for long loops (training, tiled inference,
// evaluation): "label  done/total [#####     ] 42%  1.83 it/s  ETA 0:12:05  suffix".
// On a terminal the line is redrawn in place (at most 5 times a second); when
// stderr is a file or a pipe it prints a full line at most every
// `plain_interval_s` seconds and at the end, so logs stay short.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace dcsr {

class ProgressBar {
 public:
  // total <= 0: unknown (no bar, no ETA). start_done: work already done
  // before this run (a resumed training), not counted in the rate.
  ProgressBar(std::string label, int64_t total, int64_t start_done = 0, double plain_interval_s = 30.0);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(int64_t done, const std::string& suffix = "");
  // Sets the total when it becomes known after construction.
  void set_total(int64_t total) { total_ = total; }
  // Draws the final state and ends the line (also done by the destructor).
  void finish();
  // Prints a message on its own line without breaking the bar.
  void message(const std::string& text);

  double rate() const;  // items per second since the start of this run

  // Whole seconds as H:MM:SS.
  static std::string format_duration(double seconds);

 private:
  void draw(bool force);

  std::string label_, suffix_;
  int64_t total_, start_done_, done_, drawn_done_ = -1;
  bool tty_, finished_ = false, drawn_ = false;
  double plain_interval_s_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dcsr
