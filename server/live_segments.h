// File: server/live_segments.h
//
// The refresh step of a live index (issue 19): a batch of written operations
// (upserts and deletes, in the order they were logged) becomes the next
// snapshot of the index. ApplyOperations builds one segment per base shard
// that received upserts (indexer/segment.h, in the base shard's format and
// settings), marks every earlier copy of a written or deleted id as deleted
// (where Searcher::Locate finds it: the base shard or a segment), and returns
// the immutable query::Searcher of the new snapshot, which the server swaps
// in (server/live_index.h). The Searcher it starts from is not changed, so
// searches running on it finish on the old snapshot.
//
// Within one batch the last operation on an id decides: upsert, upsert
// gives the second document; upsert then delete gives nothing; delete then
// upsert gives the document. So a live index holds exactly the documents a
// bulk build of the surviving writes would (tests/server/live_segments_test.cc).
//
// Thread safety: ApplyOperations touches only its arguments and the files
// under options.dir; calls for one index must take turns (the caller's
// refresh lock), since each reads the snapshot the previous one made.
#ifndef SCRY_SERVER_LIVE_SEGMENTS_H_
#define SCRY_SERVER_LIVE_SEGMENTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "query/searcher.h"
#include "server/live_index.h"
#include "server/live_writer.h"

namespace scry::server {

struct LiveSegmentsOptions {
  // Where segment directories are made ("seg-NNNNNNNNN-shard-SSS"); created
  // if missing.
  std::string dir;
  // As the base build's (indexer::BuildOptions).
  std::vector<std::string> index_fields = {"*"};
  std::vector<std::string> stored_fields = {"*"};
  size_t max_document_bytes = 64 << 20;
};

struct ApplySummary {
  uint64_t upserted = 0;        // documents written into new segments
  uint64_t deleted = 0;         // earlier copies marked deleted
  uint64_t segments_built = 0;  // new segment directories
  std::vector<std::string> new_segment_paths;
};

// The Searcher of `current`'s snapshot after `ops`. `*next_segment` numbers
// the new segment directories and is advanced past them. On error nothing
// visible changes (directories already made are removed) and the caller may
// retry: InvalidArgument if a document breaks the segment's rules (it should
// have been refused at write time), ResourceExhausted/Internal for I/O,
// DataLoss if the ids cannot be read.
absl::StatusOr<std::unique_ptr<query::Searcher>> ApplyOperations(const query::Searcher& current,
                                                                 std::span<const LiveOp> ops,
                                                                 const LiveSegmentsOptions& options,
                                                                 uint64_t* next_segment,
                                                                 ApplySummary* summary = nullptr);

// The apply hook of a server's LiveWriter (server/live_writer.h): each
// refresh turns the operations logged since the last one into a new
// snapshot with ApplyOperations and serves it (LiveIndex::Refresh).
//
// Segments are not yet durable: they are rebuilt from the write-ahead log,
// which keeps every record (nothing is marked applied, so a restart reads
// the whole log back as pending and the first refresh applies it again).
// When the served generation changes (a bulk rebuild was switched to), the
// next refresh or CatchUp applies the whole log up to the last applied
// sequence onto the new generation, so acknowledged writes stay visible:
// an upsert of a document the rebuild already holds replaces it by the
// same text, a delete deletes it again.
//
// Thread safety: Apply and CatchUp take turns on a mutex.
class LiveApplier {
 public:
  // Reads the log's operations with sequence in [1, upto] (in order).
  using ReadLog = std::function<absl::Status(uint64_t upto, std::vector<LiveOp>* ops)>;

  // `options.dir` is emptied: segments of an earlier run are stale (the
  // log rebuilds them). `index` must outlive this object.
  static absl::StatusOr<std::unique_ptr<LiveApplier>> Create(LiveIndex* index,
                                                             LiveSegmentsOptions options,
                                                             ReadLog read_log);

  // The ApplyHook.
  absl::Status Apply(std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq);
  // Applies the log again if the served generation is not the one the
  // last refresh applied to (a no-op otherwise, or before any write).
  absl::Status CatchUp();

 private:
  LiveApplier(LiveIndex* index, LiveSegmentsOptions options, ReadLog read_log);
  // Serves `ops` applied to the served snapshot (after the whole log up to
  // applied_seq_ if the generation changed); then applied_seq_ = last_seq.
  absl::Status ApplyLocked(std::vector<LiveOp> ops, uint64_t last_seq);

  LiveIndex* const index_;
  const LiveSegmentsOptions options_;
  const ReadLog read_log_;
  std::mutex mu_;
  std::string generation_;    // what the last refresh applied to
  uint64_t applied_seq_ = 0;  // the last sequence applied
  uint64_t next_segment_ = 1;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_LIVE_SEGMENTS_H_
