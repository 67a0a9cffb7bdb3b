// Caching allocators. Freshly mapped memory page-faults on first touch, and a
// big buffer returned to the OS between two calls has to be faulted in again:
// that alone can cost a convolution most of its speed. So freed blocks go to a
// size-class free list and are handed out again for the next request of the
// same class; the OS sees only the peak.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/types.h"

namespace dcsr {

struct AllocatorStats {
  int64_t bytes_in_use = 0;       // held by live tensors (size-class rounded)
  int64_t peak_bytes_in_use = 0;  // since the last reset_peak()
  int64_t bytes_cached = 0;       // free blocks kept for reuse
  int64_t system_allocs = 0;      // blocks obtained from the OS / driver
  int64_t cache_hits = 0;         // requests served from the free lists
};

// Size classes: multiples of 64 bytes up to 4 KiB, then 8 classes per power
// of two (at most 12.5% rounding waste).
size_t allocation_size_class(size_t bytes);

// Every allocation is 64-byte aligned (CPU) or 256-byte aligned (CUDA).
void* device_allocate(Device device, size_t bytes);
void device_deallocate(Device device, void* ptr, size_t bytes);

AllocatorStats allocator_stats(Device device);
void allocator_reset_peak(Device device);
// Returns every cached free block to the OS / driver.
void allocator_empty_cache(Device device);
// Upper bound on the bytes kept in free lists; above it the largest free
// blocks are released. Default from DCSR_CPU_CACHE_MB (CPU, default 2048) and
// DCSR_CUDA_CACHE_MB (CUDA, default unlimited).
void allocator_set_cache_limit(Device device, int64_t bytes);

}  // namespace dcsr
