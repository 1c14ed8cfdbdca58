// File: query/highlighter.h
//
// Snippets for search hits: fragments of a stored text field around the
// words that matched, with those words marked by configurable tags.
//
// Matches are found by position, not by re-scanning the document: the
// postings give the word positions of the query terms in a hit, and the
// field's position checkpoints (stored with the document, see
// storage/stored_document.h) give the byte offset of every
// kCheckpointInterval-th word. A fragment is analysed from the nearest
// checkpoint before it and only as far as it reaches, so the work per hit is
// bounded by the fragment length, not the document length (HighlightStats).
//
// Marks go around the surface word as written in the document (a query for
// "cooperating", term "cooper", marks "cooperation"), never around a stem.
//
// Example:
//   std::vector<uint32_t> checkpoints = PositionCheckpoints(body, analyzer);  // at index time
//   ...
//   std::vector<std::string> fragments =
//       Highlight(body, checkpoints, positions_of_query_terms, {"cooper"}, {}, analyzer);
//   // {"the towns had never managed before: <em>cooperation</em>. Each town kept"}
#ifndef SCRY_QUERY_HIGHLIGHTER_H_
#define SCRY_QUERY_HIGHLIGHTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "analysis/analyzer.h"
#include "analysis/checkpoints.h"
#include "storage/stored_document.h"

namespace scry::query {

// Bounds of HighlightOptions::fragment_chars and max_fragments; Highlight
// clamps to them, and a server should reject requests outside them.
inline constexpr uint32_t kMinFragmentChars = 20;
inline constexpr uint32_t kMaxFragmentChars = 10000;
inline constexpr uint32_t kMaxFragments = 32;
// Longest pre_tag or post_tag a server accepts, in bytes: every marked word
// carries both, so a long tag multiplies the size of a response.
inline constexpr size_t kMaxTagBytes = 64;

struct HighlightOptions {
  // Put around every marked word. The text is NOT HTML-escaped (nor are the
  // tags): a client showing fragments as HTML escapes the text between tags.
  std::string pre_tag = "<em>";
  std::string post_tag = "</em>";
  // Upper bound of a fragment's length in Unicode characters (code points) of
  // the text, tags not counted; clamped to [kMinFragmentChars,
  // kMaxFragmentChars].
  uint32_t fragment_chars = 160;
  // Most fragments returned per text, at most kMaxFragments; 0 for none.
  uint32_t max_fragments = 1;
  // With no match (no positions, or none of them a query term), return the
  // text's leading fragment instead of nothing.
  bool no_match_fragment = false;
};

struct HighlightStats {
  uint64_t bytes_analyzed = 0;  // bytes of text given to Analyzer::Analyze
};

// PositionCheckpoints and PositionCheckpointsFromTokens (index time) are in
// analysis/checkpoints.h.

// Up to options.max_fragments fragments of `text` around its matches, in
// document order, with every word whose analysed term is in `query_terms`
// wrapped in options.pre_tag / post_tag (marked words with nothing between
// them, as in 東京, share one pair).
//
// `match_positions` are the word positions (relative to the start of `text`,
// as Analyze(text, 0, ...) numbers them) of the query terms in this text,
// from the postings; sorted or not, duplicates allowed. `query_terms` are the
// analysed query terms (what Analyze gives, e.g. stems). `checkpoints` are the
// text's PositionCheckpoints; empty (an index from before them) works too, but
// then the text is analysed from its start up to the last fragment (slower on
// long texts). Garbage checkpoints (not nondecreasing, or past the text)
// count as none.
//
// Choice: a window starts at a matched word and runs up to fragment_chars
// characters; windows are ranked by the number of distinct query terms at
// their match positions, then the number of matches, then earliest; the best
// ones that do not overlap become fragments. When a text has many matches
// (more than max(16, 4 * max_fragments)), only windows around the densest
// stretches of positions are considered, so the work stays bounded (a lone
// match of a rare term amid many of a common one may then be passed over;
// HighlightByTerm ranks stretches by distinct terms first). Each fragment is
// then widened by whole words on both sides (half the unused length each
// side; the rest to the right) plus adjacent ASCII punctuation, up to
// fragment_chars characters in all. A fragment starts at the start of a
// word (or punctuation before it) and ends at the end of one (or punctuation
// after it), so it never cuts a UTF-8 sequence; only a matched word longer
// than fragment_chars is cut (at a character boundary). No ellipsis is added.
//
// Returns nothing for an empty text, for max_fragments == 0, and for no
// match unless no_match_fragment. Adds to *stats if given.
// Thread safety: as `analyzer`'s (one call at a time per analyzer).
std::vector<std::string> Highlight(std::string_view text, const std::vector<uint32_t>& checkpoints,
                                   const std::vector<uint32_t>& match_positions,
                                   const absl::flat_hash_set<std::string>& query_terms,
                                   const HighlightOptions& options, analysis::Analyzer* analyzer,
                                   HighlightStats* stats = nullptr);

// As Highlight, with the positions of each query term in a list of its own
// (as the postings give them; the lists may share positions). Where a text
// has many matches, the stretches considered are those with the most distinct
// terms, then the most matches, so the best windows are found there too.
std::vector<std::string> HighlightByTerm(std::string_view text,
                                         const std::vector<uint32_t>& checkpoints,
                                         const std::vector<std::vector<uint32_t>>& term_positions,
                                         const absl::flat_hash_set<std::string>& query_terms,
                                         const HighlightOptions& options,
                                         analysis::Analyzer* analyzer,
                                         HighlightStats* stats = nullptr);

}  // namespace scry::query

#endif  // SCRY_QUERY_HIGHLIGHTER_H_
