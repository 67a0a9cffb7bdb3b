// The caching pool when its own bookkeeping cannot grow (runtime/caching_pool.h).
// Its free lists and its map of blocks lent from a larger class are standard
// containers: inserting into them can throw std::bad_alloc. deallocate runs
// from tensors' destructors, also while an exception unwinds, so it must not
// throw; allocate must leave the pool as it was.
//
// A binary of its own: it replaces the global operator new with one that
// throws on demand (`fail_next_news`), which the main suite should not get.
// Not built with the sanitizers (CMakeLists.txt): AddressSanitizer replaces
// operator new too.
#include <cstdlib>
#include <new>
#include <vector>

#include "../catch.h"
#include "runtime/caching_pool.h"

namespace {
thread_local int fail_next_news = 0;  // > 0: that many of this thread's next operator new calls throw
}  // namespace

void* operator new(size_t bytes) {
  if (fail_next_news > 0) {
    --fail_next_news;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(bytes ? bytes : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

using dcsr::CachingPool;
using dcsr::Device;

// Raw calls for the pools under test: malloc, and free that notes each block.
std::vector<void*> g_system_frees;
void* system_alloc(size_t bytes) { return std::malloc(bytes); }
const char* noted_free(void* ptr, size_t) {
  g_system_frees.push_back(ptr);
  std::free(ptr);
  return nullptr;
}

constexpr int64_t kCacheEverything = int64_t(1) << 40;

// Runs `call` with this thread's next `count` operator new calls failing.
template <typename Call>
void with_failing_news(int count, Call call) {
  fail_next_news = count;
  try {
    call();
  } catch (...) {
    fail_next_news = 0;
    throw;
  }
  fail_next_news = 0;
}

}  // namespace

TEST_CASE("a free whose free list cannot grow goes back to the system at once", "[allocator][bad_alloc]") {
  g_system_frees.clear();
  CachingPool pool(Device::CPU, system_alloc, noted_free, kCacheEverything);
  void* block = pool.allocate(5000);  // a size class the pool has never cached: its list is a new map node
  REQUIRE(block != nullptr);
  const int64_t in_use = pool.stats().bytes_in_use;
  CHECK(in_use >= 5000);

  with_failing_news(1, [&] { CHECK_NOTHROW(pool.deallocate(block, 5000)); });
  CHECK(fail_next_news == 0);  // the free list's insertion did call operator new
  REQUIRE(g_system_frees.size() == 1);
  CHECK(g_system_frees[0] == block);
  CHECK(pool.stats().bytes_in_use == 0);
  CHECK(pool.stats().bytes_cached == 0);

  // The pool goes on: the next block of that class comes from the system and is cached when freed.
  void* again = pool.allocate(5000);
  CHECK(pool.stats().system_allocs == 2);
  pool.deallocate(again, 5000);
  CHECK(pool.stats().bytes_cached == in_use);
  CHECK(g_system_frees.size() == 1);
  pool.empty_cache();
  CHECK(g_system_frees.size() == 2);
}

TEST_CASE("a free whose free list's vector cannot grow goes back to the system at once", "[allocator][bad_alloc]") {
  g_system_frees.clear();
  CachingPool pool(Device::CPU, system_alloc, noted_free, kCacheEverything);
  void* first = pool.allocate(5000);
  void* second = pool.allocate(5000);
  pool.deallocate(first, 5000);  // the list now exists and holds one block, at capacity
  const int64_t one_block = pool.stats().bytes_cached;

  with_failing_news(1, [&] { CHECK_NOTHROW(pool.deallocate(second, 5000)); });
  CHECK(fail_next_news == 0);
  REQUIRE(g_system_frees.size() == 1);
  CHECK(g_system_frees[0] == second);
  CHECK(pool.stats().bytes_cached == one_block);  // the block already cached stays
  CHECK(pool.stats().bytes_in_use == 0);
  CHECK(pool.allocate(5000) == first);
  pool.deallocate(first, 5000);
  pool.empty_cache();
}

TEST_CASE("an allocation that cannot note its block lent from a larger class throws and changes nothing",
          "[allocator][bad_alloc]") {
  g_system_frees.clear();
  CachingPool pool(Device::CPU, system_alloc, noted_free, kCacheEverything);
  const size_t mib = size_t(1) << 20;
  const size_t larger = mib + mib / 8;  // the next size class up, within a quarter: it may lend its block
  REQUIRE(dcsr::allocation_size_class(larger) == larger);
  REQUIRE(dcsr::allocation_size_class(mib) == mib);
  void* big = pool.allocate(larger);
  pool.deallocate(big, larger);
  const dcsr::AllocatorStats before = pool.stats();
  REQUIRE(before.bytes_cached == int64_t(larger));

  with_failing_news(1, [&] { CHECK_THROWS_AS(pool.allocate(mib), std::bad_alloc); });
  const dcsr::AllocatorStats after = pool.stats();
  CHECK(after.bytes_cached == before.bytes_cached);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(after.cache_hits == before.cache_hits);
  CHECK(after.system_allocs == before.system_allocs);

  // Still on its list: the next request gets it, and its free returns it to its own class.
  void* lent = pool.allocate(mib);
  CHECK(lent == big);
  CHECK(pool.stats().bytes_in_use == int64_t(larger));
  pool.deallocate(lent, mib);
  CHECK(pool.stats().bytes_cached == int64_t(larger));
  CHECK(pool.stats().bytes_in_use == 0);
  CHECK(pool.allocate(larger) == big);  // found in its own class's list
  pool.deallocate(big, larger);
  pool.empty_cache();
  CHECK(g_system_frees.size() == 1);
}
