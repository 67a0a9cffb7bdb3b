// Tensor core: factories, views, conversions, printing, files, allocator, RNG.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "runtime/allocator.h"
#include "runtime/caching_pool.h"
#include "tensor/serialize.h"
#include "test_util.h"

using namespace dcsr;

TEST_CASE("factories fill shapes and values", "[tensor]") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == kFloat32);
  CHECK(z.numel() == 6);
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(ones({4}, kFloat64).to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(full({2, 2}, 2.5).to_vector<double>() == std::vector<double>(4, 2.5));
  CHECK(arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(arange(3, kFloat32).to_vector<double>() == std::vector<double>{0, 1, 2});
  CHECK(scalar_tensor(7.0).dim() == 0);
  CHECK(scalar_tensor(7.0).item() == 7.0);
  Tensor v = from_vector<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.size(0) == 3);
  CHECK(v.size(-1) == 2);
  CHECK_THROWS_WITH(from_vector<double>({1, 2}, {3}), Catch::Contains("2 values for shape (3)"));
}

TEST_CASE("storage is 64-byte aligned", "[tensor]") {
  for (int64_t n : {1, 3, 17, 1000, 100000}) {
    Tensor t = empty({n});
    CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
  }
}

TEST_CASE("reshape is a view sharing storage, -1 is inferred", "[tensor]") {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = a.reshape({3, -1});
  CHECK(b.shape() == Shape{3, 2});
  CHECK(b.raw_data() == a.raw_data());
  b.data<double>()[0] = 42.0;
  CHECK(a.to_vector<double>()[0] == 42.0);
  CHECK_THROWS_WITH(a.reshape({4, 2}), Catch::Contains("cannot become (4, 2)"));
  CHECK_THROWS_WITH(a.reshape({-1, -1}), Catch::Contains("more than one -1"));
}

TEST_CASE("dtype conversion and typed access checks", "[tensor]") {
  Tensor a = from_vector<double>({1.5, -2.25, 3.0}, {3});
  Tensor f = a.to(kFloat32);
  CHECK(f.dtype() == kFloat32);
  CHECK(f.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f});
  Tensor i = a.to(kInt64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  CHECK_THROWS_WITH(a.data<float>(), Catch::Contains("tensor is float64, asked for float32"));
}

TEST_CASE("printing shows dtype, device, shape and nested values", "[tensor]") {
  Tensor a = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  std::string s = a.str();
  CHECK(s.find("tensor(float64, cpu, (2, 3))") == 0);
  CHECK(s.find("[[1, 2, 3],\n[4, 5, 6]]") != std::string::npos);
  CHECK(arange(100).str(10).find("(90 more)") != std::string::npos);
}

TEST_CASE("tensor files round-trip and reject bad input", "[tensor][io]") {
  std::string path = "test_tensor_roundtrip.bin";
  Generator gen(3);
  Tensor a = uniform({2, 3, 4}, gen, -1, 1, kFloat32);
  Tensor b = arange(7);
  Tensor c = normal({5}, gen, 0, 1, kFloat64);
  save_tensors(path, {{"a", a}, {"b", b}, {"c", c}});
  auto loaded = load_tensors(path);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded["a"].shape() == a.shape());
  CHECK(loaded["a"].to_vector<float>() == a.to_vector<float>());
  CHECK(loaded["b"].to_vector<int64_t>() == b.to_vector<int64_t>());
  CHECK(loaded["c"].to_vector<double>() == c.to_vector<double>());

  {  // truncated file
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 5);
  }
  CHECK_THROWS_WITH(load_tensors(path), Catch::Contains("truncated"));
  std::ofstream(path, std::ios::binary) << "NOTATENSORFILE";
  CHECK_THROWS_WITH(load_tensors(path), Catch::Contains("bad magic"));
  std::remove(path.c_str());
  CHECK_THROWS_WITH(load_tensors("does/not/exist.bin"), Catch::Contains("cannot open tensor file"));
}

TEST_CASE("the caching allocator reuses freed blocks", "[tensor][allocator]") {
  allocator_empty_cache(kCPU);
  { Tensor a = empty({1 << 20}); }
  AllocatorStats before = allocator_stats(kCPU);
  { Tensor b = empty({1 << 20}); }
  AllocatorStats after = allocator_stats(kCPU);
  CHECK(after.system_allocs == before.system_allocs);
  CHECK(after.cache_hits == before.cache_hits + 1);
  CHECK(allocation_size_class(4 << 20) == size_t(4 << 20));
  CHECK(allocation_size_class((4 << 20) + 1) == size_t((4 << 20) + (512 << 10)));
  CHECK(allocation_size_class(100) == 128);
}

TEST_CASE("the caching allocator lends a free block of a slightly larger class", "[tensor][allocator]") {
  // A request whose class has no free block takes one up to a quarter larger
  // (from 1 MiB up), counts it at its own class while in use, and gives it back
  // to that class.
  allocator_empty_cache(kCPU);
  const int64_t mib = int64_t(1) << 20, floats_per_mib = mib / 4;
  { Tensor five = empty({5 * floats_per_mib}); }  // a cached block of the 5 MiB class
  const AllocatorStats before = allocator_stats(kCPU);
  REQUIRE(before.bytes_cached == 5 * mib);
  {
    Tensor smaller = empty({9 * floats_per_mib / 2});  // the 4.5 MiB class: none free
    const AllocatorStats lent = allocator_stats(kCPU);
    CHECK(lent.system_allocs == before.system_allocs);
    CHECK(lent.cache_hits == before.cache_hits + 1);
    CHECK(lent.bytes_cached == 0);
    CHECK(lent.bytes_in_use == before.bytes_in_use + 5 * mib);
  }
  const AllocatorStats back = allocator_stats(kCPU);
  CHECK(back.bytes_cached == 5 * mib);
  CHECK(back.bytes_in_use == before.bytes_in_use);
  { Tensor three = empty({3 * floats_per_mib}); }  // 5 MiB is more than a quarter larger: from the OS
  CHECK(allocator_stats(kCPU).system_allocs == back.system_allocs + 1);
  { Tensor small = empty({1000}); }  // below 1 MiB only its own class serves
  CHECK(allocator_stats(kCPU).system_allocs == back.system_allocs + 2);
  allocator_empty_cache(kCPU);
}

namespace {

// What fn() writes on file descriptor 2 (std::fprintf(stderr, ...) included).
std::string stderr_of(const std::function<void()>& fn) {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(::fileno(file), 2);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(file);
  std::string text;
  char buffer[256];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) text.append(buffer, n);
  std::fclose(file);
  return text;
}

// Raw calls for a pool under test: blocks from a fixed arena (so that those a
// broken pool drops are no leak), and a free that fails as cudaFree does for
// good after a kernel's illegal address.
alignas(64) unsigned char g_arena[2][256];
int g_arena_blocks_given = 0;
int g_frees_tried = 0;
void* arena_alloc(size_t bytes) { return bytes <= 256 && g_arena_blocks_given < 2 ? g_arena[g_arena_blocks_given++] : nullptr; }
const char* failing_free(void*, size_t) {
  ++g_frees_tried;
  return "an illegal memory access was encountered";
}

}  // namespace

TEST_CASE("a pool whose free fails says so once, never throws from a free, and allocates no more", "[tensor][allocator]") {
  // Tensors' destructors free through deallocate, also while an error
  // unwinds: a throw from there ended the process in std::terminate.
  CachingPool pool(Device::CUDA, arena_alloc, failing_free, 0);  // nothing cached: every free reaches raw_free
  void* first = pool.allocate(100);
  void* second = pool.allocate(100);
  const std::string reported = stderr_of([&] {
    CHECK_NOTHROW(pool.deallocate(first, 100));
    CHECK_NOTHROW(pool.deallocate(second, 100));
  });
  CHECK(reported == "dcsr: freeing cuda memory failed (an illegal memory access was encountered); the process "
                    "frees and allocates no more of it\n");
  CHECK(g_frees_tried == 1);  // the second free is not tried: it would fail the same way
  CHECK(pool.stats().bytes_in_use == 0);
  CHECK_THROWS_WITH(pool.allocate(100), "cuda memory is unusable: freeing a block failed earlier (an illegal memory "
                                        "access was encountered)");
}

TEST_CASE("generators are deterministic and their state round-trips", "[tensor][random]") {
  Generator a(42), b(42), c(43);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  Generator::State s = a.state();
  double x = a.uniform01();
  a.set_state(s);
  CHECK(a.uniform01() == x);
  // Moments of 20000 normal draws.
  Generator g(7);
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < 20000; ++i) {
    double v = g.normal();
    sum += v;
    sum_sq += v * v;
  }
  CHECK(std::abs(sum / 20000) < 0.03);
  CHECK(std::abs(sum_sq / 20000 - 1.0) < 0.05);
  for (int i = 0; i < 1000; ++i) {
    int64_t r = g.randint(3, 9);
    REQUIRE((r >= 3 && r < 9));
  }
}

TEST_CASE("CUDA requests without a GPU fail clearly", "[tensor][cuda]") {
  if (runtime::cuda_available()) {
    CHECK(zeros({2}, kFloat32, kCUDA).device() == kCUDA);
    return;
  }
  CHECK_THROWS_WITH(zeros({2}, kFloat32, kCUDA), Catch::Contains("CUDA"));
}
