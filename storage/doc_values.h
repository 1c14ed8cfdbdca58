// File: storage/doc_values.h
//
// Typed fields and their doc values (issue 21, first part): the types a
// schema may give a field, the parsing of a typed value from its text, a
// column of values by docid (what a filter, and later a facet or a sort,
// reads instead of the stored documents), its byte encoding, the ranges of
// the query language and a cursor over the documents whose value lies in a
// range.
//
// Every numeric value (int64, double, date) is held as a "sort key", an
// int64 whose signed order is the value's order, so one column layout and
// one range cursor serve every numeric type:
//   int64   the value itself;
//   double  its IEEE-754 bits, the magnitude bits flipped when negative
//           (-0.0 is read as 0.0; NaN and infinities are refused), so that
//           key + 1 is the next double up: an exclusive bound is an
//           inclusive one moved by one key;
//   date    microseconds since 1970-01-01T00:00:00Z of an RFC 3339
//           date-time (the offset applied; fractions past microseconds are
//           refused rather than rounded, so equal keys are equal instants).
// Keyword values are exact strings; they are posting terms, not sort keys,
// and ranges over them are refused.
//
// Example:
//
//   DocValuesColumn column;
//   column.Add({SortKey(FieldType::kInt64, "2004")});   // docid 0
//   column.Add({});                                      // docid 1: no value
//   auto range = ParseRange("year", FieldType::kInt64, "[2001 TO 2009]");
//   RangeCursor cursor(&column, *range);                // docid() == 0
#ifndef SCRY_STORAGE_DOC_VALUES_H_
#define SCRY_STORAGE_DOC_VALUES_H_

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/posting_cursor.h"

namespace scry::storage {

enum class FieldType : uint8_t { kText = 0, kKeyword = 1, kInt64 = 2, kDouble = 3, kDate = 4 };

// "text", "keyword", "int64", "double", "date".
std::string_view FieldTypeName(FieldType type);
// The inverse of FieldTypeName; INVALID_ARGUMENT naming the known types.
absl::StatusOr<FieldType> ParseFieldType(std::string_view name);
// int64, double or date.
inline bool IsNumeric(FieldType type) {
  return type == FieldType::kInt64 || type == FieldType::kDouble || type == FieldType::kDate;
}

// The sort key of `text` read as a value of the numeric `type`: an int64 in
// decimal (optional sign, no spaces, no fraction), a finite double (strtod's
// syntax, whole text), or an RFC 3339 date-time. INVALID_ARGUMENT, saying
// what was expected, otherwise. REQUIRES: IsNumeric(type).
absl::StatusOr<int64_t> ParseSortKey(FieldType type, std::string_view text);
// The sort keys of a double and of an int64 (as ParseSortKey's).
int64_t DoubleSortKey(double value);
double DoubleFromSortKey(int64_t key);
// The text of a sort key of the numeric `type`, which ParseSortKey reads
// back to the same key: an int64 in decimal, a double in the fewest
// significant digits that round-trip, a date in RFC 3339, UTC ("Z"), with
// a fraction only when it has one.
std::string FormatSortKey(FieldType type, int64_t key);
// Microseconds since the epoch of an RFC 3339 date-time
// (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), 'T' and 'Z' in either case).
absl::StatusOr<int64_t> ParseRfc3339Micros(std::string_view text);

// The values of one numeric field by docid: each document has zero or more
// sort keys, ascending (Add sorts them). Encoded as varint(num_docs), then
// per document varint(count) and, for each key, the zigzag varint of its
// difference from the previous key of the column: compact for the clustered
// values of real fields, decoded whole once per shard at open.
class DocValuesColumn {
 public:
  DocValuesColumn() : offsets_{0} {}

  // Appends the next docid's values.
  void Add(std::vector<int64_t> keys);
  [[nodiscard]] uint32_t num_docs() const { return static_cast<uint32_t>(offsets_.size() - 1); }
  // The keys of `docid`, ascending; empty past the last document.
  [[nodiscard]] std::span<const int64_t> values(uint32_t docid) const;
  // Documents with at least one value.
  [[nodiscard]] uint32_t docs_with_values() const { return docs_with_values_; }

  [[nodiscard]] std::string Encode() const;
  // DATA_LOSS on truncated or trailing bytes.
  static absl::StatusOr<DocValuesColumn> Decode(std::string_view bytes);

 private:
  std::vector<uint32_t> offsets_;  // num_docs + 1, into keys_
  std::vector<int64_t> keys_;
  uint32_t docs_with_values_ = 0;
};

// A closed interval of sort keys, [lo, hi]; empty when lo > hi.
struct KeyRange {
  int64_t lo = std::numeric_limits<int64_t>::min();
  int64_t hi = std::numeric_limits<int64_t>::max();
  [[nodiscard]] bool empty() const { return lo > hi; }
  [[nodiscard]] bool Contains(int64_t key) const { return lo <= key && key <= hi; }
  friend bool operator==(const KeyRange&, const KeyRange&) = default;
};

// The range written after "field:" in the query language, for the field
// `field` of type `type`: "[a TO b]", "{a TO b}", "[a TO b}", "{a TO b]"
// (square brackets inclusive, braces exclusive, "*" an open end), ">x",
// ">=x", "<x", "<=x", or a single value "x" (the range [x TO x]).
// INVALID_ARGUMENT naming the field for a keyword or text field, a bad bound
// or a malformed range.
absl::StatusOr<KeyRange> ParseRange(std::string_view field, FieldType type, std::string_view text);

// The documents of a column with a value in a range, in docid order: a
// SortedCursor (query/cursor.h) that scans the column forward and skips
// from NextGeq's target, so a filter intersects with the scored query like
// any posting list and contributes no score. df() is the number of
// documents with a value (an upper bound of the matches: what an
// intersection orders its leaders by). It never fails.
class RangeCursor {
 public:
  // REQUIRES: column outlives the cursor.
  RangeCursor(const DocValuesColumn* column, KeyRange range);

  [[nodiscard]] uint32_t docid() const { return docid_; }
  void Next() { Seek(docid_ + 1); }
  void NextGeq(uint32_t target) {
    if (target > docid_) Seek(target);
  }
  [[nodiscard]] uint64_t df() const { return column_->docs_with_values(); }
  [[nodiscard]] const absl::Status& status() const { return status_; }

 private:
  // Moves to the first matching docid >= target.
  void Seek(uint32_t target);

  const DocValuesColumn* column_;
  KeyRange range_;
  uint32_t docid_ = 0;
  absl::Status status_;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_DOC_VALUES_H_
