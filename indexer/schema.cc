// File: indexer/schema.cc
#include "indexer/schema.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "simdjson.h"
#include "storage/index_dir.h"
#include "storage/status.h"

namespace scry::indexer {

absl::StatusOr<Schema> Schema::ParseJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (simdjson::error_code err = parser.parse(json.data(), json.size()).get(root);
      err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema: malformed JSON: ", simdjson::error_message(err)));
  }
  simdjson::dom::object fields;
  if (root["fields"].get(fields) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("schema: expected {\"fields\": {\"NAME\": \"TYPE\", ...}}");
  }
  Schema schema;
  for (simdjson::dom::key_value_pair kv : fields) {
    const std::string name(kv.key);
    std::string_view type_name;
    if (kv.value.get(type_name) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("schema: the type of \"", name, "\" must be a string"));
    }
    absl::StatusOr<storage::FieldType> type = storage::ParseFieldType(type_name);
    if (!type.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("schema: field \"", name, "\": ", type.status().message()));
    }
    if (*type == storage::FieldType::kText) continue;
    // The id names the document and the title is what a hit shows: both
    // stay text.
    if (name == "id" || name == "title") {
      return absl::InvalidArgumentError(absl::StrCat("schema: \"", name, "\" is always text"));
    }
    if (!schema.typed_.emplace(name, *type).second) {
      return absl::InvalidArgumentError(absl::StrCat("schema: field \"", name, "\" appears twice"));
    }
  }
  return schema;
}

absl::StatusOr<Schema> Schema::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the schema"));
  std::stringstream contents;
  contents << in.rdbuf();
  absl::StatusOr<Schema> schema = ParseJson(contents.str());
  if (!schema.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", schema.status().message()));
  }
  return schema;
}

storage::FieldType Schema::Type(std::string_view name) const {
  const auto it = typed_.find(name);
  return it == typed_.end() ? storage::FieldType::kText : it->second;
}

std::string Schema::ToJson() const {
  // Names are JSON-escaped the way the builder's parser accepts them: only
  // '"', '\\' and control characters need it.
  const auto quote = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
      } else {
        out += c;
      }
    }
    return out + "\"";
  };
  std::string out = "{\"fields\":{";
  bool first = true;
  for (const auto& [name, type] : typed_) {
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, quote(name), ":", quote(storage::FieldTypeName(type)));
  }
  return out + "}}";
}

absl::StatusOr<Schema> Schema::OfIndex(const std::string& index_dir) {
  SCRY_ASSIGN_OR_RETURN(const std::string generation, storage::LiveGeneration(index_dir));
  SCRY_ASSIGN_OR_RETURN(const storage::IndexManifest manifest, storage::ReadManifest(generation));
  if (manifest.schema.empty()) return Schema();
  absl::StatusOr<Schema> schema = ParseJson(manifest.schema);
  if (!schema.ok()) {
    return absl::DataLossError(absl::StrCat("bad schema in the MANIFEST in ", generation, ": ",
                                            schema.status().message()));
  }
  return schema;
}

}  // namespace scry::indexer
