// File: storage/files.h
//
// Plain files written and read through a rocksdb::Env's file system, so that
// everything a build puts under its unfinished generation (the shards, and
// also the run files and source log of indexer/, the MANIFEST and CURRENT)
// goes through one seam that tests can replace with a failing file system
// (tests/fault_fs.h). A null Env is the local file system
// (rocksdb::FileSystem::Default()). No RocksDB type appears here, so
// indexer/ can use these without RocksDB headers.
//
// Neither class buffers: callers gather their bytes into large chunks (each
// Append or ReadAt is one system call or a few on the local file system).
// I/O errors are ResourceExhausted for a full disk (ENOSPC) and Internal
// otherwise; their messages name the file.
//
// Thread safety: an object is used by one thread at a time.
#ifndef SCRY_STORAGE_FILES_H_
#define SCRY_STORAGE_FILES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rocksdb {
class Env;
class FSRandomAccessFile;
class FSWritableFile;
}  // namespace rocksdb

namespace scry::storage {

// A file written front to back.
class WritableFile {
 public:
  // Creates (or truncates) the file at `path`.
  static absl::StatusOr<std::unique_ptr<WritableFile>> Create(rocksdb::Env* env,
                                                              const std::string& path);
  ~WritableFile();  // closes the file if Close was not called, ignoring errors
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  absl::Status Append(std::string_view data);
  // Makes what was appended durable (fsync).
  absl::Status Sync();
  absl::Status Close();
  const std::string& path() const { return path_; }

 private:
  WritableFile(std::string path, std::unique_ptr<rocksdb::FSWritableFile> file);
  std::string path_;
  std::unique_ptr<rocksdb::FSWritableFile> file_;
};

// A file read at any offset.
class RandomAccessFile {
 public:
  static absl::StatusOr<std::unique_ptr<RandomAccessFile>> Open(rocksdb::Env* env,
                                                                const std::string& path);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads up to `n` bytes at `offset` into `dst`; fewer only at the end of
  // the file. Returns how many were read.
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* dst, size_t n);
  const std::string& path() const { return path_; }

 private:
  RandomAccessFile(std::string path, std::unique_ptr<rocksdb::FSRandomAccessFile> file);
  std::string path_;
  std::unique_ptr<rocksdb::FSRandomAccessFile> file_;
};

// Removes the file at `path` (NotFound if there is none).
absl::Status RemoveFile(rocksdb::Env* env, const std::string& path);

}  // namespace scry::storage

#endif  // SCRY_STORAGE_FILES_H_
