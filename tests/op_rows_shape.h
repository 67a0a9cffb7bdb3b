// Op table rows (tests/op_table.h), shape and data movement: reshape, device
// and dtype copies, clone, permute, concat, split, narrow, pad2d, crop2d, index_select
// and gather. Parity cases reach the transpose tiles (32) with partial tiles,
// the largest reflect pads, repeated indices, and int64 data.
#pragma once
#include <array>
#include <tuple>

#include "op_table_types.h"

namespace dcsr::test {

namespace op_rows_shape {

inline std::vector<OpRow> shape_rows() {
  std::vector<OpRow> rows;
  auto one_leaf = [](Shape s, uint64_t seed) { return [s, seed](DType dt) { return TensorList{uniform_leaf(s, seed, dt)}; }; };
  auto ints = [](Shape s, uint64_t seed, int64_t low, int64_t high) {
    return [=](DType) { return TensorList{int_tensor(s, seed, low, high)}; };
  };

  OpRow reshape_row{"reshape"};
  reshape_row.cases.push_back(make_case("(2, 3, 2) to (4, -1)", kBothChecks, one_leaf({2, 3, 2}, 25),
                                        unary([](const Tensor& x) { return x.reshape({4, -1}); })));
  rows.push_back(reshape_row);

  OpRow to_device{"to_device"};  // to(device): a copy; through the CPU and back on the device
  to_device.cases.push_back(make_case("(5, 3) through the CPU", kBothChecks, one_leaf({5, 3}, 24),
                                      unary([](const Tensor& x) { return x.to(kCPU).to(x.device()); })));
  rows.push_back(to_device);

  OpRow to_dtype{"to_dtype"};
  to_dtype.cases.push_back(make_case("float32 and back", kBothChecks, one_leaf({5}, 30),
                                     unary([](const Tensor& x) { return x.to(x.dtype() == kFloat64 ? kFloat32 : kFloat64).to(x.dtype()); })));
  to_dtype.cases.back().gradcheck = GradcheckOptions{1e-3, 1e-4, 1e-3};  // float32 rounding in the middle
  rows.push_back(to_dtype);

  OpRow clone_row{"clone"};
  clone_row.cases.push_back(make_case("(5)", kBothChecks, one_leaf({5}, 29), unary([](const Tensor& x) { return x.clone(); })));
  rows.push_back(clone_row);

  OpRow permute_row{"permute"};
  permute_row.parity = kExactParity;
  permute_row.cases.push_back(make_case("(2, 3, 4) by {2, 0, 1}", kGradcheck, one_leaf({2, 3, 4}, 26),
                                        unary([](const Tensor& x) { return permute(x, {2, 0, 1}); })));
  permute_row.cases.push_back(make_case("transpose (2, 3, 4) dims 0, 2", kGradcheck, one_leaf({2, 3, 4}, 27),
                                        unary([](const Tensor& x) { return transpose(x, 0, 2); })));
  for (auto [shape, perm, what] : std::vector<std::tuple<Shape, std::vector<int64_t>, const char*>>{
           {{2, 3, 4, 5}, {0, 2, 3, 1}, "NCHW -> NHWC: batched transpose (N, C, HW)"},
           {{2, 3, 4, 5}, {0, 3, 1, 2}, "batched transpose (N, CH, W)"},
           {{2, 3, 4, 5}, {3, 2, 1, 0}, "generic"},
           {{2, 3, 4, 5}, {1, 0, 2, 3}, "generic after merging (2, 3, 20) -> (3, 2, 20)"},
           {{2, 3, 4, 5}, {0, 1, 2, 3}, "identity: a copy"},
           {{67, 45}, {1, 0}, "2-D transpose, partial tiles"},
           {{1, 70, 1, 33}, {3, 2, 1, 0}, "size-1 dims dropped: a 2-D transpose"},
           {{3, 1000, 517}, {0, 2, 1}, "many tiles"}})
    permute_row.cases.push_back(make_case(shape_str(shape) + " by " + dims_label(perm) + " (" + what + ")", kParity,
                                          one_leaf(shape, 71), unary([perm = perm](const Tensor& x) { return permute(x, perm); })));
  permute_row.cases.push_back(make_case("int64 (4, 5, 6) by {2, 0, 1}", kParity, ints({4, 5, 6}, 72, -1000, 1000),
                                        unary([](const Tensor& x) { return permute(x, {2, 0, 1}); })));
  permute_row.cases.push_back(make_case("int64 transpose (40, 70)", kParity, ints({40, 70}, 73, -1000, 1000),
                                        unary([](const Tensor& x) { return permute(x, {1, 0}); })));
  rows.push_back(permute_row);

  OpRow concat_row{"concat"};
  concat_row.parity = kExactParity;
  concat_row.cases.push_back(make_case("three along dim 1", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({2, 1, 3}, 31, dt), uniform_leaf({2, 2, 3}, 32, dt), uniform_leaf({2, 3, 3}, 33, dt)};
  }, [](const TensorList& in) { return TensorList{concat(in, 1)}; }));
  for (int64_t dim : {0, 1, 2}) {
    Shape s1 = {4, 5, 6}, s2 = {4, 5, 6};
    s1[size_t(dim)] = 2;
    s2[size_t(dim)] = 3;
    concat_row.cases.push_back(make_case("dim " + std::to_string(dim), kParity, [s1, s2](DType dt) {
      return TensorList{uniform_leaf(s1, 82, dt), uniform_leaf({4, 5, 6}, 83, dt), uniform_leaf(s2, 84, dt)};
    }, [dim](const TensorList& in) { return TensorList{concat(in, dim)}; }));
  }
  concat_row.cases.push_back(make_case("int64", kParity, [](DType) {
    return TensorList{int_tensor({3, 2}, 86, 0, 100), int_tensor({3, 5}, 87, 0, 100)};
  }, [](const TensorList& in) { return TensorList{concat(in, 1)}; }));
  rows.push_back(concat_row);

  OpRow split_row{"split"};
  split_row.parity = kExactParity;
  split_row.cases.push_back(make_case("(2, 5) into {1, 3, 1} along -1", kGradcheck, one_leaf({2, 5}, 34),
                                      [](const TensorList& in) { return split(in[0], {1, 3, 1}, -1); }));
  for (int64_t dim : {0, 1, 2})
    split_row.cases.push_back(make_case("(4, 4, 4) dim " + std::to_string(dim), kParity, one_leaf({4, 4, 4}, 85),
                                        [dim](const TensorList& in) { return split(in[0], {1, 2, 1}, dim); }));
  rows.push_back(split_row);

  OpRow narrow_row{"narrow"};
  narrow_row.parity = kExactParity;
  narrow_row.cases.push_back(make_case("(4, 3) rows 1..2", kGradcheck, one_leaf({4, 3}, 35),
                                       unary([](const Tensor& x) { return narrow(x, 0, 1, 2); })));
  for (int64_t dim : {0, 1, 2})
    narrow_row.cases.push_back(make_case("(4, 5, 6) dim " + std::to_string(dim), kParity, one_leaf({4, 5, 6}, 81),
                                         unary([dim](const Tensor& x) { return narrow(x, dim, 1, 3); })));
  rows.push_back(narrow_row);

  OpRow pad_row{"pad2d"};
  pad_row.parity = {kExact, 0.0, 1e-6, 1e-6};
  pad_row.cases.push_back(make_case("constant 0.5, {1, 2, 0, 1}", kGradcheck, one_leaf({2, 3, 4}, 36),
                                    unary([](const Tensor& x) { return pad2d(x, {1, 2, 0, 1}, PadMode::Constant, 0.5); })));
  pad_row.cases.push_back(make_case("reflect {2, 1, 1, 2}", kGradcheck, one_leaf({1, 2, 3, 4}, 37),
                                    unary([](const Tensor& x) { return pad2d(x, {2, 1, 1, 2}, PadMode::Reflect); })));
  // Asymmetric pads, no padding, the largest reflect pads (size - 1), inputs
  // with 2 and 3 dims.
  for (auto [shape, pads] : std::vector<std::pair<Shape, std::array<int64_t, 4>>>{
           {{2, 3, 7, 9}, {1, 2, 3, 0}}, {{2, 3, 7, 9}, {0, 0, 0, 0}}, {{2, 3, 7, 9}, {8, 8, 6, 6}},
           {{3, 5, 4}, {2, 3, 1, 3}}, {{6, 6}, {5, 1, 0, 5}}, {{40, 300, 37}, {2, 2, 2, 2}}})
    for (PadMode mode : {PadMode::Constant, PadMode::Reflect})
      pad_row.cases.push_back(make_case(
          std::string(mode == PadMode::Reflect ? "reflect " : "constant ") + shape_str(shape) + " pads " +
              dims_label({pads[0], pads[1], pads[2], pads[3]}),
          kParity, one_leaf(shape, 91), unary([pads = pads, mode](const Tensor& x) { return pad2d(x, pads, mode, 0.7); })));
  pad_row.cases.push_back(make_case("constant 1x1", kParity, one_leaf({1, 1, 1, 1}, 92),
                                    unary([](const Tensor& x) { return pad2d(x, {1, 1, 1, 1}, PadMode::Constant); }),
                                    kExactParity));
  rows.push_back(pad_row);

  OpRow crop_row{"crop2d"};
  crop_row.parity = kExactParity;
  crop_row.cases.push_back(make_case("{1, 2, 0, 1} of (2, 3, 5, 6)", kGradcheck, one_leaf({2, 3, 5, 6}, 38),
                                     unary([](const Tensor& x) { return crop2d(x, {1, 2, 0, 1}); })));
  // Asymmetric crops, none, all but one pixel, everything (empty), 2 and 3 dims.
  for (auto [shape, crops] : std::vector<std::pair<Shape, std::array<int64_t, 4>>>{
           {{2, 3, 7, 9}, {1, 2, 3, 0}}, {{2, 3, 7, 9}, {0, 0, 0, 0}}, {{2, 3, 7, 9}, {4, 4, 3, 3}},
           {{2, 3, 7, 9}, {9, 0, 0, 0}}, {{3, 5, 4}, {2, 1, 1, 3}}, {{40, 300, 37}, {2, 2, 20, 20}}})
    crop_row.cases.push_back(
        make_case(shape_str(shape) + " crops " + dims_label({crops[0], crops[1], crops[2], crops[3]}), kParity,
                  one_leaf(shape, 93), unary([crops = crops](const Tensor& x) { return crop2d(x, crops); })));
  rows.push_back(crop_row);

  // index_select and gather: the index is an input (int64), repeats included.
  OpRow index_row{"index_select"};
  index_row.parity = {kExact, 0.0, 1e-6, 1e-6};
  index_row.cases.push_back(make_case("(2, 3, 2) dim 1 by {2, 0, 2, 1}", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({2, 3, 2}, 38, dt), from_vector<int64_t>({2, 0, 2, 1}, {4})};
  }, [](const TensorList& in) { return TensorList{index_select(in[0], 1, in[1])}; }));
  for (int64_t dim : {0, 1, 2}) {
    const Shape shape = {5, 4, 300};
    index_row.cases.push_back(make_case("(5, 4, 300) dim " + std::to_string(dim), kParity, [dim, shape](DType dt) {
      // 9 draws from <= 5 values: repeats
      return TensorList{uniform_leaf(shape, 102, dt), int_tensor({9}, 101 + uint64_t(dim), 0, shape[size_t(dim)])};
    }, [dim](const TensorList& in) { return TensorList{index_select(in[0], dim, in[1])}; }));
  }
  index_row.cases.push_back(make_case("int64", kParity, [](DType) {
    return TensorList{int_tensor({6, 7}, 103, -9, 9), int_tensor({10}, 104, 0, 6)};
  }, [](const TensorList& in) { return TensorList{index_select(in[0], 0, in[1])}; }));
  rows.push_back(index_row);

  OpRow gather_row{"gather"};
  gather_row.parity = {kExact, 0.0, 1e-6, 1e-6};
  gather_row.cases.push_back(make_case("(2, 4) dim 1", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({2, 4}, 39, dt), from_vector<int64_t>({0, 2, 2, 1, 0, 0}, {2, 3})};
  }, [](const TensorList& in) { return TensorList{gather(in[0], 1, in[1])}; }));
  gather_row.cases.push_back(make_case("(3, 2) dim 0", kGradcheck, [](DType dt) {
    return TensorList{uniform_leaf({3, 2}, 40, dt), from_vector<int64_t>({0, 2, 2, 1, 0, 0}, {3, 2})};
  }, [](const TensorList& in) { return TensorList{gather(in[0], 0, in[1])}; }));
  for (int64_t dim : {0, 1, 2}) {
    gather_row.cases.push_back(make_case("(4, 5, 6) dim " + std::to_string(dim), kParity, [dim](DType dt) {
      const Shape shape = {4, 5, 6};
      Shape ishape = {3, 4, 5};  // smaller than the data outside dim
      ishape[size_t(dim)] = 7;   // longer than the data along dim: repeats
      return TensorList{uniform_leaf(shape, 112, dt), int_tensor(ishape, 111 + uint64_t(dim), 0, shape[size_t(dim)])};
    }, [dim](const TensorList& in) { return TensorList{gather(in[0], dim, in[1])}; }));
  }
  gather_row.cases.push_back(make_case("int64", kParity, [](DType) {
    return TensorList{int_tensor({3, 8}, 113, -9, 9), int_tensor({3, 20}, 114, 0, 8)};
  }, [](const TensorList& in) { return TensorList{gather(in[0], 1, in[1])}; }));
  rows.push_back(gather_row);
  return rows;
}

}  // namespace op_rows_shape

}  // namespace dcsr::test
