// Element types, devices and shapes: the vocabulary every other header uses.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dcsr {

enum class DType : uint8_t { Float32 = 0, Float64 = 1, Int64 = 2 };
enum class Device : uint8_t { CPU = 0, CUDA = 1 };

constexpr DType kFloat32 = DType::Float32;
constexpr DType kFloat64 = DType::Float64;
constexpr DType kInt64 = DType::Int64;
constexpr Device kCPU = Device::CPU;
constexpr Device kCUDA = Device::CUDA;

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
DType dtype_from_name(const std::string& name);  // "float32" | "float64" | "int64"
inline bool is_floating(DType dtype) { return dtype != DType::Int64; }
const char* device_name(Device device);
Device device_from_name(const std::string& name);  // "cpu" | "cuda"

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }

// Shapes are plain vectors of int64 sizes; row-major (C order) is implied everywhere.
using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(2, 3, 4)"
// Row-major strides in elements: strides[d] = prod(shape[d+1:]).
std::vector<int64_t> contiguous_strides(const Shape& shape);
// Numpy broadcasting: aligned from the last dim, sizes must be equal or 1.
// Fails naming `op` and both shapes otherwise.
Shape broadcast_shape(const Shape& a, const Shape& b, const char* op);
// Wraps a possibly negative dim into [0, ndim); fails naming `op` when out of range.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace dcsr
