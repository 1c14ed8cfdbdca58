// File: query/maxscore.h
//
// Top-k evaluators with dynamic pruning over term cursors: MaxScore and
// Block-Max WAND for disjunctions of terms, block-max skipping for
// conjunctions of terms. All are exact (equal to the exhaustive evaluation's
// top-k, ids and scores bit for bit) and checked against it by randomized
// tests (tests/query/searcher_test.cc).
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
// PostingCursor::ShallowNextGeq without decoding) can pass too, otherwise the
// evaluation jumps past the nearest end of those blocks.
//
// Exact: the result equals the exhaustive evaluation's top-k (ids, scores bit
// for bit, ties by docid), because a document enters the top-k only with a
// score strictly above the threshold (a later docid loses a tie), every
// skipped document provably has a score at or below it, and kept scores are
// summed in query order like the exhaustive disjunction does.
#ifndef SCRY_QUERY_MAXSCORE_H_
#define SCRY_QUERY_MAXSCORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
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

// The best k documents offered so far in the shard's RankOrder (score
// descending, then id ascending): the heap of every top-k evaluator of one
// shard. A document that only ties the k-th score is kept if its id ranks
// first. Pruning may skip documents whose bound is at most threshold(): with
// the evaluators' margin, their score is strictly below it.
class TopKHeap {
 public:
  // Only documents `after` admits are kept (all by default).
  TopKHeap(size_t k, const storage::ShardReader* shard, RankAfter after = {})
      : k_(k), shard_(shard), after_(std::move(after)), heap_(WorseFirst{RankOrder{shard}}) {}
  // Keeps `doc` if it is among the best k so far; true if kept.
  bool Offer(const ScoredDoc& doc) {
    if (!after_.Admits(shard_, doc.score, doc.docid)) return false;
    if (heap_.size() < k_) {
      heap_.push(doc);
    } else if (heap_.compare()(doc, heap_.top())) {
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
    RankOrder order;
    bool operator()(const ScoredDoc& a, const ScoredDoc& b) const {
      return order.Before(a.score, a.docid, b.score, b.docid);
    }
  };
  // A priority_queue that lends its comparator.
  class Queue : public std::priority_queue<ScoredDoc, std::vector<ScoredDoc>, WorseFirst> {
   public:
    using std::priority_queue<ScoredDoc, std::vector<ScoredDoc>, WorseFirst>::priority_queue;
    const WorseFirst& compare() const { return this->comp; }
  };
  size_t k_;
  const storage::ShardReader* shard_;
  RankAfter after_;
  Queue heap_;
};

// A score that at least k documents of the whole query reach (k = the top-k
// size), raised by each shard's evaluator when its heap fills and read by
// the others: a shard may skip documents whose bound is strictly below it
// (one that ties may still win on id in the merge). Thread-safe.
class SharedThreshold {
 public:
  void Raise(double score) {
    double cur = value_.load(std::memory_order_relaxed);
    while (score > cur && !value_.compare_exchange_weak(cur, score, std::memory_order_relaxed)) {
    }
  }
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{-std::numeric_limits<double>::infinity()};
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

}  // namespace scry::query

#endif  // SCRY_QUERY_MAXSCORE_H_
