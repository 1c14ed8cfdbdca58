// File: storage/stored_document.h
//
// The stored form of a document (value in the `docs` column family):
//
//   stored_doc := id:lp n_fields:varint32 (name:lp value:lp){n_fields}
//   lp         := length:varint32 bytes
//
// Fields keep their input order; the title, if any, is the field "title".
#ifndef SCRY_STORAGE_STORED_DOCUMENT_H_
#define SCRY_STORAGE_STORED_DOCUMENT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace scry::storage {

struct StoredDocument {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of field `name`, or "" if the document has none.
  std::string_view Field(std::string_view name) const;

  std::string Encode() const;
  // DataLoss if `data` is not a well-formed stored document.
  static absl::StatusOr<StoredDocument> Decode(std::string_view data);
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_STORED_DOCUMENT_H_
