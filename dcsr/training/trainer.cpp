// The training loop (dcsr/training/trainer.h), cut into named steps that
// share one TrainingRun: read the resume state, check the data and the output
// folder, build the network, the loss and the optimiser, restore the loop
// state, open the log, then the epochs; save and validate are steps the loop
// calls. The configuration lives in train_config.cpp.
#include "dcsr/training/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

#include "autograd/ops/elementwise.h"
#include "dcsr/data/data.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/eval_shard.h"
#include "dcsr/inference/progress.h"
#include "dcsr/model/loss.h"
#include "dcsr/model/network.h"
#include "io/output_rules.h"
#include "nn/checkpoint.h"
#include "nn/distributed.h"
#include "nn/optim.h"
#include "runtime/json_text.h"
#include "runtime/signals.h"

namespace dcsr {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Training state that a checkpoint stores besides tensors.
struct LoopState {
  int64_t step = 0;           // steps done
  int64_t epoch = 0;          // current epoch (0-based)
  int64_t iter_in_epoch = 0;  // steps of the current epoch already done
  double best_val_psnr = -1;
};

std::string u64_str(uint64_t v) { return std::to_string(v); }
uint64_t u64_from(const json& j, const char* what) {
  const std::optional<uint64_t> v =
      j.is_string() ? parse_decimal_digits(j.get<std::string>(), 0, UINT64_MAX) : std::nullopt;
  DCSR_CHECK(v.has_value(), "checkpoint: ", what, " must be a decimal string of a 64-bit unsigned integer");
  return *v;
}

bool all_finite(const Tensor& t) {
  Tensor h = t.detach().to(kCPU).to(kFloat64);
  const double* p = h.data<double>();
  for (int64_t i = 0; i < h.numel(); ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

class JsonLog {
 public:
  // Only the root rank of a data-parallel job writes the log (the others
  // keep a closed file and write nothing).
  JsonLog(const std::string& path, bool append) {
    if (!distributed::world().is_root()) return;
    std::error_code ec;
    DCSR_CHECK(!fs::is_symlink(path, ec), "cannot write the training log '", path,
               "': it is a symbolic link (outputs are never written through links; remove it)");
    file_.open(path, append ? std::ios::app : std::ios::trunc);
    DCSR_CHECK(file_, "cannot write the training log '", path, "'");
  }
  void write(const json& j) {
    if (!file_.is_open()) return;
    file_ << json_text(j) << "\n";
    file_.flush();
  }

 private:
  std::ofstream file_;
};

// Mean of the loss and its parts over the steps since the last log line.
struct LogAccumulator {
  std::vector<std::pair<std::string, double>> part_sums;
  double loss_sum = 0;
  double comm_s = 0;  // seconds in the ranks' collectives (data-parallel runs)
  int64_t steps = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

std::string run_log_path(const TrainConfig& cfg) { return (fs::path(cfg.out_dir) / "train_log.jsonl").string(); }

// The log window in a checkpoint: a resumed run's first "train" line then
// averages the same steps as the uninterrupted run's (its it_s leaves out
// the time in between).
json window_to_json(const LogAccumulator& acc) {
  json parts = json::array();
  for (const auto& [name, sum] : acc.part_sums) parts.push_back({name, sum});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - acc.start).count();
  return {{"steps", acc.steps}, {"loss_sum", acc.loss_sum}, {"comm_s", acc.comm_s}, {"seconds", seconds},
          {"part_sums", parts}};
}
void window_from_json(const json& j, LogAccumulator& acc) {
  acc.steps = j.at("steps").get<int64_t>();
  acc.loss_sum = j.at("loss_sum").get<double>();
  acc.comm_s = j.at("comm_s").get<double>();
  acc.part_sums.clear();
  for (const json& part : j.at("part_sums")) acc.part_sums.emplace_back(part.at(0).get<std::string>(), part.at(1));
  acc.start = std::chrono::steady_clock::now() -
              std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                  std::chrono::duration<double>(j.at("seconds").get<double>()));
}

// Everything one run of train() shares between its steps.
struct TrainingRun {
  TrainConfig cfg;
  TrainOptions options;
  bool resuming = false;
  Checkpoint resume_ckpt;  // the checkpoint being resumed (empty otherwise)
  // The topmost folder this run made for out_dir ("" when out_dir existed):
  // the folders it made are removed again if the run fails before writing.
  fs::path created_root;
  Device device = kCPU;
  Mode mode = Mode::K4, val_mode = Mode::K4;
  std::string latest, best;  // the checkpoint paths in out_dir

  std::unique_ptr<Dataset> data;
  ModelConfig model_config;
  std::unique_ptr<DcsrNet> net;
  std::unique_ptr<Checkpoint> vgg;  // VGG19 weights for feature_space "vgg"
  std::unique_ptr<DcsrLoss> loss;
  std::unique_ptr<nn::Adam> adam;
  std::unique_ptr<nn::MultiStepLR> schedule;
  Generator sample_gen;  // every data draw (patch positions, shifts, flips, rotations)
  LoopState st;

  std::unique_ptr<JsonLog> log;
  std::unique_ptr<ProgressBar> bar;
  LogAccumulator since_log;
  int64_t n_samples = 0, iters_per_epoch = 0, total_steps = 0;

  TrainResult result;
  std::vector<int> exit_cleanups;  // runtime/signals.h slots: the checkpoints' temp files
  std::string saved_at;  // the last checkpoint written in this run
  int64_t saved_step = -1;
  int64_t validated_step = -1;

  // 1-based number of the epoch the last step belonged to.
  int64_t epoch_label() const { return st.iter_in_epoch == 0 ? st.epoch : st.epoch + 1; }
};

// Resume: the checkpoint's config with the command line's overrides on top;
// else the given config. Then the range checks and the derived settings.
void read_config_and_resume_state(TrainingRun& run, const TrainConfig& config_in) {
  run.resuming = !run.options.resume.empty();
  run.cfg = config_in;
  if (run.resuming) {
    run.resume_ckpt = read_checkpoint(run.options.resume);
    DCSR_CHECK(run.resume_ckpt.extra.contains("train_config") && run.resume_ckpt.extra.contains("loop"), "'",
               run.options.resume,
               "' is not a training checkpoint (no training state; a model file can start a run with --init)");
    run.cfg = TrainConfig::from_json(run.resume_ckpt.extra["train_config"], TrainConfig());
    run.cfg = TrainConfig::from_json(run.options.resume_overrides, run.cfg);
  }
  if (run.options.expect_sra >= 0 && run.cfg.sra != (run.options.expect_sra == 1)) {
    const char* kind = run.cfg.sra ? "an SRA run (dcsr sra)" : "a basic training run (dcsr train)";
    if (run.resuming)
      fail("'", run.options.resume, "' is ", kind, "; continue it with that command's --resume");
    fail("the config describes ", kind, " (\"sra\": ", run.cfg.sra ? "true" : "false",
         "); the key is the command's, not the config's");
  }
  run.cfg.validate();
  run.device = select_device(run.cfg.device);
  run.mode = mode_from_name(run.cfg.mode);
  run.val_mode = mode_from_name(run.cfg.val_mode);
  run.latest = (fs::path(run.cfg.out_dir) / "model_latest.ckpt").string();
  run.best = (fs::path(run.cfg.out_dir) / "model_best.ckpt").string();
}

// The evaluation settings of val_data and of a monitored set.
EvalOptions val_eval_options(const TrainingRun& run) {
  EvalOptions eo;
  eo.mode = run.val_mode;
  eo.max_images = run.cfg.val_max_images;
  return eo;
}
EvalOptions monitor_eval_options(const TrainingRun& run, const MonitorSet& set) {
  EvalOptions eo = val_eval_options(run);
  eo.ref_from = set.ref_from;
  return eo;
}

// The first of a run's files that `out_dir` already holds ("" when none).
std::string run_file_in(const TrainingRun& run) {
  std::error_code ec;
  for (const std::string& path : {run.latest, run.best, run_log_path(run.cfg)})
    if (fs::exists(fs::symlink_status(path, ec))) return path;  // a link, even to nothing, is held too
  return "";
}

// Never another run's files: a fresh run needs a folder without any (a
// run's log or model_best may be there without model_latest: a run killed
// before its first save, or one that diverged), and a resumed run may write
// only into the folder of the checkpoint it continues (its own run, from
// model_latest or from model_best) or into one without a run.
void check_out_dir_is_free(const TrainingRun& run) {
  const std::string held = run_file_in(run);
  if (held.empty()) return;
  const std::string& out = run.cfg.out_dir;
  if (!run.resuming) {
    if (held == run.latest)  // run_file_in looks for model_latest first
      fail("'", out, "' already holds a training run (", run.latest, "); continue it with --resume ", run.latest,
           " or choose another --out");
    fail("'", out, "' already holds a training run's files (", held,
         "), which a new run would replace; choose another --out");
  }
  std::error_code ec;
  const fs::path resumed_dir = fs::absolute(run.options.resume, ec).parent_path();
  if (fs::equivalent(resumed_dir, out, ec)) return;
  fail("'", out, "' holds another training run (", held, "), which continuing '", run.options.resume,
       "' there would overwrite; choose another --out");
}

// Data first: the most likely thing to be wrong, and cheap to check. A run
// never overwrites another run's folder.
void check_data_and_out_dir(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  std::error_code ec;
  check_out_dir_is_free(run);
  if (!run.resuming)
    DCSR_CHECK(cfg.init.empty() || cfg.vgg_init.empty(), "config: init ('", cfg.init, "') and vgg_init ('",
               cfg.vgg_init, "') are both set; init loads every weight, the matching layers' too, so vgg_init would "
               "be ignored: clear one");
  run.data = std::make_unique<Dataset>(cfg.data, cfg.sra ? DatasetKind::Sra : DatasetKind::Basic);
  run.data->check_patch_size(cfg.patch_size);
  if (!cfg.val_data.empty()) list_dataset(cfg.val_data, DatasetKind::Basic);
  for (const auto& [name, set] : cfg.monitor) {
    try {
      check_eval_inputs(set.data, monitor_eval_options(run, set));
    } catch (const Error& e) {
      fail("monitor set '", name, "': ", e.what());
    }
  }
  // The run's outputs are never one of its inputs (the resumed checkpoint is
  // read whole before anything is written, so it may be model_latest).
  const std::string log_path = run_log_path(cfg);
  for (const auto& [key, input] : {std::pair<const char*, const std::string&>{"init", cfg.init},
                                   {"vgg_init", cfg.vgg_init}, {"vgg_weights", cfg.vgg_weights}}) {
    if (input.empty()) continue;
    const PathIdentity in = identify(input, /*follow_symlinks=*/true);
    for (const std::string& out : {run.latest, run.best, log_path})
      DCSR_CHECK(!same_file(in, identify(out, false)), "config: ", key, " '", input, "' is the same file as '", out,
                 "', which this run writes; copy it elsewhere first");
  }
  for (fs::path p = fs::absolute(cfg.out_dir, ec); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    run.created_root = p;
    if (p == p.parent_path()) break;
  }
  fs::create_directories(cfg.out_dir, ec);
  DCSR_CHECK(fs::is_directory(cfg.out_dir, ec), "cannot create the output folder '", cfg.out_dir, "'");
  // Temp files of killed runs go; this run's go if a second signal ends it at once.
  // Never the run's own data (a folder of it may be named like a temp file).
  std::vector<std::string> inputs{cfg.data, cfg.val_data};
  for (const auto& [name, set] : cfg.monitor) inputs.push_back(set.data), inputs.push_back(set.ref_from);
  inputs.erase(std::remove(inputs.begin(), inputs.end(), std::string()), inputs.end());
  remove_stale_temp_files(cfg.out_dir, inputs);
  for (const std::string& path : {run.latest, run.best})
    run.exit_cleanups.push_back(runtime::add_exit_cleanup(runtime::CleanupKind::kUnlink, atomic_temp_path(path)));
}

// The network: random init (seeded), then the init model, or the resumed state.
void build_network(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  run.model_config.n_feats = cfg.n_feats;
  Generator init_rng(cfg.seed);
  run.net = std::make_unique<DcsrNet>(run.model_config, init_rng);
  if (run.resuming) {
    Checkpoint model_only;
    for (auto& [name, t] : run.resume_ckpt.tensors)
      if (name.rfind(kOptimizerPrefix, 0) != 0) model_only.tensors.emplace_back(name, t);
    try {
      load_parameters_strict(*run.net, model_only);
    } catch (const Error& e) {
      fail("cannot resume from '", run.options.resume, "': it does not fit this run's network (n_feats ", cfg.n_feats,
           "; an override given with --resume must keep the model's shape): ", e.what());
    }
  } else if (!cfg.init.empty()) {
    auto source = load_model(cfg.init);
    DCSR_CHECK(source->config().n_feats == cfg.n_feats, "init model '", cfg.init, "' has n_feats ",
               source->config().n_feats, " but the config says ", cfg.n_feats, " (set n_feats to match)");
    for (auto& [name, t] : source->named_parameters()) run.net->copy_into_parameter(name, t);
  } else if (!cfg.vgg_init.empty()) {
    const Checkpoint vgg = read_checkpoint(cfg.vgg_init);  // its errors name the file
    try {
      run.net->init_matching_from_vgg(vgg);
    } catch (const Error& e) {
      fail("vgg_init '", cfg.vgg_init, "': ", e.what());
    }
  }
  run.net->to(run.device);
}

// The loss (with VGG19 features when asked), Adam and its schedule (§10.3).
void build_loss_and_optimiser(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  if (cfg.feature_space == "vgg") {
    DCSR_CHECK(!cfg.vgg_weights.empty(), "feature_space vgg needs vgg_weights (a VGG19 checkpoint made with "
                                         "tools/convert_weights.py vgg19)");
    run.vgg = std::make_unique<Checkpoint>(read_checkpoint(cfg.vgg_weights));
  }
  try {
    run.loss = std::make_unique<DcsrLoss>(cfg.loss, cfg.feature_space, run.vgg.get());
  } catch (const Error& e) {
    if (!run.vgg) throw;
    fail("vgg_weights '", cfg.vgg_weights, "': ", e.what());
  }
  run.adam = std::make_unique<nn::Adam>(run.net->parameters(true), cfg.lr);
  run.schedule = std::make_unique<nn::MultiStepLR>(cfg.lr, cfg.milestones, cfg.gamma);
}

// The data generator, and on resume the Adam moments and the loop counters.
void restore_loop_state(TrainingRun& run) {
  run.sample_gen = Generator(run.cfg.seed, 7);
  if (!run.resuming) return;
  NamedTensors adam_state;
  const std::string prefix = kOptimizerPrefix;
  for (auto& [name, t] : run.resume_ckpt.tensors)
    if (name.rfind(prefix, 0) == 0) adam_state.emplace_back(name.substr(prefix.size()), t);
  run.adam->load_state(adam_state);
  // The loop state is read with its types and ranges checked: a checkpoint
  // edited or damaged there made the run index past its sample order
  // (a segfault) or fail with the JSON library's words.
  const std::string& file = run.options.resume;
  try {
    const json& loop = run.resume_ckpt.extra["loop"];
    DCSR_CHECK(loop.is_object(), "its \"loop\" is not an object");
    const auto count = [&](const char* key, int64_t lowest) {
      const json& v = loop.at(key);
      DCSR_CHECK(v.is_number_integer() && v.get<int64_t>() >= lowest && v.get<int64_t>() <= (int64_t(1) << 53),
                 "loop state \"", key, "\" must be an integer from ", lowest, " to 2^53, got ", v.dump());
      return v.get<int64_t>();
    };
    run.st.step = count("step", 0);
    run.st.epoch = count("epoch", 0);
    run.st.iter_in_epoch = count("iter_in_epoch", 0);
    const json& best = loop.at("best_val_psnr");
    DCSR_CHECK(best.is_number(), "loop state \"best_val_psnr\" must be a number, got ", best.dump());
    run.st.best_val_psnr = best.get<double>();
    run.sample_gen.set_state({u64_from(loop.at("rng_state"), "rng_state"), u64_from(loop.at("rng_inc"), "rng_inc")});
    // Checkpoints of earlier versions lack these two: the first log line then
    // averages the steps since the resume, and the last step's validation may
    // run again.
    if (loop.contains("validated_step")) run.validated_step = count("validated_step", -1);
    if (loop.contains("log_window")) window_from_json(loop.at("log_window"), run.since_log);
  } catch (const nlohmann::json::exception& e) {
    fail("cannot resume from '", file, "': its loop state is damaged (", e.what(), ")");
  } catch (const Error& e) {
    fail("cannot resume from '", file, "': ", e.what());
  }
  // A validation that set a new best after model_latest was written (at the
  // same step, before its second save; or val_every steps after it) is in
  // model_best alone. The resumed run repeats those steps exactly and
  // reaches that PSNR again, no higher, so model_best is kept. Only its
  // header is read: the score is all it gives (its tensors, the model and
  // Adam's moments, were read whole for it).
  std::error_code ec;
  if (fs::exists(run.best, ec)) {
    const Checkpoint best = read_checkpoint_metadata(run.best);
    const auto loop = best.extra.find("loop");
    DCSR_CHECK(loop != best.extra.end() && loop->contains("best_val_psnr") && loop->at("best_val_psnr").is_number(),
               "'", run.best, "' is not a training checkpoint; move it away to continue this run in '",
               run.cfg.out_dir, "'");
    run.st.best_val_psnr = std::max(run.st.best_val_psnr, loop->at("best_val_psnr").get<double>());
  }
}

// The log's start (or resume) marker, the epoch size and the progress bar.
void open_log_and_progress(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  run.n_samples = run.data->size() * cfg.num_patch;
  run.iters_per_epoch = (run.n_samples + cfg.batch_size - 1) / cfg.batch_size;
  DCSR_CHECK(run.st.iter_in_epoch < run.iters_per_epoch, "cannot resume from '", run.options.resume,
             "': it stopped at iteration ", run.st.iter_in_epoch, " of an epoch, and this data gives ",
             run.iters_per_epoch, " per epoch");
  run.log = std::make_unique<JsonLog>(run_log_path(cfg), run.resuming);
  run.log->write({{"type", run.resuming ? "resume" : "start"}, {"step", run.st.step}, {"epochs_done", run.st.epoch},
                  {"config", cfg.to_json()}});
  run.total_steps = cfg.epochs * run.iters_per_epoch;
  if (cfg.max_steps > 0) run.total_steps = std::min(run.total_steps, cfg.max_steps);
  if (run.options.progress && distributed::world().is_root())
    run.bar = std::make_unique<ProgressBar>(cfg.sra ? "sra" : "train", run.total_steps, run.st.step);
  if (!run.resuming) run.since_log.start = std::chrono::steady_clock::now();
}

// Writes model + Adam + loop state to `path`, after checking that every
// parameter is finite (else TrainingDiverged, nothing written).
void save(TrainingRun& run, const std::string& path) {
  for (const Tensor& p : run.net->parameters(true))
    if (!all_finite(p))
      throw TrainingDiverged(detail::concat("training stopped at step ", run.st.step,
                                            ": a parameter is no longer finite; nothing was saved after step ",
                                            run.saved_step, run.saved_at.empty() ? "" : " ('" + run.saved_at + "')"));
  Checkpoint ck;
  ck.config = run.model_config.to_json();
  ck.tensors = module_state(*run.net);
  for (auto& [name, t] : run.adam->state_tensors()) ck.tensors.emplace_back(kOptimizerPrefix + name, t);
  Generator::State rng = run.sample_gen.state();
  ck.extra = {{"train_config", run.cfg.to_json()},
              {"loop",
               {{"step", run.st.step},
                {"epoch", run.st.epoch},
                {"iter_in_epoch", run.st.iter_in_epoch},
                {"best_val_psnr", run.st.best_val_psnr},
                {"validated_step", run.validated_step},
                {"log_window", window_to_json(run.since_log)},
                {"rng_state", u64_str(rng.state)},
                {"rng_inc", u64_str(rng.increment)}}}};
  // Every rank holds the same state; the root alone writes it.
  if (distributed::world().is_root()) save_checkpoint(path, ck);
  if (path == run.latest) run.saved_at = path, run.saved_step = run.st.step;
  run.result.checkpoint = path;
}

// The scores a "val" or "monitor" log line carries.
json eval_scores(const TrainingRun& run, const EvalSummary& s, double seconds) {
  return {{"step", run.st.step},
          {"epoch", run.epoch_label()},
          {"psnr", s.mean_sr.psnr},
          {"ssim", s.mean_sr.ssim},
          {"psnr_fov", s.mean_sr.psnr_fov},
          {"ssim_fov", s.mean_sr.ssim_fov},
          {"psnr_bicubic", s.mean_bicubic.psnr},
          {"psnr_fov_bicubic", s.mean_bicubic.psnr_fov},
          {"images", s.images.size()},
          {"seconds", seconds}};
}

// Evaluation sharded over the ranks of a data-parallel job (the root gets
// every image; every rank must call it) and its seconds.
std::pair<EvalSummary, double> timed_evaluation(const TrainingRun& run, const std::string& data,
                                                const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  EvalSummary s = evaluate_dataset_sharded(data, run.net.get(), options);
  return {s, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

// Each monitored set: a "monitor" log line. Never chooses model_best.
void measure_monitored_sets(TrainingRun& run) {
  for (const auto& [name, set] : run.cfg.monitor) {
    const auto [s, seconds] = timed_evaluation(run, set.data, monitor_eval_options(run, set));
    if (!distributed::world().is_root()) continue;
    json line = {{"type", "monitor"}, {"set", name}};
    line.update(eval_scores(run, s, seconds));
    run.log->write(line);
    std::ostringstream msg;
    msg << std::fixed << std::setprecision(3) << "monitor '" << name << "' at step " << run.st.step << ": PSNR "
        << s.mean_sr.psnr << " dB, FoV " << s.mean_sr.psnr_fov << " dB (bicubic " << s.mean_bicubic.psnr_fov << ")";
    if (run.bar) run.bar->message(msg.str());
  }
}

// A validation point: the tiled evaluation on val_data (when set), a "val"
// log line and model_best.ckpt when its PSNR is the best so far; then the
// monitored sets. model_latest, when written at this step (first, so that a
// run killed during the validation keeps its progress), is written again
// with the validation's outcome: a resume from it keeps the best PSNR and
// does not validate this step again.
void validate(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  if (cfg.val_data.empty() && cfg.monitor.empty()) return;
  run.validated_step = run.st.step;
  if (!cfg.val_data.empty()) {
    const auto [s, seconds] = timed_evaluation(run, cfg.val_data, val_eval_options(run));
    // Only the root has the means: it alone logs them, keeps the best and writes it.
    if (distributed::world().is_root()) {
      json line = {{"type", "val"}};
      line.update(eval_scores(run, s, seconds));
      run.log->write(line);
      std::ostringstream msg;
      msg << std::fixed << std::setprecision(3) << "validation at step " << run.st.step << ": PSNR "
          << s.mean_sr.psnr << " dB (bicubic " << s.mean_bicubic.psnr << "), SSIM " << std::setprecision(4)
          << s.mean_sr.ssim;
      if (run.bar) run.bar->message(msg.str());
      if (s.mean_sr.psnr > run.st.best_val_psnr) {
        run.st.best_val_psnr = s.mean_sr.psnr;
        save(run, run.best);
      }
    }
  }
  measure_monitored_sets(run);
  if (run.saved_step == run.st.step) save(run, run.latest);
}

// A non-finite loss: a stop line, then TrainingDiverged naming the last good checkpoint.
[[noreturn]] void stop_on_divergence(TrainingRun& run, double value) {
  run.log->write(
      {{"type", "stop"}, {"reason", "loss not finite"}, {"step", run.st.step + 1}, {"epochs_done", run.st.epoch}});
  std::string kept = run.saved_at.empty() ? std::string("no checkpoint was written in this run")
                                          : "the last good checkpoint is '" + run.saved_at + "' (step " +
                                                std::to_string(run.saved_step) + ")";
  throw TrainingDiverged(detail::concat("training stopped: the loss is ", value, " at step ", run.st.step + 1,
                                        " (epoch ", run.st.epoch + 1, "); nothing was saved after it, ", kept));
}

// Adds one step's loss to the running means; every log_every steps writes a "train" line.
void log_step(TrainingRun& run, const LossTerms& terms, double value, double lr) {
  LogAccumulator& acc = run.since_log;
  acc.loss_sum += value;
  ++acc.steps;
  if (acc.part_sums.empty())
    for (auto& [name, v] : terms.parts) acc.part_sums.emplace_back(name, 0.0);
  for (size_t k = 0; k < terms.parts.size() && k < acc.part_sums.size(); ++k)
    acc.part_sums[k].second += terms.parts[k].second;
  if (run.st.step % run.cfg.log_every == 0) {
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - acc.start).count();
    json line = {{"type", "train"}, {"step", run.st.step}, {"epoch", run.epoch_label()}, {"lr", lr},
                 {"loss", acc.loss_sum / double(acc.steps)},
                 {"it_s", seconds > 0 ? double(acc.steps) / seconds : 0.0}};
    for (auto& [name, sum] : acc.part_sums) line[name] = sum / double(acc.steps), sum = 0;
    if (distributed::world().size > 1) {
      line["comm_s"] = acc.comm_s / double(acc.steps);
      line["ranks"] = distributed::world().size;
    }
    acc.comm_s = 0;
    run.log->write(line);
    acc.loss_sum = 0, acc.steps = 0, acc.start = std::chrono::steady_clock::now();
  }
  if (run.bar) {
    std::ostringstream suffix;
    suffix << "epoch " << run.st.epoch + 1 << "  loss " << std::setprecision(4) << value;
    for (auto& [name, v] : terms.parts) suffix << " " << name << " " << std::setprecision(3) << v;
    run.bar->update(run.st.step, suffix.str());
  }
}

// The loss of the whole batch from each rank's share: sum over the ranks of
// weight * (the share's loss), for the total and each part. One rank: the
// total's value. The parts are replaced by their batch values.
double reduce_loss_terms(LossTerms& terms, double weight) {
  if (distributed::world().size == 1) return terms.total.item();
  std::vector<double> values(1 + terms.parts.size());
  values[0] = weight * terms.total.item();
  for (size_t k = 0; k < terms.parts.size(); ++k) values[k + 1] = weight * terms.parts[k].second;
  distributed::allreduce_sum(values);
  for (size_t k = 0; k < terms.parts.size(); ++k) terms.parts[k].second = values[k + 1];
  return values[0];
}

// One optimisation step on the batch of samples order[first, last).
void train_step(TrainingRun& run, const std::vector<int64_t>& order, double lr) {
  const TrainConfig& cfg = run.cfg;
  const int64_t first = run.st.iter_in_epoch * cfg.batch_size;
  const int64_t last = std::min(first + cfg.batch_size, run.n_samples);
  std::vector<int64_t> indices(order.begin() + first, order.begin() + last);
  // Data parallel (nn/distributed.h): every rank draws the whole batch from
  // the same generator and cuts its own share; the share's loss is weighted
  // by share / batch, so the gradients summed over the ranks are the whole
  // batch's (the losses are means over the samples). One rank: share = batch.
  int64_t share_begin = 0, share_end = 0;
  distributed::share(int64_t(indices.size()), share_begin, share_end);
  double weight = double(share_end - share_begin) / double(indices.size());
  // A short last batch can leave a rank with no sample: it then runs the step
  // on a stand-in (the batch's first sample) with weight 0, so that it joins
  // every collective of the forward and backward and adds nothing.
  const bool stand_in = share_end == share_begin;
  if (stand_in) share_begin = 0, share_end = 1, weight = 0.0;
  distributed::set_stand_in_share(stand_in);
  Batch batch = make_batch_share(*run.data, indices, cfg.patch_size, run.sample_gen, share_begin, share_end);
  run.adam->zero_grad();
  Tensor lr_t = batch.lr.to(run.device), ref_t = batch.ref.to(run.device), target_t = batch.target.to(run.device);
  DcsrNet::Output out = run.net->forward(lr_t, ref_t, run.mode);
  LossTerms terms = (*run.loss)(out.sr, target_t, ref_t);
  (distributed::world().size > 1 ? mul(terms.total, weight) : terms.total).backward();
  distributed::set_stand_in_share(false);
  const auto comm_start = std::chrono::steady_clock::now();
  const double value = reduce_loss_terms(terms, weight);
  if (!std::isfinite(value)) stop_on_divergence(run, value);
  distributed::allreduce_gradients(run.net->parameters(true));
  run.since_log.comm_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - comm_start).count();
  run.adam->step();
  ++run.st.step;
  ++run.st.iter_in_epoch;
  run.result.last_loss = value;
  log_step(run, terms, value, lr);
  if (cfg.checkpoint_every > 0 && run.st.step % cfg.checkpoint_every == 0) save(run, run.latest);
  if (cfg.val_every > 0 && run.st.step % cfg.val_every == 0) validate(run);
}

// The reason to stop before the next step ("" to go on). Data-parallel
// ranks decide together: a signal may reach one rank only, or all of them a
// step apart, and a rank that stopped alone would leave the others in the
// next step's collectives (the job was aborted, rank 0 with it while it
// saved). One allreduce of a flag a step.
std::string stop_request(const TrainingRun& run) {
  std::string reason = run.options.stop_requested ? run.options.stop_requested() : std::string();
  if (distributed::world().size > 1) {
    std::vector<double> stops{reason.empty() ? 0.0 : 1.0};
    distributed::allreduce_sum(stops);
    if (stops[0] > 0 && reason.empty()) reason = "a stop request on another rank";
  }
  return reason;
}

// The epochs until `epochs` or max_steps; returns the reason for the stop line.
std::string run_epochs(TrainingRun& run) {
  const TrainConfig& cfg = run.cfg;
  while (run.st.epoch < cfg.epochs) {
    const double lr = run.schedule->lr_at(run.st.epoch);
    const std::vector<int64_t> order = epoch_order(run.data->size(), cfg.num_patch, cfg.seed, run.st.epoch);
    while (run.st.iter_in_epoch < run.iters_per_epoch) {
      if (cfg.max_steps > 0 && run.st.step >= cfg.max_steps) return "max_steps";
      run.result.stopped_by = stop_request(run);
      if (!run.result.stopped_by.empty()) return run.result.stopped_by;
      const double step_lr = cfg.warmup_steps > 0 && run.st.step < cfg.warmup_steps
                                 ? lr * double(run.st.step + 1) / double(cfg.warmup_steps)
                                 : lr;
      run.adam->set_lr(step_lr);
      train_step(run, order, step_lr);
    }
    ++run.st.epoch;
    run.st.iter_in_epoch = 0;
    save(run, run.latest);
    if (cfg.val_every == 0) validate(run);
  }
  return "epochs";
}

// The last state is always saved, and measured unless a stop request asked
// for a quick end; the stop line ends the log.
void finish(TrainingRun& run, const std::string& reason) {
  if (run.saved_step != run.st.step) save(run, run.latest);
  if (run.validated_step != run.st.step && run.result.stopped_by.empty()) validate(run);
  if (run.bar) run.bar->finish();
  run.log->write({{"type", "stop"}, {"reason", reason}, {"step", run.st.step}, {"epochs_done", run.st.epoch}});
  run.result.steps = run.st.step;
  run.result.epochs = run.st.epoch;
  run.result.best_val_psnr = run.st.best_val_psnr;
  run.result.checkpoint = run.latest;
}

}  // namespace

TrainResult train(const TrainConfig& config, const TrainOptions& options) {
  TrainingRun run;
  struct Disarm {  // the exit cleanups end with the run, however it ends
    TrainingRun& run;
    ~Disarm() {
      for (int slot : run.exit_cleanups) runtime::remove_exit_cleanup(slot);
    }
  } disarm{run};
  run.options = options;
  read_config_and_resume_state(run, config);
  check_data_and_out_dir(run);
  try {
    distributed::barrier();  // every rank has checked the folder before the root writes into it
    build_network(run);
    build_loss_and_optimiser(run);
    restore_loop_state(run);
    open_log_and_progress(run);
    const int64_t first_step = run.st.step;
    finish(run, run_epochs(run));
    run.result.steps_run = run.st.step - first_step;
  } catch (...) {
    // A run that failed before writing anything (an init model of another
    // width, unreadable VGG weights) leaves no folder it made.
    std::error_code ec;
    if (!run.created_root.empty())
      for (fs::path p = fs::absolute(run.cfg.out_dir, ec); fs::is_directory(p, ec) && fs::is_empty(p, ec);
           p = p.parent_path()) {
        fs::remove(p, ec);
        if (p == run.created_root || p == p.parent_path()) break;
      }
    throw;
  }
  return run.result;
}

}  // namespace dcsr
