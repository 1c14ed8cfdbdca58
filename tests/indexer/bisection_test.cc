// Recursive graph bisection (indexer/bisection.h) against plain reference
// computations: the gains it moves documents by are the drops of the plainly
// computed split cost, its result is a permutation, never costlier than the
// input order by the plain log-gap cost, much cheaper on clustered input, and
// the same for any number of threads.
#include "indexer/bisection.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

// `num_docs` documents in `clusters` topics: each document holds, besides a
// few terms drawn from everything, terms of its topic's own vocabulary; the
// documents are shuffled, so the input order is far from the best one.
// *planted (if given) gets the documents topic by topic.
ForwardIndex ClusteredIndex(uint32_t num_docs, uint32_t clusters, std::mt19937* rng,
                            std::vector<uint32_t>* planted = nullptr) {
  constexpr uint32_t kTermsPerCluster = 60, kCommonTerms = 200;
  const uint32_t num_terms = clusters * kTermsPerCluster + kCommonTerms;
  std::vector<std::vector<uint32_t>> lists(num_terms);
  std::vector<uint32_t> docs(num_docs);
  std::iota(docs.begin(), docs.end(), 0);
  std::shuffle(docs.begin(), docs.end(), *rng);
  for (uint32_t i = 0; i < num_docs; ++i) {
    const uint32_t doc = docs[i], cluster = i % clusters;
    std::set<uint32_t> terms;
    for (int k = 0; k < 12; ++k)
      terms.insert(cluster * kTermsPerCluster + (*rng)() % kTermsPerCluster);
    for (int k = 0; k < 4; ++k) terms.insert(clusters * kTermsPerCluster + (*rng)() % kCommonTerms);
    for (uint32_t t : terms) lists[t].push_back(doc);
  }
  for (auto& list : lists) std::sort(list.begin(), list.end());
  if (planted != nullptr) {
    planted->clear();
    for (uint32_t c = 0; c < clusters; ++c) {
      for (uint32_t i = c; i < num_docs; i += clusters) planted->push_back(docs[i]);
    }
  }
  return ForwardIndex::FromLists(num_docs, lists);
}

// Documents with random terms: nothing to find, the guard must hold.
ForwardIndex RandomIndex(uint32_t num_docs, uint32_t num_terms, std::mt19937* rng) {
  std::vector<std::vector<uint32_t>> lists(num_terms);
  for (uint32_t d = 0; d < num_docs; ++d) {
    const uint32_t n = 1 + (*rng)() % std::min<uint32_t>(num_terms, 8);
    std::set<uint32_t> terms;
    while (terms.size() < n) terms.insert((*rng)() % num_terms);
    for (uint32_t t : terms) lists[t].push_back(d);
  }
  return ForwardIndex::FromLists(num_docs, lists);
}

bool IsPermutation(const std::vector<uint32_t>& order, uint32_t n) {
  std::vector<uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (uint32_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != i) return false;
  }
  return sorted.size() == n;
}

TEST(ForwardIndexTest, FromListsTransposes) {
  // term 0: docs 0, 2; term 1: doc 2; term 2: docs 1, 2.
  const ForwardIndex index = ForwardIndex::FromLists(3, {{0, 2}, {2}, {1, 2}});
  ASSERT_EQ(index.num_docs(), 3u);
  EXPECT_EQ(index.num_terms, 3u);
  EXPECT_EQ(std::vector<uint32_t>(index.doc(0).begin(), index.doc(0).end()),
            std::vector<uint32_t>({0}));
  EXPECT_EQ(std::vector<uint32_t>(index.doc(1).begin(), index.doc(1).end()),
            std::vector<uint32_t>({2}));
  EXPECT_EQ(std::vector<uint32_t>(index.doc(2).begin(), index.doc(2).end()),
            std::vector<uint32_t>({0, 1, 2}));
}

TEST(LogGapCostTest, CountsTheBitsOfEveryGap) {
  const ForwardIndex index = ForwardIndex::FromLists(4, {{0, 3}, {1, 2, 3}});
  // Identity: term 0 at positions 0, 3 (gaps 1, 3); term 1 at 1, 2, 3 (2, 1, 1).
  EXPECT_DOUBLE_EQ(LogGapCost(index, std::vector<uint32_t>{0, 1, 2, 3}), std::log2(3.0) + 1.0);
  // Order 3, 0, 1, 2: term 0 at positions 0, 1 (gaps 1, 1); term 1 at 0, 2, 3 (1, 2, 1).
  EXPECT_DOUBLE_EQ(LogGapCost(index, std::vector<uint32_t>{3, 0, 1, 2}), 1.0);
}

TEST(BisectionTest, MoveGainsAreTheDropsOfThePlainSplitCost) {
  SCRY_SEEDED_RNG(rng, 18);
  for (int round = 0; round < 20; ++round) {
    const uint32_t n = 2 + rng() % 60;
    const ForwardIndex index = round % 2 == 0 ? ClusteredIndex(n, 1 + rng() % 4, &rng)
                                              : RandomIndex(n, 1 + rng() % 30, &rng);
    std::vector<uint32_t> docs(n);
    std::iota(docs.begin(), docs.end(), 0);
    std::shuffle(docs.begin(), docs.end(), rng);
    const size_t left = 1 + rng() % (n - 1);
    const std::vector<double> gains = bisection_internal::MoveGains(index, docs, left);
    const std::span<const uint32_t> all(docs);
    const double n1 = static_cast<double>(left), n2 = static_cast<double>(n - left);
    const double before =
        bisection_internal::SplitCost(index, all.first(left), all.subspan(left), n1, n2);
    for (size_t i = 0; i < n; ++i) {
      // docs[i] moved across; the sides keep their sizes, as a swap leaves them.
      std::vector<uint32_t> to_left, to_right;
      for (size_t j = 0; j < n; ++j) {
        const bool on_left = (j < left) != (j == i);
        (on_left ? to_left : to_right).push_back(docs[j]);
      }
      const double after = bisection_internal::SplitCost(index, to_left, to_right, n1, n2);
      EXPECT_NEAR(gains[i], before - after, 1e-6)
          << "round " << round << " doc " << docs[i]
          << (i < left ? " from the left" : " from the right");
    }
  }
}

TEST(BisectionTest, APermutationNeverCostlierAndMuchCheaperOnClusters) {
  SCRY_SEEDED_RNG(rng, 1818);
  for (uint32_t n : {0u, 1u, 2u, 3u, 17u, 100u, 1000u, 5000u}) {
    for (bool clustered : {true, false}) {
      std::vector<uint32_t> planted;
      const ForwardIndex index =
          clustered ? ClusteredIndex(n, 1 + n / 100, &rng, &planted) : RandomIndex(n, 50, &rng);
      BisectionOptions options;
      options.min_partition_size = 4;
      const BisectionResult result = BisectionOrder(index, options);
      SCOPED_TRACE(::testing::Message() << n << " docs, clustered " << clustered);
      ASSERT_TRUE(IsPermutation(result.order, n));
      // The costs it reports are the plain reference's.
      std::vector<uint32_t> identity(n);
      std::iota(identity.begin(), identity.end(), 0);
      EXPECT_DOUBLE_EQ(result.cost_before, LogGapCost(index, identity));
      EXPECT_DOUBLE_EQ(result.cost_after, LogGapCost(index, result.order));
      EXPECT_LE(result.cost_after, result.cost_before);
      EXPECT_EQ(result.reordered, result.order != identity);
      if (clustered && n >= 1000) {
        // Shuffled topics put back together: at least nearly as cheap as
        // the planted order, far cheaper than the shuffled one.
        EXPECT_TRUE(result.reordered);
        const double planted_cost = LogGapCost(index, planted);
        EXPECT_LT(planted_cost, 0.7 * result.cost_before);
        EXPECT_LT(result.cost_after, 1.15 * planted_cost);
      }
    }
  }
}

TEST(BisectionTest, TheSameOrderOnAnyNumberOfThreads) {
  SCRY_SEEDED_RNG(rng, 7);
  const ForwardIndex index = ClusteredIndex(3000, 20, &rng);
  BisectionOptions options;
  const BisectionResult one = BisectionOrder(index, options);
  EXPECT_TRUE(one.reordered);
  for (unsigned threads : {2u, 3u, 8u}) {
    options.threads = threads;
    EXPECT_EQ(BisectionOrder(index, options).order, one.order) << threads << " threads";
  }
}

}  // namespace
}  // namespace scry::indexer
