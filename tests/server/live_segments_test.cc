// server/live_segments.h ApplyOperations: the rules of one batch (the last
// operation on an id decides), deletes and replaces of base and segment
// documents across batches, scores equal to a bulk build of the live
// documents, and a failed batch that changes nothing. Real RocksDB shards.
#include "server/live_segments.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

LiveOp Upsert(uint64_t seq, std::string id, std::string body) {
  LiveOp op;
  op.seq = seq;
  op.kind = OpKind::kUpsert;
  op.doc.id = std::move(id);
  op.doc.fields = {{"title", "doc " + op.doc.id}, {"body", std::move(body)}};
  return op;
}

LiveOp Delete(uint64_t seq, std::string id) {
  LiveOp op;
  op.seq = seq;
  op.kind = OpKind::kDelete;
  op.doc.id = std::move(id);
  return op;
}

std::string Jsonl(const std::map<std::string, std::string>& docs) {
  std::string out;
  for (const auto& [id, body] : docs) {
    absl::StrAppend(&out, "{\"id\":\"", id, "\",\"title\":\"doc ", id, "\",\"body\":\"", body,
                    "\"}\n");
  }
  return out;
}

std::unique_ptr<query::Searcher> Build(const TempDir& dir, const std::string& name,
                                       const std::map<std::string, std::string>& docs,
                                       uint32_t shards) {
  const std::string input = dir.Sub(name + ".jsonl");
  scry::testing::WriteFile(input, Jsonl(docs));
  indexer::BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub(name);
  options.num_shards = shards;
  EXPECT_THAT(indexer::BuildIndex(options), IsOk());
  auto searcher = query::Searcher::Open(dir.Sub(name), query::SearcherOptions());
  EXPECT_THAT(searcher, IsOk());
  return std::move(*searcher);
}

// The ids and scores of `query` (exact, top 100).
std::vector<std::pair<std::string, double>> Ranking(const query::Searcher& searcher,
                                                    const std::string& query) {
  query::SearchRequest req;
  req.query = query;
  req.top_k = 100;
  req.exact_total_hits = true;
  req.ids_only = true;
  auto result = searcher.Search(req);
  EXPECT_THAT(result, IsOk());
  std::vector<std::pair<std::string, double>> out;
  for (const query::SearchHit& hit : result->hits) out.emplace_back(hit.id, hit.score);
  return out;
}

class ApplyOperationsTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ApplyOperationsTest, TheLastOperationOnAnIdDecidesAndScoresEqualABulkBuild) {
  const uint32_t shards = GetParam();
  TempDir dir;
  std::map<std::string, std::string> live = {
      {"a", "red apple pie"},        {"b", "green apple tart"},    {"c", "red cherry jam"},
      {"d", "blue berry muffin"},    {"e", "apple cider vinegar"}, {"f", "cherry red wine"},
      {"g", "plain water and salt"}, {"h", "red red red apple"}};
  std::unique_ptr<query::Searcher> base = Build(dir, "base", live, shards);
  LiveSegmentsOptions options;
  options.dir = dir.Sub("segments");
  uint64_t next_segment = 1;

  // Batch 1: upsert twice (the second wins), upsert then delete (gone),
  // delete then upsert (back with new text), a base replace and a base delete.
  std::vector<LiveOp> batch1 = {Upsert(1, "x", "apple one"),
                                Upsert(2, "x", "apple two red"),
                                Upsert(3, "y", "cherry"),
                                Delete(4, "y"),
                                Delete(5, "c"),
                                Upsert(6, "c", "apple crumble"),
                                Upsert(7, "a", "green pear"),
                                Delete(8, "g"),
                                Delete(9, "nobody")};
  ApplySummary summary;
  auto one = ApplyOperations(*base, batch1, options, &next_segment, &summary);
  ASSERT_THAT(one, IsOk());
  live["x"] = "apple two red";
  live["c"] = "apple crumble";
  live["a"] = "green pear";
  live.erase("g");
  EXPECT_EQ(summary.upserted, 3u);  // x, c, a
  EXPECT_EQ(summary.deleted, 3u);   // c, a, g of the base
  EXPECT_EQ(summary.segments_built, summary.new_segment_paths.size());
  for (const std::string& path : summary.new_segment_paths) {
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
  }
  EXPECT_THAT((*one)->GetDocument("y"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*one)->GetDocument("g"), StatusIs(absl::StatusCode::kNotFound));
  auto x = (*one)->GetDocument("x");
  ASSERT_THAT(x, IsOk());
  EXPECT_EQ(x->Field("body"), "apple two red");
  // The Searcher it started from still answers as before.
  EXPECT_EQ(base->GetDocument("g")->Field("body"), "plain water and salt");

  // Batch 2, on the new snapshot: replace and delete documents now in
  // segments, and a base document.
  std::vector<LiveOp> batch2 = {Upsert(10, "x", "cherry pie"), Delete(11, "c"),
                                Upsert(12, "h", "apple"), Upsert(13, "z", "red apple")};
  auto two = ApplyOperations(**one, batch2, options, &next_segment);
  ASSERT_THAT(two, IsOk());
  live["x"] = "cherry pie";
  live.erase("c");
  live["h"] = "apple";
  live["z"] = "red apple";
  EXPECT_EQ((*two)->info().docs, live.size());

  std::unique_ptr<query::Searcher> ref = Build(dir, "ref", live, shards);
  for (const std::string q : {"apple", "red apple", "cherry", "\"red apple\"", "apple -red", "doc",
                              "pear OR pie", "+apple +red"}) {
    EXPECT_EQ(Ranking(**two, q), Ranking(*ref, q)) << q;
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, ApplyOperationsTest, ::testing::Values(1u, 3u));

TEST(ApplyOperations, ABadDocumentChangesNothingAndLeavesNoDirectory) {
  TempDir dir;
  std::unique_ptr<query::Searcher> base = Build(dir, "base", {{"a", "apple"}}, 1);
  LiveSegmentsOptions options;
  options.dir = dir.Sub("segments");
  uint64_t next_segment = 1;
  LiveOp bad = Upsert(2, "b", "x");
  bad.doc.fields.emplace_back("title", "twice");
  std::vector<LiveOp> ops = {Upsert(1, "c", "cherry"), bad};
  EXPECT_THAT(ApplyOperations(*base, ops, options, &next_segment),
              StatusIs(absl::StatusCode::kInvalidArgument, "appears twice"));
  size_t left = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(options.dir)) {
    ++left;
  }
  EXPECT_EQ(left, 0u);
  EXPECT_EQ(base->info().docs, 1u);
}

}  // namespace
}  // namespace scry::server
