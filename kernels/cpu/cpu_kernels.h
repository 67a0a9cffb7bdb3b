// CPU backend: one file per op under kernels/cpu/, float32 and float64.
#pragma once
#include "kernels/kernels.h"

namespace dcsr::kernels::cpu {
#include "kernels/kernel_list.inc"
}  // namespace dcsr::kernels::cpu
