// File: query/maxscore.cc
#include "query/maxscore.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "query/cursor_intersection.h"
#include "query/memory_cursor.h"
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
template <BlockMaxCursor Cursor>
absl::Status ListBounds(const std::vector<TermCursor<Cursor>>& terms, const ScoringContext& ctx,
                        std::vector<double>* bound) {
  std::vector<storage::Impact> impacts;
  bound->resize(terms.size());
  for (size_t i = 0; i < terms.size(); ++i) {
    SCRY_RETURN_IF_ERROR(terms[i].cursor->ListImpacts(&impacts));
    (*bound)[i] = ImpactBound(ctx.Of(terms[i].cursor->field()), terms[i].idf, impacts);
  }
  return absl::OkStatus();
}

// Bounds of the terms' blocks ahead of their cursors (shallow moves), cached
// per term by the block's last docid.
template <BlockMaxCursor Cursor>
class BlockBounds {
 public:
  BlockBounds(const std::vector<TermCursor<Cursor>>& terms, const ScoringContext& ctx)
      : terms_(terms), ctx_(ctx), last_(terms.size(), kEndDocid), bound_(terms.size(), 0.0) {}

  // Sets *last to the last docid of the block of term q that holds its
  // postings >= target (kEndDocid if there are none; *bound is then 0), and
  // *bound to a bound of every posting in that block.
  absl::Status At(size_t q, uint32_t target, uint32_t* last, double* bound) {
    Cursor& cursor = *terms_[q].cursor;
    *last = cursor.ShallowNextGeq(target);
    *bound = 0;
    if (*last == kEndDocid) return cursor.status();
    if (*last != last_[q]) {
      SCRY_RETURN_IF_ERROR(cursor.ShallowBlockImpacts(&impacts_));
      bound_[q] = ImpactBound(ctx_.Of(cursor.field()), terms_[q].idf, impacts_);
      last_[q] = *last;
    }
    *bound = bound_[q];
    return absl::OkStatus();
  }

 private:
  const std::vector<TermCursor<Cursor>>& terms_;
  const ScoringContext& ctx_;
  std::vector<uint32_t> last_;
  std::vector<double> bound_;
  std::vector<storage::Impact> impacts_;
};

}  // namespace

template <BlockMaxCursor Cursor>
absl::Status MaxScoreTopK(const std::vector<TermCursor<Cursor>>& terms, const ScoringContext& ctx,
                          size_t k, SharedThreshold* shared, MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  if (n == 0) return absl::OkStatus();

  TopKHeap heap(k, ctx.shard, ctx.after);
  const Bar bar(&heap, shared);
  BlockBounds<Cursor> blocks(terms, ctx);
  std::vector<double> bound(n), upto(n), contribution(n, 0.0);
  std::vector<uint8_t> matched(n, 0);
  std::vector<size_t> order(n);
  std::vector<Cursor*> cursor(n);  // by position in `order`
  auto min_docid = [&] {
    uint32_t d = kEndDocid;
    for (const TermCursor<Cursor>& t : terms) d = std::min(d, t.cursor->docid());
    return d;
  };

  for (uint32_t start = min_docid(); start != kEndDocid && !ctx.Expired();) {
    // The window [start, end]: up to the nearest end of the terms' blocks
    // that hold postings >= start; each term's bound in it is its block's.
    uint32_t end = kEndDocid;
    for (size_t q = 0; q < n; ++q) {
      uint32_t last;
      SCRY_RETURN_IF_ERROR(blocks.At(q, start, &last, &bound[q]));
      end = std::min(end, last);
    }
    if (end == kEndDocid) break;  // no posting from start on
    for (size_t q = 0; q < n; ++q) {
      // A cursor already past the window adds nothing to it.
      if (terms[q].cursor->docid() > end) bound[q] = 0;
    }
    // order[0..n): terms by ascending window bound; upto[j] = sum of the
    // j + 1 smallest. Terms whose bounds sum below the threshold are non-essential:
    // documents are drawn from the essential ones only.
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return bound[a] < bound[b] || (bound[a] == bound[b] && a < b);
    });
    for (size_t j = 0; j < n; ++j) {
      upto[j] = (j > 0 ? upto[j - 1] : 0.0) + bound[order[j]];
      cursor[j] = terms[order[j]].cursor;
    }
    // Counting stays exact while the terms left out have nothing in the window.
    size_t first_essential = 0;
    while (first_essential < n && !bar.CanPass(upto[first_essential])) ++first_essential;
    if (first_essential > 0 && upto[first_essential - 1] > 0) {
      result->matches_is_lower_bound = true;
    }
    for (size_t j = first_essential; j < n; ++j) cursor[j]->NextGeq(start);

    while (first_essential < n && !ctx.Expired()) {
      uint32_t d = kEndDocid;
      for (size_t j = first_essential; j < n; ++j) d = std::min(d, cursor[j]->docid());
      if (d > end) break;
      if (ctx.Excluded(d)) {  // never a match, never in the heap
        for (size_t j = first_essential; j < n; ++j) {
          if (cursor[j]->docid() == d) cursor[j]->Next();
        }
        continue;
      }
      ++result->matches;
      double partial = 0;
      std::fill(matched.begin(), matched.end(), 0);
      // Scores the term in position j of `order`, whose cursor is on d.
      auto add = [&](size_t j) {
        const size_t q = order[j];
        contribution[q] = ctx.Score(*cursor[j], terms[q].idf);
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
        if (!bar.CanPass(partial + upto[j])) {
          pruned = true;
          break;
        }
        cursor[j]->NextGeq(d);
        if (cursor[j]->docid() == d) add(j);
      }
      if (pruned || !bar.CanPass(partial)) continue;
      // The exact score: the matching terms' contributions in query order,
      // as the exhaustive disjunction sums them.
      double score = 0;
      for (size_t q = 0; q < n; ++q) {
        if (matched[q]) score += contribution[q];
      }
      if (heap.Offer(ScoredDoc{score, d})) bar.Publish();
      // A higher threshold (this shard's new k-th score or another
      // shard's) makes more terms non-essential.
      while (first_essential < n && !bar.CanPass(upto[first_essential])) {
        if (bound[order[first_essential]] > 0) result->matches_is_lower_bound = true;
        ++first_essential;
      }
    }
    // The next window starts after this one, or at the first posting left
    // if every cursor is already past it.
    start = std::max(end + 1, min_docid());  // end < document count: no overflow
  }
  for (size_t q = 0; q < n; ++q) SCRY_RETURN_IF_ERROR(terms[q].cursor->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

template <BlockMaxCursor Cursor>
absl::Status BlockMaxWandTopK(const std::vector<TermCursor<Cursor>>& terms,
                              const ScoringContext& ctx, size_t k, SharedThreshold* shared,
                              MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  if (n == 0) return absl::OkStatus();
  std::vector<double> bound;
  SCRY_RETURN_IF_ERROR(ListBounds(terms, ctx, &bound));
  std::vector<Cursor*> cursor(n);
  for (size_t q = 0; q < n; ++q) cursor[q] = terms[q].cursor;
  // ord: the terms by their cursors' docids.
  std::vector<size_t> ord(n);
  std::iota(ord.begin(), ord.end(), size_t{0});
  auto by_docid = [&](size_t a, size_t b) { return cursor[a]->docid() < cursor[b]->docid(); };
  std::sort(ord.begin(), ord.end(), by_docid);
  // Moves ord[i], whose cursor just advanced, to its place.
  auto resort = [&](size_t i) {
    for (; i + 1 < n && by_docid(ord[i + 1], ord[i]); ++i) std::swap(ord[i], ord[i + 1]);
  };
  // Moves the cursors of ord[0..p], all on the pivot, past it.
  auto past_pivot = [&](size_t p) {
    for (size_t i = 0; i <= p; ++i) cursor[ord[i]]->Next();
    // Back into docid order (insertion sort: only ord[0..p] moved).
    for (size_t i = 1; i < n; ++i) {
      for (size_t j = i; j > 0 && by_docid(ord[j], ord[j - 1]); --j) std::swap(ord[j], ord[j - 1]);
    }
  };
  BlockBounds<Cursor> blocks(terms, ctx);
  std::vector<double> contribution(n, 0.0);
  std::vector<uint8_t> matched(n, 0);
  TopKHeap heap(k, ctx.shard, ctx.after);
  const Bar bar(&heap, shared);

  while (!ctx.Expired()) {
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
      uint32_t last;
      double block_bound;
      SCRY_RETURN_IF_ERROR(blocks.At(q, pivot, &last, &block_bound));
      if (last == kEndDocid) continue;
      block_sum += block_bound;
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
    // Every cursor in ord[0..p] is on the pivot: score it, unless deleted.
    if (ctx.Excluded(pivot)) {
      past_pivot(p);
      continue;
    }
    ++result->matches;
    std::fill(matched.begin(), matched.end(), 0);
    for (size_t i = 0; i <= p; ++i) {
      const size_t q = ord[i];
      contribution[q] = ctx.Score(*cursor[q], terms[q].idf);
      matched[q] = 1;
    }
    result->postings_scored += p + 1;
    double score = 0;  // in query order, as the exhaustive disjunction sums
    for (size_t q = 0; q < n; ++q) {
      if (matched[q]) score += contribution[q];
    }
    if (heap.Offer(ScoredDoc{score, pivot})) bar.Publish();
    past_pivot(p);
  }
  for (size_t q = 0; q < n; ++q) SCRY_RETURN_IF_ERROR(cursor[q]->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

template <BlockMaxCursor Cursor>
absl::Status BlockMaxConjunctionTopK(const std::vector<TermCursor<Cursor>>& terms,
                                     const ScoringContext& ctx, size_t k, SharedThreshold* shared,
                                     MaxScoreResult* result) {
  *result = MaxScoreResult();
  const size_t n = terms.size();
  std::vector<Cursor*> cursors(n);
  for (size_t i = 0; i < n; ++i) cursors[i] = terms[i].cursor;
  CursorIntersection<Cursor> docs(cursors);
  BlockBounds<Cursor> blocks(terms, ctx);
  TopKHeap heap(k, ctx.shard, ctx.after);
  const Bar bar(&heap, shared);
  uint32_t target = 0;
  while (!ctx.Expired()) {
    const uint32_t d = docs.NextGeq(target);
    if (d == kEndDocid) break;
    target = d + 1;
    if (ctx.Excluded(d)) continue;  // never a match, never in the heap
    if (bar.active()) {
      double sum = 0;
      uint32_t window_end = kEndDocid;
      for (size_t i = 0; i < n; ++i) {
        // Every cursor is on d: its current block.
        uint32_t last;
        double bound;
        SCRY_RETURN_IF_ERROR(blocks.At(i, d, &last, &bound));
        sum += bound;
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
    double score = 0;  // in query order, as the exhaustive conjunction sums
    for (size_t i = 0; i < n; ++i) score += ctx.Score(*cursors[i], terms[i].idf);
    result->postings_scored += n;
    if (heap.Offer(ScoredDoc{score, d})) bar.Publish();
  }
  for (size_t i = 0; i < n; ++i) SCRY_RETURN_IF_ERROR(cursors[i]->status());
  result->top = heap.Take();
  return absl::OkStatus();
}

namespace {

// The shard's terms as the templates take them (the cursors stay owned by
// `terms`).
std::vector<TermCursor<storage::PostingCursor>> Borrow(const std::vector<MaxScoreTerm>& terms) {
  std::vector<TermCursor<storage::PostingCursor>> out;
  out.reserve(terms.size());
  for (const MaxScoreTerm& t : terms) out.push_back({t.cursor.get(), t.idf});
  return out;
}

}  // namespace

absl::Status MaxScoreTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                          SharedThreshold* shared, MaxScoreResult* result) {
  return MaxScoreTopK(Borrow(terms), ctx, k, shared, result);
}

absl::Status BlockMaxWandTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx, size_t k,
                              SharedThreshold* shared, MaxScoreResult* result) {
  return BlockMaxWandTopK(Borrow(terms), ctx, k, shared, result);
}

absl::Status BlockMaxConjunctionTopK(std::vector<MaxScoreTerm> terms, const ScoringContext& ctx,
                                     size_t k, SharedThreshold* shared, MaxScoreResult* result) {
  return BlockMaxConjunctionTopK(Borrow(terms), ctx, k, shared, result);
}

static_assert(BlockMaxCursor<storage::PostingCursor>);

template absl::Status MaxScoreTopK(const std::vector<TermCursor<storage::PostingCursor>>&,
                                   const ScoringContext&, size_t, SharedThreshold*,
                                   MaxScoreResult*);
template absl::Status BlockMaxWandTopK(const std::vector<TermCursor<storage::PostingCursor>>&,
                                       const ScoringContext&, size_t, SharedThreshold*,
                                       MaxScoreResult*);
template absl::Status BlockMaxConjunctionTopK(
    const std::vector<TermCursor<storage::PostingCursor>>&, const ScoringContext&, size_t,
    SharedThreshold*, MaxScoreResult*);
template absl::Status MaxScoreTopK(const std::vector<TermCursor<MemoryCursor>>&,
                                   const ScoringContext&, size_t, SharedThreshold*,
                                   MaxScoreResult*);
template absl::Status BlockMaxWandTopK(const std::vector<TermCursor<MemoryCursor>>&,
                                       const ScoringContext&, size_t, SharedThreshold*,
                                       MaxScoreResult*);
template absl::Status BlockMaxConjunctionTopK(const std::vector<TermCursor<MemoryCursor>>&,
                                              const ScoringContext&, size_t, SharedThreshold*,
                                              MaxScoreResult*);

}  // namespace scry::query
