// Study: bilinear sampling at arbitrary points (the aligned sampler, dcsr-spec
// §5), x (N, C, H, W), grid (N, 2, Ho, Wo), DcsrReference border rule.
//
//   version 0  forward, production (kernels/cuda/grid_sample.cu): one thread per
//              point, taps found once, a loop over the channels
//   version 1  forward, one thread per (point, channel): taps recomputed per
//              channel, more threads in flight
//   version 2  backward, production: grad_x by atomicAdd, grad_grid per point
//
// Memory bound: the floor reads x and the grid once and writes the output,
// reported against a device memcpy (the four-tap gathers hit L1/L2 when the
// warp's points are close, as the aligned grid's are).
//
// usage: study_grid_sample [--quick] [--version V]
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"
#include "tests/op_table.h"

using namespace dcsr;
using dcsr::kernels::cuda::grid_for;
using dcsr::kernels::cuda::kBlock;

namespace {

// Version 1: the DcsrReference rule, recomputed for every channel.
__device__ float sample_dcsr(const float* plane, int64_t H, int64_t W, float pr, float pc) {
  auto axis = [](float p, int64_t size, int64_t& q0, int64_t& q1, float& w0, float& w1) {
    const float f = floorf(p);
    const int64_t fi = !(f > -2.0f) ? -2 : (f > float(size + 1) ? size + 1 : int64_t(f));
    q0 = min(max(fi, int64_t(0)), size - 1);
    q1 = min(max(fi + 1, int64_t(0)), size - 1);
    const float m = p < 0.0f ? 0.0f : p, last = float(size - 1);
    const float clamped = last < m ? last : m;
    w0 = 1.0f + (float(q0) - clamped);
    w1 = 1.0f - (float(q1) - clamped);
  };
  int64_t r0, r1, c0, c1;
  float wr0, wr1, wc0, wc1;
  axis(pr, H, r0, r1, wr0, wr1);
  axis(pc, W, c0, c1, wc0, wc1);
  return wr0 * wc0 * plane[r0 * W + c0] + wr1 * wc1 * plane[r1 * W + c1] + wr0 * wc1 * plane[r0 * W + c1] +
         wr1 * wc0 * plane[r1 * W + c0];
}

__global__ void sample_per_channel(const float* x, const float* grid, float* out, int64_t N, int64_t C, int64_t H,
                                   int64_t W, int64_t P) {
  DCSR_GRID_STRIDE_LOOP(e, N * C * P) {
    const int64_t p = e % P, nc = e / P, n = nc / C;
    out[e] = sample_dcsr(x + nc * H * W, H, W, grid[n * 2 * P + p], grid[n * 2 * P + P + p]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "grid_sample", nullptr, 0, [](const study::Options& o,
                                                                     const study::Peaks& peaks) {
    // The op table's GPU sizes of grid_sample (tests/op_rows_dcsr.h): (N, C, H, W, Ho, Wo);
    // --quick: a small odd one.
    std::vector<std::vector<int64_t>> sizes = {{2, 3, 12, 13, 10, 11}};
    if (!study::quick_mode()) sizes = study::table_gpu_sizes(test::op_row("grid_sample"));
    for (const std::vector<int64_t>& s : sizes) {
      const int64_t N = s.at(0), C = s.at(1), H = s.at(2), W = s.at(3), Ho = s.at(4), Wo = s.at(5);
      const std::string shape = study::dims({N, C, H, W}) + " -> " + study::dims({Ho, Wo});
      Generator gen(61);
      Tensor x = uniform({N, C, H, W}, gen, -1.0, 1.0);
      // Points near a regular grid (as the aligned grid's are), some past the border.
      std::vector<double> pts(size_t(N * 2 * Ho * Wo));
      for (int64_t n = 0; n < N; ++n)
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t y = 0; y < Ho; ++y)
            for (int64_t xo = 0; xo < Wo; ++xo)
              pts[size_t(((n * 2 + a) * Ho + y) * Wo + xo)] = double(a == 0 ? y : xo) + 1.0 + gen.uniform(-1.5, 1.5);
      Tensor grid = from_vector(pts, {N, 2, Ho, Wo}, kFloat32);
      Tensor gout = uniform({N, C, Ho, Wo}, gen, -1.0, 1.0);
      const auto border = kernels::SampleBorder::DcsrReference;
      Tensor out_ref = empty(gout.shape()), gx_ref = empty(x.shape()), gg_ref = empty(grid.shape());
      kernels::cpu::grid_sample(x, grid, border, out_ref);
      kernels::cpu::grid_sample_backward(x, grid, gout, border, gx_ref, gg_ref);
      Tensor dx = x.to(kCUDA), dgrid = grid.to(kCUDA), dgout = gout.to(kCUDA);
      Tensor dout = empty(gout.shape(), kFloat32, kCUDA), dgx = empty(x.shape(), kFloat32, kCUDA);
      Tensor dgg = empty(grid.shape(), kFloat32, kCUDA);
      const double bytes = 4.0 * double(x.numel() + grid.numel() + gout.numel());
      const std::vector<study::Version> versions = {
          {"forward: production, one thread per point", {&dout}, {&out_ref}, 1e-5,
           [&] { kernels::cuda::grid_sample(dx, dgrid, border, dout); }},
          {"forward: one thread per (point, channel)", {&dout}, {&out_ref}, 1e-5,
           [&] {
             sample_per_channel<<<grid_for(dout.numel()), kBlock>>>(dx.data<float>(), dgrid.data<float>(),
                                                                    dout.data<float>(), N, C, H, W, Ho * Wo);
             DCSR_CUDA_CHECK_LAUNCH();
           }},
          // grad_x is zeroed by the kernel before its atomicAdds, so poisoning it changes nothing.
          {"backward: production (grad_x atomicAdd, grad_grid per point)", {&dgx, &dgg}, {&gx_ref, &gg_ref}, 1e-5,
           [&] { kernels::cuda::grid_sample_backward(dx, dgrid, dgout, border, dgx, dgg); }},
      };
      study::run_versions("grid_sample", shape, versions, o.only_version, 0.0, bytes, peaks);
    }
  });
}
