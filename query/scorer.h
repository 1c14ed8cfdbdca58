// File: query/scorer.h
//
// Scorers: document-at-a-time iterators over matching documents of one shard,
// each with a BM25 score, composed into a tree that mirrors the QueryNode
// tree (the shape of Lucene's Scorer). Leaves wrap storage::PostingCursor.
// This is the exhaustive evaluator: every match is visited and scored. It is
// the reference that pruned evaluation (MaxScore, Block-Max WAND) is tested
// against later.
//
// Protocol: after creation a scorer is on its first match (kEndDocid if none);
// Next()/NextGeq() move forward only; Score() is valid while docid() is not
// kEndDocid. Scores of children are summed in child order, so the same tree
// gives bit-identical scores whatever the shard.
//
// Thread safety: a scorer tree belongs to one thread.
#ifndef SCRY_QUERY_SCORER_H_
#define SCRY_QUERY_SCORER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "query/bm25.h"
#include "query/collector.h"
#include "query/cursor.h"
#include "query/deadline.h"
#include "query/deleted_docs.h"
#include "query/doc_bitmap.h"
#include "storage/doc_values.h"
#include "storage/posting_cursor.h"
#include "storage/shard.h"

namespace scry::query {

using storage::kEndDocid;

class Scorer {
 public:
  virtual ~Scorer() = default;
  [[nodiscard]] virtual uint32_t docid() const = 0;
  virtual void Next() = 0;
  virtual void NextGeq(uint32_t target) = 0;
  [[nodiscard]] virtual double Score() = 0;
  // An upper bound of the number of matches (to order conjunctions).
  [[nodiscard]] virtual uint64_t Cost() const = 0;
  // The first read/decode error met by any cursor below (OK if none).
  [[nodiscard]] virtual absl::Status status() const = 0;
  // The cursor of a term scorer (nullptr for the others): conjunctions of
  // terms intersect the cursors directly, a block at a time.
  [[nodiscard]] virtual storage::PostingCursor* term_cursor() { return nullptr; }
  // Term and phrase scorers: the (phrase) frequency in docid(), for
  // explanations; 0 for the others.
  [[nodiscard]] virtual double Freq() { return 0; }
};

// BM25 context shared by the leaves of one shard's tree, and the query's
// deadline for that shard (null: none), which the evaluators' loops poll:
// once it expires they stop as if no match were left.
// Each field has its own BM25 statistics (its average length); a term's
// weight (idf times the query's boost) comes with its scorer.
struct ScoringContext {
  // Ranks ties (RankOrder, RankAfter) and gives phrases their lengths; null
  // for the top-k evaluators over in-memory cursors (ties then by docid).
  const storage::ShardReader* shard;
  Bm25 bm25;  // the catch-all field's
  Deadline* deadline = nullptr;
  std::vector<Bm25> field_bm25;  // by the shard's field id; missing ones use `bm25`
  RankAfter after;               // for every top-k heap of the shard
  // The shard's deleted documents (a live index, query/deleted_docs.h), which
  // never match; null if it has none, so a shard without deletes pays one
  // test of a null pointer per candidate.
  const DeletedDocs* deleted = nullptr;
  // The documents the search's filter lets through (query/doc_bitmap.h);
  // null: every document.
  const DocBitmap* filter = nullptr;

  [[nodiscard]] bool Expired() const { return deadline != nullptr && deadline->Expired(); }
  // Whether `docid` can never match: deleted, or kept out by the filter.
  [[nodiscard]] bool Excluded(uint32_t docid) const {
    return (deleted != nullptr && deleted->Contains(docid)) ||
           (filter != nullptr && !filter->Contains(docid));
  }
  [[nodiscard]] const Bm25& Of(uint8_t field) const {
    return field < field_bm25.size() ? field_bm25[field] : bm25;
  }
  // The BM25 score of the posting `cursor` is on, with weight `idf`; the
  // document's length comes from the cursor, so any conforming cursor scores
  // without a shard.
  template <ScoredCursor Cursor>
  [[nodiscard]] double Score(Cursor& cursor, double idf) const {
    return Of(cursor.field()).Score(idf, cursor.freq(), cursor.doc_length());
  }
};

std::unique_ptr<Scorer> NewTermScorer(std::unique_ptr<storage::PostingCursor> cursor, double idf,
                                      const ScoringContext* ctx);
// `offsets[i]` is the position of cursor i's term relative to the phrase
// start; the cursors may be the phrase's words or, with slop 0, pairs of
// them (ShardQuery::PhraseLists) that cover it; `idf` is the words'. With
// slop 0 a document matches where the terms occur at exactly those offsets
// and tf is the number of such occurrences. With slop > 0 it matches where
// they occur within `slop` moves of them (Lucene's sloppy phrase: for term
// positions p_i, the match length max(p_i - offsets[i]) - min(p_i -
// offsets[i]) is at most slop, so swapping two adjacent terms costs 2), and
// tf is the sum over matches of 1 / (1 + match length).
std::unique_ptr<Scorer> NewPhraseScorer(
    std::vector<std::unique_ptr<storage::PostingCursor>> cursors, std::vector<uint32_t> offsets,
    uint32_t slop, double idf, const ScoringContext* ctx);
// Matches the documents whose values of a numeric column lie in `range`;
// scores 0 (a typed clause, QueryNode::kRange). `column` must outlive it.
std::unique_ptr<Scorer> NewRangeScorer(const storage::DocValuesColumn* column,
                                       storage::KeyRange range);
// Matches documents matched by all children. REQUIRES: children non-empty.
std::unique_ptr<Scorer> NewConjunctionScorer(std::vector<std::unique_ptr<Scorer>> children);
// Matches documents matched by any child. REQUIRES: children non-empty.
std::unique_ptr<Scorer> NewDisjunctionScorer(std::vector<std::unique_ptr<Scorer>> children);
// Matches `required` documents not matched by `excluded`; scores as required.
std::unique_ptr<Scorer> NewExclusionScorer(std::unique_ptr<Scorer> required,
                                           std::unique_ptr<Scorer> excluded);
// Matches `required` documents; adds `optional`'s score where it matches too.
std::unique_ptr<Scorer> NewOptionalScorer(std::unique_ptr<Scorer> required,
                                          std::unique_ptr<Scorer> optional);

}  // namespace scry::query

#endif  // SCRY_QUERY_SCORER_H_
