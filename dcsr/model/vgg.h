// The loss network of DCSR's contextual terms (dcsr-spec §9.2): torchvision
// VGG19 `features[0..17]`, i.e. conv1_1 ... relu3_4 (8 convs 3x3 pad 1 with
// ReLU, max pools after conv1_2 and conv2_2), frozen, applied to the
// ImageNet-normalised image. Parameter names are torchvision's
// ("features.0.weight" ... "features.16.bias"), the names kept by
// tools/convert_weights.py vgg19.
#pragma once
#include <cstdint>
#include <memory>

#include "nn/checkpoint.h"
#include "nn/layers.h"

namespace dcsr {

class Vgg19Features : public nn::Module {
 public:
  // Frozen layers with placeholder (default-init) values: load real weights
  // with load_parameters_strict or use the factories below.
  Vgg19Features();

  // From a converted torchvision checkpoint (strict: exactly the 16 tensors).
  static std::unique_ptr<Vgg19Features> from_checkpoint(const Checkpoint& vgg19);
  // The seeded weights of tests/reference/README.md ("Seeded VGG19"): conv i
  // (conv1_1 ... conv3_4) weight = seeded_uniform(seed, 2i, bound sqrt(6 /
  // (9 Cin))), bias = seeded_uniform(seed, 2i + 1, bound 0.01); float64 values
  // converted to `dtype`. For tests without a weight file.
  static std::unique_ptr<Vgg19Features> seeded(uint64_t seed = 1234, DType dtype = kFloat64);

  // x: (N, 3, H, W) RGB in [0, 1] -> relu3_4 features (N, 256, H/4, W/4).
  // Normalises with (x - mean) / std in x's dtype first (plain arithmetic).
  Tensor forward(const Tensor& x) const;

  // torchvision indices of the 8 convs in `features`.
  static constexpr int kConvIndex[8] = {0, 2, 5, 7, 10, 12, 14, 16};

 private:
  nn::Conv2d* convs_[8];
};

}  // namespace dcsr
