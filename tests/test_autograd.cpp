// The autograd engine: accumulation, propagation, no-grad, freed graphs,
// multi-output ops, and a gradcheck that catches a broken backward.
#include "test_util.h"

using namespace dcsr;
using test::leaf;

TEST_CASE("gradients accumulate into leaves across uses and backward calls", "[autograd]") {
  Tensor x = from_vector<double>({1.0, 2.0, 3.0}, {3}).requires_grad_();
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  sum(add(x, x)).backward();  // += 2
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 6, 8});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("requires_grad propagates and no-grad scopes record nothing", "[autograd]") {
  Tensor a = leaf({2}, 1), b = from_vector<double>({1, 2}, {2});
  CHECK(add(a, b).requires_grad());
  CHECK(!add(b, b).requires_grad());
  CHECK(a.is_leaf());
  CHECK(!add(a, b).is_leaf());
  {
    NoGradGuard guard;
    Tensor c = mul(a, b);
    CHECK(!c.requires_grad());
    CHECK(c.grad_fn() == nullptr);
  }
  CHECK(GradMode::enabled());
  CHECK_THROWS_WITH(add(a, b).requires_grad_(), Catch::Contains("only be set on a leaf"));
  CHECK_THROWS_WITH(arange(3).requires_grad_(), Catch::Contains("only floating tensors"));
}

TEST_CASE("backward with an upstream gradient, and errors for bad seeds", "[autograd]") {
  Tensor x = from_vector<double>({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor y = mul(x, 3.0);
  y.backward(from_vector<double>({1, 0, -1, 2}, {2, 2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 0, -3, 6});
  Tensor z = mul(x, 2.0);
  CHECK_THROWS_WITH(z.backward(), Catch::Contains("one-element root"));
  CHECK_THROWS_WITH(z.backward(ones({3}, kFloat64)), Catch::Contains("for a root of shape (2, 2)"));
  CHECK_THROWS_WITH(from_vector<double>({1}, {1}).backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("saved tensors are freed after backward; walking the graph again fails", "[autograd]") {
  Tensor x = leaf({3}, 2);
  Tensor y = sum(exp(x));
  y.backward();
  CHECK(y.grad_fn()->released());
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("already freed"));

  Tensor z = sum(exp(x));
  x.zero_grad();
  z.backward(Tensor(), /*retain_graph=*/true);
  std::vector<double> first = x.grad().to_vector<double>();
  z.backward();  // allowed: the first call retained the graph
  std::vector<double> twice = x.grad().to_vector<double>();
  for (size_t i = 0; i < first.size(); ++i) CHECK(twice[i] == Approx(2 * first[i]));
}

TEST_CASE("multi-output ops: split pieces, and max with non-differentiable indices", "[autograd]") {
  Tensor x = from_vector<double>({1, 5, 2, 8, 3, 0}, {2, 3}).requires_grad_();
  TensorList pieces = split(x, {1, 2}, 1);
  // Only the second piece is used: the first gets no gradient.
  sum(mul(pieces[1], 2.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 2, 2, 0, 2, 2});
  x.zero_grad();
  ValuesIndices m = max(x, 1);
  CHECK(m.values.requires_grad());
  CHECK(!m.indices.requires_grad());
  CHECK(m.indices.dtype() == kInt64);
  CHECK(m.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  sum(m.values).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 1, 0, 0});
}

TEST_CASE("a diamond graph sums both paths before the shared node runs", "[autograd]") {
  Tensor x = from_vector<double>({0.5, -1.5}, {2}).requires_grad_();
  Tensor h = exp(x);                   // shared
  Tensor y = sum(add(mul(h, 2.0), h));  // = 3 e^x
  y.backward();
  std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[0] == Approx(3 * std::exp(0.5)));
  CHECK(g[1] == Approx(3 * std::exp(-1.5)));
}

namespace {
// mul with a deliberately wrong backward: the gradient of `a` uses b
// reversed, an index bug a ones upstream gradient on a symmetric input could
// miss but a random upstream gradient cannot.
Tensor broken_mul(const Tensor& a, const Tensor& b) {
  Tensor out = empty_like(a);
  kernels::binary(kernels::BinaryOp::Mul, a, b, out);
  return autograd::record("broken_mul", {a, b}, out, [a = a.detach(), b = b.detach()](const Tensor& g) {
    std::vector<double> reversed = b.to_vector<double>();
    std::reverse(reversed.begin(), reversed.end());
    return TensorList{mul(g, from_vector(reversed, b.shape())), mul(g, a)};
  });
}
}  // namespace

TEST_CASE("gradcheck catches a broken backward", "[autograd][grad]") {
  Tensor a = leaf({5}, 11), b = leaf({5}, 12);
  GradcheckReport broken = gradcheck([](const TensorList& in) { return TensorList{broken_mul(in[0], in[1])}; }, {a, b});
  INFO(broken.summary());
  CHECK(!broken.ok);
  CHECK(broken.first_failure.find("input 0") == 0);
  GradcheckReport correct = gradcheck([](const TensorList& in) { return TensorList{mul(in[0], in[1])}; }, {a, b});
  INFO(correct.summary());
  CHECK(correct.ok);
}
