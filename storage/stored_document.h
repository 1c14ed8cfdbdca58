// File: storage/stored_document.h
//
// The stored form of a document (value in the `docs` column family):
//
//   stored_doc  := id:lp n_fields:varint32 (name:lp value:lp){n_fields} [checkpoints]
//   lp          := length:varint32 bytes
//   checkpoints := 0x01 n_tables:varint32 table{n_tables}
//   table       := field_index:varint32 n:varint32 offset_delta:varint32{n}
//
// Fields keep their input order; the title, if any, is the field "title".
//
// The optional trailer holds position checkpoints (written since snippets):
// for a stored text field, the byte offset in its value of the word at
// position 0, K, 2K, ... (K = kCheckpointInterval), positions as the
// indexer's Analyzer counts them from 0 for that value alone. The offsets are
// delta-coded (the first from 0). Tables appear in increasing field order,
// each with n >= 1, and a document without any has no trailer, so a value
// written before checkpoints existed decodes unchanged (no checkpoints), and a
// document without checkpoints encodes exactly as it did then. Storage only
// keeps the table; query/highlighter.h computes and uses it.
//
// StoredDocumentView reads a value in place: what a hit returns (its title)
// is a view into the value, found by skipping the other fields' lengths, so
// the body is never copied; Decode copies everything.
#ifndef SCRY_STORAGE_STORED_DOCUMENT_H_
#define SCRY_STORAGE_STORED_DOCUMENT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"

namespace scry::storage {

// Word positions between two checkpoints of a field.
inline constexpr uint32_t kCheckpointInterval = 32;

struct StoredDocument {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  // Parallel to `fields` (or shorter, even empty: missing tables are empty):
  // checkpoints[i][k] is the byte offset in fields[i].second of the word at
  // position k * kCheckpointInterval. Empty for a field without a table.
  // (The default initializer keeps `StoredDocument{id, {}}` warning-free.)
  std::vector<std::vector<uint32_t>> checkpoints = {};

  // The value of field `name`, or "" if the document has none.
  std::string_view Field(std::string_view name) const;

  // The checkpoints of fields[field_index]; empty if it has none (or there is
  // no such field). The reference lives as long as this document, unchanged.
  const std::vector<uint32_t>& Checkpoints(size_t field_index) const;

  // REQUIRES: checkpoints.size() <= fields.size(); every table nondecreasing
  // with offsets <= the size of its field's value (Decode rejects others).
  std::string Encode() const;
  // DataLoss if `data` is not a well-formed stored document (malformed
  // trailer included). Without a trailer, `checkpoints` is empty; with one,
  // it has one table (maybe empty) per field.
  static absl::StatusOr<StoredDocument> Decode(std::string_view data);
};

// A stored document read where it lies: views into the encoded value (which
// must outlive the view), nothing copied. Parse validates the whole value as
// StoredDocument::Decode does (the same DataLoss for the same values), but
// only walks it: lengths are skipped over, checkpoint tables are checked and
// decoded again only if asked for.
class StoredDocumentView {
 public:
  struct FieldView {
    std::string_view name;
    std::string_view value;
    // The field's checkpoint table as encoded (n:varint32 offset_delta{n}),
    // or empty if it has none.
    std::string_view table;
  };

  // A document with only an id (and no `docs` entry).
  static StoredDocumentView IdOnly(std::string_view id) {
    StoredDocumentView view;
    view.id_ = id;
    return view;
  }
  // DataLoss if `data` is not a well-formed stored document.
  static absl::StatusOr<StoredDocumentView> Parse(std::string_view data);

  std::string_view id() const { return id_; }
  const absl::InlinedVector<FieldView, 4>& fields() const { return fields_; }
  // Whether the value has a checkpoint trailer (maybe with no table for a
  // given field).
  bool has_checkpoints() const { return has_checkpoints_; }

  // The value of field `name`, or "" if the document has none.
  std::string_view Field(std::string_view name) const;
  // The checkpoints of fields()[field_index], decoded; empty if none.
  std::vector<uint32_t> Checkpoints(size_t field_index) const;
  // A copy: the same document as StoredDocument::Decode of the value.
  StoredDocument ToDocument() const;

 private:
  std::string_view id_;
  absl::InlinedVector<FieldView, 4> fields_;
  bool has_checkpoints_ = false;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_STORED_DOCUMENT_H_
