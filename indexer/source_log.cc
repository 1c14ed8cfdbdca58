// File: indexer/source_log.cc
//
// The file is (file:fixed32 line:fixed32) per docid, in docid order;
// appends are buffered and flushed before a read.
#include "indexer/source_log.h"

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/status.h"

namespace scry::indexer {

absl::Status SourceLog::Open(const std::string& path, rocksdb::Env* env) {
  env_ = env;
  SCRY_ASSIGN_OR_RETURN(out_, storage::WritableFile::Create(env, path));
  return absl::OkStatus();
}

absl::Status SourceLog::Append(SourcePos pos) {
  storage::PutFixed32(&buffer_, pos.file);
  storage::PutFixed32(&buffer_, pos.line);
  return buffer_.size() >= (64 << 10) ? Flush() : absl::OkStatus();
}

absl::StatusOr<SourcePos> SourceLog::Get(uint32_t docid) {
  SCRY_RETURN_IF_ERROR(Flush());
  if (in_ == nullptr) {
    SCRY_ASSIGN_OR_RETURN(in_, storage::RandomAccessFile::Open(env_, out_->path()));
  }
  char b[8];
  SCRY_ASSIGN_OR_RETURN(const size_t got, in_->ReadAt(uint64_t{docid} * 8, b, sizeof(b)));
  if (got != sizeof(b)) {
    return absl::DataLossError(absl::StrCat(in_->path(), " ends before docid ", docid));
  }
  return SourcePos{storage::DecodeFixed32(b), storage::DecodeFixed32(b + 4)};
}

absl::Status SourceLog::Flush() {
  if (!buffer_.empty()) SCRY_RETURN_IF_ERROR(out_->Append(buffer_));
  buffer_.clear();
  return absl::OkStatus();
}

}  // namespace scry::indexer
