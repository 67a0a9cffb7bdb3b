// All differentiable ops of the library, by family. Every op records its
// backward when grad mode is on and an input requires grad.
#pragma once
#include "autograd/function.h"
#include "autograd/ops/dcsr_ops.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/image.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape.h"
