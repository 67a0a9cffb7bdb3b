// The CUDA image kernels against the CPU backend where no op table row covers
// them: the antialiased resize (for making data sets; not differentiable).
// Every test is skipped without a GPU. The differentiable image ops' parity
// (every path of kernels/cuda/conv2d.cu with whole images and column chunks,
// the fused activations and residuals, bicubic, pooling with ties,
// unfold/fold, the §9.1 blur) runs from the op table (tests/op_rows_image.h,
// driven by tests/test_op_table.cpp).
#include "cuda_parity.h"

using namespace dcsr;
using test::f32;
using test::require_close;

TEST_CASE("cuda: antialiased resize matches the CPU", "[cuda]") {
  DCSR_SKIP_WITHOUT_GPU();
  struct Case {
    Shape x;
    int64_t out_h, out_w;
  };
  std::vector<Case> cases = {{{2, 3, 64, 48}, 16, 12}, {{1, 3, 30, 45}, 10, 15}, {{1, 2, 9, 7}, 18, 14},
                             {{1, 1, 20, 20}, 7, 13}};
  for (const Case& c : cases) {
    Tensor x = f32(c.x, 231).detach();
    Tensor cpu = resize_antialias(x, c.out_h, c.out_w), gpu = resize_antialias(x.to(kCUDA), c.out_h, c.out_w);
    require_close(gpu, cpu, 1e-6, 1e-5, "resize_antialias " + shape_str(c.x));
  }
}
