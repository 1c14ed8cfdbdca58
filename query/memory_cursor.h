// File: query/memory_cursor.h
//
// A posting cursor over plain vectors: the query evaluators (query/maxscore.h,
// query/cursor_intersection.h) run on it without a shard, so tests compare
// them with an exhaustive reference on any lists they make up, and
// benchmarks can time an algorithm apart from the codecs and RocksDB.
//
// MemoryPostings holds one term's postings (docid, tf) in one field, cut into
// blocks of storage::kBlockSize like a stored list, with the impact bounds a
// shard stores for them (storage/posting_format.h), computed the same way: a
// block's frontier capped at kMaxBlockImpacts, the list's at kMaxTermImpacts;
// the single block of a short list is bounded by its list impacts. The same
// postings thus give the same bounds, hence the same pruning decisions, as on
// a shard. MemoryCursor walks a MemoryPostings and satisfies BlockMaxCursor
// (query/cursor.h); it never fails (status() is always OK).
//
// Example:
//
//   std::vector<uint32_t> lengths = ...;  // by docid
//   MemoryPostings postings({1, 5, 9}, {2, 1, 3}, lengths);
//   MemoryCursor cursor(&postings);
//   cursor.NextGeq(4);  // docid() == 5, freq() == 1, doc_length() == lengths[5]
//
// Thread safety: a MemoryPostings may be read by many cursors at once; a
// cursor belongs to one thread.
#ifndef SCRY_QUERY_MEMORY_CURSOR_H_
#define SCRY_QUERY_MEMORY_CURSOR_H_

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "query/cursor.h"
#include "storage/block_codec.h"
#include "storage/posting_cursor.h"
#include "storage/posting_format.h"

namespace scry::query {

class MemoryPostings {
 public:
  // REQUIRES: docids strictly ascending and below storage::kEndDocid; freqs
  // parallel to them, each >= 1; doc_lengths[d] is the length in `field` of
  // every docid d, and outlives this object. An empty list is allowed (its
  // cursors start at the end).
  MemoryPostings(std::vector<uint32_t> docids, std::vector<uint32_t> freqs,
                 std::span<const uint32_t> doc_lengths, uint8_t field = 0);

  [[nodiscard]] const std::vector<uint32_t>& docids() const noexcept { return docids_; }
  [[nodiscard]] const std::vector<uint32_t>& freqs() const noexcept { return freqs_; }
  [[nodiscard]] std::span<const uint32_t> doc_lengths() const noexcept { return lengths_; }
  [[nodiscard]] uint8_t field() const noexcept { return field_; }
  // Per block: its last docid, and its impacts.
  [[nodiscard]] const std::vector<uint32_t>& block_last() const noexcept { return block_last_; }
  [[nodiscard]] const std::vector<storage::Impact>& block_impacts(size_t block) const noexcept {
    return block_impacts_[block];
  }
  [[nodiscard]] const std::vector<storage::Impact>& list_impacts() const noexcept {
    return list_impacts_;
  }

 private:
  std::vector<uint32_t> docids_;
  std::vector<uint32_t> freqs_;
  std::span<const uint32_t> lengths_;
  uint8_t field_;
  std::vector<uint32_t> block_last_;
  std::vector<std::vector<storage::Impact>> block_impacts_;
  std::vector<storage::Impact> list_impacts_;
};

class MemoryCursor {
 public:
  // On the first posting of `postings`, which must outlive the cursor.
  explicit MemoryCursor(const MemoryPostings* postings);

  [[nodiscard]] uint32_t docid() const noexcept { return docid_; }
  [[nodiscard]] uint32_t df() const noexcept { return static_cast<uint32_t>(size_); }
  [[nodiscard]] uint8_t field() const noexcept { return postings_->field(); }
  [[nodiscard]] const absl::Status& status() const noexcept { return status_; }

  void Next() {
    if (++index_ < block_end_) {
      docid_ = docids_[index_];
    } else {
      Enter(index_);
    }
  }

  void NextGeq(uint32_t target) {
    if (target <= docid_) return;
    if (target <= block_last_) {
      index_ = std::lower_bound(docids_ + index_ + 1, docids_ + block_end_, target) - docids_;
      docid_ = docids_[index_];
      return;
    }
    const size_t block = BlockFor(target);
    if (block == num_blocks()) return Enter(size_);
    const size_t begin = block * storage::kBlockSize;
    Enter(std::lower_bound(docids_ + begin, docids_ + BlockEnd(block), target) - docids_);
  }

  [[nodiscard]] uint32_t freq() const noexcept { return postings_->freqs()[index_]; }
  [[nodiscard]] uint32_t doc_length() const noexcept { return lengths_[docid_]; }

  [[nodiscard]] uint32_t block_last_docid() const noexcept { return block_last_; }
  [[nodiscard]] const uint32_t* block_docids() const noexcept { return docids_ + index_; }
  [[nodiscard]] uint32_t block_remaining() const noexcept {
    return static_cast<uint32_t>(block_end_ - index_);
  }

  absl::Status ListImpacts(std::vector<storage::Impact>* out) const {
    *out = postings_->list_impacts();
    return absl::OkStatus();
  }
  uint32_t ShallowNextGeq(uint32_t target) {
    if (target <= block_last_) {
      shallow_block_ = index_ / storage::kBlockSize;
      return block_last_;
    }
    shallow_block_ = BlockFor(target);
    return shallow_block_ == num_blocks() ? storage::kEndDocid
                                          : postings_->block_last()[shallow_block_];
  }
  absl::Status ShallowBlockImpacts(std::vector<storage::Impact>* out) const {
    *out = postings_->block_impacts(shallow_block_);
    return absl::OkStatus();
  }

 private:
  [[nodiscard]] size_t num_blocks() const noexcept { return postings_->block_last().size(); }
  [[nodiscard]] size_t BlockEnd(size_t block) const noexcept {
    return std::min(size_, (block + 1) * storage::kBlockSize);
  }
  // The first block after the current one whose last docid is >= target
  // (num_blocks() if none).
  [[nodiscard]] size_t BlockFor(uint32_t target) const noexcept {
    const std::vector<uint32_t>& last = postings_->block_last();
    const size_t from = std::min(index_ / storage::kBlockSize + 1, last.size());
    return std::lower_bound(last.begin() + static_cast<std::ptrdiff_t>(from), last.end(), target) -
           last.begin();
  }
  // Moves to posting i (the end if i == size_).
  void Enter(size_t i);

  const MemoryPostings* postings_;
  const uint32_t* docids_;
  const uint32_t* lengths_;
  size_t size_;
  absl::Status status_;
  size_t index_ = 0;
  size_t block_end_ = 0;  // end of the current block's postings
  uint32_t docid_ = storage::kEndDocid;
  uint32_t block_last_ = storage::kEndDocid;
  size_t shallow_block_ = 0;
};

static_assert(BlockMaxCursor<MemoryCursor>);

}  // namespace scry::query

#endif  // SCRY_QUERY_MEMORY_CURSOR_H_
