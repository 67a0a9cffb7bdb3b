#include "dcsr/model/vgg.h"

#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/init.h"

namespace dcsr {

namespace {
const int64_t kChannels[8][2] = {{3, 64},    {64, 64},   {64, 128},  {128, 128},
                                 {128, 256}, {256, 256}, {256, 256}, {256, 256}};
}  // namespace

constexpr int Vgg19Features::kConvIndex[8];

Vgg19Features::Vgg19Features() {
  auto& features = register_module("features", std::make_unique<nn::Container>());
  Generator placeholder(0);  // values are overwritten by the factories
  nn::ConvOptions frozen;
  frozen.trainable = false;
  for (int i = 0; i < 8; ++i)
    convs_[i] = &features.add(std::to_string(kConvIndex[i]),
                              std::make_unique<nn::Conv2d>(kChannels[i][0], kChannels[i][1], 3, placeholder, frozen));
}

std::unique_ptr<Vgg19Features> Vgg19Features::from_checkpoint(const Checkpoint& vgg19) {
  auto vgg = std::make_unique<Vgg19Features>();
  load_parameters_strict(*vgg, vgg19);
  return vgg;
}

std::unique_ptr<Vgg19Features> Vgg19Features::seeded(uint64_t seed, DType dtype) {
  auto vgg = std::make_unique<Vgg19Features>();
  vgg->to(dtype);
  for (int i = 0; i < 8; ++i) {
    const std::string prefix = "features." + std::to_string(kConvIndex[i]);
    const int64_t cin = kChannels[i][0], cout = kChannels[i][1];
    // He-uniform bound keeps the activations alive through 8 ReLU layers.
    vgg->copy_into_parameter(prefix + ".weight",
                             nn::seeded_uniform(seed, uint64_t(2 * i), {cout, cin, 3, 3}, std::sqrt(6.0 / double(cin * 9))));
    vgg->copy_into_parameter(prefix + ".bias", nn::seeded_uniform(seed, uint64_t(2 * i + 1), {cout}, 0.01));
  }
  return vgg;
}

Tensor Vgg19Features::forward(const Tensor& x) const {
  DCSR_CHECK(x.dim() == 4 && x.size(1) == 3, "Vgg19Features: input must be (N, 3, H, W), got ", shape_str(x.shape()));
  DCSR_CHECK(x.dtype() == dtype() && x.device() == device(), "Vgg19Features: input is ", dtype_name(x.dtype()), " on ",
             device_name(x.device()), ", the weights ", dtype_name(dtype()), " on ", device_name(device()));
  const Tensor mean = from_vector(std::vector<double>{0.485, 0.456, 0.406}, {1, 3, 1, 1}, x.dtype(), x.device());
  const Tensor std = from_vector(std::vector<double>{0.229, 0.224, 0.225}, {1, 3, 1, 1}, x.dtype(), x.device());
  Tensor y = (x - mean) / std;
  for (int i = 0; i < 8; ++i) {
    y = convs_[i]->forward_activated(y, 0.0);  // ReLU (slope 0)
    if (i == 1 || i == 3) y = max_pool2d(y, 2);  // features.4 and features.9
  }
  return y;
}

}  // namespace dcsr
