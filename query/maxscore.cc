// File: query/maxscore.cc
#include "query/maxscore.h"

#include <algorithm>
#include <numeric>

#include "query/cursor_intersection.h"
#include "storage/status.h"

namespace scry::query {
namespace {

using storage::kEndDocid;

// Bounds are sums of doubles in another order than the exact scores; this
// margin keeps a rounding error from pruning a document that ties or beats
// the threshold by an ulp.
constexpr double kMargin = 1.0 + 1e-9;

// The best BM25 contribution of a term over `impacts`: a bound of every
// posting they dominate.
double ImpactBound(const Bm25& bm25, double idf, const std::vector<storage::Impact>& impacts) {
  double ub = 0;
  for (const storage::Impact& p : impacts) ub = std::max(ub, bm25.Score(idf, p.tf, p.dl));
  return ub;
}

}  // namespace

absl::Status MaxScoreTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                          MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  if (n == 0) return absl::OkStatus();

  // Upper bound of each term's contribution, from its list's impacts.
  std::vector<double> bound(n);
  std::vector<storage::Impact> impacts;
  for (size_t i = 0; i < n; ++i) {
    SCRY_RETURN_IF_ERROR(terms[i].cursor->ListImpacts(&impacts));
    bound[i] = ImpactBound(ctx.bm25, terms[i].idf, impacts);
  }
  // order[0..n): terms by ascending bound; prefix[j] = sum of the j smallest.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bound[a] < bound[b]; });
  std::vector<double> prefix(n + 1, 0.0);
  for (size_t j = 0; j < n; ++j) prefix[j + 1] = prefix[j] + bound[order[j]];

  TopKHeap heap(k);
  size_t first_essential = 0;
  std::vector<double> contribution(n, 0.0);
  std::vector<uint8_t> matched(n, 0);
  std::vector<storage::PostingCursor*> cursor(n);
  for (size_t j = 0; j < n; ++j) cursor[j] = terms[order[j]].cursor.get();

  for (;;) {
    uint32_t d = kEndDocid;
    for (size_t j = first_essential; j < n; ++j) d = std::min(d, cursor[j]->docid());
    if (d == kEndDocid) break;
    ++result->matches;
    const uint32_t dl = ctx.shard->doc_length(d);
    double partial = 0;
    std::fill(matched.begin(), matched.end(), 0);
    // Scores the term in position j of `order`, whose cursor is on d.
    auto add = [&](size_t j) {
      const size_t q = order[j];
      contribution[q] = ctx.bm25.Score(terms[q].idf, cursor[j]->freq(), dl);
      matched[q] = 1;
      partial += contribution[q];
      ++result->postings_scored;
    };
    for (size_t j = first_essential; j < n; ++j) {
      if (cursor[j]->docid() != d) continue;
      add(j);
      cursor[j]->Next();
    }
    // Non-essential terms, largest bound first, while the document can
    // still pass the threshold.
    bool pruned = false;
    const bool full = heap.full();
    const double threshold = full ? heap.threshold() : 0;
    for (size_t j = first_essential; j-- > 0;) {
      if (full && (partial + prefix[j + 1]) * kMargin <= threshold) {
        pruned = true;
        break;
      }
      cursor[j]->NextGeq(d);
      if (cursor[j]->docid() == d) add(j);
    }
    if (pruned || (full && partial * kMargin <= threshold)) continue;
    // The exact score: the matching terms' contributions in query order, as
    // the exhaustive disjunction sums them.
    double score = 0;
    for (size_t q = 0; q < n; ++q) {
      if (matched[q]) score += contribution[q];
    }
    if (!heap.Offer(ScoredDoc{score, d}) || !heap.full()) continue;
    // A new k-th score: terms whose bounds sum below it become non-essential.
    while (first_essential < n && prefix[first_essential + 1] * kMargin <= heap.threshold()) {
      ++first_essential;
      result->matches_is_lower_bound = true;
    }
  }
  for (size_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(terms[i].cursor->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

absl::Status BlockMaxConjunctionTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx,
                                     size_t k, MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  std::vector<storage::PostingCursor*> cursors(n);
  for (size_t i = 0; i < n; ++i) cursors[i] = terms[i].cursor.get();
  CursorIntersection docs(cursors);
  // The bound of each cursor's current block, cached by its last docid.
  std::vector<uint32_t> bound_block(n, kEndDocid);
  std::vector<double> bound(n, 0.0);
  std::vector<storage::Impact> impacts;
  TopKHeap heap(k);
  uint32_t target = 0;
  for (;;) {
    const uint32_t d = docs.NextGeq(target);
    if (d == kEndDocid) break;
    target = d + 1;
    if (heap.full()) {
      double sum = 0;
      uint32_t window_end = kEndDocid;
      for (size_t i = 0; i < n; ++i) {
        const uint32_t last = cursors[i]->block_last_docid();
        if (bound_block[i] != last) {
          SCRY_RETURN_IF_ERROR(cursors[i]->BlockImpacts(&impacts));
          bound[i] = ImpactBound(ctx.bm25, terms[i].idf, impacts);
          bound_block[i] = last;
        }
        sum += bound[i];
        window_end = std::min(window_end, last);
      }
      if (sum * kMargin <= heap.threshold()) {
        // Every match up to window_end lies in the blocks just bounded.
        result->matches_is_lower_bound = true;
        target = std::max(target, window_end + 1);  // block lasts < document count
        continue;
      }
    }
    ++result->matches;
    const uint32_t dl = ctx.shard->doc_length(d);
    double score = 0;  // in query order, as the exhaustive conjunction sums
    for (size_t i = 0; i < n; ++i) score += ctx.bm25.Score(terms[i].idf, cursors[i]->freq(), dl);
    result->postings_scored += n;
    heap.Offer(ScoredDoc{score, d});
  }
  for (size_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(cursors[i]->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

}  // namespace scry::query
