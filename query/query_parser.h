// File: query/query_parser.h
//
// Parser for the scry query language (Lucene classic style):
//
//   query    := or_expr EOF
//   or_expr  := and_expr ( ( "OR" | <implicit, when default is OR> ) and_expr )*
//   and_expr := unary    ( ( "AND" | <implicit, when default is AND> ) unary )*
//   unary    := "NOT" unary | ("+" | "-")? primary
//   primary  := WORD | '"' words '"' | "(" or_expr ")"
//
// Operators AND, OR, NOT are recognised in upper case only (lower-case "and"
// is a word, as in Lucene). "&&", "||" and "!" are accepted as synonyms.
// `+x` makes x required, `-x` and `NOT x` exclude x. Within one OR group,
// required/excluded/plain clauses become must/must_not/should children; within
// an AND group every plain clause is must. A backslash escapes the next
// character, so `\"` or `\(` are word characters.
//
// Words and phrases go through the Analyzer (the index's own settings):
//   - a word that analyses to nothing (e.g. "!!!") is dropped;
//   - a word that analyses to several terms ("wi-fi") becomes a phrase;
//   - a phrase of one term becomes a term; an empty phrase is dropped.
//
// Errors are InvalidArgument with a message "column C: reason", C being the
// 1-based column in Unicode code points of the offending character:
// empty query, unterminated phrase, unbalanced parenthesis, an operator with
// a missing operand, a query over max_query_bytes or with more than
// max_clauses leaves, and a query with no searchable term or only negative
// clauses.
#ifndef SCRY_QUERY_QUERY_PARSER_H_
#define SCRY_QUERY_QUERY_PARSER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "indexer/analyzer.h"
#include "query/query_tree.h"

namespace scry::query {

enum class DefaultOperator { kOr, kAnd };

struct ParseOptions {
  DefaultOperator default_operator = DefaultOperator::kOr;
  size_t max_query_bytes = 4096;
  size_t max_clauses = 1024;  // leaves (terms + phrases) and also max nesting depth
};

// Parses and analyses `text`. The returned root is always a kBool node (a
// single term `a` parses to (a)). Not thread-safe only in that `analyzer` is
// used; callers pass one analyzer per thread.
absl::StatusOr<std::unique_ptr<QueryNode>> ParseQuery(std::string_view text,
                                                      const ParseOptions& options,
                                                      indexer::Analyzer* analyzer);

}  // namespace scry::query

#endif  // SCRY_QUERY_QUERY_PARSER_H_
