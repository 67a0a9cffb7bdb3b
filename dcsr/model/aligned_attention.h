// Aligned attention (dcsr-spec §3.5, §4.2, §5): copy the matched Ref blocks
// into a mosaic, then (AA1, AA3) resample every block with a predicted
// anisotropic scale and rotation.
#pragma once
#include "autograd/ops.h"
#include "nn/layers.h"

namespace dcsr {

// The reference AlignedConv2d with modulation off: only the parameter
// predictor has weights; widths are fixed at 32 whatever n_feats is.
//   conv1  = conv 3->32 5x5, LReLU, ResBlock(32), LReLU        (keys conv1.0, conv1.2)
//   p_conv = conv 64->32 5x5 stride k, LReLU, ResBlock(32), LReLU, conv 32->3 1x1
//                                                               (keys p_conv.0, p_conv.2, p_conv.4)
class AlignedConv2d : public nn::Module {
 public:
  explicit AlignedConv2d(Generator& gen);

  // Raw per-block predictions (before +1 and the clamp of §5 step 4):
  // p_conv(cat[conv1(ref_mosaic), conv1(lr_up)]), the Ref side first.
  // lr_up: bicubic x2 of the LR (N,3,2h,2w); ref_mosaic: the gathered raw Ref
  // RGB (N,3,k*gh,k*gw) of the same size -> (N,3,gh,gw). p_conv.0 runs with
  // stride = block (2 in 4K, 4 in 8K mode), so one set of weights serves both.
  Tensor predict(const Tensor& lr_up, const Tensor& ref_mosaic, int64_t block) const;

 private:
  Tensor conv1(const Tensor& x) const;
  nn::Conv2d* conv1_0_;
  nn::ResBlock* conv1_2_;
  nn::Conv2d* p_conv_0_;
  nn::ResBlock* p_conv_2_;
  nn::Conv2d* p_conv_4_;
};

// AA1 / AA3 of the reference (AlignedAttention with align=True): module keys
// "align.*". AA2 (align=False) has no parameters and is a plain block_gather.
class AlignedAttention : public nn::Module {
 public:
  explicit AlignedAttention(Generator& gen);

  struct Result {
    Tensor out;     // aligned mosaic (N, C, k*gh, k*gw)
    Tensor params;  // raw aligner predictions (N, 3, gh, gw)
  };
  // value (N,C,Hv,Wv) cut into block x block blocks; index (N, gh*gw); the
  // caller passes the inputs it shares between AA1 and AA3: lr_up (N,3,2h,2w)
  // and ref_mosaic = block_gather(Ref, index, block, gh, gw).
  Result forward(const Tensor& value, const Tensor& index, int64_t block, int64_t gh, int64_t gw,
                 const Tensor& lr_up, const Tensor& ref_mosaic) const {
    Tensor params = predict(lr_up, ref_mosaic, block);
    return {apply(value, index, block, gh, gw, params), params};
  }
  // forward's two steps, for callers that run them on different parts of a
  // tile (DcsrNet's sr_margin): the aligner's raw predictions (N, 3, h', w')
  // for lr_up and ref_mosaic (N, 3, k h', k w'), and the aligned mosaic of
  // value for index (N, gh*gw) with params (N, 3, gh, gw).
  Tensor predict(const Tensor& lr_up, const Tensor& ref_mosaic, int64_t block) const {
    return align_->predict(lr_up, ref_mosaic, block);
  }
  Tensor apply(const Tensor& value, const Tensor& index, int64_t block, int64_t gh, int64_t gw,
               const Tensor& params) const;

 private:
  AlignedConv2d* align_;
};

}  // namespace dcsr
