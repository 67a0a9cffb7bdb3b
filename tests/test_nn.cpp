// nn/: modules and parameter names, default initialisation, seeded weights,
// checkpoints (round trip and every strict-loading / corrupt-file error),
// Adam (against a hand-computed update, exact resume) and MultiStepLR.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "nn/checkpoint.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "tensor/serialize.h"
#include "test_files.h"
#include "test_util.h"

using namespace dcsr;
using test::require_close;

namespace {

std::string golden(const std::string& name) { return std::string(DCSR_SOURCE_DIR) + "/tests/golden/" + name; }

std::vector<std::string> names_of(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(name);
  return out;
}

// A small module tree with a fixed (non-trainable) layer, for checkpoint tests.
class Toy : public nn::Module {
 public:
  explicit Toy(Generator& gen, int64_t width = 4) {
    nn::ConvOptions fixed;
    fixed.trainable = false;
    norm_ = &register_module("norm", std::make_unique<nn::Conv2d>(3, 3, 1, gen, fixed));
    body_ = &register_module("body", std::make_unique<nn::ResList>(2, width, gen));
    head_ = &register_module("head", nn::make_conv(3, width, 3, gen));
  }
  nn::Conv2d* norm_;
  nn::ResList* body_;
  nn::Conv2d* head_;
};

// Checkpoint files go to a scratch folder of their own (the build folder may
// be named anything, and the source tree may be read-only).
std::string temp_path(const std::string& name) {
  static const test::TempDir scratch("nn");
  return scratch / name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

}  // namespace

// ---------------------------------------------------------------- modules

TEST_CASE("forward: module tree names follow the reference state dict", "[nn]") {
  Generator gen(1);
  nn::ResList rl(2, 4, gen);
  CHECK(names_of(rl) == std::vector<std::string>{"RBs.0.conv1.weight", "RBs.0.conv1.bias", "RBs.0.conv2.weight",
                                                 "RBs.0.conv2.bias", "RBs.1.conv1.weight", "RBs.1.conv1.bias",
                                                 "RBs.1.conv2.weight", "RBs.1.conv2.bias", "conv_tail.weight",
                                                 "conv_tail.bias"});
  nn::EncoderInput enc(1, 4, 3, gen);
  CHECK(names_of(enc) == std::vector<std::string>{"conv_head.weight", "conv_head.bias", "RBs.0.conv1.weight",
                                                  "RBs.0.conv1.bias", "RBs.0.conv2.weight", "RBs.0.conv2.bias",
                                                  "conv_tail.weight", "conv_tail.bias"});
  nn::BasicBlocks bb;
  bb.push_back(std::make_unique<nn::BasicBlock>(1, 16, 7, gen));
  bb.push_back(std::make_unique<nn::BasicBlock>(16, 8, 3, gen));
  CHECK(names_of(bb) == std::vector<std::string>{"0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias"});
  CHECK(bb.parameter("0.0.weight").shape() == Shape{16, 1, 7, 7});
  CHECK(bb.num_parameters() == 16 * 49 + 16 + 8 * 16 * 9 + 8);
  CHECK_THROWS_WITH(bb.parameter("0.1.weight"), Catch::Contains("no parameter named '0.1.weight'"));
}

TEST_CASE("forward: trainable flags, counts and dtype conversion", "[nn]") {
  Generator gen(2);
  Toy toy(gen);
  const int64_t conv44 = 4 * 4 * 9 + 4;
  CHECK(toy.num_parameters() == 12 + 5 * conv44 + (4 * 3 * 9 + 4));
  CHECK(toy.num_parameters(true) == 5 * conv44 + (4 * 3 * 9 + 4));
  CHECK(toy.parameters().size() == 14);
  CHECK(toy.parameters(true).size() == 12);
  CHECK_FALSE(toy.is_trainable("norm.weight"));
  CHECK_FALSE(toy.parameter("norm.weight").requires_grad());
  CHECK(toy.is_trainable("body.RBs.1.conv2.bias"));
  CHECK(toy.parameter("head.weight").requires_grad());
  CHECK(toy.dtype() == kFloat32);

  std::vector<double> before = toy.parameter("head.weight").to_vector<double>();
  toy.to(kFloat64);
  CHECK(toy.dtype() == kFloat64);
  for (const auto& [name, t] : toy.named_parameters()) {
    CHECK(t.dtype() == kFloat64);
    CHECK(t.requires_grad() == toy.is_trainable(name));
  }
  CHECK(toy.parameter("head.weight").to_vector<double>() == before);  // float32 -> float64 is exact
  CHECK_THROWS_WITH(toy.to(kInt64), Catch::Contains("parameters must be floating"));
  CHECK_THROWS_WITH(toy.copy_into_parameter("head.bias", zeros({5})),
                    Catch::Contains("parameter 'head.bias': shape (5) does not match the model's (4)"));
}

TEST_CASE("forward: to(CUDA) keeps names and values", "[nn][cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  Generator gen(3);
  Toy toy(gen);
  std::vector<float> before = toy.parameter("body.conv_tail.weight").to_vector<float>();
  toy.to(kCUDA);
  CHECK(toy.device() == kCUDA);
  CHECK(toy.parameter("body.conv_tail.weight").to_vector<float>() == before);
  CHECK(toy.parameter("body.conv_tail.weight").requires_grad());
  toy.to(kCPU);
  CHECK(toy.device() == kCPU);
}

// ---------------------------------------------------------------- initialisation

TEST_CASE("forward: Conv2d default init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias", "[nn]") {
  Generator gen(7);
  nn::Conv2d conv(64, 64, 3, gen);
  const double bound = 1.0 / std::sqrt(64.0 * 9.0);
  auto stats = [&](const Tensor& t, double& lo, double& hi, double& mean, double& var) {
    std::vector<double> v = t.to_vector<double>();
    lo = *std::min_element(v.begin(), v.end());
    hi = *std::max_element(v.begin(), v.end());
    mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
    var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    var /= double(v.size());
  };
  double lo, hi, mean, var;
  stats(conv.weight(), lo, hi, mean, var);
  CHECK(lo >= -bound);
  CHECK(hi < bound);
  CHECK(lo < -0.99 * bound);  // the whole range is used (36,864 draws)
  CHECK(hi > 0.99 * bound);
  // U(-b, b): mean 0 (sd of the estimate b/sqrt(3n) ~ 1.3e-4), variance b^2/3 (relative sd ~ 0.5%).
  CHECK(std::abs(mean) < 6e-4);
  CHECK(var == Approx(bound * bound / 3).epsilon(0.03));
  stats(conv.bias(), lo, hi, mean, var);
  CHECK(lo >= -bound);
  CHECK(hi < bound);

  // A 1x1 conv 128 -> 16 has fan_in 128; kernel size enters fan_in.
  nn::Conv2d c1(128, 16, 1, gen);
  std::vector<double> w = c1.weight().to_vector<double>();
  CHECK(*std::max_element(w.begin(), w.end()) < 1.0 / std::sqrt(128.0));
  CHECK(*std::max_element(w.begin(), w.end()) > 0.95 / std::sqrt(128.0));

  // Same seed, same values; another seed, other values.
  Generator g1(11), g2(11), g3(12);
  nn::Conv2d a(3, 8, 5, g1), b(3, 8, 5, g2), c(3, 8, 5, g3);
  CHECK(bit_equal(a.weight(), b.weight()));
  CHECK(bit_equal(a.bias(), b.bias()));
  CHECK_FALSE(bit_equal(a.weight(), c.weight()));
}

TEST_CASE("golden: splitmix64 and seeded_uniform match the reference bit for bit", "[nn][golden]") {
  auto g = load_tensors(golden("seeded.bin"));
  std::vector<int64_t> in = g.at("splitmix64.in").to_vector<int64_t>();
  std::vector<int64_t> out = g.at("splitmix64.out").to_vector<int64_t>();
  for (size_t i = 0; i < in.size(); ++i) CHECK(nn::splitmix64(uint64_t(in[i])) == uint64_t(out[i]));
  CHECK(bit_equal(nn::seeded_uniform(42, 7, {2, 5}, 1.0), g.at("u42_7")));
  CHECK(bit_equal(nn::seeded_uniform(0, 0, {6}, 0.25), g.at("u0_0")));
  Tensor f32 = nn::seeded_uniform(42, 7, {2, 5}, 1.0, kFloat32);
  CHECK(f32.dtype() == kFloat32);
  CHECK(f32.to_vector<float>()[3] == float(g.at("u42_7").to_vector<double>()[3]));
}

// ---------------------------------------------------------------- checkpoints

TEST_CASE("forward: checkpoint round trip is bit exact and keeps order, config and extra", "[nn][checkpoint]") {
  Generator gen(5);
  Checkpoint ck;
  ck.config = {{"model", "toy"}, {"n_feats", 4}};
  ck.extra = {{"epoch", 3}, {"note", "unicode \xce\xbb"}};
  ck.tensors = {{"b.float32", uniform({3, 5}, gen, -1, 1, kFloat32)},
                {"a.float64", uniform({2, 1, 7}, gen, -1, 1, kFloat64)},
                {"c.int64", from_vector(std::vector<int64_t>{-1, 0, 1LL << 40}, {3})},
                {"d.scalar", scalar_tensor(2.5, kFloat64)},
                {"e.empty", zeros({0, 4})}};
  const std::string path = temp_path("roundtrip.ckpt");
  save_checkpoint(path, ck);
  Checkpoint back = read_checkpoint(path);
  CHECK(back.config == ck.config);
  CHECK(back.extra == ck.extra);
  REQUIRE(back.tensors.size() == ck.tensors.size());
  for (size_t i = 0; i < ck.tensors.size(); ++i) {
    CHECK(back.tensors[i].first == ck.tensors[i].first);
    CHECK(bit_equal(back.tensors[i].second, ck.tensors[i].second));
  }

  // Layout of tools/convert_weights.py: magic, u64 header length, JSON,
  // zero padding to a 64-byte aligned data region, offsets multiples of 64.
  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.compare(0, 8, "DCSRCKPT") == 0);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  auto header = nlohmann::json::parse(bytes.substr(16, header_len));
  CHECK(header["format"] == "dcsr-checkpoint");
  CHECK(header["version"] == 1);
  const uint64_t data_start = (16 + header_len + 63) / 64 * 64;
  for (size_t i = 16 + header_len; i < data_start; ++i) CHECK(bytes[i] == 0);
  for (const auto& e : header["tensors"]) {
    CHECK(e["offset"].get<uint64_t>() % 64 == 0);
    CHECK(data_start + e["offset"].get<uint64_t>() + e["nbytes"].get<uint64_t>() <= bytes.size());
  }
  CHECK(header["tensors"][0]["dtype"] == "float32");
  CHECK(header["tensors"][0]["shape"] == nlohmann::json::array({3, 5}));
  CHECK(header["tensors"][3]["shape"] == nlohmann::json::array());
  // Written atomically: no temporary file is left next to it.
  std::ifstream leftover(path + ".tmp");
  CHECK_FALSE(leftover.good());
  std::remove(path.c_str());
}

TEST_CASE("forward: module parameters survive save + strict load, float32 into float64", "[nn][checkpoint]") {
  Generator g1(21), g2(22);
  Toy saved(g1), loaded(g2);
  Checkpoint ck;
  ck.tensors = module_state(saved);
  const std::string path = temp_path("module.ckpt");
  save_checkpoint(path, ck);
  loaded.to(kFloat64);
  Tensor handle = loaded.parameter("head.weight");  // identity must survive loading (optimisers hold it)
  load_parameters_strict(loaded, read_checkpoint(path));
  CHECK(handle.same(loaded.parameter("head.weight")));
  for (const auto& [name, t] : saved.named_parameters()) {
    CHECK(loaded.parameter(name).dtype() == kFloat64);
    CHECK(bit_equal(loaded.parameter(name).to(kFloat32), t.detach()));
  }

  // With a prefix (a training checkpoint stores "model.*" next to optimiser state).
  Checkpoint prefixed;
  for (const auto& [name, t] : module_state(saved)) prefixed.tensors.emplace_back("model." + name, t);
  prefixed.tensors.emplace_back("adam.step", from_vector(std::vector<int64_t>{1}, {1}));
  Generator g3(23);
  Toy third(g3);
  load_parameters_strict(third, prefixed, "model.");
  CHECK(bit_equal(third.parameter("body.RBs.0.conv1.weight"), saved.parameter("body.RBs.0.conv1.weight").detach()));
  std::remove(path.c_str());
}

TEST_CASE("errors: strict loading names missing, unexpected and mis-shaped tensors", "[nn][checkpoint]") {
  Generator gen(31);
  Toy toy(gen);
  Checkpoint good;
  good.tensors = module_state(toy);
  const std::vector<double> head_before = toy.parameter("head.weight").to_vector<double>();

  Checkpoint missing = good;
  missing.tensors.erase(missing.tensors.begin() + 3);  // body.RBs.0.conv1.bias
  CHECK_THROWS_WITH(load_parameters_strict(toy, missing), Catch::Contains("1 missing (body.RBs.0.conv1.bias)"));

  Checkpoint extra = good;
  extra.tensors.emplace_back("body.RBs.2.conv1.weight", zeros({4, 4, 3, 3}));
  CHECK_THROWS_WITH(load_parameters_strict(toy, extra), Catch::Contains("1 unexpected (body.RBs.2.conv1.weight)"));

  Generator g2(32);
  Toy wider(g2, 6);
  Checkpoint wrong;
  wrong.tensors = module_state(wider);
  try {
    load_parameters_strict(toy, wrong);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    // One line: the count and the first three (of 12) with both shapes.
    CHECK_THAT(msg, Catch::Contains("12 with the wrong shape (e.g. "));
    CHECK_THAT(msg, Catch::Contains(" (checkpoint (6, ") && Catch::Contains(", model (4, "));
    CHECK(msg.find('\n') == std::string::npos);
  }
  // All three kinds in one message.
  Checkpoint all = missing;
  all.tensors.emplace_back("stray", zeros({1}));
  all.tensors.back().second = zeros({1});
  for (auto& [name, t] : all.tensors)
    if (name == "head.bias") t = zeros({5});
  try {
    load_parameters_strict(toy, all);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("1 missing (body.RBs.0.conv1.bias)"));
    CHECK_THAT(msg, Catch::Contains("1 unexpected (stray)"));
    CHECK_THAT(msg, Catch::Contains("head.bias (checkpoint (5), model (4))"));
  }
  // A failed load changes nothing.
  CHECK(toy.parameter("head.weight").to_vector<double>() == head_before);

  Checkpoint ints = good;
  for (auto& [name, t] : ints.tensors)
    if (name == "head.bias") t = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {4});
  CHECK_THROWS_WITH(load_parameters_strict(toy, ints), Catch::Contains("not floating") && Catch::Contains("head.bias (int64)"));
}

TEST_CASE("errors: corrupt, truncated and missing checkpoint files name the file", "[nn][checkpoint]") {
  Checkpoint ck;
  ck.tensors = {{"w", ones({4, 4}, kFloat64)}, {"v", ones({3})}};
  const std::string path = temp_path("corrupt.ckpt");
  save_checkpoint(path, ck);
  const std::string bytes = read_bytes(path);

  CHECK_THROWS_WITH(read_checkpoint(temp_path("does_not_exist.ckpt")),
                    Catch::Contains("cannot open checkpoint") && Catch::Contains("does_not_exist.ckpt"));

  std::string bad_magic = bytes;
  bad_magic[3] = 'X';
  write_bytes(path, bad_magic);
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("bad magic"));

  write_bytes(path, bytes.substr(0, 12));
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("bad magic or shorter"));

  uint64_t header_len;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  write_bytes(path, bytes.substr(0, 16 + header_len / 2));
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("truncated"));

  write_bytes(path, bytes.substr(0, bytes.size() - 5));  // last tensor cut short
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("truncated") &&
                                               Catch::Contains("tensor 'v'"));

  std::string garbage = bytes;
  garbage[16] = '#';  // the JSON no longer parses
  write_bytes(path, garbage);
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("corrupt checkpoint header"));

  // A header that parses but lies about a tensor.
  auto header = nlohmann::json::parse(bytes.substr(16, header_len));
  header["tensors"][0]["nbytes"] = 8;
  std::string text = header.dump();
  std::string lying = "DCSRCKPT";
  uint64_t len = text.size();
  lying.append(reinterpret_cast<const char*>(&len), 8);
  lying += text;
  lying.resize((16 + len + 63) / 64 * 64, '\0');
  lying += std::string(256, '\0');
  write_bytes(path, lying);
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains(path) && Catch::Contains("nbytes 8 does not match"));

  header = nlohmann::json::parse(bytes.substr(16, header_len));
  header["version"] = 2;
  text = header.dump();
  std::string future = "DCSRCKPT";
  len = text.size();
  future.append(reinterpret_cast<const char*>(&len), 8);
  future += text;
  write_bytes(path, future);
  CHECK_THROWS_WITH(read_checkpoint(path), Catch::Contains("checkpoint version 2"));
  std::remove(path.c_str());
}

// ---------------------------------------------------------------- optimisers

TEST_CASE("forward: Adam matches a hand-computed two-step update", "[nn][optim]") {
  Tensor p = from_vector(std::vector<double>{1.0, -2.0, 0.5}, {3}).requires_grad_();
  nn::Adam adam({p}, 0.1, 0.9, 0.999, 1e-8);
  const double g[2][3] = {{0.5, -1.0, 0.0}, {0.1, 0.3, -2.0}};
  // By hand (torch.optim.Adam): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  // p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
  std::vector<double> expect = {1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
  for (int t = 1; t <= 2; ++t) {
    p.set_grad(from_vector(std::vector<double>(g[t - 1], g[t - 1] + 3), {3}));
    adam.step();
    for (int i = 0; i < 3; ++i) {
      m[i] = 0.9 * m[i] + 0.1 * g[t - 1][i];
      v[i] = 0.999 * v[i] + 0.001 * g[t - 1][i] * g[t - 1][i];
      expect[i] -= 0.1 / (1 - std::pow(0.9, t)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8);
    }
  }
  // The first step moves every parameter with a nonzero gradient by lr
  // (m/sqrt(v) = sign(g) after bias correction); values after two steps:
  require_close(p, expect, 1e-15, 1e-14);
  CHECK(adam.step_count() == 2);
  // First coordinate worked out on paper: step 1 moves by -0.1 exactly (up to eps);
  // step 2: m = 0.9*0.05 + 0.1*0.1 = 0.055, v = 0.999*0.00025 + 0.001*0.01 = 0.00025975.
  const double step2 = 0.1 * (0.055 / 0.19) / (std::sqrt(0.00025975 / (1 - 0.999 * 0.999)) + 1e-8);
  const double step1 = 0.1 * 0.5 / (0.5 + 1e-8);
  CHECK(p.to_vector<double>()[0] == Approx(1.0 - step1 - step2).epsilon(1e-12));
}

TEST_CASE("forward: Adam skips parameters without a gradient; zero_grad drops gradients", "[nn][optim]") {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  nn::Adam adam({a, b}, 0.01);
  a.set_grad(full({2}, 1.0, kFloat64));
  adam.step();
  CHECK(b.to_vector<double>() == std::vector<double>{1, 1});
  CHECK(a.to_vector<double>()[0] == Approx(0.99).epsilon(1e-9));
  NamedTensors st = adam.state_tensors();
  CHECK(st.back().first == "steps");
  adam.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_THROWS_WITH(nn::Adam({ones({2})}), Catch::Contains("must be a leaf tensor that requires grad"));
}

TEST_CASE("forward: Adam counts steps per parameter: a late first gradient gets a first step's bias correction",
          "[nn][optim]") {
  // a has a gradient at both steps, b only at the second: b's first update is
  // its own first step (t = 1), which moves it by lr * sign(g) (up to eps).
  // The optimizer's step count (t = 2) would move it by
  // lr * (0.1 / 0.19) / sqrt(0.001 / 0.001999) = 0.744 lr instead.
  Tensor a = from_vector(std::vector<double>{1.0, -1.0}, {2}).requires_grad_();
  Tensor b = from_vector(std::vector<double>{2.0, 3.0}, {2}).requires_grad_();
  nn::Adam adam({a, b}, 0.1, 0.9, 0.999, 1e-8);
  a.set_grad(from_vector(std::vector<double>{0.5, -0.25}, {2}));
  adam.step();
  CHECK(b.to_vector<double>() == std::vector<double>{2.0, 3.0});
  adam.zero_grad();
  a.set_grad(from_vector(std::vector<double>{0.5, -0.25}, {2}));
  b.set_grad(from_vector(std::vector<double>{0.4, -2.0}, {2}));
  adam.step();
  require_close(b, {2.0 - 0.1 * 0.4 / (0.4 + 1e-8), 3.0 + 0.1 * 2.0 / (2.0 + 1e-8)}, 1e-15, 1e-14);
  CHECK(adam.step_count() == 2);
  // The per-parameter counts are the state's "step": {2, 1}.
  NamedTensors st = adam.state_tensors();
  auto step = std::find_if(st.begin(), st.end(), [](const auto& e) { return e.first == "step"; });
  REQUIRE(step != st.end());
  CHECK(step->second.to_vector<int64_t>() == std::vector<int64_t>{2, 1});
}

TEST_CASE("forward: Adam state export and import resume exactly", "[nn][optim]") {
  auto make_params = [] {
    Generator gen(9);
    return std::vector<Tensor>{uniform({4, 3}, gen, -1, 1, kFloat32).requires_grad_(),
                               uniform({5}, gen, -1, 1, kFloat32).requires_grad_()};
  };
  // A deterministic gradient that depends on the parameters and the step.
  auto set_grads = [](std::vector<Tensor>& ps, int step) {
    for (size_t i = 0; i < ps.size(); ++i) {
      std::vector<float> v = ps[i].to_vector<float>();
      for (size_t j = 0; j < v.size(); ++j) v[j] = std::sin(3.0f * v[j] + float(step) + float(i));
      ps[i].set_grad(from_vector(v, ps[i].shape()));
    }
  };
  std::vector<Tensor> straight = make_params();
  nn::Adam a(straight, 1e-2);
  for (int s = 0; s < 5; ++s) set_grads(straight, s), a.step();

  std::vector<Tensor> first = make_params();
  nn::Adam b(first, 1e-2);
  for (int s = 0; s < 2; ++s) set_grads(first, s), b.step();
  // Through a checkpoint file, as a training resume does.
  Checkpoint ck;
  for (size_t i = 0; i < first.size(); ++i) ck.tensors.emplace_back("p" + std::to_string(i), first[i].detach());
  for (auto& [name, t] : b.state_tensors()) ck.tensors.emplace_back("adam." + name, t);
  const std::string path = temp_path("adam.ckpt");
  save_checkpoint(path, ck);
  Checkpoint back = read_checkpoint(path);
  std::remove(path.c_str());

  std::vector<Tensor> resumed;
  for (size_t i = 0; i < first.size(); ++i)
    resumed.push_back(back.at("p" + std::to_string(i)).clone().detach().requires_grad_());
  nn::Adam c(resumed, 1e-2);
  NamedTensors state;
  for (auto& [name, t] : back.tensors)
    if (name.rfind("adam.", 0) == 0) state.emplace_back(name.substr(5), t);
  c.load_state(state);
  CHECK(c.step_count() == 2);
  for (int s = 2; s < 5; ++s) set_grads(resumed, s), c.step();
  for (size_t i = 0; i < straight.size(); ++i) CHECK(bit_equal(resumed[i].detach(), straight[i].detach()));

  NamedTensors short_state(state.begin(), state.end() - 1);
  CHECK_THROWS_WITH(c.load_state(short_state), Catch::Contains("state tensors for 2 parameters"));
  NamedTensors wrong = state;
  wrong[0].second = zeros({3, 4});
  CHECK_THROWS_WITH(c.load_state(wrong), Catch::Contains("'exp_avg.0' has shape (3, 4)"));
}

TEST_CASE("forward: MultiStepLR halves at the DCSR milestones", "[nn][optim]") {
  nn::MultiStepLR sched(1e-4, {45, 20, 80}, 0.5);
  CHECK(sched.lr_at(0) == 1e-4);
  CHECK(sched.lr_at(19) == 1e-4);
  CHECK(sched.lr_at(20) == 5e-5);
  CHECK(sched.lr_at(44) == 5e-5);
  CHECK(sched.lr_at(45) == 2.5e-5);
  CHECK(sched.lr_at(79) == 2.5e-5);
  CHECK(sched.lr_at(80) == 1.25e-5);
  CHECK(sched.lr_at(999) == 1.25e-5);
  CHECK(sched.milestones() == std::vector<int64_t>{20, 45, 80});
}
