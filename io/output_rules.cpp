#include "io/output_rules.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/signals.h"
#include "tensor/error.h"

namespace dcsr {
namespace fs = std::filesystem;

namespace {

std::string pid_suffix() { return ".tmp." + std::to_string(::getpid()); }

std::string folder_of(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  return ::realpath(path.c_str(), buffer) ? std::string(buffer) : std::string();
}

// The pid of a name "<anything>.tmp.<digits>", or -1.
long temp_owner(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at + 5 >= name.size()) return -1;
  long pid = 0;
  for (size_t i = at + 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || pid > 100000000) return -1;
    pid = pid * 10 + (name[i] - '0');
  }
  return pid;
}

bool process_alive(long pid) { return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno != ESRCH); }

void remove_cleanup(int& slot) {
  runtime::remove_exit_cleanup(slot);
  slot = -1;
}

}  // namespace

std::string atomic_temp_path(const std::string& path) { return path + pid_suffix(); }

namespace {
std::atomic<bool> g_sweep{true};
}  // namespace

void set_stale_temp_sweep(bool on) { g_sweep = on; }

namespace {
// The spellings of `path` a sweep compares: its real folder + name (the path
// itself, a link not followed) and, when it exists, its realpath.
std::vector<std::string> resolved_forms(const std::string& path) {
  std::vector<std::string> forms{identify(path, /*follow_symlinks=*/false).resolved};
  const std::string real = real_path(path);
  if (!real.empty() && real != forms[0]) forms.push_back(real);
  return forms;
}
}  // namespace

int remove_stale_temp_files(const std::string& dir, const std::vector<std::string>& keep) {
  if (!g_sweep) return 0;
  std::vector<std::string> kept_forms;
  for (const std::string& k : keep)
    for (std::string& f : resolved_forms(k)) kept_forms.push_back(std::move(f));
  // Whether `entry` is, or is a folder holding, a path of `keep`.
  const auto protected_entry = [&](const std::string& entry) {
    for (const std::string& e : resolved_forms(entry))
      for (const std::string& k : kept_forms)
        if (k == e || (k.size() > e.size() && k.compare(0, e.size(), e) == 0 && k[e.size()] == '/')) return true;
    return false;
  };
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const long pid = temp_owner(it->path().filename().string());
    if (pid <= 0 || pid == long(::getpid()) || process_alive(pid)) continue;
    if (protected_entry(it->path().string())) continue;
    std::error_code remove_ec;
    if (fs::remove_all(it->path(), remove_ec) > 0) ++removed;
  }
  return removed;
}

PathIdentity identify(const std::string& path, bool follow_symlinks) {
  PathIdentity id;
  struct stat st {};
  id.exists = (follow_symlinks ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) == 0;
  if (id.exists) id.device = st.st_dev, id.inode = st.st_ino;
  if (follow_symlinks && id.exists) id.resolved = real_path(path);
  struct stat folder_st {};
  if (::stat(folder_of(path).c_str(), &folder_st) == 0) {
    id.folder_known = true;
    id.folder_device = folder_st.st_dev, id.folder_inode = folder_st.st_ino;
    id.name = fs::path(path).filename().string();
  }
  if (id.resolved.empty()) {
    const std::string folder = real_path(folder_of(path));
    const std::string name = fs::path(path).filename().string();
    std::error_code ec;
    id.resolved = folder.empty() ? fs::absolute(path, ec).lexically_normal().string() : folder + "/" + name;
  }
  return id;
}

bool same_file(const PathIdentity& a, const PathIdentity& b) {
  if (a.resolved == b.resolved) return true;
  if (a.folder_known && b.folder_known && a.folder_device == b.folder_device && a.folder_inode == b.folder_inode &&
      !a.name.empty() && a.name == b.name)
    return true;
  return a.exists && b.exists && a.device == b.device && a.inode == b.inode;
}

// ---------------------------------------------------------------- OutputPlan

OutputPlan::~OutputPlan() {
  if (!done_) rollback();
}

void OutputPlan::check_distinct(const PathIdentity& id, const std::string& path, const std::string& what,
                                bool is_input) {
  for (const Named& other : named_) {
    if (is_input && other.is_input) continue;  // one file may feed two inputs
    if (!same_file(id, other.id)) continue;
    const Named& in = other.is_input ? other : Named{id, path, what, is_input};
    const Named& out = other.is_input ? Named{id, path, what, is_input} : other;
    if (is_input || other.is_input)
      fail(out.what, " '", out.path, "' is the same file as ", in.what, " '", in.path,
           "': an output never overwrites an input");
    fail(what, " '", path, "' and ", other.what, " '", other.path, "' are the same file: two outputs cannot share it");
  }
  named_.push_back({id, path, what, is_input});
}

void OutputPlan::add_input(const std::string& path, const std::string& what) {
  check_distinct(identify(path, /*follow_symlinks=*/true), path, what, true);
}

void OutputPlan::reserve(const std::string& path, const std::string& what) {
  check_distinct(identify(path, /*follow_symlinks=*/false), path, what, false);
}

void OutputPlan::sweep_later(const std::string& folder) {
  for (const std::string& f : to_sweep_)
    if (f == folder) return;
  to_sweep_.push_back(folder);
}

// A temp file's or kept link's name (resolved), which must not be another
// output's: the link that keeps an existing "o.png" is ".o.png.tmp.<pid>",
// the temp name of an output ".o.png", whose writing would go through the
// link into the old file.
void OutputPlan::claim_internal(const std::string& resolved, const std::string& what, const std::string& path) {
  for (const std::string& name : internal_)
    DCSR_CHECK(name != resolved, "cannot write ", what, " '", path, "': '", resolved,
               "', a name it needs while writing, is one another output of this run also uses while writing; "
               "choose another name");
  internal_.push_back(resolved);
}

void OutputPlan::probe(const std::string& folder, const std::string& temp, const std::string& what,
                       const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      ::unlink(temp.c_str());
      return;
    }
    // Our own pid's name: left by an earlier process that had this pid.
    if (errno == EEXIST && attempt == 0 && ::unlink(temp.c_str()) == 0) continue;
    fail("cannot write ", what, " '", path, "': cannot create the temp file '", temp, "' in folder '", folder,
         "' (", std::strerror(errno), ")");
  }
}

void OutputPlan::add_output(const std::string& path, const std::string& what) {
  DCSR_CHECK(!path.empty(), what, ": empty file name");
  const std::string folder = folder_of(path);
  struct stat st {};
  DCSR_CHECK(::stat(folder.c_str(), &st) == 0, "cannot write ", what, " '", path, "': folder '", folder,
             "' does not exist");
  DCSR_CHECK(S_ISDIR(st.st_mode), "cannot write ", what, " '", path, "': '", folder, "' is not a folder");
  Output out;
  out.path = path, out.what = what;
  if (::lstat(path.c_str(), &st) == 0) {
    DCSR_CHECK(!S_ISLNK(st.st_mode), "cannot write ", what, " '", path,
               "': it is a symbolic link (outputs are never written through links; remove it or choose another name)");
    DCSR_CHECK(!S_ISDIR(st.st_mode), "cannot write ", what, " '", path, "': it is a folder");
    DCSR_CHECK(S_ISREG(st.st_mode), "cannot write ", what, " '", path,
               "': it exists and is not a regular file (a device, pipe or socket is never replaced)");
    out.existed = true;
  }
  out.id = identify(path, /*follow_symlinks=*/false);
  check_distinct(out.id, path, what, false);
  const std::string temp = atomic_temp_path(path);
  const std::string kept_name = "." + fs::path(path).filename().string() + pid_suffix();
  claim_internal(out.id.resolved + pid_suffix(), what, path);
  if (out.existed) claim_internal((fs::path(out.id.resolved).parent_path() / kept_name).string(), what, path);
  probe(folder, temp, what, path);
  sweep_later(folder);
  out.cleanup_temp = runtime::add_exit_cleanup(runtime::CleanupKind::kUnlink, temp);
  if (out.existed) {
    // Keep the old file under a second name until the commit (rule 5).
    out.kept = (fs::path(folder) / kept_name).string();
    ::unlink(out.kept.c_str());  // our pid's name: stale if present
    if (::link(path.c_str(), out.kept.c_str()) != 0) {
      const int err = errno;
      std::error_code ec;
      DCSR_CHECK(err != ENAMETOOLONG, "cannot write ", what, " '", path, "': the name is too long for its temp files");
      fs::copy_file(path, out.kept, ec);
      DCSR_CHECK(!ec, "cannot write ", what, " '", path, "': cannot keep the existing file as '", out.kept,
                 "' while writing (", ec.message(), ")");
    }
    out.cleanup_restore = runtime::add_exit_cleanup(runtime::CleanupKind::kRestore, out.kept, path);
  }
  outputs_.push_back(std::move(out));
}

void OutputPlan::begin_write(const std::string& path) {
  for (Output& out : outputs_) {
    if (out.path != path || out.writing) continue;
    out.writing = true;
    if (!out.existed) out.cleanup_new = runtime::add_exit_cleanup(runtime::CleanupKind::kUnlink, path);
    return;
  }
}

namespace {
// `dir` without trailing "/" and "/." ("x/", "x/." and "x/./" name x): its
// last component is then the folder's own name.
std::string without_trailing_separators(std::string dir) {
  for (;;) {
    if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    else if (dir.size() > 2 && dir.compare(dir.size() - 2, 2, "/.") == 0) dir.resize(dir.size() - 2);
    else return dir;
  }
}

bool has_dot_dot(const fs::path& p) {
  for (const fs::path& part : p)
    if (part == "..") return true;
  return false;
}
}  // namespace

std::string OutputPlan::stage_folder(const std::string& dir_as_given, const std::string& what,
                                     const std::vector<std::string>& names) {
  DCSR_CHECK(!dir_as_given.empty(), what, ": empty folder name");
  const std::string dir = without_trailing_separators(dir_as_given);
  Staged s;
  s.dir = dir, s.what = what, s.names = names;
  std::error_code ec;
  struct stat st {};
  s.dir_existed = ::stat(dir.c_str(), &st) == 0;
  if (s.dir_existed) {
    DCSR_CHECK(S_ISDIR(st.st_mode), "cannot create the output folder '", dir, "' (", what,
               "): it exists and is not a folder");
  } else {
    DCSR_CHECK(::lstat(dir.c_str(), &st) != 0, "cannot create the output folder '", dir, "' (", what,
               "): it is a symbolic link to nothing; remove it or choose another name");
    // A missing parent is made below, but not one reached through "..":
    // "nothere/../x" is no folder the system can open.
    const std::string parent = folder_of(dir);
    DCSR_CHECK(::stat(parent.c_str(), &st) == 0 || !has_dot_dot(parent), "cannot create the output folder '", dir,
               "' (", what, "): folder '", parent, "' does not exist");
  }
  reserve(dir, what);
  for (const std::string& name : names) {
    const std::string final_path = (fs::path(dir) / name).string();
    if (::lstat(final_path.c_str(), &st) == 0)
      DCSR_CHECK(S_ISREG(st.st_mode), "cannot write ", what, " '", dir, "': '", final_path,
                 "' exists and is not a regular file");
    reserve(final_path, what + " file");
  }
  // The staging folder: inside `dir` when it exists (files move one by one at
  // the commit), else beside it (renamed to `dir` at the commit).
  const std::string home = s.dir_existed ? dir : folder_of(dir);
  const std::string base = s.dir_existed ? std::string(".stage") : "." + fs::path(dir).filename().string();
  s.stage = (fs::path(home) / (base + pid_suffix())).string();
  if (!s.dir_existed)
    claim_internal((fs::path(identify(dir, false).resolved).parent_path() / (base + pid_suffix())).string(), what,
                   dir);
  // Registered before anything is made, so that a failure from here on (or a
  // signal) removes what was.
  staged_.push_back(s);
  Staged& added = staged_.back();
  if (!added.dir_existed) {
    // Make the missing parents now; `dir` itself appears at the commit.
    std::vector<fs::path> missing;
    for (fs::path p = fs::absolute(dir, ec).lexically_normal().parent_path(); !p.empty() && !fs::exists(p, ec);
         p = p.parent_path())
      missing.push_back(p);
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      DCSR_CHECK(fs::create_directory(*it, ec) || fs::is_directory(*it), "cannot create the output folder '", dir,
                 "' (", what, "): cannot create '", it->string(), "' (", ec.message(), ")");
      added.created_parents.push_back(it->string());
    }
    if (!missing.empty())  // the outermost one made holds everything else made
      added.cleanup_parent = runtime::add_exit_cleanup(runtime::CleanupKind::kRemoveTree, missing.back().string());
  }
  sweep_later(home);
  fs::remove_all(added.stage, ec);  // our pid's name: stale if present
  DCSR_CHECK(::mkdir(added.stage.c_str(), 0755) == 0, "cannot create the output folder '", dir, "' (", what,
             "): cannot create the staging folder '", added.stage, "' (", std::strerror(errno), ")");
  added.cleanup_stage = runtime::add_exit_cleanup(runtime::CleanupKind::kRemoveTree, added.stage);
  return added.stage;
}

void OutputPlan::commit_staged(Staged& s, std::vector<Output>& moved) {
  if (!s.dir_existed) {
    DCSR_CHECK(::rename(s.stage.c_str(), s.dir.c_str()) == 0, "cannot move the staging folder '", s.stage, "' to ",
               s.what, " '", s.dir, "': ", std::strerror(errno));
    s.created_parents.push_back(s.dir);  // a rollback after this point removes it again
    return;
  }
  // Every file written into the staging folder (the declared names and any other).
  std::vector<std::string> names;
  std::error_code walk_ec;
  for (fs::recursive_directory_iterator it(s.stage, walk_ec), end; !walk_ec && it != end; it.increment(walk_ec))
    if (it->is_regular_file()) names.push_back(it->path().lexically_relative(s.stage).string());
  DCSR_CHECK(!walk_ec, "cannot list the staging folder '", s.stage, "': ", walk_ec.message());
  for (const std::string& name : names) {
    const fs::path from = fs::path(s.stage) / name, to = fs::path(s.dir) / name;
    std::error_code ec;
    std::vector<std::string> missing;  // innermost first
    for (fs::path p = to.parent_path(); p != fs::path(s.dir) && !p.empty() && !fs::exists(p, ec); p = p.parent_path())
      missing.push_back(p.string());
    s.created_parents.insert(s.created_parents.end(), missing.rbegin(), missing.rend());  // outermost first
    fs::create_directories(to.parent_path(), ec);
    Output out;
    out.path = to.string(), out.what = s.what, out.writing = true;
    if (fs::exists(to, ec)) {
      out.existed = true;
      out.kept = (to.parent_path() / ("." + to.filename().string() + pid_suffix())).string();
      ::unlink(out.kept.c_str());
      DCSR_CHECK(::link(to.c_str(), out.kept.c_str()) == 0, "cannot keep '", to.string(), "' while replacing it: ",
                 std::strerror(errno));
    }
    moved.push_back(out);
    DCSR_CHECK(::rename(from.c_str(), to.c_str()) == 0, "cannot move '", from.string(), "' to '", to.string(),
               "': ", std::strerror(errno));
  }
  std::error_code ec;
  fs::remove_all(s.stage, ec);
}

void OutputPlan::commit() {
  DCSR_CHECK(!done_, "internal: OutputPlan committed twice");
  // The moves are not interrupted halfway by Ctrl-C, on whichever thread
  // the signal lands: it ends the run once they are done (or undone).
  runtime::HoldStops hold;
  std::vector<Output> moved;
  try {
    for (Staged& s : staged_) commit_staged(s, moved);
  } catch (...) {
    for (Output& out : moved) outputs_.push_back(out);
    rollback();
    throw;
  }
  for (Output& out : moved) ::unlink(out.kept.c_str());
  for (Output& out : outputs_) {
    if (!out.kept.empty()) ::unlink(out.kept.c_str());
    remove_cleanup(out.cleanup_temp), remove_cleanup(out.cleanup_restore), remove_cleanup(out.cleanup_new);
  }
  for (Staged& s : staged_) remove_cleanup(s.cleanup_stage), remove_cleanup(s.cleanup_parent);
  done_ = true;
  // Rule 7, now that every input has been declared: no declared path goes.
  std::vector<std::string> declared;
  for (const Named& n : named_) declared.push_back(n.path);
  for (const std::string& folder : to_sweep_) remove_stale_temp_files(folder, declared);
}

void OutputPlan::rollback() noexcept {
  if (done_) return;
  done_ = true;
  for (auto it = outputs_.rbegin(); it != outputs_.rend(); ++it) {
    Output& out = *it;
    ::unlink(atomic_temp_path(out.path).c_str());
    if (out.existed && !out.kept.empty()) {
      ::rename(out.kept.c_str(), out.path.c_str());  // a no-op when nothing replaced it ...
      ::unlink(out.kept.c_str());                    // ... so the link goes in any case
    } else if (!out.existed && out.writing) {
      ::unlink(out.path.c_str());
    }
    remove_cleanup(out.cleanup_temp), remove_cleanup(out.cleanup_restore), remove_cleanup(out.cleanup_new);
  }
  for (auto it = staged_.rbegin(); it != staged_.rend(); ++it) {
    std::error_code ec;
    fs::remove_all(it->stage, ec);
    for (auto p = it->created_parents.rbegin(); p != it->created_parents.rend(); ++p) {
      if (*p == it->dir) fs::remove_all(*p, ec);  // moved into place in this run: all of it is ours
      else ::rmdir(p->c_str());                   // only when empty
    }
    remove_cleanup(it->cleanup_stage), remove_cleanup(it->cleanup_parent);
  }
}

}  // namespace dcsr
