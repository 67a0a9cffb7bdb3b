// Matrix products.
#pragma once
#include "tensor/tensor.h"

namespace dcsr {

// a @ b with optional transposes of the stored operands.
//   (M,K) @ (K,N) -> (M,N)
//   (B,M,K) @ (B,K,N) -> (B,M,N)     batched
//   (B,M,K) @ (K,N) -> (B,M,N)       one matrix shared by the batch
// With trans_a, a is stored as (K,M) / (B,K,M); with trans_b, b as (N,K) / (B,N,K).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

}  // namespace dcsr
