// The caching pool behind device_allocate (runtime/allocator.h), one per
// device, over the raw allocation calls of the OS or the driver. In a header
// of its own so that tests can run one over raw calls of their own (a free
// that fails, as cudaFree does after a kernel's illegal address).
#pragma once
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "runtime/allocator.h"
#include "runtime/profiler.h"
#include "tensor/error.h"

namespace dcsr {

// One caching pool per device. `raw_alloc`/`raw_free` talk to the OS or driver.
// raw_alloc returns null when out of memory; raw_free never throws (frees run
// from tensors' destructors) and returns null, or the reason its free failed.
class CachingPool {
 public:
  using RawAlloc = void* (*)(size_t);
  using RawFree = const char* (*)(void*, size_t);

  CachingPool(Device device, RawAlloc raw_alloc, RawFree raw_free, int64_t cache_limit)
      : device_(device), raw_alloc_(raw_alloc), raw_free_(raw_free), cache_limit_(cache_limit) {}

  void* allocate(size_t bytes) {
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    DCSR_CHECK(!free_failure_, device_name(device_), " memory is unusable: freeing a block failed earlier (",
               free_failure_, ")");
    void* ptr = nullptr;
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) it = larger_free_block(size);
    if (it != free_.end()) {
      ptr = it->second.back();
      // Noted before the block leaves its list: a bad_alloc here leaves the pool as it was.
      if (it->first != size) larger_blocks_[ptr] = it->first;
      it->second.pop_back();
      size = it->first;
      stats_.bytes_cached -= int64_t(size);
      stats_.cache_hits++;
    } else {
      ptr = system_alloc(size);
      if (!ptr) {
        // Out of memory: give back everything cached and try once more.
        release_until(0);
        ptr = system_alloc(size);
      }
      DCSR_CHECK(ptr, "out of memory allocating ", size, " bytes (", stats_.bytes_in_use,
                 " bytes in use)");
      stats_.system_allocs++;
    }
    stats_.bytes_in_use += int64_t(size);
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return ptr;
  }

  // Runs from tensors' destructors, also while an exception unwinds: it
  // never throws. A block the free lists cannot take (their growth failed
  // with bad_alloc) goes back to the OS or driver at once.
  void deallocate(void* ptr, size_t bytes) noexcept {
    if (!ptr) return;
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!larger_blocks_.empty())
      if (const auto it = larger_blocks_.find(ptr); it != larger_blocks_.end()) {
        size = it->second;
        larger_blocks_.erase(it);
      }
    stats_.bytes_in_use -= int64_t(size);
    try {
      free_[size].push_back(ptr);
    } catch (...) {
      system_free(ptr, size);
      return;
    }
    stats_.bytes_cached += int64_t(size);
    if (stats_.bytes_cached > cache_limit_) release_until(cache_limit_);
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_until(0);
  }
  void set_cache_limit(int64_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_limit_ = limit;
    release_until(limit);
  }

 private:
  // The OS's or driver's allocation calls, each a row of DCSR_PROFILE's table
  // (runtime/profiler.h; inside a kernel's scope they count as the kernel's):
  // cudaMalloc and cudaFree (which waits for the device) are slow enough to
  // matter when a cache is emptied often.
  void* system_alloc(size_t size) {
    runtime::KernelScope scope("allocator:system_alloc", device_);
    return raw_alloc_(size);
  }
  // Frees run from tensors' destructors, also while an exception unwinds,
  // so nothing here throws. A failed device sync (profiling only) leaves the
  // free untimed. A failed free (after a kernel's illegal address every CUDA
  // call fails: the checked call that meets the error first throws it) is
  // reported once, on one line, and breaks the pool: it frees nothing more
  // (each free would fail again; the driver reclaims the blocks at exit) and
  // refuses to allocate, naming the failure.
  void system_free(void* ptr, size_t size) noexcept {
    if (free_failure_) return;
    std::optional<runtime::KernelScope> scope;
    try {
      scope.emplace("allocator:system_free", device_);
    } catch (...) {
    }
    free_failure_ = raw_free_(ptr, size);
    if (free_failure_)
      std::fprintf(stderr, "dcsr: freeing %s memory failed (%s); the process frees and allocates no more of it\n",
                   device_name(device_), free_failure_);
  }

  // For a request of `size` bytes (a class of at least kLargerFromBytes) whose
  // class has no free block: the free list of the smallest larger class, at
  // most a quarter larger, that has one (or free_.end()). Tensors of a few
  // neighbouring sizes that take turns, as the frames of DcsrNet's
  // SR-resolution stages do (a 4K-mode tile's 316, 288 and 268 px a side),
  // then share their blocks instead of each size keeping its own: the peak
  // RSS of a whole 2016 x 1512 image in 4K mode was 0.79-0.81 GB without
  // this, 0.68 GB with it, 0.65-0.67 GB before those frames.
  std::map<size_t, std::vector<void*>>::iterator larger_free_block(size_t size) {
    if (size < kLargerFromBytes) return free_.end();
    for (auto it = free_.upper_bound(size); it != free_.end() && it->first <= size + size / 4; ++it)
      if (!it->second.empty()) return it;
    return free_.end();
  }

  // Frees the largest cached blocks first until at most `limit` bytes stay cached.
  void release_until(int64_t limit) {
    for (auto it = free_.rbegin(); it != free_.rend() && stats_.bytes_cached > limit; ++it) {
      while (!it->second.empty() && stats_.bytes_cached > limit) {
        system_free(it->second.back(), it->first);
        it->second.pop_back();
        stats_.bytes_cached -= int64_t(it->first);
      }
    }
  }

  Device device_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  int64_t cache_limit_;
  const char* free_failure_ = nullptr;  // why a free failed: the pool is broken
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  // Blocks in use that came from a larger class's free list (larger_free_block) -> that class.
  std::unordered_map<void*, size_t> larger_blocks_;
  static constexpr size_t kLargerFromBytes = size_t(1) << 20;
  AllocatorStats stats_;
};

}  // namespace dcsr
