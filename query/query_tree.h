// File: query/query_tree.h
//
// The parsed, analysed form of a query, in the shape of Lucene's
// BooleanQuery: leaves are single terms or phrases; an inner node has MUST,
// SHOULD and MUST_NOT children.
//
// Matching semantics of a kBool node:
//   - a document matches if it matches every `must` child, no `must_not`
//     child, and: if `must` is empty, at least one `should` child;
//     if `must` is non-empty, `should` children are optional.
//   - its score is the sum of the scores of the matching must and should
//     children (must_not children never score).
// A node with only must_not children matches nothing; the parser rejects a
// query whose root is such a node.
#ifndef SCRY_QUERY_QUERY_TREE_H_
#define SCRY_QUERY_QUERY_TREE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/doc_values.h"

namespace scry::query {

struct QueryNode {
  // kPrefix and kFuzzy are expanded by the Searcher into a kBool of kTerm
  // leaves (terms of the index's dictionary) before evaluation. kKeyword and
  // kRange are clauses on typed fields (`lang:en`, `year:[2001 TO 2009]`):
  // they match but never score (0), as a filter does.
  enum class Kind { kTerm, kPhrase, kPrefix, kFuzzy, kBool, kKeyword, kRange };

  Kind kind = Kind::kBool;

  // kTerm: the one analysed term. kPhrase: the analysed terms in order.
  // kPrefix: the case-folded (unstemmed) prefix. kFuzzy: the case-folded
  // word, then its analysed (stemmed) term.
  std::vector<std::string> terms;
  // kKeyword: the one exact value (not analysed).
  // kPhrase: the position of each term relative to the first (0, 1, 2, ...
  // with gaps where a word was dropped by analysis), same length as terms.
  std::vector<uint32_t> positions;

  // Leaves: the named field searched, "" for the request's default fields.
  std::string field;
  // Leaves: the score is multiplied by this (query-time boost, `^2`).
  double boost = 1.0;
  // kPhrase: the largest edit distance of positions that still matches
  // (`"a b"~3`, Lucene's slop; 0 = exact phrase).
  uint32_t slop = 0;
  // kFuzzy: the largest edit distance of a matching term (1 or 2).
  uint32_t max_edits = 0;
  // kRange: the sort keys (storage/doc_values.h) a value of `field` must lie
  // between, inclusive.
  storage::KeyRange range;
  // Leaves: the 1-based column of the leaf in the query text, for errors
  // found after parsing (unknown field, too many expansions).
  uint32_t column = 0;

  // kBool children.
  std::vector<std::unique_ptr<QueryNode>> must;
  std::vector<std::unique_ptr<QueryNode>> should;
  std::vector<std::unique_ptr<QueryNode>> must_not;

  static std::unique_ptr<QueryNode> Term(std::string term);
  static std::unique_ptr<QueryNode> Phrase(std::vector<std::string> terms,
                                           std::vector<uint32_t> positions);
  static std::unique_ptr<QueryNode> Bool();

  [[nodiscard]] bool is_leaf() const { return kind != Kind::kBool; }
  // kKeyword or kRange: a leaf that matches without scoring.
  [[nodiscard]] bool is_typed() const { return kind == Kind::kKeyword || kind == Kind::kRange; }
  // A deep copy.
  [[nodiscard]] std::unique_ptr<QueryNode> Clone() const;

  // A compact, stable text form for tests and logs, e.g.
  //   (+a +"b c" d -e)   term: a   phrase: "b c"
  // Bool children are printed must first (+), then should (bare), then
  // must_not (-), each group in query order. A phrase prints one "?" per
  // position gap, as Lucene does: terms a, b at positions 0, 2 are "a ? b".
  // Leaves print their field (`title:a`), slop (`"a b"~2`), prefix (`sec*`),
  // fuzziness (`word~1`, the folded word) and boost (`a^2`) when set; a
  // keyword clause prints `field:=value`, a range `field:[lo TO hi]` in sort
  // keys.
  std::string DebugString() const;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_QUERY_TREE_H_
