#include "apps/dcsr/sr_batch.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "apps/dcsr/cli.h"
#include "autograd/ops/elementwise.h"
#include "io/exif.h"
#include "dcsr/inference/progress.h"
#include "dcsr/inference/shard_reports.h"
#include "nn/distributed.h"
#include "runtime/scope_exit.h"
#include "runtime/signals.h"
#include "tensor/error.h"

namespace dcsr::cli {

namespace {
namespace fs = std::filesystem;

constexpr int kSomePairsFailed = 4;  // exit status when pairs were skipped

// The tiles of a pair (its cost, and its share of the progress display), from
// the image header alone; 0 when unreadable (reported when the pair's turn comes).
int64_t tiles_of(const std::string& lr_path, Mode mode) {
  try {
    const ImageInfo info = read_image_info(lr_path);
    const TileGrid g = make_tile_grid(info.height, info.width, mode);
    return g.ny * g.nx;
  } catch (const Error&) {
    return 0;
  }
}

// Runs one job at a time on a thread of its own: submit() waits for the job
// before it (rethrowing its error) and starts the next; wait() waits for the
// last. The destructor waits too, without throwing: it runs when an error is
// already on its way, and the job must not outlive what it writes to.
class WriteBehind {
 public:
  WriteBehind() = default;
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;
  ~WriteBehind() {
    if (pending_.valid()) pending_.wait();
  }
  void submit(std::function<void()> job) {
    wait();
    pending_ = std::async(std::launch::async, std::move(job));
  }
  void wait() {
    if (!pending_.valid()) return;
    const auto start = std::chrono::steady_clock::now();
    pending_.get();  // (leaves pending_ empty, also when it throws)
    waited_ += seconds_since(start);
  }
  double waited() const { return waited_; }

 private:
  std::future<void> pending_;
  double waited_ = 0.0;
};

}  // namespace

bool write_behind_for(Device device) {
  const char* env = std::getenv("DCSR_WRITE_BEHIND");
  if (!env || !*env) return device == kCUDA;
  const std::string value = env;
  DCSR_CHECK(value == "0" || value == "1", "DCSR_WRITE_BEHIND: expected 1 or 0, got '", value, "'");
  return value == "1";
}

int64_t output_band_bytes() {
  const char* env = std::getenv("DCSR_OUTPUT_BAND_MIB");
  if (!env || !*env) return TiledOptions{}.band_bytes;
  char* end = nullptr;
  errno = 0;
  const long long mib = std::strtoll(env, &end, 10);
  DCSR_CHECK(errno == 0 && *end == '\0' && mib >= 1 && mib <= (1 << 20),
             "DCSR_OUTPUT_BAND_MIB: expected a whole number of MiB from 1 to 1048576, got '", env, "'");
  return int64_t(mib) << 20;
}

TiledResult super_resolve_to_files(const PreparedPair& pair, const TileForward& forward, const SrSettings& s,
                                   TiledOptions options, const SrOutputPaths& paths, OutputFiles& outputs,
                                   WritingTimes* times) {
  const int64_t H = pair.lr.height(), W = pair.lr.width();
  // Each writer opens its file (a temp file until finish) when the output
  // is begun; the confidence's size is known with its first band.
  std::optional<ImageFileWriter> sr, confidence, warped;
  ImageWriteOptions sr_format = s.write;
  sr_format.icc_profile = pair.wide_metadata.icc_profile;
  sr_format.exif = exif_for_output(pair.wide_metadata.exif, 2 * W, 2 * H);  // capture time, camera, place
  outputs.write(paths.sr, [&](const std::string& p) { sr.emplace(p, 3, 2 * H, 2 * W, sr_format); });
  if (!paths.warped_ref.empty())
    outputs.write(paths.warped_ref, [&](const std::string& p) { warped.emplace(p, 3, 2 * H, 2 * W); });
  options.band_bytes = s.write_behind ? std::min(s.band_bytes, kWriteBehindBandBytes) : s.band_bytes;
  options.want_confidence = !paths.confidence.empty();
  options.want_warped_ref = !paths.warped_ref.empty();
  double writing = 0.0;
  auto write_band = [&](const TiledBand& band) {
    const auto start = std::chrono::steady_clock::now();
    sr->write_rows(band.sr);
    if (warped) warped->write_rows(add(band.warped_ref, 0.5));  // high frequencies around mid-grey
    if (options.want_confidence) {  // max cosine similarity, clamped to [0, 1]
      if (!confidence)
        outputs.write(paths.confidence, [&](const std::string& p) {
          confidence.emplace(p, 1, band.confidence_height, band.confidence.size(3));
        });
      confidence->write_rows(band.confidence);
    }
    writing += seconds_since(start);
  };
  // Behind the inference, a band is written while the next is computed. The
  // band's tensors are its own (the tiling makes each band anew), so the
  // writing thread holds them; `behind` is declared after the writers and
  // waits for its job before they go.
  WriteBehind behind;
  if (s.write_behind)
    options.on_band = [&](const TiledBand& band) { behind.submit([&write_band, band] { write_band(band); }); };
  else
    options.on_band = write_band;
  TiledResult r = tiled_inference(pair.lr, pair.ref, s.mode, forward, options);
  behind.wait();
  const auto start = std::chrono::steady_clock::now();
  sr->finish();
  if (confidence) confidence->finish();
  if (warped) warped->finish();
  const double finishing = seconds_since(start);
  writing += finishing;
  if (times) *times = {writing, s.write_behind ? behind.waited() + finishing : writing};
  return r;
}

BatchPlan plan_batch(const std::string& lr_dir, const std::string& ref_dir, const std::string& out_dir,
                     const std::string& ext) {
  BatchPlan b;
  b.out_dir = out_dir;
  b.lrs = list_images(lr_dir);
  b.refs = list_images(ref_dir);
  DCSR_CHECK(!b.lrs.empty(), "--lr-dir '", lr_dir, "' has no images (.png .jpg .jpeg .bmp .heic .heif .avif)");
  DCSR_CHECK(b.lrs.size() == b.refs.size(), "--lr-dir '", lr_dir, "' has ", b.lrs.size(), " images but --ref-dir '",
             ref_dir, "' has ", b.refs.size(), ": pairs are made by sorted file name, so the counts must be equal");
  std::error_code ec;
  for (const std::string& input_dir : {lr_dir, ref_dir})
    DCSR_CHECK(!fs::exists(out_dir, ec) || !fs::equivalent(out_dir, input_dir, ec), "--out-dir '", out_dir,
               "' is the input folder '", input_dir, "': outputs could replace inputs; choose another folder");
  std::map<std::string, std::string> by_name;
  for (const std::string& lr : b.lrs) {
    const std::string name = fs::path(lr).stem().string() + "." + ext;
    const auto [it, fresh] = by_name.emplace(name, lr);
    DCSR_CHECK(fresh, "'", it->second, "' and '", lr, "' would both be written to '", name,
               "' in --out-dir: rename one of them");
    b.outs.push_back((fs::path(out_dir) / name).string());
  }
  return b;
}

int process_pairs(const BatchPlan& plan, const TileForward& forward, const SrSettings& s,
                  const std::string& model_path) {
  const distributed::World& world = distributed::world();
  const size_t n = plan.lrs.size();
  std::vector<int64_t> tiles(n);
  int64_t total = 0;
  for (size_t k = 0; k < n; ++k) total += tiles[k] = tiles_of(plan.lrs[k], s.mode);
  // Which rank does which pair: the same split on every rank (all zeros for one rank).
  const std::vector<int> owner = assign_by_cost(tiles, world.size);
  // Ranks on several machines share the output folder: the root sweeps dead
  // processes' temp files before any rank writes, and no rank sweeps after
  // (another machine's live temp file looks dead from here; the per-pair
  // sweep removed them: 17 of 36 pairs skipped).
  if (world.size > 1) {
    if (world.is_root()) {
      std::vector<std::string> inputs = plan.lrs;  // never an input named like a temp file
      inputs.insert(inputs.end(), plan.refs.begin(), plan.refs.end());
      remove_stale_temp_files(plan.out_dir, inputs);
    }
    distributed::barrier();
    set_stale_temp_sweep(false);
  }

  // The root alone draws the display and prints every pair's lines.
  std::unique_ptr<ProgressBar> bar;
  if (!s.quiet && world.is_root())
    bar = std::make_unique<ProgressBar>("sr tiles of " + std::to_string(n) + " pairs", total);
  auto print = [&](const std::string& line) {
    if (bar) bar->message(line);
    else std::cerr << line << "\n";
  };
  int64_t done_here = 0, done_elsewhere = 0;  // tiles done by this rank's finished pairs / by the others (root)
  // The pair in progress: its tiles done and the bar's label for it. The
  // others' reports arrive also in the middle of a pair (the root polls from
  // its kernels' beats, shard_reports.h): the bar keeps counting them.
  int64_t done_in_pair = 0;
  std::string pair_label;
  ShardReports reports([&](int64_t elsewhere, const std::string& lines) {
    done_elsewhere = elsewhere;
    for (size_t start = 0, end; (end = lines.find('\n', start)) != std::string::npos; start = end + 1)
      print(lines.substr(start, end - start));
    if (bar) bar->update(done_here + done_in_pair + done_elsewhere, pair_label);
  });

  // A signal ends the run at once (runtime/signals.h): the pair in progress
  // leaves nothing (its outputs' exit cleanups), the pairs written before it
  // stay. Its one line says how many were written and which pair was in
  // progress, kept up to date here pair by pair.
  int64_t mine = 0, written = 0, skipped = 0;
  for (size_t k = 0; k < n; ++k) mine += owner[k] == world.rank;
  // The stop note (runtime::set_stop_note) is cleared when the pairs are
  // done, also by an error: a later signal must not report pairs as in progress.
  const ScopeExit clear_stop_note([] { runtime::set_stop_note("", ""); });
  const std::string line_start = bar && ::isatty(STDERR_FILENO) ? "\n" : "";  // after the bar drawn in place
  auto note = [&](const std::string& in_progress) {
    const std::string who = world.size > 1 ? "dcsr sr: rank " + std::to_string(world.rank) + " " : "dcsr sr: ";
    std::string tail = ": " + std::to_string(written) + (world.size > 1 ? " of its " : " of ") +
                       std::to_string(mine) + " pairs written to " + plan.out_dir;
    if (skipped > 0) tail += ", " + std::to_string(skipped) + " skipped";
    if (!in_progress.empty()) tail += "; " + in_progress + " was in progress and left no file";
    runtime::set_stop_note(line_start + who + "stopped by ", tail);
  };

  for (size_t k = 0; k < n; ++k) {
    if (owner[k] != world.rank) continue;
    const std::string& lr = plan.lrs[k];
    const std::string& ref = plan.refs[k];
    const std::string& out = plan.outs[k];
    const std::string label = "pair " + std::to_string(k + 1) + "/" + std::to_string(n);
    note(label + " (" + fs::path(lr).filename().string() + ")");
    std::string lines;  // another rank's lines go to the root with the pair's report
    auto say = [&](const std::string& line) {
      if (world.is_root()) print(line);
      else lines += line + "\n";
    };
    bool failed = false;
    try {
      OutputFiles outputs;
      outputs.declare_input(lr, "lr-dir");
      outputs.declare_input(ref, "ref-dir");
      outputs.declare_input(model_path, "model");
      outputs.declare(out, "out-dir");
      check_image_output(out, s.write);
      PreparedPair pair = prepare_pair(lr, ref, s.registration);
      if (!s.quiet && !pair.registration_line.empty()) say(label + " " + pair.registration_line);
      TiledOptions opt;
      opt.batch_tiles = s.tile_batch;
      pair.place(opt);
      pair_label = label + " " + fs::path(lr).filename().string();
      opt.progress = [&](int64_t done, int64_t) {
        done_in_pair = done;
        if (bar) bar->update(done_here + done + done_elsewhere, pair_label);
        reports.progress(done_here + done);
      };
      super_resolve_to_files(pair, forward, s, opt, {out, "", ""}, outputs);
      {
        // A signal during the commit ends the run once the output is in place
        // and counted (HoldStops nests in the commit's own).
        runtime::HoldStops hold;
        outputs.commit();
        ++written;
        note("");
      }
      if (!s.quiet) say(label + " wrote " + out);
    } catch (const std::exception& e) {
      failed = true;
      ++skipped;
      note("");
      say("dcsr sr: " + label + " skipped (" + lr + " + " + ref + "): " + e.what());
    }
    done_here += tiles[k];
    done_in_pair = 0;
    pair_label.clear();
    if (bar) bar->update(done_here + done_elsewhere);
    reports.item_done(int64_t(k), failed, done_here, lines);
  }
  const std::vector<int64_t> failed = reports.finish();
  if (bar) bar->finish();
  int status = 0;
  if (world.is_root()) {
    const std::string made_by = "model " + model_path + " in " + mode_name(s.mode) + " mode";
    if (!failed.empty())
      std::cerr << "dcsr sr: " << failed.size() << " of " << n << " pairs failed and were skipped (exit status "
                << kSomePairsFailed << "); the other outputs are in " << plan.out_dir << " (" << made_by << ")\n";
    else if (!s.quiet)
      std::cerr << "dcsr sr: " << n << " pairs written to " << plan.out_dir
                << (world.size > 1 ? " by " + std::to_string(world.size) + " ranks" : std::string()) << " ("
                << made_by << ")\n";
    std::cerr.flush();
  }
  if (!failed.empty()) status = kSomePairsFailed;
  reports.end();
  // Every rank knows the same status: exiting with 4 is no one rank's failure.
  if (world.size > 1) distributed::set_exit_status_agreed();
  return status;
}

}  // namespace dcsr::cli
