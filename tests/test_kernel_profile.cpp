// The kernel profiler (runtime/profiler.h): what it records, what it
// leaves out, and its table. Only counts and names are asserted, never times.
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
