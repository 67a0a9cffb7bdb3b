// The op table: every differentiable op registered once, in the manner of
// ggml's test-backend-ops. A row names the op (the name its forward passes to
// autograd::record), says how to make its inputs and how to call it, its
// tolerances, its PyTorch goldens and its bench sizes. tests/test_op_table.cpp
// drives every check from it:
//   - the float64 gradcheck (random upstream gradient) of every kGradcheck case;
//   - CPU-vs-CUDA parity, forward and backward, in float32, of every kParity
//     case (skipped with "SKIPPED: no GPU" without one);
//   - the comparison with the goldens of tests/golden/ (tests/reference/);
//   - that every autograd::record in the library names an op with a row, and
//     that running a row records its op and only ops that have rows.
// apps/bench takes the sizes of the ops it times from the rows' `bench`.
//
// Adding an op: its kernels, its autograd pair, one row in tests/op_rows_*.h
// (README, "How to add an op"). Header-only and without Catch2: apps/bench includes it.
#pragma once
#include <string>
#include <vector>

#include "op_rows_core.h"
#include "op_rows_dcsr.h"
#include "op_rows_image.h"
#include "op_table_types.h"

namespace dcsr::test {

// Every row, in the order core, image, dcsr.
inline const std::vector<OpRow>& op_table() {
  static const std::vector<OpRow> table = [] {
    std::vector<OpRow> rows;
    for (auto family : {core_rows, image_rows, dcsr_rows})
      for (OpRow& row : family()) rows.push_back(std::move(row));
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        DCSR_CHECK(rows[i].name != rows[j].name, "op table: two rows for ", rows[i].name);
    return rows;
  }();
  return table;
}

// The row of `name`; an Error names an op without one.
inline const OpRow& op_row(const std::string& name) {
  for (const OpRow& row : op_table())
    if (row.name == name) return row;
  fail("op table: no row for op ", name, " (tests/op_rows_*.h)");
}

}  // namespace dcsr::test
