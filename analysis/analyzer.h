// File: analysis/analyzer.h
//
// Text analysis shared by indexing and querying, so that both sides turn text
// into the same terms:
//   1. tokenize UTF-8 into words: maximal runs of Unicode letters (L*),
//      combining marks (M*) and decimal digits (Nd); an apostrophe (U+0027 or
//      U+2019) between two letters stays inside the word ("don't"). Each Han,
//      Hiragana, Katakana or Thai character is a word of its own (as Lucene's
//      StandardTokenizer does), together with any combining marks after it.
//      Everything else separates words. Invalid UTF-8 bytes separate words
//      too (input is validated before it gets here).
//   2. normalise to NFC and case-fold (Unicode full case folding, utf8proc);
//      U+2019 becomes U+0027 so both apostrophes give the same term;
//   3. with stopwords on, drop a word whose folded form (step 2) is in the
//      language's Snowball stop list (analysis/stopwords.h); like an over-long
//      word it still takes a position, so phrases keep their gaps (as
//      Lucene's StopFilter with position increments);
//   4. stem with the Snowball stemmer of the chosen language (libstemmer), or
//      not at all for language "none".
// A word longer than kMaxTokenBytes bytes (before folding) is dropped but
// still takes a position, so a phrase never matches across it.
//
// An index records the options it was built with (storage/index_dir.h) and
// queries are analysed with the same ones.
//
// Thread safety: an Analyzer is NOT thread-safe (libstemmer keeps state per
// stemmer). Use one per thread; Clone() makes another with the same settings.
#ifndef SCRY_ANALYSIS_ANALYZER_H_
#define SCRY_ANALYSIS_ANALYZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace scry::analysis {

inline constexpr size_t kMaxTokenBytes = 255;

struct Token {
  std::string term;   // folded and stemmed: what goes into the index
  uint32_t position;  // word position (0-based, plus the caller's base)
  uint32_t begin;     // byte offset of the surface word in the input text
  uint32_t end;       // one past its last byte
};

struct AnalyzerOptions {
  // A libstemmer algorithm name ("english", "german", "russian", ...; see
  // Analyzer::Languages()) or "none" for no stemming.
  std::string language = "english";
  // Drop the words of the language's stop list (see
  // Analyzer::StopwordLanguages()), keeping their positions.
  bool stopwords = false;
};

class Analyzer {
 public:
  // InvalidArgument if libstemmer has no such language, or if
  // options.stopwords is set and the language has no stop list ("none"
  // included); the message names the valid choices.
  static absl::StatusOr<std::unique_ptr<Analyzer>> Create(const AnalyzerOptions& options);
  // The same with stopwords off.
  static absl::StatusOr<std::unique_ptr<Analyzer>> Create(std::string_view language);

  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  // A new analyzer with the same settings (for another thread); nullptr only
  // if libstemmer runs out of memory.
  std::unique_ptr<Analyzer> Clone() const;

  const AnalyzerOptions& options() const { return options_; }
  const std::string& language() const { return options_.language; }
  bool stopwords() const { return options_.stopwords; }

  // Appends the tokens of `text` to *out. Positions start at `first_position`.
  // Returns the position after the last word (first_position + number of
  // words, dropped over-long words included).
  uint32_t Analyze(std::string_view text, uint32_t first_position, std::vector<Token>* out);

  // Folds and stems one word exactly as Analyze does for a word (no
  // tokenizing). Returns "" if `word` is empty, over kMaxTokenBytes or not
  // valid UTF-8, and, with stopwords on, if it is a stopword (Analyze gives
  // it no token).
  std::string NormalizeWord(std::string_view word);

  // Case-folds and NFC-normalises one word exactly as Analyze does, without
  // stemming or stopword removal (for prefix and fuzzy queries, which match
  // unstemmed forms). Returns "" if `word` is empty, over kMaxTokenBytes or
  // not valid UTF-8. Independent of the language; thread-safe.
  static std::string FoldWord(std::string_view word);

  // Every language name Create accepts, sorted, "none" included.
  static std::vector<std::string> Languages();

  // Every language that has a stop list (Create accepts stopwords = true
  // for these only), sorted.
  static std::vector<std::string> StopwordLanguages();

 private:
  struct Impl;
  Analyzer(std::unique_ptr<Impl> impl, AnalyzerOptions options);

  std::unique_ptr<Impl> impl_;
  AnalyzerOptions options_;
};

}  // namespace scry::analysis

#endif  // SCRY_ANALYSIS_ANALYZER_H_
