// File: storage/stored_document.cc
//
// Encoding and decoding of stored documents; the grammar is in
// stored_document.h:
//
//   stored_doc  := id:lp n_fields:varint32 (name:lp value:lp){n_fields} [checkpoints]
//   checkpoints := 0x01 n_tables:varint32 table{n_tables}      (n_tables >= 1)
//   table       := field_index:varint32 n:varint32 offset_delta:varint32{n}
//                  (field_index increasing and < n_fields, n >= 1, offsets
//                   <= the field value's size)
#include "storage/stored_document.h"

#include "storage/coding.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

constexpr char kCheckpointsTag = 0x01;

}  // namespace

std::string_view StoredDocument::Field(std::string_view name) const {
  for (const auto& [field, value] : fields) {
    if (field == name) return value;
  }
  return {};
}

const std::vector<uint32_t>& StoredDocument::Checkpoints(size_t field_index) const {
  static const std::vector<uint32_t> kNone;
  return field_index < checkpoints.size() ? checkpoints[field_index] : kNone;
}

std::string StoredDocument::Encode() const {
  std::string out;
  PutLengthPrefixed(&out, id);
  PutVarint32(&out, static_cast<uint32_t>(fields.size()));
  for (const auto& [name, value] : fields) {
    PutLengthPrefixed(&out, name);
    PutLengthPrefixed(&out, value);
  }
  uint32_t tables = 0;
  for (const std::vector<uint32_t>& table : checkpoints) tables += table.empty() ? 0 : 1;
  if (tables == 0) return out;  // the format from before checkpoints
  out.push_back(kCheckpointsTag);
  PutVarint32(&out, tables);
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    const std::vector<uint32_t>& table = checkpoints[i];
    if (table.empty()) continue;
    PutVarint32(&out, static_cast<uint32_t>(i));
    PutVarint32(&out, static_cast<uint32_t>(table.size()));
    uint32_t previous = 0;
    for (uint32_t offset : table) {
      PutVarint32(&out, offset - previous);
      previous = offset;
    }
  }
  return out;
}

absl::StatusOr<StoredDocument> StoredDocument::Decode(std::string_view data) {
  SCRY_ASSIGN_OR_RETURN(const StoredDocumentView view, StoredDocumentView::Parse(data));
  return view.ToDocument();
}

absl::StatusOr<StoredDocumentView> StoredDocumentView::Parse(std::string_view data) {
  StoredDocumentView doc;
  uint32_t n = 0;
  if (!GetLengthPrefixed(&data, &doc.id_) || !GetVarint32(&data, &n) || n > data.size()) {
    return absl::DataLossError("corrupt stored document header");
  }
  doc.fields_.resize(n);
  for (FieldView& field : doc.fields_) {
    if (!GetLengthPrefixed(&data, &field.name) || !GetLengthPrefixed(&data, &field.value)) {
      return absl::DataLossError("corrupt stored document field");
    }
  }
  if (data.empty()) return doc;
  if (data.front() != kCheckpointsTag) {
    return absl::DataLossError("trailing bytes in stored document");
  }
  data.remove_prefix(1);
  uint32_t tables = 0;
  if (!GetVarint32(&data, &tables) || tables == 0 || tables > doc.fields_.size()) {
    return absl::DataLossError("corrupt checkpoint trailer in stored document");
  }
  doc.has_checkpoints_ = true;
  int64_t previous_field = -1;
  for (uint32_t t = 0; t < tables; ++t) {
    uint32_t field = 0, count = 0;
    if (!GetVarint32(&data, &field) || field <= previous_field || field >= doc.fields_.size()) {
      return absl::DataLossError("corrupt checkpoint table in stored document");
    }
    const std::string_view table = data;
    // Each offset takes at least one byte, which bounds `count`.
    if (!GetVarint32(&data, &count) || count == 0 || count > data.size()) {
      return absl::DataLossError("corrupt checkpoint table in stored document");
    }
    previous_field = field;
    const uint64_t limit = doc.fields_[field].value.size();
    uint64_t offset = 0;
    for (uint32_t k = 0; k < count; ++k) {
      uint32_t delta = 0;
      if (!GetVarint32(&data, &delta) || (offset += delta) > limit) {
        return absl::DataLossError("corrupt checkpoint offset in stored document");
      }
    }
    doc.fields_[field].table = table.substr(0, table.size() - data.size());
  }
  if (!data.empty()) return absl::DataLossError("trailing bytes in stored document");
  return doc;
}

std::string_view StoredDocumentView::Field(std::string_view name) const {
  for (const auto& field : fields_) {
    if (field.name == name) return field.value;
  }
  return {};
}

std::vector<uint32_t> StoredDocumentView::Checkpoints(size_t field_index) const {
  std::vector<uint32_t> out;
  if (field_index >= fields_.size()) return out;
  std::string_view table = fields_[field_index].table;  // validated by Parse
  uint32_t count = 0;
  if (!GetVarint32(&table, &count)) return out;
  out.reserve(count);
  uint32_t offset = 0;
  for (uint32_t k = 0; k < count; ++k) {
    uint32_t delta = 0;
    GetVarint32(&table, &delta);
    out.push_back(offset += delta);
  }
  return out;
}

StoredDocument StoredDocumentView::ToDocument() const {
  StoredDocument doc;
  doc.id = std::string(id_);
  doc.fields.reserve(fields_.size());
  for (const auto& field : fields_) doc.fields.emplace_back(field.name, field.value);
  if (has_checkpoints_) {
    doc.checkpoints.resize(fields_.size());
    for (size_t i = 0; i < fields_.size(); ++i) doc.checkpoints[i] = Checkpoints(i);
  }
  return doc;
}

}  // namespace scry::storage
