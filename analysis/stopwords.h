// File: analysis/stopwords.h
//
// Stop lists for the Analyzer: the lists the Snowball project publishes with
// its stemmers (snowballstem.org/algorithms/LANGUAGE/stop.txt, BSD licence),
// embedded in the binary. Words are stored as the Analyzer folds them (NFC,
// full case folding: German "daß" is "dass"), so a folded, unstemmed word is
// looked up directly.
#ifndef SCRY_ANALYSIS_STOPWORDS_H_
#define SCRY_ANALYSIS_STOPWORDS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace scry::analysis {

// The stop list of `language` (a libstemmer name, as Analyzer::Create takes),
// or nullptr if it has none ("none", "porter", "turkish", ...). The set lives
// for the whole program and is safe to read from any thread.
const absl::flat_hash_set<std::string>* StopwordsFor(std::string_view language);

// Every language StopwordsFor has a list for, sorted.
std::vector<std::string> StopwordLanguages();

}  // namespace scry::analysis

#endif  // SCRY_ANALYSIS_STOPWORDS_H_
