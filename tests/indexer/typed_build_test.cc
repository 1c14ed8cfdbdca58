// Typed fields in a build (issue 21, step 1): `--schema` members parsed
// and refused with FILE:LINE errors, keyword values as exact posting terms
// of their named field, numeric values as doc-values columns per shard, the
// schema in the MANIFEST and shard meta; the same data in a live segment
// (BuildSegment) as in a bulk build; format 7 indexes still open.
//
// The reference is the input itself: random documents (fixed seeds,
// tests/test_util.h TestSeed) whose typed values are kept aside, against
// which every shard's columns and keyword lists are read back.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "indexer/jsonl_reader.h"
#include "indexer/segment.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;
using storage::FieldType;

constexpr char kSchema[] =
    R"({"fields": {"lang": "keyword", "year": "int64", "price": "double", "published": "date"}})";

// A document's typed values as the input gives them, read back sorted.
struct Expected {
  std::set<std::string> lang;
  std::vector<int64_t> year, price, published;  // sort keys, ascending
};

// Random documents: text, and each typed member absent, null, a value or
// an array (keywords with characters the analyser would split or fold).
std::string RandomInput(uint32_t seed, size_t n, std::map<std::string, Expected>* expected) {
  std::mt19937 rng(seed);
  const std::vector<std::string> langs = {"en", "en-US", "FR", "de_DE", "x y", "ü"};
  const std::vector<std::string> words = {"alpha", "beta", "gamma", "delta", "epsilon"};
  auto pick = [&](size_t k) { return static_cast<size_t>(rng() % k); };
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const std::string id = absl::StrCat("doc", i);
    Expected& e = (*expected)[id];
    std::string line =
        absl::StrCat(R"({"id":")", id, R"(","body":")", words[pick(5)], " ", words[pick(5)], "\"");
    switch (pick(4)) {
      case 0:
        break;
      case 1:
        line += R"(,"lang":null)";
        break;
      case 2: {
        const std::string& l = langs[pick(langs.size())];
        e.lang.insert(l);
        absl::StrAppend(&line, R"(,"lang":")", l, "\"");
        break;
      }
      default: {
        std::vector<std::string> quoted;
        for (size_t k = pick(4); k > 0; --k) {
          const std::string& l = langs[pick(langs.size())];
          e.lang.insert(l);
          quoted.push_back(absl::StrCat("\"", l, "\""));
        }
        absl::StrAppend(&line, R"(,"lang":[)", absl::StrJoin(quoted, ","), "]");
      }
    }
    if (pick(3) != 0) {
      const int64_t year = 1990 + static_cast<int64_t>(pick(30)) - (pick(10) == 0 ? 3000 : 0);
      e.year.push_back(year);
      // As a number or as a string.
      absl::StrAppend(&line, R"(,"year":)",
                      pick(2) ? absl::StrCat(year) : absl::StrCat("\"", year, "\""));
    }
    if (pick(3) != 0) {
      std::vector<std::string> texts;
      for (size_t k = 1 + pick(3); k > 0; --k) {
        const double price = (static_cast<double>(pick(2000)) - 500) / 8;
        e.price.push_back(storage::DoubleSortKey(price));
        texts.push_back(absl::StrFormat("%.17g", price));
      }
      absl::StrAppend(&line, R"(,"price":[)", absl::StrJoin(texts, ","), "]");
    }
    if (pick(2) != 0) {
      const int day = 1 + static_cast<int>(pick(28));
      const std::string date = absl::StrFormat("2020-02-%02dT10:00:00+01:00", day);
      e.published.push_back(*storage::ParseRfc3339Micros(date));
      absl::StrAppend(&line, R"(,"published":")", date, "\"");
    }
    std::sort(e.price.begin(), e.price.end());
    out += line + "}\n";
  }
  return out;
}

// Every shard of the index at `dir` holds exactly the expected typed data.
void ExpectTypedData(const std::string& dir, const std::map<std::string, Expected>& expected) {
  absl::StatusOr<std::string> gen = storage::LiveGeneration(dir);
  ASSERT_THAT(gen, IsOk());
  absl::StatusOr<storage::IndexManifest> manifest = storage::ReadManifest(*gen);
  ASSERT_THAT(manifest, IsOk());
  EXPECT_EQ(manifest->schema, Schema::ParseJson(kSchema)->ToJson());
  size_t seen = 0;
  for (uint32_t s = 0; s < manifest->num_shards; ++s) {
    auto shard = storage::ShardReader::Open(absl::StrCat(*gen, "/", storage::ShardDirName(s)),
                                            storage::ShardReader::Options());
    ASSERT_THAT(shard, IsOk());
    const storage::ShardReader& r = **shard;
    ASSERT_EQ(r.meta().typed_fields.size(), 4u);
    EXPECT_EQ(r.TypeOf("lang"), FieldType::kKeyword);
    EXPECT_EQ(r.TypeOf("published"), FieldType::kDate);
    EXPECT_EQ(r.TypeOf("body"), FieldType::kText);
    EXPECT_EQ(r.doc_values("lang"), nullptr);
    const storage::DocValuesColumn* year = r.doc_values("year");
    const storage::DocValuesColumn* price = r.doc_values("price");
    const storage::DocValuesColumn* published = r.doc_values("published");
    ASSERT_TRUE(year != nullptr && price != nullptr && published != nullptr);
    auto keys = [](const storage::DocValuesColumn* c, uint32_t d) {
      return std::vector<int64_t>(c->values(d).begin(), c->values(d).end());
    };
    // Keyword lists: the documents of each value, against the input.
    const std::optional<uint8_t> lang = r.FieldId("lang");
    ASSERT_TRUE(lang.has_value());
    std::map<std::string, std::set<std::string>> by_value, want_by_value;
    SCRY_ASSERT_OK(r.ScanTerms(*lang, "", [&](std::string_view term, std::string_view) {
      by_value[std::string(term)];
      return true;
    }));
    for (auto& [value, ids] : by_value) {
      auto info = r.FindTerm(*lang, value);
      ASSERT_TRUE(info.ok() && info->has_value()) << value;
      storage::PostingList list;
      SCRY_ASSERT_OK(r.ReadPostingList(*lang, value, **info, &list));
      for (uint32_t d : list.docids) ids.insert(std::string(r.external_id(d)));
      EXPECT_TRUE(std::all_of(list.freqs.begin(), list.freqs.end(), [](auto f) { return f == 1; }));
    }
    for (uint32_t d = 0; d < r.meta().doc_count; ++d) {
      const std::string id(r.external_id(d));
      ASSERT_EQ(storage::ShardForId(id, manifest->num_shards), s);
      const Expected& e = expected.at(id);
      EXPECT_EQ(keys(year, d), e.year) << id;
      EXPECT_EQ(keys(price, d), e.price) << id;
      EXPECT_EQ(keys(published, d), e.published) << id;
      for (const std::string& l : e.lang) want_by_value[l].insert(id);
      ++seen;
    }
    EXPECT_EQ(by_value, want_by_value) << "shard " << s;
    // Not analysed into the catch-all: "en-US" is no word of the text.
    auto catch_all = r.FindTerm(storage::kTextField, "en-US");
    ASSERT_THAT(catch_all, IsOk());
    EXPECT_FALSE(catch_all->has_value());
  }
  EXPECT_EQ(seen, expected.size());
}

class TypedBuildTest : public ::testing::TestWithParam<std::tuple<uint32_t, const char*>> {};

TEST_P(TypedBuildTest, ColumnsAndKeywordListsEqualTheInput) {
  const auto [shards, reorder] = GetParam();
  const uint32_t seed = scry::testing::TestSeed(2101 + shards);
  SCOPED_TRACE(scry::testing::SeedDescription(seed));
  TempDir dir;
  std::map<std::string, Expected> expected;
  const std::string input = dir.Sub("in.jsonl");
  WriteFile(input, RandomInput(seed, 700, &expected));
  BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub("index");
  options.num_shards = shards;
  options.reorder = reorder;
  options.index_fields = {"title"};  // keyword fields are named fields all the same
  options.schema = *Schema::ParseJson(kSchema);
  SCRY_ASSERT_OK(BuildIndex(options));
  ExpectTypedData(dir.Sub("index"), expected);
  // Text search is unchanged by the typed members.
  const absl::StatusOr<uint64_t> hits = scry::testing::TotalHits(dir.Sub("index"), "alpha");
  ASSERT_THAT(hits, IsOk());
  EXPECT_GT(*hits, 0u);
}

INSTANTIATE_TEST_SUITE_P(ShardsAndOrder, TypedBuildTest,
                         ::testing::Combine(::testing::Values(1u, 3u),
                                            ::testing::Values("none", "bp")));

TEST(TypedBuild, BadValuesAreFileLineErrors) {
  TempDir dir;
  const std::string input = dir.Sub("in.jsonl");
  WriteFile(input,
            "{\"id\":\"a\",\"year\":2004,\"lang\":[\"en\",\"fr\"]}\n"
            "{\"id\":\"b\",\"year\":\"MMIV\"}\n"
            "{\"id\":\"c\",\"year\":2004.5}\n"
            "{\"id\":\"d\",\"lang\":3}\n"
            "{\"id\":\"e\",\"lang\":[\"en\",\"\"]}\n"
            "{\"id\":\"f\",\"published\":\"2004-13-01T00:00:00Z\"}\n"
            "{\"id\":\"g\",\"price\":[1.5,{}]}\n"
            "{\"id\":\"h\",\"price\":\"1e400\"}\n"
            "{\"id\":\"i\",\"tags\":[\"x\"]}\n"
            "{\"id\":\"j\",\"price\":-0.25,\"published\":\"2004-01-01T00:00:00Z\"}\n");
  BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub("index");
  options.schema = *Schema::ParseJson(kSchema);
  EXPECT_THAT(BuildIndex(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                            absl::StrCat(input, ":2: member \"year\" (int64): ")));
  std::vector<std::string> warnings;
  options.skip_invalid = true;
  options.warn = [&](const std::string& line) { warnings.push_back(line); };
  absl::StatusOr<BuildSummary> summary = BuildIndex(options);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->docs, 2u);
  EXPECT_EQ(summary->skipped, 8u);
  ASSERT_EQ(warnings.size(), 8u);
  const char* want[] = {
      ":2: member \"year\" (int64)",
      ":3: member \"year\" (int64)",
      ":4: member \"lang\" (keyword): must be a string or an array of strings",
      ":5: member \"lang\" (keyword): a keyword value is empty",
      ":6: member \"published\" (date)",
      ":7: member \"price\" (double): must be a number or a string, got an object",
      ":8: member \"price\" (double)",
      ":9: member \"tags\" must be a string or null, got an array"};
  for (size_t i = 0; i < warnings.size(); ++i) {
    EXPECT_NE(warnings[i].find(absl::StrCat(input, want[i])), std::string::npos) << warnings[i];
  }
}

TEST(TypedBuild, ParserKeepsTypedMembersApart) {
  const Schema schema = *Schema::ParseJson(kSchema);
  DocumentParser parser;
  parser.set_schema(&schema);
  InputDocument doc;
  std::string json =
      R"({"id":"x","lang":["b","a","b"],"year":null,"price":3,"body":"text","published":"2004-01-01T00:00:00Z"})";
  SCRY_ASSERT_OK(parser.Parse(&json, &doc));
  ASSERT_EQ(doc.fields.size(), 1u);
  EXPECT_EQ(doc.fields[0].first, "body");
  ASSERT_EQ(doc.typed.size(), 3u);
  EXPECT_EQ(doc.typed[0].name, "lang");
  EXPECT_EQ(doc.typed[0].keywords, (std::vector<std::string>{"b", "a", "b"}));
  EXPECT_EQ(doc.typed[1].keys, std::vector<int64_t>{storage::DoubleSortKey(3.0)});
  SCRY_EXPECT_OK(ValidateDocument(doc, 1 << 20));
  doc.typed.push_back(doc.typed[0]);
  EXPECT_THAT(ValidateDocument(doc, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, "appears twice"));
  // Without a schema every member is text, as before.
  parser.set_schema(nullptr);
  json = R"({"id":"x","year":2004})";
  EXPECT_THAT(parser.Parse(&json, &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "must be a string or null"));
}

// A live segment of documents carries the columns and keyword lists a bulk
// build of the same documents has.
TEST(TypedBuild, SegmentEqualsBulkBuild) {
  const uint32_t seed = scry::testing::TestSeed(2111);
  SCOPED_TRACE(scry::testing::SeedDescription(seed));
  TempDir dir;
  std::map<std::string, Expected> expected;
  const std::string text = RandomInput(seed, 300, &expected);
  const std::string input = dir.Sub("in.jsonl");
  WriteFile(input, text);
  BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub("index");
  options.schema = *Schema::ParseJson(kSchema);
  SCRY_ASSERT_OK(BuildIndex(options));
  auto gen = storage::LiveGeneration(dir.Sub("index"));
  ASSERT_THAT(gen, IsOk());
  auto base = storage::ShardReader::Open(*gen + "/" + storage::ShardDirName(0),
                                         storage::ShardReader::Options());
  ASSERT_THAT(base, IsOk());
  // The same documents parsed as live writes are, into one segment.
  DocumentParser parser;
  parser.set_schema(&options.schema);
  std::vector<InputDocument> docs;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::string json(line.data(), line.size());
    SCRY_ASSERT_OK(parser.Parse(&json, &docs.emplace_back()));
  }
  SegmentOptions segment;
  segment.base = (*base)->meta();
  const std::string seg_dir = dir.Sub("seg");
  SCRY_ASSERT_OK(BuildSegment(seg_dir + "/gen-000001/shard-000", docs, segment));
  // Read the segment as an index of one shard.
  storage::IndexManifest manifest;
  manifest.format_version = storage::kFormatVersion;
  manifest.num_shards = 1;
  manifest.language = "english";
  manifest.schema = options.schema.ToJson();
  WriteFile(seg_dir + "/CURRENT", "gen-000001\n");
  WriteFile(seg_dir + "/gen-000001/MANIFEST",
            absl::StrCat("format_version=", storage::kFormatVersion,
                         "\nshards=1\nlanguage=english\nschema=", manifest.schema, "\n"));
  ExpectTypedData(seg_dir, expected);
}

// A format 7 index (no typed fields) still opens and answers.
TEST(TypedBuild, Format7IndexStillOpens) {
  TempDir dir;
  const std::string input = dir.Sub("in.jsonl");
  WriteFile(input, "{\"id\":\"a\",\"body\":\"old words\"}\n");
  BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub("index");
  SCRY_ASSERT_OK(BuildIndex(options));
  scry::testing::DowngradeToFormat(dir.Sub("index"), 7);
  const absl::StatusOr<uint64_t> hits = scry::testing::TotalHits(dir.Sub("index"), "words");
  ASSERT_THAT(hits, IsOk());
  EXPECT_EQ(*hits, 1u);
}

}  // namespace
}  // namespace scry::indexer
