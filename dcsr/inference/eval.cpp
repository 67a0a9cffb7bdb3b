#include "dcsr/inference/eval.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops/image.h"
#include "dcsr/data/data.h"
#include "io/image_io.h"
#include "runtime/device.h"
#include "nn/checkpoint.h"

namespace dcsr {
namespace fs = std::filesystem;

Device select_device(const std::string& name) {
  DCSR_CHECK(name == "cpu" || name == "cuda", "unknown device '", name, "' (expected cpu or cuda)");
  if (name == "cpu") return kCPU;
  DCSR_CHECK(runtime::cuda_available(), "--device cuda: no usable GPU (", runtime::cuda_unavailable_reason(),
             "); use --device cpu");
  return kCUDA;
}

std::unique_ptr<DcsrNet> load_model(const std::string& path, Device device) {
  std::error_code ec;
  DCSR_CHECK(fs::exists(path, ec), "model file '", path, "' does not exist");
  Checkpoint ckpt = read_checkpoint(path);  // its errors name the file
  ModelConfig config;
  try {
    config = ModelConfig::from_json(ckpt.config);
  } catch (const Error& e) {
    fail("model file '", path, "' is not a DCSR model: ", e.what());
  }
  // Training checkpoints also hold the optimiser state: keep the model's tensors only.
  Checkpoint model_only;
  model_only.config = ckpt.config;
  uint64_t values = 0;
  for (auto& [name, tensor] : ckpt.tensors)
    if (name.rfind(kOptimizerPrefix, 0) != 0) model_only.tensors.emplace_back(name, tensor), values += tensor.numel();
  // The network is built before its shapes are compared with the file's, so a
  // config claiming a width the file cannot hold is refused first: a DCSR
  // network of width n holds more than 699 n^2 values (699.2 n^2 + 0.3 M:
  // 1.03 M at 32, 733 M at 1024), and a 4 MB file claiming 1024 built 3 GB.
  const double needed = 699.0 * double(config.n_feats) * double(config.n_feats);
  DCSR_CHECK(double(values) >= needed, "model file '", path, "' does not fit a DCSR network with n_feats ",
             config.n_feats, ": it holds ", values, " values, the network more than ", uint64_t(needed));
  Generator init(0);  // overwritten by the checkpoint
  auto net = std::make_unique<DcsrNet>(config, init);
  try {
    load_parameters_strict(*net, model_only);
  } catch (const Error& e) {
    fail("model file '", path, "' does not fit a DCSR network with n_feats ", config.n_feats, ": ", e.what());
  }
  if (device != kCPU) net->to(device);
  return net;
}

TileForward network_tile_forward(const DcsrNet& net, Mode mode) {
  return [&net, mode](const Tensor& tile, const Tensor& window) {
    NoGradGuard no_grad;
    const Device device = net.device();
    const DType dtype = net.dtype();
    // Only the cores are placed: the network skips what lies outside them.
    DcsrNet::Output out = net.forward(tile.to(dtype).to(device), window.to(dtype).to(device), mode, kTileDrop);
    // On the network's device: tiled_inference copies to the CPU only the
    // maps it was asked for (a GPU run saves two device-to-host copies a tile).
    TileOutput t;
    t.sr = out.sr;
    t.confidence = out.confidence;
    t.warped_ref = out.warped_ref_hf;
    t.cores_only = true;
    return t;
  };
}

void warm_up_network(const DcsrNet& net, Mode mode) {
  const Tensor blank = zeros({1, 3, kMinTiledSide, kMinTiledSide});
  (void)tiled_inference(blank, blank, mode, network_tile_forward(net, mode), TiledOptions{});
}

Tensor bicubic_upsample(const Tensor& lr) {
  NoGradGuard no_grad;
  return bicubic_resize(lr, 2 * lr.size(2), 2 * lr.size(3), /*align_corners=*/false);
}

namespace {

constexpr int64_t kMinEvalSide = 12;

constexpr const char* kUnrelatedRefText =
    "unrelated: image i gets the Ref/x2 of image (i+1) mod n, resized to its LR size with resize_antialias";

std::string reference_text(const EvalSummary& s) {
  if (s.unrelated_ref) return kUnrelatedRefText;
  if (!s.ref_from.empty())
    return "from '" + s.ref_from + "': image i gets that folder's Ref/x2 image i (sorted by name), resized to its "
           "LR size with resize_antialias";
  return "own (Ref/x2 of the same image)";
}

void accumulate(QualityScores& sum, const QualityScores& s) {
  sum.psnr += s.psnr, sum.ssim += s.ssim, sum.psnr_fov += s.psnr_fov, sum.ssim_fov += s.ssim_fov;
}
QualityScores divide(QualityScores s, double n) {
  s.psnr /= n, s.ssim /= n, s.psnr_fov /= n, s.ssim_fov /= n;
  return s;
}

nlohmann::json scores_json(const QualityScores& s) {
  // JSON has no infinity or NaN. None is expected (evaluate_pair caps the
  // PSNRs at kPsnrCeiling), but one would be written as null, not fail the
  // write after the whole evaluation.
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"psnr", number(s.psnr)}, {"ssim", number(s.ssim)}, {"psnr_fov", number(s.psnr_fov)},
          {"ssim_fov", number(s.ssim_fov)}};
}

}  // namespace

EvalInputs check_eval_inputs(const std::string& data_dir, const EvalOptions& options) {
  EvalInputs in;
  in.files = list_dataset(data_dir, DatasetKind::Basic);
  in.n = in.files.size();
  if (options.max_images > 0) in.n = std::min(in.n, options.max_images);
  DCSR_CHECK(!options.unrelated_ref || in.n >= 2, "evaluation with unrelated references needs at least 2 images, '",
             data_dir, "' gives ", in.n);
  if (!options.ref_from.empty()) {
    DCSR_CHECK(!options.unrelated_ref, "unrelated references and references from '", options.ref_from,
               "' are two controls; ask for one");
    const std::string dir = (fs::path(options.ref_from) / "Ref" / "x2").string();
    std::error_code ec;
    DCSR_CHECK(fs::is_directory(dir, ec), "reference folder '", dir, "' does not exist (--ref-from takes a dataset ",
               "folder with Ref/x2)");
    in.other_refs = list_images(dir);
    DCSR_CHECK(int64_t(in.other_refs.size()) >= in.n, "reference folder '", dir, "' holds ", in.other_refs.size(),
               " images, fewer than the ", in.n, " evaluated from '", data_dir, "'");
  }
  // Every image's header and sizes before any image is measured: a bad third
  // image failed only after the first two had gone through the network.
  for (int64_t i = 0; i < in.n; ++i) {
    const ImageInfo lr = read_image_info(in.files.lr[size_t(i)]), ref = read_image_info(in.files.ref[size_t(i)]);
    const ImageInfo hr = read_image_info(in.files.hr[size_t(i)]);
    check_pair_sizes(in.files, i, lr, ref, &hr);
    // SSIM's 11x11 window must fit the central half of the 2x HR (the FoV scores, no shave).
    DCSR_CHECK(lr.height >= kMinEvalSide && lr.width >= kMinEvalSide, "'", in.files.lr[size_t(i)], "' is ",
               lr.width, "x", lr.height, ": evaluation needs LR images of at least ", kMinEvalSide, "x",
               kMinEvalSide, " (SSIM's 11x11 window inside the telephoto's view of the 2x HR)");
    if (!in.other_refs.empty()) read_image_info(in.other_refs[size_t(i)]);
  }
  return in;
}

EvalSummary evaluate_dataset(const std::string& data_dir, const DcsrNet* net, const EvalOptions& options) {
  return evaluate_dataset(check_eval_inputs(data_dir, options), net, options);
}

EvalSummary evaluate_dataset(const EvalInputs& in, const DcsrNet* net, const EvalOptions& options) {
  const DatasetFiles& files = in.files;
  const int64_t n = in.n;
  const std::vector<std::string>& other_refs = in.other_refs;  // ref_from's Ref/x2 images, sorted
  const auto alive = [&] {  // EvalOptions::working
    if (options.working) options.working();
  };
  EvalSummary summary;
  summary.data = files.root;
  summary.mode = mode_name(options.mode);
  summary.has_model = net != nullptr;
  summary.unrelated_ref = options.unrelated_ref;
  summary.ref_from = options.ref_from;
  if (!options.save_dir.empty()) {
    std::error_code ec;
    DCSR_CHECK(fs::is_directory(options.save_dir, ec), "output folder '", options.save_dir, "' does not exist");
  }
  QualityScores sum_sr, sum_bic;
  for (int64_t i = 0; i < n; ++i) {
    if (i % options.shard_count != options.shard_index) continue;
    const std::string name = fs::path(files.lr[size_t(i)]).filename().string();
    Tensor lr = read_image(files.lr[size_t(i)]);
    Tensor ref = read_image(files.ref[size_t(i)]);
    Tensor hr = read_image(files.hr[size_t(i)]);  // sizes checked by check_eval_inputs
    ImageEval e;
    e.name = name;
    e.ref_name = fs::path(files.ref[size_t(i)]).filename().string();
    if (options.unrelated_ref || !other_refs.empty()) {
      const std::string& path = options.unrelated_ref ? files.ref[size_t((i + 1) % n)] : other_refs[size_t(i)];
      e.ref_name = fs::path(path).filename().string();
      ref = read_image(path);
      if (ref.size(2) != lr.size(2) || ref.size(3) != lr.size(3)) ref = resize_antialias(ref, lr.size(2), lr.size(3));
    }
    alive();  // read: a large image takes a while
    e.bicubic = evaluate_pair(bicubic_upsample(lr), hr);
    alive();
    if (net) {
      auto start = std::chrono::steady_clock::now();
      TiledOptions tiling;
      tiling.batch_tiles = options.tile_batch;
      if (options.working) tiling.progress = [&](int64_t, int64_t) { alive(); };
      TiledResult r = tiled_inference(lr, ref, options.mode, network_tile_forward(*net, options.mode), tiling);
      e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      e.sr = evaluate_pair(r.sr, hr);
      if (!options.save_dir.empty())
        write_png((fs::path(options.save_dir) / (fs::path(name).stem().string() + ".png")).string(), r.sr);
    }
    accumulate(sum_sr, e.sr);
    accumulate(sum_bic, e.bicubic);
    summary.images.push_back(e);
    if (options.progress) options.progress(i + 1, n, name);
    alive();
  }
  summary.mean_sr = divide(sum_sr, double(summary.images.size()));
  summary.mean_bicubic = divide(sum_bic, double(summary.images.size()));
  return summary;
}

nlohmann::json eval_to_json(const EvalSummary& s) {
  nlohmann::json images = nlohmann::json::array();
  for (const ImageEval& e : s.images) {
    nlohmann::json j = {{"name", e.name}, {"ref", e.ref_name}, {"bicubic", scores_json(e.bicubic)}};
    if (s.has_model) j["sr"] = scores_json(e.sr), j["seconds"] = e.seconds;
    images.push_back(j);
  }
  nlohmann::json mean = {{"bicubic", scores_json(s.mean_bicubic)}};
  if (s.has_model) mean["sr"] = scores_json(s.mean_sr);
  const std::string ceiling = std::to_string(int64_t(kPsnrCeiling)) + " dB";
  return {{"data", s.data},
          {"mode", s.mode},
          {"reference", reference_text(s)},
          {"protocol",
           "quantised to 8 bits; PSNR on Y ((65.738, 129.057, 25.064)/256), shave 2, at most " + ceiling +
               " per image (an identical image counts " + ceiling + "); SSIM on Y (+16/255), 11x11 Gaussian "
               "sigma 1.5, valid windows, shave 2; *_fov: the central half, no shave"},
          {"images", images},
          {"mean", mean}};
}

namespace {
// A name in a column of `width` characters (not bytes): control characters
// shown as '?', a longer name cut to its first width - 1 characters and "~"
// (the JSON keeps every name whole), padded with spaces.
std::string table_cell(const std::string& name, size_t width) {
  std::vector<std::string> chars;  // UTF-8 sequences, one character each
  for (size_t i = 0; i < name.size();) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    len = std::min(len, name.size() - i);
    chars.push_back(c < 0x20 || c == 0x7F ? std::string("?") : name.substr(i, len));
    i += len;
  }
  std::string out;
  if (chars.size() > width) chars.resize(width - 1), chars.push_back("~");
  for (const std::string& ch : chars) out += ch;
  return out + std::string(width - std::min(width, chars.size()), ' ');
}
}  // namespace

std::string eval_table(const EvalSummary& s) {
  std::ostringstream out;
  char line[256];
  auto row = [&](const std::string& name, const char* method, const QualityScores& q) {
    std::snprintf(line, sizeof(line), " %-8s %8.3f %8.4f %10.3f %10.4f\n", method, q.psnr, q.ssim, q.psnr_fov,
                  q.ssim_fov);
    out << table_cell(name, 24) << line;
  };
  if (s.unrelated_ref || !s.ref_from.empty()) out << "reference: " << reference_text(s) << "\n";
  std::snprintf(line, sizeof(line), "%-24s %-8s %8s %8s %10s %10s\n", "image", "method", "PSNR", "SSIM", "PSNR-FoV",
                "SSIM-FoV");
  out << line;
  for (const ImageEval& e : s.images) {
    row(e.name, "bicubic", e.bicubic);
    if (s.has_model) row(e.name, "dcsr", e.sr);
  }
  row("mean (" + std::to_string(s.images.size()) + " images)", "bicubic", s.mean_bicubic);
  if (s.has_model) row("mean (" + std::to_string(s.images.size()) + " images)", "dcsr", s.mean_sr);
  return out.str();
}

}  // namespace dcsr
