// The DCSR network (dcsr-spec §2, §3, §6, §7) with the reference module tree
// and state-dict names (§13.7: 194 tensors at any n_feats; 3,193,384
// parameters at n_feats 64, 12 of them the fixed MeanShift).
#pragma once
#include "dcsr/model/aligned_attention.h"
#include "dcsr/model/config.h"
#include "dcsr/model/matching.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"

namespace dcsr {

class DcsrNet : public nn::Module {
 public:
  // PyTorch's default initialisation drawn from `init_rng` (spec §1).
  DcsrNet(const ModelConfig& config, Generator& init_rng);

  struct Output {
    Tensor sr;             // (N, 3, 2h, 2w)
    Tensor confidence;     // C: (N, 1, h, w) in 4K mode, (N, 1, h/2, w/2) in 8K mode
    Tensor index;          // I: (N, h'*w') int64 into the row-major Ref key grid
    Tensor warped_ref_hf;  // AA1 output, the aligned Ref high frequencies (N, 3, 2h, 2w)
    Tensor aa1_params;     // raw aligner predictions of AA1 / AA3 (N, 3, h', w') (debugging aid)
    Tensor aa3_params;
  };

  // lr (N,3,h,w) with even h, w; ref (N,3,Hr,Wr) with Hr, Wr even (4K) or
  // multiples of 4 (8K). Same dtype and device as the parameters. Matching is
  // global over the whole Ref (no windowing inside the network, §4.3).
  Output forward(const Tensor& lr, const Tensor& ref, Mode mode) const { return forward(lr, ref, mode, 0); }

  // forward() for a caller that keeps only the centre of the SR output, as
  // tiled inference does (it drops kTileDrop = 40 px a side): sr and
  // warped_ref_hf are then (N, 3, 2h - 2 sr_margin, 2w - 2 sr_margin), that
  // centre, and the SR-resolution layers run only on the part of the tile
  // the centre depends on (network.cpp's SrFrames: at a margin of 40 the 4K
  // trunk's 288 x 288 of a 332 x 332 tile). The centre's values are the full
  // forward's up to float32 rounding, not bit for bit: a Winograd tile sums
  // its whole input window, so a value next to a frame's edge is rounded
  // otherwise than in the full tile. confidence and index are the full
  // forward's; aa1_params and aa3_params cover their aligner's frame only.
  // sr_margin: 0 (everything) up to h - 1 and w - 1.
  Output forward(const Tensor& lr, const Tensor& ref, Mode mode, int64_t sr_margin) const;

  const ModelConfig& config() const { return config_; }

  // Optional ImageNet init of the matching extractor's VGG layers from a
  // converted VGG19 checkpoint (features.{0,2,5}.*), §3.1.
  void init_matching_from_vgg(const Checkpoint& vgg19) { feature_match_->init_from_vgg(vgg19); }

 private:
  ModelConfig config_;
  FeatureMatching* feature_match_;
  nn::BasicBlocks* ref_encoder1_;
  nn::ResList* res1_;
  nn::BasicBlocks* ref_encoder2_;
  nn::ResList* res2_;
  nn::EncoderInput* input_encoder_;
  nn::BasicBlocks* fusion1_;
  nn::ResList* decoder1_;
  nn::BasicBlocks* fusion2_;
  nn::ResList* decoder2_;
  nn::Conv2d* tail0_;
  nn::Conv2d* tail2_;
  nn::BasicBlocks* alpha1_;
  nn::BasicBlocks* alpha2_;
  nn::BasicBlocks* alpha3_;
  AlignedAttention* aa1_;
  AlignedAttention* aa3_;
};

}  // namespace dcsr
