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

absl::StatusOr<std::unique_ptr<RunWriter>> RunWriter::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot create run file ", path));
  return std::unique_ptr<RunWriter>(new RunWriter(path, f));
}

RunWriter::RunWriter(std::string path, std::FILE* file) : file_(file) {
  run_.path = std::move(path);
}

RunWriter::~RunWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

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
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) return absl::InternalError(absl::StrCat("cannot write run file ", run_.path));
  return std::move(run_);
}

absl::Status RunWriter::Flush() {
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    return absl::InternalError(absl::StrCat("cannot write run file ", run_.path, " (disk full?)"));
  }
  run_.bytes += buffer_.size();
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunReader>> RunReader::Open(const RunFile& run, std::string lo,
                                                           std::string hi) {
  std::FILE* f = std::fopen(run.path.c_str(), "rb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot open run file ", run.path));
  auto reader = std::unique_ptr<RunReader>(new RunReader(run.path, f));
  // Every record of a key >= lo is at or after the last mark of a key <= lo.
  auto after =
      std::upper_bound(run.marks.begin(), run.marks.end(), lo,
                       [](const std::string& k, const RunFile::Mark& m) { return k < m.key; });
  const uint64_t start = after == run.marks.begin() ? 0 : std::prev(after)->offset;
  if (start > 0 && fseeko(f, static_cast<off_t>(start), SEEK_SET) != 0) return reader->Corrupt();
  reader->lo_ = std::move(lo);
  reader->hi_ = std::move(hi);
  SCRY_RETURN_IF_ERROR(reader->Next());
  return reader;
}

RunReader::RunReader(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}

RunReader::~RunReader() { std::fclose(file_); }

absl::Status RunReader::Corrupt() const {
  return absl::DataLossError(absl::StrCat("run file ", path_, " is damaged"));
}

// Makes at least `want` bytes available after pos_ if the file has them.
inline bool RunReader::Fill(size_t want) {
  if (data_.size() - pos_ >= want) return true;
  data_.erase(0, pos_);
  pos_ = 0;
  if (data_.capacity() > 4 * kReadBytes && want < kReadBytes) data_.shrink_to_fit();
  char buf[kReadBytes];
  while (data_.size() < want) {
    const size_t got = std::fread(buf, 1, sizeof(buf), file_);
    if (got == 0) break;
    data_.append(buf, got);
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
