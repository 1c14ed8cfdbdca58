// File: query/cursor.h
//
// The cursor concepts: what the query evaluators (query/maxscore.h,
// query/cursor_intersection.h) ask of a posting cursor, so that they are
// templates over any conforming cursor and never name a codec or a shard
// (as PISA's evaluators are, include/pisa/concepts/posting_cursor.hpp). Two
// cursors conform: storage::PostingCursor, over a RocksDB shard, and
// query::MemoryCursor (query/memory_cursor.h), over plain vectors, which the
// evaluators are tested on against an exhaustive reference.
//
// The concepts refine each other:
//
//   SortedCursor     docid(), Next(), NextGeq(), df(), status()
//   ScoredCursor     + freq(), field(), doc_length(): what BM25 needs
//   BlockCursor      + the decoded docids of the current block: what the
//                    block-at-a-time intersection (CursorIntersection) needs
//   BlockMaxCursor   both, + impact bounds of the list and of blocks ahead
//                    (shallow moves): what MaxScore, Block-Max WAND and
//                    block-max AND (which intersects) prune with
//
// Protocol common to all (a cursor is used by one thread):
//
//   docid()   The current document. After construction the cursor is on its
//             first posting; docid() is storage::kEndDocid once exhausted.
//   Next()    Moves to the next posting (the end after the last one).
//             REQUIRES: docid() != kEndDocid.
//   NextGeq(target)
//             Moves the cursor to the first posting whose docid is >= target.
//             If the current docid already is, the cursor does not move. It
//             never moves backwards.
//   df()      The number of postings of the list (the rarest list leads an
//             intersection).
//   status()  OK, or the first read/decode error: on an error the cursor
//             jumps to kEndDocid and stays there. Evaluators check status()
//             of every cursor when they finish.
//
//   freq()    The term frequency in docid(), >= 1. REQUIRES: docid() !=
//             kEndDocid. May decode, hence not const.
//   field()   The field the list belongs to (its BM25 statistics).
//   doc_length()
//             The length of docid() in field() (BM25's dl). REQUIRES: docid()
//             != kEndDocid. The length source is the cursor's, so that scoring
//             costs one load and needs no shard.
//
//   block_last_docid()
//             The last docid of the block the cursor is on (kEndDocid once
//             exhausted): NextGeq to a target up to it stays in the block.
//   block_docids(), block_remaining()
//             The docids of the current block from the current posting on:
//             block_docids()[0] == docid(), block_remaining() of them, strictly
//             ascending (0 once exhausted). Valid until the cursor leaves the
//             block.
//
//   ListImpacts(&impacts)
//             Replaces impacts with (tf, dl) pairs bounding every posting of
//             the list (storage::Impact: each posting is dominated by one).
//   ShallowNextGeq(target) -> last docid
//             Moves the shallow position, without decoding or moving the
//             cursor, to the block that holds the postings >= target the
//             cursor would reach (the current block if target <= its last
//             docid) and returns that block's last docid: kEndDocid if no
//             posting is >= target (or on an error, which status() then
//             holds). REQUIRES: targets of successive calls do not decrease.
//   ShallowBlockImpacts(&impacts)
//             Replaces impacts with a bound of every posting of that block.
//             REQUIRES: follows a ShallowNextGeq that returned a docid, with
//             no move in between.
#ifndef SCRY_QUERY_CURSOR_H_
#define SCRY_QUERY_CURSOR_H_

#include <concepts>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "storage/posting_format.h"

namespace scry::query {

template <typename C>
concept SortedCursor = requires(C& c, const C& cc, uint32_t target) {
  { cc.docid() } -> std::same_as<uint32_t>;
  c.Next();
  c.NextGeq(target);
  { cc.df() } -> std::convertible_to<uint64_t>;
  { cc.status() } -> std::convertible_to<const absl::Status&>;
};

template <typename C>
concept ScoredCursor = SortedCursor<C> && requires(C& c, const C& cc) {
  { c.freq() } -> std::convertible_to<uint32_t>;
  { cc.field() } -> std::convertible_to<uint8_t>;
  { cc.doc_length() } -> std::convertible_to<uint32_t>;
};

template <typename C>
concept BlockCursor = SortedCursor<C> && requires(const C& cc) {
  { cc.block_last_docid() } -> std::same_as<uint32_t>;
  { cc.block_docids() } -> std::same_as<const uint32_t*>;
  { cc.block_remaining() } -> std::convertible_to<uint32_t>;
};

template <typename C>
concept BlockMaxCursor = ScoredCursor<C> && BlockCursor<C> &&
    requires(C& c, uint32_t target, std::vector<storage::Impact>* impacts) {
  { c.ListImpacts(impacts) } -> std::same_as<absl::Status>;
  { c.ShallowNextGeq(target) } -> std::same_as<uint32_t>;
  { c.ShallowBlockImpacts(impacts) } -> std::same_as<absl::Status>;
};

// A term of a top-k evaluation: its cursor (not owned, not null) and its
// weight (idf times the query's boost).
template <typename Cursor>
struct TermCursor {
  Cursor* cursor;
  double idf = 0;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_CURSOR_H_
