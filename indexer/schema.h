// File: indexer/schema.h
//
// The schema of `scry index --schema FILE` (issue 21): which document
// members are typed fields (storage/doc_values.h: keyword, int64, double,
// date) rather than text. The file is a JSON object
//
//   {"fields": {"lang": "keyword", "year": "int64", "price": "double",
//               "published": "date"}}
//
// Members it does not name stay text, so an empty schema ({"fields": {}})
// is today's behaviour. ToJson gives the canonical form (names in byte
// order, no spaces) that a manifest and each shard's meta record, and that
// ParseJson reads back.
//
// The builder (BuildOptions::schema), the shards (meta "typed", doc values)
// and live writes use it; the query parser does not yet.
#ifndef SCRY_INDEXER_SCHEMA_H_
#define SCRY_INDEXER_SCHEMA_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/doc_values.h"

namespace scry::indexer {

class Schema {
 public:
  // INVALID_ARGUMENT with the reason: malformed JSON, no "fields" object,
  // an unknown type, "text" or "id" given a type other than text.
  static absl::StatusOr<Schema> ParseJson(std::string_view json);
  // ParseJson of a file's contents; its errors begin with "PATH: ".
  static absl::StatusOr<Schema> ReadFile(const std::string& path);
  // The schema the MANIFEST of the index at `index_dir` records (the
  // generation served now; empty if built without one).
  static absl::StatusOr<Schema> OfIndex(const std::string& index_dir);

  // The type of member `name`: text unless the schema names it.
  [[nodiscard]] storage::FieldType Type(std::string_view name) const;
  // The typed (non-text) fields by name.
  [[nodiscard]] const std::map<std::string, storage::FieldType, std::less<>>& typed() const {
    return typed_;
  }
  [[nodiscard]] std::string ToJson() const;

  friend bool operator==(const Schema&, const Schema&) = default;

 private:
  std::map<std::string, storage::FieldType, std::less<>> typed_;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_SCHEMA_H_
