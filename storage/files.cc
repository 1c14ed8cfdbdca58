// File: storage/files.cc
#include "storage/files.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/rocks_util.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

rocksdb::FileSystem* FileSystemOf(rocksdb::Env* env) {
  return env != nullptr ? env->GetFileSystem().get() : rocksdb::FileSystem::Default().get();
}

// Plain reads and writes: RocksDB's defaults would write through mmap
// (EnvOptions::use_mmap_writes is true unless a DB's options say otherwise).
rocksdb::FileOptions PlainFileOptions() {
  rocksdb::FileOptions options;
  options.use_mmap_reads = false;
  options.use_mmap_writes = false;
  options.use_direct_reads = false;
  options.use_direct_writes = false;
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WritableFile>> WritableFile::Create(rocksdb::Env* env,
                                                                   const std::string& path) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  SCRY_RETURN_IF_ERROR(internal::FromRocks(
      FileSystemOf(env)->NewWritableFile(path, PlainFileOptions(), &file, nullptr),
      "cannot create " + path));
  return std::unique_ptr<WritableFile>(new WritableFile(path, std::move(file)));
}

WritableFile::WritableFile(std::string path, std::unique_ptr<rocksdb::FSWritableFile> file)
    : path_(std::move(path)), file_(std::move(file)) {}

WritableFile::~WritableFile() {
  if (file_ != nullptr) file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
}

absl::Status WritableFile::Append(std::string_view data) {
  return internal::FromRocks(
      file_->Append(rocksdb::Slice(data.data(), data.size()), rocksdb::IOOptions(), nullptr),
      "cannot write " + path_);
}

absl::Status WritableFile::Sync() {
  return internal::FromRocks(file_->Fsync(rocksdb::IOOptions(), nullptr), "cannot sync " + path_);
}

absl::Status WritableFile::Close() {
  const rocksdb::IOStatus s = file_->Close(rocksdb::IOOptions(), nullptr);
  file_.reset();
  return internal::FromRocks(s, "cannot write " + path_);
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> RandomAccessFile::Open(rocksdb::Env* env,
                                                                         const std::string& path) {
  std::unique_ptr<rocksdb::FSRandomAccessFile> file;
  SCRY_RETURN_IF_ERROR(internal::FromRocks(
      FileSystemOf(env)->NewRandomAccessFile(path, PlainFileOptions(), &file, nullptr),
      "cannot open " + path));
  return std::unique_ptr<RandomAccessFile>(new RandomAccessFile(path, std::move(file)));
}

RandomAccessFile::RandomAccessFile(std::string path,
                                   std::unique_ptr<rocksdb::FSRandomAccessFile> file)
    : path_(std::move(path)), file_(std::move(file)) {}

RandomAccessFile::~RandomAccessFile() = default;

absl::StatusOr<size_t> RandomAccessFile::ReadAt(uint64_t offset, char* dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    rocksdb::Slice result;
    SCRY_RETURN_IF_ERROR(internal::FromRocks(
        file_->Read(offset + got, n - got, rocksdb::IOOptions(), &result, dst + got, nullptr),
        "cannot read " + path_));
    if (result.size() == 0) break;  // the end of the file
    // A file system may hand back its own memory (mmap) instead of dst's.
    if (result.data() != dst + got) std::memmove(dst + got, result.data(), result.size());
    got += result.size();
  }
  return got;
}

absl::Status RemoveFile(rocksdb::Env* env, const std::string& path) {
  return internal::FromRocks(FileSystemOf(env)->DeleteFile(path, rocksdb::IOOptions(), nullptr),
                             "cannot remove " + path);
}

}  // namespace scry::storage
