// The kernel profiler (runtime/profiler.h): what it records, what it
// leaves out, and its table. Only counts and names are asserted, never times.
#include "kernels/cpu_paths.h"
#include "runtime/profiler.h"
#include "runtime/allocator.h"
#include "test_util.h"

using namespace dcsr;
using runtime::KernelProfileRow;

namespace {

// Turns the profiler on for one test, from an empty record, and off again
// whatever happens.
struct ProfilingOn {
  ProfilingOn() {
    runtime::reset_kernel_profile();
    runtime::set_kernel_profiling(true);
  }
  ~ProfilingOn() {
    runtime::set_kernel_profiling(false);
    runtime::reset_kernel_profile();
  }
};

// Profiling by shape for one test (on top of ProfilingOn), off again whatever happens.
struct ShapesOn {
  ShapesOn() { runtime::set_kernel_profile_shapes(true); }
  ~ShapesOn() { runtime::set_kernel_profile_shapes(false); }
};

// The path the CPU conv plan gives a float32 forward conv, as a row names it: " (winograd4/avx512)".
std::string planned_path(int64_t n, int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t k, int64_t stride,
                         int64_t pad) {
  const int64_t ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
  return " (" + kernels::cpu_paths::conv_forward_path({n, cin, h, w, cout, k, stride, pad, 1, ho, wo}) + ")";
}

const KernelProfileRow* find_row(const std::vector<KernelProfileRow>& rows, const std::string& kernel,
                                 Device device = Device::CPU) {
  for (const KernelProfileRow& row : rows)
    if (row.kernel == kernel && row.device == device) return &row;
  return nullptr;
}

}  // namespace

TEST_CASE("profiler: every kernel entry point is counted under its name", "[profile]") {
  ProfilingOn on;
  Generator gen(3);
  Tensor a = uniform({8, 5}, gen), b = uniform({5, 6}, gen);
  NoGradGuard no_grad;
  Tensor c = matmul(a, b);            // gemm
  Tensor d = relu(c) + relu(c);       // unary:relu twice, binary:add once
  Tensor e = d * 2.0;                 // unary:mul_scalar
  (void)e;
  const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
  const KernelProfileRow* gemm = find_row(rows, "gemm");
  const KernelProfileRow* relu_row = find_row(rows, "unary:relu");
  const KernelProfileRow* add_row = find_row(rows, "binary:add");
  const KernelProfileRow* scale = find_row(rows, "unary:mul_scalar");
  REQUIRE(gemm);
  REQUIRE(relu_row);
  REQUIRE(add_row);
  REQUIRE(scale);
  CHECK(gemm->calls == 1);
  CHECK(relu_row->calls == 2);
  CHECK(add_row->calls == 1);
  CHECK(scale->calls == 1);
  for (const KernelProfileRow& row : rows) CHECK(row.ms >= 0.0);
  for (size_t i = 1; i < rows.size(); ++i) CHECK(rows[i - 1].ms >= rows[i].ms);  // most expensive first
}

TEST_CASE("profiler: nested entry points are charged to the outermost", "[profile]") {
  ProfilingOn on;
  {
    runtime::KernelScope outer("outer_kernel", Device::CPU);
    runtime::KernelScope inner("inner_kernel", Device::CPU, "detail");
  }
  { runtime::KernelScope alone("inner_kernel", Device::CPU, "detail"); }
  const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
  REQUIRE(rows.size() == 2);
  REQUIRE(find_row(rows, "outer_kernel"));
  REQUIRE(find_row(rows, "inner_kernel:detail"));
  CHECK(find_row(rows, "outer_kernel")->calls == 1);
  CHECK(find_row(rows, "inner_kernel:detail")->calls == 1);  // only the call made on its own
}

TEST_CASE("profiler: off records nothing, reset forgets", "[profile]") {
  runtime::set_kernel_profiling(false);
  runtime::reset_kernel_profile();
  Generator gen(4);
  Tensor a = uniform({4, 4}, gen);
  Tensor b = matmul(a, a);
  (void)b;
  CHECK(runtime::kernel_profile().empty());
  {
    ProfilingOn on;
    Tensor c = matmul(a, a);
    (void)c;
    // The product's row, and an allocator row when the cache had no block for
    // its output (a fresh process: each ctest case runs alone).
    size_t kernel_rows = 0;
    for (const KernelProfileRow& row : runtime::kernel_profile())
      kernel_rows += row.kernel.rfind("allocator:", 0) != 0;
    CHECK(kernel_rows == 1);
  }
  CHECK(runtime::kernel_profile().empty());  // ProfilingOn resets on the way out
}

TEST_CASE("profiler: the caching allocator's calls to the system are rows of their own", "[profile]") {
  // A block the cache cannot serve comes from the system (allocator:system_alloc);
  // emptying the cache gives it back (allocator:system_free). Sizes no other
  // test uses, so that the cache holds none of them.
  allocator_empty_cache(kCPU);
  ProfilingOn on;
  {
    Tensor x = empty({3, 1000003});
    Tensor y = empty({5, 1000003});
    (void)x, (void)y;
  }
  allocator_empty_cache(kCPU);
  const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
  const KernelProfileRow* alloc = find_row(rows, "allocator:system_alloc");
  const KernelProfileRow* release = find_row(rows, "allocator:system_free");
  REQUIRE(alloc);
  REQUIRE(release);
  CHECK(alloc->calls == 2);
  CHECK(release->calls >= 2);  // these two, and whatever else the cache held
}

TEST_CASE("profiler: the table names each kernel and the time outside kernels", "[profile]") {
  std::vector<KernelProfileRow> rows = {{"conv2d_forward", Device::CPU, 3, 30.0},
                                        {"binary:add", Device::CPU, 10, 10.0}};
  const std::string table = runtime::kernel_profile_table(rows, 50.0);
  CHECK_THAT(table, Catch::Contains("conv2d_forward"));
  CHECK_THAT(table, Catch::Contains("60.0%"));  // 30 of 50 ms
  CHECK_THAT(table, Catch::Contains("binary:add"));
  CHECK_THAT(table, Catch::Contains("(outside kernels)"));
  CHECK_THAT(table, Catch::Contains("20.0%"));  // 50 - 40 ms
  const std::string own_sum = runtime::kernel_profile_table(rows);
  CHECK_THAT(own_sum, Catch::Contains("75.0%"));  // 30 of the kernels' 40 ms
  CHECK_THAT(own_sum, Catch::Contains("(kernels in all)"));
}

TEST_CASE("profiler: by shape, each convolution's row names its shape and the path it took", "[profile]") {
  namespace paths = kernels::cpu_paths;
  Generator gen(6);
  const Tensor x = uniform({1, 8, 40, 44}, gen, -1, 1), w3 = uniform({16, 8, 3, 3}, gen, -0.1, 0.1);
  const Tensor b = uniform({16}, gen), w1 = uniform({4, 8, 1, 1}, gen, -0.1, 0.1), b1 = uniform({4}, gen);
  const std::string row3 = "conv2d_forward:8->16 3x3 s1 p1 at 1x40x44";
  SECTION("off: one row for every convolution") {
    NoGradGuard no_grad;
    ProfilingOn on;
    Tensor y = conv2d(x, w3, b), z = conv2d(x, w1, b1, 1, 0);
    (void)y, (void)z;
    const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
    REQUIRE(find_row(rows, "conv2d_forward"));
    CHECK(find_row(rows, "conv2d_forward")->calls == 2);
  }
  SECTION("on: a row per shape, with the planned path; a forced path is named as forced") {
    NoGradGuard no_grad;
    ProfilingOn on;
    ShapesOn shapes;
    CHECK(runtime::kernel_profile_shapes());
    Tensor y = conv2d(x, w3, b), y2 = conv2d(x, w3, b), z = conv2d(x, w1, b1, 1, 0);
    paths::set_cpu_conv_path(paths::CpuConvPath::kDirect);
    Tensor direct = conv2d(x, w3, b);
    const std::string direct_path = planned_path(1, 8, 40, 44, 16, 3, 1, 1);
    paths::reset_cpu_conv_path();
    (void)y, (void)y2, (void)z, (void)direct;
    const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
    const std::string planned = planned_path(1, 8, 40, 44, 16, 3, 1, 1);
    INFO("planned" << planned << ", forced direct" << direct_path);
    CHECK(planned != direct_path);  // the two rows below are two paths
    REQUIRE(find_row(rows, row3 + planned));
    CHECK(find_row(rows, row3 + planned)->calls == 2);
    REQUIRE(find_row(rows, row3 + direct_path));
    CHECK(find_row(rows, row3 + direct_path)->calls == 1);
    const std::string row1 = "conv2d_forward:8->4 1x1 s1 p0 at 1x40x44" + planned_path(1, 8, 40, 44, 4, 1, 1, 0);
    REQUIRE(find_row(rows, row1));
    CHECK(find_row(rows, row1)->calls == 1);
    CHECK_FALSE(find_row(rows, "conv2d_forward"));
  }
  SECTION("on: float64, groups and strides are named") {
    NoGradGuard no_grad;
    ProfilingOn on;
    ShapesOn shapes;
    Tensor x64 = x.to(kFloat64);
    Tensor wg = uniform({8, 2, 3, 3}, gen, -0.1, 0.1, kFloat64);
    Tensor y = conv2d(x64, wg, Tensor(), 2, 1, 4);  // 4 groups of 2 -> 2 channels, stride 2
    (void)y;
    const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
    REQUIRE(rows.size() >= 1);
    CHECK(find_row(rows, "conv2d_forward:8->8 3x3 s2 p1 at 1x40x44 g4 float64 (direct/im2col-gemm)"));
  }
  SECTION("on: training's three convolutions, each a row of its own") {
    Tensor xl = x.detach().requires_grad_(), wl = w3.detach().requires_grad_();
    ProfilingOn on;
    ShapesOn shapes;
    Tensor y = conv2d(xl, wl, b);
    sum(y).backward();
    const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
    size_t input_rows = 0, weight_rows = 0;
    for (const KernelProfileRow& row : rows) {
      input_rows += row.kernel.rfind("conv2d_backward_input:8->16 3x3 s1 p1 at 1x40x44 (", 0) == 0;
      weight_rows += row.kernel.rfind("conv2d_backward_weight:8->16 3x3 s1 p1 at 1x40x44 (", 0) == 0;
    }
    CHECK(input_rows == 1);
    CHECK(weight_rows == 1);
  }
  SECTION("a path noted outside any kernel, or with shapes off, changes nothing") {
    runtime::note_kernel_path("nowhere");  // no scope open: ignored
    ProfilingOn on;
    { runtime::KernelScope scope("plain_kernel", Device::CPU, std::string("a shape")); }
    {
      ShapesOn shapes;
      runtime::KernelScope scope("shaped_kernel", Device::CPU, std::string("a shape"));
      runtime::KernelScope nested("inner", Device::CPU);
      runtime::note_kernel_path("its path");  // under the outermost scope: its row's
    }
    const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
    CHECK(find_row(rows, "plain_kernel"));  // shapes off: the shape was never kept
    CHECK(find_row(rows, "shaped_kernel:a shape (its path)"));
    CHECK(rows.size() == 2);
  }
}

TEST_CASE("cuda: profiler charges device kernels and copies to the GPU", "[cuda][profile]") {
  DCSR_SKIP_WITHOUT_GPU();
  ProfilingOn on;
  Generator gen(5);
  Tensor a = uniform({64, 64}, gen).to(Device::CUDA);
  NoGradGuard no_grad;
  Tensor c = matmul(a, a).to(Device::CPU);
  const std::vector<KernelProfileRow> rows = runtime::kernel_profile();
  REQUIRE(find_row(rows, "gemm", Device::CUDA));
  CHECK(find_row(rows, "gemm", Device::CUDA)->calls == 1);
  REQUIRE(find_row(rows, "copy:to_device", Device::CUDA));
  REQUIRE(find_row(rows, "copy:to_host", Device::CUDA));
  CHECK(c.shape() == Shape{64, 64});
}
