// File: query/cursor_intersection.cc
#include "query/cursor_intersection.h"

#include <algorithm>
#include <cstring>

#include "storage/intersect.h"

namespace scry::query {

using storage::kEndDocid;

static_assert(BlockCursor<storage::PostingCursor>);

template <BlockCursor Cursor>
CursorIntersection<Cursor>::CursorIntersection(std::vector<Cursor*> cursors)
    : by_df_(std::move(cursors)) {
  std::stable_sort(by_df_.begin(), by_df_.end(),
                   [](const Cursor* a, const Cursor* b) { return a->df() < b->df(); });
}

template <BlockCursor Cursor>
uint32_t CursorIntersection<Cursor>::NextGeq(uint32_t target) {
  for (;;) {
    if (target < next_) {
      while (i_ < n_ && buf_[i_] < target) ++i_;
      if (i_ < n_) return Emit(buf_[i_++]);
      if (next_ > kEndDocid - 1) return kEndDocid;
      target = static_cast<uint32_t>(next_);
    }
    if (!Refill(target)) return kEndDocid;
  }
}

template <BlockCursor Cursor>
uint32_t CursorIntersection<Cursor>::Emit(uint32_t docid) {
  // Every cursor holds `docid` in its current block: in-block moves only.
  for (Cursor* c : by_df_) c->NextGeq(docid);
  return docid;
}

template <BlockCursor Cursor>
bool CursorIntersection<Cursor>::Refill(uint32_t target) {
  n_ = 0;
  i_ = 0;
  Cursor* lead = by_df_[0];
  lead->NextGeq(target);
  const uint32_t lo = lead->docid();
  if (lo == kEndDocid) {
    next_ = uint64_t{kEndDocid} + 1;
    return false;
  }
  uint32_t hi = lead->block_last_docid();
  for (size_t k = 1; k < by_df_.size(); ++k) {
    Cursor* c = by_df_[k];
    c->NextGeq(lo);
    if (c->docid() == kEndDocid) {
      next_ = uint64_t{kEndDocid} + 1;
      return false;
    }
    hi = std::min(hi, c->block_last_docid());
  }
  // Block last docids are below the document count, so hi + 1 does not wrap.
  next_ = uint64_t{hi} + 1;
  const uint32_t* cur = lead->block_docids();
  size_t n = storage::FirstGeq(cur, lead->block_remaining(), hi + 1);
  uint32_t* out = buf_;
  for (size_t k = 1; k < by_df_.size() && n > 0; ++k) {
    Cursor* c = by_df_[k];
    const uint32_t* b = c->block_docids();
    const size_t nb = storage::FirstGeq(b, c->block_remaining(), hi + 1);
    n = storage::Intersect(cur, n, b, nb, out);
    cur = out;
    out = out == buf_ ? tmp_ : buf_;
  }
  if (cur != buf_ && n > 0) std::memcpy(buf_, cur, n * sizeof(uint32_t));
  n_ = static_cast<uint32_t>(n);
  return true;
}

template class CursorIntersection<storage::PostingCursor>;
template class CursorIntersection<MemoryCursor>;

}  // namespace scry::query
