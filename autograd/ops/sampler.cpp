// The aligned sampler (dcsr-spec §5): a general bilinear sampler with three
// border rules, the per-block scale/rotation grid, and their composition.
#include "autograd/ops.h"
#include "kernels/kernels.h"

namespace dcsr {

namespace {
kernels::SampleBorder to_kernel(GridBorder border) {
  switch (border) {
    case GridBorder::Zeros: return kernels::SampleBorder::Zeros;
    case GridBorder::Clamp: return kernels::SampleBorder::Clamp;
    case GridBorder::DcsrReference: return kernels::SampleBorder::DcsrReference;
  }
  fail("grid_sample: unknown border rule ", int(border));
}
}  // namespace

Tensor grid_sample(const Tensor& x, const Tensor& grid, GridBorder border) {
  check_floating(x, "grid_sample", "input");
  check_floating(grid, "grid_sample", "grid");
  check_same_device({x, grid}, "grid_sample");
  DCSR_CHECK(x.dim() == 4 && grid.dim() == 4 && grid.size(0) == x.size(0) && grid.size(1) == 2 &&
                 x.dtype() == grid.dtype(),
             "grid_sample: input ", shape_str(x.shape()), " and grid ", shape_str(grid.shape()),
             " must be (N, C, H, W) and (N, 2, Ho, Wo) of one dtype");
  DCSR_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "grid_sample: empty input ", shape_str(x.shape()));
  const kernels::SampleBorder rule = to_kernel(border);
  Tensor out = empty({x.size(0), x.size(1), grid.size(2), grid.size(3)}, x.dtype(), x.device());
  kernels::grid_sample(x, grid, rule, out);
  bool need_x = x.requires_grad(), need_grid = grid.requires_grad();
  return autograd::record("grid_sample", {x, grid}, out,
                          [x = x.detach(), grid = grid.detach(), rule, need_x, need_grid](const Tensor& g) {
                            Tensor grad_x = need_x ? empty_like(x) : Tensor();
                            Tensor grad_grid = need_grid ? empty_like(grid) : Tensor();
                            kernels::grid_sample_backward(x, grid, g, rule, grad_x, grad_grid);
                            return TensorList{grad_x, grad_grid};
                          });
}

Tensor aligned_grid(const Tensor& params, int64_t block) {
  check_floating(params, "aligned_grid", "params");
  DCSR_CHECK(params.dim() == 4 && params.size(1) == 3, "aligned_grid: params must be (N, 3, h, w), got ",
             shape_str(params.shape()));
  DCSR_CHECK(block >= 1, "aligned_grid: block size ", block, " must be positive");
  Tensor grid = empty({params.size(0), 2, params.size(2) * block, params.size(3) * block}, params.dtype(),
                      params.device());
  kernels::aligned_grid(params, block, grid);
  return autograd::record("aligned_grid", {params}, grid, [params = params.detach(), block](const Tensor& g) {
    Tensor grad = empty_like(params);
    kernels::aligned_grid_backward(params, g, block, grad);
    return TensorList{grad};
  });
}

Tensor aligned_sample(const Tensor& mosaic, const Tensor& params, int64_t block) {
  check_floating(mosaic, "aligned_sample", "mosaic");
  check_floating(params, "aligned_sample", "params");
  DCSR_CHECK(mosaic.dim() == 4 && params.dim() == 4 && params.size(1) == 3 && params.size(0) == mosaic.size(0) &&
                 block >= 1 && mosaic.size(2) == params.size(2) * block && mosaic.size(3) == params.size(3) * block,
             "aligned_sample: mosaic ", shape_str(mosaic.shape()), " does not match params ",
             shape_str(params.shape()), " in blocks of ", block, " (mosaic must be (N, C, h*k, w*k))");
  DCSR_CHECK(mosaic.size(2) >= 2 && mosaic.size(3) >= 2, "aligned_sample: mosaic ", shape_str(mosaic.shape()),
             " is too small for reflection padding 1");
  // Steps 5-8: the grid is in the coordinates of the mosaic padded by 1.
  return grid_sample(pad2d(mosaic, {1, 1, 1, 1}, PadMode::Reflect), aligned_grid(params, block),
                     GridBorder::DcsrReference);
}

}  // namespace dcsr
