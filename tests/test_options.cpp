// Command-line options of the `dcsr` commands: numeric ranges named in the
// message, one-line errors, a folder given as --config, plot-log on a log
// with a garbage line (the built binary); the digits-only parser of the
// benches', studies' and checkpoints' counts.
#include <filesystem>

#include "cli_runner.h"
#include "tensor/error.h"

using namespace dcsr;
namespace fs = std::filesystem;
using test::run_dcsr;
using test::RunResult;

namespace {

// Every error the binary prints is one line (stderr and stdout together here;
// a failing run prints nothing else).
void require_one_line(const RunResult& r) {
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
}

}  // namespace

TEST_CASE("options: thread counts outside 1..1024 are refused with the range", "[options][cli]") {
  for (const char* n : {"100000", "60000", "1025", "0", "-3", "99999999999999999999"}) {
    RunResult r = run_dcsr(std::string("eval --data nothere --bicubic-only --threads ") + n);
    INFO(n);
    REQUIRE_FAILS_WITH(r, 2, "--threads expects an integer from 1 to 1024");
    require_one_line(r);
  }
  // In range: the command gets as far as its data.
  REQUIRE_FAILS_WITH(run_dcsr("eval --data nothere --bicubic-only --threads 1024"), 1, "nothere");
}

TEST_CASE("options: numeric options of every command name their range", "[options][cli]") {
  test::TempDir dir("options");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"train --data set --steps -1", "option --steps expects an integer from 0 to"},
      {"train --data set --epochs 0", "option --epochs expects an integer from 1 to"},
      {"train --data set --set lr=-1 --quiet", "lr must be a finite number > 0"},
      {"train --data set --set batch_size=0 --quiet", "batch_size must be from 1 to 4096"},
      {"train --data set --set patch_size=1000000 --quiet", "patch_size"},
      {"eval --data set --max-images -2", "--max-images expects an integer from 0 to"},
      {"plot-log log.jsonl --out a.png --width 100", "--width expects an integer from 400 to 8000"},
      {"plot-log log.jsonl --out a.png --smooth -1", "--smooth expects an integer from 0 to"},
      {"prepare --photos p --out o --seed -1", "--seed expects a non-negative integer"},
      {"prepare --photos p --out o --seed ' -1'", "--seed expects a non-negative integer"},
      {"prepare --photos p --out o --seed ' 5'", "--seed expects a non-negative integer"},
      {"eval --data set --model '' --json e.json", "option '--model' needs a value (M), got an empty one"},
      {"eval --data set --save-dir '' --json e.json", "option '--save-dir' needs a value"},
      {"eval --data set --device gpu --json e.json", "option --device expects cpu or cuda, got 'gpu'"},
  };
  for (const Case& c : cases) {
    RunResult r = run_dcsr(c.args, dir.str());
    INFO(c.args << "\n" << r.output);
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains(c.message));
    require_one_line(r);
  }
}

// The one parser of "digits only, in a range" (tensor/error.h) behind
// dcsr_bench --runs, the studies' --version and a checkpoint's rng_state.
TEST_CASE("options: parse_decimal_digits takes digits only, in the range, without wrapping", "[options]") {
  CHECK(parse_decimal_digits("0", 0, 10) == uint64_t(0));
  CHECK(parse_decimal_digits("007", 1, 10) == uint64_t(7));
  CHECK(parse_decimal_digits("100000", 1, 100000) == uint64_t(100000));
  CHECK(parse_decimal_digits("18446744073709551615", 0, UINT64_MAX) == UINT64_MAX);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "2abc", "0x10", "1e3", "1.0", "18446744073709551616",
                          "99999999999999999999999"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_decimal_digits(bad, 0, UINT64_MAX).has_value());
  }
  CHECK_FALSE(parse_decimal_digits("0", 1, 10).has_value());
  CHECK_FALSE(parse_decimal_digits("11", 1, 10).has_value());
}

TEST_CASE("options: --config naming a folder gets a clear message", "[options][cli]") {
  test::TempDir dir("options");
  fs::create_directories(dir / "conf");
  RunResult r = run_dcsr("train --data set --config conf --quiet", dir.str());
  REQUIRE_FAILS_WITH(r, 1, "config file 'conf' is a folder");
  require_one_line(r);
}

TEST_CASE("options: plot-log refuses a complete garbage line, forgives a cut last line", "[options][cli]") {
  test::TempDir dir("options");
  const std::string good = "{\"type\": \"train\", \"step\": 1, \"loss\": 1}\n{\"type\": \"train\", \"step\": 2, \"loss\": 0.5}\n";
  test::write_bytes(dir / "garbage_last.jsonl", good + "garbage\n");
  RunResult r = run_dcsr("plot-log garbage_last.jsonl --out a.png", dir.str());
  REQUIRE_FAILS_WITH(r, 1, "line 3 is not a JSON object");
  CHECK_FALSE(fs::exists(dir / "a.png"));
  test::write_bytes(dir / "cut.jsonl", good + "{\"type\": \"train\", \"st");
  RunResult cut = run_dcsr("plot-log cut.jsonl --out b.png", dir.str());
  INFO(cut.output);
  CHECK(cut.status == 0);
  CHECK_THAT(cut.output, Catch::Contains("incomplete last line 3"));
}
