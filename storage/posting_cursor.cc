// File: storage/posting_cursor.cc
#include "storage/posting_cursor.h"

#include <algorithm>

#include "storage/coding.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

// The first block of `view` from block `from` on whose last docid is >=
// target (binary search of the fixed-size headers); num_blocks() if none.
uint32_t FirstBlockEndingAtOrAfter(const PostingChunkView& view, uint32_t from, uint32_t target) {
  uint32_t lo = from, hi = view.num_blocks();
  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (view.header(mid).last_docid < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace

PostingCursor::PostingCursor(const ShardReader* shard, uint8_t field, std::string term,
                             TermInfo info)
    : shard_(shard),
      field_(field),
      owned_term_(std::move(term)),
      owned_info_(std::move(info)),
      term_(owned_term_),
      info_(&owned_info_) {
  Start();
}

PostingCursor::PostingCursor(const ShardReader* shard, uint8_t field, std::string_view term,
                             const TermInfo* info)
    : shard_(shard), field_(field), term_(term), info_(info) {
  Start();
}

void PostingCursor::Start() {
  if (info_->chunk_last_docids.empty()) {
    Fail(absl::DataLossError("term has no chunks"));
    return;
  }
  LoadBlock(0, 0);
}

void PostingCursor::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  docid_ = kEndDocid;
  block_last_ = kEndDocid;
  index_ = 0;
  count_ = 0;
  docids_[0] = kEndDocid;
}

void PostingCursor::LoadChunk(uint32_t chunk) {
  chunk_loaded_ = false;
  std::string_view bytes = inline_chunk_;
  if (info_->is_inline()) {
    if (inline_chunk_.empty()) {
      absl::Status s = ExpandInlinePostings(*info_, &inline_chunk_);
      if (!s.ok()) return Fail(std::move(s));
    }
    bytes = inline_chunk_;
  } else {
    absl::Status s = shard_->ReadChunk(field_, term_, chunk, /*positions=*/false, &chunk_value_);
    if (!s.ok()) return Fail(std::move(s));
    bytes = chunk_value_.view();
  }
  absl::StatusOr<PostingChunkView> view = PostingChunkView::Parse(bytes);
  if (!view.ok()) return Fail(view.status());
  chunk_view_ = *view;
  chunk_ = chunk;
  chunk_loaded_ = true;
}

void PostingCursor::LoadBlock(uint32_t chunk, uint32_t block) {
  if (!status_.ok()) return;
  if (chunk_loaded_ && chunk == chunk_ && block >= chunk_view_.num_blocks()) {
    ++chunk;
    block = 0;
  }
  if (chunk >= info_->chunk_last_docids.size()) {
    docid_ = kEndDocid;
    block_last_ = kEndDocid;
    count_ = 0;
    index_ = 0;
    docids_[0] = kEndDocid;
    return;
  }
  if (!chunk_loaded_ || chunk != chunk_) {
    LoadChunk(chunk);
    if (!status_.ok()) return;
  }
  absl::Status s = chunk_view_.DecodeDocids(block, docids_, &freqs_offset_);
  if (!s.ok()) return Fail(std::move(s));
  block_ = block;
  count_ = chunk_view_.header(block).count;
  block_last_ = docids_[count_ - 1];
  // Docids index per-document tables (lengths, ids): a corrupt block must
  // not point past them. Ascending docids make the last one enough.
  if (block_last_ >= shard_->meta().doc_count) {
    return Fail(absl::DataLossError("corrupt posting data: docid past the document count"));
  }
  index_ = 0;
  docid_ = docids_[0];
  freqs_valid_ = false;
}

void PostingCursor::SkipTo(uint32_t target) {
  if (!status_.ok()) return;
  const auto& lasts = info_->chunk_last_docids;
  uint32_t chunk = chunk_;
  uint32_t first_block = block_ + 1;
  if (lasts[chunk] < target) {
    chunk =
        static_cast<uint32_t>(std::lower_bound(lasts.begin(), lasts.end(), target) - lasts.begin());
    if (chunk >= lasts.size()) {
      LoadBlock(static_cast<uint32_t>(lasts.size()), 0);  // end
      return;
    }
    LoadChunk(chunk);
    if (!status_.ok()) return;
    first_block = 0;
  }
  const uint32_t lo = FirstBlockEndingAtOrAfter(chunk_view_, first_block, target);
  if (lo >= chunk_view_.num_blocks()) {
    // Only reachable with corrupt data: the chunk table promised a block.
    return Fail(absl::DataLossError("chunk table and block headers disagree"));
  }
  LoadBlock(chunk, lo);
  if (!status_.ok()) return;
  index_ = static_cast<uint32_t>(FirstGeq(docids_, count_, target));  // < count_: last >= target
  docid_ = docids_[index_];
}

void PostingCursor::DecodeFreqs() {
  absl::Status s = chunk_view_.DecodeFreqs(block_, freqs_offset_, freqs_);
  if (!s.ok()) {
    std::fill(freqs_, freqs_ + kBlockSize, 1);
    Fail(std::move(s));
  }
  freqs_valid_ = true;
}

absl::Status PostingCursor::SingleBlockImpacts(std::vector<Impact>* out) {
  out->clear();
  if (!status_.ok()) return status_;
  if (info_->chunk_last_docids.size() != 1 || chunk_view_.num_blocks() != 1) {
    return absl::DataLossError("corrupt posting data: a block of a long list without impacts");
  }
  if (!single_block_impacts_ready_) {
    // The cursor is on the block unless exhausted: decode it apart, once.
    uint32_t docids[kBlockSize], freqs[kBlockSize], lengths[kBlockSize];
    SCRY_RETURN_IF_ERROR(chunk_view_.DecodeBlock(0, docids, freqs));
    const uint32_t count = chunk_view_.header(0).count;
    for (uint32_t i = 0; i < count; ++i) lengths[i] = shard_->doc_length(field_, docids[i]);
    single_block_impacts_ = ComputeImpacts(freqs, lengths, count, kMaxTermImpacts);
    single_block_impacts_ready_ = true;
  }
  *out = single_block_impacts_;
  return absl::OkStatus();
}

absl::Status PostingCursor::BlockImpacts(std::vector<Impact>* out) {
  out->clear();
  if (!status_.ok()) return status_;
  if (chunk_view_.header(block_).impact_bytes > 0) return chunk_view_.BlockImpacts(block_, out);
  return SingleBlockImpacts(out);
}

absl::Status PostingCursor::ListImpacts(std::vector<Impact>* out) {
  if (!info_->impacts.empty()) {
    *out = info_->impacts;
    return absl::OkStatus();
  }
  return SingleBlockImpacts(out);
}

uint32_t PostingCursor::ShallowNextGeq(uint32_t target) {
  if (target <= block_last_) {
    // The current block (kEndDocid once exhausted).
    shallow_chunk_ = chunk_;
    shallow_block_ = block_;
    shallow_last_ = block_last_;
    shallow_target_ = target;
    return shallow_last_;
  }
  if (shallow_target_ <= target && target <= shallow_last_) return shallow_last_;
  shallow_target_ = target;
  shallow_last_ = kEndDocid;
  const auto& lasts = info_->chunk_last_docids;
  const uint32_t chunk =
      static_cast<uint32_t>(std::lower_bound(lasts.begin(), lasts.end(), target) - lasts.begin());
  if (chunk >= lasts.size()) return kEndDocid;
  const PostingChunkView* view = &chunk_view_;
  if (chunk != chunk_) {
    if (shallow_view_chunk_ != chunk) {
      shallow_view_chunk_ = -1;
      absl::Status s =
          shard_->ReadChunk(field_, term_, chunk, /*positions=*/false, &shallow_value_);
      if (!s.ok()) {
        Fail(std::move(s));
        return kEndDocid;
      }
      absl::StatusOr<PostingChunkView> parsed = PostingChunkView::Parse(shallow_value_.view());
      if (!parsed.ok()) {
        Fail(parsed.status());
        return kEndDocid;
      }
      shallow_view_ = *parsed;
      shallow_view_chunk_ = chunk;
    }
    view = &shallow_view_;
  }
  const uint32_t lo = FirstBlockEndingAtOrAfter(*view, chunk == chunk_ ? block_ + 1 : 0, target);
  if (lo >= view->num_blocks()) {
    Fail(absl::DataLossError("chunk table and block headers disagree"));
    return kEndDocid;
  }
  shallow_chunk_ = chunk;
  shallow_block_ = lo;
  shallow_last_ = view->header(lo).last_docid;
  return shallow_last_;
}

absl::Status PostingCursor::ShallowBlockImpacts(std::vector<Impact>* out) {
  out->clear();
  if (!status_.ok()) return status_;
  if (shallow_chunk_ == chunk_ && shallow_block_ == block_) return BlockImpacts(out);
  const PostingChunkView& view = shallow_chunk_ == chunk_ ? chunk_view_ : shallow_view_;
  if (view.header(shallow_block_).impact_bytes == 0) {
    return absl::DataLossError("corrupt posting data: a block of a long list without impacts");
  }
  return view.BlockImpacts(shallow_block_, out);
}

absl::Status PostingCursor::Positions(std::vector<uint32_t>* out) {
  out->clear();
  const uint32_t* positions = nullptr;
  SCRY_RETURN_IF_ERROR(PositionSpan(&positions));
  out->assign(positions, positions + freqs_[index_]);
  return absl::OkStatus();
}

absl::Status PostingCursor::PositionSpan(const uint32_t** positions) {
  if (!status_.ok()) return status_;
  if (pos_chunk_ != chunk_) {
    absl::Status s;
    std::string_view bytes;
    if (info_->is_inline()) {
      s = ExpandInlinePositions(*info_, &inline_positions_chunk_);
      bytes = inline_positions_chunk_;
    } else {
      s = shard_->ReadChunk(field_, term_, chunk_, /*positions=*/true, &pos_value_);
      bytes = pos_value_.view();
    }
    if (s.ok()) {
      absl::StatusOr<PositionsChunkView> view = PositionsChunkView::Parse(bytes);
      if (view.ok() && view->num_blocks() == chunk_view_.num_blocks()) {
        pos_view_ = *view;
      } else {
        s = view.ok() ? absl::DataLossError("positions chunk does not match postings")
                      : view.status();
      }
    }
    if (!s.ok()) {
      pos_chunk_ = -1;
      Fail(s);
      return s;
    }
    pos_chunk_ = chunk_;
    pos_block_ = -1;
  }
  if (!freqs_valid_) DecodeFreqs();
  if (!status_.ok()) return status_;
  if (pos_block_ != block_) {
    // The codec decodes the whole block; the gaps are undone per document on
    // first use below, as a phrase needs few of a block's documents.
    absl::Status s = pos_view_.DecodeBlockGaps(block_, freqs_, count_, &pos_buf_);
    if (!s.ok()) {
      Fail(s);
      return s;
    }
    pos_offsets_[0] = 0;
    for (uint32_t i = 0; i < count_; ++i) pos_offsets_[i + 1] = pos_offsets_[i] + freqs_[i];
    std::fill(std::begin(pos_ready_), std::end(pos_ready_), 0);
    pos_block_ = block_;
  }
  uint32_t* p = pos_buf_.data() + pos_offsets_[index_];
  const uint64_t bit = uint64_t{1} << (index_ % 64);
  if ((pos_ready_[index_ / 64] & bit) == 0) {
    absl::Status s = PositionsChunkView::UndoGaps(p, freqs_[index_]);
    if (!s.ok()) {
      Fail(s);
      return s;
    }
    pos_ready_[index_ / 64] |= bit;
  }
  *positions = p;
  return absl::OkStatus();
}

}  // namespace scry::storage
