// File: query/planner.h
//
// The first stage of a search: from a SearchRequest to a QueryPlan that every
// shard evaluates alike (query/shard_search.h) and that hit fetching reads
// (query/hit_fetcher.h). Planning is three steps:
//
//   1. Planner::Parse checks the request, parses and analyses the query text,
//      applies the default fields, expands prefix and fuzzy leaves against a
//      dictionary (a TermSource: IndexTermSource merges the shards'),
//      flattens nested disjunctions, lists the (field, term) pairs and picks
//      the evaluator;
//   2. the statistics are gathered: LookupTerms finds the plan's terms in one
//      shard, AddTermStatistics adds their document frequencies to a
//      PlanStatistics that starts from the index's sizes. PlanStatistics is a
//      plain value, so that parts gathered elsewhere (other servers) can be
//      summed with Merge;
//   3. Planner::SetStatistics derives idf and each field's BM25 from them and
//      decides whether the shards are evaluated in parallel.
//
// Thread safety: a Planner is immutable, so safe to use concurrently; a
// QueryPlan is read-only once planned and may be read by many threads.
#ifndef SCRY_QUERY_PLANNER_H_
#define SCRY_QUERY_PLANNER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "query/analyzer_pool.h"
#include "query/bm25.h"
#include "query/collector.h"
#include "query/deadline.h"
#include "query/deleted_docs.h"
#include "query/query_parser.h"
#include "query/query_tree.h"
#include "query/rewrite.h"
#include "query/search_request.h"
#include "storage/doc_values.h"
#include "storage/posting_format.h"
#include "storage/shard.h"

namespace scry::query {

// The key of a (field name, term) pair in a plan's maps: the name ("" = the
// catch-all), a NUL, the term.
std::string FieldTermKey(std::string_view field, std::string_view term);

// The shard's id of field `name` ("" is the catch-all), or nullopt if the
// shard has no such field.
std::optional<uint8_t> ShardFieldId(const storage::ShardReader& shard, std::string_view name);

// What BM25 needs to know of the whole index (every shard, or every server's
// shards) to score a query's documents alike wherever they are.
struct PlanStatistics {
  uint64_t docs = 0;          // N
  uint64_t total_length = 0;  // of the catch-all field, summed over the documents
  // Summed lengths of the named fields, by name.
  absl::flat_hash_map<std::string, uint64_t> field_lengths;
  // Documents holding each (field, term) of the plan, by FieldTermKey.
  absl::flat_hash_map<std::string, uint64_t> df;

  // Adds the statistics of another part of the index to these.
  void Merge(const PlanStatistics& part);
};

// How each shard evaluates the query (see query/maxscore.h).
enum class Evaluator {
  kMaxScore,      // OR of terms: MaxScore (scorer tree in a shard with fewer than two)
  kBlockMaxWand,  // OR of terms: Block-Max WAND (likewise)
  kBlockMaxAnd,   // AND of terms: block-max skipping over the intersection
  kScorerTree,    // anything else, or every match counted: every posting scored
};

struct QueryPlan {
  // The query, analysed and rewritten (default fields applied, prefix and
  // fuzzy leaves expanded, nested disjunctions flattened).
  std::unique_ptr<QueryNode> root;
  // Every (field, term) of its term and phrase leaves, as FieldTermKeys,
  // sorted, without duplicates.
  std::vector<std::string> terms;
  // The pairs of words its exact phrases could read instead of the words
  // (storage/keys.h): FieldTermKey(field, PairTerm(a, b)) for every two
  // words at consecutive positions of a phrase of slop 0, sorted, without
  // duplicates. Never part of the statistics.
  std::vector<std::string> pairs;
  bool expansions_truncated = false;
  // What every hit must match besides the root, without scoring: the
  // request's filter and the typed clauses lifted out of the root (see
  // Planner::Parse). A kBool node; null if there is none.
  std::unique_ptr<QueryNode> filter;
  // The (field, term) pairs that only match and never score: of the
  // filter's terms and of the root's keyword clauses, as FieldTermKeys,
  // sorted, without duplicates. Looked up in each shard like `terms` but
  // never part of the statistics.
  std::vector<std::string> filter_terms;
  // The request's facets, each with its field's type and, for a numeric
  // field, its ranges parsed. A plan with facets visits every match.
  struct Facet {
    FacetRequest request;
    storage::FieldType type = storage::FieldType::kKeyword;
    std::vector<storage::KeyRange> ranges;
  };
  std::vector<Facet> facets;
  // A sorted search (SearchRequest::sort): the fields with their types, the
  // order (each field's direction), and the search_after place in it (then
  // `after` is inactive). A plan with a sort visits every match.
  struct SortKey {
    std::string field;
    storage::FieldType type = storage::FieldType::kInt64;
  };
  std::vector<SortKey> sort;
  SortOrder sort_order;  // one direction per entry of `sort`
  struct SortedAfter {
    std::vector<std::optional<int64_t>> keys;
    double score = 0;
    std::string id;
  };
  std::optional<SortedAfter> sorted_after;
  size_t keep = 0;  // hits each shard keeps: offset + top_k
  RankAfter after;  // the request's search_after
  Evaluator evaluator = Evaluator::kScorerTree;
  // The root is an OR of two or more terms: shards count their postings.
  bool term_disjunction = false;
  bool has_phrase = false;

  // Set by Planner::SetStatistics.
  PlanStatistics stats;
  Bm25 bm25{0, 0};                                    // the catch-all field's
  absl::flat_hash_map<std::string, Bm25> field_bm25;  // by named field
  absl::flat_hash_map<std::string, double> idf;       // by FieldTermKey, every term
  bool parallel = false;                              // evaluate the shards on the thread pool
};

struct PlannerOptions {
  ParseOptions parse;          // limits on query text
  uint32_t max_top_k = 10000;  // bound on offset + top_k
  ExpansionOptions expansion;
  // Below this many postings (the sum of df), a query without phrases
  // evaluates its shards one after the other (see SearcherOptions).
  uint64_t parallel_min_postings = 100000;
};

class Planner {
 public:
  // `fields`: the named fields of the index, sorted; `typed`: its typed
  // fields (storage/doc_values.h) by name. `analyzers` must outlive the
  // planner.
  Planner(const PlannerOptions& options, std::vector<std::string> fields, TypedFields typed,
          size_t num_shards, const AnalyzerPool* analyzers);

  // Step 1 (see above): the plan of `request`, without statistics. Typed
  // clauses of the root are lifted into the plan's filter where that keeps
  // the matches (an excluded one always; a required one while a required
  // clause that scores stays), so that the rest can still be evaluated with
  // dynamic pruning.
  // InvalidArgument for a bad query ("column C: reason"), offset + top_k
  // over max_top_k, or a bad default field; ResourceExhausted if no analyzer
  // can be made; the dictionary's errors (DeadlineExceeded, Cancelled,
  // DataLoss).
  absl::StatusOr<QueryPlan> Parse(const SearchRequest& request, const TermSource& dictionary) const;

  // Step 3: sets plan->stats to `stats` and derives idf, the fields' BM25
  // and whether to run in parallel. REQUIRES: stats.df has an entry for
  // every term of the plan that some shard holds.
  void SetStatistics(PlanStatistics stats, QueryPlan* plan) const;

  // The named fields of the index, sorted.
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  // Checks the request's facets into plan->facets.
  absl::Status PlanFacets(const SearchRequest& request, QueryPlan* plan) const;
  // Checks the request's sort and its search_after into plan->sort,
  // sort_order and sorted_after.
  absl::Status PlanSort(const SearchRequest& request, QueryPlan* plan) const;

  PlannerOptions options_;
  std::vector<std::string> fields_;
  TypedFields typed_;
  size_t num_shards_;
  const AnalyzerPool* analyzers_;
};

// The terms of a plan as one shard holds them: by FieldTermKey, the TermInfo,
// or nullopt if the shard lacks the term (or its field). Pairs the shard
// does not index (neither word common) are not in it.
using ShardTerms = absl::flat_hash_map<std::string, std::optional<storage::TermInfo>>;

// Step 2: finds each of `terms` (FieldTermKeys) in `shard`, and each of
// `pairs` (QueryPlan::pairs) that the shard indexes. `deadline` (may be
// null) is polled before each lookup: DeadlineExceeded or Cancelled once it
// expires; DataLoss if the dictionary cannot be read.
absl::StatusOr<ShardTerms> LookupTerms(const storage::ShardReader& shard,
                                       const std::vector<std::string>& terms,
                                       const std::vector<std::string>& pairs, Deadline* deadline);

// Step 2: adds the document frequencies of one shard's terms (not pairs)
// to *stats.
void AddTermStatistics(const ShardTerms& terms, PlanStatistics* stats);

// How many of the documents of `deleted` hold the term (field, term) of
// `shard` whose TermInfo is `info`: the list is walked, testing each docid
// against the bitmap, if it is no longer than the deleted list, else
// the deleted docids are looked up in it in order (NextGeq, which skips
// blocks by their headers). Either way O(min(df, deleted) x a block
// decode) at worst. DataLoss if the list cannot be read.
absl::StatusOr<uint32_t> CountDeletedPostings(const storage::ShardReader& shard, uint8_t field,
                                              std::string_view term, const storage::TermInfo& info,
                                              const DeletedDocs& deleted);

// Step 2, for a shard with deleted documents (a live index): takes from
// stats->df, for each term (not pair) of `terms` that the shard holds, the
// deleted documents that hold it (CountDeletedPostings), so that df counts
// live documents only. `deadline` (may be null) is polled before each term.
absl::Status SubtractDeletedStatistics(const storage::ShardReader& shard, const ShardTerms& terms,
                                       const DeletedDocs& deleted, Deadline* deadline,
                                       PlanStatistics* stats);

// The posting cursors a shard whose terms are `terms` opens at once to
// evaluate `root`: one per term of each term or phrase leaf that the shard
// holds (a term repeated in several leaves counts once per leaf).
size_t CursorCount(const QueryNode& root, const ShardTerms& terms);

// About the memory one open posting cursor takes while a shard is
// evaluated: the cursor with its decoded block buffers, plus 1 KiB for its
// scorer, its TermInfo and its leaf of the query tree (780,000 cursors of
// one query took 2.2 GB of RSS, about 2.9 KB each). The unit of
// SearcherOptions::max_query_memory_bytes.
size_t CursorMemoryBytes();

// The dictionaries of `shards`, merged (the TermSource of prefix and fuzzy
// expansion), with `deadline` polled while scanning. The shards and the
// deadline must outlive it.
class IndexTermSource final : public TermSource {
 public:
  IndexTermSource(std::span<const storage::ShardReader* const> shards, Deadline* deadline)
      : shards_(shards), deadline_(deadline) {}
  absl::Status Scan(const std::string& field, std::string_view prefix,
                    const std::function<bool(std::string_view, uint64_t)>& fn) const override;

 private:
  std::span<const storage::ShardReader* const> shards_;
  Deadline* deadline_;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_PLANNER_H_
