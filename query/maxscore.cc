// File: query/maxscore.cc
#include "query/maxscore.h"

#include <algorithm>
#include <limits>
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

// Decides whether a document whose score is at most `bound` could still
// enter the top-k: above the shard's k-th score once k are kept (a tie loses
// to the earlier docid), and not strictly below the query's shared threshold.
class Bar {
 public:
  Bar(const TopKHeap* heap, SharedThreshold* shared) : heap_(heap), shared_(shared) {}
  [[nodiscard]] bool CanPass(double bound) const {
    const double b = bound * kMargin;
    if (heap_->full() && b <= heap_->threshold()) return false;
    return shared_ == nullptr || b >= shared_->value();
  }
  // Whether anything can be pruned yet.
  [[nodiscard]] bool active() const {
    return heap_->full() ||
           (shared_ != nullptr && shared_->value() > -std::numeric_limits<double>::infinity());
  }
  // After the heap changed: shares the shard's k-th score.
  void Publish() const {
    if (shared_ != nullptr && heap_->full()) shared_->Raise(heap_->threshold());
  }

 private:
  const TopKHeap* heap_;
  SharedThreshold* shared_;
};

// The list bounds of `terms`.
absl::Status ListBounds(const std::vector<MaxScoreTerm>& terms, const ScoringContext& ctx,
                        std::vector<double>* bound) {
  std::vector<storage::Impact> impacts;
  bound->resize(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    SCRY_RETURN_IF_ERROR(terms[i].cursor->ListImpacts(&impacts));
    (*bound)[i] = ImpactBound(ctx.bm25, terms[i].idf, impacts);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MaxScoreTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                          SharedThreshold* shared, MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  if (n == 0) return absl::OkStatus();

  // Upper bound of each term's contribution, from its list's impacts.
  std::vector<double> bound;
  SCRY_RETURN_IF_ERROR(ListBounds(terms, ctx, &bound));
  // order[0..n): terms by ascending bound; prefix[j] = sum of the j smallest.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bound[a] < bound[b]; });
  std::vector<double> prefix(n + 1, 0.0);
  for (size_t j = 0; j < n; ++j) prefix[j + 1] = prefix[j] + bound[order[j]];

  TopKHeap heap(k);
  const Bar bar(&heap, shared);
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
    for (size_t j = first_essential; j-- > 0;) {
      if (!bar.CanPass(partial + prefix[j + 1])) {
        pruned = true;
        break;
      }
      cursor[j]->NextGeq(d);
      if (cursor[j]->docid() == d) add(j);
    }
    if (pruned || !bar.CanPass(partial)) continue;
    // The exact score: the matching terms' contributions in query order, as
    // the exhaustive disjunction sums them.
    double score = 0;
    for (size_t q = 0; q < n; ++q) {
      if (matched[q]) score += contribution[q];
    }
    if (heap.Offer(ScoredDoc{score, d})) bar.Publish();
    // Terms whose bounds sum below the threshold (this shard's new k-th
    // score or another shard's) become non-essential.
    while (first_essential < n && !bar.CanPass(prefix[first_essential + 1])) {
      ++first_essential;
      result->matches_is_lower_bound = true;
    }
  }
  for (size_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(terms[i].cursor->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

absl::Status BlockMaxWandTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                              SharedThreshold* shared, MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  if (n == 0) return absl::OkStatus();
  std::vector<double> bound;
  SCRY_RETURN_IF_ERROR(ListBounds(terms, ctx, &bound));
  std::vector<storage::PostingCursor*> cursor(n);
  for (size_t q = 0; q < n; ++q) cursor[q] = terms[q].cursor.get();
  // ord: the terms by their cursors' docids.
  std::vector<size_t> ord(n);
  std::iota(ord.begin(), ord.end(), size_t{0});
  auto by_docid = [&](size_t a, size_t b) { return cursor[a]->docid() < cursor[b]->docid(); };
  std::sort(ord.begin(), ord.end(), by_docid);
  // Moves ord[i], whose cursor just advanced, to its place.
  auto resort = [&](size_t i) {
    for (; i + 1 < n && by_docid(ord[i + 1], ord[i]); ++i) std::swap(ord[i], ord[i + 1]);
  };
  // The bound of each term's shallow block, cached by the block's last docid.
  std::vector<uint32_t> block_last(n, kEndDocid);
  std::vector<double> block_bound(n, 0.0);
  std::vector<storage::Impact> impacts;
  std::vector<double> contribution(n, 0.0);
  std::vector<uint8_t> matched(n, 0);
  TopKHeap heap(k);
  const Bar bar(&heap, shared);

  for (;;) {
    // The pivot: the first cursor (in docid order) at which the list bounds
    // summed so far could pass; no document before its docid can.
    size_t p = n;
    double sum = 0;
    for (size_t i = 0; i < n && cursor[ord[i]]->docid() != kEndDocid; ++i) {
      sum += bound[ord[i]];
      if (bar.CanPass(sum)) {
        p = i;
        break;
      }
    }
    if (p == n) {
      // No document left can pass; any left would have matched.
      if (cursor[ord[0]]->docid() != kEndDocid) result->matches_is_lower_bound = true;
      break;
    }
    const uint32_t pivot = cursor[ord[p]]->docid();
    while (p + 1 < n && cursor[ord[p + 1]]->docid() == pivot) ++p;

    // Bound of the pivot from the blocks that hold it; `next` is the first
    // docid past the end of one of those blocks or on a later cursor. A
    // cursor before the pivot may have no posting from it on.
    double block_sum = 0;
    uint32_t next = p + 1 < n ? cursor[ord[p + 1]]->docid() : kEndDocid;
    for (size_t i = 0; i <= p; ++i) {
      const size_t q = ord[i];
      const uint32_t last = cursor[q]->ShallowNextGeq(pivot);
      if (last == kEndDocid) {
        // No posting >= pivot (or an error): nothing to add.
        SCRY_RETURN_IF_ERROR(cursor[q]->status());
        continue;
      }
      if (last != block_last[q]) {
        SCRY_RETURN_IF_ERROR(cursor[q]->ShallowBlockImpacts(&impacts));
        block_bound[q] = ImpactBound(ctx.bm25, terms[q].idf, impacts);
        block_last[q] = last;
      }
      block_sum += block_bound[q];
      next = std::min(next, last + 1);  // last < document count: no overflow
    }

    if (!bar.CanPass(block_sum)) {
      // No document in [pivot, next) can pass: move the cursor of the
      // largest bound there.
      result->matches_is_lower_bound = true;
      size_t best = 0;
      for (size_t i = 1; i <= p; ++i) {
        if (bound[ord[i]] > bound[ord[best]]) best = i;
      }
      cursor[ord[best]]->NextGeq(next);
      resort(best);
      continue;
    }
    if (cursor[ord[0]]->docid() != pivot) {
      // Documents before the pivot cannot pass: move a cursor up to it.
      result->matches_is_lower_bound = true;
      size_t i = p;
      while (cursor[ord[i]]->docid() == pivot) --i;  // ord[0] is before the pivot
      cursor[ord[i]]->NextGeq(pivot);
      resort(i);
      continue;
    }
    // Every cursor in ord[0..p] is on the pivot: score it.
    ++result->matches;
    const uint32_t dl = ctx.shard->doc_length(pivot);
    std::fill(matched.begin(), matched.end(), 0);
    for (size_t i = 0; i <= p; ++i) {
      const size_t q = ord[i];
      contribution[q] = ctx.bm25.Score(terms[q].idf, cursor[q]->freq(), dl);
      matched[q] = 1;
    }
    result->postings_scored += p + 1;
    double score = 0;  // in query order, as the exhaustive disjunction sums
    for (size_t q = 0; q < n; ++q) {
      if (matched[q]) score += contribution[q];
    }
    if (heap.Offer(ScoredDoc{score, pivot})) bar.Publish();
    for (size_t i = 0; i <= p; ++i) cursor[ord[i]]->Next();
    std::sort(ord.begin(), ord.end(), by_docid);
  }
  for (size_t q = 0; q < n; ++q) SCRY_RETURN_IF_ERROR(cursor[q]->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

absl::Status BlockMaxConjunctionTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx,
                                     size_t k, SharedThreshold* shared, MaxScoreResult* result) {
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
  const Bar bar(&heap, shared);
  uint32_t target = 0;
  for (;;) {
    const uint32_t d = docs.NextGeq(target);
    if (d == kEndDocid) break;
    target = d + 1;
    if (bar.active()) {
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
      if (!bar.CanPass(sum)) {
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
    if (heap.Offer(ScoredDoc{score, d})) bar.Publish();
  }
  for (size_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(cursors[i]->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

}  // namespace scry::query
