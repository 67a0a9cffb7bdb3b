// `dcsr eval`: PSNR/SSIM of a model on a dataset, with bicubic measured in the same run.
#include <filesystem>
#include <iostream>

#include "apps/dcsr/cli.h"
#include "dcsr/data/data.h"
#include "dcsr/inference/eval.h"
#include "dcsr/inference/eval_shard.h"
#include "dcsr/inference/progress.h"
#include "nn/distributed.h"
#include "runtime/json_text.h"
#include "tensor/serialize.h"

namespace dcsr::cli {
namespace fs = std::filesystem;

namespace {

int run_eval(const CommandInfo& self, const std::vector<std::string>& argv) {
  Args args(self.name, self.options, argv);
  if (args.help()) {
    std::cout << command_help(self);
    return 0;
  }
  const std::string data = args.require("data");
  const std::string json_path = args.get("json", "eval.json");
  EvalOptions opt;
  try {
    opt.mode = mode_from_name(args.get("mode", "4k"));
  } catch (const Error& e) {
    throw UsageError(std::string("dcsr eval: option --mode: ") + e.what());
  }
  opt.max_images = args.get_int_in("max-images", 0, 0, 1000000000);
  const std::string save_dir = args.get("save-dir");
  opt.unrelated_ref = args.has("unrelated-ref");
  opt.ref_from = args.get("ref-from");
  if (opt.unrelated_ref && args.has("ref-from"))
    throw UsageError("dcsr eval: --unrelated-ref and --ref-from are two controls; give one");
  if (args.has("ref-from") && opt.ref_from.empty()) throw UsageError("dcsr eval: option --ref-from needs a folder");
  if (args.has("bicubic-only") && args.has("ref-from"))
    throw UsageError("dcsr eval: --ref-from needs a model (bicubic uses no reference)");
  if (args.has("bicubic-only") && args.has("model"))
    throw UsageError("dcsr eval: --bicubic-only and --model exclude each other");
  if (args.has("bicubic-only") && opt.unrelated_ref)
    throw UsageError("dcsr eval: --unrelated-ref needs a model (bicubic uses no reference)");
  if (args.has("bicubic-only") && !save_dir.empty())
    throw UsageError("dcsr eval: --save-dir writes the model's images; --bicubic-only has none");
  // Under mpirun the images are shared over the ranks (dcsr/inference/eval_shard.h);
  // the root gathers them and alone prints and writes.
  const bool root = distributed::world().is_root();
  if (distributed::world().size > 1 && !save_dir.empty())
    throw UsageError("dcsr eval: --save-dir is not supported with several ranks yet; run it as one process");
  apply_threads(args);
  const Device device = device_option(args, "eval");
  opt.tile_batch = args.get_int_in("tile-batch", 1, 1, 256);
  const EvalInputs inputs = check_eval_inputs(data, opt);  // folder errors before loading a model
  const DatasetFiles& files = inputs.files;
  std::string model_path;
  if (!args.has("bicubic-only")) model_path = resolve_model_path(args.get("model"));
  // Every input and output before any work (io/output_rules.h): the dataset's
  // images and the model are never overwritten; --save-dir is all or nothing.
  OutputFiles outputs;
  if (root) {
    for (const auto* list : {&files.lr, &files.ref, &files.hr})
      for (const std::string& path : *list) outputs.plan().add_input(path, "dataset image");
    if (!model_path.empty()) outputs.declare_input(model_path, "model");
    for (const std::string& path : inputs.other_refs) outputs.plan().add_input(path, "--ref-from reference");
    outputs.declare(json_path, "json");
    if (!save_dir.empty()) {
      std::vector<std::string> names;
      const size_t n = opt.max_images > 0 ? std::min(files.lr.size(), size_t(opt.max_images)) : files.lr.size();
      for (size_t i = 0; i < n; ++i) names.push_back(fs::path(files.lr[i]).stem().string() + ".png");
      opt.save_dir = outputs.plan().stage_folder(save_dir, "--save-dir", names);
    }
  }
  std::unique_ptr<DcsrNet> net;
  if (!model_path.empty()) net = load_model(model_path, device);
  std::unique_ptr<ProgressBar> bar;
  if (!args.has("quiet") && root) {
    bar = std::make_unique<ProgressBar>("eval", 0);
    opt.progress = [&](int64_t done, int64_t total, const std::string& name) {
      bar->set_total(total);
      bar->update(done, name);
    };
  }
  EvalSummary summary = evaluate_dataset_sharded(inputs, net.get(), opt);
  if (bar) bar->finish();
  if (!root) return 0;
  nlohmann::json j = eval_to_json(summary);
  j["model"] = model_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(model_path);
  j["n_feats"] = net ? nlohmann::json(net->config().n_feats) : nlohmann::json(nullptr);
  outputs.write(json_path, [&](const std::string& path) { write_file_atomic(path, json_text(j, 2) + "\n"); });
  outputs.commit();
  std::cout << eval_table(summary) << "wrote " << json_path << "\n";
  return 0;
}

}  // namespace

CommandInfo eval_command() {
  CommandInfo c;
  c.name = "eval";
  c.runs_on_ranks = true;
  c.summary = "measure PSNR/SSIM (whole image and inside the telephoto's view) on a dataset";
  c.usage = "dcsr eval --data DIR [--model M] [--mode 4k|8k] [--unrelated-ref | --ref-from DIR2] [--json OUT.json] [--device cpu|cuda]";
  c.details =
      "DIR in the CameraFusion layout (LR/x2, Ref/x2, HR). Each LR is super-resolved with tiled inference\n"
      "and upsampled with bicubic x2; both are quantised to 8 bits and compared with HR: PSNR on Y (shave 2),\n"
      "SSIM on Y (11x11 Gaussian, sigma 1.5), and both again on the central half (the telephoto's view).\n"
      "Prints a table and writes the numbers as JSON. Without --model: $DCSR_MODEL, else models/default.ckpt.\n"
      "--unrelated-ref gives image i the reference of image (i+1) mod n (resized to its LR size with\n"
      "resize_antialias): the difference to a normal run is what the right reference is worth. Where the\n"
      "next image shows the same scene (a real set's motion sequences), --ref-from DIR2 gives image i the\n"
      "Ref/x2 image i of DIR2 (sorted by name; resized the same way) instead: another scene's reference.";
  c.options = {{"data", "DIR", "dataset folder"},
               {"model", "M", "model checkpoint"},
               {"bicubic-only", "", "measure bicubic only (no model)"},
               {"unrelated-ref", "", "give each image the reference of the next image (a control)"},
               {"ref-from", "DIR2", "give image i the Ref/x2 image i of DIR2, another dataset (a control)"},
               {"mode", "4k|8k", "tile and matching mode (default 4k)"},
               {"json", "OUT.json", "where to write the results (default eval.json)"},
               {"max-images", "N", "only the first N images (default 0: all)"},
               {"save-dir", "DIR", "also write every SR image there (all or none; made if missing)"},
               {"device", "cpu|cuda", "where the network runs (default cpu)"},
               {"tile-batch", "N", "tiles per network call, the same result for any N (default 1)"},
               {"threads", "N", "CPU threads"},
               {"quiet", "", "no progress output"}};
  c.run = run_eval;
  return c;
}

}  // namespace dcsr::cli
