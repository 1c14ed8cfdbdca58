// File: indexer/inverter.h
//
// Inversion of a batch of documents, the CPU-bound step of a bulk build: a
// pure function from documents (already routed to a shard, with docids and
// named-field ids) to their postings grouped by key, in flat arrays.
//
// Positions: the members of a document are analysed in order into one
// stream, the catch-all field (storage::kTextField), each member starting
// kFieldPositionGap (indexer/builder.h) positions after the last position
// of the member before (the first at 0), so that a phrase never spans two
// members. A member with a named field id f != 0 is indexed again under key
// TermKey(f, term) with positions counted from the field's first position
// (0 for its first member; a repeated member continues after the gap).
// Dropped stopwords keep their positions (gaps in the positions).
//
// Pairs: given common terms, every two tokens of one member at positions p
// and p + 1, one of them common (both if PairTerms::need_both), are also indexed as the pair term
// storage::PairTerm(first, second) at position p, in the catch-all and in
// the member's named field (storage/keys.h). They add nothing to lengths.
//
// Thread safety: Invert touches only its arguments; run one per thread, each
// with its own Analyzer (Analyzer::Clone).
#ifndef SCRY_INDEXER_INVERTER_H_
#define SCRY_INDEXER_INVERTER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "analysis/analyzer.h"
#include "indexer/jsonl_reader.h"
#include "storage/doc_values.h"
#include "storage/shard.h"
#include "storage/stored_document.h"

namespace scry::indexer {

struct Document {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;  // (name, text): title, body, rest
  std::vector<uint8_t> field_ids;  // named field of each member, or 0; parallel to fields
  // Keyword fields (issue 21): (named field id, values sorted and unique).
  // Each value is a term of that field as it is (not analysed, not in the
  // catch-all), tf 1 at position 0; the field's length is the value count.
  std::vector<std::pair<uint8_t, std::vector<std::string>>> keywords;
  // Numeric fields: the sort keys of each numeric field of the schema, in
  // the order of storage::ShardMeta::typed_fields (those not numeric left
  // out); empty for a document without the member.
  std::vector<std::vector<int64_t>> numeric;
  // The typed members as stored (GetDocument, Hit.fields): (name, text), a
  // single value as its text, several as a JSON array; numbers and dates in
  // storage::FormatSortKey's form. Stored after the text members, never
  // analysed.
  std::vector<std::pair<std::string, std::string>> stored_typed;
};

// Fills doc->keywords, doc->numeric and doc->stored_typed from the typed members of an input
// document, for the typed fields `typed_fields` (a shard's, by name);
// field_id(name) gives a keyword field's named field id.
absl::Status AddTypedMembers(
    const std::vector<InputDocument::Typed>& typed,
    const std::vector<std::pair<std::string, storage::FieldType>>& typed_fields,
    const std::function<absl::StatusOr<uint8_t>(const std::string&)>& field_id, Document* doc);

// Gives `writer` columns[i] as the doc values of the i-th numeric field of
// `typed_fields` (as Document::numeric orders them).
absl::Status SetDocValues(
    const std::vector<std::pair<std::string, storage::FieldType>>& typed_fields,
    std::vector<storage::DocValuesColumn> columns, storage::ShardWriter* writer);

// Puts a document's members in the order they are indexed in: title first,
// then body, then the rest in input order.
void OrderMembers(std::vector<std::pair<std::string, std::string>>* fields);

// Consecutive documents of one shard: document i has docid first_docid + i.
struct Batch {
  uint32_t shard = 0;
  uint64_t seq = 0;  // per shard, from 0
  uint32_t first_docid = 0;
  std::vector<Document> docs;
  size_t bytes = 0;  // text bytes of the documents (ids and members)
};

// A batch inverted: its postings grouped by key (storage::TermKey(field,
// term)) in flat arrays (a few allocations a batch, not three a term), and
// the per-field lengths and stored form of each document.
struct Inverted {
  const Batch* batch = nullptr;
  // Distinct keys in first-seen order. Key k's postings are
  // [ends[k-1], ends[k]) of docids and freqs (docids ascending), and its
  // positions [pos_ends[k-1], pos_ends[k]) of positions (ends[-1] = 0), each
  // posting's freqs[i] positions ascending, postings in docid order.
  std::vector<std::string> keys;
  std::vector<uint32_t> ends, pos_ends;
  std::vector<uint32_t> docids, freqs, positions;
  // Per document: its length in tokens in each field, by field id
  // (lengths[0]: the catch-all; size 1 + the largest field id it has).
  std::vector<std::vector<uint32_t>> lengths;
  // Per document: its id, and the members named in stored_fields with
  // their position checkpoints (analysis/checkpoints.h).
  std::vector<storage::StoredDocument> stored;
};

// The terms whose pairs are indexed (storage/keys.h).
struct PairTerms {
  absl::flat_hash_set<std::string> common;
  bool need_both = false;  // pairs of two common terms only, else of one at least
  bool Indexes(const std::string& a, const std::string& b) const {
    return need_both ? common.contains(a) && common.contains(b)
                     : common.contains(a) || common.contains(b);
  }
};

// Inverts `batch` into *out (REQUIRES: *out empty). `stored_fields` names
// the members to store ({"*"}: all). out->batch points to `batch`, which
// must outlive *out. `pairs` (may be null: none) says which pairs
// are indexed.
void Invert(const std::vector<std::string>& stored_fields, analysis::Analyzer* analyzer,
            const Batch& batch, Inverted* out, const PairTerms* pairs = nullptr);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_INVERTER_H_
