// File: storage/index_dir.h
//
// The directory of an index and how a build replaces it atomically.
//
//   DIR/CURRENT          one line: the name of the live generation ("gen-000007")
//   DIR/LOCK             flock()ed by a running build (one build per DIR)
//   DIR/gen-000007/      the live generation
//       MANIFEST         "key=value" lines: format_version, shards, language,
//                        stopwords ("on"/"off"), docs, and for a part
//                        of an index (one shard built alone) part=<shard>,
//                        schema=<JSON> when built with --schema, and
//                        build_id=<32 hex digits> (IndexManifest::build_id)
//       shard-000/ ...   one RocksDB per shard (storage/keys.h)
//   DIR/gen-000007.lease a reader's lease on gen-000007 (a shared flock(2))
//   DIR/gen-000008.tmp/  a build in progress
//
// A build writes a new generation beside the live one and, only when every
// shard is complete, renames it into place and replaces CURRENT with an atomic
// rename(2) (both fsynced). A build that fails, is interrupted or killed
// leaves the live generation untouched; its .tmp directory is removed at once
// on failure, or by the next build after a kill. Old generations are removed
// after the switch, except those a reader still leases (GenerationLease: a
// running server that has not yet moved to the new generation); they are
// removed once released (RemoveUnusedGenerations), by whoever comes first:
// the reader that lets go, or the next build. Removing takes no directory
// lock, so a server's clean-up never makes a build wait or fail.
#ifndef SCRY_STORAGE_INDEX_DIR_H_
#define SCRY_STORAGE_INDEX_DIR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/shard.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace scry::storage {

struct IndexManifest {
  uint32_t format_version = 0;
  uint32_t num_shards = 0;
  std::string language;
  // Whether the analyser dropped the language's stopwords (analysis/analyzer.h
  // AnalyzerOptions); manifests written before the key existed read as off.
  bool stopwords = false;
  uint64_t docs = 0;
  // A part of an index, holding only this shard (`scry index --shard`);
  // -1 for a whole index. Key "part", absent for whole indexes.
  int32_t only_shard = -1;
  // The schema of the build (indexer/schema.h, its canonical JSON), key
  // "schema" (format 8); empty when the build had none.
  std::string schema;
  // What was built, key "build_id": equal ids mean the same index, whatever
  // the directory or the generation's name (a per-directory counter, which
  // two copies of one build need not share and two builds may). A build
  // makes a random one (NewBuildId), an assembly derives its own from its
  // parts' (AssembledBuildId); live writes do not change it. Manifests
  // written before the key existed read as "": their build is unknown, and
  // the generation name is not made to pass for an id (readers that need a
  // key, as the broker does, fall back to the name explicitly, as they must
  // for servers too old to send an id at all). Not a format change: older
  // readers skip keys they do not know.
  std::string build_id;
};

// A new build's id: 128 random bits as 32 lowercase hex digits.
std::string NewBuildId();

// The id of the index assembled from parts with ids `part_ids` (in any
// order): the same parts give the same id on every machine and with every
// scry binary (so that pods assembling one run agree), and other parts,
// with the parts' ids random, another one. 32 hex digits: two 64-bit FNV-1a
// hashes (storage/hash.h: stable by contract) of the sorted ids, each lane
// seeded apart.
std::string AssembledBuildId(std::vector<std::string> part_ids);

// Whether a build of DIR is running now: some process holds DIR/LOCK, as
// /proc/locks tells, found without taking the lock (a probe that took it,
// even for a moment, could make a starting build fail). False when DIR/LOCK
// does not exist; an error if /proc/locks cannot be read.
absl::StatusOr<bool> BuildInProgress(const std::string& dir);

// A build of a new generation in DIR. Not thread-safe (one per build).
class IndexBuild {
 public:
  // Creates DIR if needed, takes DIR/LOCK (Unavailable if another build holds
  // it), removes stale *.tmp generations, and creates the new one.
  // FailedPrecondition if DIR exists, is non-empty and is not a scry index.
  // The MANIFEST and CURRENT are written and synced through `env` (nullptr:
  // the default, the local file system; tests inject faults with their own).
  static absl::StatusOr<std::unique_ptr<IndexBuild>> Begin(const std::string& dir,
                                                           rocksdb::Env* env = nullptr);

  // Removes the unfinished generation unless Commit() succeeded.
  ~IndexBuild();
  IndexBuild(const IndexBuild&) = delete;
  IndexBuild& operator=(const IndexBuild&) = delete;

  // Where shard `i` of the new generation is written.
  std::string ShardPath(uint32_t i) const;

  // Writes the manifest and makes the new generation the live one.
  absl::Status Commit(const IndexManifest& manifest);

 private:
  IndexBuild() = default;
  std::string dir_;
  rocksdb::Env* env_ = nullptr;              // the MANIFEST and CURRENT (storage/files.h)
  std::shared_ptr<rocksdb::FileSystem> fs_;  // env_'s, for directory syncs
  std::string gen_name_;
  std::string tmp_path_;
  int lock_fd_ = -1;
  bool committed_ = false;
};

// A reader's hold on one generation of the index at DIR: while any lease on
// it is held, no build and no other reader's clean-up removes it, even after
// CURRENT names a newer one. A lease is a shared flock(2) on
// DIR/gen-N.lease, so the kernel ends it when the process dies, even by
// SIGKILL. A remover takes the lock exclusively (without waiting), removes
// the generation, then unlinks the lease file; a reader that took its lock
// on a lease file that has since been unlinked, or whose generation is gone,
// tries again with what CURRENT names then.
// Thread safety: immutable once acquired.
class GenerationLease {
 public:
  // Leases the generation CURRENT names. FailedPrecondition if `dir` holds
  // no index; DataLoss if CURRENT is bad or names a missing generation.
  // On a read-only directory (no lease file can be made, nor anything
  // removed) the lease is nominal.
  static absl::StatusOr<std::unique_ptr<GenerationLease>> AcquireLive(const std::string& dir);

  ~GenerationLease();  // releases the lease (nothing is removed here)
  GenerationLease(const GenerationLease&) = delete;
  GenerationLease& operator=(const GenerationLease&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& name() const { return name_; }  // "gen-000007"
  const std::string& path() const { return path_; }  // DIR/gen-000007

 private:
  GenerationLease() = default;
  std::string dir_;
  std::string name_;
  std::string path_;
  int fd_ = -1;
};

// Removes every generation of the index at `dir` older than the one CURRENT
// names that no reader leases (and lease files left without a generation).
// Needs no lock and never blocks a build: a build in progress only ever
// makes generations numbered above CURRENT's, which are left to that build
// (its commit removes every unleased generation but its own). Returns the
// names of the generations removed.
absl::StatusOr<std::vector<std::string>> RemoveUnusedGenerations(const std::string& dir);

// The name CURRENT holds ("gen-000007"), "" if it is missing or unreadable.
std::string CurrentGenerationName(const std::string& dir);

// The path of the live generation of the index at `dir`. FailedPrecondition
// (with a hint to run `scry index`) if `dir` holds no index.
absl::StatusOr<std::string> LiveGeneration(const std::string& dir);

absl::StatusOr<IndexManifest> ReadManifest(const std::string& generation_path);

std::string ShardDirName(uint32_t shard);

// An open index: every shard of the live generation, read-only, leased
// (GenerationLease) until the reader is destroyed.
// Thread safety: const methods are safe to call concurrently.
class IndexReader {
 public:
  // Opens the generation CURRENT names: every shard, or with `only` (shard
  // numbers, ascending) those alone (a shard server's: the others' files
  // are never opened, so they need not be there). A part (built with
  // --shard I) opens only as `only` = {I}; InvalidArgument for a shard
  // number past the index's.
  static absl::StatusOr<std::unique_ptr<IndexReader>> Open(const std::string& dir,
                                                           const ShardReader::Options& options,
                                                           std::span<const uint32_t> only = {});
  const IndexManifest& manifest() const { return manifest_; }
  const std::string& generation_path() const { return lease_->path(); }
  const std::string& generation_name() const { return lease_->name(); }
  // The index's shards, opened or not.
  size_t num_shards() const { return shards_.size(); }
  bool has_shard(size_t i) const { return shards_[i] != nullptr; }
  // REQUIRES: has_shard(i).
  const ShardReader& shard(size_t i) const { return *shards_[i]; }
  // Over the shards opened.
  uint64_t total_docs() const { return total_docs_; }
  uint64_t total_length() const { return total_length_; }

 private:
  IndexReader() = default;
  // Declared first, so released after the shards are closed.
  std::unique_ptr<GenerationLease> lease_;
  IndexManifest manifest_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  uint64_t total_docs_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_INDEX_DIR_H_
