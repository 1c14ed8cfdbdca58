// File: indexer/source_log.h
//
// Where each docid of a shard came from (input file and line), for the
// message of a duplicate id ("first seen at FILE:LINE"): 8 bytes a document
// in a file beside the shard's runs, not in memory.
//
// Thread safety: one thread at a time (the build's reader).
#ifndef SCRY_INDEXER_SOURCE_LOG_H_
#define SCRY_INDEXER_SOURCE_LOG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scry::indexer {

struct SourcePos {
  uint32_t file;  // index into the expanded inputs
  uint32_t line;  // 1-based (documents past line 2^32 report it modulo that)
};

class SourceLog {
 public:
  SourceLog() = default;
  ~SourceLog();
  SourceLog(const SourceLog&) = delete;
  SourceLog& operator=(const SourceLog&) = delete;

  // Creates (or truncates) the file at `path`. Internal on failure.
  absl::Status Open(const std::string& path);
  // Records `pos` as the position of the next docid (0, 1, 2, ...).
  absl::Status Append(SourcePos pos);
  // The position of `docid`. REQUIRES: docid appended.
  absl::StatusOr<SourcePos> Get(uint32_t docid);

 private:
  absl::Status Flush();
  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_SOURCE_LOG_H_
