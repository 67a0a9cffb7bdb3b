// Shape and data-movement ops. reshape is a view; everything else copies into
// a new contiguous tensor.
#pragma once
#include <array>
#include <vector>

#include "kernels/kernels.h"
#include "tensor/tensor.h"

namespace dcsr {

using kernels::PadMode;

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
// Inserts / removes a size-1 dim (views).
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);

Tensor concat(const TensorList& tensors, int64_t dim);
// Pieces of the given sizes along dim (they must add up to the dim's size).
TensorList split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// x[.., start:start+length, ..] along dim, as a copy.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);

// Pads the last two dims; pads = {left, right, top, bottom} as torch.nn.functional.pad.
// Reflect = ReflectionPad2d (mirror without repeating the edge; each pad < that dim).
Tensor pad2d(const Tensor& x, const std::array<int64_t, 4>& pads, PadMode mode = PadMode::Constant,
             double value = 0.0);
// The inverse of a constant pad2d: x (.., H, W) less crops = {left, right, top,
// bottom} of its last two dims, in one copy (two narrows take two).
Tensor crop2d(const Tensor& x, const std::array<int64_t, 4>& crops);

// x.index_select(dim, index), index: int64 (L).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// torch.gather(x, dim, index), index: int64 with x's number of dims.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);

}  // namespace dcsr
