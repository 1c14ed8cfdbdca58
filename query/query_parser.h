// File: query/query_parser.h
//
// Parser for the scry query language (Lucene classic style):
//
//   query    := or_expr EOF
//   or_expr  := and_expr ( ( "OR" | <implicit, when default is OR> ) and_expr )*
//   and_expr := unary    ( ( "AND" | <implicit, when default is AND> ) unary )*
//   unary    := "NOT" unary | ("+" | "-")? primary
//   primary  := [FIELD ":"] (WORD ["*"] | '"' words '"' | "(" or_expr ")") ["~" [N]] ["^" N]
//
// `field:` scopes a word, phrase or group to a named field (an inner field
// wins); FIELD is storage::IsFieldName and must be in known_fields when that
// is set ("12:30" is a word: 12 is not a field name). `word*` is a prefix
// query (kPrefix, the word case-folded, not stemmed; '*' elsewhere in a word
// is an error). `word~N` (N 0..2, default 2) is a fuzzy query (kFuzzy; 0 is a
// plain word), `"phrase"~N` a sloppy phrase (N up to 1000). `^N` multiplies the
// scores of every leaf below by N (0 < N <= 1e6). Prefix and fuzzy words must
// analyse to one word; punctuation before '*' or '~' is dropped like "...".
// '~' and '^' end a word.
//
// Typed fields (scry index --schema): after `name:` of a typed field comes
// one value, taken as written (not analysed): up to whitespace or ')', or a
// "quoted value" (backslash escapes), or a range in brackets. A keyword
// field matches documents with that exact value (kKeyword: `lang:en`,
// `tag:"big data"`); a numeric or date field takes storage::ParseRange's
// forms (kRange: `year:2004`, `year:[2001 TO 2009]`, `year:{2001 TO *]`,
// `price:>10`, `price:<=9.5`, `published:[2020-01-01T00:00:00Z TO *]`).
// Typed clauses combine with the rest by AND/OR/NOT like any clause, match
// without scoring (score 0), and take no '~', '*' or group: write
// `(lang:en OR lang:de)`, not `lang:(en OR de)`.
//
// Operators AND, OR, NOT are recognised in upper case only (lower-case "and"
// is a word, as in Lucene), and only as whole words; "&&" and "||" likewise.
// "!" is NOT, and "+" and "-" are modifiers, where a token starts (after
// whitespace, "(", ")" or a phrase); inside a word ("wi-fi", "a!b") they are
// word characters. A modifier binds to the next clause even across
// whitespace ("a - b" is "a -b"). Tokens are separated by ASCII whitespace;
// "(", ")" and '"' also end a word.
// `+x` makes x required, `-x` and `NOT x` exclude x. Within one OR group,
// required/excluded/plain clauses become must/must_not/should children; within
// an AND group every plain clause is must. Each NOT flips exclusion: NOT +x is
// -x, NOT -x and NOT NOT x are plain x. A backslash escapes the next
// character, so `\"` or `\(` are word characters (inside a phrase too) and
// `\AND` is the word "and"; a final backslash is an ordinary character.
//
// The tree keeps the groups the query spells: parentheses and runs of AND
// become nested kBool nodes, but a group left with one must or should child
// (and nothing else) is replaced by that child, and a root with a single leaf
// is (leaf) with the leaf as should, whatever its modifier ("+a" is (a)).
//
// Words and phrases go through the Analyzer (the index's own settings):
//   - a word that analyses to nothing (e.g. "..." or "***") is dropped, and
//     so is a group left empty by dropping;
//   - a word that analyses to several terms ("wi-fi") becomes a phrase;
//   - a phrase of one term becomes a term; an empty phrase is dropped.
//
// Errors are InvalidArgument with a message "column C: reason", C being the
// 1-based column in Unicode code points of the offending character (UTF-8
// lead bytes are counted; invalid bytes never fail, the analyzer treats them
// as separators):
// empty query, unterminated phrase (the opening quote), unbalanced "(" or
// unexpected ")", empty parentheses, an operator with a missing operand (the
// operator: "a AND" and "AND a" both point at AND), a query over
// max_query_bytes or with more than max_clauses leaves (the first character
// or leaf over the limit), parentheses nested deeper than max_clauses (and
// never deeper than 1024, to bound recursion), and a query with no
// searchable term (column 1) or only negative clauses (column 1; also a
// parenthesised group or a run of AND whose clauses are all negative, at its
// first character, since such a group would match nothing).
#ifndef SCRY_QUERY_QUERY_PARSER_H_
#define SCRY_QUERY_QUERY_PARSER_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/analyzer.h"
#include "query/query_tree.h"
#include "storage/doc_values.h"

namespace scry::query {

enum class DefaultOperator { kOr, kAnd };

// The typed fields of an index by name (ParseOptions::typed_fields).
using TypedFields = std::map<std::string, storage::FieldType, std::less<>>;

struct ParseOptions {
  DefaultOperator default_operator = DefaultOperator::kOr;
  size_t max_query_bytes = 4096;
  size_t max_clauses = 1024;  // leaves (terms + phrases); nesting is capped at min(this, 100)
  // The named fields `name:` may refer to; null accepts any name (the
  // caller checks later).
  const std::vector<std::string>* known_fields = nullptr;
  // The typed fields of the index (storage/doc_values.h), by name; null or
  // empty: none. `name:` of one of them takes a value, not words (below).
  const TypedFields* typed_fields = nullptr;
};

// Parses and analyses `text`. The returned root is always a kBool node (a
// single term `a` parses to (a)). Thread-safe as long as concurrent callers
// pass different analyzers (an Analyzer is single-threaded).
absl::StatusOr<std::unique_ptr<QueryNode>> ParseQuery(std::string_view text,
                                                      const ParseOptions& options,
                                                      analysis::Analyzer* analyzer);

}  // namespace scry::query

#endif  // SCRY_QUERY_QUERY_PARSER_H_
