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
// Thread safety: Search, GetDocument and Stats are safe to call concurrently.
#ifndef SCRY_QUERY_SEARCHER_H_
#define SCRY_QUERY_SEARCHER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "query/analyzer_pool.h"
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
  // The memory the posting cursors of one query may take, estimated before
  // evaluation (CursorCount x CursorMemoryBytes, summed over the shards
  // evaluated at once); a query over it is refused with ResourceExhausted.
  // 0: no limit.
  size_t max_query_memory_bytes = size_t{128} << 20;
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
  absl::StatusOr<SearchResult> Search(const SearchRequest& request) const;

  // NotFound if no document has id `id`; DataLoss if it cannot be read.
  absl::StatusOr<Document> GetDocument(const std::string& id) const;

  // Each shard's sizes, in shard order, read now. DataLoss/Internal if a
  // shard cannot be read.
  absl::StatusOr<std::vector<ShardInfo>> Stats() const;

  // The index, as opened.
  const IndexInfo& info() const { return info_; }
  // The generation searched ("gen-000007"): a Searcher reads one generation
  // of the index directory, leased while it is open (storage/index_dir.h).
  const std::string& generation() const { return info_.generation; }
  // The named fields of the index (the union over shards), sorted.
  const std::vector<std::string>& fields() const { return info_.fields; }

 private:
  Searcher() = default;

  std::unique_ptr<storage::IndexReader> index_;
  std::vector<const storage::ShardReader*> shards_;  // index_'s, in order
  IndexInfo info_;
  // The index's sizes, which every query's statistics start from.
  PlanStatistics collection_;
  std::unique_ptr<ThreadPool> pool_;  // only with several shards
  std::unique_ptr<AnalyzerPool> analyzers_;
  std::unique_ptr<Planner> planner_;
  size_t max_query_memory_bytes_ = 0;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_SEARCHER_H_
