// File: indexer/bisection.cc
#include "indexer/bisection.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>

namespace scry::indexer {

ForwardIndex ForwardIndex::FromLists(uint32_t num_docs,
                                     const std::vector<std::vector<uint32_t>>& lists) {
  ForwardIndex index;
  index.num_terms = static_cast<uint32_t>(lists.size());
  index.offsets.assign(num_docs + 1, 0);
  for (const auto& list : lists) {
    for (uint32_t d : list) ++index.offsets[d + 1];
  }
  std::partial_sum(index.offsets.begin(), index.offsets.end(), index.offsets.begin());
  index.terms.resize(index.offsets.back());
  std::vector<uint64_t> next(index.offsets.begin(), index.offsets.end() - 1);
  // Terms in id order, so each document's terms come out ascending.
  for (uint32_t t = 0; t < lists.size(); ++t) {
    for (uint32_t d : lists[t]) index.terms[next[d]++] = t;
  }
  return index;
}

namespace {

// The cost of a term on one side of a split of n documents, d of which hold
// it, is d * log2(n) - g(d) with g(d) = d * log2(d + 1). Moving a document
// from a side where the term has degree a to one where it has degree b
// (sizes unchanged) lowers the term's cost by
//   log2(n_from) - log2(n_to) - (g(a) - g(a - 1)) + (g(b + 1) - g(b)),
// so the gains need only the steps g(d + 1) - g(d), tabled once.
class StepTable {
 public:
  explicit StepTable(uint32_t max_degree) : steps_(static_cast<size_t>(max_degree) + 1) {
    for (size_t d = 0; d < steps_.size(); ++d) {
      const double x = static_cast<double>(d);
      steps_[d] = (x + 1) * std::log2(x + 2) - x * std::log2(x + 1);
    }
  }
  double operator[](uint32_t d) const { return steps_[d]; }

 private:
  std::vector<double> steps_;
};

struct Scored {
  double gain;
  uint32_t doc;
};

// A thread's scratch for the split at hand: the degrees of its terms on each
// side, and per term the gain a document holding it adds to its own gain of
// moving across (computed once a round, so a document's gain is a sum of
// looked-up values). Arrays by term id; only the split's terms (listed in
// `terms`) are touched, and they are zero again between splits.
struct Workspace {
  explicit Workspace(uint32_t num_terms)
      : left(num_terms, 0), right(num_terms, 0), to_right(num_terms, 0), to_left(num_terms, 0) {}
  std::vector<uint32_t> left, right;
  std::vector<double> to_right, to_left;
  std::vector<uint32_t> terms;
  std::vector<Scored> left_gains, right_gains;
};

class Bisector {
 public:
  Bisector(const ForwardIndex& index, const BisectionOptions& options)
      : index_(index), options_(options), steps_(index.num_docs()) {}

  // Bisects `docs` recursively in place on up to `threads` threads.
  void Bisect(std::span<uint32_t> docs, Workspace* ws, unsigned threads) const {
    if (docs.size() <= std::max<size_t>(options_.min_partition_size, 1)) return;
    const size_t half = docs.size() / 2;
    Split(docs, half, ws);
    const std::span<uint32_t> left = docs.first(half), right = docs.subspan(half);
    if (threads > 1) {
      // The left half on a thread of its own, with scratch of its own.
      std::thread other([this, left, threads] {
        Workspace mine(index_.num_terms);
        Bisect(left, &mine, threads / 2);
      });
      Bisect(right, ws, threads - threads / 2);
      other.join();
    } else {
      Bisect(left, ws, 1);
      Bisect(right, ws, 1);
    }
  }

  // Counts the degrees of the split of `left` and `right` into *ws and
  // lists its terms. REQUIRES: ws clear.
  void CountDegrees(std::span<const uint32_t> left, std::span<const uint32_t> right,
                    Workspace* ws) const {
    for (auto [docs, degrees] : {std::pair(left, &ws->left), std::pair(right, &ws->right)}) {
      for (uint32_t d : docs) {
        for (uint32_t t : index_.doc(d)) {
          if (ws->left[t] == 0 && ws->right[t] == 0) ws->terms.push_back(t);
          ++(*degrees)[t];
        }
      }
    }
  }
  // The per-term gains of the current degrees, the sides holding
  // 2^log_left and 2^log_right documents.
  void TermGains(double log_left, double log_right, Workspace* ws) const {
    for (uint32_t t : ws->terms) {
      const uint32_t l = ws->left[t], r = ws->right[t];
      ws->to_right[t] = l > 0 ? steps_[r] - steps_[l - 1] + (log_left - log_right) : 0;
      ws->to_left[t] = r > 0 ? steps_[l] - steps_[r - 1] + (log_right - log_left) : 0;
    }
  }
  // The gain of moving `doc` across: term_gains is ws->to_right for a
  // document on the left, ws->to_left for one on the right.
  double Gain(uint32_t doc, const std::vector<double>& term_gains) const {
    double gain = 0;
    for (uint32_t t : index_.doc(doc)) gain += term_gains[t];
    return gain;
  }

 private:
  // The swap rounds of one split of `docs` at `half`; leaves the left
  // half's documents in docs[0, half).
  void Split(std::span<uint32_t> docs, size_t half, Workspace* ws) const {
    const std::span<uint32_t> left = docs.first(half), right = docs.subspan(half);
    CountDegrees(left, right, ws);
    const double log_left = std::log2(static_cast<double>(left.size()));
    const double log_right = std::log2(static_cast<double>(right.size()));
    auto& lg = ws->left_gains;
    auto& rg = ws->right_gains;
    lg.resize(left.size());
    rg.resize(right.size());
    // Best gain first; ties by document, so the order is deterministic.
    const auto better = [](const Scored& a, const Scored& b) {
      return a.gain != b.gain ? a.gain > b.gain : a.doc < b.doc;
    };
    for (uint32_t iteration = 0; iteration < options_.max_iterations; ++iteration) {
      TermGains(log_left, log_right, ws);
      for (size_t i = 0; i < left.size(); ++i) lg[i] = {Gain(left[i], ws->to_right), left[i]};
      for (size_t i = 0; i < right.size(); ++i) rg[i] = {Gain(right[i], ws->to_left), right[i]};
      std::sort(lg.begin(), lg.end(), better);
      std::sort(rg.begin(), rg.end(), better);
      size_t swaps = 0;
      while (swaps < lg.size() && swaps < rg.size() && lg[swaps].gain + rg[swaps].gain > 0) {
        for (uint32_t t : index_.doc(lg[swaps].doc)) --ws->left[t], ++ws->right[t];
        for (uint32_t t : index_.doc(rg[swaps].doc)) --ws->right[t], ++ws->left[t];
        ++swaps;
      }
      for (size_t i = 0; i < left.size(); ++i) left[i] = i < swaps ? rg[i].doc : lg[i].doc;
      for (size_t i = 0; i < right.size(); ++i) right[i] = i < swaps ? lg[i].doc : rg[i].doc;
      if (swaps == 0) break;
    }
    for (uint32_t t : ws->terms) ws->left[t] = ws->right[t] = 0;
    ws->terms.clear();
  }

  const ForwardIndex& index_;
  const BisectionOptions& options_;
  const StepTable steps_;
};

}  // namespace

BisectionResult BisectionOrder(const ForwardIndex& index, const BisectionOptions& options) {
  BisectionResult result;
  const uint32_t n = index.num_docs();
  std::vector<uint32_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  result.cost_before = LogGapCost(index, identity);
  result.order = identity;
  Bisector bisector(index, options);
  Workspace ws(index.num_terms);
  bisector.Bisect(result.order, &ws, std::max(1u, options.threads));
  result.cost_after = LogGapCost(index, result.order);
  result.reordered = result.cost_after < result.cost_before;
  if (!result.reordered) {
    result.order = std::move(identity);
    result.cost_after = result.cost_before;
  }
  return result;
}

double LogGapCost(const ForwardIndex& index, std::span<const uint32_t> order) {
  std::vector<int64_t> last(index.num_terms, -1);  // position of each term's last document
  double cost = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    for (uint32_t t : index.doc(order[i])) {
      cost += std::log2(static_cast<double>(static_cast<int64_t>(i) - last[t]));
      last[t] = static_cast<int64_t>(i);
    }
  }
  return cost;
}

namespace bisection_internal {

double SplitCost(const ForwardIndex& index, std::span<const uint32_t> left,
                 std::span<const uint32_t> right, double n1, double n2) {
  std::vector<double> in_left(index.num_terms, 0), in_right(index.num_terms, 0);
  for (uint32_t d : left) {
    for (uint32_t t : index.doc(d)) in_left[t] += 1;
  }
  for (uint32_t d : right) {
    for (uint32_t t : index.doc(d)) in_right[t] += 1;
  }
  double cost = 0;
  for (uint32_t t = 0; t < index.num_terms; ++t) {
    cost += in_left[t] * std::log2(n1 / (in_left[t] + 1)) +
            in_right[t] * std::log2(n2 / (in_right[t] + 1));
  }
  return cost;
}

std::vector<double> MoveGains(const ForwardIndex& index, std::span<const uint32_t> docs,
                              size_t left_size) {
  BisectionOptions options;
  Bisector bisector(index, options);
  Workspace ws(index.num_terms);
  bisector.CountDegrees(docs.first(left_size), docs.subspan(left_size), &ws);
  bisector.TermGains(std::log2(static_cast<double>(left_size)),
                     std::log2(static_cast<double>(docs.size() - left_size)), &ws);
  std::vector<double> gains(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    gains[i] = bisector.Gain(docs[i], i < left_size ? ws.to_right : ws.to_left);
  }
  return gains;
}

}  // namespace bisection_internal

}  // namespace scry::indexer
