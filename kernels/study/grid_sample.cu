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
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"

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
  if (!study::gpu_or_skip("grid_sample")) return 0;
  int only_version = -1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) study::quick_mode() = true;
    else if (std::strcmp(argv[i], "--version") == 0 && i + 1 < argc) only_version = std::atoi(argv[++i]);
  }
  try {
    const study::Peaks peaks = study::measure_peaks();
    study::print_machine("grid_sample", peaks);
    // The aligned sampler at 4x: 64 channels, a 162 x 162 padded mosaic, 160 x 160 points, batch 4.
    const bool q = study::quick_mode();
    const int64_t N = q ? 2 : 4, C = q ? 3 : 64, H = q ? 12 : 162, W = q ? 13 : 162, Ho = q ? 10 : 160, Wo = q ? 11 : 160;
    const std::string shape = std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
                              std::to_string(W) + " -> " + std::to_string(Ho) + "x" + std::to_string(Wo);
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
    for (int v = 0; v < 3; ++v) {
      if (only_version >= 0 && v != only_version) continue;
      std::function<void()> run;
      const char* what = "";
      if (v == 0) {
        what = "forward: production, one thread per point";
        run = [&] { kernels::cuda::grid_sample(dx, dgrid, border, dout); };
      } else if (v == 1) {
        what = "forward: one thread per (point, channel)";
        run = [&] {
          sample_per_channel<<<grid_for(dout.numel()), kBlock>>>(dx.data<float>(), dgrid.data<float>(),
                                                                 dout.data<float>(), N, C, H, W, Ho * Wo);
          DCSR_CUDA_CHECK_LAUNCH();
        };
      } else {
        what = "backward: production (grad_x atomicAdd, grad_grid per point)";
        run = [&] { kernels::cuda::grid_sample_backward(dx, dgrid, dgout, border, dgx, dgg); };
      }
      if (v < 2) study::poison(dout);
      else study::poison(dgg);
      run();
      DCSR_CUDA_CHECK(cudaDeviceSynchronize());
      study::Check check;
      if (v < 2) {
        check = study::compare(dout.to_vector<float>(), out_ref.to_vector<float>(), 1e-5);
      } else {
        std::vector<float> got = dgx.to_vector<float>(), want = gx_ref.to_vector<float>();
        std::vector<float> g2 = dgg.to_vector<float>(), w2 = gg_ref.to_vector<float>();
        got.insert(got.end(), g2.begin(), g2.end());
        want.insert(want.end(), w2.begin(), w2.end());
        check = study::compare(got, want, 1e-5);
      }
      const double ms = check.ok ? study::time_ms(run) : 0.0;
      study::print_result("grid_sample", shape, v, what, check, ms, 0.0, bytes, peaks);
    }
  } catch (const std::exception& e) {
    std::printf("{\"study\": \"grid_sample\", \"error\": \"%s\"}\n", study::json_escape(e.what()).c_str());
    return 1;
  }
  return 0;
}
