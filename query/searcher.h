// File: query/searcher.h
//
// Searcher answers queries over an open index (all shards): parse and analyse
// the query with the index's own analyser settings, gather index-wide term
// statistics, evaluate the query on every shard, and merge the per-shard
// top hits into one ranking: descending score, ties by ascending id (byte
// order). Results are therefore identical for 1 or N shards.
//
// Thread safety: Search, GetDocument and Stats are safe to call concurrently.
#ifndef SCRY_QUERY_SEARCHER_H_
#define SCRY_QUERY_SEARCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "analysis/analyzer.h"
#include "query/highlighter.h"
#include "query/query_parser.h"
#include "query/rewrite.h"
#include "query/thread_pool.h"
#include "storage/index_dir.h"

namespace scry::query {

struct SearcherOptions {
  ParseOptions parse;                    // limits on query text
  uint32_t max_top_k = 10000;            // bound on offset + top_k
  size_t block_cache_bytes = 256 << 20;  // RocksDB block cache, all shards
  // Threads that evaluate the shards of one query in parallel (the calling
  // thread included); 0 = one per core. Unused with a single shard.
  size_t search_threads = 0;
  // A query without phrases whose terms have fewer postings than this in
  // all (sum of their document frequencies over the shards) evaluates its
  // shards one after the other on the calling thread: handing them to the
  // pool costs more (tens of microseconds) than it saves (bench/RESULTS.md).
  uint64_t parallel_min_postings = 100000;
  // Terms a prefix (max_expansions) or fuzzy (max_fuzzy_expansions) leaf
  // may expand to; past that the best are kept and the result says so.
  ExpansionOptions expansion;
};

// How a ranked query of terms is evaluated (see query/maxscore.h).
enum class Pruning {
  kAuto,          // per query: the fastest exact algorithm by measurement (RESULTS.md)
  kNone,          // exhaustive: every posting scored (the reference)
  kMaxScore,      // MaxScore for OR of terms; block-max skipping for AND of terms
  kBlockMaxWand,  // Block-Max WAND for OR of terms; block-max skipping for AND of terms
};

struct SearchRequest {
  std::string query;
  uint32_t top_k = 10;  // 0 means 10
  uint32_t offset = 0;
  DefaultOperator default_operator = DefaultOperator::kOr;
  // Stored fields to return besides the title; "*" for all.
  std::vector<std::string> fields;
  // The named fields that words without a `field:` search, with weights
  // (per-field BM25 scores, multiplied by the weight and summed); empty:
  // the catch-all field that holds every member.
  std::vector<FieldWeight> default_fields;
  // Return ids and scores only: no stored document is read (no title, no
  // fields). For callers that fetch documents themselves, and benchmarks.
  bool ids_only = false;
  // Count every match. Without it, total_hits may be a lower bound (see
  // SearchResult): an exact count would defeat dynamic pruning.
  bool exact_total_hits = false;
  // For benchmarks and tests; every choice returns the same hits.
  Pruning pruning = Pruning::kAuto;
  // Deep paging: only hits ranked after this one (lower score, or the same
  // score and a greater id); offset applies after it.
  struct After {
    double score = 0;
    std::string id;
  };
  std::optional<After> search_after;
  // Fill SearchHit::explanation.
  bool explain = false;
  // Fill SearchHit::snippets with fragments of these stored fields.
  std::vector<std::string> highlight_fields;
  HighlightOptions highlight;
  // The search fails with DEADLINE_EXCEEDED if it cannot finish by
  // `deadline`, or with CANCELLED once `cancelled` (if set; called from the
  // shards' threads now and then) returns true, within microseconds of it.
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;
};

// One leaf's part of a hit's score (see Bm25): score = weight * idf * tf *
// (k1 + 1) / (tf + k1 * (1 - b + b * doc_length / avg_doc_length)).
struct TermExplanation {
  std::string field;  // "" = the catch-all
  std::string term;   // a phrase's terms joined by spaces
  double weight = 1;  // boosts times field weight
  double tf = 0;
  uint64_t df = 0;  // terms only
  uint64_t docs = 0;
  double idf = 0;  // phrases: the sum of their terms' idf
  uint32_t doc_length = 0;
  double avg_doc_length = 0;
  double score = 0;
};

struct SearchHit {
  std::string id;
  double score = 0;
  std::string title;
  std::vector<std::pair<std::string, std::string>> fields;
  // Per field of SearchRequest::highlight_fields with a match: fragments.
  std::vector<std::pair<std::string, std::vector<std::string>>> snippets;
  std::vector<TermExplanation> explanation;  // with SearchRequest::explain
};

struct SearchResult {
  std::vector<SearchHit> hits;
  // Number of matching documents: exact unless total_hits_is_lower_bound
  // (pruned evaluation skipped documents that cannot reach the top-k; they
  // may match).
  uint64_t total_hits = 0;
  bool total_hits_is_lower_bound = false;
  // A prefix or fuzzy term matched more dictionary terms than the limit;
  // the most frequent (fuzzy: the closest) were kept.
  bool expansions_truncated = false;
  // For benchmarks: BM25 evaluations of a pruned OR query of terms, and the
  // postings of its terms (sum of their df), which exhaustive evaluation
  // scores; 0 for other queries.
  uint64_t postings_scored = 0;
  uint64_t postings_total = 0;
};

class Searcher {
 public:
  // FailedPrecondition if `index_dir` holds no index; other codes if it is
  // damaged or unreadable.
  static absl::StatusOr<std::unique_ptr<Searcher>> Open(const std::string& index_dir,
                                                        const SearcherOptions& options);

  // InvalidArgument for a bad query ("column C: reason") or top_k/offset over
  // max_top_k; DeadlineExceeded or Cancelled (see SearchRequest);
  // DataLoss/Internal if the index cannot be read.
  absl::StatusOr<SearchResult> Search(const SearchRequest& request) const;

  // NotFound if no document has id `id`.
  absl::StatusOr<storage::StoredDocument> GetDocument(const std::string& id) const;

  absl::StatusOr<std::vector<storage::ShardStats>> Stats() const;

  const storage::IndexReader& index() const { return *index_; }
  // The generation searched ("gen-000007"): a Searcher reads one generation
  // of the index directory, leased while it is open (storage/index_dir.h).
  const std::string& generation() const { return index_->generation_name(); }
  // The named fields of the index (the union over shards), sorted.
  const std::vector<std::string>& fields() const { return field_names_; }

 private:
  Searcher() = default;
  std::unique_ptr<analysis::Analyzer> AcquireAnalyzer() const;
  void ReleaseAnalyzer(std::unique_ptr<analysis::Analyzer> analyzer) const;

  SearcherOptions options_;
  std::unique_ptr<storage::IndexReader> index_;
  std::unique_ptr<ThreadPool> pool_;  // only with several shards
  std::unique_ptr<analysis::Analyzer> prototype_;
  std::vector<std::string> field_names_;
  absl::flat_hash_map<std::string, uint64_t> field_lengths_;  // by name, summed over shards
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<analysis::Analyzer>> analyzers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace scry::query

#endif  // SCRY_QUERY_SEARCHER_H_
