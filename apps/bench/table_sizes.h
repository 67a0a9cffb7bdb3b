// The sizes the benches time an op at, from the op table (tests/op_table.h,
// each row's `bench`), so that no bench lists an op's shapes again. A size
// whose label is "cuda" or "cuda_<part>" belongs to the GPU benches
// (bench_cuda.cpp), every other one to the CPU benches; the rest of the label
// (`part`) names the bench where the sizes alone do not say it.
#pragma once
#include <string>
#include <vector>

#include "apps/bench/bench.h"
#include "tests/op_table.h"

namespace dcsr::bench {

struct TableSize {
  std::string part;            // the label without "cuda" / "cuda_"; may be empty
  std::vector<int64_t> sizes;  // what they mean is said at the row
};

// The sizes of `op`'s row for `device` that run in this mode (--quick or not).
inline std::vector<TableSize> table_sizes(const Context& ctx, const std::string& op, Device device) {
  std::vector<TableSize> out;
  for (const test::BenchSize& size : test::op_row(op).bench) {
    const bool gpu = size.label == "cuda" || size.label.rfind("cuda_", 0) == 0;
    if (gpu != (device == kCUDA) || !size.runs(ctx.quick)) continue;
    out.push_back({gpu ? size.label.substr(size.label == "cuda" ? 4 : 5) : size.label, size.sizes});
  }
  return out;
}

}  // namespace dcsr::bench
