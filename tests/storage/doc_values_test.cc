// File: tests/storage/doc_values_test.cc
//
// Typed values, ranges and the range cursor against plain references: a
// scan of every document for the cursor, std::sort on doubles for the
// double keys, a civil-time table for dates.
#include "storage/doc_values.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::StatusIs;

TEST(FieldTypeTest, NamesRoundTrip) {
  for (FieldType t : {FieldType::kText, FieldType::kKeyword, FieldType::kInt64, FieldType::kDouble,
                      FieldType::kDate}) {
    absl::StatusOr<FieldType> back = ParseFieldType(FieldTypeName(t));
    SCRY_ASSERT_OK(back);
    EXPECT_EQ(*back, t);
  }
  EXPECT_THAT(ParseFieldType("float"), StatusIs(absl::StatusCode::kInvalidArgument, "float"));
}

TEST(SortKeyTest, Int64) {
  EXPECT_EQ(*ParseSortKey(FieldType::kInt64, "-42"), -42);
  EXPECT_EQ(*ParseSortKey(FieldType::kInt64, "9223372036854775807"),
            std::numeric_limits<int64_t>::max());
  for (const char* bad : {"", "1.5", "12a", " 1", "1 ", "+1", "9223372036854775808"}) {
    EXPECT_THAT(ParseSortKey(FieldType::kInt64, bad),
                StatusIs(absl::StatusCode::kInvalidArgument, "not an int64"))
        << bad;
  }
}

TEST(SortKeyTest, DoubleKeysKeepTheOrderOfDoubles) {
  SCRY_SEEDED_RNG(rng, 2101);
  std::uniform_real_distribution<double> small(-100, 100);
  std::uniform_int_distribution<int> exponent(-300, 300);
  std::vector<double> values = {0.0,
                                -0.0,
                                1e-310,
                                -1e-310,
                                9.5,
                                -9.5,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest()};
  for (int i = 0; i < 2000; ++i) values.push_back(small(rng) * std::pow(10.0, exponent(rng)));
  for (double a : values) {
    EXPECT_EQ(DoubleFromSortKey(DoubleSortKey(a)), a == 0 ? 0.0 : a);
    for (int j = 0; j < 8; ++j) {
      const double b = values[rng() % values.size()];
      EXPECT_EQ(a < b, DoubleSortKey(a) < DoubleSortKey(b)) << a << " " << b;
      EXPECT_EQ(a == b, DoubleSortKey(a) == DoubleSortKey(b)) << a << " " << b;
    }
  }
  // Key + 1 is the next double up: what exclusive bounds rely on.
  EXPECT_EQ(DoubleFromSortKey(DoubleSortKey(1.0) + 1), std::nextafter(1.0, 2.0));
  EXPECT_EQ(DoubleFromSortKey(DoubleSortKey(-1.0) + 1), std::nextafter(-1.0, 0.0));
  EXPECT_EQ(*ParseSortKey(FieldType::kDouble, "10"), DoubleSortKey(10));
  for (const char* bad : {"", "abc", "1e999", "nan", "inf", " 1", "1x"}) {
    EXPECT_THAT(ParseSortKey(FieldType::kDouble, bad),
                StatusIs(absl::StatusCode::kInvalidArgument, "number"))
        << bad;
  }
}

TEST(SortKeyTest, Rfc3339Dates) {
  EXPECT_EQ(*ParseRfc3339Micros("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Micros("2020-01-01T00:00:00Z"), int64_t{1577836800} * 1000000);
  EXPECT_EQ(*ParseRfc3339Micros("2020-01-01t00:00:00.25z"), int64_t{1577836800} * 1000000 + 250000);
  EXPECT_EQ(*ParseRfc3339Micros("2020-01-01T02:30:00+02:30"), int64_t{1577836800} * 1000000);
  EXPECT_EQ(*ParseRfc3339Micros("2019-12-31T23:00:00-01:00"), int64_t{1577836800} * 1000000);
  EXPECT_EQ(*ParseRfc3339Micros("2024-02-29T12:00:00Z"), int64_t{1709208000} * 1000000);
  EXPECT_EQ(*ParseRfc3339Micros("1969-12-31T23:59:59.999999Z"), -1);
  for (const char* bad :
       {"2020-01-01", "2020-01-01T00:00:00", "2023-02-29T00:00:00Z", "2020-13-01T00:00:00Z",
        "2020-01-01T24:00:00Z", "2020-01-01T00:00:00.1234567Z", "2020-01-01T00:00:00.Z",
        "2020-01-01T00:00:00Zx", "2020-01-01 00:00:00Z", "20-01-01T00:00:00Z",
        "2020-01-01T00:00:00+0100"}) {
    EXPECT_THAT(ParseRfc3339Micros(bad), StatusIs(absl::StatusCode::kInvalidArgument, "RFC 3339"))
        << bad;
  }
}

TEST(RangeTest, Syntax) {
  const auto r = [](std::string_view text) { return *ParseRange("year", FieldType::kInt64, text); };
  EXPECT_EQ(r("[2001 TO 2009]"), (KeyRange{2001, 2009}));
  EXPECT_EQ(r("{2001 TO 2009]"), (KeyRange{2002, 2009}));
  EXPECT_EQ(r("[2001 TO 2009}"), (KeyRange{2001, 2008}));
  EXPECT_EQ(r("[* TO 5]"), (KeyRange{std::numeric_limits<int64_t>::min(), 5}));
  EXPECT_EQ(r("[5 TO *]"), (KeyRange{5, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(r(">10"), (KeyRange{11, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(r(">=10"), (KeyRange{10, std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(r("<10"), (KeyRange{std::numeric_limits<int64_t>::min(), 9}));
  EXPECT_EQ(r("<=10"), (KeyRange{std::numeric_limits<int64_t>::min(), 10}));
  EXPECT_EQ(r("7"), (KeyRange{7, 7}));
  EXPECT_TRUE(r(">9223372036854775807").empty());
  EXPECT_TRUE(r("<-9223372036854775808").empty());
  EXPECT_TRUE(r("{9223372036854775807 TO *]").empty());
  EXPECT_TRUE(r("[9 TO 3]").empty());

  const KeyRange price = *ParseRange("price", FieldType::kDouble, "<=9.5");
  EXPECT_TRUE(price.Contains(DoubleSortKey(9.5)));
  EXPECT_FALSE(price.Contains(DoubleSortKey(std::nextafter(9.5, 10.0))));
  const KeyRange after = *ParseRange("price", FieldType::kDouble, ">10");
  EXPECT_FALSE(after.Contains(DoubleSortKey(10)));
  EXPECT_TRUE(after.Contains(DoubleSortKey(std::nextafter(10.0, 11.0))));
  const KeyRange since = *ParseRange("published", FieldType::kDate, "[2020-01-01T00:00:00Z TO *]");
  EXPECT_EQ(since.lo, int64_t{1577836800} * 1000000);

  EXPECT_THAT(ParseRange("lang", FieldType::kKeyword, "[a TO b]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "field \"lang\" is keyword"));
  EXPECT_THAT(ParseRange("year", FieldType::kInt64, "[20x1 TO 2009]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "field \"year\": not an int64"));
  EXPECT_THAT(ParseRange("year", FieldType::kInt64, "[2001 2009]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "a range is [a TO b]"));
  EXPECT_THAT(ParseRange("year", FieldType::kInt64, "[2001 TO 2009"),
              StatusIs(absl::StatusCode::kInvalidArgument, "a range is [a TO b]"));
  EXPECT_THAT(ParseRange("published", FieldType::kDate, ">2020-01-01"),
              StatusIs(absl::StatusCode::kInvalidArgument, "RFC 3339"));
}

// Random columns (some documents without a value, some with several) and
// random ranges: the cursor, driven by a random mix of Next and NextGeq,
// stops exactly where a scan of every document finds a value in range; the
// column survives its encoding.
TEST(RangeCursorTest, EqualsAScanOfEveryDocument) {
  SCRY_SEEDED_RNG(rng, 2102);
  for (int round = 0; round < 200; ++round) {
    const uint32_t num_docs = rng() % 400;
    const int64_t spread = round % 3 == 0 ? 10 : (round % 3 == 1 ? 1000 : int64_t{1} << 62);
    std::uniform_int_distribution<int64_t> value(-spread, spread);
    DocValuesColumn column;
    std::vector<std::vector<int64_t>> plain(num_docs);
    for (uint32_t d = 0; d < num_docs; ++d) {
      const int count = rng() % 4 == 0 ? 0 : 1 + (rng() % 5 == 0 ? rng() % 3 : 0);
      for (int i = 0; i < count; ++i) plain[d].push_back(value(rng));
      column.Add(plain[d]);
    }
    absl::StatusOr<DocValuesColumn> decoded = DocValuesColumn::Decode(column.Encode());
    SCRY_ASSERT_OK(decoded);
    ASSERT_EQ(decoded->num_docs(), num_docs);
    for (uint32_t d = 0; d < num_docs; ++d) {
      std::vector<int64_t> sorted = plain[d];
      std::sort(sorted.begin(), sorted.end());
      ASSERT_THAT(std::vector<int64_t>(decoded->values(d).begin(), decoded->values(d).end()),
                  ::testing::ElementsAreArray(sorted));
    }
    for (int q = 0; q < 10; ++q) {
      KeyRange range{value(rng), value(rng)};
      if (q == 0) range = KeyRange{};
      std::vector<uint32_t> expected;
      for (uint32_t d = 0; d < num_docs; ++d) {
        if (std::any_of(plain[d].begin(), plain[d].end(),
                        [&](int64_t v) { return range.Contains(v); })) {
          expected.push_back(d);
        }
      }
      RangeCursor cursor(&*decoded, range);
      std::vector<uint32_t> got;
      uint32_t target = 0;
      while (cursor.docid() != kEndDocid) {
        got.push_back(cursor.docid());
        if (rng() % 2 == 0) {
          cursor.Next();
        } else {
          target = cursor.docid() + 1 + rng() % 20;
          cursor.NextGeq(target);
          // Skipped documents are left out of the reference too.
          expected.erase(std::remove_if(expected.begin(), expected.end(),
                                        [&](uint32_t d) { return d > got.back() && d < target; }),
                         expected.end());
        }
      }
      EXPECT_THAT(got, ::testing::ElementsAreArray(expected));
      EXPECT_EQ(cursor.df(), decoded->docs_with_values());
      SCRY_EXPECT_OK(cursor.status());
    }
  }
}

TEST(DocValuesColumnTest, CorruptBytesAreDataLoss) {
  DocValuesColumn column;
  column.Add({5, -3});
  column.Add({});
  column.Add({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()});
  const std::string bytes = column.Encode();
  SCRY_ASSERT_OK(DocValuesColumn::Decode(bytes));
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_THAT(DocValuesColumn::Decode(bytes.substr(0, cut)),
                StatusIs(absl::StatusCode::kDataLoss))
        << cut;
  }
  EXPECT_THAT(DocValuesColumn::Decode(bytes + "x"), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace scry::storage

namespace scry::storage {
namespace {

// The stored text of a typed value reads back to the same key, for random
// keys of every numeric type (fixed seeds).
TEST(SortKeyTest, FormatSortKeyRoundTrips) {
  const uint32_t seed = scry::testing::TestSeed(2120);
  SCOPED_TRACE(scry::testing::SeedDescription(seed));
  std::mt19937_64 rng(seed);
  EXPECT_EQ(FormatSortKey(FieldType::kInt64, -42), "-42");
  EXPECT_EQ(FormatSortKey(FieldType::kDouble, DoubleSortKey(10.25)), "10.25");
  EXPECT_EQ(FormatSortKey(FieldType::kDouble, DoubleSortKey(0.1)), "0.1");
  EXPECT_EQ(FormatSortKey(FieldType::kDate, *ParseRfc3339Micros("2020-02-03T10:00:00+01:00")),
            "2020-02-03T09:00:00Z");
  EXPECT_EQ(FormatSortKey(FieldType::kDate, *ParseRfc3339Micros("0999-12-31T23:59:59.000001Z")),
            "0999-12-31T23:59:59.000001Z");
  const int64_t max_date = *ParseRfc3339Micros("9999-12-31T23:59:59.999999Z");
  const int64_t min_date = *ParseRfc3339Micros("0000-01-01T00:00:00Z");
  for (int i = 0; i < 20000; ++i) {
    const int64_t key = static_cast<int64_t>(rng());
    EXPECT_EQ(*ParseSortKey(FieldType::kInt64, FormatSortKey(FieldType::kInt64, key)), key);
    const double value = std::bit_cast<double>(rng());
    if (std::isfinite(value)) {
      const int64_t k = DoubleSortKey(value);
      EXPECT_EQ(*ParseSortKey(FieldType::kDouble, FormatSortKey(FieldType::kDouble, k)), k)
          << value;
    }
    const int64_t date =
        min_date + static_cast<int64_t>(rng() % static_cast<uint64_t>(max_date - min_date));
    EXPECT_EQ(*ParseSortKey(FieldType::kDate, FormatSortKey(FieldType::kDate, date)), date);
  }
}

}  // namespace
}  // namespace scry::storage
