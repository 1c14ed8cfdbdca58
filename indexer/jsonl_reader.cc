// File: indexer/jsonl_reader.cc
#include "indexer/jsonl_reader.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "indexer/input.h"
#include "simdjson.h"
#include "storage/status.h"

namespace scry::indexer {

struct DocumentParser::Impl {
  simdjson::dom::parser dom;
};

namespace {

const char* TypeName(simdjson::dom::element_type t) {
  switch (t) {
    case simdjson::dom::element_type::ARRAY:
      return "an array";
    case simdjson::dom::element_type::OBJECT:
      return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return "a number";
    case simdjson::dom::element_type::STRING:
      return "a string";
    case simdjson::dom::element_type::BOOL:
      return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown type";
}

absl::Status CheckId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("member \"id\" is empty");
  if (id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("member \"id\" is longer than ", kMaxIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

// Whether a member `name` may follow the text members `before` it and the
// typed members `typed_before`.
absl::Status CheckNewMember(std::span<const std::pair<std::string, std::string>> before,
                            std::span<const InputDocument::Typed> typed_before,
                            std::string_view name) {
  const bool twice =
      std::any_of(before.begin(), before.end(), [&](const auto& f) { return f.first == name; }) ||
      std::any_of(typed_before.begin(), typed_before.end(),
                  [&](const auto& t) { return t.name == name; });
  if (twice) {
    return absl::InvalidArgumentError(absl::StrCat("member \"", AsAbsl(name), "\" appears twice"));
  }
  return absl::OkStatus();
}

// The text of a scalar element of a numeric member, for ParseSortKey: a
// string as it is, a number in a form strtod reads back to the same value.
absl::StatusOr<std::string> ScalarText(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(value.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64:
      return absl::StrCat(value.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64:
      return absl::StrCat(value.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE:
      return absl::StrFormat("%.17g", value.get_double().value_unsafe());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("must be a number or a string, got ", TypeName(value.type())));
  }
}

// One value of a typed member into *out.
absl::Status AddTypedValue(storage::FieldType type, simdjson::dom::element value,
                           InputDocument::Typed* out) {
  if (type == storage::FieldType::kKeyword) {
    std::string_view text;
    if (value.get(text) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("must be a string or an array of strings, got ", TypeName(value.type())));
    }
    SCRY_RETURN_IF_ERROR(CheckKeyword(text));
    out->keywords.emplace_back(text);
    return absl::OkStatus();
  }
  SCRY_ASSIGN_OR_RETURN(const std::string text, ScalarText(value));
  SCRY_ASSIGN_OR_RETURN(const int64_t key, storage::ParseSortKey(type, text));
  out->keys.push_back(key);
  return absl::OkStatus();
}

// A typed member: a value or an array of values.
absl::StatusOr<InputDocument::Typed> ParseTyped(std::string_view name, storage::FieldType type,
                                                simdjson::dom::element value) {
  InputDocument::Typed typed;
  typed.name.assign(name);
  absl::Status s;
  simdjson::dom::array array;
  if (value.get(array) == simdjson::SUCCESS) {
    for (simdjson::dom::element item : array) {
      s = AddTypedValue(type, item, &typed);
      if (!s.ok()) break;
    }
  } else {
    s = AddTypedValue(type, value, &typed);
  }
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("member \"", AsAbsl(name), "\" (",
                                                   AsAbsl(storage::FieldTypeName(type)),
                                                   "): ", s.message()));
  }
  return typed;
}

}  // namespace

absl::Status CheckKeyword(std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError("a keyword value is empty");
  if (value.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("a keyword value holds a NUL character");
  }
  return absl::OkStatus();
}

absl::Status ValidateDocument(const InputDocument& doc, size_t max_document_bytes) {
  auto utf8 = [](std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); };
  if (!utf8(doc.id)) return absl::InvalidArgumentError("invalid UTF-8");
  SCRY_RETURN_IF_ERROR(CheckId(doc.id));
  size_t bytes = doc.id.size();
  for (size_t i = 0; i < doc.fields.size(); ++i) {
    const auto& [name, value] = doc.fields[i];
    if (!utf8(name) || !utf8(value)) return absl::InvalidArgumentError("invalid UTF-8");
    if (name == "id") return absl::InvalidArgumentError("member \"id\" appears twice");
    SCRY_RETURN_IF_ERROR(CheckNewMember({doc.fields.data(), i}, {}, name));
    bytes += value.size();
  }
  for (size_t i = 0; i < doc.typed.size(); ++i) {
    const InputDocument::Typed& typed = doc.typed[i];
    if (!utf8(typed.name)) return absl::InvalidArgumentError("invalid UTF-8");
    if (typed.name == "id") return absl::InvalidArgumentError("member \"id\" appears twice");
    SCRY_RETURN_IF_ERROR(CheckNewMember(doc.fields, {doc.typed.data(), i}, typed.name));
    for (const std::string& value : typed.keywords) {
      if (!utf8(value)) return absl::InvalidArgumentError("invalid UTF-8");
      SCRY_RETURN_IF_ERROR(CheckKeyword(value));
      bytes += value.size();
    }
    bytes += 8 * typed.keys.size();
  }
  if (bytes > max_document_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("document longer than ", max_document_bytes, " bytes"));
  }
  return absl::OkStatus();
}

JsonlReader::JsonlReader(std::string path, std::unique_ptr<ByteSource> source,
                         size_t max_line_bytes)
    : path_(std::move(path)),
      source_(std::move(source)),
      max_line_bytes_(max_line_bytes),
      buf_(1 << 20) {}

JsonlReader::~JsonlReader() = default;

absl::StatusOr<std::unique_ptr<JsonlReader>> JsonlReader::Open(const std::string& path,
                                                               size_t max_line_bytes) {
  absl::StatusOr<std::unique_ptr<ByteSource>> source = OpenByteSource(path);
  if (!source.ok()) return source.status();
  return FromSource(path, std::move(*source), max_line_bytes);
}

std::unique_ptr<JsonlReader> JsonlReader::FromSource(std::string path,
                                                     std::unique_ptr<ByteSource> source,
                                                     size_t max_line_bytes) {
  return std::unique_ptr<JsonlReader>(
      new JsonlReader(std::move(path), std::move(source), max_line_bytes));
}

uint64_t JsonlReader::raw_bytes() const { return source_->raw_bytes(); }

bool JsonlReader::ReadLine(bool* too_long) {
  line_.clear();
  *too_long = false;
  bool any = false;
  for (;;) {
    if (buf_pos_ == buf_len_) {
      if (eof_) return any;
      absl::StatusOr<size_t> got = source_->Read(buf_.data(), buf_.size());
      buf_pos_ = 0;
      buf_len_ = got.ok() ? *got : 0;
      bytes_read_ += buf_len_;
      if (buf_len_ == 0) {
        eof_ = true;
        io_error_ = got.status();
        return any && io_error_.ok();  // a line cut by an error is not a line
      }
    }
    any = true;
    const char* start = buf_.data() + buf_pos_;
    const size_t avail = buf_len_ - buf_pos_;
    const void* nl = std::memchr(start, '\n', avail);
    const size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : avail;
    if (!*too_long) {
      if (line_.size() + take > max_line_bytes_) {
        *too_long = true;
        line_.clear();
        line_.shrink_to_fit();
      } else {
        line_.append(start, take);
      }
    }
    buf_pos_ += take;
    if (nl != nullptr) {
      ++buf_pos_;  // the '\n'
      return true;
    }
  }
}

absl::Status JsonlReader::Next(InputDocument* doc) {
  for (;;) {
    bool too_long = false;
    if (!ReadLine(&too_long)) {
      if (!io_error_.ok()) return io_error_;
      return absl::OutOfRangeError("end of input");
    }
    ++line_number_;
    if (too_long) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ":", line_number_, ": line longer than ", max_line_bytes_, " bytes"));
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
    absl::Status s = parser_.Parse(&line_, doc);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ":", line_number_, ": ", s.message()));
    }
    doc->line = line_number_;
    return absl::OkStatus();
  }
}

DocumentParser::DocumentParser() : impl_(std::make_unique<Impl>()) {}

DocumentParser::~DocumentParser() = default;

namespace {

// *json parsed by `dom` as one JSON object into *object.
absl::Status ParseObject(simdjson::dom::parser& dom, std::string* json,
                         simdjson::dom::object* object) {
  json->reserve(json->size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element root;
  simdjson::error_code err =
      dom.parse(json->data(), json->size(), /*realloc_if_needed=*/false).get(root);
  if (err == simdjson::UTF8_ERROR) return absl::InvalidArgumentError("invalid UTF-8");
  if (err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", simdjson::error_message(err)));
  }
  if (root.get(*object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", TypeName(root.type())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DocumentParser::ParseId(std::string* json) {
  simdjson::dom::object object;
  SCRY_RETURN_IF_ERROR(ParseObject(impl_->dom, json, &object));
  for (simdjson::dom::key_value_pair kv : object) {
    if (kv.key != "id") continue;
    std::string_view id;
    if (kv.value.get(id) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("member \"id\" must be a string, got ", TypeName(kv.value.type())));
    }
    SCRY_RETURN_IF_ERROR(CheckId(id));
    return std::string(id);
  }
  return absl::InvalidArgumentError("missing member \"id\"");
}

absl::Status DocumentParser::Parse(std::string* json, InputDocument* doc) {
  doc->id.clear();
  doc->fields.clear();
  doc->typed.clear();
  simdjson::dom::object object;
  SCRY_RETURN_IF_ERROR(ParseObject(impl_->dom, json, &object));
  bool have_id = false;
  for (simdjson::dom::key_value_pair kv : object) {
    const std::string_view key = kv.key;
    const simdjson::dom::element_type type = kv.value.type();
    const std::string key_str(key);
    if (key == "id") {
      if (have_id) return absl::InvalidArgumentError("member \"id\" appears twice");
      std::string_view id;
      if (kv.value.get(id) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(
            absl::StrCat("member \"id\" must be a string, got ", TypeName(type)));
      }
      SCRY_RETURN_IF_ERROR(CheckId(id));
      doc->id.assign(id);
      have_id = true;
      continue;
    }
    if (type == simdjson::dom::element_type::NULL_VALUE) continue;
    const storage::FieldType typed =
        schema_ == nullptr ? storage::FieldType::kText : schema_->Type(key);
    if (typed != storage::FieldType::kText) {
      SCRY_RETURN_IF_ERROR(CheckNewMember(doc->fields, doc->typed, key));
      SCRY_ASSIGN_OR_RETURN(InputDocument::Typed member, ParseTyped(key, typed, kv.value));
      doc->typed.push_back(std::move(member));
      continue;
    }
    std::string_view value;
    if (kv.value.get(value) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("member \"", key_str, "\" must be a string or null, got ", TypeName(type)));
    }
    SCRY_RETURN_IF_ERROR(CheckNewMember(doc->fields, doc->typed, key));
    doc->fields.emplace_back(key_str, std::string(value));
  }
  if (!have_id) return absl::InvalidArgumentError("missing member \"id\"");
  return absl::OkStatus();
}

}  // namespace scry::indexer
