// DCSR's training losses (dcsr-spec §9), configured by the reference's loss
// string: "1*L1+0.05*CX_ref+0.01*CX_hr" (basic training), "1*L1+0.1*CX_ref"
// (SRA, target = the LR itself), "1*L1" (the L1-only variant).
//
//   L1      blurred L1: mean |blur(SR) - blur(target)|; when the sizes differ
//           (SRA) SR is first bicubic-downsampled to (H/2, W/2) (§9.1)
//   MSE     mean squared error (sizes must match)
//   CX_ref  CX(f(SR), f(Ref))                    (§9.2)
//   CX_hr   CX(f(SR), f(target)) + CX(f(target), f(SR))   (symmetric)
//
// CX is the confidence-weighted contextual loss on the features f of a
// pluggable feature space: "patch4" (default, no weights: non-overlapping 4x4
// RGB patches as 48-channel vectors), "patch4s2" (the same patches at stride
// 2, overlapping: a patch across every 4x4 block boundary is scored too) or
// "vgg" (VGG19 relu3_4 of a converted
// torchvision checkpoint, as the reference). The features of SR, target and
// Ref are each computed once per call however many CX terms use them (the
// reference runs a VGG per CX argument, §9.2 cost note: same values).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dcsr/model/vgg.h"
#include "nn/checkpoint.h"

namespace dcsr {

struct LossTerms {
  Tensor total;                                        // scalar, differentiable
  std::vector<std::pair<std::string, double>> parts;  // unweighted term values in spec order: {"L1", v}, ...
};

struct LossTerm {
  double weight;
  std::string type;  // "L1", "MSE", "CX_ref" or "CX_hr"
};

// "w*type+w*type..." (spaces ignored; types case-insensitive, aliases
// contextual_ref / contextual_hr). Fails naming the bad term.
std::vector<LossTerm> parse_loss_spec(const std::string& spec);

// §9.1: sr (N,C,H,W), target (N,C,H,W) or (N,C,H/2,W/2) -> scalar.
Tensor blurred_l1(const Tensor& sr, const Tensor& target);
// The "patch4" feature space: unfold(x, 4, stride 4) reshaped to
// (N, 16C, H/4, W/4), channel = c*16 + ky*4 + kx. With stride 2 ("patch4s2"):
// (N, 16C, (H-4)/2+1, (W-4)/2+1), the patch at (2i, 2j) in position (i, j).
Tensor patch4_features(const Tensor& x, int64_t stride = 4);

class DcsrLoss {
 public:
  // feature_space "patch4", "patch4s2" or "vgg"; "vgg" needs the VGG19 checkpoint
  // (converted with tools/convert_weights.py vgg19) when the spec has CX terms.
  DcsrLoss(const std::string& spec, const std::string& feature_space = "patch4", const Checkpoint* vgg19 = nullptr);
  // The "vgg" feature space with a given network (e.g. Vgg19Features::seeded).
  DcsrLoss(const std::string& spec, std::unique_ptr<Vgg19Features> vgg);

  // sr (N,3,2h,2w); target = HR (N,3,2h,2w) or, in SRA, LR (N,3,h,w);
  // ref (N,3,Hr,Wr) (may be undefined when there is no CX_ref term).
  LossTerms operator()(const Tensor& sr, const Tensor& target, const Tensor& ref) const;

  const std::vector<LossTerm>& terms() const { return terms_; }
  const std::string& feature_space() const { return feature_space_; }

  // Features of the configured space (the VGG is moved to x's dtype and
  // device on first use).
  Tensor features(const Tensor& x) const;

 private:
  std::vector<LossTerm> terms_;
  std::string feature_space_;
  mutable std::unique_ptr<Vgg19Features> vgg_;
};

}  // namespace dcsr
