// File: query/rewrite.h
//
// Rewrites of a parsed query that need the index or the request, applied by
// the Searcher between parsing and evaluation:
//
//   1. ApplyDefaultFields: leaves without a field search the request's
//      default fields. With one default field the leaf takes it (and its
//      weight as a boost); with several it becomes an OR of one copy per
//      field. Scores of the fields add up: per-field BM25, summed (the
//      "most fields" model of Elasticsearch's multi_match), not BM25F; see
//      README "Fields" for why.
//   2. ExpandMultiTerms: prefix (`secur*`) and fuzzy (`medvedv~1`) leaves
//      become an OR of the dictionary terms they match, read through a
//      TermSource (all shards of the index). A leaf matching more than
//      max_expansions terms keeps the max_expansions of highest document
//      frequency and the result says it was truncated. A leaf that matches
//      nothing becomes an empty group (it matches nothing). A query whose
//      leaves expand to more than max_total_expansions terms in all is
//      refused (InvalidArgument): each leaf's own limit keeps the leaf's
//      best terms, but cutting a query's total would have to drop whole
//      leaves or starve the later ones, a different query than the one
//      asked, so the client is told to narrow it instead (as Lucene's
//      TooManyClauses does).
//   3. FlattenDisjunctions: an OR group that is an optional (should) child of
//      another group is merged into it: the same matches and scores, and a
//      flat OR of terms is what dynamic pruning evaluates fastest.
#ifndef SCRY_QUERY_REWRITE_H_
#define SCRY_QUERY_REWRITE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "query/query_tree.h"

namespace scry::query {

struct FieldWeight {
  std::string field;  // a named field of the index
  double weight = 1.0;
};

// Gives every leaf of `root` without a field the `fields` (see above).
// REQUIRES: fields non-empty, weights > 0.
void ApplyDefaultFields(QueryNode* root, const std::vector<FieldWeight>& fields);

// The terms of the index's dictionary, merged over shards.
class TermSource {
 public:
  virtual ~TermSource() = default;
  // Calls fn(term, document frequency in the whole index) for every term of
  // `field` ("" = the catch-all) that starts with `prefix`, in byte order,
  // until fn returns false. Errors are the index's (or the deadline's).
  virtual absl::Status Scan(const std::string& field, std::string_view prefix,
                            const std::function<bool(std::string_view, uint64_t)>& fn) const = 0;
};

struct ExpansionOptions {
  size_t max_expansions = 1000;      // terms per prefix leaf
  size_t max_fuzzy_expansions = 50;  // terms per fuzzy leaf (Lucene's default)
  // Terms all prefix and fuzzy leaves of one query expand to together
  // (after each leaf's own limit); past it the query is refused, not
  // truncated. 0: no limit.
  size_t max_total_expansions = 10000;
};

struct ExpansionResult {
  bool truncated = false;  // some leaf matched more terms than it kept
  size_t terms = 0;        // terms added in all
};

// Rewrite 2 (see above) of every prefix and fuzzy leaf of `root`, adding to
// *result. InvalidArgument ("column C: ...", at the first leaf over the
// limit) once the leaves expand to more than options.max_total_expansions
// terms in all; the source's errors.
absl::Status ExpandMultiTerms(QueryNode* root, const TermSource& source,
                              const ExpansionOptions& options, ExpansionResult* result);

void FlattenDisjunctions(QueryNode* node);

// The optimal-string-alignment distance (Levenshtein plus transpositions of
// two adjacent characters, as Lucene's fuzzy queries count) between the
// code point sequences a and b, or max + 1 if it is more than max.
uint32_t BoundedEditDistance(const std::u32string& a, const std::u32string& b, uint32_t max);

// The code points of UTF-8 `s` (an invalid byte becomes U+FFFD).
std::u32string DecodeUtf8(std::string_view s);

}  // namespace scry::query

#endif  // SCRY_QUERY_REWRITE_H_
