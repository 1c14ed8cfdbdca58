// File: indexer/run_file.h
//
// Sorted runs: the lists of a shard's in-memory index written to a
// temporary file in key order when the build passes its memory cap, and
// read back by the merge (indexer/merge.h). The record grammar is at the top
// of indexer/run_file.cc. Runs live inside the unfinished generation and are
// never read by anything else; a damaged one fails the build (DataLoss).
//
// Beside each file, in memory, a mark (the key and offset of a record) every
// kRunMarkBytes lets a merge of a range of keys start reading near the
// range, and weighs the run's keys for splitting the merge (SplitKeys).
//
// Run files are written and read through a rocksdb::Env (storage/files.h:
// the build's, BuildOptions::env; null for the local file system), in
// chunks of 1 MiB written and 64 KiB read.
//
// Thread safety: a RunWriter or RunReader is used by one thread at a time;
// readers of one file are independent.
#ifndef SCRY_INDEXER_RUN_FILE_H_
#define SCRY_INDEXER_RUN_FILE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/files.h"
#include "storage/posting_format.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

inline constexpr uint64_t kRunMarkBytes = 256 << 10;

// A finished run file.
struct RunFile {
  struct Mark {
    std::string key;
    uint64_t offset;  // of the record of `key`
  };
  std::string path;
  rocksdb::Env* env = nullptr;  // the file system it is on (null: the local one)
  std::vector<Mark> marks;      // ascending by key and offset; the first record's first
  uint64_t bytes = 0;           // the file's size
};

class RunWriter {
 public:
  // Creates (or truncates) the file at `path` through `env`. An I/O error
  // (storage/files.h) on failure.
  static absl::StatusOr<std::unique_ptr<RunWriter>> Open(const std::string& path,
                                                         rocksdb::Env* env = nullptr);
  ~RunWriter();
  RunWriter(const RunWriter&) = delete;
  RunWriter& operator=(const RunWriter&) = delete;

  // Adds the list of `key`, given in pieces (their concatenation is the
  // list). REQUIRES: keys strictly ascending across calls, non-empty; docids
  // ascending across the pieces; each piece a valid storage::PostingList.
  absl::Status Add(std::string_view key, std::span<const storage::PostingList* const> pieces);
  // Writes what is buffered and closes the file; the writer is then unusable.
  absl::StatusOr<RunFile> Close();

 private:
  RunWriter(std::unique_ptr<storage::WritableFile> file, rocksdb::Env* env);
  absl::Status Flush();
  std::unique_ptr<storage::WritableFile> file_;
  RunFile run_;  // bytes: those written to the file so far
  std::string buffer_;
};

// A sorted run being merged: a run file (RunReader), or the last part of a
// shard's index, still in memory (MemoryRun, indexer/merge.h). key() and
// list() are valid until Next(), and only while !done().
class RunSource {
 public:
  virtual ~RunSource() = default;
  virtual bool done() const = 0;
  virtual const std::string& key() const = 0;
  virtual const storage::PostingList& list() const = 0;
  virtual absl::Status Next() = 0;
};

// The records of a run file whose keys are in [lo, hi) (hi empty: to the
// end), starting from the last mark at or before lo.
class RunReader : public RunSource {
 public:
  // Opens the file through run.env. An I/O error (storage/files.h) if it
  // cannot be opened or read; DataLoss if the first record in range is
  // damaged.
  static absl::StatusOr<std::unique_ptr<RunReader>> Open(const RunFile& run, std::string lo = "",
                                                         std::string hi = "");
  ~RunReader() override;
  RunReader(const RunReader&) = delete;
  RunReader& operator=(const RunReader&) = delete;

  bool done() const override { return done_; }
  const std::string& key() const override { return key_; }
  const storage::PostingList& list() const override { return list_; }
  // Moves to the next record in range (done() past the range or the file).
  // DataLoss if the file is damaged, an I/O error if it cannot be read.
  absl::Status Next() override;

 private:
  explicit RunReader(std::unique_ptr<storage::RandomAccessFile> file);
  absl::Status Corrupt() const;
  absl::Status Read();
  bool Fill(size_t want);
  absl::Status Varint(uint32_t* v);

  static constexpr size_t kReadBytes = 1 << 16;
  static constexpr size_t kKeptListValues = 1 << 16;
  std::unique_ptr<storage::RandomAccessFile> file_;
  uint64_t offset_ = 0;  // of the file, where data_ ends
  bool eof_ = false;     // a read came back short: the file has no more
  absl::Status error_;   // of the last read, if it failed
  std::string lo_, hi_;
  std::string data_;
  size_t pos_ = 0;
  std::string key_;
  storage::PostingList list_;
  bool done_ = false;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_RUN_FILE_H_
