// The types of the op table (tests/op_table.h): a row, its cases, goldens and
// bench sizes, and shorthands for writing rows.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "op_inputs.h"

namespace dcsr::test {

// Float32 CPU-versus-CUDA tolerances: |cuda - cpu| <= atol + rtol |cpu|, for the
// outputs and for the input gradients (< 0: the outputs'). int64 outputs are
// always compared exactly.
struct ParityTolerance {
  double atol = 1e-5;
  double rtol = 1e-5;
  double grad_atol = -1.0;
  double grad_rtol = -1.0;
  constexpr ParityTolerance() = default;
  constexpr ParityTolerance(double atol_, double rtol_, double grad_atol_ = -1.0, double grad_rtol_ = -1.0)
      : atol(atol_), rtol(rtol_), grad_atol(grad_atol_), grad_rtol(grad_rtol_) {}
};

// "Exact" parity: a nonzero tolerance far below any float32 difference at the
// magnitudes used (the comparison divides by it).
inline constexpr double kExact = 1e-12;
inline constexpr ParityTolerance kExactParity{kExact, 0.0, kExact, 0.0};

// Which checks run a case.
enum OpCheck : unsigned { kGradcheck = 1, kParity = 2, kBothChecks = 3 };

struct OpCase {
  std::string label;  // what is special about it: "per-channel (2,3,2,2) with (1,3,1,1)"
  unsigned checks = kBothChecks;
  // CPU inputs in the given floating dtype (kFloat64 for the gradcheck,
  // kFloat32 for parity); those that require grad are checked. Integer inputs
  // (indices) stay int64.
  std::function<TensorList(DType)> inputs;
  TensorFunction call;
  std::optional<GradcheckOptions> gradcheck;  // else the row's
  std::optional<ParityTolerance> parity;      // else the row's
  // Held for the whole check (both devices, forward and backward): a smaller
  // conv workspace, a smaller tile limit. Null: none.
  std::function<std::shared_ptr<void>()> scope;
};

using GoldenFile = std::map<std::string, Tensor>;

// One comparison with a golden file: `call` on `inputs` (float64 CPU leaves
// from the file; those that require grad get their gradient compared), each
// output against its key (int64 outputs exactly), then backward with the
// upstream gradients of the file and each input's gradient against its key.
struct GoldenRun {
  std::string label;
  TensorList inputs;
  TensorFunction call;
  std::vector<std::string> outputs;   // per output: its golden key ("" = not compared)
  std::vector<std::string> upstream;  // per floating output: the key of its upstream gradient ("" = none)
  std::vector<std::string> grads;     // per input: the key of its gradient ("" = not compared)
  double atol = 1e-12, rtol = 1e-10;            // outputs (tests/reference/README.md)
  double grad_atol = -1.0, grad_rtol = -1.0;    // gradients; < 0: the outputs'
  GoldenRun() = default;
  GoldenRun(std::string label_, TensorList inputs_, TensorFunction call_, std::vector<std::string> outputs_,
            std::vector<std::string> upstream_, std::vector<std::string> grads_)
      : label(std::move(label_)), inputs(std::move(inputs_)), call(std::move(call_)), outputs(std::move(outputs_)),
        upstream(std::move(upstream_)), grads(std::move(grads_)) {}
};

struct OpGolden {
  std::string file;  // tests/golden/<file>.bin, written by tests/reference/make_goldens.py
  std::function<std::vector<GoldenRun>(const GoldenFile&)> runs;
};

// Sizes a bench times the op at; their meaning is the row's (see its comment).
struct BenchSize {
  std::string label;  // part of the bench's name where the sizes alone do not say it
  std::vector<int64_t> sizes;
  enum When { kAlways, kQuickOnly, kFullOnly } when = kAlways;
  BenchSize(std::string label_, std::vector<int64_t> sizes_, When when_ = kAlways)
      : label(std::move(label_)), sizes(std::move(sizes_)), when(when_) {}
  bool runs(bool quick) const { return when == kAlways || (quick ? when == kQuickOnly : when == kFullOnly); }
};

struct OpRow {
  std::string name;  // the name the op passes to autograd::record
  // A composite: a public op made of recorded ops (mean, l1_loss,
  // patch_match, ...), checked whole because it has its own golden or shape
  // rules. Its name is the function's, and it records no node of that name.
  bool composite = false;
  // Non-empty: why running the row in one test process records no node of its
  // name (an op that is the identity on one MPI rank).
  std::string unrecorded_here;
  std::vector<OpCase> cases;
  GradcheckOptions gradcheck;  // float64 finite differences
  ParityTolerance parity;      // float32 CPU vs CUDA
  std::vector<OpGolden> goldens;
  std::vector<BenchSize> bench;
  explicit OpRow(std::string name_, bool composite_ = false) : name(std::move(name_)), composite(composite_) {}
};

// Shorthands for rows.
inline TensorFunction unary(std::function<Tensor(const Tensor&)> f) {
  return [f](const TensorList& in) { return TensorList{f(in[0])}; };
}
inline TensorFunction binary(std::function<Tensor(const Tensor&, const Tensor&)> f) {
  return [f](const TensorList& in) { return TensorList{f(in[0], in[1])}; };
}
// A case whose inputs are made by `inputs` and whose call is `call`.
inline OpCase make_case(std::string label, unsigned checks, std::function<TensorList(DType)> inputs,
                        TensorFunction call, std::optional<ParityTolerance> parity = std::nullopt) {
  OpCase c;
  c.label = std::move(label);
  c.checks = checks;
  c.inputs = std::move(inputs);
  c.call = std::move(call);
  c.parity = parity;
  return c;
}
// "{2, 3}" for labels.
inline std::string dims_label(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

}  // namespace dcsr::test
