// The output rules (io/output_rules.h), one test per rule: through the
// library (OutputPlan) and through the real `dcsr` binary for every
// input/output option pair of eval, export, plot-log, demo and prepare.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "io/output_rules.h"
#include "runtime/signals.h"

using namespace dcsr;
using test::RunResult;
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pid of a child that has exited and been reaped: no process has it (until reused).
pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

std::string pid_str() { return std::to_string(::getpid()); }

}  // namespace

TEST_CASE("output rules: an output that is an input or another output is refused", "[output_rules]") {
  test::TempDir dir("rules");
  test::write_bytes(dir / "in.png", "input bytes");
  fs::create_directories(dir / "sub");
  fs::create_symlink(dir.str(), dir / "sub/up");  // sub/up/in.png is in.png through a folder link
  REQUIRE(::link((dir / "in.png").c_str(), (dir / "hard.png").c_str()) == 0);
  for (const std::string& out : {dir / "in.png", dir / "sub/../in.png", dir / "sub/up/in.png", dir / "hard.png"}) {
    INFO(out);
    OutputPlan plan;
    plan.add_input(dir / "in.png", "--lr");
    CHECK_THROWS_WITH(plan.add_output(out, "--out"), Catch::Contains("same file as --lr"));
  }
  // Declared the other way round: the output first.
  OutputPlan reversed;
  reversed.add_output(dir / "new.png", "--out");
  CHECK_THROWS_WITH(reversed.add_input(dir / "sub/up/new.png", "--ref"), Catch::Contains("same file as --ref"));
  OutputPlan twice;
  twice.add_output(dir / "a.png", "--out");
  CHECK_THROWS_WITH(twice.add_output(dir / "sub/up/a.png", "--confidence"), Catch::Contains("two outputs"));
  // One file may feed two inputs.
  OutputPlan shared;
  shared.add_input(dir / "in.png", "--lr");
  CHECK_NOTHROW(shared.add_input(dir / "hard.png", "--ref"));
  CHECK(read_all(dir / "in.png") == "input bytes");
}

TEST_CASE("output rules: an existing output that is not a regular file is refused", "[output_rules]") {
  test::TempDir dir("rules");
  test::write_bytes(dir / "target.png", "keep");
  fs::create_symlink(dir / "target.png", dir / "link.png");
  fs::create_directories(dir / "folder.png");
  OutputPlan plan;
  CHECK_THROWS_WITH(plan.add_output(dir / "link.png", "--out"), Catch::Contains("symbolic link"));
  CHECK_THROWS_WITH(plan.add_output(dir / "folder.png", "--out"), Catch::Contains("it is a folder"));
  CHECK_THROWS_WITH(plan.add_output("/dev/null", "--out"), Catch::Contains("not a regular file"));
  REQUIRE(::mkfifo((dir / "pipe.png").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(plan.add_output(dir / "pipe.png", "--out"), Catch::Contains("not a regular file"));
  CHECK(read_all(dir / "target.png") == "keep");
  CHECK(fs::is_symlink(dir / "link.png"));
}

TEST_CASE("output rules: the real temp file is made up front", "[output_rules]") {
  test::TempDir dir("rules");
  OutputPlan plan;
  CHECK_THROWS_WITH(plan.add_output("/proc/self/dcsr_out.png", "--out"), Catch::Contains("cannot create the temp file"));
  // 250 characters fit a file name (255), the temp suffix does not.
  const std::string long_name = dir / (std::string(246, 'n') + ".png");
  CHECK_THROWS_WITH(plan.add_output(long_name, "--out"), Catch::Contains("cannot create the temp file"));
  CHECK_THROWS_WITH(plan.add_output(dir / "nothere/x.png", "--out"), Catch::Contains("does not exist"));
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directories(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH(plan.add_output(dir / "ro/x.png", "--out"), Catch::Contains("cannot create the temp file"));
    fs::permissions(dir / "ro", fs::perms::owner_all);
  }
  // Nothing of the probes is left behind.
  for (const auto& entry : fs::directory_iterator(dir.str()))
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("output rules: a failure removes what the run wrote and keeps older files byte for byte",
          "[output_rules]") {
  test::TempDir dir("rules");
  const std::string old_bytes = "an older file\n";
  test::write_bytes(dir / "old.png", old_bytes);
  {
    OutputPlan plan;
    plan.add_output(dir / "old.png", "--out");
    plan.add_output(dir / "new.png", "--confidence");
    plan.begin_write(dir / "old.png");
    write_file_atomic(dir / "old.png", "replaced");
    plan.begin_write(dir / "new.png");
    write_file_atomic(dir / "new.png", "new");
    CHECK(read_all(dir / "old.png") == "replaced");
    // destroyed without commit: the command failed after its first outputs
  }
  CHECK(read_all(dir / "old.png") == old_bytes);
  CHECK_FALSE(fs::exists(dir / "new.png"));
  {
    OutputPlan plan;
    plan.add_output(dir / "old.png", "--out");
    plan.begin_write(dir / "old.png");
    write_file_atomic(dir / "old.png", "committed");
    plan.commit();
  }
  CHECK(read_all(dir / "old.png") == "committed");
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir.str())) left.push_back(entry.path().filename().string());
  CHECK(left == std::vector<std::string>{"old.png"});  // no kept link, no temp file
}

TEST_CASE("output rules: a staged folder appears whole at the commit or not at all", "[output_rules]") {
  test::TempDir dir("rules");
  {
    OutputPlan plan;
    const std::string stage = plan.stage_folder(dir / "new/set", "--out", {"HR/a.png"});
    fs::create_directories(fs::path(stage) / "HR");
    write_file_atomic(stage + "/HR/a.png", "a");
    CHECK_FALSE(fs::exists(dir / "new/set"));
  }
  CHECK_FALSE(fs::exists(dir / "new"));  // the parent it made goes too
  {
    OutputPlan plan;
    const std::string stage = plan.stage_folder(dir / "new/set", "--out", {"HR/a.png"});
    fs::create_directories(fs::path(stage) / "HR");
    write_file_atomic(stage + "/HR/a.png", "a");
    plan.commit();
  }
  CHECK(read_all(dir / "new/set/HR/a.png") == "a");
  // Into an existing folder: a same-named file is replaced only at the commit.
  fs::create_directories(dir / "save");
  test::write_bytes(dir / "save/x.png", "old x");
  {
    OutputPlan plan;
    const std::string stage = plan.stage_folder(dir / "save", "--save-dir", {"x.png", "y.png"});
    write_file_atomic(stage + "/x.png", "new x");
    write_file_atomic(stage + "/y.png", "new y");
  }
  CHECK(read_all(dir / "save/x.png") == "old x");
  CHECK_FALSE(fs::exists(dir / "save/y.png"));
  {
    OutputPlan plan;
    const std::string stage = plan.stage_folder(dir / "save", "--save-dir", {"x.png", "y.png"});
    write_file_atomic(stage + "/x.png", "new x");
    write_file_atomic(stage + "/y.png", "new y");
    plan.commit();
  }
  CHECK(read_all(dir / "save/x.png") == "new x");
  CHECK(read_all(dir / "save/y.png") == "new y");
  CHECK(std::distance(fs::directory_iterator(dir / "save"), fs::directory_iterator()) == 2);  // no staging folder
  // A staged file that is an input is refused up front.
  OutputPlan clash;
  clash.add_input(dir / "save/x.png", "dataset image");
  CHECK_THROWS_WITH(clash.stage_folder(dir / "save", "--save-dir", {"x.png"}), Catch::Contains("same file"));
}

TEST_CASE("output rules: temp files of dead processes are removed, others kept", "[output_rules]") {
  test::TempDir dir("rules");
  const std::string dead = std::to_string(dead_pid());
  test::write_bytes(dir / ("a.png.tmp." + dead), "stale");
  fs::create_directories(dir / (".set.tmp." + dead + "/HR"));
  test::write_bytes(dir / ("b.png.tmp." + pid_str()), "ours");  // this process is alive
  test::write_bytes(dir / "c.png.tmp.1", "init's");              // pid 1 is alive
  test::write_bytes(dir / "d.tmp.png", "not a temp name");
  OutputPlan plan;
  plan.add_output(dir / "out.png", "--out");  // a folder written in is swept at the commit
  CHECK(fs::exists(dir / ("a.png.tmp." + dead)));
  plan.commit();
  CHECK_FALSE(fs::exists(dir / ("a.png.tmp." + dead)));
  CHECK_FALSE(fs::exists(dir / (".set.tmp." + dead)));
  CHECK(fs::exists(dir / ("b.png.tmp." + pid_str())));
  CHECK(fs::exists(dir / "c.png.tmp.1"));
  CHECK(fs::exists(dir / "d.tmp.png"));
  // Turned off (ranks on several machines share the folder: a PID of another
  // machine's live process looks dead here), nothing is swept.
  test::write_bytes(dir / ("e.png.tmp." + dead), "another machine's");
  set_stale_temp_sweep(false);
  CHECK(remove_stale_temp_files(dir.str()) == 0);
  CHECK(fs::exists(dir / ("e.png.tmp." + dead)));
  set_stale_temp_sweep(true);
  CHECK(remove_stale_temp_files(dir.str()) == 1);
  CHECK_FALSE(fs::exists(dir / ("e.png.tmp." + dead)));
}

TEST_CASE("output rules: the sweep never removes a declared input or output named like a temp file",
          "[output_rules]") {
  test::TempDir dir("rules");
  const std::string dead = std::to_string(dead_pid());
  fs::create_directories(dir / ("photos.tmp." + dead));
  test::write_bytes(dir / ("photos.tmp." + dead + "/a.png"), "an input in a folder named like a temp one");
  test::write_bytes(dir / ("in.tmp." + dead), "an input named like a temp file");
  test::write_bytes(dir / ("stale.tmp." + dead), "stale");
  {
    OutputPlan plan;
    plan.add_input(dir / ("photos.tmp." + dead + "/a.png"), "photo");
    plan.add_input(dir / ("in.tmp." + dead), "--in");
    plan.add_output(dir / ("out.tmp." + dead), "--out");
    plan.begin_write(dir / ("out.tmp." + dead));
    write_file_atomic(dir / ("out.tmp." + dead), "the output");
    plan.commit();
  }
  CHECK(read_all(dir / ("photos.tmp." + dead + "/a.png")) == "an input in a folder named like a temp one");
  CHECK(read_all(dir / ("in.tmp." + dead)) == "an input named like a temp file");
  CHECK(read_all(dir / ("out.tmp." + dead)) == "the output");
  CHECK_FALSE(fs::exists(dir / ("stale.tmp." + dead)));
}

TEST_CASE("output rules: an output whose temp name is another output's kept link is refused up front",
          "[output_rules]") {
  test::TempDir dir("rules");
  test::write_bytes(dir / "o.png", "old");
  // The link keeping o.png is ".o.png.tmp.<pid>", the temp name of ".o.png": in either order.
  for (int order = 0; order < 2; ++order) {
    OutputPlan plan;
    if (order == 0) plan.add_output(dir / "o.png", "--overlay");
    const std::string second = order == 0 ? dir / ".o.png" : dir / "o.png";
    if (order == 1) plan.add_output(dir / ".o.png", "--json");
    CHECK_THROWS_WITH(plan.add_output(second, "--check"), Catch::Contains("also uses while writing"));
  }
  CHECK(read_all(dir / "o.png") == "old");
  CHECK(std::distance(fs::directory_iterator(dir.str()), fs::directory_iterator()) == 1);
}

TEST_CASE("output rules: a staged folder's name may end in a separator; a dangling link or a missing '..' is refused",
          "[output_rules]") {
  test::TempDir dir("rules");
  for (const std::string& spelling : {std::string("a/"), std::string("b/."), std::string("c/./")}) {
    OutputPlan plan;
    const std::string stage = plan.stage_folder(dir / spelling, "--out", {"x.png"});
    test::write_bytes(stage + "/x.png", "x");
    plan.commit();
    CHECK(read_all(dir / (spelling.substr(0, 1) + "/x.png")) == "x");
  }
  fs::create_symlink(dir / "nowhere", dir / "dangling");
  OutputPlan plan;
  CHECK_THROWS_WITH(plan.stage_folder(dir / "dangling", "--out", {}), Catch::Contains("symbolic link to nothing"));
  CHECK_THROWS_WITH(plan.stage_folder(dir / "missing/../d", "--out", {}), Catch::Contains("does not exist"));
  CHECK_FALSE(fs::exists(dir / "missing"));
  plan.add_output(dir / "e", "--json");
  CHECK_THROWS_WITH(plan.stage_folder(dir / "e/", "--save-dir", {}), Catch::Contains("two outputs cannot share it"));
  // A refusal leaves no missing parent made.
  OutputPlan nested;
  nested.add_output(dir / "f.png", "--json");
  CHECK_THROWS_WITH(nested.stage_folder(dir / "p/q", "--save-dir", {"../../f.png"}),
                    Catch::Contains("two outputs cannot share it"));
  CHECK_FALSE(fs::exists(dir / "p"));
}

TEST_CASE("output rules: the exit cleanups undo a run as a signal would", "[output_rules]") {
  test::TempDir dir("rules");
  test::write_bytes(dir / "old.png", "old");
  OutputPlan plan;
  plan.add_output(dir / "old.png", "--out");
  plan.add_output(dir / "new.png", "--confidence");
  const std::string stage = plan.stage_folder(dir / "set", "--save-dir", {"HR/a.png"});
  fs::create_directories(fs::path(stage) / "HR/deeper");
  test::write_bytes(stage + "/HR/deeper/a.png", "a");
  plan.begin_write(dir / "old.png");
  write_file_atomic(dir / "old.png", "replaced");
  plan.begin_write(dir / "new.png");
  write_file_atomic(dir / "new.png", "new");
  test::write_bytes(atomic_temp_path(dir / "new.png"), "half");
  runtime::run_exit_cleanups();  // what the SIGINT handler runs before _exit
  CHECK(read_all(dir / "old.png") == "old");
  CHECK_FALSE(fs::exists(dir / "new.png"));
  CHECK_FALSE(fs::exists(atomic_temp_path(dir / "new.png")));
  CHECK_FALSE(fs::exists(stage));
  plan.rollback();  // nothing left to undo; must not disturb the restored file
  CHECK(read_all(dir / "old.png") == "old");
}

// ---------------------------------------------------------------- the commands

TEST_CASE("output rules: no command writes over one of its inputs", "[output_rules][cli]") {
  test::TempDir dir("rules");
  test::write_dataset(dir / "set", 2, 16, 16);
  test::write_dataset(dir / "other", 2, 16, 16);  // --ref-from's references
  test::write_model(dir / "m.ckpt", 4);
  const std::string image = dir / "set/LR/x2/p0.png";
  const std::string image_bytes = read_all(image), model_bytes = read_all(dir / "m.ckpt");
  test::write_bytes(dir / "log.jsonl", "{\"type\": \"train\", \"step\": 1, \"loss\": 1}\n");
  const std::string log_bytes = read_all(dir / "log.jsonl");
  fs::create_directories(dir / "ds/HR");
  write_png(dir / "ds/HR/a.png", test::test_image(40, 40, 3));  // prepare --out ds would write ds/HR/a.png
  const std::string photo_bytes = read_all(dir / "ds/HR/a.png");
  fs::create_directories(dir / "o");
  fs::copy_file(image, dir / "o/sr.png");  // demo --out o would write o/sr.png
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"eval --data set --model m.ckpt --json set/LR/x2/p0.png --quiet", "same file as dataset image"},
      {"eval --data set --model m.ckpt --json m.ckpt --quiet", "same file as --model"},
      {"eval --data set --model m.ckpt --json ./set/../m.ckpt --quiet", "same file as --model"},
      {"eval --data set --model m.ckpt --save-dir set/LR/x2 --quiet", "same file as dataset image"},
      {"eval --data set --model m.ckpt --save-dir set/HR --json e.json --quiet", "same file as dataset image"},
      {"export --model m.ckpt --out m.ckpt", "same file as --model"},
      {"plot-log log.jsonl --out log.jsonl", "same file as --log"},
      {"demo --lr o/sr.png --ref set/Ref/x2/p0.png --model m.ckpt --out o --quiet", "same file as --lr"},
      {"prepare --photos ds/HR --out ds --force", "same file as photo"},
      {"sr --lr set/LR/x2/p0.png --ref set/Ref/x2/p0.png --registration none --model m.ckpt --out m.ckpt --quiet",
       "same file as --model"},
      {"eval --data set --model m.ckpt --ref-from other --save-dir other/Ref/x2 --json e.json --quiet",
       "same file as --ref-from reference"},
  };
  for (const Case& c : cases) {
    RunResult r = test::run_dcsr(c.args, dir.str());
    INFO(c.args << "\n" << r.output);
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Catch::Contains(c.message));
  }
  CHECK(read_all(image) == image_bytes);
  CHECK(read_all(dir / "m.ckpt") == model_bytes);
  CHECK(read_all(dir / "log.jsonl") == log_bytes);
  CHECK(read_all(dir / "ds/HR/a.png") == photo_bytes);
  CHECK(read_all(dir / "o/sr.png") == image_bytes);
  CHECK_FALSE(fs::exists(dir / "e.json"));
  // A hard link to an input is the input.
  REQUIRE(::link((dir / "m.ckpt").c_str(), (dir / "alias.ckpt").c_str()) == 0);
  REQUIRE_FAILS_WITH(test::run_dcsr("export --model m.ckpt --out alias.ckpt", dir.str()), 1, "same file as --model");
  CHECK(read_all(dir / "alias.ckpt") == model_bytes);
}

TEST_CASE("output rules: a failing command keeps the files it would have replaced, byte for byte",
          "[output_rules][cli]") {
  test::TempDir dir("rules");
  test::write_dataset(dir / "set", 2, 16, 16);
  test::write_model(dir / "m.ckpt", 4);
  test::write_bytes(dir / "set/HR/p1.png", "not an image");  // the second image fails, after the first is done
  fs::create_directories(dir / "saved");
  test::write_bytes(dir / "saved/p0.png", "an older p0");
  test::write_bytes(dir / "e.json", "an older json");
  RunResult r = test::run_dcsr("eval --data set --model m.ckpt --json e.json --save-dir saved --quiet", dir.str());
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("p1.png"));
  CHECK(read_all(dir / "e.json") == "an older json");
  CHECK(read_all(dir / "saved/p0.png") == "an older p0");
  CHECK(std::distance(fs::directory_iterator(dir / "saved"), fs::directory_iterator()) == 1);
  CHECK(std::distance(fs::directory_iterator(dir.str()), fs::directory_iterator()) == 4);  // set, m.ckpt, saved, e.json
  // A checkpoint that does not load strictly is never exported over an existing file.
  test::write_bytes(dir / "small.ckpt", "an older export");
  Checkpoint broken = read_checkpoint(dir / "m.ckpt");
  broken.tensors.pop_back();
  save_checkpoint(dir / "broken.ckpt", broken);
  REQUIRE_FAILS_WITH(test::run_dcsr("export --model broken.ckpt --out small.ckpt", dir.str()), 1, "broken.ckpt");
  CHECK(read_all(dir / "small.ckpt") == "an older export");
}

TEST_CASE("output rules: a link, a folder or a device as output is refused by the commands", "[output_rules][cli]") {
  test::TempDir dir("rules");
  test::write_bytes(dir / "log.jsonl", "{\"type\": \"train\", \"step\": 1, \"loss\": 1}\n");
  test::write_bytes(dir / "target.png", "target");
  fs::create_symlink("target.png", dir / "link.png");
  REQUIRE_FAILS_WITH(test::run_dcsr("plot-log log.jsonl --out link.png", dir.str()), 1, "symbolic link");
  CHECK(read_all(dir / "target.png") == "target");
  CHECK(fs::is_symlink(dir / "link.png"));
  test::write_model(dir / "m.ckpt", 4);
  REQUIRE_FAILS_WITH(test::run_dcsr("export --model m.ckpt --out /dev/null", dir.str()), 1, "not a regular file");
  fs::create_directories(dir / "folder.ckpt");
  REQUIRE_FAILS_WITH(test::run_dcsr("export --model m.ckpt --out folder.ckpt", dir.str()), 1, "it is a folder");
  REQUIRE_FAILS_WITH(test::run_dcsr("export --model m.ckpt --out /proc/self/x.ckpt", dir.str()), 1,
                     "cannot create the temp file");
}
