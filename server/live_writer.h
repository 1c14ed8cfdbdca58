// File: server/live_writer.h
//
// The write path of a live index: operations (upsert a document, delete an
// id) are validated, appended to the write-ahead log (storage/write_log.h,
// DIR/live/) and acknowledged once there; `Refresh` hands the operations
// logged since the last refresh, grouped by shard, to an apply hook that
// makes them visible (segments: the hook is the engine's business). At open,
// the log's records after its applied sequence are read back as pending
// operations, so the next refresh applies them again: that is recovery.
//
// Thread safety: every method may be called concurrently. Writes are
// serialized on the log (sequence order); Refresh runs one at a time.
#ifndef SCRY_SERVER_LIVE_WRITER_H_
#define SCRY_SERVER_LIVE_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "indexer/jsonl_reader.h"
#include "storage/write_log.h"

namespace scry::server {

enum class OpKind : uint8_t { kUpsert = 1, kDelete = 2 };

// One logged operation.
struct LiveOp {
  uint64_t seq = 0;  // its sequence in the log
  OpKind kind = OpKind::kUpsert;
  // An upsert's document as the bulk builder reads it (line = 0); a delete
  // has the id alone.
  indexer::InputDocument doc;
};

// Makes operations visible. by_shard has one vector per shard (shard =
// storage::ShardForId(id, num_shards), FNV-1a-64(id) % num_shards as the
// builder routes), each in sequence order; last_seq is the sequence of the
// last operation handed over (the operations of all shards are every logged
// operation in (previous last_seq, last_seq]). On OK they count as applied
// in memory; the hook calls LiveWriter::log()->MarkApplied(seq) once they
// are in durable segments, so that recovery replays only what follows. On
// an error they stay pending and the next Refresh hands them over again,
// with the newer ones.
using ApplyHook =
    std::function<absl::Status(std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq)>;

// When the log reaches the disk (fsync): the trade-offs are in README.md.
enum class WalSync {
  kAlways,    // every batch before its answer (a request may not opt out)
  kInterval,  // every sync_interval_ms in the background, and on Commit
  kNever,     // only on Commit and at close (the OS writes it back)
};

struct LiveWriterOptions {
  std::string index_dir;  // the log lives in index_dir/live
  uint32_t num_shards = 1;
  WalSync sync = WalSync::kInterval;
  int sync_interval_ms = 100;
  ApplyHook apply;  // may be empty: Refresh is then UNIMPLEMENTED
  // The index's typed fields (its MANIFEST's schema): upserts are parsed
  // with it, so a bad typed value is refused when written.
  indexer::Schema schema;
  // The shards this server serves (`scry serve --shards`), ascending; empty:
  // every shard. A document of another shard (storage::ShardForId) is
  // refused alone with FailedPrecondition: its writes belong to the servers
  // of its shard, where a broker (`scry broker`) routes them.
  std::vector<uint32_t> shards;
};

// One operation as a client sends it.
struct WriteOp {
  OpKind kind = OpKind::kUpsert;
  std::string document;  // an upsert: one JSON object, the builder's line rules
  std::string id;        // a delete
};

class LiveWriter {
 public:
  // Opens (or creates) index_dir/live and reads back the pending operations.
  static absl::StatusOr<std::unique_ptr<LiveWriter>> Open(const LiveWriterOptions& options);
  ~LiveWriter();
  LiveWriter(const LiveWriter&) = delete;
  LiveWriter& operator=(const LiveWriter&) = delete;

  // Validates every operation; appends the valid ones as one batch, synced
  // if `sync` or the policy is kAlways. (*results)[i] is OK or why ops[i]
  // was refused (InvalidArgument, the builder's reason; FailedPrecondition
  // for a document of a shard not served here). An error return
  // means nothing of the batch was logged: FailedPrecondition while a bulk
  // build of the index runs, or the log's error. *first_seq is the sequence
  // of the first logged operation (the others follow in request order).
  absl::Status Write(std::vector<WriteOp>* ops, bool sync, std::vector<absl::Status>* results,
                     uint64_t* first_seq = nullptr);
  // Hands the pending operations to the apply hook (UNIMPLEMENTED without
  // one). Returns the number handed over.
  absl::StatusOr<uint64_t> Refresh();
  // Makes every acknowledged write durable (fsync of the log).
  absl::Status Commit();

  storage::WriteLog* log() { return log_.get(); }
  // The log's operations with sequence in [1, upto], in order, and the one
  // of sequence `seq` (NotFound if none): what LiveApplier reads back
  // (server/live_segments.h). DataLoss if a record is damaged.
  absl::Status ReadOps(uint64_t upto, std::vector<LiveOp>* ops) const;
  absl::StatusOr<LiveOp> ReadOp(uint64_t seq) const;
  uint64_t pending() const;

  // Encoding of one operation as a log record, and back (DataLoss if
  // damaged). Public for tests and the recovery check.
  static std::string EncodeOp(OpKind kind, const indexer::InputDocument& doc);
  static absl::Status DecodeOp(std::string_view record, LiveOp* op);

 private:
  LiveWriter(const LiveWriterOptions& options, std::unique_ptr<storage::WriteLog> log);
  void SyncLoop();
  // OK if `id` routes to a served shard (options_.shards is not empty).
  absl::Status CheckServed(std::string_view id) const;

  const LiveWriterOptions options_;
  std::unique_ptr<storage::WriteLog> log_;
  std::mutex write_mu_;  // a batch is logged and made pending in one step
  mutable std::mutex mu_;
  std::vector<LiveOp> pending_;  // guarded by mu_, in sequence order
  std::mutex refresh_mu_;        // one Refresh at a time
  // The kInterval syncer.
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread syncer_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_LIVE_WRITER_H_
