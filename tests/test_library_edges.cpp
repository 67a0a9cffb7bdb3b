// Edges of the library a C++ user meets (found by a review of the public
// headers): empty planes, no queries, a gradient of the wrong size, a failed
// strict load, a snapshot of the parameters, x^0 at 0.
#include "autograd/ops.h"
#include "cli_runner.h"
#include "dcsr/inference/eval.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "tensor/serialize.h"
#include "test_files.h"

#include <sys/stat.h>
#include "test_util.h"

using namespace dcsr;

TEST_CASE("edges: pad2d of an empty plane fills the whole output; crop2d to nothing has a zero gradient",
          "[edges]") {
  const Tensor padded = pad2d(zeros({1, 2, 0, 3}), {1, 1, 1, 1}, PadMode::Constant, 7.0);
  REQUIRE(padded.shape() == Shape{1, 2, 2, 5});
  for (float v : padded.to_vector<float>()) CHECK(v == 7.0f);
  // The gradient of a crop to width 0 is a pad of an empty plane into fresh memory.
  { Tensor junk = full({2, 8, 16, 16}, 42.0); }  // leave non-zero bytes for the allocator to hand out
  Tensor x = zeros({2, 8, 16, 16});
  x.requires_grad_();
  sum(crop2d(x, {0, 16, 0, 0})).backward();
  for (float v : x.grad().to_vector<float>()) REQUIRE(v == 0.0f);
}

TEST_CASE("edges: max_cosine with no queries returns empty results", "[edges]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    const MatchResult m = max_cosine(zeros({1, 4, 0}, dtype), ones({1, 4, 3}, dtype));
    CHECK(m.confidence.shape() == Shape{1, 0});
    CHECK(m.index.shape() == Shape{1, 0});
  }
}

TEST_CASE("edges: set_grad refuses a gradient of another shape, dtype or device", "[edges]") {
  Tensor w = zeros({64});
  w.requires_grad_();
  CHECK_THROWS_WITH(w.set_grad(ones({4})), Catch::Contains("set_grad") && Catch::Contains("(4)"));
  CHECK_THROWS_WITH(w.set_grad(ones({64}, kFloat64)), Catch::Contains("float64"));
  w.set_grad(ones({64}));
  nn::Adam opt({w}, 0.1);
  opt.step();
  CHECK(w.to_vector<float>()[0] < 0.0f);
  w.set_grad(Tensor());  // undefined: no gradient
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("edges: a strict load that fails changes no parameter; module_state is a snapshot", "[edges]") {
  Generator gen(1);
  nn::Conv2d conv(2, 3, 3, gen);  // parameters "weight" then "bias"
  const std::vector<float> before = conv.weight().to_vector<float>();
  Checkpoint ck;
  ck.tensors.push_back({"weight", full({3, 2, 3, 3}, 5.0)});
  ck.tensors.push_back({"bias", zeros({3}, kInt64)});  // wrong dtype, found after weight
  CHECK_THROWS_WITH(load_parameters_strict(conv, ck), Catch::Contains("bias") && Catch::Contains("int64"));
  CHECK(conv.weight().to_vector<float>() == before);
  // A snapshot (a "best model" kept in memory) does not follow later steps.
  const NamedTensors snapshot = module_state(conv);
  Tensor weight = conv.weight();
  weight.set_grad(ones(weight.shape()));
  nn::Adam opt({weight}, 0.1);
  opt.step();
  CHECK(snapshot.front().second.to_vector<float>() == before);
  CHECK(conv.weight().to_vector<float>() != before);
}

TEST_CASE("edges: d/dx x^0 is 0, also at x = 0", "[edges]") {
  Tensor x = from_vector<double>({0.0, 2.0}, {2});
  x.requires_grad_();
  sum(pow(x, 0.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0.0, 0.0});
}

TEST_CASE("edges: a model path that is a FIFO is refused at once, not waited on", "[edges]") {
  test::TempDir dir("edges");
  const std::string fifo = dir / "model.ckpt";
  REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  CHECK_THROWS_WITH(read_file_bytes(fifo, "model"), Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(read_checkpoint(fifo), Catch::Contains("not a regular file"));
}

TEST_CASE("edges: a float64 weight beyond float32's range is refused at load, changing nothing", "[edges]") {
  Generator gen(1);
  nn::Conv2d conv(2, 3, 3, gen);
  const std::vector<float> before = conv.weight().to_vector<float>();
  Checkpoint ck;
  Tensor weight = full({3, 2, 3, 3}, 0.5, kFloat64);
  weight.data<double>()[4] = 1e300;  // finite in the file, infinite as a float32
  ck.tensors.push_back({"weight", weight});
  ck.tensors.push_back({"bias", zeros({3}, kFloat64)});
  CHECK_THROWS_WITH(load_parameters_strict(conv, ck), Catch::Contains("weight") && Catch::Contains("float32's range"));
  CHECK(conv.weight().to_vector<float>() == before);
  weight.data<double>()[4] = 3e38;  // still a float32
  CHECK_NOTHROW(load_parameters_strict(conv, ck));
}

TEST_CASE("edges: a model file whose config claims a width its tensors cannot hold is refused before building",
          "[edges]") {
  test::TempDir dir("edges");
  test::write_model(dir / "m.ckpt", 4);
  Checkpoint ck = read_checkpoint(dir / "m.ckpt");
  ck.config["n_feats"] = 1024;  // a 3 GB network from a file of 0.3 M values
  save_checkpoint(dir / "wide.ckpt", ck);
  CHECK_THROWS_WITH(load_model(dir / "wide.ckpt"), Catch::Contains("wide.ckpt") && Catch::Contains("n_feats 1024") &&
                                                      Catch::Contains("values"));
  ck.config["n_feats"] = 4096;
  save_checkpoint(dir / "wider.ckpt", ck);
  CHECK_THROWS_WITH(load_model(dir / "wider.ckpt"), Catch::Contains("from 2 to 1024"));
  CHECK(load_model(dir / "m.ckpt")->config().n_feats == 4);
}

TEST_CASE("edges: relu keeps NaN, as torch.relu does", "[edges]") {
  const Tensor y = relu(from_vector<float>({std::nanf(""), -1.0f, 2.0f}, {3}));
  const std::vector<float> v = y.to_vector<float>();
  CHECK(std::isnan(v[0]));
  CHECK(v[1] == 0.0f);
  CHECK(v[2] == 2.0f);
}

TEST_CASE("edges: backward refuses a seed of another shape, dtype or device", "[edges]") {
  Tensor x = ones({3});
  x.requires_grad_();
  Tensor y = mul(x, x);
  CHECK_THROWS_WITH(y.backward(ones({3}, kFloat64)), Catch::Contains("gradient of shape (3) float64") && Catch::Contains("root of shape (3) float32"));
  CHECK_THROWS_WITH(y.backward(ones({4})), Catch::Contains("(4)"));
  CHECK_THROWS_WITH(x.backward(ones({3}, kFloat64)), Catch::Contains("float64"));  // a leaf too
  y.backward(full({3}, 2.0));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{4.0f, 4.0f, 4.0f});
}

TEST_CASE("edges: backward refuses a graph whose tensors were changed in place after the forward", "[edges]") {
  Tensor w = from_vector<double>({1.0}, {1});
  w.requires_grad_();
  Tensor loss = sum(mul(w, w));
  w.set_grad(ones({1}, kFloat64));
  nn::Adam opt({w}, 0.5);
  opt.step();  // w changes in place: mul's saved w is no longer the forward's
  opt.zero_grad();
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("mul backward") && Catch::Contains("changed in place"));
  // The forward again: the gradient of the new values.
  Tensor again = sum(mul(w, w));
  again.backward();
  CHECK(w.grad().to_vector<double>()[0] == Approx(2.0 * w.to_vector<double>()[0]));
  // Any code that writes into a tensor says so with mark_modified.
  Tensor x = from_vector<double>({3.0}, {1});
  x.requires_grad_();
  Tensor y = sum(mul(x, x));
  x.data<double>()[0] = 5.0;
  x.mark_modified();
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("changed in place"));
}

TEST_CASE("edges: eval's table keeps one row per line and its columns, whatever the names", "[edges]") {
  EvalSummary s;
  for (const char* name : {"a\nb\t.png", "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9.png", "a_name_far_longer_than_the_column_is.png"}) {
    ImageEval e;
    e.name = name;
    s.images.push_back(e);
  }
  const std::string table = eval_table(s);
  std::istringstream lines(table);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    // 24 characters of name (UTF-8: count the bytes that start a character), then the method.
    size_t chars = 0, byte = 0;
    for (; byte < line.size() && chars < 24; ++byte)
      if ((static_cast<unsigned char>(line[byte]) & 0xC0) != 0x80) ++chars;
    while (byte < line.size() && (static_cast<unsigned char>(line[byte]) & 0xC0) == 0x80) ++byte;
    INFO(line);
    CHECK(line.compare(byte, 1, " ") == 0);
    ++rows;
  }
  CHECK(rows == 1 + 3 + 1);  // header, the images (bicubic only), the mean
  CHECK_THAT(table, Catch::Contains("a?b?.png") && Catch::Contains("a_name_far_longer_than_~"));
}
