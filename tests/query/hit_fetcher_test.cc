// File: tests/query/hit_fetcher_test.cc
//
// FetchHits reads a page's stored documents in one batch per shard and views
// them in place; before, it read and decoded each hit's document on its own.
// Both paths must give the same hits: random pages of random queries on the
// sample corpus (fixed seed), 1 and 3 shards, with titles, stored fields,
// snippets and explanations, and documents with only an id or other fields.
#include "query/hit_fetcher.h"

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
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
  const uint32_t seed = 20261206;
  SCOPED_TRACE(absl::StrCat("seed ", seed));
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

}  // namespace
}  // namespace scry::query
