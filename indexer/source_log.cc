// File: indexer/source_log.cc
//
// The file is (file:fixed32 line:fixed32) per docid, in docid order;
// appends are buffered and flushed before a read.
#include "indexer/source_log.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/status.h"

namespace scry::indexer {

SourceLog::~SourceLog() {
  if (fd_ >= 0) close(fd_);
}

absl::Status SourceLog::Open(const std::string& path) {
  path_ = path;
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return absl::InternalError(absl::StrCat("cannot create ", path));
  return absl::OkStatus();
}

absl::Status SourceLog::Append(SourcePos pos) {
  storage::PutFixed32(&buffer_, pos.file);
  storage::PutFixed32(&buffer_, pos.line);
  return buffer_.size() >= (64 << 10) ? Flush() : absl::OkStatus();
}

absl::StatusOr<SourcePos> SourceLog::Get(uint32_t docid) {
  SCRY_RETURN_IF_ERROR(Flush());
  char b[8];
  if (pread(fd_, b, sizeof(b), off_t{docid} * 8) != sizeof(b)) {
    return absl::InternalError(absl::StrCat("cannot read ", path_));
  }
  return SourcePos{storage::DecodeFixed32(b), storage::DecodeFixed32(b + 4)};
}

absl::Status SourceLog::Flush() {
  for (size_t done = 0; done < buffer_.size();) {
    const ssize_t n = write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n <= 0) return absl::InternalError(absl::StrCat("cannot write ", path_, " (disk full?)"));
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return absl::OkStatus();
}

}  // namespace scry::indexer
