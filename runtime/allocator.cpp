#include "runtime/allocator.h"

#include <cstdlib>

#include "runtime/caching_pool.h"
#include "runtime/device.h"
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

void* cpu_raw_alloc(size_t bytes) { return std::aligned_alloc(64, bytes); }
const char* cpu_raw_free(void* ptr, size_t) {
  std::free(ptr);
  return nullptr;
}

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
