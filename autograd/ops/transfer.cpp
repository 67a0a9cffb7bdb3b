// Block transfer (dcsr-spec §4.2): the matched k x k blocks copied into a mosaic.
#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

Tensor block_gather(const Tensor& value, const Tensor& index, int64_t block, int64_t out_h, int64_t out_w) {
  check_floating(value, "block_gather", "value");
  DCSR_CHECK(value.dim() == 4, "block_gather: value must be (N, C, Hv, Wv), got ", shape_str(value.shape()));
  DCSR_CHECK(block >= 1, "block_gather: block size ", block, " must be positive");
  DCSR_CHECK(value.size(2) % block == 0 && value.size(3) % block == 0, "block_gather: value ",
             shape_str(value.shape()), " is not a whole number of ", block, " x ", block, " blocks");
  DCSR_CHECK(out_h >= 1 && out_w >= 1, "block_gather: output grid ", out_h, " x ", out_w, " is empty");
  DCSR_CHECK(index.dtype() == kInt64 && index.dim() == 2 && index.size(0) == value.size(0) &&
                 index.size(1) == out_h * out_w,
             "block_gather: index ", shape_str(index.shape()), " ", dtype_name(index.dtype()), " must be int64 (",
             value.size(0), ", ", out_h * out_w, ") for a ", out_h, " x ", out_w, " grid");
  check_same_device({value, index}, "block_gather");
  const int64_t N = value.size(0), C = value.size(1);
  Tensor out = empty({N, C, out_h * block, out_w * block}, value.dtype(), value.device());
  kernels::block_gather(value, index, block, out);
  // Backward: each output block's gradient is added into the block it came
  // from (a block chosen by several queries sums all of them).
  return autograd::record("block_gather", {value}, out, [shape = value.shape(), index, block](const Tensor& g) {
    Tensor grad = empty(shape, g.dtype(), g.device());
    kernels::block_gather_backward(g, index, block, grad);
    return TensorList{grad};
  });
}

}  // namespace dcsr
