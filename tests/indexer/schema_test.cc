// File: tests/indexer/schema_test.cc
#include "indexer/schema.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::StatusIs;
using storage::FieldType;

TEST(SchemaTest, TypedFieldsAndTextByDefault) {
  absl::StatusOr<Schema> schema = Schema::ParseJson(
      R"({"fields": {"lang": "keyword", "year": "int64", "price": "double",
                     "published": "date", "body": "text"}})");
  SCRY_ASSERT_OK(schema);
  EXPECT_EQ(schema->Type("lang"), FieldType::kKeyword);
  EXPECT_EQ(schema->Type("year"), FieldType::kInt64);
  EXPECT_EQ(schema->Type("price"), FieldType::kDouble);
  EXPECT_EQ(schema->Type("published"), FieldType::kDate);
  EXPECT_EQ(schema->Type("body"), FieldType::kText);
  EXPECT_EQ(schema->Type("other"), FieldType::kText);
  EXPECT_EQ(schema->typed().size(), 4u);
}

TEST(SchemaTest, CanonicalJsonRoundTrips) {
  absl::StatusOr<Schema> schema =
      Schema::ParseJson(R"({"fields": {"year": "int64", "a\"b": "keyword", "t\u0001": "date"}})");
  SCRY_ASSERT_OK(schema);
  EXPECT_EQ(schema->ToJson(), R"({"fields":{"a\"b":"keyword","t\u0001":"date","year":"int64"}})");
  absl::StatusOr<Schema> back = Schema::ParseJson(schema->ToJson());
  SCRY_ASSERT_OK(back);
  EXPECT_EQ(*back, *schema);
  EXPECT_EQ(Schema::ParseJson(R"({"fields":{}})")->ToJson(), R"({"fields":{}})");
}

TEST(SchemaTest, ClearErrors) {
  EXPECT_THAT(Schema::ParseJson("{"), StatusIs(absl::StatusCode::kInvalidArgument, "malformed"));
  EXPECT_THAT(Schema::ParseJson(R"({"lang": "keyword"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, "expected {\"fields\""));
  EXPECT_THAT(Schema::ParseJson(R"({"fields": {"year": "float"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, "field \"year\": unknown field type"));
  EXPECT_THAT(Schema::ParseJson(R"({"fields": {"year": 3}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, "must be a string"));
  EXPECT_THAT(Schema::ParseJson(R"({"fields": {"id": "keyword"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"id\" is always text"));
  EXPECT_THAT(Schema::ParseJson(R"({"fields": {"y": "int64", "y": "date"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, "appears twice"));
}

TEST(SchemaTest, ReadFileNamesThePath) {
  scry::testing::TempDir dir;
  const std::string path = dir.Sub("schema.json");
  scry::testing::WriteFile(path, R"({"fields": {"year": "int64"}})");
  absl::StatusOr<Schema> schema = Schema::ReadFile(path);
  SCRY_ASSERT_OK(schema);
  EXPECT_EQ(schema->Type("year"), FieldType::kInt64);
  scry::testing::WriteFile(path, "[]");
  EXPECT_THAT(Schema::ReadFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument, path + ": schema:"));
  EXPECT_THAT(Schema::ReadFile(dir.Sub("missing.json")), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace scry::indexer
