#include "nn/layers.h"

#include "nn/init.h"

namespace dcsr::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen, ConvOptions options)
    : kernel_(kernel), stride_(options.stride) {
  DCSR_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && options.stride > 0, "Conv2d: bad geometry ",
             in_channels, " -> ", out_channels, ", kernel ", kernel, ", stride ", options.stride);
  Tensor w = empty({out_channels, in_channels, kernel, kernel});
  Tensor b = options.bias ? empty({out_channels}) : Tensor();
  init_conv_default(w, b, gen);
  weight_ = &register_parameter("weight", w, options.trainable);
  bias_ = options.bias ? &register_parameter("bias", b, options.trainable) : &no_bias_;
}

Tensor Conv2d::forward(const Tensor& x, int64_t stride) const {
  return conv2d(x, *weight_, *bias_, stride, kernel_ / 2);
}

Tensor Conv2d::forward_activated(const Tensor& x, int64_t stride, double slope) const {
  return conv2d_leaky_relu(x, *weight_, *bias_, slope, stride, kernel_ / 2);
}

Tensor Conv2d::forward_activated_concat(const Tensor& a, const Tensor& b, int64_t stride, double slope) const {
  return conv2d_leaky_relu_concat(a, b, *weight_, *bias_, slope, stride, kernel_ / 2);
}

Tensor Conv2d::forward_activated_max_pool2(const Tensor& x, double slope) const {
  DCSR_CHECK(stride_ == 1, "Conv2d::forward_activated_max_pool2: stride ", stride_, " (the fused pool takes stride 1)");
  return conv2d_leaky_relu_max_pool2(x, *weight_, *bias_, slope, kernel_ / 2);
}

Tensor Conv2d::forward_residual(const Tensor& x, const Tensor& residual, double slope) const {
  DCSR_CHECK(stride_ == 1, "Conv2d::forward_residual: stride ", stride_, " (only stride 1 keeps the input's size)");
  return conv2d_residual(x, *weight_, *bias_, residual, slope);
}

BasicBlock::BasicBlock(int64_t cin, int64_t cout, int64_t kernel, Generator& gen, int64_t stride)
    : conv_(register_module("0", make_conv(cin, cout, kernel, gen, stride))) {}

Tensor BasicBlock::forward_concat(const Tensor& a, const Tensor& b) const {
  return conv_.forward_activated_concat(a, b);
}

Tensor BasicBlocks::forward(const Tensor& x) const {
  Tensor y = x;
  for (const BasicBlock* b : *this) y = b->forward(y);
  return y;
}

Tensor BasicBlocks::forward_concat(const Tensor& a, const Tensor& b) const {
  DCSR_CHECK(size() > 0, "BasicBlocks::forward_concat: no blocks");
  Tensor y;
  for (const BasicBlock* block : *this) y = y.defined() ? block->forward(y) : block->forward_concat(a, b);
  return y;
}

ResBlock::ResBlock(int64_t n, Generator& gen)
    : conv1_(register_module("conv1", make_conv(n, n, 3, gen))),
      conv2_(register_module("conv2", make_conv(n, n, 3, gen))) {}

namespace {
std::unique_ptr<ModuleList<ResBlock>> res_blocks(int64_t count, int64_t n, Generator& gen) {
  auto out = std::make_unique<ModuleList<ResBlock>>();
  for (int64_t i = 0; i < count; ++i) out->push_back(std::make_unique<ResBlock>(n, gen));
  return out;
}
Tensor run_blocks(const ModuleList<ResBlock>& blocks, const Tensor& x) {
  Tensor y = x;
  for (const ResBlock* b : blocks) y = b->forward(y);
  return y;
}
}  // namespace

ResList::ResList(int64_t blocks, int64_t n, Generator& gen)
    : blocks_(register_module("RBs", res_blocks(blocks, n, gen))),
      conv_tail_(register_module("conv_tail", make_conv(n, n, 3, gen))) {}

Tensor ResList::forward(const Tensor& x) const { return conv_tail_.forward_residual(run_blocks(blocks_, x), x); }

EncoderInput::EncoderInput(int64_t blocks, int64_t n, int64_t in_channels, Generator& gen)
    : conv_head_(register_module("conv_head", make_conv(in_channels, n, 3, gen))),
      blocks_(register_module("RBs", res_blocks(blocks, n, gen))),
      conv_tail_(register_module("conv_tail", make_conv(n, n, 3, gen))) {}

Tensor EncoderInput::forward(const Tensor& x) const {
  Tensor x1 = conv_head_.forward_activated(x);
  return conv_tail_.forward_residual(run_blocks(blocks_, x1), x1);
}

}  // namespace dcsr::nn
