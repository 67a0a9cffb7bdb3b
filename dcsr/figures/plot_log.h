// `dcsr plot-log`: the training log (train_log.jsonl, dcsr/training/trainer.h) as a
// PNG figure, drawn with dcsr/figures/raster.h (no plotting library).
//
// Top panel: the total loss and each loss term against the step, on a log
// axis (the terms differ by orders of magnitude: L1 ~ 0.05, CX ~ 1-5), the
// logged values faint and their trailing moving average bold. Below, when
// the log has validation lines: the validation PSNR per validation point and
// the bicubic PSNR of the same images (dashed); then one such panel per
// monitored set ("monitor" lines, dcsr train --monitor).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

struct LogSeries {
  std::string name;
  std::vector<double> step, value;
};

// A validation curve: the model's PSNR and bicubic's on the same images.
struct PsnrCurves {
  std::string name;  // "validation", or the monitored set's name
  LogSeries psnr, bicubic;
};

struct TrainingLog {
  // "loss" (the weighted total) first, then one series per loss term (every
  // other number of a train line: "L1", "CX_ref", ...), in name order.
  std::vector<LogSeries> losses;
  LogSeries val_psnr, val_bicubic;  // empty when there are no val lines
  std::vector<PsnrCurves> monitors;  // per monitored set, in name order
};

// Reads train_log.jsonl: one JSON object per line; "train", "val" and
// "monitor" lines are used, other types (start, resume, stop) skipped. A
// resumed run may log steps again that an interrupted run had logged after
// its last checkpoint: a point whose step is not after the previous one
// replaces the points from that step on. Fails naming the file when it
// cannot be read, a line (other than an incomplete last one, which is
// skipped with a warning) is not JSON, or there is no train line.
TrainingLog read_training_log(const std::string& path);

// Several runs, each continuing the one before (a run started with --init
// from the previous run's model, e.g. tools/gpu_train.sh's segments): the
// logs in order, each one's steps counted on from the last train step of the
// logs before it. One path: read_training_log.
TrainingLog read_training_logs(const std::vector<std::string>& paths);

// Trailing moving average: out[i] = mean of v[max(0, i - n + 1) .. i].
std::vector<double> moving_average(const std::vector<double>& v, int64_t n);

struct PlotOptions {
  int64_t smooth = 0;  // moving-average length in log lines; 0: about 1/20 of the lines (1..50)
  int64_t width = 1000;
  std::string title;  // shown above the loss panel (e.g. the log's path)
};

// The figure, (1, 3, H, width) float32.
Tensor plot_training_log(const TrainingLog& log, const PlotOptions& options);

// The moving-average length plot_training_log uses for `points` train lines.
int64_t default_smoothing(int64_t points);

}  // namespace dcsr
