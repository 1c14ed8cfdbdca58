// File: indexer/jsonl_reader.h
//
// Reads documents from a JSON Lines file (plain, gzip or zstd: see
// indexer/input.h): one JSON object per line with
//   "id"     string, required, non-empty, at most kMaxIdBytes bytes;
//   "title"  string or null (optional);
//   "body"   string or null (optional);
//   any other member: string or null, indexed as text too;
//   a member the schema (indexer/schema.h, if one is given) types: null, or
//     keyword  a string or an array of strings (exact values, non-empty,
//              no NUL character);
//     int64, double, date  a value or an array of values, each a JSON
//              number or a string, read by storage::ParseSortKey (a date is
//              an RFC 3339 string).
// Blank lines are skipped. Each line is parsed and validated on its own (with
// simdjson, which also rejects invalid UTF-8), so one bad line never hides
// the next. Uniqueness of ids across lines is the caller's business.
//
// Thread safety: none; one reader per thread.
#ifndef SCRY_INDEXER_JSONL_READER_H_
#define SCRY_INDEXER_JSONL_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "indexer/schema.h"

namespace scry::indexer {

class ByteSource;

inline constexpr size_t kMaxIdBytes = 1024;

struct InputDocument {
  std::string id;
  // Text fields in input order; "title" and "body" when present. Null
  // members are left out; "id" is not among them.
  std::vector<std::pair<std::string, std::string>> fields;
  // The members the schema types, in input order (none without a schema).
  struct Typed {
    std::string name;
    std::vector<std::string> keywords;  // a keyword field's values, as given
    std::vector<int64_t> keys;          // a numeric field's sort keys, as given
    friend bool operator==(const Typed&, const Typed&) = default;
  };
  std::vector<Typed> typed;
  uint64_t line = 0;  // 1-based line number in the file
};

// The rules a JSON line's document follows, for documents parsed elsewhere
// (a live index's writes): the id 1 to kMaxIdBytes bytes; id, member names
// and values valid UTF-8; no member named "id", none twice; id and values
// at most `max_document_bytes` in all. InvalidArgument with the reason
// JsonlReader gives for the same fault (without "PATH:LINE: ").
absl::Status ValidateDocument(const InputDocument& doc, size_t max_document_bytes);

// Whether `value` may be a keyword value: non-empty, no NUL character (a
// posting term's rules).
absl::Status CheckKeyword(std::string_view value);

// Parses and validates one document, a JSON object by the rules above (the
// bulk builder's lines and the live writes of server/live_writer.h alike).
// Errors are InvalidArgument with the reason alone ("missing member \"id\"",
// "invalid UTF-8", ...); JsonlReader puts "PATH:LINE: " before it.
//
// Thread safety: none; one parser per thread (it keeps simdjson's buffers).
class DocumentParser {
 public:
  DocumentParser();
  ~DocumentParser();
  DocumentParser(const DocumentParser&) = delete;
  DocumentParser& operator=(const DocumentParser&) = delete;

  // Parses *json into *doc (doc->line untouched). *json's capacity may grow
  // (simdjson reads a little past the end), its text does not change.
  absl::Status Parse(std::string* json, InputDocument* doc);
  // Only the id of the document *json (what a broker routes a write by):
  // Parse's errors for a malformed object or a bad or missing id; the other
  // members are not checked.
  absl::StatusOr<std::string> ParseId(std::string* json);

  // The members that are typed fields (nullptr or an empty schema: none).
  // REQUIRES: *schema outlives the parser's use of it.
  void set_schema(const Schema* schema) { schema_ = schema; }

 private:
  const Schema* schema_ = nullptr;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class JsonlReader {
 public:
  // Opens `path` ("-" is standard input). NotFound/PermissionDenied/Internal
  // if it cannot be opened. Lines longer than max_line_bytes are rejected as
  // invalid (and skipped over without holding them in memory).
  static absl::StatusOr<std::unique_ptr<JsonlReader>> Open(const std::string& path,
                                                           size_t max_line_bytes);
  // Reads from `source`, reporting errors against `path`.
  static std::unique_ptr<JsonlReader> FromSource(std::string path,
                                                 std::unique_ptr<ByteSource> source,
                                                 size_t max_line_bytes);
  ~JsonlReader();
  JsonlReader(const JsonlReader&) = delete;
  JsonlReader& operator=(const JsonlReader&) = delete;

  // Reads the next document into *doc. Returns:
  //   OK               *doc holds it;
  //   OutOfRange       end of input;
  //   InvalidArgument  the line is bad; the message is "PATH:LINE: reason".
  //                    The reader stays usable: call Next() for the next line;
  //   other codes      an I/O error; stop.
  absl::Status Next(InputDocument* doc);

  // As DocumentParser::set_schema.
  void set_schema(const Schema* schema) { parser_.set_schema(schema); }

  const std::string& path() const { return path_; }
  uint64_t line() const { return line_number_; }
  uint64_t bytes_read() const { return bytes_read_; }  // uncompressed
  uint64_t raw_bytes() const;                          // from the file itself

 private:
  JsonlReader(std::string path, std::unique_ptr<ByteSource> source, size_t max_line_bytes);
  // Reads one line into line_ (without '\n'); false at end of input.
  // *too_long is set if the line exceeded max_line_bytes_ (line_ is then empty).
  bool ReadLine(bool* too_long);

  std::string path_;
  std::unique_ptr<ByteSource> source_;
  size_t max_line_bytes_;
  DocumentParser parser_;
  std::string line_;
  std::vector<char> buf_;
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
  bool eof_ = false;
  absl::Status io_error_;
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_JSONL_READER_H_
