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
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "indexer/jsonl_reader.h"
#include "query/searcher.h"

namespace scry::server {

// One written operation, as logged.
struct LiveOp {
  enum class Kind { kUpsert, kDelete };
  uint64_t seq = 0;  // its sequence number in the write-ahead log
  Kind kind = Kind::kUpsert;
  // kUpsert: the whole document (already valid: indexer::ValidateDocument);
  // kDelete: only doc.id is read.
  indexer::InputDocument doc;
};

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

}  // namespace scry::server

#endif  // SCRY_SERVER_LIVE_SEGMENTS_H_
