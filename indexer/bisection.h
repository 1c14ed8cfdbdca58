// File: indexer/bisection.h
//
// Document reordering by recursive graph bisection (Dhulipala, Kabiljo,
// Karrer, Ottaviano, Pupyrev and Shalita, "Compressing graphs and indexes
// with recursive graph bisection", KDD 2016), as PISA's `reorder-docids
// --bp` and Lucene's BPIndexReorderer implement it. Documents that share
// terms are placed near each other, so the docid gaps of the posting lists
// shrink: smaller lists, and fewer blocks for a query to decode.
//
// The documents (a range of them, at first all) are split into two halves;
// up to max_iterations times, every document gets the gain of moving to the
// other half (the drop of the cost below), both halves are sorted by gain
// and the pairs whose gains sum above 0 are swapped; then each half is
// bisected again, down to partitions of min_partition_size. The cost of a
// split is, over the terms, d1 * log2(n1 / (d1 + 1)) + d2 * log2(n2 / (d2 +
// 1)) (d1, d2 the documents holding the term in halves of n1 and n2): the
// paper's estimate of the bits of the lists' gaps. Each level costs
// O(postings) per iteration: O(E log N) in all.
//
// The result is only kept if it lowers LogGapCost, the plain count of the
// bits of every gap, against the input order: BisectionOrder never makes the
// index it is given costlier by that measure.
#ifndef SCRY_INDEXER_BISECTION_H_
#define SCRY_INDEXER_BISECTION_H_

#include <cstdint>
#include <span>
#include <vector>

namespace scry::indexer {

// The documents' terms in compressed-sparse-row form: document d holds
// terms[offsets[d] .. offsets[d + 1]), term ids below num_terms, each at
// most once per document.
struct ForwardIndex {
  uint32_t num_terms = 0;
  std::vector<uint64_t> offsets = {0};
  std::vector<uint32_t> terms;

  uint32_t num_docs() const { return static_cast<uint32_t>(offsets.size() - 1); }
  std::span<const uint32_t> doc(uint32_t d) const {
    return std::span<const uint32_t>(terms).subspan(offsets[d], offsets[d + 1] - offsets[d]);
  }
  // The forward index of `num_docs` documents from posting lists:
  // lists[t] is the ascending docids of term t.
  static ForwardIndex FromLists(uint32_t num_docs, const std::vector<std::vector<uint32_t>>& lists);
};

struct BisectionOptions {
  // Swap rounds per split at most; a split stops early when a round swaps
  // nothing. The paper, PISA and Lucene use 20; on the shared corpus 10
  // reach 98% of 20's log-gap gain (9 KB of a 30 MB index short of it) in
  // half the time (bench/RESULTS.md run 9).
  uint32_t max_iterations = 10;
  // Partitions of at most this many documents are not split again.
  uint32_t min_partition_size = 16;
  // Threads: the two halves of a split are bisected in parallel while
  // threads are left (0 counts as 1). The order is the same for any number.
  unsigned threads = 1;
};

struct BisectionResult {
  // order[i] is the document placed at position i: a permutation of
  // 0 .. num_docs - 1 (the identity if the bisection did not lower the cost).
  std::vector<uint32_t> order;
  double cost_before = 0;  // LogGapCost of the input order
  double cost_after = 0;   // LogGapCost of `order`
  bool reordered = false;  // whether `order` is not the input order
};

// Reorders the documents of `index` by recursive graph bisection.
BisectionResult BisectionOrder(const ForwardIndex& index, const BisectionOptions& options);

// The log-gap cost of `index` with its documents placed in `order` (order[i]
// is the document at position i): over every term, its documents' positions
// ascending, the sum of log2(gap) with the first position + 1 as the first
// gap. An estimate of the bits a gap codec spends; the plain reference the
// bisection is judged by.
double LogGapCost(const ForwardIndex& index, std::span<const uint32_t> order);

namespace bisection_internal {

// The cost of a split, computed plainly: each term t counted with its
// degrees (documents holding it) among `left` and `right`, with sides of n1
// and n2 documents: left[t] * log2(n1 / (left[t] + 1)) + right[t] *
// log2(n2 / (right[t] + 1)).
double SplitCost(const ForwardIndex& index, std::span<const uint32_t> left,
                 std::span<const uint32_t> right, double n1, double n2);

// The gain of moving each of `docs` to the other side of the split at
// `left_size` (sizes unchanged, as a swap leaves them), as the bisection
// computes it: gains[i] for docs[i].
std::vector<double> MoveGains(const ForwardIndex& index, std::span<const uint32_t> docs,
                              size_t left_size);

}  // namespace bisection_internal

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_BISECTION_H_
