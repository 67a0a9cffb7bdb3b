#include "dcsr/model/aligned_attention.h"

namespace dcsr {

AlignedConv2d::AlignedConv2d(Generator& gen) {
  auto& c1 = register_module("conv1", std::make_unique<nn::Container>());
  conv1_0_ = &c1.add("0", nn::make_conv(3, 32, 5, gen));
  conv1_2_ = &c1.add("2", std::make_unique<nn::ResBlock>(32, gen));
  auto& pc = register_module("p_conv", std::make_unique<nn::Container>());
  p_conv_0_ = &pc.add("0", nn::make_conv(64, 32, 5, gen));  // stride chosen per call (block size)
  p_conv_2_ = &pc.add("2", std::make_unique<nn::ResBlock>(32, gen));
  p_conv_4_ = &pc.add("4", nn::make_conv(32, 3, 1, gen));
}

Tensor AlignedConv2d::conv1(const Tensor& x) const {
  // conv -> LReLU -> ResBlock -> LReLU (an activation after the residual add).
  return conv1_2_->forward(conv1_0_->forward_activated(x), nn::kLeakySlope);
}

Tensor AlignedConv2d::predict(const Tensor& lr_up, const Tensor& ref_mosaic, int64_t block) const {
  DCSR_CHECK(lr_up.shape() == ref_mosaic.shape(), "AlignedConv2d: upsampled LR ", shape_str(lr_up.shape()),
             " and Ref mosaic ", shape_str(ref_mosaic.shape()), " differ in size");
  // [reference, LR] as everywhere (§2), concatenated along the channels (not written out in inference).
  Tensor x = p_conv_0_->forward_activated_concat(conv1(ref_mosaic), conv1(lr_up), block, nn::kLeakySlope);
  x = p_conv_2_->forward(x, nn::kLeakySlope);
  return p_conv_4_->forward(x);
}

AlignedAttention::AlignedAttention(Generator& gen)
    : align_(&register_module("align", std::make_unique<AlignedConv2d>(gen))) {}

Tensor AlignedAttention::apply(const Tensor& value, const Tensor& index, int64_t block, int64_t gh, int64_t gw,
                               const Tensor& params) const {
  Tensor mosaic = block_gather(value, index, block, gh, gw);
  // §5: the warp resamples the ASSEMBLED mosaic (a rotated/scaled window can
  // read pixels of neighbouring blocks, which came from other Ref places),
  // with the reference's border double count (GridBorder::DcsrReference).
  return aligned_sample(mosaic, params, block);
}

}  // namespace dcsr
