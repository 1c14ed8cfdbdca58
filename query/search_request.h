// File: query/search_request.h
//
// The values a search takes and gives: SearchRequest (the query text and
// everything that shapes the answer), SearchResult and its SearchHits. Plain
// values with no reference to the index, shared by every stage of a search
// (query/planner.h, query/shard_search.h, query/hit_fetcher.h) and by the
// callers of query::Searcher.
#ifndef SCRY_QUERY_SEARCH_REQUEST_H_
#define SCRY_QUERY_SEARCH_REQUEST_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "query/highlighter.h"
#include "query/query_parser.h"
#include "query/rewrite.h"

namespace scry::query {

struct PlanStatistics;  // query/planner.h

// The number of hits of a request that asks for none (top_k 0).
inline constexpr uint32_t kDefaultTopK = 10;

// How a ranked query of terms is evaluated (see query/maxscore.h).
enum class Pruning {
  kAuto,          // per query: the fastest exact algorithm by measurement (RESULTS.md)
  kNone,          // exhaustive: every posting scored (the reference)
  kMaxScore,      // MaxScore for OR of terms; block-max skipping for AND of terms
  kBlockMaxWand,  // Block-Max WAND for OR of terms; block-max skipping for AND of terms
};

// Counts of the matching documents per value of a typed field
// (SearchRequest::facets).
struct FacetRequest {
  std::string field;
  // A keyword field: the `size` values with the most matching documents
  // (ties by value); 0 means 10.
  uint32_t size = 0;
  // A numeric or date field: one count per range, each in the query
  // language's range syntax ("[2001 TO 2009]", ">10"); required for them,
  // refused for keyword fields.
  std::vector<std::string> ranges;
};

struct FacetCount {
  std::string value;  // a keyword value, or a range as the request wrote it
  uint64_t count = 0;
  friend bool operator==(const FacetCount&, const FacetCount&) = default;
};

struct FacetResult {
  std::string field;
  // Keyword: the top values, most documents first, ties by value; ranges:
  // one per requested range, in request order.
  std::vector<FacetCount> counts;
  // Keyword: the distinct values the matching documents hold.
  uint64_t values = 0;
  friend bool operator==(const FacetResult&, const FacetResult&) = default;
};

// A keyword facet's values kept when its request's size is 0.
inline constexpr uint32_t kDefaultFacetSize = 10;

// Keeps the `size` values of *counts with the most documents, most first,
// ties by value (byte order): a keyword facet's answer, from the counts of
// every value (one searcher's shards, or a broker's servers).
inline void KeepTopFacetCounts(size_t size, std::vector<FacetCount>* counts) {
  const size_t top = std::min(size, counts->size());
  std::partial_sort(counts->begin(), counts->begin() + static_cast<std::ptrdiff_t>(top),
                    counts->end(), [](const FacetCount& a, const FacetCount& b) {
                      return a.count != b.count ? a.count > b.count : a.value < b.value;
                    });
  counts->resize(top);
}

// One key of SearchRequest::sort.
struct SortField {
  std::string field;  // a numeric or date field
  bool descending = false;
};

struct SearchRequest {
  std::string query;
  // Non-scoring clauses in the query language (typed clauses such as
  // `lang:en AND year:[2001 TO 2009]`, words too): only documents that
  // match it are hits, and it changes no score. Empty: none.
  std::string filter;
  // Per facet, the counts over every matching document (exact; a search
  // with facets visits every match, as exact_total_hits does).
  std::vector<FacetRequest> facets;
  // Order the hits by these fields' values (each ascending unless
  // descending), then by score descending, then by id; empty: by score. A
  // document without a value comes after those with one, either way; of
  // several values, ascending order reads the least, descending the
  // greatest. A sorted search visits every match (no pruning).
  std::vector<SortField> sort;
  uint32_t top_k = kDefaultTopK;  // 0 means kDefaultTopK
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
    // With `sort`: the previous page's last hit's SearchHit::sort_values.
    std::vector<std::string> sort_values;
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
  // The deadline and the cancellation are polled while the hits are built
  // too, once per hit.
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;
  // The most bytes the hits may take (their strings, plus a little per hit
  // and per string for the encoding): past it the search fails with
  // RESOURCE_EXHAUSTED as soon as a hit goes over, rather than build a
  // response no one can send. 0: no limit.
  size_t max_response_bytes = 0;
  // The index-wide statistics of the query's terms, gathered by a broker
  // from every server of the index (Searcher::Statistics on each, summed):
  // scored with these rather than with this searcher's own shards', so that
  // every server scores alike. Null: this searcher's own.
  std::shared_ptr<const PlanStatistics> statistics;
  // A keyword facet's counts for every value, not the top `size` (a
  // broker's request: its sums over servers are then exact).
  bool facet_all_values = false;
  // A broker's fetch round (query-then-fetch): no evaluation; the hits are
  // these documents, in this order, with these scores, fetched as `fields`,
  // highlight and explain say. An id not found here (deleted since) is left
  // out.
  struct FetchHit {
    std::string id;
    double score = 0;
  };
  std::vector<FetchHit> fetch;
  // offset + top_k hits of the whole query are known to score at least this
  // (a broker's, from other servers' answers): pruned evaluation (MaxScore,
  // Block-Max WAND, block-max AND) starts its threshold there, skipping
  // documents that cannot reach it; hits and their order do not change.
  // Ignored for sorted searches. 0: none.
  double min_competitive_score = 0;
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
  // With SearchRequest::sort: the hit's value of each sort field, in
  // storage::FormatSortKey's form ("" for none): what search_after takes.
  std::vector<std::string> sort_values;
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
  // One per SearchRequest::facets, in its order.
  std::vector<FacetResult> facets;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_SEARCH_REQUEST_H_
