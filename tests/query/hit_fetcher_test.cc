// File: tests/query/hit_fetcher_test.cc
//
// FetchHits reads a page's stored documents in one batch per shard and views
// them in place; before, it read and decoded each hit's document on its own.
// Both paths must give the same hits: random pages of random queries on the
// sample corpus (fixed seed), 1 and 3 shards, with titles, stored fields,
// snippets and explanations, and documents with only an id or other fields.
// Titles kept apart (format 6) equal the stored documents' titles, and a
// shard of format 5 (no titles apart) still gives the same hits.
#include "query/hit_fetcher.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "storage/index_dir.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;

// (total_hits may differ between runs of a pruned search on several shards;
// the hits may not.)
void ExpectSameHits(const SearchResult& a, const SearchResult& b) {
  ASSERT_EQ(a.hits.size(), b.hits.size());
  for (size_t i = 0; i < a.hits.size(); ++i) {
    const SearchHit& x = a.hits[i];
    const SearchHit& y = b.hits[i];
    SCOPED_TRACE(absl::StrCat("rank ", i));
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.score, y.score);
    EXPECT_EQ(x.title, y.title);
    EXPECT_EQ(x.fields, y.fields);
    EXPECT_EQ(x.snippets, y.snippets);
    ASSERT_EQ(x.explanation.size(), y.explanation.size());
    for (size_t e = 0; e < x.explanation.size(); ++e) {
      const TermExplanation& p = x.explanation[e];
      const TermExplanation& q = y.explanation[e];
      EXPECT_EQ(p.field, q.field);
      EXPECT_EQ(p.term, q.term);
      EXPECT_EQ(p.tf, q.tf);
      EXPECT_EQ(p.df, q.df);
      EXPECT_EQ(p.idf, q.idf);
      EXPECT_EQ(p.doc_length, q.doc_length);
      EXPECT_EQ(p.score, q.score);
    }
  }
}

TEST(FetchHits, BatchEqualsOneByOneOnRandomPages) {
  const uint32_t seed = ::scry::testing::TestSeed(20261206);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  TempDir dir;
  // The sample corpus, plus documents with only an id (no `docs` entry) and
  // with other fields, in words the queries use.
  const std::string input = dir.Sub("input.jsonl");
  std::string corpus = scry::testing::ReadFile(scry::testing::TestDataDir() + "/sample.jsonl");
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&corpus, "{\"id\":\"only-", i, "\"}\n");
    absl::StrAppend(&corpus, "{\"id\":\"extra-", i,
                    "\",\"tags\":\"the moscow security\",\"body\":\"the people of the world\"}\n");
  }
  scry::testing::WriteFile(input, corpus);
  std::vector<std::string> words = scry::testing::MostFrequentWords(input, 300, {});
  // Rare words too: every tenth of the next 3,000.
  const std::vector<std::string> more = scry::testing::MostFrequentWords(input, 3300, {});
  for (size_t i = 300; i < more.size(); i += 10) words.push_back(more[i]);

  for (uint32_t shards : {1u, 3u}) {
    SCOPED_TRACE(absl::StrCat(shards, " shards"));
    indexer::BuildOptions options;
    options.inputs = {input};
    options.index_dir = dir.Sub(absl::StrCat("idx", shards));
    options.num_shards = shards;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
    auto searcher = Searcher::Open(options.index_dir, SearcherOptions());
    ASSERT_THAT(searcher, IsOk());
    int nonempty = 0;
    for (int q = 0; q < 400; ++q) {
      SearchRequest req;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int w = 0; w < n; ++w) {
        if (w > 0) req.query += ' ';
        req.query += words[rng() % words.size()];
      }
      if (q % 7 == 3) req.query = absl::StrCat("\"", req.query, "\"");
      req.default_operator = q % 3 == 0 ? DefaultOperator::kAnd : DefaultOperator::kOr;
      req.offset = rng() % 4 == 0 ? 0 : rng() % 40;
      req.top_k = 1 + rng() % 30;
      static const std::vector<std::vector<std::string>> kFields = {
          {}, {}, {"title"}, {"*"}, {"body", "tags"}, {"nope"}};
      req.fields = kFields[rng() % kFields.size()];
      static const std::vector<std::vector<std::string>> kHighlight = {
          {}, {}, {"body"}, {"title", "body"}, {"tags"}};
      req.highlight_fields = kHighlight[rng() % kHighlight.size()];
      req.explain = rng() % 4 == 0;
      SCOPED_TRACE(
          absl::StrCat("query ", q, ": ", req.query, " offset ", req.offset, " top_k ", req.top_k));
      internal::SetFetchOneByOneForTesting(true);
      absl::StatusOr<SearchResult> want = (*searcher)->Search(req);
      internal::SetFetchOneByOneForTesting(false);
      absl::StatusOr<SearchResult> got = (*searcher)->Search(req);
      ASSERT_EQ(got.status(), want.status());
      if (!want.ok()) continue;
      ExpectSameHits(*got, *want);
      nonempty += !want->hits.empty();
      // ids_only reads no document: the same ids and scores.
      req.ids_only = true;
      absl::StatusOr<SearchResult> ids = (*searcher)->Search(req);
      ASSERT_THAT(ids, IsOk());
      ASSERT_EQ(ids->hits.size(), want->hits.size());
      for (size_t i = 0; i < ids->hits.size(); ++i) EXPECT_EQ(ids->hits[i].id, want->hits[i].id);
    }
    EXPECT_GT(nonempty, 200);
  }
}

// The sample corpus, plus documents with only an id, without a title, with
// an empty title and with a title in other scripts.
std::string TitlesCorpus() {
  std::string corpus = scry::testing::ReadFile(scry::testing::TestDataDir() + "/sample.jsonl");
  for (int i = 0; i < 10; ++i) {
    absl::StrAppend(&corpus, "{\"id\":\"only-", i, "\"}\n");
    absl::StrAppend(&corpus, "{\"id\":\"untitled-", i, "\",\"body\":\"the people of moscow\"}\n");
    absl::StrAppend(&corpus, "{\"id\":\"empty-", i,
                    "\",\"title\":\"\",\"body\":\"the people of moscow\"}\n");
    absl::StrAppend(&corpus, "{\"id\":\"intl-", i,
                    "\",\"title\":\"Caf\u00e9 \u041c\u043e\u0441\u043a\u0432\u0430 ", i,
                    "\",\"body\":\"people of moscow\"}\n");
  }
  return corpus;
}

TEST(FetchHits, TitlesKeptApartEqualTheStoredTitles) {
  TempDir dir;
  scry::testing::WriteFile(dir.Sub("input.jsonl"), TitlesCorpus());
  indexer::BuildOptions options;
  options.inputs = {dir.Sub("input.jsonl")};
  options.index_dir = dir.Sub("idx");
  options.num_shards = 2;
  ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  absl::StatusOr<std::string> gen = storage::LiveGeneration(options.index_dir);
  ASSERT_THAT(gen, IsOk());
  uint64_t docs = 0, titled = 0;
  for (uint32_t s = 0; s < 2; ++s) {
    auto shard = storage::ShardReader::Open(*gen + "/" + storage::ShardDirName(s),
                                            storage::ShardReader::Options());
    ASSERT_THAT(shard, IsOk());
    ASSERT_TRUE((*shard)->has_titles());
    for (uint32_t d = 0; d < (*shard)->meta().doc_count; ++d) {
      absl::StatusOr<storage::StoredDocument> doc = (*shard)->GetDocument(d);
      ASSERT_THAT(doc, IsOk());
      EXPECT_EQ((*shard)->title(d), doc->Field("title")) << doc->id;
      ++docs;
      titled += !(*shard)->title(d).empty();
    }
  }
  const std::string sample =
      scry::testing::ReadFile(scry::testing::TestDataDir() + "/sample.jsonl");
  EXPECT_EQ(docs, 40 + static_cast<uint64_t>(std::count(sample.begin(), sample.end(), '\n')));
  EXPECT_GT(titled, 10u);
  EXPECT_LT(titled, docs);
}

TEST(FetchHits, Format5ShardsWithoutTitlesApartGiveTheSameHits) {
  TempDir dir;
  scry::testing::WriteFile(dir.Sub("input.jsonl"), TitlesCorpus());
  indexer::BuildOptions options;
  options.inputs = {dir.Sub("input.jsonl")};
  options.index_dir = dir.Sub("new");
  options.num_shards = 2;
  ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  options.index_dir = dir.Sub("old");
  ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  scry::testing::DowngradeToFormat5(dir.Sub("old"));
  auto now = Searcher::Open(dir.Sub("new"), SearcherOptions());
  auto then = Searcher::Open(dir.Sub("old"), SearcherOptions());
  ASSERT_THAT(now, IsOk());
  ASSERT_THAT(then, IsOk());
  for (const char* query : {"moscow", "people", "the", "\"people of moscow\"", "security"}) {
    for (const std::vector<std::string>& fields :
         std::vector<std::vector<std::string>>{{}, {"title"}, {"*"}}) {
      SearchRequest req;
      req.query = query;
      req.top_k = 50;
      req.fields = fields;
      SCOPED_TRACE(absl::StrCat(query, " fields ", fields.size()));
      absl::StatusOr<SearchResult> want = (*then)->Search(req);
      absl::StatusOr<SearchResult> got = (*now)->Search(req);
      ASSERT_THAT(want, IsOk());
      ASSERT_THAT(got, IsOk());
      EXPECT_FALSE(want->hits.empty());
      ExpectSameHits(*got, *want);
    }
  }
}

}  // namespace
}  // namespace scry::query
