#include "dcsr/inference/eval_shard.h"

#include "dcsr/inference/shard_reports.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "nn/distributed.h"
#include "tensor/error.h"

namespace dcsr {

namespace {

// A file name may hold a tab or a line break (the line format's separators):
// those and '%' travel as %XX.
std::string escape_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '%' || c == '\t' || c == '\n' || c == '\r') {
      char code[4];
      std::snprintf(code, sizeof(code), "%%%02X", unsigned(static_cast<unsigned char>(c)));
      out += code;
    } else {
      out += c;
    }
  }
  return out;
}
std::string unescape_name(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += char(std::strtol(text.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// One image per line: name, reference name (both escaped), seconds and the
// eight scores, tab-separated, numbers with full precision (the root's means
// are those of one process to the last bit).
std::string serialise(const std::vector<ImageEval>& images) {
  std::ostringstream out;
  char number[40];
  auto put = [&](double v) {
    std::snprintf(number, sizeof(number), "\t%.17g", v);
    out << number;
  };
  for (const ImageEval& e : images) {
    out << escape_name(e.name) << "\t" << escape_name(e.ref_name);
    put(e.seconds);
    for (const QualityScores* s : {&e.sr, &e.bicubic}) {
      put(s->psnr);
      put(s->ssim);
      put(s->psnr_fov);
      put(s->ssim_fov);
    }
    out << "\n";
  }
  return out.str();
}

std::vector<ImageEval> deserialise(const std::string& text) {
  std::vector<ImageEval> images;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> field;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      field.push_back(line.substr(start, tab - start));
    field.push_back(line.substr(start));
    DCSR_CHECK(field.size() == 11, "sharded evaluation: a rank sent a malformed line");
    auto num = [&](size_t k) { return std::strtod(field[k].c_str(), nullptr); };
    ImageEval e;
    e.name = unescape_name(field[0]);
    e.ref_name = unescape_name(field[1]);
    e.seconds = num(2);
    e.sr = {num(3), num(4), num(5), num(6)};
    e.bicubic = {num(7), num(8), num(9), num(10)};
    images.push_back(e);
  }
  return images;
}

QualityScores mean_of(const std::vector<ImageEval>& images, QualityScores ImageEval::*which) {
  QualityScores m;
  for (const ImageEval& e : images) {
    const QualityScores& s = e.*which;
    m.psnr += s.psnr, m.ssim += s.ssim, m.psnr_fov += s.psnr_fov, m.ssim_fov += s.ssim_fov;
  }
  const double n = double(images.size());
  if (n > 0) m.psnr /= n, m.ssim /= n, m.psnr_fov /= n, m.ssim_fov /= n;
  return m;
}

}  // namespace

EvalSummary evaluate_dataset_sharded(const std::string& data_dir, const DcsrNet* net, EvalOptions options) {
  const EvalInputs checked = check_eval_inputs(data_dir, options);
  return evaluate_dataset_sharded(checked, net, std::move(options));
}

EvalSummary evaluate_dataset_sharded(const EvalInputs& checked, const DcsrNet* net, EvalOptions options) {
  const distributed::World& world = distributed::world();
  if (world.size == 1) return evaluate_dataset(checked, net, options);
  options.shard_index = world.rank;
  options.shard_count = world.size;
  // The ranks go at their own pace and meet once, in the gather. A rank that
  // finishes early must not take a slower one, still at work, for dead: each
  // rank reports a sign of life after every tile and from inside its kernels
  // (ShardReports, as sharded dcsr sr does), the root checks them as it works
  // and waits, and the gather comes only when every rank has finished. The
  // deadline then bounds one kernel, not a rank's whole share.
  ShardReports reports([](int64_t, const std::string&) {});
  int64_t tiles_done = 0;
  options.working = [&] { reports.progress(++tiles_done); };
  EvalSummary mine = evaluate_dataset(checked, net, options);
  reports.finish();
  const std::vector<std::string> all = distributed::gather(serialise(mine.images));
  reports.end();
  if (!world.is_root()) return mine;
  // Rank r's k-th image is image r + k N: interleave back into dataset order.
  std::vector<std::vector<ImageEval>> per_rank;
  for (const std::string& text : all) per_rank.push_back(deserialise(text));
  EvalSummary whole = mine;
  whole.images.clear();
  for (size_t k = 0;; ++k) {
    bool any = false;
    for (const auto& images : per_rank)
      if (k < images.size()) whole.images.push_back(images[k]), any = true;
    if (!any) break;
  }
  whole.mean_sr = mean_of(whole.images, &ImageEval::sr);
  whole.mean_bicubic = mean_of(whole.images, &ImageEval::bicubic);
  return whole;
}

}  // namespace dcsr
