// The top-k evaluators (MaxScore, Block-Max WAND, block-max AND) and the
// block-at-a-time intersection, over in-memory cursors (query/memory_cursor.h),
// against a plain reference that scores every document and sorts: many random
// lists of varied lengths and densities in two fields, several k, score ties,
// search_after and a threshold shared with other shards. No RocksDB, except in
// the test that checks MemoryCursor against storage::PostingCursor on the same
// lists. Fixed seeds.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "query/collector.h"
#include "query/cursor_intersection.h"
#include "query/maxscore.h"
#include "query/memory_cursor.h"
#include "query/scorer.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "tests/query/intersection_check.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::IsOk;
using storage::Impact;
using storage::kBlockSize;
using storage::kEndDocid;

// Documents, their lengths in two fields, and posting lists in either field.
struct Collection {
  uint32_t num_docs = 0;
  std::vector<uint32_t> lengths[2];  // by field, then docid
  std::vector<std::unique_ptr<MemoryPostings>> lists;
};

// `ties`: few distinct lengths and tfs, so that many documents score alike.
Collection RandomCollection(std::mt19937* rng, uint32_t num_docs, bool ties) {
  Collection c;
  c.num_docs = num_docs;
  for (auto& field_lengths : c.lengths) {
    for (uint32_t d = 0; d < num_docs; ++d) {
      field_lengths.push_back(ties ? 5u * (1 + (*rng)() % 3) : 1 + (*rng)() % 400);
    }
  }
  auto tf = [&] {
    if (ties) return 1 + (*rng)() % 2;
    const uint32_t r = (*rng)() % 100;
    return r < 70 ? 1 : r < 95 ? 2 + (*rng)() % 5 : 1 + (*rng)() % 400;  // > 256 now and then
  };
  const double densities[] = {0.0003, 0.002, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0};
  for (int i = 0; i < 24; ++i) {
    std::vector<uint32_t> docids, freqs;
    const int shape = i % 8;
    if (shape == 6) {  // a cluster of consecutive documents
      const uint32_t begin = (*rng)() % num_docs;
      const uint32_t end = std::min<uint32_t>(num_docs, begin + 1 + (*rng)() % 3000);
      for (uint32_t d = begin; d < end; ++d) docids.push_back(d);
    } else if (shape == 7) {  // a block boundary: 1, 127, 128, 129 or 257 postings
      const uint32_t sizes[] = {1, 127, 128, 129, 257};
      std::vector<uint32_t> all(num_docs);
      for (uint32_t d = 0; d < num_docs; ++d) all[d] = d;
      std::sample(all.begin(), all.end(), std::back_inserter(docids),
                  sizes[(*rng)() % std::size(sizes)], *rng);
    } else {
      std::bernoulli_distribution keep(densities[(*rng)() % std::size(densities)]);
      for (uint32_t d = 0; d < num_docs; ++d) {
        if (keep(*rng)) docids.push_back(d);
      }
    }
    if (docids.empty()) docids.push_back((*rng)() % num_docs);
    for (size_t k = 0; k < docids.size(); ++k) freqs.push_back(tf());
    const uint8_t field = (*rng)() % 3 == 0 ? 1 : 0;
    c.lists.push_back(std::make_unique<MemoryPostings>(std::move(docids), std::move(freqs),
                                                       c.lengths[field], field));
  }
  return c;
}

ScoringContext Context(const Collection& c) {
  auto bm25 = [&](int field) {
    uint64_t total = 0;
    for (uint32_t l : c.lengths[field]) total += l;
    return Bm25(c.num_docs, total);
  };
  return ScoringContext{nullptr, bm25(0), nullptr, {bm25(0), bm25(1)}, RankAfter()};
}

// A query: some of the collection's lists, with weights.
struct Query {
  std::vector<size_t> lists;
  std::vector<double> idf;
};

// Every document matching the query (all terms if `conjunction`, else any),
// scored as the exhaustive evaluation sums: contributions in query order.
std::vector<ScoredDoc> ScoreAll(const Collection& c, const ScoringContext& ctx, const Query& q,
                                bool conjunction) {
  std::vector<double> score(c.num_docs, 0.0);
  std::vector<size_t> hits(c.num_docs, 0);
  for (size_t t = 0; t < q.lists.size(); ++t) {
    const MemoryPostings& p = *c.lists[q.lists[t]];
    for (size_t i = 0; i < p.docids().size(); ++i) {
      const uint32_t d = p.docids()[i];
      score[d] += ctx.Of(p.field()).Score(q.idf[t], p.freqs()[i], p.doc_lengths()[d]);
      ++hits[d];
    }
  }
  std::vector<ScoredDoc> out;
  for (uint32_t d = 0; d < c.num_docs; ++d) {
    if (conjunction ? hits[d] == q.lists.size() : hits[d] > 0) out.push_back({score[d], d});
  }
  return out;
}

// Into RankOrder without a shard: score descending, docid ascending.
void Sorted(std::vector<ScoredDoc>* docs) {
  std::sort(docs->begin(), docs->end(), [](const ScoredDoc& a, const ScoredDoc& b) {
    return RankOrder{}.Before(a.score, a.docid, b.score, b.docid);
  });
}

// The reference top-k of `all`: RankOrder without a shard (score descending,
// docid ascending), only documents `after` admits.
std::vector<ScoredDoc> TopK(std::vector<ScoredDoc> all, size_t k, const RankAfter& after) {
  std::erase_if(all, [&](const ScoredDoc& s) { return !after.Admits(nullptr, s.score, s.docid); });
  Sorted(&all);
  if (all.size() > k) all.resize(k);
  return all;
}

enum class Algorithm { kMaxScore, kBlockMaxWand, kBlockMaxAnd };

absl::Status Evaluate(Algorithm algorithm, const Collection& c, const ScoringContext& ctx,
                      const Query& q, size_t k, SharedThreshold* shared, MaxScoreResult* result) {
  std::vector<MemoryCursor> cursors;
  cursors.reserve(q.lists.size());
  for (size_t i : q.lists) cursors.emplace_back(c.lists[i].get());
  std::vector<TermCursor<MemoryCursor>> terms;
  for (size_t t = 0; t < q.lists.size(); ++t) terms.push_back({&cursors[t], q.idf[t]});
  switch (algorithm) {
    case Algorithm::kMaxScore:
      return MaxScoreTopK(terms, ctx, k, shared, result);
    case Algorithm::kBlockMaxWand:
      return BlockMaxWandTopK(terms, ctx, k, shared, result);
    case Algorithm::kBlockMaxAnd:
      return BlockMaxConjunctionTopK(terms, ctx, k, shared, result);
  }
  return absl::InternalError("unknown algorithm");
}

TEST(Evaluators, TopKEqualsReference) {
  int pruned[3] = {}, runs = 0;
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    SCRY_SEEDED_RNG(rng, seed);
    const bool ties = seed % 3 == 0;
    const Collection c = RandomCollection(&rng, seed % 2 == 0 ? 30000 : 3000, ties);
    ScoringContext ctx = Context(c);
    for (int round = 0; round < 120; ++round) {
      Query q;
      const size_t n = 1 + rng() % 5;
      const double same_idf = 0.5 + (rng() % 40) / 10.0;
      for (size_t t = 0; t < n; ++t) {
        q.lists.push_back(rng() % c.lists.size());
        q.idf.push_back(ties || rng() % 4 == 0 ? same_idf : 0.1 + (rng() % 50) / 10.0);
      }
      const size_t ks[] = {1, 2, 10, 10, 100, 1000};
      const size_t k = ks[rng() % std::size(ks)];
      for (Algorithm algorithm :
           {Algorithm::kMaxScore, Algorithm::kBlockMaxWand, Algorithm::kBlockMaxAnd}) {
        const bool conjunction = algorithm == Algorithm::kBlockMaxAnd;
        const std::vector<ScoredDoc> all = ScoreAll(c, ctx, q, conjunction);
        // Plain, after a page (search_after), and with another shard's
        // threshold already at the k-th score.
        for (int variant = 0; variant < 3; ++variant) {
          SCOPED_TRACE(::testing::Message()
                       << "seed " << seed << " round " << round << " algorithm "
                       << static_cast<int>(algorithm) << " variant " << variant << " k " << k
                       << " terms " << n);
          ctx.after = RankAfter();
          const std::vector<ScoredDoc> first = TopK(all, k, RankAfter());
          if (variant == 1) {
            if (first.empty()) continue;
            ctx.after = RankAfter{true, first[first.size() / 2].score, ""};
          }
          std::vector<ScoredDoc> expected = TopK(all, k, ctx.after);
          SharedThreshold shared;
          if (variant == 2 && expected.size() == k) shared.Raise(expected.back().score);
          MaxScoreResult result;
          ASSERT_THAT(Evaluate(algorithm, c, ctx, q, k, &shared, &result), IsOk());
          std::vector<ScoredDoc> got = result.top;
          Sorted(&got);
          ASSERT_EQ(got.size(), expected.size());
          for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].docid, expected[i].docid) << i;
            EXPECT_EQ(got[i].score, expected[i].score) << i;  // bit for bit
          }
          if (result.matches_is_lower_bound) {
            EXPECT_LE(result.matches, all.size());
            ++pruned[static_cast<int>(algorithm)];
          } else {
            EXPECT_EQ(result.matches, all.size());
          }
          ++runs;
        }
      }
    }
  }
  // Not vacuous: every algorithm skipped documents in many runs.
  EXPECT_GT(pruned[0], 200);
  EXPECT_GT(pruned[1], 200);
  EXPECT_GT(pruned[2], 50);
  std::printf("pruned (MaxScore, BMW, AND): %d, %d, %d of %d runs each\n", pruned[0], pruned[1],
              pruned[2], runs / 3);
}

TEST(Evaluators, IntersectionEqualsSetIntersection) {
  SCRY_SEEDED_RNG(rng, 11);
  const Collection c = RandomCollection(&rng, 200000, false);
  for (int round = 0; round < 300; ++round) {
    const size_t k = 1 + rng() % 4;
    std::vector<size_t> which;
    for (size_t i = 0; i < k; ++i) which.push_back(rng() % c.lists.size());
    SCOPED_TRACE(::testing::Message() << "round " << round);
    std::vector<uint32_t> expected = c.lists[which[0]]->docids();
    for (size_t i = 1; i < k; ++i) {
      std::vector<uint32_t> next;
      const auto& b = c.lists[which[i]]->docids();
      std::set_intersection(expected.begin(), expected.end(), b.begin(), b.end(),
                            std::back_inserter(next));
      expected = std::move(next);
    }
    std::vector<MemoryCursor> owned;
    owned.reserve(k);
    std::vector<MemoryCursor*> cursors;
    for (size_t i : which) {
      owned.emplace_back(c.lists[i].get());
      cursors.push_back(&owned.back());
    }
    auto freq_of = [&](size_t i, uint32_t d) {
      const MemoryPostings& p = *c.lists[which[i]];
      return p
          .freqs()[std::lower_bound(p.docids().begin(), p.docids().end(), d) - p.docids().begin()];
    };
    CheckIntersection(cursors, expected, freq_of, /*jumps=*/round % 2 == 1, &rng);
  }
}

// MemoryCursor is a faithful stand-in: on the same lists, it moves, reports
// blocks and bounds them exactly as storage::PostingCursor does on a shard.
TEST(Evaluators, MemoryCursorMatchesPostingCursor) {
  SCRY_SEEDED_RNG(rng, 3);
  constexpr uint32_t kDocs = 40000;
  Collection c = RandomCollection(&rng, kDocs, false);
  ::scry::testing::TempDir dir;
  const std::string path = dir.Sub("shard");
  auto writer = storage::ShardWriter::Create(path, storage::ShardWriterOptions());
  ASSERT_THAT(writer, IsOk());
  for (uint32_t d = 0; d < kDocs; ++d) {
    char id[32];
    std::snprintf(id, sizeof id, "d%08u", d);
    ASSERT_THAT((*writer)->AddDocument(d, storage::StoredDocument{id, {}}, c.lengths[0][d]),
                IsOk());
  }
  // The shard's catch-all field: the lists of field 0, terms in key order.
  std::vector<MemoryPostings*> lists;
  for (const auto& p : c.lists) {
    if (p->field() == 0) lists.push_back(p.get());
  }
  auto term = [](size_t i) {
    char t[32];
    std::snprintf(t, sizeof t, "t%03zu", i);
    return std::string(t);
  };
  for (size_t i = 0; i < lists.size(); ++i) {
    storage::PostingList list{lists[i]->docids(), lists[i]->freqs(), {}};
    for (uint32_t f : list.freqs) {
      for (uint32_t k = 0; k < f; ++k) list.positions.push_back(k);
    }
    ASSERT_THAT((*writer)->AddPostingList(storage::kTextField, term(i), list), IsOk());
  }
  storage::ShardMeta meta;
  meta.language = "english";
  ASSERT_THAT((*writer)->Finish(meta), IsOk());
  auto reader = storage::ShardReader::Open(path, storage::ShardReader::Options());
  ASSERT_THAT(reader, IsOk());

  for (size_t i = 0; i < lists.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "list " << i << " of " << lists[i]->docids().size());
    auto info = (*reader)->FindTerm(storage::kTextField, term(i));
    ASSERT_THAT(info, IsOk());
    ASSERT_TRUE(info->has_value());
    for (int walk = 0; walk < 4; ++walk) {
      storage::PostingCursor disk(reader->get(), storage::kTextField, term(i), **info);
      MemoryCursor memory(lists[i]);
      std::vector<Impact> a, b;
      ASSERT_THAT(disk.ListImpacts(&a), IsOk());
      ASSERT_THAT(memory.ListImpacts(&b), IsOk());
      EXPECT_EQ(a, b);
      EXPECT_EQ(disk.df(), memory.df());
      uint32_t shallow = 0;
      while (true) {
        ASSERT_EQ(disk.docid(), memory.docid());
        ASSERT_EQ(disk.block_last_docid(), memory.block_last_docid());
        ASSERT_EQ(disk.block_remaining(), memory.block_remaining());
        if (disk.docid() == kEndDocid) break;
        ASSERT_EQ(disk.freq(), memory.freq());
        ASSERT_EQ(disk.doc_length(), memory.doc_length());
        // Shallow moves ahead of the cursor (targets never decrease).
        shallow = std::max<uint32_t>(shallow, disk.docid() + rng() % 3000);
        const uint32_t last = disk.ShallowNextGeq(shallow);
        ASSERT_EQ(last, memory.ShallowNextGeq(shallow)) << "shallow " << shallow;
        if (last != kEndDocid) {
          ASSERT_THAT(disk.ShallowBlockImpacts(&a), IsOk());
          ASSERT_THAT(memory.ShallowBlockImpacts(&b), IsOk());
          ASSERT_EQ(a, b);
        }
        if (walk == 0) {
          disk.Next();
          memory.Next();
        } else {
          const uint32_t target = disk.docid() + rng() % (walk == 1 ? 200 : 20000);
          disk.NextGeq(target);
          memory.NextGeq(target);
        }
      }
      EXPECT_THAT(disk.status(), IsOk());
    }
  }
}

}  // namespace
}  // namespace scry::query
