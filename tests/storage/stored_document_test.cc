// File: tests/storage/stored_document_test.cc
//
// StoredDocument encoding: round trips with and without position
// checkpoints, values written before checkpoints existed, and DataLoss on
// every malformed trailer.
#include "storage/stored_document.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/coding.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;

StoredDocument ThreeFields() {
  StoredDocument doc;
  doc.id = "doc-1";
  doc.fields = {{"title", "A title"}, {"tags", "x"}, {"body", std::string(5000, 'b')}};
  return doc;
}

// The encoding from before checkpoints, written out by hand.
std::string OldEncoding(const StoredDocument& doc) {
  std::string out;
  PutLengthPrefixed(&out, doc.id);
  PutVarint32(&out, static_cast<uint32_t>(doc.fields.size()));
  for (const auto& [name, value] : doc.fields) {
    PutLengthPrefixed(&out, name);
    PutLengthPrefixed(&out, value);
  }
  return out;
}

void ExpectSame(const StoredDocument& a, const StoredDocument& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.fields, b.fields);
  EXPECT_EQ(a.checkpoints, b.checkpoints);
}

TEST(StoredDocument, WithoutCheckpointsTheEncodingIsUnchanged) {
  StoredDocument doc = ThreeFields();
  EXPECT_EQ(doc.Encode(), OldEncoding(doc));
  doc.checkpoints = {{}, {}, {}};  // empty tables write no trailer
  EXPECT_EQ(doc.Encode(), OldEncoding(doc));
  const StoredDocument only_id{"only-id", {}};
  EXPECT_EQ(only_id.Encode(), OldEncoding(only_id));
}

TEST(StoredDocument, OldValuesDecodeWithoutCheckpoints) {
  const StoredDocument doc = ThreeFields();
  absl::StatusOr<StoredDocument> decoded = StoredDocument::Decode(OldEncoding(doc));
  ASSERT_THAT(decoded, IsOk());
  ExpectSame(*decoded, doc);
  EXPECT_TRUE(decoded->checkpoints.empty());
  EXPECT_TRUE(decoded->Checkpoints(2).empty());
  EXPECT_TRUE(decoded->Checkpoints(99).empty());
}

TEST(StoredDocument, RoundTripWithCheckpoints) {
  StoredDocument doc = ThreeFields();
  doc.checkpoints = {{0, 2}, {}, {0, 150, 300, 300, 4999, 5000}};
  const std::string encoded = doc.Encode();
  EXPECT_EQ(encoded.substr(0, OldEncoding(doc).size()), OldEncoding(doc));
  absl::StatusOr<StoredDocument> decoded = StoredDocument::Decode(encoded);
  ASSERT_THAT(decoded, IsOk());
  ExpectSame(*decoded, doc);
  EXPECT_EQ(decoded->Checkpoints(2), doc.checkpoints[2]);
  EXPECT_EQ(decoded->Encode(), encoded);

  // A shorter table list means empty tables for the remaining fields.
  doc.checkpoints = {{}, {1}};
  decoded = StoredDocument::Decode(doc.Encode());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->checkpoints, (std::vector<std::vector<uint32_t>>{{}, {1}, {}}));
  EXPECT_EQ(decoded->Encode(), doc.Encode());
}

TEST(StoredDocument, TheTrailerHasTheDocumentedLayout) {
  StoredDocument doc = ThreeFields();
  doc.checkpoints = {{}, {}, {3, 200, 201}};
  std::string expected = OldEncoding(doc);
  expected += '\x01';      // tag
  expected += '\x01';      // one table
  expected += '\x02';      // field 2
  expected += '\x03';      // 3 offsets
  expected += '\x03';      // 3
  expected += "\xc5\x01";  // +197 = 200
  expected += '\x01';      // +1 = 201
  EXPECT_EQ(doc.Encode(), expected);
}

TEST(StoredDocument, EveryTruncationIsDataLossOrTheOldFormat) {
  StoredDocument doc = ThreeFields();
  doc.checkpoints = {{0, 2}, {}, {0, 150, 300, 5000}};
  const std::string encoded = doc.Encode();
  const size_t old_size = OldEncoding(doc).size();
  for (size_t n = 0; n < encoded.size(); ++n) {
    absl::StatusOr<StoredDocument> decoded = StoredDocument::Decode(encoded.substr(0, n));
    if (n == old_size) {
      EXPECT_THAT(decoded, IsOk());
    } else {
      EXPECT_THAT(decoded, StatusIs(absl::StatusCode::kDataLoss)) << "length " << n;
    }
  }
}

TEST(StoredDocument, MalformedTrailersAreDataLoss) {
  StoredDocument doc = ThreeFields();  // field 1's value is 1 byte long
  const std::string base = OldEncoding(doc);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unknown tag", "\x02\x01\x00\x01\x00"},
      {"no tables", std::string("\x01\x00", 2)},
      {"more tables than fields", "\x01\x04"},
      {"field out of range", "\x01\x01\x03\x01\x00"},
      {"fields not increasing", std::string("\x01\x02\x02\x01\x00\x01\x01\x00", 8)},
      {"fields repeated", std::string("\x01\x02\x00\x01\x00\x00\x01\x00", 8)},
      {"empty table", std::string("\x01\x01\x00\x00", 4)},
      {"offset past the value", "\x01\x01\x01\x01\x02"},
      {"offsets summing past the value", "\x01\x01\x01\x02\x01\x01"},
      {"count past the input", "\x01\x01\x02\x7f\x01"},
      {"varint over 32 bits", "\x01\x01\x02\x01\xff\xff\xff\xff\x7f"},
      {"trailing bytes", std::string("\x01\x01\x01\x01\x01\x00", 6)},
  };
  for (const auto& [what, trailer] : cases) {
    EXPECT_THAT(StoredDocument::Decode(base + trailer), StatusIs(absl::StatusCode::kDataLoss))
        << what;
  }
  // The same shapes, well formed, decode.
  EXPECT_THAT(StoredDocument::Decode(base + std::string("\x01\x01\x01\x01\x01", 5)), IsOk());
  EXPECT_THAT(StoredDocument::Decode(base + std::string("\x01\x02\x00\x01\x00\x02\x01\x05", 8)),
              IsOk());
}

TEST(StoredDocumentView, ViewsTheValueInPlaceAndDecodesAlike) {
  StoredDocument doc = ThreeFields();
  for (const auto& checkpoints : std::vector<std::vector<std::vector<uint32_t>>>{
           {}, {{0, 2}, {}, {0, 150, 300, 5000}}, {{}, {}, {7}}}) {
    doc.checkpoints = checkpoints;
    const std::string encoded = doc.Encode();
    absl::StatusOr<StoredDocumentView> view = StoredDocumentView::Parse(encoded);
    ASSERT_THAT(view, IsOk());
    EXPECT_EQ(view->id(), "doc-1");
    const std::string_view title = view->Field("title");
    EXPECT_EQ(title, "A title");
    // Into the value itself: nothing copied.
    EXPECT_GE(title.data(), encoded.data());
    EXPECT_LE(title.data() + title.size(), encoded.data() + encoded.size());
    EXPECT_EQ(view->Field("none"), "");
    ASSERT_EQ(view->fields().size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(view->fields()[i].name, doc.fields[i].first);
      EXPECT_EQ(view->fields()[i].value, doc.fields[i].second);
      EXPECT_EQ(view->Checkpoints(i), doc.Checkpoints(i)) << i;
    }
    absl::StatusOr<StoredDocument> decoded = StoredDocument::Decode(encoded);
    ASSERT_THAT(decoded, IsOk());
    ExpectSame(view->ToDocument(), *decoded);
  }
  const StoredDocumentView id_only = StoredDocumentView::IdOnly("x");
  EXPECT_EQ(id_only.id(), "x");
  EXPECT_TRUE(id_only.fields().empty());
  EXPECT_EQ(id_only.Field("title"), "");
}

}  // namespace
}  // namespace scry::storage
