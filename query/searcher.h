// File: query/searcher.h
//
// Searcher answers queries over an open index (all shards): parse and analyse
// the query with the index's own analyser settings, gather index-wide term
// statistics, evaluate the query on every shard, and merge the per-shard
// top hits into one ranking: descending score, ties by ascending id (byte
// order). Results are therefore identical for 1 or N shards.
//
// Search is a composition of the stages of a search, each of which a broker
// over several servers can call on its own: planning (query/planner.h),
// per-shard evaluation (query/shard_search.h), the merge
// (query/collector.h) and hit fetching (query/hit_fetcher.h).
//
// A live index (issue 19) searches a Snapshot: the base generation's shards,
// segments of documents added since (each evaluated like one more shard) and
// the deleted documents of each; Searcher::WithSegments makes the immutable
// Searcher of a snapshot, which a server swaps in on refresh.
//
// Thread safety: Search, GetDocument, Locate, Stats and WithSegments are safe
// to call concurrently.
#ifndef SCRY_QUERY_SEARCHER_H_
#define SCRY_QUERY_SEARCHER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "query/analyzer_pool.h"
#include "query/deleted_docs.h"
#include "query/index_info.h"
#include "query/planner.h"
#include "query/query_parser.h"
#include "query/rewrite.h"
#include "query/search_request.h"
#include "query/thread_pool.h"

namespace scry::storage {
class IndexReader;
class ShardReader;
}  // namespace scry::storage

namespace scry::query {

struct SearcherOptions {
  ParseOptions parse;                    // limits on query text
  uint32_t max_top_k = 10000;            // bound on offset + top_k
  size_t block_cache_bytes = 256 << 20;  // RocksDB block cache, all shards
  // Per shard: its posting, then position chunks are copied into memory at
  // open if they fit in this many bytes (storage::ShardReader::Options).
  uint64_t memory_lists_bytes = uint64_t{512} << 20;
  // Whether each shard's term dictionary is loaded into memory at open (else
  // every read goes through RocksDB, and no list is in memory either).
  bool memory_dictionary = true;
  // Threads that evaluate the shards of one query in parallel (the calling
  // thread included); 0 = one per core. Unused with a single shard.
  size_t search_threads = 0;
  // A query without phrases whose terms have fewer postings than this in
  // all (sum of their document frequencies over the shards) evaluates its
  // shards one after the other on the calling thread: handing them to the
  // pool costs more (tens of microseconds) than it saves (bench/RESULTS.md).
  uint64_t parallel_min_postings = 100000;
  // Terms a prefix (max_expansions) or fuzzy (max_fuzzy_expansions) leaf
  // may expand to; past that the best are kept and the result says so. A
  // query whose leaves expand to more than max_total_expansions in all is
  // refused (InvalidArgument).
  ExpansionOptions expansion;
  // The base shards this searcher serves (a shard server of a broker,
  // server/broker.h), ascending; empty: every shard. The others are not
  // opened (their files need not be there: a part built with --shard I
  // serves as {I}), searched, counted in the statistics or read by
  // GetDocument.
  std::vector<uint32_t> shards;
  // The memory the posting cursors of one query may take, estimated before
  // evaluation (CursorCount x CursorMemoryBytes, summed over the shards
  // evaluated at once); a query over it is refused with ResourceExhausted.
  // 0: no limit.
  size_t max_query_memory_bytes = size_t{128} << 20;
};

// A segment of a live index: a small shard of new documents written after
// the base generation (indexer/segment.h, BuildSegment), in the same format,
// that belongs to base shard `shard` (its ids route there: storage::
// ShardForId), with the documents of it that were deleted or replaced since.
struct Segment {
  uint32_t shard = 0;
  std::shared_ptr<const storage::ShardReader> reader;
  std::shared_ptr<const DeletedDocs> deleted;  // null: none
  // Per docid, the sequence of the write-ahead log record that wrote the
  // document (server/live_segments.h: a merge reads the documents it keeps
  // back from the log, since a segment may store only some members); null
  // if unknown (such a segment is never merged).
  std::shared_ptr<const std::vector<uint64_t>> seqs;
};

// What a live index serves at one moment besides its base generation.
struct Snapshot {
  // The deleted documents of each base shard, by shard index; missing or
  // null entries: none.
  std::vector<std::shared_ptr<const DeletedDocs>> base_deleted;
  // Oldest first (within a shard, a later segment's copy of an id is the
  // newer one: GetDocument and Locate look there first).
  std::vector<Segment> segments;
};

// Where the live copy of an id is (Searcher::Locate).
struct DocLocation {
  uint32_t shard = 0;    // the base shard its id routes to
  int32_t segment = -1;  // its index in Snapshot::segments, or -1: the base shard
  uint32_t docid = 0;    // in that shard or segment
};

class Searcher {
 public:
  // FailedPrecondition if `index_dir` holds no index; other codes if it is
  // damaged or unreadable.
  static absl::StatusOr<std::unique_ptr<Searcher>> Open(const std::string& index_dir,
                                                        const SearcherOptions& options);
  ~Searcher();
  Searcher(const Searcher&) = delete;
  Searcher& operator=(const Searcher&) = delete;

  // InvalidArgument for a bad query ("column C: reason"), top_k/offset over
  // max_top_k or too many expansions; ResourceExhausted for a query over
  // max_query_memory_bytes, or hits over SearchRequest::max_response_bytes;
  // DeadlineExceeded or Cancelled (see SearchRequest); DataLoss/Internal if
  // the index cannot be read.
  // With request.statistics, InvalidArgument if they do not cover this
  // searcher's own (a term's local df above the given one).
  absl::StatusOr<SearchResult> Search(const SearchRequest& request) const;

  // This searcher's part of the statistics of `request`'s query (its
  // served shards' sizes and the document frequencies of the query's terms
  // there): what a broker sums over servers into SearchRequest::statistics
  // (the first phase of a distributed search, as Elasticsearch's DFS).
  // Errors as Search's planning.
  absl::StatusOr<PlanStatistics> Statistics(const SearchRequest& request) const;

  // The base shards searched, ascending (SearcherOptions::shards, or all).
  const std::vector<uint32_t>& served_shards() const { return served_shards_; }

  // A Searcher of the same base generation (sharing this one's open shards,
  // threads and analysers; either may be destroyed first) with `snapshot`'s
  // segments and deleted documents instead of this one's. It answers as a
  // bulk build of its live documents would: the same hits, scores and exact
  // total_hits (statistics count live documents only; deleted ones never
  // match). InvalidArgument if a segment names no shard of the index, a
  // deleted set's doc_count is not its shard's, or a segment's analyser
  // settings differ from the base's. Cost: O(segments + deleted docids x
  // named fields), paid here once (the live lengths), not per query.
  absl::StatusOr<std::unique_ptr<Searcher>> WithSegments(Snapshot snapshot) const;

  // NotFound if no live document has id `id`; DataLoss if it cannot be read.
  absl::StatusOr<Document> GetDocument(const std::string& id) const;

  // The live copy of `id` (the newest segment first, then the base shard),
  // or nullopt if there is none. DataLoss if the ids cannot be read.
  absl::StatusOr<std::optional<DocLocation>> Locate(const std::string& id) const;

  // Each shard's sizes, in shard order, read now: live documents (its
  // segments' included), and terms, postings and bytes summed over the
  // shard and its segments (deleted postings still count until a merge
  // drops them). DataLoss/Internal if a shard cannot be read.
  absl::StatusOr<std::vector<ShardInfo>> Stats() const;

  // The snapshot searched (empty for a Searcher from Open).
  const Snapshot& snapshot() const { return snapshot_; }
  // The base shard `shard` (to build segments with its settings).
  // REQUIRES: shard < info().num_shards.
  // REQUIRES: serves(shard) (the others are not opened).
  const storage::ShardReader& base_shard(uint32_t shard) const;
  // Whether base shard `shard` is served (SearcherOptions::shards).
  bool serves(uint32_t shard) const;

  // The index, as opened.
  const IndexInfo& info() const { return info_; }
  // The generation searched ("gen-000007"): a Searcher reads one generation
  // of the index directory, leased while it is open (storage/index_dir.h).
  const std::string& generation() const { return info_.generation; }
  // The named fields of the index (the union over shards), sorted.
  const std::vector<std::string>& fields() const { return info_.fields; }

 private:
  Searcher() = default;

  // What a Searcher shares with those WithSegments makes from it.
  struct Base;
  // Makes planner_ and the statistics of the parts.
  absl::Status Init();
  // Plans `request` and gathers the served parts' statistics and terms
  // (terms has an entry per part; only served parts' are filled).
  // The hits request.fetch lists, fetched (a broker's fetch round).
  absl::StatusOr<SearchResult> FetchListed(const QueryPlan& plan,
                                           const SearchRequest& request) const;
  absl::StatusOr<QueryPlan> PlanLocal(const SearchRequest& request, std::vector<ShardTerms>* terms,
                                      PlanStatistics* stats) const;
  // The thread pool, made at first need (a base of one shard with segments).
  ThreadPool* pool() const;

  std::shared_ptr<Base> base_;
  Snapshot snapshot_;
  // What a query evaluates: the base shards (part s = shard s), then the
  // segments in snapshot order; each part's deleted documents (null: none).
  std::vector<const storage::ShardReader*> shards_;
  std::vector<const DeletedDocs*> deleted_;
  // The parts searched (indexes into shards_): the served base shards and
  // their segments; and those parts' readers (the dictionary of expansions).
  std::vector<size_t> parts_;
  std::vector<const storage::ShardReader*> served_readers_;
  std::vector<uint32_t> served_shards_;
  IndexInfo info_;
  // The index's sizes (live documents), which every query's statistics
  // start from.
  PlanStatistics collection_;
  std::unique_ptr<Planner> planner_;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_SEARCHER_H_
