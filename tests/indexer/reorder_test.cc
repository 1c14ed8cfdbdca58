// Document reordering (indexer/reorder.h, `scry index --reorder bp`) on a
// real corpus and a real RocksDB: a reordered index answers every query with
// the same hits, scores, stored fields, snippets and exact total_hits as the
// index in input order; so does a shard rewritten in a random order (the
// rewrite itself, whatever order it is given). Randomized queries, fixed
// seeds (SCRY_TEST_SEED for others).
#include "indexer/reorder.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/verify.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;
namespace fs = std::filesystem;

std::string Sample() { return scry::testing::TestDataDir() + "/sample.jsonl"; }

// Runs of ASCII letters of the sample's lines, lower-cased, line by line:
// where phrases are taken from.
std::vector<std::vector<std::string>> SampleWords() {
  std::ifstream in(Sample());
  std::vector<std::vector<std::string>> lines;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> words;
    std::string word;
    for (char c : line) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        word.push_back(static_cast<char>(c | 0x20));
      } else if (!word.empty()) {
        words.push_back(std::move(word));
        word.clear();
      }
    }
    if (words.size() > 20) lines.push_back(std::move(words));
  }
  return lines;
}

// A random query of the sample's words: OR and AND of terms (the pruned
// evaluators), phrases, exclusions, prefixes, field terms.
query::SearchRequest RandomRequest(const std::vector<std::string>& frequent,
                                   const std::vector<std::vector<std::string>>& lines,
                                   std::mt19937* rng) {
  auto word = [&] { return frequent[(*rng)() % frequent.size()]; };
  query::SearchRequest r;
  const uint32_t top_ks[] = {1, 10, 100, 1000};
  r.top_k = top_ks[(*rng)() % 4];
  switch ((*rng)() % 7) {
    case 0:
    case 1: {  // OR of terms
      std::vector<std::string> words;
      for (uint32_t i = 0, n = 1 + (*rng)() % 5; i < n; ++i) words.push_back(word());
      r.query = absl::StrJoin(words, " ");
      break;
    }
    case 2: {  // AND of terms
      r.query = absl::StrCat(word(), " ", word());
      r.default_operator = query::DefaultOperator::kAnd;
      break;
    }
    case 3: {  // a phrase of 2 or 3 words that occurs
      const auto& line = lines[(*rng)() % lines.size()];
      const size_t at = 10 + (*rng)() % (line.size() - 13);
      const size_t n = 2 + (*rng)() % 2;
      std::vector<std::string> words(line.begin() + static_cast<ptrdiff_t>(at),
                                     line.begin() + static_cast<ptrdiff_t>(at + n));
      r.query = absl::StrCat("\"", absl::StrJoin(words, " "), "\" ", (*rng)() % 2 ? word() : "");
      break;
    }
    case 4:
      r.query = absl::StrCat(word(), " ", word(), " -", word());
      break;
    case 5:
      r.query = absl::StrCat(word().substr(0, 3), "* ", word());
      break;
    default:
      r.query = absl::StrCat("title:", word(), " body:", word(), " ", word());
      break;
  }
  return r;
}

// Fails the test where two results differ: hits by id, score (exactly),
// title, stored fields and snippets; total_hits unless one is a lower bound.
void ExpectSameResult(const query::SearchResult& a, const query::SearchResult& b) {
  ASSERT_EQ(a.hits.size(), b.hits.size());
  for (size_t i = 0; i < a.hits.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("hit ", i));
    EXPECT_EQ(a.hits[i].id, b.hits[i].id);
    EXPECT_EQ(a.hits[i].score, b.hits[i].score);
    EXPECT_EQ(a.hits[i].title, b.hits[i].title);
    EXPECT_EQ(a.hits[i].fields, b.hits[i].fields);
    EXPECT_EQ(a.hits[i].snippets, b.hits[i].snippets);
  }
  // A pruned search counts the documents it met, which depends on the
  // order it meets them in: a lower bound, flagged, at most the exact count.
  if (!a.total_hits_is_lower_bound && !b.total_hits_is_lower_bound) {
    EXPECT_EQ(a.total_hits, b.total_hits);
  }
}

// `queries` random requests, each asked of both indexes pruned and with
// exact counts; some with stored fields and snippets.
void ExpectSameAnswers(const std::string& plain_dir, const std::string& reordered_dir, int queries,
                       uint32_t fixed_seed) {
  auto plain = query::Searcher::Open(plain_dir, query::SearcherOptions());
  auto reordered = query::Searcher::Open(reordered_dir, query::SearcherOptions());
  ASSERT_THAT(plain, IsOk());
  ASSERT_THAT(reordered, IsOk());
  const std::vector<std::string> frequent =
      scry::testing::MostFrequentWords(Sample(), 300, {"and", "not", "or"});
  const auto lines = SampleWords();
  SCRY_SEEDED_RNG(rng, fixed_seed);
  int with_hits = 0;
  for (int q = 0; q < queries; ++q) {
    query::SearchRequest r = RandomRequest(frequent, lines, &rng);
    if (rng() % 4 == 0) {
      r.highlight_fields = {"body"};
      r.ids_only = false;
    }
    uint64_t exact_total = 0;
    for (bool exact : {true, false}) {
      r.exact_total_hits = exact;
      SCOPED_TRACE(absl::StrCat("query ", q, " [", r.query, "] top ", r.top_k,
                                exact ? " exact" : " pruned"));
      auto a = (*plain)->Search(r);
      auto b = (*reordered)->Search(r);
      ASSERT_THAT(a, IsOk());
      ASSERT_THAT(b, IsOk());
      ExpectSameResult(*a, *b);
      if (exact) {
        EXPECT_FALSE(a->total_hits_is_lower_bound || b->total_hits_is_lower_bound);
        exact_total = a->total_hits;
      } else {
        for (const auto* pruned : {&*a, &*b}) {
          EXPECT_LE(pruned->total_hits, exact_total);
          if (!pruned->total_hits_is_lower_bound) {
            EXPECT_EQ(pruned->total_hits, exact_total);
          }
        }
      }
      with_hits += !a->hits.empty();
    }
  }
  EXPECT_GT(with_hits, queries);  // most queries match something
}

// Whether some id has another docid in the two indexes' shard `s`.
bool DocidsMoved(const std::string& a_dir, const std::string& b_dir, uint32_t s) {
  auto open = [s](const std::string& dir) {
    auto gen = storage::LiveGeneration(dir);
    EXPECT_THAT(gen, IsOk());
    auto shard = storage::ShardReader::Open(absl::StrCat(*gen, "/", storage::ShardDirName(s)),
                                            storage::ShardReader::Options());
    EXPECT_THAT(shard, IsOk());
    return std::move(shard).value();
  };
  auto a = open(a_dir), b = open(b_dir);
  EXPECT_EQ(a->meta().doc_count, b->meta().doc_count);
  uint32_t moved = 0;
  for (uint32_t d = 0; d < a->meta().doc_count; ++d) {
    moved += a->external_id(d) != b->external_id(d);
  }
  return moved > a->meta().doc_count / 2;
}

class ReorderTest : public ::testing::Test {
 protected:
  BuildOptions Options(const std::string& name, uint32_t shards, const std::string& reorder) {
    BuildOptions o;
    o.inputs = {Sample()};
    o.index_dir = dir_.Sub(name);
    o.num_shards = shards;
    o.reorder = reorder;
    return o;
  }
  TempDir dir_;
};

TEST_F(ReorderTest, ReorderedIndexesGiveTheSameResults) {
  for (uint32_t shards : {1u, 3u}) {
    SCOPED_TRACE(absl::StrCat(shards, " shards"));
    const BuildOptions plain = Options(absl::StrCat("plain", shards), shards, "none");
    const BuildOptions bp = Options(absl::StrCat("bp", shards), shards, "bp");
    auto plain_summary = BuildIndex(plain);
    auto bp_summary = BuildIndex(bp);
    ASSERT_THAT(plain_summary, IsOk());
    ASSERT_THAT(bp_summary, IsOk());
    EXPECT_EQ(plain_summary->shards_reordered, 0u);
    EXPECT_EQ(bp_summary->shards_reordered, shards);
    EXPECT_LT(bp_summary->reorder_cost_after, bp_summary->reorder_cost_before);
    EXPECT_EQ(bp_summary->docs, plain_summary->docs);
    EXPECT_EQ(bp_summary->postings, plain_summary->postings);
    EXPECT_EQ(bp_summary->terms, plain_summary->terms);
    for (uint32_t s = 0; s < shards; ++s) {
      EXPECT_TRUE(DocidsMoved(plain.index_dir, bp.index_dir, s)) << "shard " << s;
    }
    // Nothing left beside the shards, and the reordered index is sound.
    auto gen = storage::LiveGeneration(bp.index_dir);
    ASSERT_THAT(gen, IsOk());
    for (const auto& e : fs::directory_iterator(*gen)) {
      EXPECT_EQ(e.path().string().find(".reorder"), std::string::npos) << e.path();
    }
    auto report = storage::VerifyIndex(bp.index_dir);
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
    ExpectSameAnswers(plain.index_dir, bp.index_dir, 250, 180 + shards);
  }
}

TEST_F(ReorderTest, AShardRewrittenInAnyOrderGivesTheSameResults) {
  // The rewrite alone, in a random order (far from the bisection's): every
  // docid-keyed part of the shard must follow the permutation.
  const BuildOptions plain = Options("plain", 1, "none");
  const BuildOptions shuffled = Options("shuffled", 1, "none");
  ASSERT_THAT(BuildIndex(plain), IsOk());
  ASSERT_THAT(BuildIndex(shuffled), IsOk());
  auto gen = storage::LiveGeneration(shuffled.index_dir);
  ASSERT_THAT(gen, IsOk());
  const std::string path = absl::StrCat(*gen, "/", storage::ShardDirName(0));
  {
    auto shard = storage::ShardReader::Open(path, storage::ShardReader::Options());
    ASSERT_THAT(shard, IsOk());
    std::vector<uint32_t> order((*shard)->meta().doc_count);
    std::iota(order.begin(), order.end(), 0);
    SCRY_SEEDED_RNG(rng, 1800);
    std::shuffle(order.begin(), order.end(), rng);
    // Not a permutation: refused.
    std::vector<uint32_t> bad = order;
    bad[0] = bad[1];
    EXPECT_THAT(RewriteShard(**shard, bad, path + ".bad", ReorderOptions()),
                ::scry::testing::StatusIs(absl::StatusCode::kInvalidArgument, "permutation"));
    bad.pop_back();
    EXPECT_THAT(RewriteShard(**shard, bad, path + ".bad2", ReorderOptions()),
                ::scry::testing::StatusIs(absl::StatusCode::kInvalidArgument));
    ReorderOptions options;
    options.write_threads = 3;
    ASSERT_THAT(RewriteShard(**shard, order, path + ".new", options), IsOk());
  }
  fs::remove_all(path);
  fs::remove_all(path + ".bad");
  fs::remove_all(path + ".bad2");
  fs::rename(path + ".new", path);
  EXPECT_TRUE(DocidsMoved(plain.index_dir, shuffled.index_dir, 0));
  auto report = storage::VerifyIndex(shuffled.index_dir);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << absl::StrJoin(report->problems, "\n");
  ExpectSameAnswers(plain.index_dir, shuffled.index_dir, 150, 1801);
}

TEST_F(ReorderTest, TheForwardIndexKeepsToItsBound) {
  const BuildOptions plain = Options("plain", 1, "none");
  ASSERT_THAT(BuildIndex(plain), IsOk());
  auto gen = storage::LiveGeneration(plain.index_dir);
  ASSERT_THAT(gen, IsOk());
  auto shard = storage::ShardReader::Open(absl::StrCat(*gen, "/", storage::ShardDirName(0)),
                                          storage::ShardReader::Options());
  ASSERT_THAT(shard, IsOk());
  // Plain reference: the catch-all's dfs.
  std::vector<uint32_t> dfs;
  ASSERT_THAT((*shard)->ScanTerms(storage::kTextField, "",
                                  [&](std::string_view, std::string_view info) {
                                    dfs.push_back(*storage::TermInfo::DecodeDf(info));
                                    return true;
                                  }),
              IsOk());
  auto postings_from = [&](uint32_t min_df) {
    uint64_t n = 0;
    for (uint32_t df : dfs) n += df >= min_df ? df : 0;
    return n;
  };
  uint32_t used = 0;
  auto unbounded = ReadForwardIndex(**shard, 8, 0, &used);
  ASSERT_THAT(unbounded, IsOk());
  EXPECT_EQ(used, 8u);
  EXPECT_EQ(unbounded->terms.size(), postings_from(8));
  EXPECT_EQ(unbounded->num_docs(), (*shard)->meta().doc_count);
  for (uint64_t bound : {unbounded->terms.size() * kForwardBytesPerPosting, uint64_t{800000},
                         uint64_t{100000}, uint64_t{1}}) {
    SCOPED_TRACE(absl::StrCat("bound ", bound));
    auto bounded = ReadForwardIndex(**shard, 8, bound, &used);
    ASSERT_THAT(bounded, IsOk());
    EXPECT_GE(used, 8u);
    // Every term of df >= used, within the bound; one df lower would not be.
    EXPECT_EQ(bounded->terms.size(), postings_from(used));
    EXPECT_LE(bounded->terms.size() * kForwardBytesPerPosting, bound);
    if (used > 8) {
      EXPECT_GT(postings_from(used - 1) * kForwardBytesPerPosting, bound);
    }
  }
}

TEST_F(ReorderTest, UnknownOrderIsRefused) {
  EXPECT_THAT(BuildIndex(Options("x", 1, "random")),
              ::scry::testing::StatusIs(absl::StatusCode::kInvalidArgument, "none or bp"));
}

}  // namespace
}  // namespace scry::indexer
