#include "storage/stored_document.h"

#include "storage/coding.h"

namespace scry::storage {

std::string_view StoredDocument::Field(std::string_view name) const {
  for (const auto& [field, value] : fields) {
    if (field == name) return value;
  }
  return {};
}

std::string StoredDocument::Encode() const {
  std::string out;
  PutLengthPrefixed(&out, id);
  PutVarint32(&out, static_cast<uint32_t>(fields.size()));
  for (const auto& [name, value] : fields) {
    PutLengthPrefixed(&out, name);
    PutLengthPrefixed(&out, value);
  }
  return out;
}

absl::StatusOr<StoredDocument> StoredDocument::Decode(std::string_view data) {
  StoredDocument doc;
  std::string_view id;
  uint32_t n = 0;
  if (!GetLengthPrefixed(&data, &id) || !GetVarint32(&data, &n) || n > data.size()) {
    return absl::DataLossError("corrupt stored document header");
  }
  doc.id = std::string(id);
  doc.fields.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view name, value;
    if (!GetLengthPrefixed(&data, &name) || !GetLengthPrefixed(&data, &value)) {
      return absl::DataLossError("corrupt stored document field");
    }
    doc.fields.emplace_back(std::string(name), std::string(value));
  }
  if (!data.empty()) return absl::DataLossError("trailing bytes in stored document");
  return doc;
}

}  // namespace scry::storage
