#include "dcsr/training/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "dcsr/data/data.h"
#include "dcsr/inference/eval.h"
#include "dcsr/model/loss.h"
#include "dcsr/model/network.h"
#include "dcsr/inference/progress.h"
#include "nn/checkpoint.h"
#include "nn/optim.h"

namespace dcsr {
namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------- config

namespace {

// The config's fields, each with a JSON reader that checks the type.
template <typename T>
T read_key(const json& j, const std::string& key);

template <>
std::string read_key<std::string>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_string(), "config key '", key, "': expected a string, got ", j.dump());
  return j.get<std::string>();
}
template <>
bool read_key<bool>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_boolean(), "config key '", key, "': expected true or false, got ", j.dump());
  return j.get<bool>();
}
template <>
int64_t read_key<int64_t>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number_integer(), "config key '", key, "': expected an integer, got ", j.dump());
  return j.get<int64_t>();
}
template <>
uint64_t read_key<uint64_t>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0), "config key '", key,
             "': expected a non-negative integer, got ", j.dump());
  return j.get<uint64_t>();
}
template <>
double read_key<double>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_number(), "config key '", key, "': expected a number, got ", j.dump());
  return j.get<double>();
}
template <>
std::vector<int64_t> read_key<std::vector<int64_t>>(const json& j, const std::string& key) {
  DCSR_CHECK(j.is_array(), "config key '", key, "': expected a list of integers, got ", j.dump());
  std::vector<int64_t> v;
  for (const json& e : j) v.push_back(read_key<int64_t>(e, key));
  return v;
}

// Calls fn(key, field) for every field: one list for reading, writing and
// the error message about unknown keys.
template <typename Config, typename Fn>
void for_each_field(Config& c, Fn&& fn) {
  fn("data", c.data);
  fn("val_data", c.val_data);
  fn("out_dir", c.out_dir);
  fn("sra", c.sra);
  fn("mode", c.mode);
  fn("val_mode", c.val_mode);
  fn("val_max_images", c.val_max_images);
  fn("batch_size", c.batch_size);
  fn("patch_size", c.patch_size);
  fn("num_patch", c.num_patch);
  fn("epochs", c.epochs);
  fn("max_steps", c.max_steps);
  fn("n_feats", c.n_feats);
  fn("init", c.init);
  fn("vgg_init", c.vgg_init);
  fn("loss", c.loss);
  fn("feature_space", c.feature_space);
  fn("vgg_weights", c.vgg_weights);
  fn("lr", c.lr);
  fn("milestones", c.milestones);
  fn("gamma", c.gamma);
  fn("seed", c.seed);
  fn("device", c.device);
  fn("log_every", c.log_every);
  fn("val_every", c.val_every);
  fn("checkpoint_every", c.checkpoint_every);
}

std::string known_keys() {
  TrainConfig c;
  std::string keys;
  for_each_field(c, [&](const char* key, auto&) { keys += (keys.empty() ? "" : ", ") + std::string(key); });
  return keys;
}

}  // namespace

json TrainConfig::to_json() const {
  json j = json::object();
  for_each_field(*this, [&](const char* key, const auto& field) { j[key] = field; });
  return j;
}

TrainConfig TrainConfig::from_json(const json& j, const TrainConfig& base) {
  DCSR_CHECK(j.is_object(), "training config: expected a JSON object, got ", j.dump());
  TrainConfig c = base;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key().rfind("_", 0) == 0) continue;  // "_comment" and the like
    bool found = false;
    for_each_field(c, [&](const char* key, auto& field) {
      if (it.key() != key) return;
      found = true;
      field = read_key<std::decay_t<decltype(field)>>(it.value(), key);
    });
    DCSR_CHECK(found, "unknown config key '", it.key(), "' (known keys: ", known_keys(), ")");
  }
  return c;
}

TrainConfig TrainConfig::from_json(const json& j) { return from_json(j, TrainConfig()); }

TrainConfig TrainConfig::basic_defaults() { return TrainConfig(); }

TrainConfig TrainConfig::sra_defaults() {
  TrainConfig c;
  c.out_dir = "experiments/sra";
  c.sra = true;
  c.mode = "8k";
  c.loss = "1*L1+0.1*CX_ref";
  c.epochs = 3;
  return c;
}

void TrainConfig::validate() const {
  DCSR_CHECK(!data.empty(), "config: 'data' (the training set folder) is not set; pass --data DIR");
  DCSR_CHECK(!out_dir.empty(), "config: 'out_dir' is empty");
  mode_from_name(mode);
  mode_from_name(val_mode);
  DCSR_CHECK(batch_size >= 1, "config: batch_size must be >= 1, got ", batch_size);
  DCSR_CHECK(patch_size >= 8 && patch_size % 4 == 0, "config: patch_size must be a multiple of 4 and >= 8, got ",
             patch_size);
  DCSR_CHECK(num_patch >= 1, "config: num_patch must be >= 1, got ", num_patch);
  DCSR_CHECK(epochs >= 1, "config: epochs must be >= 1, got ", epochs);
  DCSR_CHECK(max_steps >= 0, "config: max_steps must be >= 0, got ", max_steps);
  DCSR_CHECK(val_max_images >= 0, "config: val_max_images must be >= 0, got ", val_max_images);
  DCSR_CHECK(n_feats >= 2 && n_feats % 2 == 0, "config: n_feats must be even and >= 2, got ", n_feats);
  DCSR_CHECK(feature_space == "patch4" || feature_space == "vgg", "config: feature_space must be patch4 or vgg, got '",
             feature_space, "'");
  DCSR_CHECK(std::isfinite(lr) && lr > 0, "config: lr must be > 0, got ", lr);
  DCSR_CHECK(std::isfinite(gamma) && gamma > 0, "config: gamma must be > 0, got ", gamma);
  DCSR_CHECK(log_every >= 1, "config: log_every must be >= 1, got ", log_every);
  DCSR_CHECK(val_every >= 0 && checkpoint_every >= 0, "config: val_every and checkpoint_every must be >= 0");
  DCSR_CHECK(device == "cpu" || device == "cuda", "config: device must be cpu or cuda, got '", device, "'");
  parse_loss_spec(loss);  // fails naming the bad term
}

TrainConfig load_train_config(const std::string& path, const TrainConfig& base) {
  std::ifstream file(path);
  DCSR_CHECK(file, "cannot open config file '", path, "'");
  json j;
  try {
    j = json::parse(file);
  } catch (const json::exception& e) {
    fail("config file '", path, "' is not valid JSON: ", e.what());
  }
  try {
    return TrainConfig::from_json(j, base);
  } catch (const Error& e) {
    fail("config file '", path, "': ", e.what());
  }
}

void apply_override(TrainConfig& config, const std::string& assignment) {
  size_t eq = assignment.find('=');
  DCSR_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = text;  // a bare word: a string
  // A string field given a number or list (e.g. --set init=123) stays the text.
  json probe = config.to_json();
  if (probe.contains(key) && probe[key].is_string() && !value.is_string()) value = text;
  config = TrainConfig::from_json(json{{key, value}}, config);
}

// ---------------------------------------------------------------- training

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
  DCSR_CHECK(j.is_string(), "checkpoint: ", what, " must be a decimal string");
  return std::stoull(j.get<std::string>());
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
  JsonLog(const std::string& path, bool append) : file_(path, append ? std::ios::app : std::ios::trunc) {
    DCSR_CHECK(file_, "cannot write the training log '", path, "'");
  }
  void write(const json& j) {
    file_ << j.dump() << "\n";
    file_.flush();
  }

 private:
  std::ofstream file_;
};

}  // namespace

TrainResult train(const TrainConfig& config_in, const TrainOptions& options) {
  const bool resuming = !options.resume.empty();
  TrainConfig cfg = config_in;
  Checkpoint resume_ckpt;
  if (resuming) {
    resume_ckpt = read_checkpoint(options.resume);
    DCSR_CHECK(resume_ckpt.extra.contains("train_config") && resume_ckpt.extra.contains("loop"), "'", options.resume,
               "' is not a training checkpoint (no training state; a model file can start a run with --init)");
    cfg = TrainConfig::from_json(resume_ckpt.extra["train_config"], TrainConfig());
    cfg = TrainConfig::from_json(options.resume_overrides, cfg);
  }
  cfg.validate();
  const Device device = select_device(cfg.device);
  const Mode mode = mode_from_name(cfg.mode), val_mode = mode_from_name(cfg.val_mode);
  const std::string latest = (fs::path(cfg.out_dir) / "model_latest.ckpt").string();
  const std::string best = (fs::path(cfg.out_dir) / "model_best.ckpt").string();
  std::error_code ec;
  if (!resuming)
    DCSR_CHECK(!fs::exists(latest, ec), "'", cfg.out_dir, "' already holds a training run (", latest,
               "); continue it with --resume ", latest, " or choose another --out");
  // Data first: the most likely thing to be wrong, and cheap to check.
  Dataset data(cfg.data, cfg.sra ? DatasetKind::Sra : DatasetKind::Basic);
  data.check_patch_size(cfg.patch_size);
  if (!cfg.val_data.empty()) list_dataset(cfg.val_data, DatasetKind::Basic);
  fs::create_directories(cfg.out_dir, ec);
  DCSR_CHECK(fs::is_directory(cfg.out_dir, ec), "cannot create the output folder '", cfg.out_dir, "'");

  // The network: random init (seeded), then the init model, or the resumed state.
  ModelConfig model_config;
  model_config.n_feats = cfg.n_feats;
  Generator init_rng(cfg.seed);
  auto net = std::make_unique<DcsrNet>(model_config, init_rng);
  if (resuming) {
    Checkpoint model_only;
    for (auto& [name, t] : resume_ckpt.tensors)
      if (name.rfind(kOptimizerPrefix, 0) != 0) model_only.tensors.emplace_back(name, t);
    load_parameters_strict(*net, model_only);
  } else if (!cfg.init.empty()) {
    auto source = load_model(cfg.init);
    DCSR_CHECK(source->config().n_feats == cfg.n_feats, "init model '", cfg.init, "' has n_feats ",
               source->config().n_feats, " but the config says ", cfg.n_feats, " (set n_feats to match)");
    for (auto& [name, t] : source->named_parameters()) net->copy_into_parameter(name, t);
  } else if (!cfg.vgg_init.empty()) {
    net->init_matching_from_vgg(read_checkpoint(cfg.vgg_init));
  }
  net->to(device);

  std::unique_ptr<Checkpoint> vgg;
  if (cfg.feature_space == "vgg") {
    DCSR_CHECK(!cfg.vgg_weights.empty(), "feature_space vgg needs vgg_weights (a VGG19 checkpoint made with "
                                         "tools/convert_weights.py vgg19)");
    vgg = std::make_unique<Checkpoint>(read_checkpoint(cfg.vgg_weights));
  }
  DcsrLoss loss(cfg.loss, cfg.feature_space, vgg.get());
  nn::Adam adam(net->parameters(true), cfg.lr);
  nn::MultiStepLR schedule(cfg.lr, cfg.milestones, cfg.gamma);
  Generator sample_gen(cfg.seed, 7);  // every data draw (patch positions, shifts, flips, rotations)
  LoopState st;
  if (resuming) {
    NamedTensors adam_state;
    const std::string prefix = kOptimizerPrefix;
    for (auto& [name, t] : resume_ckpt.tensors)
      if (name.rfind(prefix, 0) == 0) adam_state.emplace_back(name.substr(prefix.size()), t);
    adam.load_state(adam_state);
    const json& loop = resume_ckpt.extra["loop"];
    st.step = loop.at("step").get<int64_t>();
    st.epoch = loop.at("epoch").get<int64_t>();
    st.iter_in_epoch = loop.at("iter_in_epoch").get<int64_t>();
    st.best_val_psnr = loop.at("best_val_psnr").get<double>();
    sample_gen.set_state({u64_from(loop.at("rng_state"), "rng_state"), u64_from(loop.at("rng_inc"), "rng_inc")});
  }

  JsonLog log((fs::path(cfg.out_dir) / "train_log.jsonl").string(), resuming);
  log.write({{"type", resuming ? "resume" : "start"}, {"step", st.step}, {"epochs_done", st.epoch},
             {"config", cfg.to_json()}});

  TrainResult result;
  std::string saved_at;  // the last checkpoint written in this run
  int64_t saved_step = -1;
  auto save = [&](const std::string& path) {
    for (const Tensor& p : net->parameters(true))
      if (!all_finite(p))
        throw TrainingDiverged(detail::concat("training stopped at step ", st.step,
                                              ": a parameter is no longer finite; nothing was saved after step ",
                                              saved_step, saved_at.empty() ? "" : " ('" + saved_at + "')"));
    Checkpoint ck;
    ck.config = model_config.to_json();
    ck.tensors = module_state(*net);
    for (auto& [name, t] : adam.state_tensors()) ck.tensors.emplace_back(kOptimizerPrefix + name, t);
    Generator::State rng = sample_gen.state();
    ck.extra = {{"train_config", cfg.to_json()},
                {"loop",
                 {{"step", st.step},
                  {"epoch", st.epoch},
                  {"iter_in_epoch", st.iter_in_epoch},
                  {"best_val_psnr", st.best_val_psnr},
                  {"rng_state", u64_str(rng.state)},
                  {"rng_inc", u64_str(rng.increment)}}}};
    save_checkpoint(path, ck);
    if (path == latest) saved_at = path, saved_step = st.step;
    result.checkpoint = path;
  };

  const int64_t n_samples = data.size() * cfg.num_patch;
  const int64_t iters_per_epoch = (n_samples + cfg.batch_size - 1) / cfg.batch_size;
  int64_t total_steps = cfg.epochs * iters_per_epoch;
  if (cfg.max_steps > 0) total_steps = std::min(total_steps, cfg.max_steps);
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) bar = std::make_unique<ProgressBar>(cfg.sra ? "sra" : "train", total_steps, st.step);

  // 1-based number of the epoch the last step belonged to.
  auto epoch_label = [&]() { return st.iter_in_epoch == 0 ? st.epoch : st.epoch + 1; };
  int64_t validated_step = -1;
  auto validate = [&]() {
    if (cfg.val_data.empty()) return;
    validated_step = st.step;
    EvalOptions eo;
    eo.mode = val_mode;
    eo.max_images = cfg.val_max_images;
    auto start = std::chrono::steady_clock::now();
    EvalSummary s = evaluate_dataset(cfg.val_data, net.get(), eo);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log.write({{"type", "val"}, {"step", st.step}, {"epoch", epoch_label()}, {"psnr", s.mean_sr.psnr},
               {"ssim", s.mean_sr.ssim}, {"psnr_fov", s.mean_sr.psnr_fov}, {"ssim_fov", s.mean_sr.ssim_fov},
               {"psnr_bicubic", s.mean_bicubic.psnr}, {"images", s.images.size()}, {"seconds", seconds}});
    std::ostringstream msg;
    msg << std::fixed << std::setprecision(3) << "validation at step " << st.step << ": PSNR " << s.mean_sr.psnr
        << " dB (bicubic " << s.mean_bicubic.psnr << "), SSIM " << std::setprecision(4) << s.mean_sr.ssim;
    if (bar) bar->message(msg.str());
    if (s.mean_sr.psnr > st.best_val_psnr) {
      st.best_val_psnr = s.mean_sr.psnr;
      save(best);
    }
  };

  // Mean of the loss parts over the steps since the last log line.
  std::vector<std::pair<std::string, double>> part_sums;
  double loss_sum = 0;
  int64_t logged_steps = 0;
  auto log_start = std::chrono::steady_clock::now();

  bool stop = false;
  while (!stop && st.epoch < cfg.epochs) {
    const double lr = schedule.lr_at(st.epoch);
    adam.set_lr(lr);
    const std::vector<int64_t> order = epoch_order(data.size(), cfg.num_patch, cfg.seed, st.epoch);
    while (st.iter_in_epoch < iters_per_epoch) {
      if (cfg.max_steps > 0 && st.step >= cfg.max_steps) {
        stop = true;
        break;
      }
      const int64_t first = st.iter_in_epoch * cfg.batch_size;
      const int64_t last = std::min(first + cfg.batch_size, n_samples);
      std::vector<int64_t> indices(order.begin() + first, order.begin() + last);
      Batch batch = make_batch(data, indices, cfg.patch_size, sample_gen);
      Tensor lr_t = batch.lr.to(device), ref_t = batch.ref.to(device), target_t = batch.target.to(device);
      DcsrNet::Output out = net->forward(lr_t, ref_t, mode);
      LossTerms terms = loss(out.sr, target_t, ref_t);
      const double value = terms.total.item();
      if (!std::isfinite(value)) {
        log.write({{"type", "stop"}, {"reason", "loss not finite"}, {"step", st.step + 1}, {"epochs_done", st.epoch}});
        std::string kept = saved_at.empty()
                               ? std::string("no checkpoint was written in this run")
                               : "the last good checkpoint is '" + saved_at + "' (step " + std::to_string(saved_step) + ")";
        throw TrainingDiverged(detail::concat("training stopped: the loss is ", value, " at step ", st.step + 1,
                                              " (epoch ", st.epoch + 1, "); nothing was saved after it, ", kept));
      }
      adam.zero_grad();
      terms.total.backward();
      adam.step();
      ++st.step;
      ++st.iter_in_epoch;
      result.last_loss = value;

      loss_sum += value;
      ++logged_steps;
      if (part_sums.empty())
        for (auto& [name, v] : terms.parts) part_sums.emplace_back(name, 0.0);
      for (size_t k = 0; k < terms.parts.size() && k < part_sums.size(); ++k) part_sums[k].second += terms.parts[k].second;
      if (st.step % cfg.log_every == 0) {
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - log_start).count();
        json line = {{"type", "train"}, {"step", st.step}, {"epoch", epoch_label()}, {"lr", lr},
                     {"loss", loss_sum / double(logged_steps)}, {"it_s", seconds > 0 ? double(logged_steps) / seconds : 0.0}};
        for (auto& [name, sum] : part_sums) line[name] = sum / double(logged_steps), sum = 0;
        log.write(line);
        loss_sum = 0, logged_steps = 0, log_start = std::chrono::steady_clock::now();
      }
      if (bar) {
        std::ostringstream suffix;
        suffix << "epoch " << st.epoch + 1 << "  loss " << std::setprecision(4) << value;
        for (auto& [name, v] : terms.parts) suffix << " " << name << " " << std::setprecision(3) << v;
        bar->update(st.step, suffix.str());
      }
      if (cfg.checkpoint_every > 0 && st.step % cfg.checkpoint_every == 0) save(latest);
      if (cfg.val_every > 0 && st.step % cfg.val_every == 0) validate();
    }
    if (stop) break;
    ++st.epoch;
    st.iter_in_epoch = 0;
    save(latest);
    if (cfg.val_every == 0) validate();
  }
  if (saved_step != st.step) save(latest);
  if (validated_step != st.step) validate();  // the final state is always measured
  if (bar) bar->finish();
  log.write({{"type", "stop"}, {"reason", stop ? "max_steps" : "epochs"}, {"step", st.step}, {"epochs_done", st.epoch}});
  result.steps = st.step;
  result.epochs = st.epoch;
  result.best_val_psnr = st.best_val_psnr;
  result.checkpoint = latest;
  return result;
}

}  // namespace dcsr
