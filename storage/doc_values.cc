// File: storage/doc_values.cc
#include "storage/doc_values.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "storage/coding.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads `n` decimal digits at text[*pos] into *out.
bool Digits(std::string_view text, size_t* pos, int n, int64_t* out) {
  if (*pos + n > text.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || absl::ascii_toupper(text[*pos]) != c) return false;
  ++*pos;
  return true;
}

absl::Status BadDate(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("not an RFC 3339 date-time (", AsAbsl(why), "): \"", AsAbsl(text), "\""));
}

absl::StatusOr<double> ParseFiniteDouble(std::string_view text) {
  // strtod reads past spaces and accepts "inf"/"nan"; the whole text must be
  // a finite number. An underflow (ERANGE with a subnormal or zero result)
  // is the nearest double, as JSON parsers read it; an overflow is infinite.
  const std::string copy(text);
  if (copy.empty() || absl::ascii_isspace(static_cast<unsigned char>(copy[0]))) {
    return absl::InvalidArgumentError(absl::StrCat("not a number: \"", AsAbsl(text), "\""));
  }
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat("not a finite number: \"", AsAbsl(text), "\""));
  }
  return v;
}

}  // namespace

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kText:
      return "text";
    case FieldType::kKeyword:
      return "keyword";
    case FieldType::kInt64:
      return "int64";
    case FieldType::kDouble:
      return "double";
    case FieldType::kDate:
      return "date";
  }
  return "unknown";
}

absl::StatusOr<FieldType> ParseFieldType(std::string_view name) {
  for (FieldType t : {FieldType::kText, FieldType::kKeyword, FieldType::kInt64, FieldType::kDouble,
                      FieldType::kDate}) {
    if (FieldTypeName(t) == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown field type \"", AsAbsl(name),
                                                 "\" (text, keyword, int64, double or date)"));
}

int64_t DoubleSortKey(double value) {
  if (value == 0) value = 0;  // -0.0 and 0.0 are one key
  const int64_t bits = std::bit_cast<int64_t>(value);
  return bits < 0 ? bits ^ std::numeric_limits<int64_t>::max() : bits;
}

double DoubleFromSortKey(int64_t key) {
  return std::bit_cast<double>(key < 0 ? key ^ std::numeric_limits<int64_t>::max() : key);
}

std::string FormatSortKey(FieldType type, int64_t key) {
  switch (type) {
    case FieldType::kDouble: {
      const double value = DoubleFromSortKey(key);
      for (int digits = 1; digits < 17; ++digits) {
        std::string text = absl::StrFormat("%.*g", digits, value);
        if (std::strtod(text.c_str(), nullptr) == value) return text;
      }
      return absl::StrFormat("%.17g", value);
    }
    case FieldType::kDate:
      return absl::FormatTime("%E4Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixMicros(key),
                              absl::UTCTimeZone());
    default:
      return absl::StrCat(key);
  }
}

absl::StatusOr<int64_t> ParseRfc3339Micros(std::string_view text) {
  size_t pos = 0;
  int64_t y, mo, d, h, mi, s;
  if (!Digits(text, &pos, 4, &y) || !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &mo) ||
      !Expect(text, &pos, '-') || !Digits(text, &pos, 2, &d)) {
    return BadDate(text, "YYYY-MM-DD expected");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo)) return BadDate(text, "no such day");
  if (!Expect(text, &pos, 'T') || !Digits(text, &pos, 2, &h) || !Expect(text, &pos, ':') ||
      !Digits(text, &pos, 2, &mi) || !Expect(text, &pos, ':') || !Digits(text, &pos, 2, &s)) {
    return BadDate(text, "THH:MM:SS expected");
  }
  if (h > 23 || mi > 59 || s > 59) return BadDate(text, "no such time");
  int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++digits > 6) return BadDate(text, "more than 6 fraction digits");
      micros = micros * 10 + (text[pos++] - '0');
    }
    if (digits == 0) return BadDate(text, "empty fraction");
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  int64_t offset_minutes = 0;
  if (Expect(text, &pos, 'Z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos++] == '-' ? -1 : 1;
    int64_t oh, om;
    if (!Digits(text, &pos, 2, &oh) || !Expect(text, &pos, ':') || !Digits(text, &pos, 2, &om) ||
        oh > 23 || om > 59) {
      return BadDate(text, "bad offset");
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return BadDate(text, "Z or an offset expected");
  }
  if (pos != text.size()) return BadDate(text, "trailing characters");
  const int64_t seconds = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  return (seconds - offset_minutes * 60) * 1000000 + micros;
}

absl::StatusOr<int64_t> ParseSortKey(FieldType type, std::string_view text) {
  switch (type) {
    case FieldType::kInt64: {
      int64_t v;
      const bool plain = !text.empty() && text[0] != '+' &&
                         !absl::ascii_isspace(static_cast<unsigned char>(text[0])) &&
                         !absl::ascii_isspace(static_cast<unsigned char>(text.back()));
      if (!plain || !absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &v)) {
        return absl::InvalidArgumentError(absl::StrCat("not an int64: \"", AsAbsl(text), "\""));
      }
      return v;
    }
    case FieldType::kDouble: {
      absl::StatusOr<double> v = ParseFiniteDouble(text);
      if (!v.ok()) return v.status();
      return DoubleSortKey(*v);
    }
    case FieldType::kDate:
      return ParseRfc3339Micros(text);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("a ", AsAbsl(FieldTypeName(type)), " field has no numeric values"));
  }
}

void DocValuesColumn::Add(std::vector<int64_t> keys) {
  std::sort(keys.begin(), keys.end());
  keys_.insert(keys_.end(), keys.begin(), keys.end());
  offsets_.push_back(static_cast<uint32_t>(keys_.size()));
  if (!keys.empty()) ++docs_with_values_;
}

std::span<const int64_t> DocValuesColumn::values(uint32_t docid) const {
  if (docid >= num_docs()) return {};
  return std::span<const int64_t>(keys_).subspan(offsets_[docid],
                                                 offsets_[docid + 1] - offsets_[docid]);
}

std::string DocValuesColumn::Encode() const {
  std::string out;
  PutVarint32(&out, num_docs());
  int64_t prev = 0;
  for (uint32_t d = 0; d < num_docs(); ++d) {
    const std::span<const int64_t> v = values(d);
    PutVarint32(&out, static_cast<uint32_t>(v.size()));
    for (int64_t key : v) {
      // Wrapping difference: any two int64 keys round-trip.
      PutVarint64(&out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(key) -
                                                    static_cast<uint64_t>(prev))));
      prev = key;
    }
  }
  return out;
}

absl::StatusOr<DocValuesColumn> DocValuesColumn::Decode(std::string_view bytes) {
  const auto corrupt = [] { return absl::DataLossError("doc values column: corrupt bytes"); };
  uint32_t num_docs;
  if (!GetVarint32(&bytes, &num_docs)) return corrupt();
  DocValuesColumn column;
  int64_t prev = 0;
  for (uint32_t d = 0; d < num_docs; ++d) {
    uint32_t count;
    if (!GetVarint32(&bytes, &count) || count > bytes.size()) return corrupt();
    std::vector<int64_t> keys(count);
    for (int64_t& key : keys) {
      uint64_t delta;
      if (!GetVarint64(&bytes, &delta)) return corrupt();
      key = static_cast<int64_t>(static_cast<uint64_t>(prev) +
                                 static_cast<uint64_t>(UnZigZag(delta)));
      prev = key;
    }
    if (!std::is_sorted(keys.begin(), keys.end())) return corrupt();
    column.Add(std::move(keys));
  }
  if (!bytes.empty()) return corrupt();
  return column;
}

absl::StatusOr<KeyRange> ParseRange(std::string_view field, FieldType type, std::string_view text) {
  if (!IsNumeric(type)) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", AsAbsl(field), "\" is ",
                                                   AsAbsl(FieldTypeName(type)),
                                                   ": only int64, double and date "
                                                   "fields take a range"));
  }
  const auto bound = [&](std::string_view s) -> absl::StatusOr<int64_t> {
    absl::StatusOr<int64_t> key = ParseSortKey(type, s);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", AsAbsl(field), "\": ", key.status().message()));
    }
    return key;
  };
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // Exclusive bounds become inclusive ones a key further in; at the end of
  // the key space the range is empty.
  const auto above = [&](int64_t k) -> int64_t { return k == kMax ? kMax : k + 1; };
  const auto below = [&](int64_t k) -> int64_t { return k == kMin ? kMin : k - 1; };
  KeyRange range;
  if (!text.empty() && (text[0] == '>' || text[0] == '<')) {
    const bool greater = text[0] == '>';
    const bool inclusive = text.size() > 1 && text[1] == '=';
    absl::StatusOr<int64_t> k = bound(text.substr(inclusive ? 2 : 1));
    if (!k.ok()) return k.status();
    if (greater) {
      range.lo = inclusive ? *k : above(*k);
      if (!inclusive && *k == kMax) range = {kMax, kMin};
    } else {
      range.hi = inclusive ? *k : below(*k);
      if (!inclusive && *k == kMin) range = {kMax, kMin};
    }
    return range;
  }
  if (!text.empty() && (text[0] == '[' || text[0] == '{')) {
    const char close = text.back();
    const size_t to = text.find(" TO ");
    if (text.size() < 2 || (close != ']' && close != '}') || to == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", AsAbsl(field),
                       "\": a range is [a TO b] (brackets inclusive, braces exclusive, "
                       "* open): \"",
                       AsAbsl(text), "\""));
    }
    const std::string_view a = text.substr(1, to - 1);
    const std::string_view b = text.substr(to + 4, text.size() - to - 5);
    if (a != "*") {
      absl::StatusOr<int64_t> k = bound(a);
      if (!k.ok()) return k.status();
      range.lo = text[0] == '[' ? *k : above(*k);
      if (text[0] == '{' && *k == kMax) return KeyRange{kMax, kMin};
    }
    if (b != "*") {
      absl::StatusOr<int64_t> k = bound(b);
      if (!k.ok()) return k.status();
      range.hi = close == ']' ? *k : below(*k);
      if (close == '}' && *k == kMin) return KeyRange{kMax, kMin};
    }
    return range;
  }
  absl::StatusOr<int64_t> k = bound(text);
  if (!k.ok()) return k.status();
  return KeyRange{*k, *k};
}

RangeCursor::RangeCursor(const DocValuesColumn* column, KeyRange range)
    : column_(column), range_(range) {
  Seek(0);
}

void RangeCursor::Seek(uint32_t target) {
  if (range_.empty()) {
    docid_ = kEndDocid;
    return;
  }
  const uint32_t n = column_->num_docs();
  for (uint32_t d = target; d < n; ++d) {
    const std::span<const int64_t> v = column_->values(d);
    // Keys are ascending: the first key >= lo decides.
    const auto it = std::lower_bound(v.begin(), v.end(), range_.lo);
    if (it != v.end() && *it <= range_.hi) {
      docid_ = d;
      return;
    }
  }
  docid_ = kEndDocid;
}

}  // namespace scry::storage
