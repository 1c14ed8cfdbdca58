// File: indexer/reorder.h
//
// Document reordering of a finished shard (`scry index --reorder bp`): the
// documents get new docids in the order recursive graph bisection
// (indexer/bisection.h) finds on the catch-all field's lists, and everything
// keyed by docid follows: every posting list (tfs and positions with their
// documents; impacts recomputed from the lengths), stored documents, titles,
// ids and per-field lengths. The shard is rewritten whole as a new shard
// (storage::ShardWriter), which then replaces it.
//
// Results do not change: scores depend on no docid, and ties are broken by
// external id (query/collector.h), so a reordered shard gives the same hits
// and scores. Only the order in which evaluators meet documents changes, and
// with it which documents pruning skips, so a pruned search's total_hits (a
// lower bound) may differ; an exact count does not.
//
// The bisection is deterministic (whatever the threads), so a shard built
// alone (`--shard I`) is reordered as the whole build reorders it.
#ifndef SCRY_INDEXER_REORDER_H_
#define SCRY_INDEXER_REORDER_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "indexer/bisection.h"
#include "storage/shard.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

struct ReorderOptions {
  // Terms of the catch-all held by fewer documents are left out of the
  // forward index the bisection reads (as PISA's --min-len does): they hold
  // few of the lists' bytes and would only cost time.
  uint32_t min_df = 8;
  // Bound on the forward index's memory (kForwardBytesPerPosting per
  // posting read); 0: none. Past it, the rarest of the terms are left out
  // too (min_df raised, terms of one df kept or left out together), so the
  // build keeps to its --memory-mb.
  uint64_t max_forward_bytes = 0;
  BisectionOptions bisection;
  // The codecs of the rewritten lists (null members: ShardWriter's defaults).
  storage::PostingCodecs codecs;
  // Threads that encode and write the rewritten lists (0 counts as 1).
  unsigned write_threads = 1;
  // The environment the new shard is written through (ShardWriterOptions).
  rocksdb::Env* env = nullptr;
};

// The forward index's memory per posting at its peak: its term ids and the
// lists they are transposed from (4 bytes each).
inline constexpr uint64_t kForwardBytesPerPosting = 8;

struct ReorderSummary {
  bool reordered = false;         // false: the input order was kept (no cheaper order found)
  uint32_t min_df = 0;            // the min_df used (raised to keep max_forward_bytes)
  uint64_t forward_terms = 0;     // catch-all terms the bisection read (df >= min_df)
  uint64_t forward_postings = 0;  // their postings
  double cost_before = 0;         // LogGapCost of the forward index, in bits
  double cost_after = 0;
  double read_seconds = 0;    // reading the forward index
  double bisect_seconds = 0;  // the bisection (and its two LogGapCost passes)
  double write_seconds = 0;   // rewriting the shard
};

// The forward index of `shard`'s catch-all terms of df >= min_df (term ids
// in term order), min_df first raised as far as needed for the index to
// take at most max_forward_bytes (0: no bound); *used_min_df (if given)
// gets the min_df used.
absl::StatusOr<ForwardIndex> ReadForwardIndex(const storage::ShardReader& shard, uint32_t min_df,
                                              uint64_t max_forward_bytes = 0,
                                              uint32_t* used_min_df = nullptr);

// Writes the documents of `from` as a new shard at `to` (which must not
// exist or be empty), document order[i] of `from` becoming docid i, with the
// same shard meta, fields, documents and lists. REQUIRES: `order` is a
// permutation of 0 .. from.meta().doc_count - 1.
absl::Status RewriteShard(const storage::ShardReader& from, std::span<const uint32_t> order,
                          const std::string& to, const ReorderOptions& options);

// Reorders the finished shard at `path` in place: it is rewritten beside
// itself (at path + ".reorder"), then replaces it. If the bisection finds no
// order cheaper than the shard's own, the shard is left as it is.
absl::StatusOr<ReorderSummary> ReorderShard(const std::string& path, const ReorderOptions& options);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_REORDER_H_
