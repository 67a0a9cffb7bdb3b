#include "dcsr/figures/plot_log.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "dcsr/figures/raster.h"

namespace dcsr {

namespace {

using json = nlohmann::json;

// Appends (step, value), first dropping the points at or after `step` (a
// resumed run re-logging steps that its interrupted predecessor had logged).
void add_point(LogSeries& s, double step, double value) {
  while (!s.step.empty() && s.step.back() >= step) s.step.pop_back(), s.value.pop_back();
  s.step.push_back(step);
  s.value.push_back(value);
}

// Keys of a train line that are not loss values.
const std::set<std::string> kTrainMeta = {"type", "step", "epoch", "lr", "loss", "it_s"};

}  // namespace

namespace {

// The series of one or more logs while they are read, keyed by name.
struct LogReader {
  LogSeries total{"loss", {}, {}};
  std::map<std::string, LogSeries> terms;  // by name: the legend's order
  PsnrCurves val{"validation", {"validation PSNR", {}, {}}, {"bicubic", {}, {}}};
  std::map<std::string, PsnrCurves> monitors;
};

void add_psnr_points(PsnrCurves& curves, const json& j, double step) {
  if (j.contains("psnr") && j["psnr"].is_number()) add_point(curves.psnr, step, j["psnr"].get<double>());
  if (j.contains("psnr_bicubic") && j["psnr_bicubic"].is_number())
    add_point(curves.bicubic, step, j["psnr_bicubic"].get<double>());
}

// Reads one log into `r`, its steps shifted by `offset`; returns its last
// step (unshifted): the largest of any line's, a stop line's included.
double read_log_into(const std::string& path, double offset, LogReader& r) {
  std::error_code ec;
  DCSR_CHECK(!std::filesystem::is_directory(path, ec), "the training log '", path, "' is a folder, not a file");
  std::ifstream file(path);
  DCSR_CHECK(file, "cannot read the training log '", path, "': ", std::strerror(errno));
  std::vector<std::string> lines;
  bool ends_with_newline = true;
  for (std::string line; std::getline(file, line);) lines.push_back(line), ends_with_newline = !file.eof();
  DCSR_CHECK(!file.bad(), "cannot read the training log '", path, "'");

  double last_step = 0;
  bool has_train = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      // The trainer flushes whole lines ending in a newline; only a run killed
      // mid-write leaves a broken last line: the start of an object, no
      // newline after it. Anything else means this is not a training log.
      const bool cut_short = i + 1 == lines.size() && !ends_with_newline && line.rfind("{", 0) == 0;
      DCSR_CHECK(cut_short, "the training log '", path, "' line ", i + 1,
                 " is not a JSON object (is it a train_log.jsonl written by dcsr train?)");
      std::cerr << "warning: ignoring the incomplete last line " << i + 1 << " of '" << path << "'\n";
      continue;
    }
    const std::string type = j.value("type", "");
    if (!j.contains("step") || !j["step"].is_number()) continue;
    last_step = std::max(last_step, j["step"].get<double>());
    const double step = offset + j["step"].get<double>();
    if (type == "train") {
      has_train = true;
      if (j.contains("loss") && j["loss"].is_number()) add_point(r.total, step, j["loss"].get<double>());
      for (auto& [key, value] : j.items())
        if (!kTrainMeta.count(key) && value.is_number()) {
          LogSeries& s = r.terms[key];
          s.name = key;
          add_point(s, step, value.get<double>());
        }
    } else if (type == "val") {
      add_psnr_points(r.val, j, step);
    } else if (type == "monitor" && j.contains("set") && j["set"].is_string()) {
      const std::string name = j["set"].get<std::string>();
      PsnrCurves& curves = r.monitors[name];
      curves.name = name;
      add_psnr_points(curves, j, step);
    }
  }
  DCSR_CHECK(has_train, "the training log '", path,
             "' has no train lines ({\"type\": \"train\", \"step\": ..., \"loss\": ...}); is it a "
             "train_log.jsonl written by dcsr train?");
  return last_step;
}

}  // namespace

TrainingLog read_training_logs(const std::vector<std::string>& paths) {
  DCSR_CHECK(!paths.empty(), "plot-log: no training log given");
  LogReader r;
  double offset = 0;
  for (const std::string& path : paths) offset += read_log_into(path, offset, r);
  if (r.total.step.empty()) {
    std::string names;
    for (const std::string& path : paths) names += (names.empty() ? "'" : ", '") + path + "'";
    fail("the training log ", names, " has no loss values in its train lines");
  }
  TrainingLog log;
  log.losses.push_back(r.total);
  for (auto& [name, s] : r.terms) log.losses.push_back(s);
  log.val_psnr = r.val.psnr;
  log.val_bicubic = r.val.bicubic;
  for (auto& [name, curves] : r.monitors) log.monitors.push_back(curves);
  return log;
}

TrainingLog read_training_log(const std::string& path) { return read_training_logs({path}); }

std::vector<double> moving_average(const std::vector<double>& v, int64_t n) {
  n = std::max<int64_t>(n, 1);
  std::vector<double> out(v.size());
  double sum = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    sum += v[i];
    if (int64_t(i) >= n) sum -= v[i - size_t(n)];
    out[i] = sum / double(std::min<int64_t>(int64_t(i) + 1, n));
  }
  return out;
}

int64_t default_smoothing(int64_t points) { return std::clamp<int64_t>(points / 20, 1, 50); }

namespace {

// ---- axes ----

// A value range mapped onto a pixel span; `log` maps log10(value).
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  double pixel_lo = 0, pixel_hi = 1;  // pixel of lo and of hi (hi < lo for a y axis)
  double to_pixel(double v) const {
    const double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return pixel_lo + t * (pixel_hi - pixel_lo);
  }
};

// The smallest of 1, 2, 5 x 10^k that is >= raw.
double nice_step(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

// About `count` evenly spaced round values inside [lo, hi].
std::vector<double> linear_ticks(double lo, double hi, int count) {
  const double step = nice_step((hi - lo) / count);
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  return ticks;
}

// Ticks of a log axis: m x 10^k inside [lo, hi], with m from the first of
// {1, 2, 5}, {1}, {1..9} that gives 3 to 12 ticks; linear ticks when the
// range is too narrow for any of them.
std::vector<double> log_ticks(double lo, double hi) {
  const int k0 = int(std::floor(std::log10(lo))), k1 = int(std::ceil(std::log10(hi)));
  for (const std::vector<double>& mantissas :
       {std::vector<double>{1, 2, 5}, std::vector<double>{1}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    std::vector<double> ticks;
    for (int k = k0; k <= k1; ++k)
      for (double m : mantissas) {
        const double v = m * std::pow(10.0, k);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
      }
    if (ticks.size() >= 3 && ticks.size() <= 12) return ticks;
  }
  if (k1 - k0 > 12) {  // many decades (a loss that blew up): a power of ten every few of them
    const int stride = (k1 - k0 + 9) / 10;
    std::vector<double> ticks;
    for (int k = k0; k <= k1; ++k)
      if (k % stride == 0 && std::pow(10.0, k) >= lo * (1 - 1e-9) && std::pow(10.0, k) <= hi * (1 + 1e-9))
        ticks.push_back(std::pow(10.0, k));
    if (ticks.size() >= 2) return ticks;
  }
  return linear_ticks(lo, hi, 4);
}

// Short labels: whole numbers below a million as they are ("12000"), others
// with 3 significant digits and an unpadded exponent ("0.05", "1e-5").
std::string format_number(double v) {
  char buffer[32];
  if (v == std::round(v) && std::abs(v) < 1e6) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", v);
    return buffer;
  }
  std::snprintf(buffer, sizeof(buffer), "%.3g", v);
  std::string s = buffer;
  const size_t e = s.find('e');
  if (e != std::string::npos) {
    std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
    const bool negative = exponent[0] == '-';
    exponent = exponent.substr(1);
    exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
    s = mantissa + "e" + (negative ? "-" : "") + exponent;
  }
  return s;
}

// ---- drawing ----

constexpr int64_t kText = 2;  // font scale of every label
const Color kWhite{1, 1, 1}, kInk{0.1f, 0.1f, 0.1f}, kGrid{0.89f, 0.89f, 0.89f}, kFrame{0.35f, 0.35f, 0.35f};
// Total loss first (dark), then the terms.
const Color kSeriesColors[] = {{0.1f, 0.1f, 0.1f},   {0.12f, 0.42f, 0.8f}, {0.9f, 0.45f, 0.05f},
                               {0.15f, 0.6f, 0.25f}, {0.8f, 0.15f, 0.2f},  {0.55f, 0.3f, 0.7f}};
const Color kPsnrColor{0.12f, 0.42f, 0.8f}, kBicubicColor{0.45f, 0.45f, 0.45f};

// The plot area of one panel and its axes.
struct Panel {
  int64_t left, top, width, height;
  Axis x, y;
};

Panel make_panel(int64_t left, int64_t top, int64_t width, int64_t height, double x_lo, double x_hi, double y_lo,
                 double y_hi, bool y_log) {
  Panel p{left, top, width, height, {}, {}};
  p.x = {x_lo, x_hi, false, double(left), double(left + width - 1)};
  p.y = {y_lo, y_hi, y_log, double(top + height - 1), double(top)};
  return p;
}

// Grid lines, the frame and the tick labels (y on the left, x below when asked).
void draw_axes(Canvas& c, const Panel& p, const std::vector<double>& x_ticks, const std::vector<double>& y_ticks,
               bool x_labels) {
  c.fill_rect(p.left, p.top, p.width, p.height, kWhite);
  const int64_t th = Canvas::text_height(kText);
  for (double v : y_ticks) {
    const int64_t y = std::lround(p.y.to_pixel(v));
    c.line(double(p.left), double(y), double(p.left + p.width - 1), double(y), kGrid);
    const std::string label = format_number(v);
    c.text(p.left - 8 - Canvas::text_width(label, kText), y - th / 2, label, kInk, kText);
  }
  for (double v : x_ticks) {
    const int64_t x = std::lround(p.x.to_pixel(v));
    c.line(double(x), double(p.top), double(x), double(p.top + p.height - 1), kGrid);
    if (x_labels) {
      const std::string label = format_number(v);
      c.text(x - Canvas::text_width(label, kText) / 2, p.top + p.height + 8, label, kInk, kText);
    }
  }
  c.outline_rect(p.left - 1, p.top - 1, p.width + 2, p.height + 2, 1, kFrame);
}

// A polyline through the points, skipping values the axis cannot show: not
// finite, not positive on a log axis, or outside the panel's range (a moving
// average of zeros is a few ulps off them and would run across the labels).
void draw_series(Canvas& c, const Panel& p, const std::vector<double>& steps, const std::vector<double>& values,
                 const Color& color, int64_t thickness, int64_t dash = 0) {
  bool have_previous = false;
  double px = 0, py = 0;
  const double lo = std::min(p.y.lo, p.y.hi), hi = std::max(p.y.lo, p.y.hi);
  for (size_t i = 0; i < steps.size(); ++i) {
    const double v = values[i];
    if (!std::isfinite(v) || (p.y.log && v <= 0) || v < lo || v > hi) {
      have_previous = false;
      continue;
    }
    const double x = p.x.to_pixel(steps[i]), y = p.y.to_pixel(v);
    if (have_previous) c.line(px, py, x, y, color, thickness, dash);
    else if (steps.size() == 1) c.fill_rect(std::lround(x) - 2, std::lround(y) - 2, 5, 5, color);
    px = x, py = y, have_previous = true;
  }
}

// A legend in one row from (x, y): per entry a line sample and its name.
// Outside the plot area, so it never hides a curve.
void draw_legend(Canvas& c, int64_t x, int64_t y, const std::vector<std::pair<std::string, Color>>& entries,
                 const std::vector<int64_t>& dashes) {
  const int64_t swatch = 28;
  const double mid = double(y + Canvas::text_height(kText) / 2);
  for (size_t i = 0; i < entries.size(); ++i) {
    c.line(double(x), mid, double(x + swatch), mid, entries[i].second, 3, dashes[i]);
    c.text(x + swatch + 8, y, entries[i].first, kInk, kText);
    x += swatch + 8 + Canvas::text_width(entries[i].first, kText) + 28;
  }
}

void range_of(const std::vector<double>& v, bool positive_only, double& lo, double& hi) {
  for (double x : v)
    if (std::isfinite(x) && (!positive_only || x > 0)) lo = std::min(lo, x), hi = std::max(hi, x);
}

}  // namespace

namespace {

// A PSNR panel at `top`: the model's curve with a marker per point, bicubic's
// dashed, its title and legend above it.
void draw_psnr_panel(Canvas& c, int64_t left, int64_t top, int64_t width, int64_t height, double x_lo, double x_hi,
                     const std::vector<double>& x_ticks, const PsnrCurves& curves, const std::string& title) {
  const int64_t th = Canvas::text_height(kText);
  double v_lo = 1e300, v_hi = -1e300;
  range_of(curves.psnr.value, false, v_lo, v_hi);
  range_of(curves.bicubic.value, false, v_lo, v_hi);
  v_lo -= 0.5, v_hi += 0.5;  // dB of headroom
  const Panel psnr = make_panel(left, top, width, height, x_lo, x_hi, v_lo, v_hi, false);
  c.text(left, top - th - 12, title, kInk, kText);
  draw_axes(c, psnr, x_ticks, linear_ticks(v_lo, v_hi, 4), true);
  std::vector<std::pair<std::string, Color>> entries = {{"DCSR", kPsnrColor}};
  std::vector<int64_t> dashes = {0};
  if (!curves.bicubic.step.empty()) {
    draw_series(c, psnr, curves.bicubic.step, curves.bicubic.value, kBicubicColor, 2, 6);
    entries.emplace_back("bicubic", kBicubicColor);
    dashes.push_back(6);
  }
  draw_series(c, psnr, curves.psnr.step, curves.psnr.value, kPsnrColor, 2);
  for (size_t i = 0; i < curves.psnr.step.size(); ++i) {  // a marker per validation
    const int64_t x = std::lround(psnr.x.to_pixel(curves.psnr.step[i]));
    const int64_t y = std::lround(psnr.y.to_pixel(curves.psnr.value[i]));
    c.fill_rect(x - 3, y - 3, 7, 7, kPsnrColor);
  }
  draw_legend(c, left + Canvas::text_width(title, kText) + 40, top - th - 12, entries, dashes);
}

}  // namespace

Tensor plot_training_log(const TrainingLog& log, const PlotOptions& options) {
  DCSR_CHECK(!log.losses.empty() && !log.losses[0].step.empty(), "plot-log: the log has no train lines");
  DCSR_CHECK(options.width >= 400, "plot-log: width ", options.width, " is too small (at least 400)");
  const int64_t n_points = int64_t(log.losses[0].step.size());
  const int64_t smooth = options.smooth > 0 ? options.smooth : default_smoothing(n_points);
  // The PSNR panels: validation first (when logged), then each monitored set.
  std::vector<std::pair<PsnrCurves, std::string>> psnr_panels;
  if (!log.val_psnr.step.empty())
    psnr_panels.push_back({PsnrCurves{"validation", log.val_psnr, log.val_bicubic}, "validation PSNR (dB)"});
  for (const PsnrCurves& m : log.monitors)
    if (!m.psnr.step.empty()) psnr_panels.push_back({m, "monitor '" + m.name + "', PSNR (dB)"});

  // Layout: title, loss panel, x labels, then per PSNR panel [its title, the panel, x labels], "step".
  const int64_t th = Canvas::text_height(kText), margin_l = 90, margin_r = 24;
  const int64_t loss_h = 400, psnr_h = 220;
  const int64_t plot_w = options.width - margin_l - margin_r;
  const int64_t loss_top = 16 + 3 * (th + 8) + 4;  // title, subtitle, legend
  const int64_t psnr_pitch = th + 24 + th + 12 + psnr_h;  // the x labels above, a title, the panel
  const int64_t psnr_top = loss_top + loss_h + th + 24 + th + 12;
  const int64_t bottom = loss_top + loss_h + int64_t(psnr_panels.size()) * psnr_pitch + th + 16 + th + 16;
  Canvas c(options.width, bottom, {0.97f, 0.97f, 0.97f});

  // x: every step of the log, from 0 when the run started at the beginning.
  double x_lo = 1e300, x_hi = -1e300;
  for (const LogSeries& s : log.losses) range_of(s.step, false, x_lo, x_hi);
  for (const auto& [curves, title] : psnr_panels) range_of(curves.psnr.step, false, x_lo, x_hi);
  if (x_lo <= x_hi * 0.2) x_lo = 0;  // a run that starts near 0: show the origin
  if (x_hi <= x_lo) x_hi = x_lo + 1;
  const std::vector<double> x_ticks = linear_ticks(x_lo, x_hi, 8);

  // ---- loss panel (log y) ----
  double y_lo = 1e300, y_hi = -1e300;
  for (const LogSeries& s : log.losses) range_of(s.value, true, y_lo, y_hi);
  DCSR_CHECK(y_lo <= y_hi, "plot-log: no positive finite loss value to plot");
  // 5 % of the log range as padding (at least a factor 1.1 each way).
  const double pad = std::max(std::log10(1.1), 0.05 * (std::log10(y_hi) - std::log10(y_lo)));
  y_lo = std::pow(10.0, std::log10(y_lo) - pad), y_hi = std::pow(10.0, std::log10(y_hi) + pad);
  const Panel loss = make_panel(margin_l, loss_top, plot_w, loss_h, x_lo, x_hi, y_lo, y_hi, true);
  const std::string title = options.title.empty() ? std::string("training loss") : options.title;
  c.text(margin_l, 16, title, kInk, kText);
  c.text(margin_l, 16 + th + 8,
         "loss and its terms (log scale); bold: moving average of " + std::to_string(smooth) + " log lines", kInk,
         kText);
  draw_axes(c, loss, x_ticks, log_ticks(y_lo, y_hi), true);
  std::vector<std::pair<std::string, Color>> entries;
  for (size_t k = 0; k < log.losses.size(); ++k) {
    const Color color = kSeriesColors[k % (sizeof(kSeriesColors) / sizeof(kSeriesColors[0]))];
    draw_series(c, loss, log.losses[k].step, log.losses[k].value, mix(color, kWhite, 0.7f), 1);
    entries.emplace_back(k == 0 ? "loss (total)" : log.losses[k].name, color);
  }
  for (size_t k = 0; k < log.losses.size(); ++k)  // the averages on top of every faint line
    draw_series(c, loss, log.losses[k].step, moving_average(log.losses[k].value, smooth), entries[k].second, 2);
  draw_legend(c, margin_l, 16 + 2 * (th + 8), entries, std::vector<int64_t>(entries.size(), 0));

  // ---- PSNR panels (linear y, dB) ----
  for (size_t k = 0; k < psnr_panels.size(); ++k)
    draw_psnr_panel(c, margin_l, psnr_top + int64_t(k) * psnr_pitch, plot_w, psnr_h, x_lo, x_hi, x_ticks,
                    psnr_panels[k].first, psnr_panels[k].second);
  const std::string x_label = "step";
  c.text(margin_l + (plot_w - Canvas::text_width(x_label, kText)) / 2, bottom - th - 12, x_label, kInk, kText);
  return c.image();
}

}  // namespace dcsr
