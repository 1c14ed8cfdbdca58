// File: indexer/inverter.cc
//
// Per document: analyse the members into tokens, group the tokens by term
// (a counting sort on a hash of the terms, no string sort), and emit one raw
// posting per (key, document). Per batch: group the raw postings by key (a
// second, stable counting sort), so docids stay ascending within a key.
#include "indexer/inverter.h"

#include <algorithm>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "analysis/checkpoints.h"
#include "indexer/builder.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

using analysis::Analyzer;
using analysis::PositionCheckpointsFromTokens;
using analysis::Token;

// A posting as the batch is analysed, before grouping by key.
struct RawPosting {
  uint32_t key;  // index into Inverted::keys
  uint32_t docid;
  uint32_t freq;
  uint32_t pos;  // its first position in the raw positions
};

// Appends to `positions` the positions of tokens[order[i]] for i in
// [begin, end) whose field is `field` (every one for the catch-all),
// shifted by -shift[field]; returns how many.
uint32_t AddPositions(const std::vector<Token>& tokens, const std::vector<uint8_t>& fields,
                      const std::vector<uint32_t>& order, size_t begin, size_t end, uint8_t field,
                      const std::vector<uint32_t>& shift, std::vector<uint32_t>* positions) {
  uint32_t freq = 0;
  for (size_t i = begin; i < end; ++i) {
    const uint32_t t = order[i];
    if (field != storage::kTextField && fields[t] != field) continue;
    positions->push_back(tokens[t].position - shift[field]);
    ++freq;
  }
  return freq;
}

// Groups the raw postings of a batch by key into `out` (a counting sort:
// stable, so docids stay ascending within a key).
void GroupByKey(const std::vector<RawPosting>& raw, const std::vector<uint32_t>& raw_positions,
                Inverted* out) {
  const size_t num_keys = out->keys.size();
  std::vector<uint32_t> next(num_keys + 1, 0), pos_next(num_keys + 1, 0);
  for (const RawPosting& r : raw) {
    ++next[r.key + 1];
    pos_next[r.key + 1] += r.freq;
  }
  for (size_t k = 0; k < num_keys; ++k) {
    next[k + 1] += next[k];
    pos_next[k + 1] += pos_next[k];
  }
  out->docids.resize(raw.size());
  out->freqs.resize(raw.size());
  out->positions.resize(raw_positions.size());
  for (const RawPosting& r : raw) {
    const uint32_t at = next[r.key]++;
    out->docids[at] = r.docid;
    out->freqs[at] = r.freq;
    uint32_t* to = out->positions.data() + pos_next[r.key];
    const uint32_t* from = raw_positions.data() + r.pos;
    for (uint32_t i = 0; i < r.freq; ++i) to[i] = from[i];  // mostly 1 or 2: no memmove call
    pos_next[r.key] += r.freq;
  }
  // Each start has moved to its key's end.
  out->ends.assign(next.begin(), next.end() - 1);
  out->pos_ends.assign(pos_next.begin(), pos_next.end() - 1);
}

// Appends to `tokens` (and their fields to `fields`) a pair token for each
// two of tokens[0, n) at consecutive positions of one member, one of them
// as `pairs` says: the pair term, at the first one's position.
void AddPairTokens(const PairTerms& pairs, size_t n, std::vector<Token>* tokens,
                   std::vector<uint8_t>* fields) {
  tokens->reserve(2 * n);
  for (size_t i = 0; i + 1 < n; ++i) {
    const Token& a = (*tokens)[i];
    const Token& b = (*tokens)[i + 1];
    // Members are kFieldPositionGap apart: consecutive positions are one member's.
    if (b.position != a.position + 1 || !pairs.Indexes(a.term, b.term)) {
      continue;
    }
    Token pair{storage::PairTerm(a.term, b.term), a.position, a.begin, b.end};
    tokens->push_back(std::move(pair));
    fields->push_back((*fields)[i]);
  }
}

// A typed member's stored text: its value, or a JSON array of its values.
std::string StoredText(const InputDocument::Typed& member, storage::FieldType type) {
  std::vector<std::string> values;
  if (type == storage::FieldType::kKeyword) {
    values = member.keywords;
  } else {
    for (const int64_t key : member.keys) values.push_back(storage::FormatSortKey(type, key));
  }
  if (values.size() == 1) return values[0];
  std::string json = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) json += ",";
    if (type == storage::FieldType::kInt64 || type == storage::FieldType::kDouble) {
      json += values[i];
      continue;
    }
    json += '"';
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') {
        json += '\\';
        json += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        json += absl::StrFormat("\\u%04x", c);
      } else {
        json += c;
      }
    }
    json += '"';
  }
  return json + "]";
}

}  // namespace

absl::Status AddTypedMembers(
    const std::vector<InputDocument::Typed>& typed,
    const std::vector<std::pair<std::string, storage::FieldType>>& typed_fields,
    const std::function<absl::StatusOr<uint8_t>(const std::string&)>& field_id, Document* doc) {
  doc->keywords.clear();
  doc->numeric.clear();
  doc->stored_typed.clear();
  for (const auto& field : typed_fields) {
    // Not a structured binding: clang (the fuzz build) cannot capture one in a lambda.
    const std::string& name = field.first;
    const storage::FieldType type = field.second;
    const auto member = std::find_if(typed.begin(), typed.end(),
                                     [&](const InputDocument::Typed& t) { return t.name == name; });
    if (member != typed.end()) doc->stored_typed.emplace_back(name, StoredText(*member, type));
    if (type == storage::FieldType::kKeyword) {
      if (member == typed.end() || member->keywords.empty()) continue;
      SCRY_ASSIGN_OR_RETURN(const uint8_t id, field_id(name));
      std::vector<std::string> values = member->keywords;
      std::sort(values.begin(), values.end());
      values.erase(std::unique(values.begin(), values.end()), values.end());
      doc->keywords.emplace_back(id, std::move(values));
    } else if (storage::IsNumeric(type)) {
      doc->numeric.push_back(member == typed.end() ? std::vector<int64_t>() : member->keys);
    }
  }
  return absl::OkStatus();
}

absl::Status SetDocValues(
    const std::vector<std::pair<std::string, storage::FieldType>>& typed_fields,
    std::vector<storage::DocValuesColumn> columns, storage::ShardWriter* writer) {
  size_t c = 0;
  for (const auto& [name, type] : typed_fields) {
    if (!storage::IsNumeric(type)) continue;
    if (c == columns.size()) return absl::InvalidArgumentError("too few doc-values columns");
    SCRY_RETURN_IF_ERROR(writer->SetDocValues(name, std::move(columns[c++])));
  }
  return absl::OkStatus();
}

void OrderMembers(std::vector<std::pair<std::string, std::string>>* fields) {
  std::stable_sort(fields->begin(), fields->end(), [](const auto& a, const auto& b) {
    auto rank = [](const std::string& name) {
      return name == "title" ? 0 : name == "body" ? 1 : 2;
    };
    return rank(a.first) < rank(b.first);
  });
}

void Invert(const std::vector<std::string>& stored_fields, Analyzer* analyzer, const Batch& batch,
            Inverted* out, const PairTerms* pairs) {
  out->batch = &batch;
  std::vector<Token> tokens;
  std::vector<uint8_t> token_fields;  // named field of each token, 0 if none
  std::vector<uint32_t> order;
  absl::flat_hash_map<std::string_view, uint32_t> group_of;  // term -> group
  std::vector<uint32_t> group_id, group_size;
  std::vector<uint32_t> shift;  // first catch-all position of each field
  std::vector<uint8_t> run_fields;
  std::string key;
  absl::flat_hash_map<std::string, uint32_t> key_index;  // key -> index in out->keys
  std::vector<RawPosting> raw;
  std::vector<uint32_t> raw_positions;
  auto key_number = [&]() {  // of `key`, numbered at first sight
    auto it = key_index.find(key);
    if (it == key_index.end()) {
      it = key_index.emplace(key, static_cast<uint32_t>(out->keys.size())).first;
      out->keys.push_back(key);
    }
    return it->second;
  };
  auto add = [&](uint32_t d, size_t a, size_t b, uint8_t f) {
    const uint32_t k = key_number();
    const uint32_t pos = static_cast<uint32_t>(raw_positions.size());
    const uint32_t freq = AddPositions(tokens, token_fields, order, a, b, f, shift, &raw_positions);
    raw.push_back(RawPosting{k, d, freq, pos});
  };
  const bool store_all =
      std::find(stored_fields.begin(), stored_fields.end(), "*") != stored_fields.end();
  for (size_t i = 0; i < batch.docs.size(); ++i) {
    const Document& doc = batch.docs[i];
    const uint32_t d = batch.first_docid + static_cast<uint32_t>(i);
    tokens.clear();
    token_fields.clear();
    uint8_t max_field =
        doc.field_ids.empty() ? 0 : *std::max_element(doc.field_ids.begin(), doc.field_ids.end());
    for (const auto& keyword : doc.keywords) max_field = std::max(max_field, keyword.first);
    std::vector<uint32_t>& lengths = out->lengths.emplace_back(size_t{max_field} + 1, 0);
    shift.assign(size_t{max_field} + 1, 0);
    storage::StoredDocument& stored = out->stored.emplace_back();
    stored.id = doc.id;
    uint32_t next_position = 0;
    for (size_t m = 0; m < doc.fields.size(); ++m) {
      const std::string& text = doc.fields[m].second;
      const uint32_t start = next_position == 0 ? 0 : next_position + kFieldPositionGap;
      const size_t first_token = tokens.size();
      next_position = analyzer->Analyze(text, start, &tokens);
      const uint8_t f = doc.field_ids[m];
      if (f != storage::kTextField) {
        // A repeated member continues its field after the gap.
        if (lengths[f] == 0) shift[f] = start;
        lengths[f] += static_cast<uint32_t>(tokens.size() - first_token);
      }
      token_fields.resize(tokens.size(), f);
      if (store_all || std::find(stored_fields.begin(), stored_fields.end(), doc.fields[m].first) !=
                           stored_fields.end()) {
        stored.fields.push_back(doc.fields[m]);
        stored.checkpoints.push_back(PositionCheckpointsFromTokens(
            text, absl::Span<const Token>(tokens.data() + first_token, tokens.size() - first_token),
            start, next_position, analyzer));
      }
    }
    for (const auto& member : doc.stored_typed) {
      if (store_all || std::find(stored_fields.begin(), stored_fields.end(), member.first) !=
                           stored_fields.end()) {
        stored.fields.push_back(member);  // no checkpoints: never highlighted
      }
    }
    lengths[0] = static_cast<uint32_t>(tokens.size());
    if (pairs != nullptr && !pairs->common.empty()) {
      AddPairTokens(*pairs, tokens.size(), &tokens, &token_fields);
    }
    // Group the tokens by term (a counting sort on a hash of the terms, in
    // position order within each group: no string sort).
    group_of.clear();
    group_size.clear();
    group_id.resize(tokens.size());
    for (uint32_t t = 0; t < tokens.size(); ++t) {
      auto [it, inserted] =
          group_of.try_emplace(std::string_view(tokens[t].term), uint32_t(group_size.size()));
      if (inserted) group_size.push_back(0);
      group_id[t] = it->second;
      ++group_size[it->second];
    }
    uint32_t at = 0;
    for (uint32_t& n : group_size) {  // sizes become start offsets
      const uint32_t size = n;
      n = at;
      at += size;
    }
    order.resize(tokens.size());
    for (uint32_t t = 0; t < tokens.size(); ++t) order[group_size[group_id[t]]++] = t;
    for (size_t a = 0; a < order.size();) {
      const std::string& term = tokens[order[a]].term;
      const uint32_t group = group_id[order[a]];
      size_t b = a;
      run_fields.clear();
      for (; b < order.size() && group_id[order[b]] == group; ++b) {
        const uint8_t f = token_fields[order[b]];
        if (f != storage::kTextField &&
            std::find(run_fields.begin(), run_fields.end(), f) == run_fields.end()) {
          run_fields.push_back(f);
        }
      }
      for (uint8_t f : run_fields) {
        key = storage::TermKey(f, term);
        add(d, a, b, f);
      }
      key = storage::TermKey(storage::kTextField, term);
      add(d, a, b, storage::kTextField);
      a = b;
    }
    for (const auto& [f, values] : doc.keywords) {
      lengths[f] = static_cast<uint32_t>(values.size());
      for (const std::string& value : values) {
        key = storage::TermKey(f, value);
        raw.push_back(RawPosting{key_number(), d, 1, static_cast<uint32_t>(raw_positions.size())});
        raw_positions.push_back(0);
      }
    }
  }
  GroupByKey(raw, raw_positions, out);
}

}  // namespace scry::indexer
