// File: storage/write_log.h
//
// The write-ahead log of live writes (server/live_writer.h): records (opaque
// bytes; the live writer encodes one operation per record) numbered by a
// sequence that starts at 1 and never goes back, kept in a small RocksDB
// database of their own (DIR/live/ beside the generations). RocksDB's own WAL
// is the log: a batch of records is one rocksdb::WriteBatch, so a batch is in
// the log whole or not at all, and once Append returns the batch has reached
// the WAL (the OS's page cache at least; with `sync`, the disk). Opening the
// database replays its WAL, which is the recovery.
//
// Besides the records, the log keeps two numbers: `applied`, up to which
// sequence the records are in durable segments (MarkApplied; recovery
// replays what follows), and the records themselves are dropped only by
// Trim, so that whoever applies them decides how long they stay (a rebuild
// may need them again: docs/ARCHITECTURE.md, "Live writes").
//
// Thread safety: every method may be called concurrently; appends are
// serialized (sequence order is log order).
#ifndef SCRY_STORAGE_WRITE_LOG_H_
#define SCRY_STORAGE_WRITE_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace scry::storage {

class WriteLog {
 public:
  // Opens the log at `path` (a directory; created if missing) and recovers
  // it: every batch whose Append returned is there. DataLoss if the log is
  // damaged, Unavailable if another process has it open.
  static absl::StatusOr<std::unique_ptr<WriteLog>> Open(const std::string& path);
  ~WriteLog();
  WriteLog(const WriteLog&) = delete;
  WriteLog& operator=(const WriteLog&) = delete;

  // Appends `records` as one atomic batch and returns the sequence of the
  // first (the others follow one by one). With `sync`, the log is on disk
  // when it returns (fsync), else in the OS's hands (it survives the
  // process's death, not the machine's). An empty batch returns next_seq()
  // and writes nothing.
  absl::StatusOr<uint64_t> Append(const std::vector<std::string>& records, bool sync);

  // Makes every appended record durable (fsync of the WAL).
  absl::Status Sync();

  // Calls fn(seq, record) for every record kept with seq >= `from`, in
  // order; stops at fn's first error and returns it.
  absl::Status ReadFrom(uint64_t from,
                        const std::function<absl::Status(uint64_t, std::string_view)>& fn) const;

  // The record of sequence `seq` (a point read: a merge of live segments
  // reads back the documents it keeps, server/live_segments.h). NotFound if
  // there is none (never appended, or trimmed).
  absl::StatusOr<std::string> Get(uint64_t seq) const;

  // Drops the records of these sequences (those never appended or already
  // dropped are ignored), as one batch, not synced: a caller drops only
  // records whose replay would change nothing, so losing the drop in a
  // crash loses nothing either. Once as many records were dropped since
  // the last time as are kept (and at least 1,024), the call also flushes
  // and compacts the log, so that its bytes follow the records kept.
  absl::Status Drop(std::span<const uint64_t> seqs);

  // The records kept (appended, not dropped or trimmed).
  uint64_t records() const;

  // Records, durably, that the records up to `seq` are applied; recovery
  // starts after it. `seq` never goes back (a smaller one is ignored).
  absl::Status MarkApplied(uint64_t seq);
  // Drops the records up to `seq` (at most applied()).
  absl::Status Trim(uint64_t seq);

  uint64_t applied() const;
  // The sequence the next appended record gets.
  uint64_t next_seq() const;

 private:
  struct Impl;
  explicit WriteLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_WRITE_LOG_H_
