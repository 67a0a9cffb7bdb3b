// Core ops: forward values computed by hand, tie rules and error messages.
// Their gradchecks, CPU-vs-CUDA parity and goldens run from the op table
// (tests/op_rows_core.h, driven by tests/test_op_table.cpp).
#include "kernels/reflect_index.h"
#include "test_util.h"

using namespace dcsr;
using test::require_close;

namespace {
Tensor vec(std::vector<double> v, Shape s) { return from_vector(v, s); }
}  // namespace

// ---------------------------------------------------------------- elementwise

TEST_CASE("forward: add, sub, mul, div with every broadcasting kind", "[ops]") {
  Tensor a = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  require_close(add(a, vec({10, 20, 30, 40, 50, 60}, {2, 3})), {11, 22, 33, 44, 55, 66});
  require_close(sub(a, scalar_tensor(1.0, kFloat64)), {0, 1, 2, 3, 4, 5});      // scalar
  require_close(mul(a, vec({1, 10, 100}, {3})), {1, 20, 300, 4, 50, 600});      // trailing row
  require_close(div(a, vec({1, 2}, {2, 1})), {1, 2, 3, 2, 2.5, 3});              // column
  require_close(add(vec({1, 2, 3}, {3, 1}), vec({10, 20}, {1, 2})), {11, 21, 12, 22, 13, 23});  // outer
  // per-channel (1,C,1,1) over (N,C,H,W)
  Tensor x = vec({1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4}, {2, 2, 2, 2});
  require_close(mul(x, vec({10, 100}, {1, 2, 1, 1})),
                {10, 10, 10, 10, 200, 200, 200, 200, 30, 30, 30, 30, 400, 400, 400, 400});
  CHECK_THROWS_WITH(add(a, vec({1, 2}, {2})), Catch::Contains("add: shapes (2, 3) and (2) cannot be broadcast"));
  CHECK_THROWS_WITH(add(a, a.to(kFloat32)), Catch::Contains("dtypes differ"));
  CHECK_THROWS_WITH(add(arange(3), arange(3)), Catch::Contains("add: first operand must be float32 or float64"));
}

TEST_CASE("forward: unary ops", "[ops]") {
  Tensor x = vec({-2, -0.5, 0.25, 4}, {4});
  require_close(neg(x), {2, 0.5, -0.25, -4});
  require_close(add(x, 1.5), {-0.5, 1, 1.75, 5.5});
  require_close(mul(x, -2.0), {4, 1, -0.5, -8});
  require_close(exp(x), {std::exp(-2.0), std::exp(-0.5), std::exp(0.25), std::exp(4.0)}, 1e-15, 1e-15);
  require_close(log(vec({1, std::exp(2.0)}, {2})), {0, 2}, 1e-15);
  require_close(abs(x), {2, 0.5, 0.25, 4});
  require_close(sqrt(vec({4, 0.25}, {2})), {2, 0.5});
  require_close(pow(x, 2.0), {4, 0.25, 0.0625, 16});
  require_close(pow(vec({8, 27}, {2}), 1.0 / 3.0), {2, 3}, 1e-14);
  require_close(clamp(x, -1, 1), {-1, -0.5, 0.25, 1});
  require_close(relu(x), {0, 0, 0.25, 4});
  require_close(leaky_relu(x, 0.2), {-0.4, -0.1, 0.25, 4});
  require_close(sigmoid(vec({0, std::log(3.0)}, {2})), {0.5, 0.75}, 1e-15);
  CHECK_THROWS_WITH(clamp(x, 1, -1), Catch::Contains("clamp: low 1 > high -1"));
}

// ----------------------------------------------------------------- reductions

TEST_CASE("forward: sum and mean over all and given dims", "[ops]") {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  require_close(sum(x), {21});
  CHECK(sum(x).dim() == 0);
  require_close(sum(x, {0}), {5, 7, 9});
  require_close(sum(x, {1}), {6, 15});
  require_close(sum(x, {-1}, true), {6, 15});
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 1});
  require_close(mean(x, {0}), {2.5, 3.5, 4.5});
  require_close(mean(x), {3.5});
  // (N,C,H,W) over (0,2,3): the bias-gradient pattern
  Tensor y = vec({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {2, 2, 2, 2});
  require_close(sum(y, {0, 2, 3}), {1 + 2 + 3 + 4 + 9 + 10 + 11 + 12, 5 + 6 + 7 + 8 + 13 + 14 + 15 + 16});
  require_close(sum(y, {1, 3}), {1 + 2 + 5 + 6, 3 + 4 + 7 + 8, 9 + 10 + 13 + 14, 11 + 12 + 15 + 16});
  CHECK_THROWS_WITH(sum(x, {2}), Catch::Contains("sum: dim 2 out of range"));
  CHECK_THROWS_WITH(sum(x, {0, -2}), Catch::Contains("repeated"));
}

TEST_CASE("forward: float32 sums of many terms stay accurate", "[ops]") {
  Tensor x = full({1 << 20}, 0.1, kFloat32);
  CHECK(sum(x).item() == Approx(104857.6).epsilon(1e-6));
}

TEST_CASE("forward: max and min take the first index on ties", "[ops]") {
  Tensor x = vec({3, 1, 3, 2, 2, 0, 5, 5}, {2, 4});
  ValuesIndices m = max(x, 1);
  require_close(m.values, {3, 5});
  CHECK(m.indices.to_vector<int64_t>() == std::vector<int64_t>{0, 2});
  ValuesIndices n = min(x, 1);
  require_close(n.values, {1, 0});
  CHECK(n.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 1});
  // Along dim 0: columns 0 and 3 tie between the rows, the first row wins.
  ValuesIndices c = max(vec({3, 1, 3, 2, 3, 0, 5, 2}, {2, 4}), 0, true);
  CHECK(c.values.shape() == Shape{1, 4});
  CHECK(c.indices.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 0});
}

// ------------------------------------------------------------- linear algebra

TEST_CASE("forward: matmul, batched, shared and transposed", "[ops]") {
  Tensor a = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = vec({1, 0, 0, 1, 1, 1}, {3, 2});
  require_close(matmul(a, b), {4, 5, 10, 11});
  require_close(matmul(a, a, false, true), {14, 32, 32, 77});  // a a^T
  require_close(matmul(a, a, true, false), {17, 22, 27, 22, 29, 36, 27, 36, 45});  // a^T a
  Tensor batch = concat({a.reshape({1, 2, 3}), mul(a, 2.0).reshape({1, 2, 3})}, 0);
  require_close(matmul(batch, b), {4, 5, 10, 11, 8, 10, 20, 22});
  require_close(matmul(batch, concat({b.reshape({1, 3, 2}), b.reshape({1, 3, 2})}, 0)), {4, 5, 10, 11, 8, 10, 20, 22});
  CHECK_THROWS_WITH(matmul(a, a), Catch::Contains("inner sizes differ"));
}

// ---------------------------------------------------------------- shape / data

TEST_CASE("forward: permute, transpose, concat, split, narrow", "[ops]") {
  Tensor x = vec({0, 1, 2, 3, 4, 5}, {1, 2, 3});
  Tensor p = permute(x, {2, 0, 1});
  CHECK(p.shape() == Shape{3, 1, 2});
  require_close(p, {0, 3, 1, 4, 2, 5});
  require_close(transpose(x.reshape({2, 3}), 0, 1), {0, 3, 1, 4, 2, 5});
  Tensor c = concat({vec({1, 2}, {1, 2}), vec({3, 4, 5, 6}, {2, 2})}, 0);
  require_close(c, {1, 2, 3, 4, 5, 6});
  Tensor d = concat({vec({1, 2}, {2, 1}), vec({3, 4, 5, 6}, {2, 2})}, 1);
  require_close(d, {1, 3, 4, 2, 5, 6});
  TensorList s = split(d, {2, 1}, 1);
  require_close(s[0], {1, 3, 2, 5});
  require_close(s[1], {4, 6});
  require_close(narrow(d, 1, 1, 2), {3, 4, 5, 6});
  CHECK_THROWS_WITH(narrow(d, 1, 2, 2), Catch::Contains("narrow: [2, 4) is outside dim 1 of (2, 3)"));
  CHECK_THROWS_WITH(split(d, {1, 1}, 1), Catch::Contains("sizes add up to 2"));
  CHECK_THROWS_WITH(concat({vec({1}, {1, 1}), vec({1, 2}, {1, 2})}, 0), Catch::Contains("does not match"));
  CHECK_THROWS_WITH(permute(x, {0, 0, 1}), Catch::Contains("appears twice"));
}

TEST_CASE("forward: concat, narrow and copy_slice over runs long enough to be cut into pieces", "[ops]") {
  // Runs of length * inner values from 2.4 to 7.5 times the kernels' 2^14-value piece, uneven, one and two
  // images: every piece lands where the element-by-element copy puts it, and accumulate adds in place.
  Generator gen(5);
  for (int64_t n : {1, 2}) {
    Tensor a = uniform({n, 3, 97, 135}, gen, -1, 1), b = uniform({n, 5, 97, 135}, gen, -1, 1);
    Tensor c = concat({a, b}, 1);
    const int64_t plane = 97 * 135;
    const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
    bool same = true;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < 8 * plane; ++k) {
        const float want = k < 3 * plane ? pa[(i * 3) * plane + k] : pb[(i * 5) * plane + k - 3 * plane];
        same = same && pc[i * 8 * plane + k] == want;
      }
    CHECK(same);
    Tensor back = narrow(c, 1, 3, 5);
    CHECK(std::memcmp(back.data<float>(), b.data<float>(), size_t(b.numel()) * sizeof(float)) == 0);
    Tensor sum = c.clone();
    kernels::copy_slice(b, sum, 1, 0, 2, 5, true);  // channels 2 .. 6 += b
    const float* ps = sum.data<float>();
    bool added = true;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < 8 * plane; ++k) {
        const int64_t ch = k / plane;
        const float want = ch >= 2 && ch < 7 ? pc[i * 8 * plane + k] + pb[(i * 5 + ch - 2) * plane + k % plane]
                                             : pc[i * 8 * plane + k];
        added = added && ps[i * 8 * plane + k] == want;
      }
    CHECK(added);
  }
}

TEST_CASE("forward: constant and reflection padding", "[ops]") {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  require_close(pad2d(x, {1, 0, 0, 1}, PadMode::Constant, 9), {9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9});
  // ReflectionPad2d((2, 1, 1, 0)): row -1 mirrors row 1, column -1 column 1, -2 column 2, 3 column 1
  require_close(pad2d(x, {2, 1, 1, 0}, PadMode::Reflect), {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5});
  CHECK_THROWS_WITH(pad2d(x, {3, 0, 0, 0}, PadMode::Reflect), Catch::Contains("must be smaller"));
}

TEST_CASE("forward: reflection's index map (kernels/reflect_index.h) is PyTorch's reflect mode", "[ops]") {
  // The edge is the mirror and is not repeated: for size 4, -3 .. 6 read 3 2 1 | 0 1 2 3 | 2 1 0.
  std::vector<int64_t> sources;
  for (int64_t i = -3; i < 7; ++i) sources.push_back(kernels::reflect_index(i, 4));
  CHECK(sources == std::vector<int64_t>{3, 2, 1, 0, 1, 2, 3, 2, 1, 0});
  // Padding 1 read in place: padded coordinate p of size + 2 reads p - 1 reflected; size 2 is the smallest.
  std::vector<int64_t> padded;
  for (int64_t p = 0; p < 4; ++p) padded.push_back(kernels::reflect_pad1(p, 2));
  CHECK(padded == std::vector<int64_t>{1, 0, 1, 0});
}

TEST_CASE("forward: crop2d is two narrows in one copy, and undoes a constant pad", "[ops]") {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {1, 2, 3});
  require_close(crop2d(x, {1, 0, 0, 1}), {2, 3});
  Generator gen(6);
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor big = uniform({2, 3, 11, 13}, gen, -1, 1).to(dt);
    const std::array<int64_t, 4> crops{2, 3, 4, 1};      // left, right, top, bottom
    const Tensor two_narrows = narrow(narrow(big, 2, 4, 11 - 4 - 1), 3, 2, 13 - 2 - 3);
    CHECK(test::count_bit_differences(crop2d(big, crops), two_narrows) == 0);
    CHECK(test::count_bit_differences(crop2d(pad2d(big, crops, PadMode::Constant, 7), crops), big) == 0);
  }
  CHECK(crop2d(x, {3, 0, 0, 0}).shape() == Shape{1, 2, 0});
  CHECK_THROWS_WITH(crop2d(x, {2, 2, 0, 0}),
                    Catch::Contains("crop2d: crops (2, 2, 0, 0) exceed the last two dims of (1, 2, 3)"));
  CHECK_THROWS_WITH(crop2d(x, {0, 0, -1, 0}), Catch::Contains("crop2d: negative crop -1"));
}

TEST_CASE("forward: index_select and gather", "[ops]") {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {3, 2});
  require_close(index_select(x, 0, from_vector<int64_t>({2, 0, 2}, {3})), {5, 6, 1, 2, 5, 6});
  require_close(index_select(x, 1, from_vector<int64_t>({1}, {1})), {2, 4, 6});
  require_close(gather(x, 1, from_vector<int64_t>({1, 1, 0, 1, 0, 0}, {3, 2})), {2, 2, 3, 4, 5, 5});
  require_close(gather(x, 0, from_vector<int64_t>({2, 0}, {1, 2})), {5, 2});
  CHECK_THROWS_WITH(index_select(x, 0, from_vector<int64_t>({3}, {1})),
                    Catch::Contains("index_select: index 3 out of range for dim 0 of size 3"));
  CHECK_THROWS_WITH(gather(x, 1, from_vector<int64_t>({0, -1}, {1, 2})), Catch::Contains("gather: index -1 out of range"));
}

