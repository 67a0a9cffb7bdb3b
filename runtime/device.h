// Device queries, raw device memory, copies and synchronisation: the few calls
// the tensor core needs to hold and move bytes. Without a CUDA build (or without a GPU) the
// CUDA entry points fail with a message that says so; `cuda_available()` never
// throws.
#pragma once
#include <cstddef>
#include <string>

#include "tensor/types.h"

namespace dcsr::runtime {

bool cuda_built();      // compiled with the CUDA backend
bool cuda_available();  // built and a device answered; any runtime error counts as "no GPU"
// Whether cuda_available() has been asked and found a device, so that the CUDA
// runtime holds a driver connection this process will tear down at exit.
// Never asks itself (a CPU-only run stays without the CUDA runtime).
bool cuda_runtime_started();
// Why CUDA is unavailable ("built without CUDA", or the runtime's error string).
std::string cuda_unavailable_reason();
std::string cuda_device_description();  // "NVIDIA H100 80GB HBM3 (sm_90, driver 12.4)"

// Null when the device is out of memory; fails on any other CUDA error.
void* cuda_raw_alloc(size_t bytes);
// Never throws (the caching pool frees from tensors' destructors): null, or
// the CUDA error's text when cudaFree failed.
const char* cuda_raw_free(void* ptr, size_t bytes) noexcept;
void cuda_synchronize();
// Makes device `index % device count` the current one (data-parallel ranks:
// one GPU per rank). Call before anything is allocated on the device.
void cuda_select_device(int index);

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace dcsr::runtime
