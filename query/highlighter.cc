// File: query/highlighter.cc
//
// Snippets (see highlighter.h). Two facts about analysis::Analyzer make
// checkpoints work:
//   - Its tokenizer scans left to right and decides a word from the word's
//     bytes and at most two code points after it (an apostrophe and the
//     letter after it, 7 bytes), so analysing from the start of any word, or
//     from the end of any token, gives the same tokens after it as analysing
//     from the start of the text ("restart points"); and a prefix of the
//     text cut at `cut` gives the same tokens as the whole text for every
//     token that ends by cut - kLookahead.
//   - An emitted token is at most kMaxTokenBytes long, so every token that
//     begins before cut - kTrust ends by cut - kLookahead.
// A TokenStream analyses on from a restart point in pieces, keeping only the
// tokens proven exact, so whatever piece sizes it takes, its tokens are those
// of a full analysis; fragments are then chosen by positions and characters
// only, never by what a stream happens to hold, so a Highlight with
// checkpoints returns exactly what one without them returns.
#include "query/highlighter.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace scry::query {
namespace {

using analysis::Token;

constexpr uint32_t kInterval = storage::kCheckpointInterval;
constexpr size_t kLookahead = 8;
constexpr size_t kTrust = analysis::kMaxTokenBytes + kLookahead;
// Characters per word (with its separator) assumed when guessing how many
// positions a fragment spans, to pick the densest stretches of many matches.
constexpr uint32_t kCharsPerWord = 6;
// ASCII punctuation added to a fragment on either side, at most.
constexpr size_t kMaxPunctuation = 3;

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Code points in text[begin, end) (UTF-8 lead bytes).
size_t CountChars(std::string_view text, size_t begin, size_t end) {
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) n += IsContinuation(text[i]) ? 0 : 1;
  return n;
}

// The offset `chars` code points after `begin`, or text.size().
size_t AdvanceChars(std::string_view text, size_t begin, size_t chars) {
  size_t pos = begin;
  for (; chars > 0 && pos < text.size(); --chars) {
    ++pos;
    while (pos < text.size() && IsContinuation(text[pos])) ++pos;
  }
  return pos;
}

bool IsAsciiPunctuation(char c) {
  return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
         !(c >= 'A' && c <= 'Z');
}

// Tokens of `text` from a restart point on, analysed lazily and exactly.
class TokenStream {
 public:
  TokenStream(std::string_view text, size_t offset, uint32_t position, analysis::Analyzer* analyzer,
              HighlightStats* stats)
      : text_(text),
        analyzer_(analyzer),
        stats_(stats),
        start_(offset),
        resume_offset_(offset),
        resume_position_(position),
        covered_(offset) {}

  size_t start() const { return start_; }
  // Every token that begins in [start(), covered()) is in tokens().
  size_t covered() const { return covered_; }
  // In text order; offsets into the whole text.
  const std::vector<Token>& tokens() const { return tokens_; }

  // Analyses on so that every token beginning before `until` is in tokens().
  void ExtendToByte(size_t until) {
    if (until <= covered_) return;
    const size_t cut = std::min(text_.size(), until + kTrust);
    scratch_.clear();
    analyzer_->Analyze(text_.substr(resume_offset_, cut - resume_offset_), resume_position_,
                       &scratch_);
    stats_->bytes_analyzed += cut - resume_offset_;
    const size_t kept = tokens_.size();
    for (Token& token : scratch_) {
      token.begin += static_cast<uint32_t>(resume_offset_);
      token.end += static_cast<uint32_t>(resume_offset_);
      if (cut < text_.size() && token.end + kLookahead > cut) break;  // maybe cut short
      tokens_.push_back(std::move(token));
    }
    if (tokens_.size() > kept) {  // resume after the last token kept
      resume_offset_ = tokens_.back().end;
      resume_position_ = tokens_.back().position + 1;
    }
    covered_ = cut == text_.size() ? cut : cut - kTrust;
  }

  // Analyses on until tokens() holds a token at `position` or later, or the
  // text ends.
  void ExtendToPosition(uint32_t position) {
    // About 8 bytes a word to start with, then doubling.
    const uint32_t have = tokens_.empty() ? resume_position_ : tokens_.back().position;
    size_t step = std::max<size_t>(256, (size_t{position} - std::min(position, have) + 1) * 8);
    while ((tokens_.empty() || tokens_.back().position < position) && covered_ < text_.size()) {
      ExtendToByte(covered_ + step);
      step *= 2;
    }
  }

 private:
  const std::string_view text_;
  analysis::Analyzer* const analyzer_;
  HighlightStats* const stats_;
  const size_t start_;
  size_t resume_offset_;      // a restart point after the last token kept...
  uint32_t resume_position_;  // ... and the position of the word after it
  size_t covered_;
  std::vector<Token> tokens_;
  std::vector<Token> scratch_;
};

// A window of matches: tokens [first, last] of a stream, the bytes
// [begin, end) from the first's start to the last's end (or a cut of an
// over-long first), and its rank.
struct Window {
  size_t stream;
  size_t first;
  size_t last;
  size_t begin;
  size_t end;
  uint32_t distinct;
  uint32_t matches;
};

// A match position and the index of its query term (0 for all when the
// caller did not tell them apart).
struct Match {
  uint32_t position;
  uint32_t term;
};

// Anchor positions whose windows are considered, each with the last
// position a window may start at from it: every match when there are few,
// else the starts of the stretches of `span` positions with the most
// distinct terms, then the most matches, that do not overlap.
// REQUIRES: `matches` sorted by position, positions distinct.
std::vector<std::pair<uint32_t, uint32_t>> ChooseAnchors(const std::vector<Match>& matches,
                                                         uint32_t span, size_t limit) {
  std::vector<std::pair<uint32_t, uint32_t>> anchors;
  if (matches.size() <= limit) {
    for (const Match& m : matches) anchors.emplace_back(m.position, m.position);
    return anchors;
  }
  struct Stretch {
    uint32_t distinct, count, position;
  };
  std::vector<Stretch> stretches;
  stretches.reserve(matches.size());
  uint32_t terms = 0;
  for (const Match& m : matches) terms = std::max(terms, m.term + 1);
  std::vector<uint32_t> in_stretch(terms);  // matches of each term in [i, j)
  uint32_t distinct = 0;
  for (size_t i = 0, j = 0; i < matches.size(); ++i) {
    for (; j < matches.size() &&
           uint64_t{matches[j].position} <= uint64_t{matches[i].position} + span;
         ++j) {
      distinct += in_stretch[matches[j].term]++ == 0 ? 1 : 0;
    }
    stretches.push_back({distinct, static_cast<uint32_t>(j - i), matches[i].position});
    distinct -= --in_stretch[matches[i].term] == 0 ? 1 : 0;
  }
  std::sort(stretches.begin(), stretches.end(), [](const Stretch& a, const Stretch& b) {
    if (a.distinct != b.distinct) return a.distinct > b.distinct;
    if (a.count != b.count) return a.count > b.count;
    return a.position < b.position;
  });
  for (const Stretch& s : stretches) {
    if (anchors.size() == limit) break;
    const uint64_t p = s.position;
    const bool apart = std::all_of(anchors.begin(), anchors.end(), [&](const auto& a) {
      return p > uint64_t{a.second} || uint64_t{a.first} > p + span;
    });
    if (apart)
      anchors.emplace_back(s.position,
                           static_cast<uint32_t>(std::min<uint64_t>(p + span, UINT32_MAX)));
  }
  std::sort(anchors.begin(), anchors.end());
  return anchors;
}

// Widens window `w` to a fragment [*begin, *end) of at most `limit`
// characters (see Highlight), inside [left_clip, right_clip).
void Widen(std::string_view text, const std::vector<Token>& tokens, const Window& w, uint32_t limit,
           bool center, size_t left_clip, size_t right_clip, size_t* begin, size_t* end) {
  *begin = w.begin;
  *end = w.end;
  const size_t core = CountChars(text, w.begin, w.end);
  if (core >= limit) return;
  const size_t slack = limit - core;
  const size_t left_budget = center ? slack / 2 : 0;
  size_t left = 0;  // characters added on the left
  for (size_t i = w.first; i-- > 0;) {
    const Token& t = tokens[i];
    if (t.begin < left_clip) break;
    const size_t chars = left + CountChars(text, t.begin, *begin);
    if (chars > left_budget) break;
    left = chars;
    *begin = t.begin;
  }
  for (size_t n = 0; n < kMaxPunctuation && left<left_budget&& * begin> left_clip &&
                     IsAsciiPunctuation(text[*begin - 1]);
       ++n) {
    --*begin;
    ++left;
  }
  const size_t right_budget = slack - left;
  size_t right = 0;
  for (size_t i = w.last + 1; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (t.end > right_clip) break;
    const size_t chars = right + CountChars(text, *end, t.end);
    if (chars > right_budget) break;
    right = chars;
    *end = t.end;
  }
  for (size_t n = 0; n < kMaxPunctuation && right < right_budget && *end < right_clip &&
                     IsAsciiPunctuation(text[*end]);
       ++n) {
    ++*end;
    ++right;
  }
}

// text[begin, end) with the tokens of query terms in it tagged; marked
// words with nothing between them (東京) share one pair of tags.
std::string Render(std::string_view text, const std::vector<Token>& tokens, size_t begin,
                   size_t end, const absl::flat_hash_set<std::string>& query_terms,
                   const HighlightOptions& options) {
  std::string out;
  size_t copied = begin;
  bool marked = false;  // text[..., copied) ends with a marked word
  auto first = std::lower_bound(tokens.begin(), tokens.end(), begin,
                                [](const Token& t, size_t offset) { return t.begin < offset; });
  for (auto it = first; it != tokens.end() && it->begin < end; ++it) {
    if (!query_terms.contains(it->term)) continue;
    const size_t word_end = std::min<size_t>(it->end, end);  // an over-long match is cut
    if (marked && it->begin == copied) {
      out.resize(out.size() - options.post_tag.size());
    } else {
      out.append(text.substr(copied, it->begin - copied));
      out.append(options.pre_tag);
    }
    marked = true;
    out.append(text.substr(it->begin, word_end - it->begin));
    out.append(options.post_tag);
    copied = word_end;
  }
  out.append(text.substr(copied, end - copied));
  return out;
}

// Token streams around the anchors, each with the anchor ranges it covers.
struct Streams {
  std::vector<std::unique_ptr<TokenStream>> streams;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> ranges;
};

// Analyses around each anchor range [first, last]: from the checkpoint at
// or before first - limit / 2 - 1 (a window's left side holds at most
// limit / 2 characters, hence words), up to `limit` characters past the
// start of the last token at or before `last`. Streams that would meet
// are one.
Streams AnalyseAround(std::string_view text, const std::vector<uint32_t>& checkpoints,
                      const std::vector<std::pair<uint32_t, uint32_t>>& anchors, uint32_t limit,
                      analysis::Analyzer* analyzer, HighlightStats* stats) {
  const bool usable = std::is_sorted(checkpoints.begin(), checkpoints.end()) &&
                      (checkpoints.empty() || checkpoints.back() <= text.size());
  const uint32_t left_words = limit / 2 + 1;
  Streams out;
  for (const auto& [first, last] : anchors) {
    size_t offset = 0;
    uint32_t position = 0;
    if (usable && !checkpoints.empty()) {
      const size_t k = std::min<size_t>((first - std::min(first, left_words)) / kInterval,
                                        checkpoints.size() - 1);
      offset = checkpoints[k];
      position = static_cast<uint32_t>(k * kInterval);
    }
    if (out.streams.empty() || out.streams.back()->start() > offset ||
        out.streams.back()->covered() < offset) {
      out.streams.push_back(std::make_unique<TokenStream>(text, offset, position, analyzer, stats));
      out.ranges.emplace_back();
    }
    TokenStream& stream = *out.streams.back();
    out.ranges.back().emplace_back(first, last);
    stream.ExtendToPosition(last);
    const std::vector<Token>& tokens = stream.tokens();
    auto after = std::upper_bound(tokens.begin(), tokens.end(), last,
                                  [](uint32_t p, const Token& t) { return p < t.position; });
    if (after != tokens.begin()) stream.ExtendToByte(AdvanceChars(text, (after - 1)->begin, limit));
  }
  return out;
}

// Every window that starts at a match in an anchor range, best first.
// REQUIRES: `positions` sorted.
std::vector<Window> CollectWindows(std::string_view text, const Streams& streams,
                                   const std::vector<uint32_t>& positions,
                                   const absl::flat_hash_set<std::string>& query_terms,
                                   uint32_t limit) {
  std::vector<Window> windows;
  for (size_t s = 0; s < streams.streams.size(); ++s) {
    const std::vector<Token>& tokens = streams.streams[s]->tokens();
    std::vector<size_t> hits;  // indexes of the matched tokens
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (std::binary_search(positions.begin(), positions.end(), tokens[i].position) &&
          query_terms.contains(tokens[i].term)) {
        hits.push_back(i);
      }
    }
    for (size_t h = 0; h < hits.size(); ++h) {
      const Token& first = tokens[hits[h]];
      const auto& ranges = streams.ranges[s];
      if (std::none_of(ranges.begin(), ranges.end(), [&](const auto& r) {
            return first.position >= r.first && first.position <= r.second;
          })) {
        continue;
      }
      Window w{s, hits[h], hits[h], first.begin, first.end, 1, 1};
      size_t chars = CountChars(text, first.begin, first.end);
      if (chars > limit) {
        w.end = AdvanceChars(text, first.begin, limit);
        windows.push_back(w);
        continue;
      }
      std::vector<std::string_view> terms = {first.term};
      for (size_t n = h + 1; n < hits.size(); ++n) {
        const Token& t = tokens[hits[n]];
        chars += CountChars(text, w.end, t.end);
        if (chars > limit) break;
        w.last = hits[n];
        w.end = t.end;
        ++w.matches;
        if (std::find(terms.begin(), terms.end(), t.term) == terms.end()) terms.push_back(t.term);
      }
      w.distinct = static_cast<uint32_t>(terms.size());
      windows.push_back(w);
    }
  }
  std::sort(windows.begin(), windows.end(), [](const Window& a, const Window& b) {
    if (a.distinct != b.distinct) return a.distinct > b.distinct;
    if (a.matches != b.matches) return a.matches > b.matches;
    return a.begin < b.begin;
  });
  return windows;
}

// Highlight and HighlightByTerm, with each match's term index (see Match).
std::vector<std::string> HighlightMatches(std::string_view text,
                                          const std::vector<uint32_t>& checkpoints,
                                          std::vector<Match> matches,
                                          const absl::flat_hash_set<std::string>& query_terms,
                                          const HighlightOptions& options,
                                          analysis::Analyzer* analyzer, HighlightStats* stats) {
  std::vector<std::string> fragments;
  const uint32_t limit = std::clamp(options.fragment_chars, kMinFragmentChars, kMaxFragmentChars);
  const size_t max_fragments = std::min(options.max_fragments, kMaxFragments);
  if (text.empty() || max_fragments == 0) return fragments;
  HighlightStats local_stats;
  if (stats == nullptr) stats = &local_stats;

  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.position != b.position ? a.position < b.position : a.term < b.term;
  });
  matches.erase(
      std::unique(matches.begin(), matches.end(),
                  [](const Match& a, const Match& b) { return a.position == b.position; }),
      matches.end());
  std::vector<uint32_t> positions;
  positions.reserve(matches.size());
  for (const Match& m : matches) positions.push_back(m.position);

  const auto anchors =
      ChooseAnchors(matches, limit / kCharsPerWord + 1, std::max<size_t>(16, 4 * max_fragments));
  Streams streams = AnalyseAround(text, checkpoints, anchors, limit, analyzer, stats);
  std::vector<Window> windows = CollectWindows(text, streams, positions, query_terms, limit);
  bool center = true;
  if (windows.empty() && options.no_match_fragment) {
    // The leading fragment, from the first word on.
    streams.streams.clear();
    streams.streams.push_back(std::make_unique<TokenStream>(text, 0, 0, analyzer, stats));
    streams.streams[0]->ExtendToByte(AdvanceChars(text, 0, limit));
    const std::vector<Token>& tokens = streams.streams[0]->tokens();
    if (!tokens.empty()) {
      const size_t end =
          std::min<size_t>(tokens[0].end, AdvanceChars(text, tokens[0].begin, limit));
      windows.push_back(Window{0, 0, 0, tokens[0].begin, end, 0, 0});
    }
    center = false;
  }

  // The best windows that do not overlap, widened without overlapping.
  struct Chosen {
    size_t begin, end, stream;
  };
  std::vector<Chosen> chosen;
  for (const Window& w : windows) {
    if (chosen.size() == max_fragments) break;
    size_t left_clip = 0, right_clip = text.size();
    bool overlaps = false;
    for (const Chosen& c : chosen) {
      if (w.begin < c.end && c.begin < w.end) overlaps = true;
      if (c.end <= w.begin) left_clip = std::max(left_clip, c.end);
      if (c.begin >= w.end) right_clip = std::min(right_clip, c.begin);
    }
    if (overlaps) continue;
    size_t begin, end;
    Widen(text, streams.streams[w.stream]->tokens(), w, limit, center, left_clip, right_clip,
          &begin, &end);
    chosen.push_back(Chosen{begin, end, w.stream});
  }
  std::sort(chosen.begin(), chosen.end(),
            [](const Chosen& a, const Chosen& b) { return a.begin < b.begin; });
  for (const Chosen& c : chosen) {
    fragments.push_back(
        Render(text, streams.streams[c.stream]->tokens(), c.begin, c.end, query_terms, options));
  }
  return fragments;
}

}  // namespace

std::vector<std::string> Highlight(std::string_view text, const std::vector<uint32_t>& checkpoints,
                                   const std::vector<uint32_t>& match_positions,
                                   const absl::flat_hash_set<std::string>& query_terms,
                                   const HighlightOptions& options, analysis::Analyzer* analyzer,
                                   HighlightStats* stats) {
  std::vector<Match> matches;
  matches.reserve(match_positions.size());
  for (uint32_t p : match_positions) matches.push_back(Match{p, 0});
  return HighlightMatches(text, checkpoints, std::move(matches), query_terms, options, analyzer,
                          stats);
}

std::vector<std::string> HighlightByTerm(std::string_view text,
                                         const std::vector<uint32_t>& checkpoints,
                                         const std::vector<std::vector<uint32_t>>& term_positions,
                                         const absl::flat_hash_set<std::string>& query_terms,
                                         const HighlightOptions& options,
                                         analysis::Analyzer* analyzer, HighlightStats* stats) {
  std::vector<Match> matches;
  for (size_t t = 0; t < term_positions.size(); ++t) {
    for (uint32_t p : term_positions[t]) matches.push_back(Match{p, static_cast<uint32_t>(t)});
  }
  return HighlightMatches(text, checkpoints, std::move(matches), query_terms, options, analyzer,
                          stats);
}

}  // namespace scry::query
