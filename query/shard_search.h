// File: query/shard_search.h
//
// The second stage of a search: a QueryPlan (query/planner.h) evaluated on one
// shard. SearchShard runs the evaluator the plan chose (MaxScore, Block-Max
// WAND, block-max AND, or the scorer tree of query/scorer.h) and yields the
// shard's best plan.keep documents as ShardHits (query/collector.h), which
// MergeShardHits merges across shards. ShardQuery is what both evaluation
// and explanation (query/hit_fetcher.h) build scorers from.
//
// Thread safety: SearchShard may run on many shards at once (one call per
// shard, sharing the plan and the SharedThreshold); a ShardQuery belongs to
// one thread.
#ifndef SCRY_QUERY_SHARD_SEARCH_H_
#define SCRY_QUERY_SHARD_SEARCH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "query/collector.h"
#include "query/deadline.h"
#include "query/deleted_docs.h"
#include "query/doc_bitmap.h"
#include "query/planner.h"
#include "query/query_tree.h"
#include "query/scorer.h"
#include "storage/posting_cursor.h"
#include "storage/shard.h"

namespace scry::query {

// A plan bound to one shard: the shard's terms and its scoring context (the
// plan's BM25 per field id of the shard).
class ShardQuery {
 public:
  // `terms` = LookupTerms(*shard, plan.terms); `deadline` may be null (no
  // limit). Plan, shard, terms and deadline must outlive this object.
  // REQUIRES: the plan has its statistics (Planner::SetStatistics).
  // `deleted` (may be null: none) are the shard's deleted documents, which
  // never match; it must outlive this object too.
  // `filter` (may be null: every document) are the documents the plan's
  // filter lets through (FilterDocs), which must outlive this object too.
  ShardQuery(const QueryPlan& plan, const storage::ShardReader* shard, const ShardTerms* terms,
             Deadline* deadline, const DeletedDocs* deleted = nullptr,
             const DocBitmap* filter = nullptr);
  // Scorers keep a pointer to context().
  ShardQuery(const ShardQuery&) = delete;
  ShardQuery& operator=(const ShardQuery&) = delete;

  // The cursor of term i of `leaf`, or nullptr if this shard lacks it.
  std::unique_ptr<storage::PostingCursor> Cursor(const QueryNode& leaf, size_t i) const;
  // The BM25 weight of term i of `leaf`: its idf times the leaf's boost (0
  // for a term that only filters).
  double Weight(const QueryNode& leaf, size_t i) const;
  // The scorer of `node` in this shard, or nullptr if it cannot match here.
  std::unique_ptr<Scorer> Build(const QueryNode& node) const;

  const QueryPlan& plan() const { return *plan_; }
  const storage::ShardReader& shard() const { return *ctx_.shard; }
  const ShardTerms& terms() const { return *terms_; }
  const ScoringContext& context() const { return ctx_; }

 private:
  // A list that finds matches of a phrase: a word's or a pair's (TermInfo
  // in terms()), at `offset` in the phrase.
  struct PhraseList {
    std::string term;
    const storage::TermInfo* info = nullptr;
    uint32_t offset = 0;
  };
  // The lists an exact phrase reads in this shard: words and the shard's
  // pairs of them (storage/keys.h) that together cover every word, with the
  // fewest postings in all; a sloppy phrase reads its words. A document
  // holds the phrase at p exactly where each list holds its term at p plus
  // its offset. REQUIRES: the shard holds every word of `phrase`.
  std::vector<PhraseList> PhraseLists(const QueryNode& phrase) const;

  const QueryPlan* plan_;
  const ShardTerms* terms_;
  ScoringContext ctx_;
};

// The documents of `query`'s shard that match `filter` (a kBool node of a
// plan's filter, or any node of its tree) by the plain set semantics of
// query/query_tree.h, as a bitmap: each leaf's matches (its scorer's
// documents), then AND of the must children, OR of the should children
// (when no must), minus the must_not children; a node with only must_not
// children starts from every document. Deleted documents are not removed
// (the evaluators exclude them anyway). DeadlineExceeded or Cancelled once
// the deadline expires; a read error of a list.
absl::StatusOr<DocBitmap> FilterDocs(const ShardQuery& query, const QueryNode& filter);

// One facet's counts in one shard (QueryPlan::facets): for a keyword field
// every value a match holds, with its matches, in no particular order; for
// a numeric one the matches per range, in the plan's order.
using ShardFacet = std::vector<FacetCount>;

// What one shard's evaluation yields.
struct ShardSearchResult {
  std::vector<ShardHit> top;         // at most plan.keep, in no particular order
  uint64_t hits = 0;                 // matches counted
  bool hits_is_lower_bound = false;  // pruning skipped documents that may match
  // For an OR of terms (plan.term_disjunction): BM25 evaluations, and the
  // postings of the shard's terms (what exhaustive evaluation scores).
  uint64_t postings_scored = 0;
  uint64_t postings_total = 0;
  std::vector<ShardFacet> facets;  // one per plan.facets
};

// Evaluates `plan` on `shard` into *out; its hits are labelled shard
// `shard_index`. `terms` = LookupTerms(shard, plan.terms). The shard prunes
// with `shared` and raises it. `deadline` is this shard's own copy of the
// query's: DeadlineExceeded or Cancelled once it expires (whatever the
// evaluator returned); DataLoss if the shard cannot be read. `deleted`
// (null: none) are documents of the shard that never match nor count in
// out->hits (a live index's deletes). REQUIRES: the plan has its statistics.
absl::Status SearchShard(const QueryPlan& plan, const storage::ShardReader& shard,
                         uint32_t shard_index, const ShardTerms& terms, SharedThreshold* shared,
                         Deadline deadline, ShardSearchResult* out,
                         const DeletedDocs* deleted = nullptr);

}  // namespace scry::query

#endif  // SCRY_QUERY_SHARD_SEARCH_H_
