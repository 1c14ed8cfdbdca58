// File: tests/fault_fs.h
//
// A file system that fails on purpose, for tests of what a build does when
// the disk fills up or goes bad, in the manner of RocksDB's fault-injection
// file system and Lucene's MockDirectoryWrapper (RocksDB's own
// utilities/fault_injection_fs.h is not installed by Debian's
// librocksdb-dev). It wraps the local file system (rocksdb::FileSystem) and
// is handed to the code under test as a rocksdb::Env (env()), through
// indexer::BuildOptions::env or storage::ShardWriterOptions::env.
//
// Faults, each at a chosen point of the operations seen so far (counted
// across every file it counts, see `only` below):
//   - FailAfterBytes(n, code): the append that would take the bytes
//     appended past n fails (nothing of it is written);
//   - FailAtFile(n, code): the n-th file created (1-based) fails to open;
//   - FailAtSync(n, code): the n-th Sync/Fsync (1-based) fails;
//   - FailAtRead(n, code): the n-th Read (1-based) of a file opened with
//     NewRandomAccessFile fails.
// `code` is kNoSpace (IOStatus::NoSpace, ENOSPC) or kIoError (IOStatus::
// IOError, EIO). Once a fault fired the device stays broken: every later
// create, append, sync and read of a file it counts fails with the same
// error, as a full disk or a dead device would.
//
// Counting is deterministic when the code under test is: FaultFs(only)
// counts and fails only the files whose path contains `only` (e.g. "/run-"
// for the build's run files), so the concurrent writes of RocksDB's
// background threads to other files do not move the points.
//
// Crashes: DropUnsyncedData() truncates every file written through it to
// the size it had at its last successful sync (0 if never synced), which is
// what a power loss may leave of it. ImageOnFault(root, image) takes such a
// picture at the moment a fault fires, before the code under test can react
// (and, say, remove its unfinished files): `root` is copied to `image` with
// every file written through this file system cut to its last synced size,
// the state a process killed by a power loss at that point would leave.
//
// Syncs (of files and directories) are counted and remembered, not made:
// what a sync guarantees is what DropUnsyncedData and ImageOnFault take
// into account, and the real fsyncs made the fault tests several times
// slower. (Builds without a FaultFs still make them.)
//
// Thread safety: safe for RocksDB's concurrent use.
#ifndef SCRY_TESTS_FAULT_FS_H_
#define SCRY_TESTS_FAULT_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"

namespace scry::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  enum class Fault { kNoSpace, kIoError };

  // Counts of what went through so far.
  struct Counts {
    uint64_t bytes = 0;   // appended successfully
    uint64_t files = 0;   // writable files created (or asked for)
    uint64_t syncs = 0;   // Sync/Fsync calls on them
    uint64_t reads = 0;   // Read calls on files opened for random access
    uint64_t faults = 0;  // operations failed on purpose
  };

  // Counts and fails the files whose path contains `only` (all if empty).
  explicit FaultFs(std::string only = "");
  const char* Name() const override { return "ScryFaultFs"; }

  // The Env to give to the code under test (valid while this lives).
  rocksdb::Env* env() { return env_.get(); }

  void FailAfterBytes(uint64_t n, Fault fault);
  void FailAtFile(uint64_t n, Fault fault);
  void FailAtSync(uint64_t n, Fault fault);
  void FailAtRead(uint64_t n, Fault fault);
  // When the armed fault fires, copies `root` to `image` (which must not
  // exist) as a power loss then would leave it.
  void ImageOnFault(std::string root, std::string image);
  // Clears the fault and the broken state (the counts stay).
  void Heal();

  Counts counts() const;
  // Whether a fault fired.
  bool broken() const;

  // Truncates every file written through this file system to its last
  // synced size (files since removed or renamed away are skipped).
  void DropUnsyncedData();

  rocksdb::IOStatus NewWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& path, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& path, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& path, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& path,
                                        const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* dbg) override;

 private:
  class File;
  class ReadFile;
  friend class File;
  friend class ReadFile;
  enum class Op { kCreate, kAppend, kSync, kRead };

  bool Counted(const std::string& path) const { return path.find(only_) != std::string::npos; }
  // The error for an operation now, or OK (counting it; `bytes` for
  // appends). Operations on files not counted pass untouched.
  rocksdb::IOStatus Check(const std::string& path, Op op, uint64_t bytes);
  rocksdb::IOStatus Error() const;
  void Arm(Op op, uint64_t at, Fault fault);
  // Copies image_root_ to image_ (mu_ held).
  void TakeImage();
  void Synced(const std::string& path, uint64_t size);
  rocksdb::IOStatus Wrap(const std::string& path, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* result);

  const std::string only_;
  std::unique_ptr<rocksdb::Env> env_;
  mutable std::mutex mu_;
  Counts counts_;
  Op fail_op_ = Op::kCreate;
  uint64_t fail_at_ = 0;  // 0: no fault armed
  Fault fault_ = Fault::kNoSpace;
  bool broken_ = false;
  std::map<std::string, uint64_t> synced_;  // path -> size at the last sync
  std::string image_root_, image_;          // ImageOnFault
};

// An SST file of a shard (one RocksDB directory), as its table properties
// describe it. Data blocks come first in a block-based table: any offset
// below data_bytes lies in one.
struct SstFile {
  std::string path;
  std::string column_family;
  uint64_t data_bytes = 0;
  uint64_t size = 0;
};
// The SST files of column family `cf` in the shard at `shard_path`.
std::vector<SstFile> SstFilesOf(const std::string& shard_path, const std::string& cf);

// Inverts the byte at `offset` of the file at `path` in place (the same
// inode, as a disk error would, so a process that has it open reads the
// damage too).
void FlipByte(const std::string& path, uint64_t offset);

}  // namespace scry::testing

#endif  // SCRY_TESTS_FAULT_FS_H_
