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
// Merges (issue 19): every refresh adds segments, so a tiered merge policy
// (SelectMerges, Lucene's TieredMergePolicy simplified) picks segments of
// one base shard to rewrite as one without their deleted documents, and
// LiveApplier runs the merges on a background thread (see there).
//
// Segment directories are removed when their last reader closes: a
// segment's reader (shared by every Searcher whose snapshot holds it) is
// made with a deleter that closes it, then removes its directory, so a
// segment merged away or left by a new generation goes once the last
// search on an older snapshot is done, and never under a running search.
//
// Thread safety: ApplyOperations touches only its arguments and the files
// under options.dir; calls for one index must take turns (the caller's
// refresh lock), since each reads the snapshot the previous one made.
#ifndef SCRY_SERVER_LIVE_SEGMENTS_H_
#define SCRY_SERVER_LIVE_SEGMENTS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "query/searcher.h"
#include "server/live_index.h"
#include "server/live_writer.h"

namespace scry::server {

// The tiered merge policy. The segments of one base shard are grouped in
// tiers by size (live documents, a segment under floor_docs counting as
// floor_docs): tier t holds sizes in [floor x m^t, floor x m^(t+1)) with
// m = max_merge_at_once. When a tier holds more than segments_per_tier
// segments, its max_merge_at_once smallest are merged (the result lands in
// the same tier or the next), so a shard keeps at most about
// segments_per_tier x (tiers) segments: a logarithmic number.
struct MergePolicyOptions {
  size_t segments_per_tier = 10;
  size_t max_merge_at_once = 10;
  uint64_t floor_docs = 1000;
  // A segment with more than this fraction of its documents deleted is
  // rewritten at once (alone or with others like it), whatever its tier; a
  // segment whose documents are all deleted is dropped without a build.
  double max_deleted_fraction = 0.5;
  // Merges run on LiveApplier's background thread; false: only when
  // LiveApplier::MergeOnce is called (tests).
  bool background = true;
};

// One segment as the policy sees it.
struct SegmentSize {
  uint32_t shard = 0;
  uint64_t docs = 0;      // documents written (deleted included)
  uint64_t deleted = 0;   // of them, deleted
  bool mergeable = true;  // false: never chosen (its log sequences are unknown)
};

// What to do with a snapshot's segments, as indexes into it.
struct MergePlan {
  std::vector<size_t> drop;                 // every document deleted
  std::vector<std::vector<size_t>> merges;  // each of one shard, oldest first
  bool empty() const { return drop.empty() && merges.empty(); }
};

// The policy: what to drop, and at most one merge per base shard (the
// mostly-deleted segments first, then the lowest tier over its bound).
MergePlan SelectMerges(std::span<const SegmentSize> segments, const MergePolicyOptions& options);

struct LiveSegmentsOptions {
  // Where segment directories are made ("seg-NNNNNNNNN-shard-SSS"); created
  // if missing.
  std::string dir;
  // As the base build's (indexer::BuildOptions).
  std::vector<std::string> index_fields = {"*"};
  std::vector<std::string> stored_fields = {"*"};
  size_t max_document_bytes = 64 << 20;
  MergePolicyOptions merge;
  // Tests: called by a merge after its segment is built and before it is
  // swapped in (to land deletes on the segments being merged meanwhile).
  std::function<void()> before_merge_swap;
};

struct ApplySummary {
  uint64_t upserted = 0;        // documents written into new segments
  uint64_t deleted = 0;         // earlier copies marked deleted
  uint64_t segments_built = 0;  // new segment directories
  std::vector<std::string> new_segment_paths;
  // Log sequences whose records no longer decide anything: upserts whose
  // copies these operations replaced or deleted (the copies' segments know
  // their sequences), and operations of `ops` followed there by a later one
  // on the same id. Replaying the log without them gives the same index
  // (the last operation on an id decides), so they may be dropped from it.
  std::vector<uint64_t> superseded;
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
// Merges: after each refresh a background thread asks SelectMerges about
// the served snapshot and runs what it plans, one merge at a time. A merge
// reads the live documents of its segments back from the write-ahead log by
// the sequences each segment records per docid (query::Segment::seqs; a
// segment's stored members may be a subset, the log has the whole
// document), builds them as one new segment (BuildSegment, as a refresh
// does, so the result answers exactly as a bulk build of the same
// documents), then swaps it in through LiveIndex::Refresh: the snapshot
// served then loses the merged segments and gains the new one, with every
// document deleted in the merged segments since the merge began (a refresh
// that ran meanwhile) deleted in the new one too (old docids map to new).
// Searches never wait for a merge (they hold their snapshot) and a refresh
// waits at most for the swap. A merge whose segments are no longer served
// (a new generation was switched to) is thrown away.
//
// Segments are not yet durable: they are rebuilt from the write-ahead log
// (nothing is marked applied, so a restart reads the whole log back as
// pending and the first refresh applies it again). The log stays bounded by
// the live documents, not by the history of writes: each refresh reports
// the records it superseded (ApplySummary::superseded) and the merge
// thread drops them between merges (`drop_records`), when no merge can be
// reading them; what stays is one upsert per live written id and the
// deletes (an id deleted may exist in a later base generation).
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
  // Reads the log's operation of sequence `seq` (a merge's documents).
  using ReadRecord = std::function<absl::StatusOr<LiveOp>(uint64_t seq)>;
  // Drops the log's records of these sequences (ApplySummary::superseded).
  using DropRecords = std::function<absl::Status(std::span<const uint64_t> seqs)>;

  // `options.dir` is emptied: segments of an earlier run are stale (the
  // log rebuilds them). `index` must outlive this object. Starts the merge
  // thread if options.merge.background, and becomes `index`'s rebase hook
  // (LiveIndex::SetRebase): a new generation is served only with the log
  // applied onto it.
  static absl::StatusOr<std::unique_ptr<LiveApplier>> Create(LiveIndex* index,
                                                             LiveSegmentsOptions options,
                                                             ReadLog read_log,
                                                             ReadRecord read_record,
                                                             DropRecords drop_records = nullptr);
  // Stop(), then goes.
  ~LiveApplier();

  // Stops being the rebase hook (a rebase under way is finished first),
  // then stops the merge thread (likewise a merge): afterwards only Apply
  // and CatchUp call the hooks. For an owner that takes away what the
  // hooks use (the log) before this object goes. Idempotent.
  void Stop();

  // The ApplyHook.
  absl::Status Apply(std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq);
  // Applies the log again if the served generation is not the one the
  // last refresh applied to (a no-op otherwise, or before any write).
  absl::Status CatchUp();

  // Runs what SelectMerges plans for the served snapshot now: drops, then
  // at most one merge. Returns whether anything changed (false: nothing to
  // do, or the merge was thrown away for a new generation). The merge
  // thread calls it; tests may too (merges take turns on a mutex).
  absl::StatusOr<bool> MergeOnce();

  // Merges swapped in and segments dropped since creation.
  uint64_t merges() const { return merges_.load(std::memory_order_relaxed); }

 private:
  LiveApplier(LiveIndex* index, LiveSegmentsOptions options, ReadLog read_log,
              ReadRecord read_record, DropRecords drop_records);
  // Serves `ops` applied to the served snapshot (after the whole log up to
  // applied_seq_ if the generation changed); then applied_seq_ = last_seq.
  absl::Status ApplyLocked(std::vector<LiveOp> ops, uint64_t last_seq);
  // The rebase hook: serves `fresh` with the log up to applied_seq_ applied.
  absl::Status Rebase(std::unique_ptr<query::Searcher> fresh,
                      const LiveIndex::ServeSearcher& serve);
  // Hands `superseded` to the merge thread, which drops them.
  void Supersede(std::vector<uint64_t> superseded);
  // Drops the records superseded so far (no merge runs meanwhile).
  absl::Status DropSuperseded();
  // Wakes the merge thread.
  void NotifyMerger();
  void MergeLoop();

  LiveIndex* const index_;
  const LiveSegmentsOptions options_;
  const ReadLog read_log_;
  const ReadRecord read_record_;
  const DropRecords drop_records_;
  std::mutex mu_;
  std::string generation_;    // what the last refresh applied to
  uint64_t applied_seq_ = 0;  // the last sequence applied
  uint64_t next_segment_ = 1;

  std::mutex merge_mu_;      // one MergeOnce at a time
  uint64_t next_merge_ = 1;  // names merged segments; guarded by merge_mu_
  std::atomic<uint64_t> merges_{0};
  std::mutex drop_mu_;
  std::vector<uint64_t> superseded_;  // guarded by drop_mu_
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool wake_pending_ = false;  // guarded by wake_mu_
  bool stop_ = false;          // guarded by wake_mu_
  std::mutex stop_mu_;         // one join of merger_
  std::thread merger_;         // last: starts once the rest is made
};

}  // namespace scry::server

#endif  // SCRY_SERVER_LIVE_SEGMENTS_H_
