// File: query/maxscore.h
//
// Top-k evaluators with dynamic pruning over term cursors: MaxScore and
// Block-Max WAND for disjunctions of terms, block-max skipping for
// conjunctions of terms. All are exact (equal to the exhaustive evaluation's
// top-k, ids and scores bit for bit) and checked against it by randomized
// tests (tests/query/evaluators_test.cc on in-memory cursors,
// tests/query/searcher_test.cc on shards).
//
// MaxScore (Turtle and Flood 1995; the form used by Lucene and PISA): each term has an upper bound
// of its BM25 contribution, from the impacts of its posting list (the best
// score over its (tf, doc length) frontier, storage/posting_format.h). Terms
// are ordered by bound; once the k-th best score so far (the threshold)
// reaches the sum of the smallest bounds, those terms become non-essential:
// documents are only drawn from the essential terms' lists, and a candidate
// stops being scored as soon as its partial score plus the bounds of the
// terms not yet looked at cannot pass the threshold.
//
// Block-Max WAND (Ding and Suel 2011): cursors kept in docid order; the pivot
// is the first cursor at which the running sum of list bounds could pass the
// threshold (no document before its docid can); the pivot document is scored
// only if the sum of the bounds of the blocks holding it (read by
// the cursor's ShallowNextGeq without decoding) can pass too, otherwise the
// evaluation jumps past the nearest end of those blocks.
//
// Exact: the result equals the exhaustive evaluation's top-k (ids, scores bit
// for bit, ties by docid), because a document enters the top-k only with a
// score strictly above the threshold (a later docid loses a tie), every
// skipped document provably has a score at or below it, and kept scores are
// summed in query order like the exhaustive disjunction does.
//
// Each evaluator is a template over the cursor (query/cursor.h:
// BlockMaxCursor), instantiated in
// maxscore.cc for storage::PostingCursor and query::MemoryCursor; the
// overloads on MaxScoreTerm are the shard's entry points. Over a
// MemoryCursor, ctx.shard may be null: ties then rank by docid.
#ifndef SCRY_QUERY_MAXSCORE_H_
#define SCRY_QUERY_MAXSCORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "query/collector.h"
#include "query/cursor.h"
#include "query/scorer.h"
#include "storage/posting_cursor.h"

namespace scry::query {

struct MaxScoreTerm {
  std::unique_ptr<storage::PostingCursor> cursor;  // not null
  double idf = 0;
};

struct MaxScoreResult {
  std::vector<ScoredDoc> top;           // at most k, in no particular order
  uint64_t matches = 0;                 // documents seen: every one matches the query
  bool matches_is_lower_bound = false;  // true once a term was left non-essential
  uint64_t postings_scored = 0;         // BM25 evaluations, for benchmarks
};

// The best `k` documents (score descending, docid ascending) of the
// disjunction of `terms` (in query order) in ctx.shard, by MaxScore.
// `shared` (may be null) is the query's threshold across shards.
// REQUIRES: k > 0. Errors are the cursors' read/decode errors.
absl::Status MaxScoreTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                          SharedThreshold* shared, MaxScoreResult* result);

// As MaxScoreTopK, by Block-Max WAND.
absl::Status BlockMaxWandTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                              SharedThreshold* shared, MaxScoreResult* result);

// The best `k` documents of the conjunction of `terms` (in query order), with
// block-max skipping: matches come from CursorIntersection; once k are kept,
// a stretch where every cursor stays inside its current block is skipped
// whole when the sum of the blocks' impact bounds cannot pass the threshold.
// Exact for the same reasons as MaxScore; `matches` is then a lower bound.
// REQUIRES: k > 0, terms.size() >= 1.
absl::Status BlockMaxConjunctionTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx,
                                     size_t k, SharedThreshold* shared, MaxScoreResult* result);

// The same over any conforming cursors: `terms` in query order, their
// cursors not null and used by the evaluator only. Defined in maxscore.cc and
// instantiated there for storage::PostingCursor and MemoryCursor.
template <BlockMaxCursor Cursor>
absl::Status MaxScoreTopK(const std::vector<TermCursor<Cursor>>& terms, const ScoringContext& ctx,
                          size_t k, SharedThreshold* shared, MaxScoreResult* result);
template <BlockMaxCursor Cursor>
absl::Status BlockMaxWandTopK(const std::vector<TermCursor<Cursor>>& terms,
                              const ScoringContext& ctx, size_t k, SharedThreshold* shared,
                              MaxScoreResult* result);
template <BlockMaxCursor Cursor>
absl::Status BlockMaxConjunctionTopK(const std::vector<TermCursor<Cursor>>& terms,
                                     const ScoringContext& ctx, size_t k, SharedThreshold* shared,
                                     MaxScoreResult* result);

}  // namespace scry::query

#endif  // SCRY_QUERY_MAXSCORE_H_
