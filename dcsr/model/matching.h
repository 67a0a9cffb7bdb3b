// The matching branch of DCSR (dcsr-spec §3.1, §4.1): the feature extractor
// Phi shared by LR and Ref, and the global patch matching that yields the
// confidence map C and the index map I used by every aligned-attention module.
#pragma once
#include "autograd/ops.h"
#include "dcsr/model/config.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"

namespace dcsr {

// Module "feature_match": sub_mean (fixed MeanShift 1x1 conv) and
// feature_extract = VGG19 features.{0,2,5} (conv1_1, conv1_2, conv2_1, plain
// ReLUs, max pool after conv1_2) + map.0 (1x1 conv 128 -> 16, LReLU 0.2).
class FeatureMatching : public nn::Module {
 public:
  explicit FeatureMatching(Generator& gen);

  // Phi(x): x (N, 3, H, W) RGB in [0, 1] -> (N, 16, H', W') with H' = H
  // (4K: bicubic x2 first, align_corners=True) or H / 2 (8K).
  Tensor features(const Tensor& x, Mode mode) const;

  // §4.1: q = Phi(LR), k = Phi(avgpool2(Ref)); 3x3 descriptors, cosine max
  // and argmax over the whole key grid. lr (N,3,h,w), ref (N,3,Hr,Wr) ->
  // confidence (N,1,h,w) [4K] / (N,1,h/2,w/2) [8K], index (N, h'*w') into the
  // row-major key grid (Hr/2 x Wr/2 [4K], Hr/4 x Wr/4 [8K]).
  MatchResult match(const Tensor& lr, const Tensor& ref, Mode mode) const;

  // Copies VGG19 features.{0,2,5}.{weight,bias} of a converted torchvision
  // checkpoint (tools/convert_weights.py vgg19) into feature_extract.{0,2,5}.
  void init_from_vgg(const Checkpoint& vgg19);

 private:
  nn::Conv2d* sub_mean_;
  nn::Conv2d* conv1_1_;  // feature_extract.0
  nn::Conv2d* conv1_2_;  // feature_extract.2
  nn::Conv2d* conv2_1_;  // feature_extract.5
  nn::Conv2d* map_;      // feature_extract.map.0
};

}  // namespace dcsr
