// A 5x5 stride-2 convolution (padding 2) as a 3x3 stride-1 one (padding 1)
// over the input's four pixel phases, which the Winograd path then takes
// (kernels/cpu/conv_space_to_depth.cpp), staging each of its input windows
// from the input's phases (PhaseInput, winograd.h) rather than
// writing the phases out.
//
// With a - 2 = 2t + r (r in {0, 1}, t in {-1, 0, 1}) along each axis,
//   y[i] = sum over a of w[a] x[2i + a - 2] = sum over t, r of w[2t + r + 2] x_r[i + t],
// x_r[m] = x[2m + r] the phase image (0 past the edge, as the padding). So y
// is a 3x3 correlation, padding 1, of the 4 Cin phase planes
// (ci * 4 + 2 ry + rx) with the weights w'[co][ci * 4 + 2 ry + rx][ty + 1][tx + 1]
// = w[co][ci][2 ty + ry + 2][2 tx + rx + 2] (0 where that tap is past 4): 36
// taps for 25, but F(4x4, 3x3) multiplies 2.25 times an output where the
// direct 5x5 stride-2 conv multiplies 25.
#pragma once
#include <cstdint>

#include "kernels/cpu/conv2d_common.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/winograd.h"

namespace dcsr::kernels::cpu {

// Whether the rewrite applies: 5x5, stride 2, padding 2, one group (any size).
bool space_to_depth_applies(const ConvShape& s);

// The 3x3 stride-1 convolution it becomes (4 Cin channels, ceil(H/2) x ceil(W/2)).
ConvShape space_to_depth_shape(const ConvShape& s);

// y = epilogue(conv(x, w) + b) for a shape where space_to_depth_applies,
// through the Winograd variant m (2 or 4) of the 3x3 shape. b may be null.
// Returns false, having done nothing, when the rearranged weights (kept
// between calls for the same weights) and the Winograd scratch do not fit
// `limit` bytes.
// With `second`, x holds the input's first second->first_planes channels and
// second->x the rest (a concat along the channels, never written out).
bool space_to_depth_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y,
                            int64_t limit, const Epilogue& epilogue, int m, CpuIsa isa,
                            const SecondInput* second = nullptr);

}  // namespace dcsr::kernels::cpu
