// The one driver of the op table (tests/op_table.h). For every row it
// registers, at start-up, the Catch2 test cases
//   "op table: gradcheck <op>"    [ops][grad]    float64 finite differences, random upstream gradient
//   "op table: cuda parity <op>"  [cuda]         float32 CPU vs CUDA, forward and backward
//   "op table: golden <op>"       [ops][golden]  against tests/golden/ (rows with goldens)
// so that ctest lists one test per op and check. Two more cases check the
// table itself: every autograd::record in the library names an op with a row,
// and running the rows records their ops and only ops that have rows.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cuda_parity.h"
#include "op_table.h"

using namespace dcsr;
using namespace dcsr::test;

namespace {

std::shared_ptr<void> enter(const OpCase& c) { return c.scope ? c.scope() : nullptr; }

void run_gradchecks(const OpRow& row) {
  int64_t checked = 0;
  for (const OpCase& c : row.cases) {
    if (!(c.checks & kGradcheck)) continue;
    INFO(row.name << ": " << c.label);
    std::shared_ptr<void> scope = enter(c);
    require_gradcheck(c.call, c.inputs(kFloat64), c.gradcheck.value_or(row.gradcheck));
    ++checked;
  }
  INFO(row.name << " has no gradcheck case");
  REQUIRE(checked > 0);
}

void run_parity(const OpRow& row) {
  DCSR_SKIP_WITHOUT_GPU();
  DirectCpuConvolutions direct;  // the reference sums as the GPU does (cuda_parity.h)
  int64_t checked = 0;
  for (const OpCase& c : row.cases) {
    if (!(c.checks & kParity)) continue;
    const ParityTolerance t = c.parity.value_or(row.parity);
    std::shared_ptr<void> scope = enter(c);
    require_parity(row.name + " " + c.label, c.call, c.inputs(kFloat32), Parity{t.atol, t.rtol, t.grad_atol, t.grad_rtol});
    ++checked;
  }
  INFO(row.name << " has no parity case");
  REQUIRE(checked > 0);
}

void run_goldens(const OpRow& row) {
  for (const OpGolden& file : row.goldens) {
    const GoldenFile g = golden(file.file);
    for (const GoldenRun& run : file.runs(g)) {
      const std::string what = row.name + " " + file.file + " " + run.label;
      INFO(what);
      TensorList outputs = run.call(run.inputs);
      REQUIRE(outputs.size() >= run.outputs.size());
      TensorList roots, seeds;
      for (size_t k = 0; k < outputs.size(); ++k) {
        const std::string key = k < run.outputs.size() ? run.outputs[k] : "";
        if (!key.empty()) {
          const Tensor& want = g.at(key);
          if (want.numel() != 1) REQUIRE(outputs[k].shape() == want.shape());
          if (!is_floating(outputs[k].dtype()))
            REQUIRE(outputs[k].to_vector<int64_t>() == want.to_vector<int64_t>());
          else
            require_close(outputs[k], want.to_vector<double>(), run.atol, run.rtol, what + " " + key);
        }
        const std::string up = k < run.upstream.size() ? run.upstream[k] : "";
        if (!up.empty() && outputs[k].requires_grad()) {
          roots.push_back(outputs[k]);
          seeds.push_back(g.at(up).reshape(outputs[k].shape()));
        }
      }
      if (!roots.empty()) autograd::run_backward(roots, seeds, false);
      const double gatol = run.grad_atol < 0 ? run.atol : run.grad_atol;
      const double grtol = run.grad_rtol < 0 ? run.rtol : run.grad_rtol;
      for (size_t i = 0; i < run.grads.size() && i < run.inputs.size(); ++i) {
        if (run.grads[i].empty()) continue;
        INFO("gradient of input " << i);
        REQUIRE(run.inputs[i].grad().defined());
        require_close(run.inputs[i].grad(), g.at(run.grads[i]), gatol, grtol, what + " " + run.grads[i]);
      }
    }
  }
}

// One registered test: a check of one row, looked up by name when it runs.
class RowTest : public Catch::ITestInvoker {
 public:
  RowTest(void (*check)(const OpRow&), std::string op) : check_(check), op_(std::move(op)) {}
  void invoke() const override { check_(op_row(op_)); }

 private:
  void (*check_)(const OpRow&);
  std::string op_;
};

void register_row_tests() {
  for (const OpRow& row : op_table()) {
    auto add = [&row](void (*check)(const OpRow&), const std::string& what, const std::string& tags) {
      dcsr_test::register_test(new RowTest(check, row.name), CATCH_INTERNAL_LINEINFO,
                               "op table: " + what + " " + row.name, tags);
    };
    add(run_gradchecks, "gradcheck", "[ops][grad][table]");
    add(run_parity, "cuda parity", "[cuda][table]");
    if (!row.goldens.empty()) add(run_goldens, "golden", "[ops][golden][table]");
  }
}
const bool registered = (register_row_tests(), true);

// ---------------------------------------------------------------- does every op have a row?

// The autograd::record calls whose name is not a literal, and the names they
// record (read from the code around them). A new call of that kind must be
// listed here, which is where its rows are remembered.
const std::map<std::string, std::vector<std::string>> kRecordsByVariable = {
    {"autograd/ops/image.cpp: op", {"conv2d", "conv2d_leaky_relu", "conv2d_residual"}},  // convolve(op, ...)
    {"autograd/ops/reduce.cpp: name", {"max", "min"}},                                  // extreme(..., take_min)
};

// The names passed to autograd::record anywhere in the library's sources.
std::set<std::string> recorded_in_sources(std::vector<std::string>& unlisted) {
  namespace fs = std::filesystem;
  const fs::path root(DCSR_SOURCE_DIR);
  const std::regex call(R"re(autograd::record\(\s*(?:"([A-Za-z0-9_]+)"|([A-Za-z_][A-Za-z0-9_]*)))re");
  std::set<std::string> names;
  for (const char* dir : {"runtime", "tensor", "autograd", "kernels", "nn", "dcsr", "io", "apps"}) {
    if (!fs::is_directory(root / dir)) continue;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root / dir)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".h" && ext != ".cu" && ext != ".cuh")) continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string source = text.str();
      for (auto m = std::sregex_iterator(source.begin(), source.end(), call); m != std::sregex_iterator(); ++m) {
        if ((*m)[1].matched) {
          names.insert((*m)[1].str());
          continue;
        }
        const std::string site = fs::relative(entry.path(), root).generic_string() + ": " + (*m)[2].str();
        auto listed = kRecordsByVariable.find(site);
        if (listed == kRecordsByVariable.end()) {
          unlisted.push_back(site);
          continue;
        }
        names.insert(listed->second.begin(), listed->second.end());
      }
    }
  }
  return names;
}

// The names of the nodes of the graph behind `outputs`.
std::set<std::string> graph_names(const TensorList& outputs) {
  std::set<std::string> names;
  std::set<const Node*> seen;
  std::vector<std::shared_ptr<Node>> todo;
  for (const Tensor& t : outputs)
    if (t.defined() && t.grad_fn()) todo.push_back(t.grad_fn());
  while (!todo.empty()) {
    std::shared_ptr<Node> node = todo.back();
    todo.pop_back();
    if (!seen.insert(node.get()).second) continue;
    if (node->name() != "AccumulateGrad") names.insert(node->name());
    for (const Edge& e : node->next_edges())
      if (e.valid()) todo.push_back(e.node);
  }
  return names;
}

}  // namespace

TEST_CASE("op table: every autograd::record in the library names an op with a row", "[ops][table]") {
  std::vector<std::string> unlisted;
  const std::set<std::string> recorded = recorded_in_sources(unlisted);
  for (const std::string& site : unlisted) {
    INFO(site << ": autograd::record with a name that is not a literal; list the names it records in "
                 "kRecordsByVariable (tests/test_op_table.cpp) and give each a row");
    CHECK(false);
  }
  // The scan found the library (a wrong path would find nothing and pass).
  REQUIRE(recorded.count("add") == 1);
  REQUIRE(recorded.count("contextual_loss") == 1);
  std::set<std::string> rows;
  for (const OpRow& row : op_table()) {
    rows.insert(row.name);
    INFO(row.name << (row.composite ? " is marked composite but autograd::record names it"
                                    : " has a row but no autograd::record names it (mark a composite as such)"));
    CHECK(recorded.count(row.name) == (row.composite ? 0u : 1u));
  }
  for (const std::string& name : recorded) {
    INFO("autograd::record(\"" << name << "\", ...) has no row in the op table (tests/op_rows_*.h)");
    CHECK(rows.count(name) == 1);
  }
}

TEST_CASE("op table: running a row records its op, and only ops that have rows", "[ops][table]") {
  std::set<std::string> rows;
  for (const OpRow& row : op_table()) rows.insert(row.name);
  for (const OpRow& row : op_table()) {
    INFO(row.name);
    std::set<std::string> names;
    for (const OpCase& c : row.cases) {
      if (!(c.checks & kGradcheck)) continue;
      std::shared_ptr<void> scope = enter(c);
      const std::set<std::string> here = graph_names(c.call(c.inputs(kFloat64)));
      names.insert(here.begin(), here.end());
    }
    if (!row.unrecorded_here.empty()) {
      WARN(row.name << ": not recorded here (" << row.unrecorded_here << ")");
      CHECK(names.count(row.name) == 0);
      continue;
    }
    REQUIRE(!names.empty());
    if (!row.composite) CHECK(names.count(row.name) == 1);
    for (const std::string& name : names) {
      INFO("recorded " << name << ", which has no row");
      CHECK(rows.count(name) == 1);
    }
  }
}
