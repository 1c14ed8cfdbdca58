// File: query/collector.h
//
// The collector layer of a search: how the documents a shard's evaluator
// offers become a ranking, and how the rankings of several shards (or, later,
// several servers) become one. The order everywhere is score descending, then
// external id ascending (byte order), so that results do not depend on the
// sharding or on the order documents were given docids in.
//
// - RankOrder, RankAfter: the order of one shard's documents, and the
//   search_after cursor of deep paging;
// - TopKHeap: the best k documents of one shard (every top-k evaluator's heap);
// - SharedThreshold: the k-th score known across the shards of one query,
//   which every shard prunes with;
// - ShardHit and MergeShardHits: the cross-shard merge.
//
// Thread safety: SharedThreshold is thread-safe; the rest belongs to one
// thread.
#ifndef SCRY_QUERY_COLLECTOR_H_
#define SCRY_QUERY_COLLECTOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/shard.h"

namespace scry::query {

// The ranking of one shard's documents: score descending, then external id
// ascending (byte order), so that ties rank alike whatever the sharding and
// whatever order documents were given docids in. Without a shard (tests of
// cursor-level code), docid ascending breaks ties.
struct RankOrder {
  const storage::ShardReader* shard = nullptr;

  // Whether (score a, docid da) ranks before (score b, docid db).
  [[nodiscard]] bool Before(double a, uint32_t da, double b, uint32_t db) const {
    if (a != b) return a > b;
    if (shard == nullptr) return da < db;
    return shard->external_id(da) < shard->external_id(db);
  }
};

// Deep paging (search_after): only documents ranked after (score, id) may
// enter a top-k: a lower score, or the same score and a greater id.
struct RankAfter {
  bool active = false;
  double score = 0;
  std::string id;

  [[nodiscard]] bool Admits(const storage::ShardReader* shard, double s, uint32_t d) const {
    if (!active || s < score) return true;
    return s == score && shard != nullptr && shard->external_id(d) > id;
  }
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

// A document kept by one shard's evaluation: `shard` is its index in the
// list of shards the merge is given. `sort_keys`: its sort keys in a sorted
// search (SortOrder), else empty.
struct ShardHit {
  double score;
  uint32_t shard;
  uint32_t docid;
  std::vector<std::optional<int64_t>> sort_keys = {};
};

// The order of a sorted search (SearchRequest::sort): by each key in turn
// (a missing key, nullopt, after any present one; present keys ascending,
// or descending where `descending` says so), then score descending, then
// external id ascending.
struct SortOrder {
  std::vector<bool> descending;  // one per key

  // -1, 0 or 1 as keys `a` rank before, with, or after keys `b`.
  [[nodiscard]] int CompareKeys(std::span<const std::optional<int64_t>> a,
                                std::span<const std::optional<int64_t>> b) const {
    for (size_t i = 0; i < descending.size(); ++i) {
      if (a[i].has_value() != b[i].has_value()) return a[i].has_value() ? -1 : 1;
      if (!a[i].has_value() || *a[i] == *b[i]) continue;
      return (*a[i] < *b[i]) != descending[i] ? -1 : 1;
    }
    return 0;
  }
  // Whether (keys a, score sa, id ia) ranks before (keys b, score sb, id ib).
  [[nodiscard]] bool Before(std::span<const std::optional<int64_t>> a, double sa,
                            std::string_view ia, std::span<const std::optional<int64_t>> b,
                            double sb, std::string_view ib) const {
    const int c = CompareKeys(a, b);
    if (c != 0) return c < 0;
    if (sa != sb) return sa > sb;
    return ia < ib;
  }
};

// Sorts `hits` of `shards` into the order of a sorted search.
void MergeSortedHits(std::span<const storage::ShardReader* const> shards, const SortOrder& order,
                     std::vector<ShardHit>* hits);

// Sorts `hits` of `shards` into the ranking of the whole query: score
// descending, then external id ascending (ids are compared only for equal
// scores). REQUIRES: every hit's shard indexes `shards`.
void MergeShardHits(std::span<const storage::ShardReader* const> shards,
                    std::vector<ShardHit>* hits);

}  // namespace scry::query

#endif  // SCRY_QUERY_COLLECTOR_H_
