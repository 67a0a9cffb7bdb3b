#include "dcsr/model/loss.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

#include "autograd/ops.h"
#include "nn/distributed.h"

namespace dcsr {

namespace {

// CX(x, y) (§9.2). Its centre is the mean of y over the batch; in a
// data-parallel step the batch is split over the ranks, so the centre is
// taken over all of them (nn/distributed.h), as one process would take it.
// One process: the plain contextual_loss, bit for bit.
Tensor cx(const Tensor& x, const Tensor& y) {
  if (distributed::world().size == 1) return contextual_loss(x, y);
  return contextual_loss(x, y, distributed::global_batch_channel_mean(y));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}
bool needs_features(const std::vector<LossTerm>& terms) {
  for (const LossTerm& t : terms)
    if (t.type == "CX_ref" || t.type == "CX_hr") return true;
  return false;
}
}  // namespace

std::vector<LossTerm> parse_loss_spec(const std::string& spec) {
  static const std::map<std::string, std::string> kTypes = {{"l1", "L1"},         {"mse", "MSE"},
                                                            {"cx_ref", "CX_ref"}, {"contextual_ref", "CX_ref"},
                                                            {"cx_hr", "CX_hr"},   {"contextual_hr", "CX_hr"}};
  static const std::regex kTerm(R"(([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\*([A-Za-z_0-9]+))");
  std::string compact;
  for (char c : spec)
    if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
  DCSR_CHECK(!compact.empty(), "loss: empty loss string");
  std::vector<LossTerm> terms;
  size_t start = 0;
  while (true) {
    const size_t plus = compact.find('+', start);
    const std::string part = compact.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
    std::smatch m;
    DCSR_CHECK(std::regex_match(part, m, kTerm), "loss: bad term '", part, "' in '", spec,
               "' (expected weight*type, e.g. 1*L1+0.05*CX_ref+0.01*CX_hr)");
    auto it = kTypes.find(lower(m[2].str()));
    DCSR_CHECK(it != kTypes.end(), "loss: unknown loss type '", m[2].str(), "' in '", spec,
               "' (known: L1, MSE, CX_ref, CX_hr)");
    // A weight the loss can use: stod's own errors ("stod") named nothing, 0
    // trained nothing and reported success, and 1e10 only diverged later.
    double weight = 0;
    try {
      weight = std::stod(m[1].str());
    } catch (const std::exception&) {
      weight = -1;  // out of double's range, either way
    }
    DCSR_CHECK(weight > 0 && weight <= 1e6, "loss: the weight ", m[1].str(), " of ", it->second, " in '", spec,
               "' must be above 0 and at most 1e6");
    for (const LossTerm& t : terms)
      DCSR_CHECK(t.type != it->second, "loss: ", it->second, " appears twice in '", spec,
                 "' (one term per type; add the weights)");
    terms.push_back({weight, it->second});
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return terms;
}

Tensor blurred_l1(const Tensor& sr, const Tensor& target) {
  DCSR_CHECK(sr.dim() == 4 && target.dim() == 4 && sr.size(0) == target.size(0) && sr.size(1) == target.size(1),
             "blurred_l1: sr ", shape_str(sr.shape()), " and target ", shape_str(target.shape()), " must be (N, C, H, W) alike");
  Tensor s = sr;
  if (sr.shape() != target.shape()) {
    // §9.1, SRA: the target is the LR input itself; SR is bicubic x0.5 first
    // (floor size, align_corners False, ratio in/out).
    s = bicubic_resize(sr, sr.size(2) / 2, sr.size(3) / 2, false);
    DCSR_CHECK(s.shape() == target.shape(), "blurred_l1: sr ", shape_str(sr.shape()), " halved to ",
               shape_str(s.shape()), " does not match the target ", shape_str(target.shape()));
  }
  return l1_loss(gaussian_blur3(s), gaussian_blur3(target));
}

Tensor patch4_features(const Tensor& x, int64_t stride) {
  DCSR_CHECK(x.dim() == 4, "patch4_features: input must be (N, C, H, W), got ", shape_str(x.shape()));
  DCSR_CHECK(stride == 2 || stride == 4, "patch4_features: stride ", stride, " (known: 4, 2)");
  DCSR_CHECK(x.size(2) >= 4 && x.size(3) >= 4, "patch4_features: input ", shape_str(x.shape()),
             " is smaller than one 4x4 patch");
  const int64_t n = x.size(0), c = x.size(1);
  const int64_t h = (x.size(2) - 4) / stride + 1, w = (x.size(3) - 4) / stride + 1;
  return unfold(x, 4, stride).reshape({n, 16 * c, h, w});
}

DcsrLoss::DcsrLoss(const std::string& spec, const std::string& feature_space, const Checkpoint* vgg19)
    : terms_(parse_loss_spec(spec)), feature_space_(feature_space) {
  DCSR_CHECK(feature_space == "patch4" || feature_space == "patch4s2" || feature_space == "vgg",
             "loss: unknown feature space '", feature_space, "' (known: patch4, patch4s2, vgg)");
  if (feature_space == "vgg" && needs_features(terms_)) {
    DCSR_CHECK(vgg19 != nullptr, "loss: feature space 'vgg' needs a VGG19 checkpoint (tools/convert_weights.py vgg19)");
    vgg_ = Vgg19Features::from_checkpoint(*vgg19);
  }
}

DcsrLoss::DcsrLoss(const std::string& spec, std::unique_ptr<Vgg19Features> vgg)
    : terms_(parse_loss_spec(spec)), feature_space_("vgg"), vgg_(std::move(vgg)) {
  DCSR_CHECK(vgg_ != nullptr, "loss: null VGG network");
}

Tensor DcsrLoss::features(const Tensor& x) const {
  if (feature_space_ == "patch4") return patch4_features(x, 4);
  if (feature_space_ == "patch4s2") return patch4_features(x, 2);
  DCSR_CHECK(vgg_ != nullptr, "loss: feature space 'vgg' has no VGG19 network");
  if (vgg_->dtype() != x.dtype()) vgg_->to(x.dtype());
  if (vgg_->device() != x.device()) vgg_->to(x.device());
  return vgg_->forward(x);
}

LossTerms DcsrLoss::operator()(const Tensor& sr, const Tensor& target, const Tensor& ref) const {
  // Features are computed lazily and once each (SR with gradient; target and
  // Ref need none: they do not require grad and the VGG is frozen).
  Tensor f_sr, f_target, f_ref;
  auto feat = [&](Tensor& cache, const Tensor& image) -> const Tensor& {
    if (!cache.defined()) cache = features(image);
    return cache;
  };
  LossTerms out;
  for (const LossTerm& term : terms_) {
    Tensor value;
    if (term.type == "L1") {
      value = blurred_l1(sr, target);
    } else if (term.type == "MSE") {
      value = mse_loss(sr, target);
    } else if (term.type == "CX_ref") {
      DCSR_CHECK(ref.defined(), "loss: CX_ref needs the Ref image");
      value = cx(feat(f_sr, sr), feat(f_ref, ref));
    } else {  // CX_hr, symmetric
      const Tensor& a = feat(f_sr, sr);
      const Tensor& b = feat(f_target, target);
      value = cx(a, b) + cx(b, a);
    }
    out.parts.emplace_back(term.type, value.item());
    Tensor weighted = value * term.weight;
    out.total = out.total.defined() ? out.total + weighted : weighted;
  }
  return out;
}

}  // namespace dcsr
