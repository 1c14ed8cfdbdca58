// File: indexer/segment.cc
//
// The bulk build's steps without its pipeline: Invert the batch on the
// calling thread, append it to a MemoryIndex, and hand the stored documents,
// lengths and sorted lists to a ShardWriter.
#include "indexer/segment.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "analysis/analyzer.h"
#include "indexer/inverter.h"
#include "indexer/memory_index.h"
#include "storage/hash.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::indexer {
namespace {

// Numbers the named fields as the base shard does, and new ones after.
class FieldNumbering {
 public:
  explicit FieldNumbering(const SegmentOptions& options) : options_(options) {
    all_ = std::find(options.index_fields.begin(), options.index_fields.end(), "*") !=
           options.index_fields.end();
    const auto& names = options.base.field_names;
    for (size_t f = 1; f < names.size(); ++f) {
      ids_.emplace(names[f], static_cast<uint8_t>(f));
      names_.push_back(names[f]);
    }
  }

  absl::Status Validate() const {
    if (all_) return absl::OkStatus();
    for (const std::string& name : options_.index_fields) {
      if (!storage::IsFieldName(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", name, "\" cannot be an indexed field"));
      }
    }
    return absl::OkStatus();
  }

  // The field id of member `name` (0: the catch-all only); a keyword field
  // always has one.
  absl::StatusOr<uint8_t> Id(const std::string& name, bool keyword = false) {
    const auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const bool wanted = keyword || all_
                            ? storage::IsFieldName(name)
                            : std::find(options_.index_fields.begin(), options_.index_fields.end(),
                                        name) != options_.index_fields.end();
    if (!wanted) {
      ids_.emplace(name, storage::kTextField);
      return storage::kTextField;
    }
    if (names_.size() + 1 >= storage::kMaxFields) {
      return absl::InvalidArgumentError(absl::StrCat("the shard would have more than ",
                                                     storage::kMaxFields - 1, " named fields"));
    }
    names_.push_back(name);
    const uint8_t id = static_cast<uint8_t>(names_.size());
    ids_.emplace(name, id);
    return id;
  }

  // Names of field ids 1, 2, ...
  const std::vector<std::string>& names() const { return names_; }

 private:
  const SegmentOptions& options_;
  bool all_ = true;
  absl::flat_hash_map<std::string, uint8_t> ids_;
  std::vector<std::string> names_;
};

absl::Status DocumentError(size_t i, const InputDocument& doc, const absl::Status& s) {
  return absl::InvalidArgumentError(
      absl::StrCat("document ", i, " (id \"", doc.id, "\"): ", s.message()));
}

// The batch of `docs`, checked and routed, members in indexing order.
absl::StatusOr<Batch> MakeBatch(const std::vector<InputDocument>& docs,
                                const SegmentOptions& options, FieldNumbering* fields) {
  if (docs.empty()) return absl::InvalidArgumentError("a segment needs at least one document");
  const storage::ShardMeta& base = options.base;
  Batch batch;
  batch.shard = base.shard_index;
  absl::flat_hash_set<std::string> ids;
  for (size_t i = 0; i < docs.size(); ++i) {
    const InputDocument& in = docs[i];
    absl::Status s = ValidateDocument(in, options.max_document_bytes);
    if (s.ok() && storage::ShardForId(in.id, base.num_shards) != base.shard_index) {
      s = absl::InvalidArgumentError(absl::StrCat("its id belongs to shard ",
                                                  storage::ShardForId(in.id, base.num_shards),
                                                  ", not ", base.shard_index));
    }
    if (s.ok() && !ids.insert(in.id).second) s = absl::InvalidArgumentError("duplicate id");
    if (!s.ok()) return DocumentError(i, in, s);
    Document doc;
    doc.id = in.id;
    doc.fields = in.fields;
    OrderMembers(&doc.fields);
    absl::Status typed = AddTypedMembers(
        in.typed, base.typed_fields,
        [fields](const std::string& name) { return fields->Id(name, /*keyword=*/true); }, &doc);
    if (!typed.ok()) return DocumentError(i, in, typed);
    for (const auto& f : doc.fields) {
      absl::StatusOr<uint8_t> id = fields->Id(f.first);
      if (!id.ok()) return DocumentError(i, in, id.status());
      doc.field_ids.push_back(*id);
      batch.bytes += f.second.size();
    }
    batch.bytes += doc.id.size();
    batch.docs.push_back(std::move(doc));
  }
  return batch;
}

}  // namespace

absl::StatusOr<SegmentSummary> BuildSegment(const std::string& path,
                                            const std::vector<InputDocument>& docs,
                                            const SegmentOptions& options) {
  const storage::ShardMeta& base = options.base;
  FieldNumbering fields(options);
  SCRY_RETURN_IF_ERROR(fields.Validate());
  SCRY_ASSIGN_OR_RETURN(const Batch batch, MakeBatch(docs, options, &fields));

  SCRY_ASSIGN_OR_RETURN(
      std::unique_ptr<analysis::Analyzer> analyzer,
      analysis::Analyzer::Create(analysis::AnalyzerOptions{base.language, options.stopwords}));
  PairTerms pairs;
  pairs.common.insert(base.common_terms.begin(), base.common_terms.end());
  pairs.need_both = base.pairs_need_both;
  Inverted inverted;
  Invert(options.stored_fields, analyzer.get(), batch, &inverted, &pairs);

  storage::ShardWriterOptions writer_options;
  writer_options.field_names = fields.names();
  writer_options.pair_min_df = std::max<uint32_t>(1, base.pair_min_df);
  writer_options.pairs_need_both = base.pairs_need_both;
  writer_options.env = options.env;
  SCRY_ASSIGN_OR_RETURN(auto writer, storage::ShardWriter::Create(path, writer_options));
  for (uint32_t d = 0; d < batch.docs.size(); ++d) {
    SCRY_RETURN_IF_ERROR(writer->ClaimId(batch.docs[d].id, d));
    SCRY_RETURN_IF_ERROR(writer->AddDocument(d, inverted.stored[d], inverted.lengths[d]));
  }
  std::vector<storage::DocValuesColumn> columns;
  for (const Document& doc : batch.docs) {
    columns.resize(doc.numeric.size());
    for (size_t c = 0; c < doc.numeric.size(); ++c) columns[c].Add(doc.numeric[c]);
  }
  SCRY_RETURN_IF_ERROR(SetDocValues(base.typed_fields, std::move(columns), writer.get()));
  MemoryIndex memory;
  memory.Append(&inverted);
  SegmentSummary summary;
  summary.docs = batch.docs.size();
  for (const MemoryIndex::Entry* entry : memory.SortedEntries()) {
    const uint8_t field = static_cast<uint8_t>(entry->first[0]);
    const std::string_view term = std::string_view(entry->first).substr(1);
    SCRY_RETURN_IF_ERROR(writer->AddPostingList(field, term, entry->second));
    if (field == storage::kTextField && !storage::IsPairTerm(term)) {
      ++summary.terms;
      summary.postings += entry->second.docids.size();
    }
  }
  storage::ShardMeta meta;
  meta.shard_index = base.shard_index;
  meta.num_shards = base.num_shards;
  meta.language = base.language;
  meta.common_terms = base.common_terms;
  meta.typed_fields = base.typed_fields;
  SCRY_RETURN_IF_ERROR(writer->Finish(meta));
  return summary;
}

}  // namespace scry::indexer
