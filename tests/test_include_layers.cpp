// The layering rule of the README's Layout: the backends' own headers
// (kernels/cpu/, kernels/cuda/) are private to kernels/. Code outside kernels/
// reaches them through the kernels/ headers (kernels.h, cpu_paths.h,
// cuda_baselines.h, conv_forward_plan.h). This test reads every source file of
// the tree outside kernels/ and fails naming each #include that breaks the rule.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_util.h"

namespace dcsr::test {

namespace {

namespace fs = std::filesystem;

// An #include of a header under kernels/cpu/ or kernels/cuda/, quoted or
// bracketed, also through "../" prefixes.
bool includes_backend_internals(const std::string& line) {
  static const std::regex include(R"re(^\s*#\s*include\s*[<"](\.\./)*kernels/(cpu|cuda)/)re");
  return std::regex_search(line, include);
}

bool is_source(const fs::path& p) {
  const std::string ext = p.extension().string();
  for (const char* e : {".cpp", ".cc", ".c", ".h", ".hpp", ".cu", ".cuh", ".inc"})
    if (ext == e) return true;
  return false;
}

// Directories under the root that hold no project source: build trees, git,
// outputs, the GPU bundle; and kernels/ itself, where the rule does not apply.
bool skipped_dir(const std::string& top) {
  return top == "kernels" || top.rfind("build", 0) == 0 || top.rfind(".", 0) == 0 || top == "out" ||
         top == "gpu_report";
}

struct Scan {
  std::vector<std::string> files;       // relative paths read
  std::vector<std::string> violations;  // "path:line: text"
};

Scan scan_tree(const fs::path& root) {
  Scan scan;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path rel = fs::relative(it->path(), root);
    if (it->is_directory()) {
      if (it.depth() == 0 && skipped_dir(rel.string())) it.disable_recursion_pending();
      continue;
    }
    if (it.depth() == 0 || !it->is_regular_file() || !is_source(it->path())) continue;
    scan.files.push_back(rel.generic_string());
    std::ifstream in(it->path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number)
      if (includes_backend_internals(line))
        scan.violations.push_back(rel.generic_string() + ":" + std::to_string(number) + ": " + line);
  }
  return scan;
}

}  // namespace

TEST_CASE("layers: nothing outside kernels/ includes kernels/cpu/ or kernels/cuda/", "[layers]") {
  // The matcher itself, on lines it must and must not flag.
  CHECK(includes_backend_internals("#include \"kernels/cpu/isa.h\""));
  CHECK(includes_backend_internals("  #  include <kernels/cuda/event_timing.h>"));
  CHECK(includes_backend_internals("#include \"../kernels/cuda/cublas_handle.h\""));
  CHECK_FALSE(includes_backend_internals("#include \"kernels/cpu_paths.h\""));
  CHECK_FALSE(includes_backend_internals("#include \"kernels/kernels.h\""));
  CHECK_FALSE(includes_backend_internals("// the twin of kernels/cpu/dot_sweep.h"));

  const Scan scan = scan_tree(fs::path(DCSR_SOURCE_DIR));
  // The scan reached the tree (a wrong root would pass vacuously).
  auto read = [&](const std::string& path) {
    return std::find(scan.files.begin(), scan.files.end(), path) != scan.files.end();
  };
  CHECK(read("tests/test_include_layers.cpp"));
  CHECK(read("apps/bench/bench_conv.cpp"));
  CHECK(read("tensor/tensor.h"));
  CHECK_FALSE(read("kernels/kernels.h"));
  for (const std::string& v : scan.violations)
    FAIL_CHECK(v << "\n  (use a kernels/ header: kernels.h, cpu_paths.h, cuda_baselines.h; or move the code into "
                    "kernels/)");
  CHECK(scan.violations.empty());
}

}  // namespace dcsr::test
