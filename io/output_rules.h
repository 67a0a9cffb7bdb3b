// The rules every `dcsr` command follows for the files it writes (docs/app.md,
// "What a command promises about files"):
//
//  1. No output is an input, and no two outputs are one file: paths are
//     compared by their real folder (realpath) + name, and existing files by
//     st_dev/st_ino as well (hard links, symlinked inputs).
//  2. An existing output must be a regular file: a symlink, a folder, a
//     device node, a pipe or a socket is refused, never replaced.
//  3. Before any work, the real temp file (`<path>.tmp.<pid>`, the name
//     write_file_atomic uses) is created and removed in the target folder:
//     read-only folders, /proc and names too long once the suffix is added
//     fail up front, not after the computation.
//  4. Writing goes to the temp file, fsync, rename (write_file_atomic,
//     tensor/serialize.h; write_png and save_checkpoint use it). Writers used
//     with an OutputPlan must replace files by rename, never write in place.
//  5. When the command fails (no commit()), only what this run created is
//     removed; a file that existed before is put back byte for byte (a hard
//     link to it is kept until the commit, a copy where links fail).
//  6. A folder of outputs (eval --save-dir, prepare) is all-or-nothing: it is
//     written into a staging folder and moved into place by commit().
//  7. Temp files and staging folders named `*.tmp.<pid>` whose process is no
//     longer alive are removed by the next run that writes in that folder,
//     when it commits; never one of its declared inputs or outputs, nor a
//     folder holding one (a user's file may be named so too).
//
// A SIGINT or SIGTERM that ends the run at once undoes the same things
// (runtime/signals.h: the plan registers its exit cleanups).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace dcsr {

// The temp name write_file_atomic uses for `path`: "<path>.tmp.<pid>".
std::string atomic_temp_path(const std::string& path);

// Removes the entries `*.tmp.<pid>` (files or folders) of `dir` whose process
// is not alive, except those that are, or hold, one of `keep` (paths a run
// reads or writes). Returns how many went.
int remove_stale_temp_files(const std::string& dir, const std::vector<std::string>& keep = {});
// Whether remove_stale_temp_files sweeps (on unless turned off). Processes
// of one job on several machines writing into one folder (sharded dcsr sr)
// cannot tell another machine's live temp file from a dead process's: its PID
// is another machine's. Such a job sweeps once, from one process, before any
// writes, and then turns the sweep off.
void set_stale_temp_sweep(bool on);

// What a path names, for the comparisons of rule 1.
struct PathIdentity {
  std::string resolved;  // realpath of the folder + "/" + name (the whole realpath for an existing input)
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  // The folder's device and inode and the name in it: one folder reached by
  // two real paths (a bind mount) still names one file.
  bool folder_known = false;
  dev_t folder_device = 0;
  ino_t folder_inode = 0;
  std::string name;
};
PathIdentity identify(const std::string& path, bool follow_symlinks);
bool same_file(const PathIdentity& a, const PathIdentity& b);

// The inputs and outputs of one command run. Declare every input and output
// before any work (each declaration is checked against all earlier ones, in
// either order), write, then commit(). Destroyed without commit(): rolls back.
class OutputPlan {
 public:
  OutputPlan() = default;
  ~OutputPlan();
  OutputPlan(const OutputPlan&) = delete;
  OutputPlan& operator=(const OutputPlan&) = delete;

  // `what` names the path in messages: "--lr", "dataset image".
  void add_input(const std::string& path, const std::string& what);
  // Rules 1-3 and 7 for one output file; keeps a link to it when it exists (rule 5).
  void add_output(const std::string& path, const std::string& what);
  // A path the plan must not write twice but that someone else checks and
  // writes (e.g. a file inside a staged folder): rule 1 only.
  void reserve(const std::string& path, const std::string& what);
  // Call right before writing `path` (declared with add_output): from then on
  // a rollback removes it when it did not exist before.
  void begin_write(const std::string& path);

  // A folder of outputs (rule 6): returns the staging folder to write them
  // into; commit() moves every file written there to the same relative path
  // in `dir`. `names` (relative paths, e.g. "LR/x2/a.png") are the files
  // expected, checked by rule 1 up front. `dir` may exist (files of the same
  // name are replaced at the commit) or not (it is created, with missing
  // parents).
  // A trailing "/" or "/." is dropped from `dir`; a `dir` or parent that is a
  // dangling link, or a parent spelled with ".." that does not exist, is
  // refused up front, and `dir` itself is reserved like an output.
  std::string stage_folder(const std::string& dir, const std::string& what, const std::vector<std::string>& names);

  // Everything written: staged folders move into place, kept links go.
  void commit();
  // Undoes this run's outputs (rule 5); the destructor calls it without a commit.
  void rollback() noexcept;

 private:
  struct Output {
    std::string path, what;
    PathIdentity id;
    bool existed = false;
    bool writing = false;
    std::string kept;  // the link to the old file ("" when none)
    int cleanup_temp = -1, cleanup_restore = -1, cleanup_new = -1;
  };
  struct Staged {
    std::string dir, what, stage;
    std::vector<std::string> names;
    bool dir_existed = false;
    std::vector<std::string> created_parents;  // folders made for `dir`, innermost last
    int cleanup_stage = -1, cleanup_parent = -1;
  };
  struct Named {
    PathIdentity id;
    std::string path, what;
    bool is_input;
  };
  void check_distinct(const PathIdentity& id, const std::string& path, const std::string& what, bool is_input);
  void probe(const std::string& folder, const std::string& temp, const std::string& what, const std::string& path);
  void claim_internal(const std::string& resolved, const std::string& what, const std::string& path);
  void sweep_later(const std::string& folder);
  void commit_staged(Staged& s, std::vector<Output>& moved);

  std::vector<Named> named_;
  std::vector<Output> outputs_;
  std::vector<Staged> staged_;
  std::vector<std::string> to_sweep_;  // folders written in, swept at the commit (rule 7)
  std::vector<std::string> internal_;  // resolved temp and kept-link names, which no two outputs may share
  bool done_ = false;
};

}  // namespace dcsr
