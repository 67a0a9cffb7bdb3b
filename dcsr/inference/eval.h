// Running a trained DCSR: loading a model file, the per-tile forward for
// tiled inference (dcsr/inference/tiling.h), and the evaluation of a dataset (spec §11)
// with bicubic upsampling measured in the same run.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dcsr/data/data.h"
#include "dcsr/model/config.h"
#include "dcsr/inference/metrics.h"
#include "dcsr/model/network.h"
#include "dcsr/inference/tiling.h"

namespace dcsr {

// Tensors of a training checkpoint that are not model parameters carry this
// prefix (the Adam state); loading a model skips them.
constexpr const char* kOptimizerPrefix = "adam.";

// Reads a model checkpoint (tools/convert_weights.py output or a training
// checkpoint) and builds the network on `device`. Every failure names the
// file: missing, truncated or corrupt (nn/checkpoint.h), another model
// ("model" in its config is not "dcsr"), or parameters that do not match a
// DcsrNet of its n_feats (missing, extra or mis-shaped tensors).
std::unique_ptr<DcsrNet> load_model(const std::string& path, Device device = kCPU);

// Selects a device by name ("cpu" | "cuda"); "cuda" without a usable GPU
// fails with the runtime's reason.
Device select_device(const std::string& name);

// The per-tile forward of tiled inference: moves the tile and its Ref window
// to the network's device, runs it in `mode`, and returns SR, confidence and
// the aligned Ref high frequencies (AA1's output), left on that device and in
// its dtype (tiled_inference copies the maps it needs). SR and the aligned Ref
// are the cores only (TileOutput::cores_only), which the network computes
// for themselves (DcsrNet::forward's sr_margin = kTileDrop).
TileForward network_tile_forward(const DcsrNet& net, Mode mode);

// Runs the network once on a tiny blank pair in `mode` (tiled_inference's
// smallest, 32x32) and throws the result away. On a GPU the first call of a
// library or a kernel pays for loading it (cuBLAS's handle and kernels, each
// kernel's module: CUDA loads them lazily); `dcsr sr` does this while the
// photos are read and registered, so that the first tile does not. No state
// of the network changes: later results are the same bytes.
void warm_up_network(const DcsrNet& net, Mode mode);

// x2 bicubic upsampling (align_corners false, A = -0.75): the baseline.
// lr: (1, 3, h, w) -> (1, 3, 2h, 2w).
Tensor bicubic_upsample(const Tensor& lr);

struct ImageEval {
  std::string name;
  std::string ref_name;       // the reference used (another image's with unrelated_ref or ref_from)
  QualityScores sr, bicubic;  // sr unset (zeros) when no network was given
  double seconds = 0;         // tiled inference time of this image
};

struct EvalSummary {
  std::string data, mode;
  bool has_model = false;
  bool unrelated_ref = false;
  std::string ref_from;  // EvalOptions::ref_from
  std::vector<ImageEval> images;
  QualityScores mean_sr, mean_bicubic;  // plain means over the images' scores (PSNRs capped: kPsnrCeiling)
};

struct EvalOptions {
  Mode mode = Mode::K4;
  int64_t max_images = 0;  // 0 = all
  std::string save_dir;    // when set, each SR is written there as <name>.png
  // Give image i the reference of image (i + 1) mod n (n: the images
  // evaluated; at least 2) instead of its own, resized to the LR's size with
  // resize_antialias when the sizes differ (the aspect ratio is not kept):
  // what the model makes of a reference that shows another scene, i.e. how
  // much the right reference is worth. Bicubic is unaffected.
  bool unrelated_ref = false;
  // Give image i the reference of image i of another dataset folder instead:
  // REF_FROM/Ref/x2's images sorted by name (at least as many as evaluated),
  // resized as above. The control for a set whose neighbours by name show
  // the same scene (a real set's motion sequences): references of another
  // scene. Excludes unrelated_ref.
  std::string ref_from;
  int64_t tile_batch = 1;  // tiles per network call (TiledOptions::batch_tiles)
  std::function<void(int64_t done, int64_t total, const std::string& name)> progress;
  // Called after every tile of the network (and every image): a sign of life
  // for sharded evaluation, whose ranks go at their own pace (eval_shard.h).
  std::function<void()> working;
  // Only images i with i % shard_count == shard_index: one rank's share of a
  // sharded evaluation (dcsr/inference/eval_shard.h); the means are over them.
  int64_t shard_index = 0, shard_count = 1;
};

// What an evaluation of `data_dir` reads, checked before any image is: the
// dataset's files, how many are evaluated (max_images), and ref_from's
// references (sorted by name, at least n). Fails naming the folder.
struct EvalInputs {
  DatasetFiles files;
  int64_t n = 0;
  std::vector<std::string> other_refs;
};
EvalInputs check_eval_inputs(const std::string& data_dir, const EvalOptions& options);

// Evaluates the Basic layout of `data_dir` (LR/x2 + Ref/x2 -> HR): per image,
// tiled inference with `net` (when not null) and bicubic x2, both quantised and
// measured against HR (PSNR/SSIM, whole and inside the FoV).
EvalSummary evaluate_dataset(const std::string& data_dir, const DcsrNet* net, const EvalOptions& options);
// The same for inputs check_eval_inputs gave for these options (a caller that
// checked them before loading its model does not read every header twice).
EvalSummary evaluate_dataset(const EvalInputs& checked, const DcsrNet* net, const EvalOptions& options);

nlohmann::json eval_to_json(const EvalSummary& summary);
// A fixed-width table: one row per image and the mean.
std::string eval_table(const EvalSummary& summary);

}  // namespace dcsr
