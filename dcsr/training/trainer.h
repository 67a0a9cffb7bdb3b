// Training (dcsr-spec §10.3) and self-supervised real-image adaptation
// (SRA, §10.4): configuration, the loop, validation, checkpoints and exact
// resume.
//
// Configuration: a JSON object whose keys are the fields of TrainConfig
// (configs/train_basic.json, configs/sra.json); unknown keys and values of the
// wrong type are errors naming the key. Command-line overrides use the same
// keys: `--set key=value` (value parsed as JSON when it parses, else taken as
// a string), plus named flags for the common ones (apps/dcsr).
//
// Each step: sample a batch (dcsr/data/data.h), forward in `mode`, loss
// (dcsr/model/loss.h), backward, Adam step. The learning rate follows MultiStepLR
// per epoch. An epoch is ceil(images * num_patch / batch_size) steps over a
// shuffled order (the last batch may be smaller).
//
// Files in out_dir:
//   model_latest.ckpt   the model (reference names, loadable by `dcsr sr`), the
//                       Adam state ("adam.*" tensors) and in `extra`: step,
//                       epoch, step in epoch, the data generator's state and
//                       the whole config: everything an exact resume needs
//   model_best.ckpt     the same at the best validation PSNR so far
//   train_log.jsonl     one JSON object per line: {"type": "train", step,
//                       epoch, lr, loss, <term>: value..., it_s} every
//                       log_every steps; {"type": "val", step, epoch, psnr,
//                       ssim, psnr_fov, ssim_fov, psnr_bicubic, images, seconds}
//                       per validation; {"type": "monitor", "set": NAME,
//                       step, epoch, the same scores and psnr_fov_bicubic}
//                       per monitored set at each validation point;
//                       {"type": "start"/"resume", step,
//                       epochs_done, config} and {"type": "stop", reason,
//                       step, epochs_done} markers (reason: "epochs",
//                       "max_steps", "loss not finite", or the stop
//                       request's, e.g. "SIGINT")
//
// Exact resume: `resume` continues from a checkpoint as if the run had never
// stopped (same parameters, Adam moments, sample order and random draws), on
// the same device, build and thread count.
//
// A NaN or Inf loss (or parameter, checked before every save) stops training
// with TrainingDiverged; nothing is saved after it, so the last checkpoint on
// disk is the last good state.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace dcsr {

// A dataset measured at every validation point and logged, never used to
// choose model_best: e.g. real dual-camera pairs beside a synthetic
// val_data, or the same pairs with another scene's references (ref_from) to
// see what the right reference is worth as training goes on. In JSON a set
// is its folder ("DIR") or {"data": DIR, "ref_from": DIR2}.
struct MonitorSet {
  std::string data;      // Basic layout: LR/x2, Ref/x2, HR
  std::string ref_from;  // "" or a folder whose Ref/x2 image i replaces image i's reference (EvalOptions::ref_from)
  bool operator==(const MonitorSet& o) const { return data == o.data && ref_from == o.ref_from; }
};
void to_json(nlohmann::json& j, const MonitorSet& set);

struct TrainConfig {
  // data
  std::string data;              // training set (CameraFusion layout)
  std::string val_data;          // validation set (LR/x2, Ref/x2, HR); "" = no validation
  std::string out_dir = "experiments/basic";
  bool sra = false;              // SRA: LR/x1 + Ref/x1, the target is the LR crop (§10.4)
  std::string mode = "4k";       // training forward mode: "4k" (basic) or "8k" (SRA)
  std::string val_mode = "4k";   // tiled validation mode (against HR, so 4k is the meaningful one)
  int64_t val_max_images = 0;    // 0 = every validation image (and every monitored set's)
  // Sets measured beside val_data at each validation point, by name
  // (letters, digits, '_', '-', '.'); with no val_data they still run at
  // the validation points (val_every).
  std::map<std::string, MonitorSet> monitor;
  int64_t batch_size = 4;
  int64_t patch_size = 128;      // LR crop; Ref and HR crops are twice that
  int64_t num_patch = 300;       // samples per image per epoch
  int64_t epochs = 1000;
  int64_t max_steps = 0;         // stop after this many steps in all (0 = no limit)
  // model
  int64_t n_feats = 64;
  std::string init;              // start from this model file (SRA: the basic model); "" = random init
  std::string vgg_init;          // optional VGG19 checkpoint for the matching layers (§3.1)
  // loss (§9)
  std::string loss = "1*L1+0.05*CX_ref+0.01*CX_hr";
  std::string feature_space = "patch4";  // "patch4" or "vgg"
  std::string vgg_weights;               // VGG19 checkpoint for feature_space "vgg"
  // optimiser (§10.3)
  double lr = 1e-4;
  std::vector<int64_t> milestones = {20, 45, 80};
  double gamma = 0.5;
  // Linear warmup: the first warmup_steps steps of the run (counted from its
  // step 0, so a resume past them has none) train at lr_at(epoch) * (s + 1) /
  // warmup_steps, s = 0, 1, ... For a run from --init with a fresh Adam
  // state (tools/gpu_train.sh's segments), whose first full-size steps
  // otherwise throw the model off (loss 0.02 -> 0.12 after 20 steps in width-64
  // segment 2). 0: none (the reference's schedule).
  int64_t warmup_steps = 0;
  // run
  uint64_t seed = 1;
  std::string device = "cpu";
  int64_t log_every = 10;         // steps between log lines
  int64_t val_every = 0;          // steps between validations; 0 = after every epoch
  int64_t checkpoint_every = 0;   // steps between checkpoints; 0 = after every epoch

  nlohmann::json to_json() const;
  // Starts from `base` and sets every key present in `json`.
  static TrainConfig from_json(const nlohmann::json& json, const TrainConfig& base);
  static TrainConfig from_json(const nlohmann::json& json);  // on top of the defaults
  // The defaults of `dcsr train` (= configs/train_basic.json) and `dcsr sra` (= configs/sra.json).
  static TrainConfig basic_defaults();
  static TrainConfig sra_defaults();
  // Checks ranges and combinations; fails naming the key.
  void validate() const;
};

// Reads a JSON config file on top of `base`.
TrainConfig load_train_config(const std::string& path, const TrainConfig& base);
// Applies "key=value" (value as JSON when it parses, else as a string).
void apply_override(TrainConfig& config, const std::string& assignment);

// Raised when the loss or a parameter stops being finite.
class TrainingDiverged : public Error {
 public:
  using Error::Error;
};

struct TrainOptions {
  std::string resume;  // checkpoint to continue from ("" = fresh start)
  // The config overrides given on the command line, applied on top of the
  // checkpoint's config when resuming (JSON object of keys).
  nlohmann::json resume_overrides = nlohmann::json::object();
  // The kind of run the command makes: 1 SRA (dcsr sra), 0 basic (dcsr
  // train), -1 either. A config or a resumed checkpoint of the other kind is
  // refused (dcsr sra --resume on a basic run continued basic training).
  int expect_sra = -1;
  bool progress = true;  // the progress bar on stderr
  // Asked before every step: a non-empty answer (e.g. "SIGINT") stops the run
  // at that step boundary: model_latest is saved, a stop line with that reason
  // written (no final validation), and the answer returned in stopped_by.
  std::function<std::string()> stop_requested;
};

struct TrainResult {
  int64_t steps = 0;            // total steps done (including those before a resume)
  int64_t steps_run = 0;        // steps done by this call (last_loss is the last one's loss when > 0)
  int64_t epochs = 0;           // completed epochs
  double last_loss = 0;
  double best_val_psnr = -1;    // -1 when never validated
  std::string checkpoint;       // the last checkpoint written
  std::string stopped_by;       // the reason stop_requested gave, "" when the run ended by itself
};

// Runs the training described by `config` (or continues `options.resume`).
TrainResult train(const TrainConfig& config, const TrainOptions& options = {});

}  // namespace dcsr
