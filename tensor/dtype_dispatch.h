// Calls a generic body with the C++ type of a run-time dtype.
#pragma once
#include <cstdint>

#include "tensor/error.h"
#include "tensor/types.h"

namespace dcsr {

// Calls body(T{}) with T = float or double for the dtype; fails naming the op
// for any other dtype.
template <typename Body>
void dispatch_floating(DType dtype, const char* op, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    default: fail(op, ": unsupported dtype ", dtype_name(dtype), " on cpu");
  }
}

// Like dispatch_floating, plus int64.
template <typename Body>
void dispatch_all(DType dtype, const char* op, Body&& body) {
  if (dtype == DType::Int64) return body(int64_t{});
  dispatch_floating(dtype, op, body);
}

}  // namespace dcsr
