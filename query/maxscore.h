// File: query/maxscore.h
//
// Top-k of a disjunction of terms with MaxScore dynamic pruning (Turtle and
// Flood 1995; the form used by Lucene and PISA): each term has an upper bound
// of its BM25 contribution, from the impacts of its posting list (the best
// score over its (tf, doc length) frontier, storage/posting_format.h). Terms
// are ordered by bound; once the k-th best score so far (the threshold)
// reaches the sum of the smallest bounds, those terms become non-essential:
// documents are only drawn from the essential terms' lists, and a candidate
// stops being scored as soon as its partial score plus the bounds of the
// terms not yet looked at cannot pass the threshold.
//
// Exact: the result equals the exhaustive evaluation's top-k (ids, scores bit
// for bit, ties by docid), because a document enters the top-k only with a
// score strictly above the threshold (a later docid loses a tie), every
// skipped document provably has a score at or below it, and kept scores are
// summed in query order like the exhaustive disjunction does.
#ifndef SCRY_QUERY_MAXSCORE_H_
#define SCRY_QUERY_MAXSCORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <queue>
#include <vector>

#include "absl/status/status.h"
#include "query/scorer.h"
#include "storage/posting_cursor.h"

namespace scry::query {

struct MaxScoreTerm {
  std::unique_ptr<storage::PostingCursor> cursor;  // not null
  double idf = 0;
};

struct ScoredDoc {
  double score;
  uint32_t docid;
};

// The best k documents offered so far, score descending then docid
// ascending: the heap of every top-k evaluator of one shard. Documents are
// offered in ascending docid order, so one that only ties the k-th score
// loses the tie and is not kept: pruning may skip documents whose bound is at
// most threshold().
class TopKHeap {
 public:
  explicit TopKHeap(size_t k) : k_(k) {}
  // Keeps `doc` if it is among the best k so far; true if kept.
  bool Offer(const ScoredDoc& doc) {
    if (heap_.size() < k_) {
      heap_.push(doc);
    } else if (WorseFirst()(doc, heap_.top())) {
      heap_.pop();
      heap_.push(doc);
    } else {
      return false;
    }
    return true;
  }
  [[nodiscard]] bool full() const { return heap_.size() >= k_; }
  // The k-th best score. REQUIRES: full().
  [[nodiscard]] double threshold() const { return heap_.top().score; }
  // The documents kept, in no particular order; empties the heap.
  std::vector<ScoredDoc> Take() {
    std::vector<ScoredDoc> out;
    out.reserve(heap_.size());
    for (; !heap_.empty(); heap_.pop()) out.push_back(heap_.top());
    return out;
  }

 private:
  // Heap order: the top is the worst document kept.
  struct WorseFirst {
    bool operator()(const ScoredDoc& a, const ScoredDoc& b) const {
      if (a.score != b.score) return a.score > b.score;
      return a.docid < b.docid;
    }
  };
  size_t k_;
  std::priority_queue<ScoredDoc, std::vector<ScoredDoc>, WorseFirst> heap_;
};

struct MaxScoreResult {
  std::vector<ScoredDoc> top;           // at most k, in no particular order
  uint64_t matches = 0;                 // documents seen: every one matches the query
  bool matches_is_lower_bound = false;  // true once a term was left non-essential
  uint64_t postings_scored = 0;         // BM25 evaluations, for benchmarks
};

// The best `k` documents (score descending, docid ascending) of the
// disjunction of `terms` (in query order) in ctx.shard. REQUIRES: k > 0.
// Errors are the cursors' read/decode errors.
absl::Status MaxScoreTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                          MaxScoreResult* result);

// The best `k` documents of the conjunction of `terms` (in query order), with
// block-max skipping: matches come from CursorIntersection; once k are kept,
// a stretch where every cursor stays inside its current block is skipped
// whole when the sum of the blocks' impact bounds cannot pass the threshold.
// Exact for the same reasons as MaxScore; `matches` is then a lower bound.
// REQUIRES: k > 0, terms.size() >= 1.
absl::Status BlockMaxConjunctionTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx,
                                     size_t k, MaxScoreResult* result);

}  // namespace scry::query

#endif  // SCRY_QUERY_MAXSCORE_H_
