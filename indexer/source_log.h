// File: indexer/source_log.h
//
// Where each docid of a shard came from (input file and line), for the
// message of a duplicate id ("first seen at FILE:LINE"): 8 bytes a document
// in a file beside the shard's runs, not in memory, written and read through
// the build's rocksdb::Env (storage/files.h) in chunks of 64 KiB.
//
// Thread safety: one thread at a time (the build's reader).
#ifndef SCRY_INDEXER_SOURCE_LOG_H_
#define SCRY_INDEXER_SOURCE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/files.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

struct SourcePos {
  uint32_t file;  // index into the expanded inputs
  uint32_t line;  // 1-based (documents past line 2^32 report it modulo that)
};

class SourceLog {
 public:
  SourceLog() = default;
  SourceLog(const SourceLog&) = delete;
  SourceLog& operator=(const SourceLog&) = delete;

  // Creates (or truncates) the file at `path` through `env` (null: the
  // local file system). An I/O error (storage/files.h) on failure.
  absl::Status Open(const std::string& path, rocksdb::Env* env = nullptr);
  // Records `pos` as the position of the next docid (0, 1, 2, ...).
  absl::Status Append(SourcePos pos);
  // The position of `docid`. REQUIRES: docid appended.
  absl::StatusOr<SourcePos> Get(uint32_t docid);

 private:
  absl::Status Flush();
  rocksdb::Env* env_ = nullptr;
  std::unique_ptr<storage::WritableFile> out_;
  std::unique_ptr<storage::RandomAccessFile> in_;  // opened at the first Get
  std::string buffer_;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_SOURCE_LOG_H_
