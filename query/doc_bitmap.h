// File: query/doc_bitmap.h
//
// A set of docids of one shard or segment as a bitmap: what a search's
// filter (SearchRequest::filter, and the typed clauses lifted out of the
// query) evaluates to before the scored query runs, and the documents a
// faceted search matched, and a shard's deleted documents (DeletedDocs
// keeps its bits in one). The evaluators test Contains() where a document
// becomes a match, as they test the deleted documents (query/scorer.h,
// ScoringContext::Excluded), so a filter costs one bit test per candidate
// and keeps dynamic pruning.
//
// Thread safety: a const DocBitmap may be read by many threads.
#ifndef SCRY_QUERY_DOC_BITMAP_H_
#define SCRY_QUERY_DOC_BITMAP_H_

#include <bit>
#include <cstdint>
#include <vector>

namespace scry::query {

class DocBitmap {
 public:
  // Docids [0, doc_count), none set, or all of them if `all`.
  explicit DocBitmap(uint32_t doc_count, bool all = false)
      : doc_count_(doc_count), words_((uint64_t{doc_count} + 63) / 64, all ? ~uint64_t{0} : 0) {
    if (all) ClearTail();
  }

  [[nodiscard]] bool Contains(uint32_t docid) const noexcept {
    return docid < doc_count_ && ((words_[docid >> 6] >> (docid & 63)) & 1) != 0;
  }
  // REQUIRES: docid < doc_count().
  void Set(uint32_t docid) noexcept { words_[docid >> 6] |= uint64_t{1} << (docid & 63); }
  [[nodiscard]] uint32_t doc_count() const noexcept { return doc_count_; }
  // Set operations with a bitmap of the same doc_count.
  void And(const DocBitmap& other) noexcept {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] &= other.words_[i];
  }
  void Or(const DocBitmap& other) noexcept {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
  }
  void AndNot(const DocBitmap& other) noexcept {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
  }
  // Calls fn(docid) for each docid in the set, ascending.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t i = 0; i < words_.size(); ++i) {
      for (uint64_t w = words_[i]; w != 0; w &= w - 1) {
        fn(static_cast<uint32_t>(i * 64 + static_cast<size_t>(std::countr_zero(w))));
      }
    }
  }

 private:
  void ClearTail() noexcept {
    if (doc_count_ % 64 != 0) words_.back() &= (uint64_t{1} << (doc_count_ % 64)) - 1;
  }

  uint32_t doc_count_;
  std::vector<uint64_t> words_;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_DOC_BITMAP_H_
