// File: storage/index_dir.cc
#include "storage/index_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/files.h"
#include "storage/hash.h"
#include "storage/keys.h"
#include "storage/rocks_util.h"
#include "storage/status.h"

namespace scry::storage {

absl::StatusOr<bool> BuildInProgress(const std::string& dir) {
  struct stat st;
  if (::stat((dir + "/LOCK").c_str(), &st) != 0) return false;
  std::ifstream locks("/proc/locks");
  if (!locks) return absl::UnavailableError("cannot read /proc/locks");
  // Lines such as "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": the
  // device in hex major:minor, then the inode.
  const std::string file = absl::StrFormat(" %02x:%02x:%d ", major(st.st_dev), minor(st.st_dev),
                                           static_cast<uint64_t>(st.st_ino));
  std::string line;
  while (std::getline(locks, line)) {
    line += ' ';
    if (line.find(" FLOCK ") != std::string::npos && line.find(" WRITE ") != std::string::npos &&
        line.find(file) != std::string::npos) {
      return true;
    }
  }
  return false;
}
namespace fs = std::filesystem;
namespace {

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Writes `contents` to `path` through `env` and fsyncs it.
absl::Status WriteFileSynced(rocksdb::Env* env, const std::string& path,
                             const std::string& contents) {
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, WritableFile::Create(env, path));
  absl::Status s = file->Append(contents);
  if (s.ok()) s = file->Sync();
  const absl::Status closed = file->Close();
  return s.ok() ? closed : s;
}

// Fsyncs the directory `dir` (its entries) through `fs`.
absl::Status SyncDir(rocksdb::FileSystem* fs, const std::string& dir) {
  const rocksdb::IOOptions io;
  std::unique_ptr<rocksdb::FSDirectory> d;
  SCRY_RETURN_IF_ERROR(
      internal::FromRocks(fs->NewDirectory(dir, io, &d, nullptr), "cannot open " + dir));
  return internal::FromRocks(d->Fsync(io, nullptr), "cannot fsync " + dir);
}

// Generation number of "gen-000012" or "gen-000012.tmp", or -1.
int64_t GenerationNumber(const std::string& name) {
  absl::string_view s = name;
  if (!absl::ConsumePrefix(&s, "gen-")) return -1;
  absl::ConsumeSuffix(&s, ".tmp");
  int64_t n = 0;
  return absl::SimpleAtoi(s, &n) ? n : -1;
}

std::string LeasePath(const std::string& dir, const std::string& generation) {
  return absl::StrCat(dir, "/", generation, ".lease");
}

// Whether `fd` is the file at `path` now (it was not unlinked or replaced).
bool SameFile(int fd, const std::string& path) {
  struct stat a, b;
  if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Removes generation `name` of `dir` unless a reader leases it: takes its
// lease file's lock exclusively without waiting, removes the directory, then
// the lease file (so a reader that waited for the lock sees it unlinked).
// True if removed.
bool RemoveIfUnleased(const std::string& dir, const std::string& name) {
  const std::string lease = LeasePath(dir, name);
  const int fd = ::open(lease.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  std::error_code ec;
  fs::remove_all(absl::StrCat(dir, "/", name), ec);
  ::unlink(lease.c_str());
  if (fd >= 0) ::close(fd);
  return !ec;
}

// Removes the unleased generations of `dir` but `keep` and builds in
// progress; with `older_only`, only those numbered below `keep` (what a
// caller may remove without holding DIR/LOCK: a build's finished generation
// that CURRENT does not name yet is always numbered above CURRENT's).
std::vector<std::string> RemoveUnused(const std::string& dir, const std::string& keep,
                                      bool older_only) {
  const int64_t keep_number = GenerationNumber(keep);
  std::vector<std::string> removed;
  std::vector<std::string> leases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".lease")) {
      leases.push_back(name.substr(0, name.size() - 6));
      continue;
    }
    const int64_t number = GenerationNumber(name);
    if (number < 0 || name.ends_with(".tmp") || name == keep) continue;
    if (older_only && number > keep_number) continue;
    if (RemoveIfUnleased(dir, name)) removed.push_back(name);
  }
  // Lease files whose generation is gone (a reader died after a remover
  // unlinked the file it had opened, or made one for a generation removed
  // meanwhile).
  for (const std::string& name : leases) {
    if (older_only && GenerationNumber(name) > keep_number) continue;
    if (name != keep && !fs::exists(absl::StrCat(dir, "/", name), ec)) {
      RemoveIfUnleased(dir, name);
    }
  }
  return removed;
}

}  // namespace

std::string CurrentGenerationName(const std::string& dir) {
  std::ifstream in(dir + "/CURRENT");
  std::string line;
  std::getline(in, line);
  return std::string(absl::StripAsciiWhitespace(line));
}

std::string ShardDirName(uint32_t shard) { return absl::StrFormat("shard-%03d", shard); }

std::string NewBuildId() {
  // The operating system's randomness (getrandom or /dev/urandom): builds
  // started at the same moment on two machines still differ.
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&id, "%08x", uint32_t{random()});
  return id;
}

std::string AssembledBuildId(std::vector<std::string> part_ids) {
  std::sort(part_ids.begin(), part_ids.end());
  const std::string joined = absl::StrCat(absl::StrJoin(part_ids, "\n"), "\n");
  return absl::StrFormat("%016x%016x", Fnv1a64(absl::StrCat("scry assemble 1\n", joined)),
                         Fnv1a64(absl::StrCat("scry assemble 2\n", joined)));
}

absl::StatusOr<std::unique_ptr<IndexBuild>> IndexBuild::Begin(const std::string& dir,
                                                              rocksdb::Env* env) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
  }
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec) && !fs::exists(dir + "/CURRENT", ec) &&
      !fs::exists(dir + "/LOCK", ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is a non-empty directory that is not a scry index; refusing to write into it"));
  }
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));

  std::unique_ptr<IndexBuild> build(new IndexBuild());
  build->dir_ = dir;
  build->env_ = env;
  build->fs_ = env != nullptr ? env->GetFileSystem() : rocksdb::FileSystem::Default();
  const std::string lock_path = dir + "/LOCK";
  build->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (build->lock_fd_ < 0) return Errno("cannot open", lock_path);
  if (::flock(build->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::UnavailableError(
        absl::StrCat("another build is writing to ", dir, " (", lock_path, " is locked)"));
  }
  // Stale generations from killed builds, and find the next number.
  int64_t max_gen = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t n = GenerationNumber(name);
    if (n < 0) continue;
    max_gen = std::max(max_gen, n);
    if (name.ends_with(".tmp")) fs::remove_all(entry.path(), ec);
  }
  build->gen_name_ = absl::StrFormat("gen-%06d", max_gen + 1);
  build->tmp_path_ = absl::StrCat(dir, "/", build->gen_name_, ".tmp");
  fs::create_directory(build->tmp_path_, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", build->tmp_path_, ": ", ec.message()));
  }
  return build;
}

IndexBuild::~IndexBuild() {
  std::error_code ec;
  if (!committed_ && !tmp_path_.empty()) fs::remove_all(tmp_path_, ec);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string IndexBuild::ShardPath(uint32_t i) const {
  return absl::StrCat(tmp_path_, "/", ShardDirName(i));
}

absl::Status IndexBuild::Commit(const IndexManifest& m) {
  const std::string manifest = absl::StrCat(
      "format_version=", m.format_version, "\nshards=", m.num_shards, "\nlanguage=", m.language,
      "\nstopwords=", m.stopwords ? "on" : "off", "\ndocs=", m.docs, "\n",
      m.only_shard >= 0 ? absl::StrCat("part=", m.only_shard, "\n") : std::string(),
      m.schema.empty() ? std::string() : absl::StrCat("schema=", m.schema, "\n"),
      m.build_id.empty() ? std::string() : absl::StrCat("build_id=", m.build_id, "\n"));
  SCRY_RETURN_IF_ERROR(WriteFileSynced(env_, tmp_path_ + "/MANIFEST", manifest));
  SCRY_RETURN_IF_ERROR(SyncDir(fs_.get(), tmp_path_));
  const std::string final_path = absl::StrCat(dir_, "/", gen_name_);
  if (::rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
    return Errno("cannot rename", tmp_path_);
  }
  // From here on the generation directory is final; keep it even if the
  // switch below fails (the next build removes unreferenced generations).
  committed_ = true;
  const std::string old = CurrentGenerationName(dir_);
  const std::string current_tmp = dir_ + "/CURRENT.tmp";
  if (absl::Status s = WriteFileSynced(env_, current_tmp, gen_name_ + "\n"); !s.ok()) {
    ::unlink(current_tmp.c_str());  // half written (a full disk): leave nothing behind
    return s;
  }
  if (::rename(current_tmp.c_str(), (dir_ + "/CURRENT").c_str()) != 0) {
    const absl::Status s = Errno("cannot rename", current_tmp);
    ::unlink(current_tmp.c_str());
    return s;
  }
  SCRY_RETURN_IF_ERROR(SyncDir(fs_.get(), dir_));
  // Remove every generation but the new one that no reader leases; a
  // leased one is removed once its last reader lets it go.
  RemoveUnused(dir_, gen_name_, /*older_only=*/false);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RemoveUnusedGenerations(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::vector<std::string>();
  const std::string keep = CurrentGenerationName(dir);
  // Without a valid CURRENT nothing is known to be unused.
  if (GenerationNumber(keep) < 0 || keep.ends_with(".tmp")) return std::vector<std::string>();
  return RemoveUnused(dir, keep, /*older_only=*/true);
}

absl::StatusOr<std::unique_ptr<GenerationLease>> GenerationLease::AcquireLive(
    const std::string& dir) {
  // A remover holds the lock only while it deletes, and a generation is
  // removed only once CURRENT names another, so a few tries suffice unless
  // builds commit back to back faster than this loop runs.
  for (int attempt = 0; attempt < 100; ++attempt) {
    SCRY_ASSIGN_OR_RETURN(const std::string path, LiveGeneration(dir));
    std::unique_ptr<GenerationLease> lease(new GenerationLease());
    lease->dir_ = dir;
    lease->name_ = fs::path(path).filename().string();
    lease->path_ = path;
    const std::string lease_path = LeasePath(dir, lease->name_);
    lease->fd_ = ::open(lease_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lease->fd_ < 0) {
      // A read-only index directory: nothing can remove the generation.
      if (errno == EACCES || errno == EROFS) return lease;
      return Errno("cannot open", lease_path);
    }
    while (::flock(lease->fd_, LOCK_SH) != 0) {
      if (errno != EINTR) return Errno("cannot lock", lease_path);
    }
    std::error_code ec;
    if (SameFile(lease->fd_, lease_path) && fs::exists(path + "/MANIFEST", ec)) return lease;
    // Removed while we waited for the lock: look at CURRENT again.
  }
  return absl::UnavailableError(
      absl::StrCat("the index at ", dir, " kept changing while it was being opened"));
}

GenerationLease::~GenerationLease() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

absl::StatusOr<std::string> LiveGeneration(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir + "/CURRENT", ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("no scry index at ", dir, " (build one with `scry index`)"));
  }
  const std::string gen = CurrentGenerationName(dir);
  if (GenerationNumber(gen) < 0 || gen.ends_with(".tmp")) {
    return absl::DataLossError(absl::StrCat("bad CURRENT file in ", dir));
  }
  const std::string path = absl::StrCat(dir, "/", gen);
  if (!fs::is_directory(path, ec)) {
    return absl::DataLossError(absl::StrCat("live generation ", path, " is missing"));
  }
  return path;
}

absl::StatusOr<IndexManifest> ReadManifest(const std::string& generation_path) {
  std::ifstream in(generation_path + "/MANIFEST");
  if (!in) return absl::DataLossError(absl::StrCat("no MANIFEST in ", generation_path));
  IndexManifest m;
  bool have_version = false, have_shards = false;
  std::string line;
  while (std::getline(in, line)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.first == "format_version") {
      have_version = absl::SimpleAtoi(kv.second, &m.format_version);
    } else if (kv.first == "shards") {
      have_shards = absl::SimpleAtoi(kv.second, &m.num_shards) && m.num_shards > 0;
    } else if (kv.first == "language") {
      m.language = kv.second;
    } else if (kv.first == "stopwords") {
      if (kv.second != "on" && kv.second != "off") {
        return absl::DataLossError(absl::StrCat("bad stopwords value \"", kv.second,
                                                "\" in the MANIFEST in ", generation_path));
      }
      m.stopwords = kv.second == "on";
    } else if (kv.first == "docs") {
      absl::SimpleAtoi(kv.second, &m.docs);
    } else if (kv.first == "schema") {
      m.schema = kv.second;
    } else if (kv.first == "build_id") {
      m.build_id = kv.second;
    } else if (kv.first == "part") {
      if (!absl::SimpleAtoi(kv.second, &m.only_shard) || m.only_shard < 0) {
        return absl::DataLossError(absl::StrCat("bad part value \"", kv.second,
                                                "\" in the MANIFEST in ", generation_path));
      }
    }
  }
  if (m.only_shard >= static_cast<int64_t>(m.num_shards)) {
    return absl::DataLossError(absl::StrCat("part out of range in ", generation_path));
  }
  if (!have_version || !have_shards || m.language.empty()) {
    return absl::DataLossError(absl::StrCat("incomplete MANIFEST in ", generation_path));
  }
  if (m.format_version < kMinFormatVersion || m.format_version > kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("index format version ", m.format_version, " is not ", kFormatVersion,
                     ", the one this scry reads; rebuild the index"));
  }
  return m;
}

absl::StatusOr<std::unique_ptr<IndexReader>> IndexReader::Open(const std::string& dir,
                                                               const ShardReader::Options& options,
                                                               std::span<const uint32_t> only) {
  std::unique_ptr<IndexReader> reader(new IndexReader());
  SCRY_ASSIGN_OR_RETURN(reader->lease_, GenerationLease::AcquireLive(dir));
  const std::string& generation_path = reader->lease_->path();
  SCRY_ASSIGN_OR_RETURN(reader->manifest_, ReadManifest(generation_path));
  const uint32_t num_shards = reader->manifest_.num_shards;
  std::vector<bool> wanted(num_shards, only.empty());
  for (const uint32_t s : only) {
    if (s >= num_shards) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard ", s, " is not a shard of the index (", num_shards, " shards)"));
    }
    wanted[s] = true;
  }
  const int64_t part = reader->manifest_.only_shard;
  if (part >= 0 && !(only.size() == 1 && only[0] == static_cast<uint64_t>(part))) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " holds only shard ", part, " of ", num_shards,
        " (built with --shard); put the parts together with `scry assemble`, or serve it with "
        "--shards ",
        part));
  }
  reader->shards_.resize(num_shards);
  for (uint32_t i = 0; i < num_shards; ++i) {
    if (!wanted[i]) continue;
    SCRY_ASSIGN_OR_RETURN(
        auto shard,
        ShardReader::Open(absl::StrCat(generation_path, "/", ShardDirName(i)), options));
    const ShardMeta& meta = shard->meta();
    if (meta.shard_index != i || meta.num_shards != reader->manifest_.num_shards ||
        meta.language != reader->manifest_.language) {
      return absl::DataLossError(absl::StrCat("shard ", i, " does not match the MANIFEST"));
    }
    reader->total_docs_ += meta.doc_count;
    reader->total_length_ += meta.total_length;
    reader->shards_[i] = std::move(shard);
  }
  return reader;
}

}  // namespace scry::storage
