// File: storage/posting_cursor.h
//
// PostingCursor walks one term's posting list in one shard, reading chunks
// from RocksDB only when it reaches them (pinned, zero-copy) and decoding one
// block of 128 postings at a time. NextGeq() skips whole chunks by the
// TermInfo's chunk table and whole blocks by their headers, without decoding
// them. Term frequencies and positions are decoded only when asked for.
//
// Protocol (the cursor concepts of query/cursor.h, which it satisfies):
// after construction the cursor is on its first posting; docid() is
// kEndDocid once exhausted. Next() and NextGeq() never move backwards. On a
// read or decode error the cursor jumps to kEndDocid and status() holds the
// error: evaluators check status() of every cursor when they finish.
//
// Thread safety: a cursor is used by one thread; the ShardReader it reads
// from must outlive it.
#ifndef SCRY_STORAGE_POSTING_CURSOR_H_
#define SCRY_STORAGE_POSTING_CURSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "storage/block_codec.h"
#include "storage/intersect.h"
#include "storage/posting_format.h"
#include "storage/shard.h"

namespace scry::storage {

inline constexpr uint32_t kEndDocid = 0xffffffffu;

class PostingCursor {
 public:
  // REQUIRES: `info` is the TermInfo of (field, term) in `shard`.
  PostingCursor(const ShardReader* shard, uint8_t field, std::string term, TermInfo info);
  // The same, borrowing `term` and `info` (no copy: a search's cursors read
  // the TermInfos it looked up), which must outlive the cursor.
  PostingCursor(const ShardReader* shard, uint8_t field, std::string_view term,
                const TermInfo* info);
  PostingCursor(const PostingCursor&) = delete;
  PostingCursor& operator=(const PostingCursor&) = delete;

  [[nodiscard]] uint32_t docid() const noexcept { return docid_; }
  [[nodiscard]] uint32_t df() const noexcept { return info_->df; }
  [[nodiscard]] uint8_t field() const noexcept { return field_; }
  [[nodiscard]] std::string_view term() const noexcept { return term_; }
  [[nodiscard]] const TermInfo& info() const noexcept { return *info_; }
  [[nodiscard]] const absl::Status& status() const noexcept { return status_; }

  // Moves to the next posting.
  void Next() {
    if (++index_ < count_) {
      docid_ = docids_[index_];
    } else {
      LoadBlock(chunk_, block_ + 1);
    }
  }

  // Moves to the first posting whose docid is >= target. If the current
  // docid already is, the cursor does not move.
  void NextGeq(uint32_t target) {
    if (target <= docid_) return;
    if (target <= block_last_) {
      // Short hops are the common case (intersections hand out ascending
      // matches); longer ones search the rest of the block with SIMD.
      uint32_t i = index_ + 1;  // docids_[index_] < target <= block_last_
      if (docids_[i] < target) {
        ++i;
        if (docids_[i] < target)
          i += static_cast<uint32_t>(FirstGeq(docids_ + i, count_ - i, target));
      }
      index_ = i;
      docid_ = docids_[i];
      return;
    }
    SkipTo(target);
  }

  // Term frequency in the current document. REQUIRES: docid() != kEndDocid.
  [[nodiscard]] uint32_t freq() {
    if (!freqs_valid_) DecodeFreqs();
    return freqs_[index_];
  }

  // The length of the current document in field(), from the shard's
  // per-field lengths (BM25's dl). REQUIRES: docid() != kEndDocid.
  [[nodiscard]] uint32_t doc_length() const noexcept { return shard_->doc_length(field_, docid_); }

  // The last docid of the current block (kEndDocid once exhausted).
  [[nodiscard]] uint32_t block_last_docid() const noexcept { return block_last_; }

  // The decoded docids of the current block from the current posting on:
  // block_docids()[0] == docid(), block_remaining() of them (0 once
  // exhausted). Valid until the cursor moves to another block.
  [[nodiscard]] const uint32_t* block_docids() const noexcept { return docids_ + index_; }
  [[nodiscard]] uint32_t block_remaining() const noexcept { return count_ - index_; }

  // Replaces *out with impacts bounding every posting of the current block:
  // the block's stored ones (at most kMaxBlockImpacts), or for a list of a
  // single block, its list impacts. REQUIRES: docid() != kEndDocid.
  absl::Status BlockImpacts(std::vector<Impact>* out);

  // Replaces *out with impacts bounding every posting of the list.
  absl::Status ListImpacts(std::vector<Impact>* out);

  // Shallow moves, for Block-Max WAND: bounds of blocks ahead of the cursor
  // without decoding them or moving the cursor. ShallowNextGeq moves the
  // shallow position to the block that holds the postings >= target that
  // the cursor would reach (the current block if target <= its last docid),
  // reading only the chunk table and block headers, and returns that block's
  // last docid: kEndDocid if no posting is >= target (or on an error, which
  // status() then holds). ShallowBlockImpacts replaces *out with impacts
  // bounding every posting of that block. REQUIRES: targets of successive
  // ShallowNextGeq calls do not decrease; ShallowBlockImpacts follows a
  // ShallowNextGeq that returned a docid, with no move in between.
  uint32_t ShallowNextGeq(uint32_t target);
  absl::Status ShallowBlockImpacts(std::vector<Impact>* out);

  // Replaces *out with the positions of the term in the current document
  // (ascending). REQUIRES: docid() != kEndDocid. On error returns it (and the
  // cursor is at its end).
  absl::Status Positions(std::vector<uint32_t>* out);

  // As Positions(), without copying: on success *positions points at freq()
  // values, valid until the cursor moves to another block.
  absl::Status PositionSpan(const uint32_t** positions);

 private:
  void LoadChunk(uint32_t chunk);
  void LoadBlock(uint32_t chunk, uint32_t block);
  void SkipTo(uint32_t target);
  void DecodeFreqs();
  void Fail(absl::Status status);
  void Start();
  // Impacts of a list of a single block (at most kMaxTermImpacts), computed
  // from its postings on first use.
  absl::Status SingleBlockImpacts(std::vector<Impact>* out);

  const ShardReader* shard_;
  uint8_t field_;
  std::string owned_term_;  // what term_ views, unless borrowed
  TermInfo owned_info_;     // what info_ points at, unless borrowed
  std::string_view term_;
  const TermInfo* info_;
  absl::Status status_;

  uint32_t docid_ = 0;
  uint32_t index_ = 0;  // within the block
  uint32_t count_ = 0;  // postings in the block
  uint32_t block_ = 0;  // within the chunk
  uint32_t chunk_ = 0;
  uint32_t block_last_ = 0;  // last docid of the decoded block
  bool chunk_loaded_ = false;
  bool freqs_valid_ = false;
  uint32_t freqs_offset_ = 0;  // where the block's tfs start in its data
  PinnedValue chunk_value_;
  std::string inline_chunk_;            // an inline list's chunk, expanded
  std::string inline_positions_chunk_;  // and its positions, on first use
  PostingChunkView chunk_view_;
  bool single_block_impacts_ready_ = false;
  std::vector<Impact> single_block_impacts_;

  // Shallow position (see ShallowNextGeq): block shallow_block_ of chunk
  // shallow_chunk_, found for shallow_target_, ending at shallow_last_. A
  // chunk other than the cursor's is read into shallow_value_/shallow_view_.
  uint32_t shallow_target_ = 0;
  uint32_t shallow_last_ = 0;
  uint32_t shallow_chunk_ = 0;
  uint32_t shallow_block_ = 0;
  int64_t shallow_view_chunk_ = -1;
  PinnedValue shallow_value_;
  PostingChunkView shallow_view_;

  // Positions: the chunk loaded, and the positions of block pos_block_ of
  // that chunk, decoded whole on first use (pos_offsets_[i] = where posting
  // i's positions start in pos_buf_).
  int64_t pos_chunk_ = -1;
  PinnedValue pos_value_;
  PositionsChunkView pos_view_;
  int64_t pos_block_ = -1;
  std::vector<uint32_t> pos_buf_;
  uint32_t pos_offsets_[kBlockSize + 1];
  uint64_t pos_ready_[kBlockSize / 64];  // bit i: posting i's gaps are undone

  uint32_t docids_[kBlockSize];
  uint32_t freqs_[kBlockSize];
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_POSTING_CURSOR_H_
