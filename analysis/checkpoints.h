// File: analysis/checkpoints.h
//
// Position checkpoints of a stored text (storage/stored_document.h): the
// byte offset of every storage::kCheckpointInterval-th word, computed at
// index time with the index's analyzer, so that snippets
// (query/highlighter.h) analyse only the text near a match.
#ifndef SCRY_ANALYSIS_CHECKPOINTS_H_
#define SCRY_ANALYSIS_CHECKPOINTS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/types/span.h"
#include "analysis/analyzer.h"

namespace scry::analysis {

// The position checkpoints of `text` (see storage/stored_document.h): element
// k is the byte offset of a point where analysing text.substr(offset) from
// position k * storage::kCheckpointInterval gives exactly the tokens that
// analysing the whole text from 0 gives there: the start of the word at that
// position. One element per kCheckpointInterval words, counting words the
// analyzer drops (over-long words, stopwords); empty for a text without words.
std::vector<uint32_t> PositionCheckpoints(std::string_view text, Analyzer* analyzer);

// The same from the tokens the caller already has: `tokens` are those that
// analyzer->Analyze(text, first_position, &tokens) appended, and
// `end_position` what it returned (as the index builder has them). Analyses
// again only where a checkpoint falls on a dropped word (rare; a few bytes
// around it).
// REQUIRES: `analyzer` has the settings that produced `tokens`.
std::vector<uint32_t> PositionCheckpointsFromTokens(std::string_view text,
                                                    absl::Span<const Token> tokens,
                                                    uint32_t first_position, uint32_t end_position,
                                                    Analyzer* analyzer);

}  // namespace scry::analysis

#endif  // SCRY_ANALYSIS_CHECKPOINTS_H_
