// File: query/deleted_docs.h
//
// The deleted documents of one shard or segment of a live index (a document
// replaced or deleted after the shard was written): a sorted list of docids
// and a bitmap over the shard's docids. Immutable once made, so a snapshot
// of the index shares it between searches and between Searchers
// (query/searcher.h, Searcher::WithSegments) without locks.
//
// Evaluators test Contains() where a document becomes a match (never for a
// shard without deletes: the ScoringContext then holds null); statistics
// walk docids() against a posting list (CountDeletedPostings).
//
// Thread safety: immutable.
#ifndef SCRY_QUERY_DELETED_DOCS_H_
#define SCRY_QUERY_DELETED_DOCS_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "query/doc_bitmap.h"

namespace scry::query {

class DeletedDocs {
 public:
  // The deleted `docids` (any order, duplicates allowed) of a shard of
  // `doc_count` documents. InvalidArgument if a docid is >= doc_count.
  static absl::StatusOr<std::shared_ptr<const DeletedDocs>> Create(std::vector<uint32_t> docids,
                                                                   uint32_t doc_count);

  [[nodiscard]] bool Contains(uint32_t docid) const noexcept { return bits_.Contains(docid); }
  // Ascending, without duplicates.
  [[nodiscard]] std::span<const uint32_t> docids() const noexcept { return docids_; }
  [[nodiscard]] size_t size() const noexcept { return docids_.size(); }
  [[nodiscard]] uint32_t doc_count() const noexcept { return bits_.doc_count(); }

 private:
  explicit DeletedDocs(uint32_t doc_count) : bits_(doc_count) {}
  std::vector<uint32_t> docids_;
  DocBitmap bits_;  // docid d is deleted
};

}  // namespace scry::query

#endif  // SCRY_QUERY_DELETED_DOCS_H_
