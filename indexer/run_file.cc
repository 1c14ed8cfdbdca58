// File: indexer/run_file.cc
//
// A run file is a sequence of records, one per key, keys strictly ascending:
//
//   record       := key:lp n:varint32 docid_delta{n} freq{n} positions
//   key          := storage::TermKey(field, term)
//   docid_delta  := varint32   docid minus the docid before (the first: minus 0)
//   freq         := varint32   the term's frequency in the document (>= 1)
//   positions    := (position_delta:varint32){sum of freqs}
//                   per document, its freq positions, each minus the one
//                   before it in the same document (the first: minus 0)
//
// lp is a varint32 length then the bytes (storage/coding.h). There is no
// header, trailer or checksum: the file lives only as long as the build that
// wrote it.
#include "indexer/run_file.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"
#include "storage/status.h"

namespace scry::indexer {

absl::StatusOr<std::unique_ptr<RunWriter>> RunWriter::Open(const std::string& path,
                                                           rocksdb::Env* env) {
  SCRY_ASSIGN_OR_RETURN(auto file, storage::WritableFile::Create(env, path));
  return std::unique_ptr<RunWriter>(new RunWriter(std::move(file), env));
}

RunWriter::RunWriter(std::unique_ptr<storage::WritableFile> file, rocksdb::Env* env)
    : file_(std::move(file)) {
  run_.path = file_->path();
  run_.env = env;
}

// An unfinished run file is closed without its buffer: whatever failed, the
// build is failing and removes it.
RunWriter::~RunWriter() = default;

absl::Status RunWriter::Add(std::string_view key,
                            std::span<const storage::PostingList* const> pieces) {
  const uint64_t offset = run_.bytes + buffer_.size();
  if (run_.marks.empty() || offset >= run_.marks.back().offset + kRunMarkBytes) {
    run_.marks.push_back(RunFile::Mark{std::string(key), offset});
  }
  storage::PutLengthPrefixed(&buffer_, key);
  size_t n = 0;
  for (const auto* l : pieces) n += l->docids.size();
  storage::PutVarint32(&buffer_, static_cast<uint32_t>(n));
  uint32_t prev = 0;
  for (const auto* l : pieces) {
    for (uint32_t d : l->docids) {
      storage::PutVarint32(&buffer_, d - prev);
      prev = d;
    }
  }
  for (const auto* l : pieces) {
    for (uint32_t f : l->freqs) storage::PutVarint32(&buffer_, f);
  }
  for (const auto* l : pieces) {
    size_t p = 0;
    for (uint32_t f : l->freqs) {
      uint32_t last = 0;
      for (uint32_t k = 0; k < f; ++k, ++p) {
        storage::PutVarint32(&buffer_, l->positions[p] - last);
        last = l->positions[p];
      }
    }
  }
  return buffer_.size() >= (1 << 20) ? Flush() : absl::OkStatus();
}

absl::StatusOr<RunFile> RunWriter::Close() {
  SCRY_RETURN_IF_ERROR(Flush());
  SCRY_RETURN_IF_ERROR(file_->Close());
  return std::move(run_);
}

absl::Status RunWriter::Flush() {
  if (!buffer_.empty()) SCRY_RETURN_IF_ERROR(file_->Append(buffer_));
  run_.bytes += buffer_.size();
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunReader>> RunReader::Open(const RunFile& run, std::string lo,
                                                           std::string hi) {
  SCRY_ASSIGN_OR_RETURN(auto file, storage::RandomAccessFile::Open(run.env, run.path));
  auto reader = std::unique_ptr<RunReader>(new RunReader(std::move(file)));
  // Every record of a key >= lo is at or after the last mark of a key <= lo.
  auto after =
      std::upper_bound(run.marks.begin(), run.marks.end(), lo,
                       [](const std::string& k, const RunFile::Mark& m) { return k < m.key; });
  reader->offset_ = after == run.marks.begin() ? 0 : std::prev(after)->offset;
  reader->lo_ = std::move(lo);
  reader->hi_ = std::move(hi);
  SCRY_RETURN_IF_ERROR(reader->Next());
  return reader;
}

RunReader::RunReader(std::unique_ptr<storage::RandomAccessFile> file) : file_(std::move(file)) {}

RunReader::~RunReader() = default;

// What a record that cannot be read whole means: the file is damaged, or it
// could not be read.
absl::Status RunReader::Corrupt() const {
  if (!error_.ok()) return error_;
  return absl::DataLossError(absl::StrCat("run file ", file_->path(), " is damaged"));
}

// Makes at least `want` bytes available after pos_ if the file has them
// (false at its end, or if a read failed: error_).
inline bool RunReader::Fill(size_t want) {
  if (data_.size() - pos_ >= want) return true;
  data_.erase(0, pos_);
  pos_ = 0;
  if (data_.capacity() > 4 * kReadBytes && want < kReadBytes) data_.shrink_to_fit();
  while (data_.size() < want && !eof_ && error_.ok()) {
    const size_t had = data_.size();
    const size_t n = std::max(kReadBytes, want - had);
    data_.resize(had + n);
    absl::StatusOr<size_t> got = file_->ReadAt(offset_, data_.data() + had, n);
    if (!got.ok()) error_ = got.status();
    const size_t read = got.ok() ? *got : 0;
    data_.resize(had + read);
    offset_ += read;
    eof_ = got.ok() && read < n;
  }
  return data_.size() >= want;
}

inline absl::Status RunReader::Varint(uint32_t* v) {
  Fill(5);
  const char* p = data_.data() + pos_;
  const char* end = storage::GetVarint32Ptr(p, data_.data() + data_.size(), v);
  if (end == nullptr) return Corrupt();
  pos_ += static_cast<size_t>(end - p);
  return absl::OkStatus();
}

// Reads the next record (done_ at the end of the file).
inline absl::Status RunReader::Read() {
  if (!Fill(16)) {
    if (!error_.ok()) return error_;
    if (pos_ == data_.size()) {
      done_ = true;
      return absl::OkStatus();
    }
  }
  uint32_t key_size = 0;
  SCRY_RETURN_IF_ERROR(Varint(&key_size));
  if (!Fill(key_size)) return Corrupt();
  key_.assign(data_, pos_, key_size);
  pos_ += key_size;
  uint32_t n = 0;
  SCRY_RETURN_IF_ERROR(Varint(&n));
  // A long list's buffers go with it, or every reader of every thread
  // would keep the size of the longest record it has seen.
  if (list_.positions.capacity() > kKeptListValues) list_ = storage::PostingList();
  list_.docids.resize(n);
  list_.freqs.resize(n);
  list_.positions.clear();
  uint32_t doc = 0;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t delta = 0;
    SCRY_RETURN_IF_ERROR(Varint(&delta));
    doc += delta;
    list_.docids[i] = doc;
  }
  for (uint32_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(Varint(&list_.freqs[i]));
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = 0;
    for (uint32_t k = 0; k < list_.freqs[i]; ++k) {
      uint32_t delta = 0;
      SCRY_RETURN_IF_ERROR(Varint(&delta));
      p += delta;
      list_.positions.push_back(p);
    }
  }
  return absl::OkStatus();
}

absl::Status RunReader::Next() {
  do {
    SCRY_RETURN_IF_ERROR(Read());
  } while (!done_ && key_ < lo_);
  if (!done_ && !hi_.empty() && key_ >= hi_) done_ = true;
  return absl::OkStatus();
}

}  // namespace scry::indexer
