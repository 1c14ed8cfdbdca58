// File: analysis/checkpoints.cc
//
// Checkpoints rely on the Analyzer's tokenizer being restartable: analysing
// from the start of any word gives the same tokens after it as analysing the
// whole text (see query/highlighter.cc for the argument).
#include "analysis/checkpoints.h"

#include "storage/stored_document.h"

namespace scry::analysis {
namespace {

constexpr uint32_t kInterval = storage::kCheckpointInterval;

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Offset in `gap` of the start of its word `skip` (0-based): the shortest
// prefix holding skip + 1 words ends inside that word's first code point.
// `gap` starts at a restart point. gap.size() if it has no such word.
size_t WordStart(std::string_view gap, uint32_t skip, Analyzer* analyzer) {
  if (skip == 0) return 0;
  std::vector<Token> scratch;
  auto holds = [&](size_t m) {
    scratch.clear();
    return analyzer->Analyze(gap.substr(0, m), 0, &scratch) > skip;
  };
  // Exponential, then binary search: O(distance * log distance) bytes.
  size_t lo = 0;  // !holds(lo)
  size_t hi = 1;
  while (hi < gap.size() && !holds(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi >= gap.size()) {
    hi = gap.size();
    if (!holds(hi)) return gap.size();
  }
  while (hi - lo > 1) {  // holds(hi)
    const size_t mid = lo + (hi - lo) / 2;
    (holds(mid) ? hi : lo) = mid;
  }
  size_t start = hi - 1;
  while (start > 0 && IsContinuation(gap[start])) --start;
  return start;
}

}  // namespace

std::vector<uint32_t> PositionCheckpoints(std::string_view text, Analyzer* analyzer) {
  std::vector<Token> tokens;
  const uint32_t end = analyzer->Analyze(text, 0, &tokens);
  return PositionCheckpointsFromTokens(text, tokens, 0, end, analyzer);
}

std::vector<uint32_t> PositionCheckpointsFromTokens(std::string_view text,
                                                    absl::Span<const Token> tokens,
                                                    uint32_t first_position, uint32_t end_position,
                                                    Analyzer* analyzer) {
  std::vector<uint32_t> checkpoints;
  if (end_position <= first_position) return checkpoints;
  const uint32_t words = end_position - first_position;
  checkpoints.reserve((words - 1) / kInterval + 1);
  size_t next = 0;                // first token not before the checkpoint's word
  size_t restart = 0;             // a restart point before that word...
  uint32_t restart_position = 0;  // ... and the position of the word after it
  for (uint32_t target = 0; target < words; target += kInterval) {
    while (next < tokens.size() && tokens[next].position - first_position < target) {
      restart = tokens[next].end;
      restart_position = tokens[next].position - first_position + 1;
      ++next;
    }
    if (next < tokens.size() && tokens[next].position - first_position == target) {
      checkpoints.push_back(tokens[next].begin);
      continue;
    }
    // The word was dropped: find it between the last token and the next.
    const size_t gap_end = next < tokens.size() ? tokens[next].begin : text.size();
    const std::string_view gap = text.substr(restart, gap_end - restart);
    restart += WordStart(gap, target - restart_position, analyzer);
    restart_position = target;
    checkpoints.push_back(static_cast<uint32_t>(restart));
  }
  return checkpoints;
}

}  // namespace scry::analysis
