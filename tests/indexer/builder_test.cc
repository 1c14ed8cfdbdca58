// Bulk builds on disk: strict and lenient handling of bad input lines, and
// the guarantee that a failed build leaves the previous index byte for byte.
#include "indexer/builder.h"
#include "analysis/checkpoints.h"

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "query/searcher.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;
namespace fs = std::filesystem;

const char kGood[] =
    "{\"id\":\"a\",\"title\":\"Alpha\",\"body\":\"the quick brown fox\"}\n"
    "{\"id\":\"b\",\"title\":null,\"body\":\"lazy dogs sleep\",\"tags\":\"animal\"}\n"
    "\n"
    "{\"id\":\"c\",\"body\":\"\"}\n";

// Every file under `dir` with its contents.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") {
      out[e.path().string()] = scry::testing::ReadFile(e.path().string());
    }
  }
  return out;
}

class BuilderTest : public ::testing::Test {
 protected:
  BuildOptions Options(const std::string& contents) {
    const std::string input = dir_.Sub(absl::StrCat("in", ++inputs_, ".jsonl"));
    WriteFile(input, contents);
    BuildOptions o;
    o.inputs = {input};
    o.index_dir = dir_.Sub("index");
    o.warn = [this](const std::string& line) { warnings_.push_back(line); };
    return o;
  }
  uint64_t Hits(const std::string& query) {
    auto s = query::Searcher::Open(dir_.Sub("index"), query::SearcherOptions());
    EXPECT_THAT(s, IsOk());
    query::SearchRequest r;
    r.query = query;
    auto res = (*s)->Search(r);
    EXPECT_THAT(res, IsOk());
    return res->total_hits;
  }
  TempDir dir_;
  int inputs_ = 0;
  std::vector<std::string> warnings_;
};

TEST_F(BuilderTest, BuildsAndCountsDocuments) {
  auto s = BuildIndex(Options(kGood));
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->docs, 3u);
  EXPECT_EQ(s->skipped, 0u);
  EXPECT_EQ(Hits("fox"), 1u);
  EXPECT_EQ(Hits("animal"), 1u);  // other string members are indexed too
}

struct BadLine {
  const char* line;
  const char* reason;
};

TEST_F(BuilderTest, FirstBadLineStopsWithFileLineAndReason) {
  const BadLine cases[] = {
      {"{\"id\":\"x\",\"body\":\"unterminated}", "malformed JSON"},
      {"[1,2,3]", "expected a JSON object"},
      {"{\"body\":\"no id\"}", "missing member \"id\""},
      {"{\"id\":7,\"body\":\"x\"}", "member \"id\" must be a string, got a number"},
      {"{\"id\":\"\",\"body\":\"x\"}", "member \"id\" is empty"},
      {"{\"id\":\"x\",\"title\":[\"t\"]}",
       "member \"title\" must be a string or null, got an array"},
      {"{\"id\":\"x\",\"body\":\"bad \xff\xfe utf8\"}", "invalid UTF-8"},
      // Ids are UTF-8 too: raw Latin-1, or a lone surrogate escaped.
      {"{\"id\":\"caf\xe9\",\"body\":\"x\"}", "invalid UTF-8"},
      {"{\"id\":\"\\ud800\",\"body\":\"x\"}", "malformed JSON"},
      {"{\"id\":\"a\",\"body\":\"again\"}", "duplicate id \"a\" (first seen at "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    BuildOptions o = Options(absl::StrCat(kGood, c.line, "\n{\"id\":\"z\"}\n"));
    EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                        absl::StrCat(o.inputs[0], ":5: ", c.reason)));
    EXPECT_FALSE(fs::exists(o.index_dir + "/CURRENT"));
  }
}

TEST_F(BuilderTest, OverlongLineIsRejectedWithoutReadingItWhole) {
  BuildOptions o = Options(
      absl::StrCat("{\"id\":\"big\",\"body\":\"", std::string(100000, 'a'), "\"}\n", kGood));
  o.max_document_bytes = 1000;
  EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                      absl::StrCat(o.inputs[0], ":1: line longer than 1000")));
  o.skip_invalid = true;
  auto s = BuildIndex(o);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->docs, 3u);
  EXPECT_EQ(s->skipped, 1u);
}

TEST_F(BuilderTest, SkipInvalidReportsEachLineAndKeepsGoing) {
  BuildOptions o = Options(absl::StrCat(kGood, "not json\n", "{\"id\":\"a\"}\n",
                                        "{\"id\":\"d\",\"body\":\"fox again\"}\n"));
  o.skip_invalid = true;
  auto s = BuildIndex(o);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->docs, 4u);
  EXPECT_EQ(s->skipped, 2u);
  ASSERT_EQ(warnings_.size(), 2u);
  EXPECT_NE(warnings_[0].find(":5: malformed JSON"), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[1].find(":6: duplicate id"), std::string::npos) << warnings_[1];
  EXPECT_EQ(Hits("fox"), 2u);
}

TEST_F(BuilderTest, FailedBuildLeavesExistingIndexUntouched) {
  ASSERT_THAT(BuildIndex(Options(kGood)), IsOk());
  const auto before = Snapshot(dir_.Sub("index"));
  ASSERT_FALSE(before.empty());
  // Bad input late in the file, bad shard count, bad language, missing file.
  BuildOptions bad = Options(absl::StrCat("{\"id\":\"n1\",\"body\":\"new\"}\n", "{oops\n"));
  bad.num_shards = 4;
  EXPECT_THAT(BuildIndex(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  BuildOptions bad_lang = Options(kGood);
  bad_lang.language = "klingon";
  EXPECT_THAT(BuildIndex(bad_lang), StatusIs(absl::StatusCode::kInvalidArgument));
  BuildOptions missing = Options(kGood);
  missing.inputs = {dir_.Sub("does-not-exist.jsonl")};
  EXPECT_THAT(BuildIndex(missing), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Snapshot(dir_.Sub("index")), before);
  EXPECT_EQ(Hits("fox"), 1u);
  EXPECT_EQ(Hits("new"), 0u);
}

TEST_F(BuilderTest, RebuildReplacesIndexAndRemovesOldGeneration) {
  ASSERT_THAT(BuildIndex(Options(kGood)), IsOk());
  auto first = storage::LiveGeneration(dir_.Sub("index"));
  ASSERT_THAT(first, IsOk());
  // A stale build directory, as a killed build leaves behind.
  fs::create_directories(dir_.Sub("index/gen-000099.tmp/shard-000"));
  BuildOptions o = Options("{\"id\":\"n\",\"body\":\"completely new words\"}\n");
  o.num_shards = 2;
  ASSERT_THAT(BuildIndex(o), IsOk());
  auto second = storage::LiveGeneration(dir_.Sub("index"));
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);
  EXPECT_FALSE(fs::exists(*first));
  EXPECT_FALSE(fs::exists(dir_.Sub("index/gen-000099.tmp")));
  EXPECT_EQ(Hits("fox"), 0u);
  EXPECT_EQ(Hits("new"), 1u);
}

TEST_F(BuilderTest, RefusesNonIndexDirectoryAndConcurrentBuild) {
  fs::create_directories(dir_.Sub("index"));
  WriteFile(dir_.Sub("index/precious.txt"), "do not delete");
  EXPECT_THAT(BuildIndex(Options(kGood)), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(scry::testing::ReadFile(dir_.Sub("index/precious.txt")), "do not delete");

  BuildOptions o = Options(kGood);
  o.index_dir = dir_.Sub("other");
  auto holder = storage::IndexBuild::Begin(o.index_dir);
  ASSERT_THAT(holder, IsOk());
  EXPECT_THAT(BuildIndex(o), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(BuilderTest, EmptyInputIsAnError) {
  EXPECT_THAT(BuildIndex(Options("\n\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, "no valid documents"));
}

}  // namespace
}  // namespace scry::indexer

namespace scry::indexer {
namespace {

TEST_F(BuilderTest, StoredFieldsCanBeLimited) {
  BuildOptions o = Options(kGood);
  o.stored_fields = {"title"};
  ASSERT_THAT(BuildIndex(o), IsOk());
  auto s = query::Searcher::Open(dir_.Sub("index"), query::SearcherOptions());
  ASSERT_THAT(s, IsOk());
  auto a = (*s)->GetDocument("a");
  ASSERT_THAT(a, IsOk());
  ASSERT_EQ(a->fields.size(), 1u);
  EXPECT_EQ(a->Field("title"), "Alpha");
  o.stored_fields = {};
  ASSERT_THAT(BuildIndex(o), IsOk());
  s = query::Searcher::Open(dir_.Sub("index"), query::SearcherOptions());
  ASSERT_THAT(s, IsOk());
  a = (*s)->GetDocument("a");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->id, "a");
  EXPECT_TRUE(a->fields.empty());
  EXPECT_EQ(Hits("fox"), 1u);  // still indexed
}

TEST_F(BuilderTest, NamedFieldsFollowIndexFields) {
  auto open = [&] { return query::Searcher::Open(dir_.Sub("index"), query::SearcherOptions()); };
  ASSERT_THAT(BuildIndex(Options(kGood)), IsOk());
  EXPECT_EQ((*open())->fields(), (std::vector<std::string>{"body", "tags", "title"}));
  EXPECT_EQ(Hits("tags:animal"), 1u);
  EXPECT_EQ(Hits("title:alpha"), 1u);
  EXPECT_EQ(Hits("body:alpha"), 0u);

  BuildOptions none = Options(kGood);
  none.index_fields = {};
  ASSERT_THAT(BuildIndex(none), IsOk());
  EXPECT_TRUE((*open())->fields().empty());
  query::SearchRequest r;
  r.query = "title:alpha";
  EXPECT_THAT((*open())->Search(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                             "unknown field 'title'; the index has no named"));
  EXPECT_EQ(Hits("alpha"), 1u);

  BuildOptions some = Options(kGood);
  some.index_fields = {"title", "extra"};  // a field no document has is still declared
  ASSERT_THAT(BuildIndex(some), IsOk());
  EXPECT_EQ((*open())->fields(), (std::vector<std::string>{"extra", "title"}));
  EXPECT_EQ(Hits("extra:alpha"), 0u);

  BuildOptions bad = Options(kGood);
  bad.index_fields = {"two words"};
  EXPECT_THAT(BuildIndex(bad), StatusIs(absl::StatusCode::kInvalidArgument, "two words"));
}

TEST_F(BuilderTest, StoredDocumentsCarryPositionCheckpoints) {
  std::string body;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&body, i % 7 == 0 ? "the " : "", "word", i, " ");
  body += std::string(300, 'x') + " end";  // an over-long word keeps its position
  BuildOptions options =
      Options(absl::StrCat("{\"id\":\"long\",\"title\":\"A title\",\"body\":\"", body, "\"}\n"));
  options.stopwords = true;
  ASSERT_THAT(BuildIndex(options), IsOk());
  // Checkpoints are storage's: read the stored document itself.
  auto index = storage::IndexReader::Open(dir_.Sub("index"), storage::ShardReader::Options());
  ASSERT_THAT(index, IsOk());
  const storage::ShardReader& shard =
      (*index)->shard(storage::ShardForId("long", static_cast<uint32_t>((*index)->num_shards())));
  auto docid = shard.FindDocId("long");
  ASSERT_THAT(docid, IsOk());
  ASSERT_TRUE(docid->has_value());
  auto doc = shard.GetDocument(**docid);
  ASSERT_THAT(doc, IsOk());
  auto analyzer = analysis::Analyzer::Create(analysis::AnalyzerOptions{"english", true});
  ASSERT_THAT(analyzer, IsOk());
  ASSERT_EQ(doc->fields.size(), 2u);
  for (size_t i = 0; i < doc->fields.size(); ++i) {
    EXPECT_EQ(doc->Checkpoints(i),
              analysis::PositionCheckpoints(doc->fields[i].second, analyzer->get()))
        << doc->fields[i].first;
  }
  EXPECT_GT(doc->Checkpoints(1).size(), 10u);
}

}  // namespace
}  // namespace scry::indexer
