// The conv3x3_fwd workload of `dcsr_bench --serve` (model_workload.h): one
// conv2d forward, batch 1, 64 -> 64 channels, 3x3, stride 1, padding 1, bias,
// 256x256, float32, no grad, on whatever path the library's plan picks
// (kernels/cpu_paths.h: Winograd or direct on the CPU; the CUDA conv path on
// the GPU). The inputs are bench_conv.cpp's (seed 3: x in [-1, 1), weight in
// [-0.05, 0.05), bias in [0, 1)).
//
// The checked warm-up unit validates 16 outputs against direct sums in double,
// then writes x, weight, bias and its output y as raw little-endian float32
// into a private temporary folder named in the peer spec ("dir"). The PyTorch
// peer (tools/bench/peers/image.py, make_conv2d_workload) loads x, weight and
// bias from there, so both sides convolve the same values, and reports the
// largest |y_torch - y_ours| (tools/bench_peer.py: max_abs_diff_vs_torch).
// The folder is removed when the workload is destroyed.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "apps/bench/model_workload.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "kernels/cpu_paths.h"
#include "runtime/device.h"
#include "runtime/switches.h"
#include "tensor/error.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace dcsr::bench {

namespace {

constexpr int64_t kChannels = 64, kSize = 256, kKernel = 3;

struct ConvState {
  Tensor x, w, b;  // x (1, C, S, S), w (C, C, 3, 3), b (C), on the workload's device
  std::filesystem::path dir;
  ~ConvState() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }
};

// The raw float32 values of t (on any device) into path; an Error names the file.
void write_raw(const std::filesystem::path& path, const Tensor& t) {
  const Tensor host = t.to(kCPU);
  FILE* f = std::fopen(path.c_str(), "wb");
  DCSR_CHECK(f != nullptr, "conv3x3_fwd: cannot write ", path.string());
  const size_t n = size_t(host.numel());
  const bool ok = std::fwrite(host.data<float>(), sizeof(float), n, f) == n;
  DCSR_CHECK(std::fclose(f) == 0 && ok, "conv3x3_fwd: cannot write ", path.string());
}

double x_at(const float* x, int64_t c, int64_t i, int64_t j) {
  return (i < 0 || i >= kSize || j < 0 || j >= kSize) ? 0.0 : double(x[(c * kSize + i) * kSize + j]);
}

// 16 outputs of y = conv(x, w) + b (padding 1) against direct sums in double.
void check_probes(const Tensor& x_dev, const Tensor& w_dev, const Tensor& b_dev, const Tensor& y_dev) {
  const Tensor x = x_dev.to(kCPU), w = w_dev.to(kCPU), b = b_dev.to(kCPU), y = y_dev.to(kCPU);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *py = y.data<float>();
  for (int64_t probe = 0; probe < 16; ++probe) {
    const int64_t co = (probe * 37) % kChannels, i = (probe * 101) % kSize;
    const int64_t j = (probe * 53 + 7 * probe * probe) % kSize;
    double want = pb[co];
    for (int64_t ci = 0; ci < kChannels; ++ci)
      for (int64_t ky = 0; ky < kKernel; ++ky)
        for (int64_t kx = 0; kx < kKernel; ++kx)
          want += double(pw[((co * kChannels + ci) * kKernel + ky) * kKernel + kx]) *
                  x_at(px, ci, i + ky - 1, j + kx - 1);
    const double got = py[(co * kSize + i) * kSize + j];
    DCSR_CHECK(std::abs(got - want) <= 1e-3 * (1.0 + std::abs(want)), "conv3x3_fwd: y[0][", co, "][", i, "][", j,
               "] = ", got, " but a direct sum gives ", want, "; not timing a wrong result");
  }
}

std::string conv_path(Device device) {
  if (device == kCUDA) return std::string("cuda/") + runtime::conv_path_name(runtime::cuda_conv_path());
  namespace paths = kernels::cpu_paths;
  const paths::ConvShape shape{1, kChannels, kSize, kSize, kChannels, kKernel, 1, 1, 1, kSize, kSize};
  return paths::conv_forward_path(shape);
}

}  // namespace

ModelWorkload conv3x3_workload(const std::string& name, Device device) {
  auto s = std::make_shared<ConvState>();
  Generator gen(3);
  s->x = uniform({1, kChannels, kSize, kSize}, gen, -1, 1).to(device);
  s->w = mul(uniform({kChannels, kChannels, kKernel, kKernel}, gen, -1, 1), 0.05).to(device);
  s->b = uniform({kChannels}, gen).to(device);
  s->dir = std::filesystem::temp_directory_path() / ("dcsr_bench_conv3x3_fwd." + std::to_string(getpid()));
  std::filesystem::remove_all(s->dir);
  std::filesystem::create_directory(s->dir);

  ModelWorkload w;
  w.name = name;
  w.info = {{"conv_path", conv_path(device)},
            {"gflop", 2.0 * double(kChannels * kChannels * kKernel * kKernel) * double(kSize * kSize) / 1e9}};
  if (device == kCPU) w.info["isa"] = kernels::cpu_paths::isa_name(kernels::cpu_paths::cpu_isa());
  w.peer_spec = {{"op", "conv2d_forward"}, {"channels", kChannels}, {"size", kSize}, {"k", kKernel},
                 {"dir", s->dir.string()}};
  ConvState* p = s.get();
  w.run = [p, device] {
    NoGradGuard no_grad;
    Tensor y = conv2d(p->x, p->w, p->b, 1, 1);
    if (device == kCUDA) runtime::cuda_synchronize();
  };
  w.check = [p, device] {
    NoGradGuard no_grad;
    const Tensor y = conv2d(p->x, p->w, p->b, 1, 1);
    if (device == kCUDA) runtime::cuda_synchronize();
    DCSR_CHECK(y.shape() == Shape({1, kChannels, kSize, kSize}), "conv3x3_fwd: wrong output shape ",
               shape_str(y.shape()));
    check_probes(p->x, p->w, p->b, y);
    write_raw(p->dir / "x.f32", p->x);
    write_raw(p->dir / "w.f32", p->w);
    write_raw(p->dir / "b.f32", p->b);
    write_raw(p->dir / "y.f32", y);
  };
  w.state = s;
  return w;
}

}  // namespace dcsr::bench
