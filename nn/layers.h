// The layers of the DCSR reference code (dcsr-spec §1, §3), with the module
// names of its state dict (§13.7):
//
//   Conv2d        k x k, zero padding k/2, bias; keys weight, bias
//   BasicBlock    conv -> LeakyReLU(0.2)                   keys 0.weight, 0.bias
//   BasicBlocks   a chain of BasicBlocks (nn.Sequential)   keys N.0.*
//   ResBlock      conv1 -> LReLU -> conv2 -> + input        keys conv1.*, conv2.*
//   ResList       nb ResBlocks -> conv_tail -> + input      keys RBs.N.*, conv_tail.*
//   EncoderInput  conv_head -> LReLU -> [x1] -> nb ResBlocks -> conv_tail -> + x1
//
// Every conv is initialised with PyTorch's default rule from the Generator
// passed to the constructor, in construction order.
#pragma once
#include <memory>

#include "autograd/ops.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace dcsr::nn {

// LeakyReLU slope used everywhere in DCSR (spec §1); VGG layers use plain ReLU.
constexpr double kLeakySlope = 0.2;
inline Tensor lrelu(const Tensor& x) { return leaky_relu(x, kLeakySlope); }

struct ConvOptions {
  int64_t stride = 1;
  bool bias = true;
  bool trainable = true;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, Generator& gen, ConvOptions options = {});
  // x: (N, Cin, H, W) -> (N, Cout, H', W'), zero padding kernel/2.
  Tensor forward(const Tensor& x) const { return forward(x, stride_); }
  // The same layer applied with another stride (the aligner's p_conv.0 runs
  // with stride = block size, which differs between 4K and 8K mode: §3.5, §7).
  Tensor forward(const Tensor& x, int64_t stride) const;
  // leaky_relu(forward(x), slope) in one pass (conv2d_leaky_relu); slope 0 is ReLU.
  Tensor forward_activated(const Tensor& x, double slope = kLeakySlope) const { return forward_activated(x, stride_, slope); }
  Tensor forward_activated(const Tensor& x, int64_t stride, double slope) const;
  // forward_activated(concat({a, b}, 1), stride, slope); without a graph to
  // record, without the concat written (conv2d_leaky_relu_concat).
  Tensor forward_activated_concat(const Tensor& a, const Tensor& b, double slope = kLeakySlope) const {
    return forward_activated_concat(a, b, stride_, slope);
  }
  Tensor forward_activated_concat(const Tensor& a, const Tensor& b, int64_t stride, double slope) const;
  // max_pool2d(forward_activated(x, slope), 2), stride 1 only; without a graph
  // to record, in one pass (conv2d_leaky_relu_max_pool2).
  Tensor forward_activated_max_pool2(const Tensor& x, double slope) const;
  // leaky_relu(residual + forward(x), slope) in one pass (conv2d_residual); stride 1 only.
  Tensor forward_residual(const Tensor& x, const Tensor& residual, double slope = 1.0) const;
  const Tensor& weight() const { return *weight_; }
  const Tensor& bias() const { return *bias_; }
  int64_t kernel() const { return kernel_; }

 private:
  Tensor* weight_;
  Tensor* bias_;
  Tensor no_bias_;
  int64_t kernel_, stride_;
};

inline std::unique_ptr<Conv2d> make_conv(int64_t cin, int64_t cout, int64_t k, Generator& gen,
                                         int64_t stride = 1) {
  ConvOptions o;
  o.stride = stride;
  return std::make_unique<Conv2d>(cin, cout, k, gen, o);
}

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t cin, int64_t cout, int64_t kernel, Generator& gen, int64_t stride = 1);
  Tensor forward(const Tensor& x) const { return conv_.forward_activated(x); }
  // forward(concat({a, b}, 1)), the concat not written (Conv2d::forward_activated_concat).
  Tensor forward_concat(const Tensor& a, const Tensor& b) const;

 private:
  Conv2d& conv_;  // "0" (the LReLU is index 1 of the reference's nn.Sequential)
};

// nn.Sequential of BasicBlocks: children "0", "1", ...
class BasicBlocks : public ModuleList<BasicBlock> {
 public:
  Tensor forward(const Tensor& x) const;
  // forward(concat({a, b}, 1)), the first block taking the two inputs.
  Tensor forward_concat(const Tensor& a, const Tensor& b) const;
};

class ResBlock : public Module {
 public:
  ResBlock(int64_t n, Generator& gen);
  // x + conv2(LReLU(conv1(x))): no activation after the addition (res_scale 1).
  // `slope` < 1 applies a LeakyReLU after it (where the reference's next module
  // is one), in the same pass.
  Tensor forward(const Tensor& x, double slope = 1.0) const {
    return conv2_.forward_residual(conv1_.forward_activated(x), x, slope);
  }

 private:
  Conv2d& conv1_;
  Conv2d& conv2_;
};

class ResList : public Module {
 public:
  ResList(int64_t blocks, int64_t n, Generator& gen);
  Tensor forward(const Tensor& x) const;  // long skip: x + conv_tail(RBs(x))

 private:
  ModuleList<ResBlock>& blocks_;
  Conv2d& conv_tail_;
};

// Encoder_input of the reference: conv_head is a bare conv (its LReLU is a
// separate, parameter-free module), so the keys are conv_head.*, not conv_head.0.*.
class EncoderInput : public Module {
 public:
  EncoderInput(int64_t blocks, int64_t n, int64_t in_channels, Generator& gen);
  Tensor forward(const Tensor& x) const;

 private:
  Conv2d& conv_head_;
  ModuleList<ResBlock>& blocks_;
  Conv2d& conv_tail_;
};

}  // namespace dcsr::nn
