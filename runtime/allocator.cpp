#include "runtime/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "runtime/device.h"
#include "runtime/profiler.h"
#include "tensor/error.h"

namespace dcsr {

size_t allocation_size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  // Round up to a multiple of 1/8 of the largest power of two <= bytes.
  int top = 63 - __builtin_clzll(bytes);
  size_t step = size_t(1) << (top - 3);
  return (bytes + step - 1) / step * step;
}

namespace {

int64_t env_megabytes(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  if (!value || !*value) return fallback;
  char* end = nullptr;
  long long mb = std::strtoll(value, &end, 10);
  DCSR_CHECK(end && *end == 0 && mb >= 0, "environment variable ", name, "='", value,
             "' is not a non-negative number of megabytes");
  return int64_t(mb) << 20;
}

// One caching pool per device. `raw_alloc`/`raw_free` talk to the OS or driver.
class CachingPool {
 public:
  using RawAlloc = void* (*)(size_t);
  using RawFree = void (*)(void*, size_t);

  CachingPool(Device device, RawAlloc raw_alloc, RawFree raw_free, int64_t cache_limit)
      : device_(device), raw_alloc_(raw_alloc), raw_free_(raw_free), cache_limit_(cache_limit) {}

  void* allocate(size_t bytes) {
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    void* ptr = nullptr;
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) it = larger_free_block(size);
    if (it != free_.end()) {
      ptr = it->second.back();
      it->second.pop_back();
      if (it->first != size) larger_blocks_[ptr] = it->first;
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

  void deallocate(void* ptr, size_t bytes) {
    if (!ptr) return;
    size_t size = allocation_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!larger_blocks_.empty())
      if (const auto it = larger_blocks_.find(ptr); it != larger_blocks_.end()) {
        size = it->second;
        larger_blocks_.erase(it);
      }
    stats_.bytes_in_use -= int64_t(size);
    free_[size].push_back(ptr);
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
  void system_free(void* ptr, size_t size) {
    // Frees run from tensors' destructors: a failed device sync (profiling
    // only) must not throw from here, so such a free goes untimed.
    std::optional<runtime::KernelScope> scope;
    try {
      scope.emplace("allocator:system_free", device_);
    } catch (...) {
    }
    raw_free_(ptr, size);
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
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;  // size class -> free blocks
  // Blocks in use that came from a larger class's free list (larger_free_block) -> that class.
  std::unordered_map<void*, size_t> larger_blocks_;
  static constexpr size_t kLargerFromBytes = size_t(1) << 20;
  AllocatorStats stats_;
};

void* cpu_raw_alloc(size_t bytes) { return std::aligned_alloc(64, bytes); }
void cpu_raw_free(void* ptr, size_t) { std::free(ptr); }

// The pools are never destroyed: a tensor in static storage may be freed
// after a static pool's destructor ran, and a destroyed pool's map dropped
// its cached blocks, which LeakSanitizer reported as leaks at every exit. The
// cached blocks stay reachable from here until the process ends.
CachingPool& pool(Device device) {
  if (device == Device::CPU) {
    static CachingPool& cpu_pool =
        *new CachingPool(Device::CPU, cpu_raw_alloc, cpu_raw_free, env_megabytes("DCSR_CPU_CACHE_MB", int64_t(2048) << 20));
    return cpu_pool;
  }
  static CachingPool& cuda_pool = *new CachingPool(Device::CUDA, runtime::cuda_raw_alloc, runtime::cuda_raw_free,
                                                   env_megabytes("DCSR_CUDA_CACHE_MB", INT64_MAX));
  return cuda_pool;
}

}  // namespace

void* device_allocate(Device device, size_t bytes) { return pool(device).allocate(bytes); }
void device_deallocate(Device device, void* ptr, size_t bytes) { pool(device).deallocate(ptr, bytes); }
AllocatorStats allocator_stats(Device device) { return pool(device).stats(); }
void allocator_reset_peak(Device device) { pool(device).reset_peak(); }
void allocator_empty_cache(Device device) { pool(device).empty_cache(); }
void allocator_set_cache_limit(Device device, int64_t bytes) { pool(device).set_cache_limit(bytes); }

}  // namespace dcsr
