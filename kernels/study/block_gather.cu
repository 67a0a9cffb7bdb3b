// Study: block transfer (dcsr-spec §4.2), value (N, C, Hv, Wv) cut into k x k
// blocks, index (N, out_h * out_w) -> mosaic (N, C, out_h k, out_w k).
//
//   version 0  forward, production (kernels/cuda/block_gather.cu): one thread per
//              output value
//   version 1  forward, one thread per output ROW of a block (k values copied in
//              a loop): fewer index loads, shorter warps' runs
//   version 2  backward, production: atomicAdd of every output gradient
//
// Memory bound: the floor is reading the chosen blocks and writing the mosaic
// once, 2 x 4 bytes per output value, reported against a device memcpy.
//
// usage: study_block_gather [--quick] [--version V]
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/study/study_common.cuh"
#include "tests/op_table.h"

using namespace dcsr;
using dcsr::kernels::cuda::grid_for;
using dcsr::kernels::cuda::kBlock;

namespace {

// Version 1: thread per (n, c, y, block column bx) copies k values.
__global__ void gather_rows(const float* value, const int64_t* index, float* out, int64_t N, int64_t C, int64_t Hv,
                            int64_t Wv, int64_t Ho, int64_t Wo, int64_t k) {
  const int64_t out_w = Wo / k, grid_w = Wv / k, L = (Ho / k) * out_w;
  DCSR_GRID_STRIDE_LOOP(e, N * C * Ho * out_w) {
    const int64_t bx = e % out_w, y = (e / out_w) % Ho, nc = e / (out_w * Ho), n = nc / C;
    const int64_t src = index[n * L + (y / k) * out_w + bx];
    const float* from = value + nc * Hv * Wv + ((src / grid_w) * k + y % k) * Wv + (src % grid_w) * k;
    float* to = out + (nc * Ho + y) * Wo + bx * k;
    for (int64_t x = 0; x < k; ++x) to[x] = from[x];
  }
}

}  // namespace

int main(int argc, char** argv) {
  return study::study_main(argc, argv, "block_gather", nullptr, 0, [](const study::Options& o,
                                                                      const study::Peaks& peaks) {
    // The op table's GPU sizes of block_gather (tests/op_rows_dcsr.h): (N, C, Hv, Wv, k,
    // query rows, query cols); --quick: a small odd one.
    std::vector<std::vector<int64_t>> sizes = {{2, 3, 24, 20, 4, 5, 7}};
    if (!study::quick_mode()) sizes = study::table_gpu_sizes(test::op_row("block_gather"));
    for (const std::vector<int64_t>& s : sizes) {
      const int64_t N = s.at(0), C = s.at(1), Hv = s.at(2), Wv = s.at(3), k = s.at(4), out_h = s.at(5),
                    out_w = s.at(6);
      const std::string shape = study::dims({N, C, Hv, Wv}) + " k" + std::to_string(k);
      Generator gen(51);
      Tensor value = uniform({N, C, Hv, Wv}, gen, -1.0, 1.0);
      std::vector<int64_t> idx(size_t(N * out_h * out_w));
      for (int64_t& v : idx) v = gen.randint(0, (Hv / k) * (Wv / k));
      Tensor index = from_vector(idx, {N, out_h * out_w});
      Tensor gout = uniform({N, C, out_h * k, out_w * k}, gen, -1.0, 1.0);
      Tensor out_ref = empty(gout.shape()), gv_ref = empty(value.shape());
      kernels::cpu::block_gather(value, index, k, out_ref);
      kernels::cpu::block_gather_backward(gout, index, k, gv_ref);
      Tensor dvalue = value.to(kCUDA), dindex = index.to(kCUDA), dgout = gout.to(kCUDA);
      Tensor dout = empty(gout.shape(), kFloat32, kCUDA), dgv = empty(value.shape(), kFloat32, kCUDA);
      const double bytes = 2.0 * 4.0 * double(gout.numel());
      const std::vector<study::Version> versions = {
          {"forward: production, one thread per value", {&dout}, {&out_ref}, 1e-6,
           [&] { kernels::cuda::block_gather(dvalue, dindex, k, dout); }},
          {"forward: one thread per block row", {&dout}, {&out_ref}, 1e-6,
           [&] {
             gather_rows<<<grid_for(N * C * out_h * k * out_w), kBlock>>>(dvalue.data<float>(), dindex.data<int64_t>(),
                                                                          dout.data<float>(), N, C, Hv, Wv, out_h * k,
                                                                          out_w * k, k);
             DCSR_CUDA_CHECK_LAUNCH();
           }},
          {"backward: production, atomicAdd", {&dgv}, {&gv_ref}, 1e-6,
           [&] { kernels::cuda::block_gather_backward(dgout, dindex, k, dgv); }},
      };
      study::run_versions("block_gather", shape, versions, o.only_version, 0.0, bytes, peaks);
    }
  });
}
