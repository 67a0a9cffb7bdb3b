// A tiny binary file of named tensors, used for golden reference values
// (written by tests/reference/golden_io.py) and for saving tensors in tests.
//
// Layout (little-endian):
//   8 bytes magic "DCSRTNS1", u32 version, u32 count, then per tensor:
//   u32 name length, name bytes, u8 dtype (0 f32, 1 f64, 2 i64), u8 ndim,
//   u16 reserved, i64 dims[ndim], raw row-major data.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace dcsr {

constexpr uint32_t kTensorFileVersion = 1;

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Writes atomically: a temporary file next to `path`, then a rename.
void save_tensors(const std::string& path, const NamedTensors& tensors);
// Reads every tensor to the CPU. Fails naming the file on a bad magic, a
// version other than kTensorFileVersion, or truncation.
std::map<std::string, Tensor> load_tensors(const std::string& path);

// Writes `bytes` to `path` atomically (temporary file, fsync, rename): a crash
// leaves either the old file or the new one, never half of one.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace dcsr
