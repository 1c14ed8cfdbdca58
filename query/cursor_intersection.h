// File: query/cursor_intersection.h
//
// CursorIntersection walks the docids common to several posting cursors (the
// docid half of a conjunction or a phrase), a window at a time instead of a
// posting at a time: the rarest cursor leads; a window is the range from its
// next docid to the smallest last docid of the blocks every cursor is on, so
// all of it is decoded in every cursor; the lead's docids in the window are
// intersected with each other cursor's with the kernels of
// storage/intersect.h (the kernel chosen by the ratio of the lengths), and
// the matches are handed out one by one with every cursor moved onto them,
// so that callers can read tfs and positions. Cursors skip whole blocks by
// their headers between windows (NextGeq), so blocks without a candidate are
// never decoded.
//
// A template over the cursor (query/cursor.h: BlockCursor), instantiated in
// cursor_intersection.cc for storage::PostingCursor and query::MemoryCursor.
//
// Thread safety: one thread, like the cursors.
#ifndef SCRY_QUERY_CURSOR_INTERSECTION_H_
#define SCRY_QUERY_CURSOR_INTERSECTION_H_

#include <cstdint>
#include <vector>

#include "query/cursor.h"
#include "query/memory_cursor.h"
#include "storage/block_codec.h"
#include "storage/posting_cursor.h"

namespace scry::query {

template <BlockCursor Cursor>
class CursorIntersection {
 public:
  // REQUIRES: cursors non-empty and not null; they outlive this object and
  // are moved only through it from now on.
  explicit CursorIntersection(std::vector<Cursor*> cursors);
  CursorIntersection(const CursorIntersection&) = delete;
  CursorIntersection& operator=(const CursorIntersection&) = delete;

  // Moves every cursor to the first docid >= target that all of them hold
  // and returns it; storage::kEndDocid if there is none (or a cursor failed:
  // see the cursors' status()). Targets need not ascend between calls, but
  // the cursors never move back, so a smaller target than the last match
  // gives the next match after it.
  uint32_t NextGeq(uint32_t target);

 private:
  // Fills the next window at or after target; false at the end.
  bool Refill(uint32_t target);
  uint32_t Emit(uint32_t docid);

  std::vector<Cursor*> by_df_;  // rarest first
  uint64_t next_ = 0;           // docids below this were covered by earlier windows
  uint32_t n_ = 0;              // matches of the current window in buf_
  uint32_t i_ = 0;              // the next one to hand out
  uint32_t buf_[storage::kBlockSize];
  uint32_t tmp_[storage::kBlockSize];
};

extern template class CursorIntersection<storage::PostingCursor>;
extern template class CursorIntersection<MemoryCursor>;

}  // namespace scry::query

#endif  // SCRY_QUERY_CURSOR_INTERSECTION_H_
