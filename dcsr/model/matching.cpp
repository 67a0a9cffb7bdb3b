#include "dcsr/model/matching.h"

#include <vector>

namespace dcsr {

namespace {
const double kImageNetMean[3] = {0.485, 0.456, 0.406};
const double kImageNetStd[3] = {0.229, 0.224, 0.225};

// The MeanShift of the reference: a 1x1 conv with weight diag(1/std) and bias
// -mean/std, not trainable but counted (spec §3.1, §12). Computed in float64
// and stored in the parameter's dtype, as PyTorch's copy_ does.
std::unique_ptr<nn::Conv2d> mean_shift(Generator& gen) {
  nn::ConvOptions o;
  o.trainable = false;
  auto conv = std::make_unique<nn::Conv2d>(3, 3, 1, gen, o);
  std::vector<double> w(9, 0.0), b(3);
  for (int c = 0; c < 3; ++c) {
    w[size_t(c * 3 + c)] = 1.0 / kImageNetStd[c];
    b[size_t(c)] = -kImageNetMean[c] / kImageNetStd[c];
  }
  conv->copy_into_parameter("weight", from_vector(w, {3, 3, 1, 1}));
  conv->copy_into_parameter("bias", from_vector(b, {3}));
  return conv;
}
}  // namespace

FeatureMatching::FeatureMatching(Generator& gen) {
  // Registration order = the reference state-dict order: sub_mean, then
  // feature_extract.{0,2,5}, feature_extract.map.0. The indices are those of
  // torchvision's VGG19 `features` (ReLUs at 1, 3, 6 and the max pool at 4
  // have no parameters).
  sub_mean_ = &register_module("sub_mean", mean_shift(gen));
  auto& fe = register_module("feature_extract", std::make_unique<nn::Container>());
  conv1_1_ = &fe.add("0", nn::make_conv(3, 64, 3, gen));
  conv1_2_ = &fe.add("2", nn::make_conv(64, 64, 3, gen));
  conv2_1_ = &fe.add("5", nn::make_conv(64, 128, 3, gen));
  auto& map = fe.add("map", std::make_unique<nn::Container>());
  map_ = &map.add("0", nn::make_conv(128, 16, 1, gen));
}

Tensor FeatureMatching::features(const Tensor& x, Mode mode) const {
  Tensor y = sub_mean_->forward(x);
  // §3.1 step 2: the ONLY bicubic of the model with align_corners=True (every
  // other x2 upsampling uses align_corners=False). 4K mode only.
  if (mode == Mode::K4) y = bicubic_resize(y, 2 * y.size(2), 2 * y.size(3), /*align_corners=*/true);
  y = conv1_1_->forward_activated(y, 0.0);  // VGG layers: plain ReLU (slope 0)
  y = conv1_2_->forward_activated_max_pool2(y, 0.0);  // then features.4, the max pool (fused in inference)
  y = conv2_1_->forward_activated(y, 0.0);
  return map_->forward_activated(y);
}

MatchResult FeatureMatching::match(const Tensor& lr, const Tensor& ref, Mode mode) const {
  // The key side is the Ref blurred to the LR's detail level: 2x2 box average
  // ("Ref down"), then (4K) the same bicubic x2 up as the query (§4.1).
  Tensor q = features(lr, mode);
  Tensor k = features(avg_pool2d(ref, 2), mode);
  return patch_match(q, k);
}

void FeatureMatching::init_from_vgg(const Checkpoint& vgg19) {
  const std::pair<const char*, const char*> pairs[] = {{"features.0", "feature_extract.0"},
                                                       {"features.2", "feature_extract.2"},
                                                       {"features.5", "feature_extract.5"}};
  // Check all six tensors before copying any.
  for (const auto& [src, dst] : pairs)
    for (const char* field : {".weight", ".bias"}) {
      const Tensor* t = vgg19.find(std::string(src) + field);
      DCSR_CHECK(t != nullptr, "init_matching_from_vgg: the VGG19 checkpoint has no tensor '", src, field, "'");
      DCSR_CHECK(t->shape() == parameter(std::string(dst) + field).shape(), "init_matching_from_vgg: '", src, field,
                 "' has shape ", shape_str(t->shape()), ", expected ",
                 shape_str(parameter(std::string(dst) + field).shape()));
    }
  for (const auto& [src, dst] : pairs)
    for (const char* field : {".weight", ".bias"})
      copy_into_parameter(std::string(dst) + field, vgg19.at(std::string(src) + field));
}

}  // namespace dcsr
