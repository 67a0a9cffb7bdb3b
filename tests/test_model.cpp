// The DCSR model: module tree (the 194 reference names and shapes, parameter
// counts of spec §12), forward shapes and input checks in both modes, the loss
// string, the VGG19 loss network, and small training runs (overfitting one
// pair, determinism). The end-to-end comparison with the PyTorch reference is
// in test_model_golden.cpp.
#include <map>

#include "dcsr/inference/metrics.h"
#include "dcsr/model/loss.h"
#include "dcsr/model/network.h"
#include "dcsr/model/vgg.h"
#include "nn/init.h"
#include "nn/optim.h"
#include "tensor/serialize.h"
#include "test_util.h"

using namespace dcsr;
using test::require_close;

namespace {

std::string golden(const std::string& name) { return std::string(DCSR_SOURCE_DIR) + "/tests/golden/" + name; }

// The reference state dict (spec §13.7), written out independently of the
// module code, in PyTorch's state_dict() order: name -> shape.
std::vector<std::pair<std::string, Shape>> expected_state(int64_t n) {
  std::vector<std::pair<std::string, Shape>> s;
  auto conv = [&](const std::string& name, int64_t cin, int64_t cout, int64_t k) {
    s.push_back({name + ".weight", {cout, cin, k, k}});
    s.push_back({name + ".bias", {cout}});
  };
  auto resblock = [&](const std::string& name, int64_t c) {
    conv(name + ".conv1", c, c, 3);
    conv(name + ".conv2", c, c, 3);
  };
  auto reslist = [&](const std::string& name, int nb, int64_t c) {
    for (int i = 0; i < nb; ++i) resblock(name + ".RBs." + std::to_string(i), c);
    conv(name + ".conv_tail", c, c, 3);
  };
  conv("feature_match.sub_mean", 3, 3, 1);
  conv("feature_match.feature_extract.0", 3, 64, 3);
  conv("feature_match.feature_extract.2", 64, 64, 3);
  conv("feature_match.feature_extract.5", 64, 128, 3);
  conv("feature_match.feature_extract.map.0", 128, 16, 1);
  conv("ref_encoder1.0.0", 3, n, 3);
  conv("ref_encoder1.1.0", n, n, 3);
  reslist("res1", 4, n);
  conv("ref_encoder2.0.0", n, n, 3);
  conv("ref_encoder2.1.0", n, n, 3);
  reslist("res2", 4, n);
  conv("input_encoder.conv_head", 3, n, 3);
  for (int i = 0; i < 8; ++i) resblock("input_encoder.RBs." + std::to_string(i), n);
  conv("input_encoder.conv_tail", n, n, 3);
  conv("fusion1.0.0", 2 * n, n, 5);
  conv("fusion1.1.0", n, n, 3);
  reslist("decoder1", 8, n);
  conv("fusion2.0.0", 2 * n, n, 5);
  conv("fusion2.1.0", n, n, 3);
  reslist("decoder2", 4, n);
  conv("decoder_tail.0", n, n / 2, 3);
  conv("decoder_tail.2", n / 2, 3, 3);
  for (const char* a : {"alpha1", "alpha2"}) {
    conv(std::string(a) + ".0.0", 1, 16, 7);
    conv(std::string(a) + ".1.0", 16, n, 3);
  }
  conv("alpha3.0.0", 4, 32, 7);
  conv("alpha3.1.0", 32, 3, 3);
  for (const char* aa : {"aa1", "aa3"}) {
    const std::string p = std::string(aa) + ".align.";
    conv(p + "conv1.0", 3, 32, 5);
    resblock(p + "conv1.2", 32);
    conv(p + "p_conv.0", 64, 32, 5);
    resblock(p + "p_conv.2", 32);
    conv(p + "p_conv.4", 32, 3, 1);
  }
  return s;
}


Tensor image(const Shape& shape, uint64_t seed, DType dtype = kFloat32) {
  Generator gen(seed);
  return uniform(shape, gen, 0.0, 1.0, dtype);
}

// A smooth synthetic scene (sums of low-frequency sinusoids, values in
// about [0, 1]) of size h x w; `shift` moves it (the Ref of a pair).
Tensor scene(int64_t h, int64_t w, double shift, DType dtype = kFloat32) {
  std::vector<double> v(size_t(3 * h * w));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double yy = double(y) + shift, xx = double(x) + 0.5 * shift;
        v[size_t((c * h + y) * w + x)] = 0.5 + 0.2 * std::sin(0.3 * yy + 0.7 * double(c)) * std::cos(0.25 * xx) +
                                         0.15 * std::sin(0.9 * xx + 0.4 * yy + double(c)) +
                                         0.1 * std::cos(1.7 * yy - 0.6 * xx);
      }
  return from_vector(v, {1, 3, h, w}, dtype);
}

struct Pair {
  Tensor lr, ref, hr;
};
Pair synthetic_pair(int64_t h, int64_t w, DType dtype = kFloat32) {
  Pair p;
  p.hr = scene(2 * h, 2 * w, 0.0, dtype);
  p.ref = scene(2 * h, 2 * w, 3.0, dtype);
  p.lr = avg_pool2d(p.hr, 2);
  return p;
}

}  // namespace

// ---------------------------------------------------------------- structure

TEST_CASE("forward: DcsrNet has the 194 reference tensors and 3,193,384 parameters at n_feats 64", "[model]") {
  Generator gen(1);
  DcsrNet net(ModelConfig{64}, gen);
  NamedTensors params = net.named_parameters();
  auto expected = expected_state(64);
  REQUIRE(params.size() == 194);
  REQUIRE(expected.size() == 194);
  for (size_t i = 0; i < params.size(); ++i) {
    INFO("tensor " << i);
    CHECK(params[i].first == expected[i].first);
    CHECK(params[i].second.shape() == expected[i].second);
  }
  CHECK(net.num_parameters() == 3193384);
  CHECK(net.num_parameters(true) == 3193372);
  CHECK(net.parameters(true).size() == 192);
  CHECK_FALSE(net.is_trainable("feature_match.sub_mean.weight"));
  CHECK_FALSE(net.is_trainable("feature_match.sub_mean.bias"));
  CHECK(net.is_trainable("feature_match.feature_extract.0.weight"));  // VGG-initialised but trained (§3.1)

  // Per-block counts of spec §12.
  std::map<std::string, int64_t> per_block;
  for (const auto& [name, t] : params) per_block[name.substr(0, name.find('.'))] += t.numel();
  const std::map<std::string, int64_t> spec = {
      {"feature_match", 114640 + 12}, {"ref_encoder1", 38720}, {"res1", 332352},   {"ref_encoder2", 73856},
      {"res2", 332352},               {"input_encoder", 629568}, {"fusion1", 241792}, {"decoder1", 627776},
      {"fusion2", 241792},            {"decoder2", 332352},    {"decoder_tail", 19331}, {"alpha1", 10080},
      {"alpha2", 10080},              {"alpha3", 7171},        {"aa1", 90755},      {"aa3", 90755}};
  CHECK(per_block == spec);
}

TEST_CASE("forward: parameter counts at n_feats 32 and 8", "[model]") {
  Generator gen(2);
  DcsrNet n32(ModelConfig{32}, gen);
  CHECK(n32.num_parameters() == 1033896);
  CHECK(n32.named_parameters().size() == 194);
  DcsrNet n8(ModelConfig{8}, gen);
  CHECK(n8.num_parameters() == 353064);  // tests/reference/README.md, model_tiny.bin
  auto expected = expected_state(8);
  NamedTensors params = n8.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) CHECK(params[i].second.shape() == expected[i].second);
  Generator g3(3);
  CHECK_THROWS_WITH(DcsrNet(ModelConfig{7}, g3), Catch::Contains("n_feats must be even"));
}

TEST_CASE("forward: MeanShift is diag(1/std) and -mean/std, fixed", "[model]") {
  Generator gen(4);
  DcsrNet net(ModelConfig{8}, gen);
  std::vector<float> w = net.parameter("feature_match.sub_mean.weight").to_vector<float>();
  std::vector<float> b = net.parameter("feature_match.sub_mean.bias").to_vector<float>();
  const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
  for (int o = 0; o < 3; ++o) {
    for (int i = 0; i < 3; ++i) CHECK(w[size_t(o * 3 + i)] == (o == i ? float(1.0 / std[o]) : 0.0f));
    CHECK(b[size_t(o)] == float(-mean[o] / std[o]));
  }
}

TEST_CASE("forward: model config JSON and modes", "[model]") {
  ModelConfig c = ModelConfig::from_json({{"model", "dcsr"}, {"n_feats", 32}});
  CHECK(c.n_feats == 32);
  CHECK(c.to_json() == nlohmann::json({{"model", "dcsr"}, {"n_feats", 32}}));
  CHECK(ModelConfig::from_json(nlohmann::json::object()).n_feats == 64);
  CHECK_THROWS_WITH(ModelConfig::from_json({{"model", "vgg19"}}), Catch::Contains("expected \"dcsr\""));
  CHECK_THROWS_WITH(ModelConfig::from_json({{"n_feats", "64"}}), Catch::Contains("n_feats must be an integer"));
  CHECK(mode_from_name("8k") == Mode::K8);
  CHECK(std::string(mode_name(Mode::K4)) == "4k");
  CHECK_THROWS_WITH(mode_from_name("2k"), Catch::Contains("unknown mode '2k'"));
}

TEST_CASE("forward: init_matching_from_vgg copies features.{0,2,5}", "[model]") {
  auto vgg = Vgg19Features::seeded(77, kFloat32);
  Checkpoint ck;
  ck.tensors = module_state(*vgg);
  Generator gen(5);
  DcsrNet net(ModelConfig{8}, gen);
  const std::vector<float> map_before = net.parameter("feature_match.feature_extract.map.0.weight").to_vector<float>();
  net.init_matching_from_vgg(ck);
  for (const char* i : {"0", "2", "5"})
    for (const char* f : {".weight", ".bias"})
      CHECK(net.parameter(std::string("feature_match.feature_extract.") + i + f).to_vector<float>() ==
            ck.at(std::string("features.") + i + f).to_vector<float>());
  CHECK(net.parameter("feature_match.feature_extract.map.0.weight").to_vector<float>() == map_before);
  Checkpoint partial;
  partial.tensors.assign(ck.tensors.begin(), ck.tensors.begin() + 4);
  CHECK_THROWS_WITH(net.init_matching_from_vgg(partial), Catch::Contains("has no tensor 'features.5.weight'"));
}

// ---------------------------------------------------------------- loss configuration

TEST_CASE("forward: loss strings of the reference scripts", "[model][loss]") {
  auto basic = parse_loss_spec("1*L1+0.05*CX_ref+0.01*CX_hr");
  REQUIRE(basic.size() == 3);
  CHECK(basic[0].type == "L1");
  CHECK(basic[1].weight == 0.05);
  CHECK(basic[1].type == "CX_ref");
  CHECK(basic[2].weight == 0.01);
  CHECK(basic[2].type == "CX_hr");
  auto sra = parse_loss_spec("1*L1 + 0.1*contextual_ref");
  REQUIRE(sra.size() == 2);
  CHECK(sra[1].type == "CX_ref");
  CHECK(sra[1].weight == 0.1);
  auto l1 = parse_loss_spec("1*L1");
  REQUIRE(l1.size() == 1);
  CHECK(parse_loss_spec("2e-2*mse")[0].weight == 0.02);
  CHECK(parse_loss_spec("1*Contextual_HR")[0].type == "CX_hr");
}

TEST_CASE("errors: loss strings and feature spaces", "[model][loss]") {
  CHECK_THROWS_WITH(parse_loss_spec("1*L1+0.05*GAN"), Catch::Contains("unknown loss type 'GAN'"));
  CHECK_THROWS_WITH(parse_loss_spec("L1"), Catch::Contains("bad term 'L1'"));
  CHECK_THROWS_WITH(parse_loss_spec("1*L1+"), Catch::Contains("bad term ''"));
  CHECK_THROWS_WITH(parse_loss_spec("  "), Catch::Contains("empty loss string"));
  CHECK_THROWS_WITH(DcsrLoss("1*L1", "lpips"), Catch::Contains("unknown feature space 'lpips'"));
  CHECK_THROWS_WITH(DcsrLoss("1*L1+0.1*CX_ref", "vgg"), Catch::Contains("needs a VGG19 checkpoint"));
  CHECK_NOTHROW(DcsrLoss("1*L1", "vgg"));  // no CX term: no network needed
}

// ---------------------------------------------------------------- VGG19 loss network

TEST_CASE("golden: seeded VGG19 weights match the reference", "[model][golden]") {
  auto g = load_tensors(golden("seeded.bin"));
  auto vgg = Vgg19Features::seeded(1234);
  CHECK(vgg->named_parameters().size() == 16);
  CHECK(vgg->num_parameters(true) == 0);  // frozen
  for (int idx : Vgg19Features::kConvIndex) {
    const std::string p = "features." + std::to_string(idx);
    std::vector<double> w = vgg->parameter(p + ".weight").to_vector<double>();
    std::vector<double> b = vgg->parameter(p + ".bias").to_vector<double>();
    CHECK(std::vector<double>(w.begin(), w.begin() + 8) == g.at("vgg1234." + p + ".weight.head").to_vector<double>());
    CHECK(std::vector<double>(b.begin(), b.begin() + 8) == g.at("vgg1234." + p + ".bias.head").to_vector<double>());
    const double sum = std::accumulate(w.begin(), w.end(), 0.0);
    const double expect = g.at("vgg1234." + p + ".weight.sum").item();
    CHECK(std::abs(sum - expect) <= 1e-12 * double(w.size()));  // summation order differs from numpy's
  }
}

TEST_CASE("golden: blurred L1 (same size and SRA size mismatch), patch4 and VGG19 features", "[model][loss][golden]") {
  auto g = load_tensors(golden("losses.bin"));
  {
    Tensor sr = g.at("bl1_same.sr").clone().requires_grad_();
    Tensor target = g.at("bl1_same.target").clone().requires_grad_();
    Tensor loss = blurred_l1(sr, target);
    require_close(loss.reshape({1}), g.at("bl1_same.loss"), 1e-12, 1e-10);
    (loss * g.at("bl1_same.gy").item()).backward();
    require_close(sr.grad(), g.at("bl1_same.dsr"), 1e-12, 1e-10);
    require_close(target.grad(), g.at("bl1_same.dtarget"), 1e-12, 1e-10);
  }
  {
    Tensor sr = g.at("bl1_sra.sr").clone().requires_grad_();
    Tensor loss = blurred_l1(sr, g.at("bl1_sra.target"));
    require_close(loss.reshape({1}), g.at("bl1_sra.loss"), 1e-12, 1e-10);
    (loss * g.at("bl1_sra.gy").item()).backward();
    require_close(sr.grad(), g.at("bl1_sra.dsr"), 1e-12, 1e-10);
    CHECK_THROWS_WITH(blurred_l1(g.at("bl1_sra.sr"), g.at("bl1_same.target")),
                      Catch::Contains("does not match the target"));
  }
  {
    Tensor x = g.at("patch4.x").clone().requires_grad_();
    Tensor y = patch4_features(x);
    require_close(y, g.at("patch4.y"));
    y.backward(g.at("patch4.gy"));
    require_close(x.grad(), g.at("patch4.dx"));
  }
  {
    auto vgg = Vgg19Features::seeded(1234);
    Tensor x = g.at("vgg.x").clone().requires_grad_();
    Tensor y = vgg->forward(x);
    require_close(y, g.at("vgg.y"), 1e-12, 1e-10);
    y.backward(g.at("vgg.gy"));
    require_close(x.grad(), g.at("vgg.dx"), 1e-12, 1e-10);
    CHECK_THROWS_WITH(vgg->forward(g.at("vgg.x").to(kFloat32)), Catch::Contains("input is float32"));
  }
}

TEST_CASE("patch4s2 features: every 4x4 patch at stride 2, stride 4's patches among them", "[model][loss]") {
  Tensor x = image({2, 3, 10, 9}, 11, kFloat64);
  Tensor s2 = patch4_features(x, 2), s4 = patch4_features(x, 4);
  REQUIRE(s2.shape() == Shape{2, 48, 4, 3});  // (10-4)/2+1, (9-4)/2+1
  REQUIRE(s4.shape() == Shape{2, 48, 2, 2});
  auto at = [](const Tensor& t, int64_t n, int64_t ch, int64_t i, int64_t j) {
    return t.to_vector<double>()[((n * t.size(1) + ch) * t.size(2) + i) * t.size(3) + j];
  };
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t ky = 0; ky < 4; ++ky)
        for (int64_t kx = 0; kx < 4; ++kx)
          for (int64_t i = 0; i < 4; ++i)
            for (int64_t j = 0; j < 3; ++j) {
              const int64_t ch = c * 16 + ky * 4 + kx;
              CHECK(at(s2, n, ch, i, j) == at(x, n, c, 2 * i + ky, 2 * j + kx));
              if (i % 2 == 0 && j % 2 == 0 && i / 2 < 2 && j / 2 < 2) CHECK(at(s4, n, ch, i / 2, j / 2) == at(s2, n, ch, i, j));
            }
  // The features and a CX term on them are differentiable (float64, a random upstream gradient).
  Tensor leaf = test::leaf({1, 3, 9, 8}, 12, 0.0, 1.0);
  test::require_gradcheck([](const TensorList& in) { return TensorList{patch4_features(in[0], 2)}; }, {leaf});
  Tensor ref = image({1, 3, 8, 8}, 13, kFloat64);
  DcsrLoss loss("1*CX_ref", "patch4s2");
  test::require_gradcheck([&](const TensorList& in) { return TensorList{loss(in[0], Tensor(), ref).total}; }, {leaf});
  CHECK_THROWS_WITH(patch4_features(x, 3), Catch::Contains("stride 3"));
  CHECK_THROWS_WITH(patch4_features(image({1, 3, 3, 8}, 1, kFloat64), 2), Catch::Contains("smaller than one 4x4 patch"));
  CHECK_THROWS_WITH(DcsrLoss("1*CX_ref", "patch8"), Catch::Contains("known: patch4, patch4s2, vgg"));
}

TEST_CASE("gradcheck: blurred L1 in the SRA case and the loss total", "[model][loss][grad]") {
  Tensor sr = test::leaf({1, 3, 8, 6}, 5, 0.0, 1.0);
  Tensor target = image({1, 3, 4, 3}, 6, kFloat64);
  // |blur(SR) - blur(target)| has kinks at equality: random data stays away from them.
  test::require_gradcheck([&](const TensorList& in) { return TensorList{blurred_l1(in[0], target)}; }, {sr});
  DcsrLoss loss("0.5*L1+2*MSE", "patch4");
  Tensor hr = image({1, 3, 8, 6}, 7, kFloat64);
  test::require_gradcheck([&](const TensorList& in) { return TensorList{loss(in[0], hr, Tensor()).total}; }, {sr});
  LossTerms t = loss(sr, hr, Tensor());
  REQUIRE(t.parts.size() == 2);
  CHECK(t.parts[1].first == "MSE");
  CHECK(t.total.item() == Approx(0.5 * t.parts[0].second + 2 * t.parts[1].second).epsilon(1e-14));
  CHECK_THROWS_WITH(DcsrLoss("1*CX_ref")(sr, hr, Tensor()), Catch::Contains("CX_ref needs the Ref image"));
}

// ---------------------------------------------------------------- forward

TEST_CASE("forward: output shapes in 4K and 8K mode", "[model]") {
  Generator gen(8);
  DcsrNet net(ModelConfig{8}, gen);
  NoGradGuard no_grad;
  Tensor lr = image({2, 3, 12, 16}, 1), ref = image({2, 3, 24, 32}, 2);
  DcsrNet::Output o4 = net.forward(lr, ref, Mode::K4);
  CHECK(o4.sr.shape() == Shape{2, 3, 24, 32});
  CHECK(o4.confidence.shape() == Shape{2, 1, 12, 16});
  CHECK(o4.index.shape() == Shape{2, 192});
  CHECK(o4.warped_ref_hf.shape() == Shape{2, 3, 24, 32});
  CHECK(o4.aa1_params.shape() == Shape{2, 3, 12, 16});
  std::vector<int64_t> idx = o4.index.to_vector<int64_t>();
  CHECK(*std::min_element(idx.begin(), idx.end()) >= 0);
  CHECK(*std::max_element(idx.begin(), idx.end()) < 12 * 16);  // the Ref/2 key grid
  std::vector<float> conf = o4.confidence.to_vector<float>();
  CHECK(*std::max_element(conf.begin(), conf.end()) <= 1.0f + 1e-5f);

  DcsrNet::Output o8 = net.forward(lr, ref, Mode::K8);
  CHECK(o8.sr.shape() == Shape{2, 3, 24, 32});
  CHECK(o8.confidence.shape() == Shape{2, 1, 6, 8});
  CHECK(o8.index.shape() == Shape{2, 48});
  idx = o8.index.to_vector<int64_t>();
  CHECK(*std::max_element(idx.begin(), idx.end()) < 6 * 8);  // the Ref/4 key grid

  // Each batch entry is computed independently of the others.
  DcsrNet::Output one = net.forward(narrow(lr, 0, 1, 1), narrow(ref, 0, 1, 1), Mode::K4);
  require_close(one.sr, narrow(o4.sr, 0, 1, 1).to_vector<double>(), 1e-5, 1e-5);
  CHECK(one.index.to_vector<int64_t>() == narrow(o4.index, 0, 1, 1).to_vector<int64_t>());
}

TEST_CASE("forward: with an SR margin, the centre is the full forward's", "[model]") {
  // Tiled inference keeps only the centre of each SR tile (kTileDrop = 40 px
  // a side dropped), and forward(..., sr_margin) runs the SR-resolution layers
  // only on the frames that centre depends on (network.cpp's SrFrames). The
  // frames' edges pad where the full tile has values; were a frame too small,
  // that error would reach the centre as differences of the size of the values
  // (0.1 and more here). Within the frames only the roundings differ (Winograd
  // tiles sum their whole input window). The aligners' offsets reach farthest
  // at their clamped scales (3, -3) and 45 degrees: the second case.
  Generator gen(21);
  DcsrNet net(ModelConfig{8}, gen);
  net.to(kFloat64);
  NoGradGuard no_grad;
  const Tensor lr = image({2, 3, 64, 72}, 3, kFloat64), ref = image({2, 3, 128, 144}, 4, kFloat64);
  for (bool clamped : {false, true}) {
    if (clamped)
      for (const char* aligner : {"aa1", "aa3"}) {
        const std::string p = std::string(aligner) + ".align.p_conv.4.";
        net.copy_into_parameter(p + "weight", zeros(net.parameter(p + "weight").shape()));
        net.copy_into_parameter(p + "bias", from_vector<double>({2.5, -4.5, 0.75}, {3}));
      }
    for (Mode mode : {Mode::K4, Mode::K8}) {
      const DcsrNet::Output full = net.forward(lr, ref, mode);
      for (int64_t margin : {int64_t(40), int64_t(24), int64_t(0)}) {
        INFO("aligners " << (clamped ? "at their clamps" : "as initialised") << ", " << mode_name(mode)
                         << " mode, margin " << margin);
        const DcsrNet::Output part = net.forward(lr, ref, mode, margin);
        const Shape centre{2, 3, 128 - 2 * margin, 144 - 2 * margin};
        REQUIRE(part.sr.shape() == centre);
        REQUIRE(part.warped_ref_hf.shape() == centre);
        CHECK(test::count_bit_differences(part.confidence, full.confidence) == 0);
        CHECK(part.index.to_vector<int64_t>() == full.index.to_vector<int64_t>());
        const Region centre_region{margin, margin, centre[2], centre[3]};
        if (margin == 0) {  // nothing trimmed: the same computation
          CHECK(test::count_bit_differences(part.sr, full.sr) == 0);
          continue;
        }
        require_close(part.sr, crop(full.sr, centre_region), 1e-13, 0, "sr");
        require_close(part.warped_ref_hf, crop(full.warped_ref_hf, centre_region), 1e-13, 0, "hf");
      }
    }
  }
  CHECK_THROWS_WITH(net.forward(lr, ref, Mode::K4, 64), Catch::Contains("an SR margin of 64 px leaves nothing"));
  CHECK_THROWS_WITH(net.forward(lr, ref, Mode::K4, -2), Catch::Contains("an SR margin of -2 px"));
}

TEST_CASE("cuda: with an SR margin, the centre is the full forward's on the GPU", "[model][cuda]") {
  // The frames on the GPU's kernels, whose plans see the frames' sizes (the
  // float64 test above proves the derivation on the CPU): float32, so within
  // its rounding; a frame too small puts errors of 0.1 and more in the centre.
  DCSR_SKIP_WITHOUT_GPU();
  Generator gen(21);
  DcsrNet net(ModelConfig{8}, gen);
  for (const char* aligner : {"aa1", "aa3"}) {  // at their clamps: the farthest reach
    const std::string p = std::string(aligner) + ".align.p_conv.4.";
    net.copy_into_parameter(p + "weight", zeros(net.parameter(p + "weight").shape()));
    net.copy_into_parameter(p + "bias", from_vector<float>({2.5f, -4.5f, 0.75f}, {3}));
  }
  net.to(kCUDA);
  NoGradGuard no_grad;
  const Tensor lr = image({2, 3, 64, 72}, 3).to(kCUDA), ref = image({2, 3, 128, 144}, 4).to(kCUDA);
  for (Mode mode : {Mode::K4, Mode::K8}) {
    INFO(mode_name(mode) << " mode");
    const DcsrNet::Output full = net.forward(lr, ref, mode), part = net.forward(lr, ref, mode, 40);
    CHECK(part.index.to(kCPU).to_vector<int64_t>() == full.index.to(kCPU).to_vector<int64_t>());
    const Region centre{40, 40, 128 - 80, 144 - 80};
    require_close(part.sr.to(kCPU), crop(full.sr.to(kCPU), centre), 1e-4, 1e-4, "sr");
    require_close(part.warped_ref_hf.to(kCPU), crop(full.warped_ref_hf.to(kCPU), centre), 1e-4, 1e-4, "hf");
  }
}

TEST_CASE("errors: input sizes the reference cannot handle", "[model]") {
  Generator gen(9);
  DcsrNet net(ModelConfig{8}, gen);
  NoGradGuard no_grad;
  Tensor ref = image({1, 3, 24, 32}, 2);
  CHECK_THROWS_WITH(net.forward(image({1, 3, 13, 16}, 1), ref, Mode::K4), Catch::Contains("LR size 13x16 must be even"));
  CHECK_THROWS_WITH(net.forward(image({1, 3, 12, 16}, 1), image({1, 3, 26, 32}, 2), Mode::K8),
                    Catch::Contains("Ref size 26x32 must be a multiple of 4 in 8k mode"));
  CHECK_THROWS_WITH(net.forward(image({1, 3, 12, 16}, 1), image({1, 3, 23, 32}, 2), Mode::K4),
                    Catch::Contains("must be a multiple of 2 in 4k mode"));
  CHECK_THROWS_WITH(net.forward(image({1, 3, 12, 16}, 1, kFloat64), ref, Mode::K4), Catch::Contains("inputs are float64"));
  CHECK_THROWS_WITH(net.forward(image({1, 4, 12, 16}, 1), ref, Mode::K4), Catch::Contains("lr must be (N, 3, h, w)"));
  CHECK_THROWS_WITH(net.forward(image({1, 3, 12, 16}, 1), image({2, 3, 24, 32}, 2), Mode::K4),
                    Catch::Contains("ref must be (N, 3, Hr, Wr) with N = 1"));
}

// ---------------------------------------------------------------- training

namespace {
// Losses of `steps` Adam steps on one pair.
std::vector<double> train(DcsrNet& net, const Pair& pair, const DcsrLoss& loss, int steps, double lr, Mode mode) {
  nn::Adam adam(net.parameters(true), lr);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    adam.zero_grad();
    LossTerms t = loss(net.forward(pair.lr, pair.ref, mode).sr, pair.hr, pair.ref);
    losses.push_back(t.total.item());
    t.total.backward();
    adam.step();
  }
  return losses;
}
}  // namespace

TEST_CASE("forward: training is deterministic (same seed, same losses bit for bit)", "[model][train]") {
  Pair pair = synthetic_pair(16, 16);
  DcsrLoss loss("1*L1+0.05*CX_ref+0.01*CX_hr", "patch4");
  std::vector<double> runs[2];
  for (auto& r : runs) {
    Generator gen(42);
    DcsrNet net(ModelConfig{8}, gen);
    r = train(net, pair, loss, 3, 1e-3, Mode::K4);
  }
  CHECK(runs[0] == runs[1]);
  CHECK(runs[0][2] != runs[0][0]);  // the steps did change the model
}

TEST_CASE("forward: a tiny DCSR overfits one pair (L1 falls at least 10x)", "[model][train][slow]") {
  Pair pair = synthetic_pair(16, 16);
  Generator gen(3);
  DcsrNet net(ModelConfig{8}, gen);
  DcsrLoss loss("1*L1", "patch4");
  std::vector<double> losses = train(net, pair, loss, 200, 1e-3, Mode::K4);
  const double first = losses.front();
  const double last = *std::min_element(losses.end() - 10, losses.end());
  WARN("L1 " << first << " -> " << last << " after " << losses.size() << " steps (" << first / last << "x)");
  CHECK(last * 10 <= first);
}
