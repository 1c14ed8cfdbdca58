// File: analysis/analyzer.cc
//
// Tokenizer, case folding and stemming (see analyzer.h). The hot path is pure
// ASCII text: bytes below 0x80 are classified through a table and words made
// only of them are lowercased directly, without calling utf8proc. Each
// analyzer also caches the terms of recently seen words (see Impl); with
// stopwords on, a stopword is cached as "" (no token), so the stop list is
// looked up once per cache miss.
#include "analysis/analyzer.h"

#include <libstemmer.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "analysis/stopwords.h"

namespace scry::analysis {
namespace {

constexpr std::string_view kNoStemming = "none";

enum class CharClass : uint8_t {
  kSeparator,
  kLetter,      // L*
  kMark,        // M*
  kDigit,       // Nd
  kSingle,      // Han, Hiragana, Katakana or Thai: a word of its own
  kApostrophe,  // U+0027 or U+2019: inside a word when between two letters
};

constexpr std::array<CharClass, 128> MakeAsciiClasses() {
  std::array<CharClass, 128> classes{};  // all kSeparator
  for (int c = 'a'; c <= 'z'; ++c) classes[c] = CharClass::kLetter;
  for (int c = 'A'; c <= 'Z'; ++c) classes[c] = CharClass::kLetter;
  for (int c = '0'; c <= '9'; ++c) classes[c] = CharClass::kDigit;
  classes['\''] = CharClass::kApostrophe;
  return classes;
}
constexpr std::array<CharClass, 128> kAsciiClasses = MakeAsciiClasses();

// Blocks whose letters and numbers are one word per character: Thai, CJK
// radicals and symbols (for U+3005 々, U+3007 〇, ...), Hiragana, Katakana,
// CJK ideographs (BMP, compatibility, supplementary planes), halfwidth
// Katakana and the Kana supplements. Symbols and punctuation inside these
// blocks (。, ・, ...) still separate: the caller checks the category too.
bool InSingleCharBlock(utf8proc_int32_t cp) {
  struct Range {
    utf8proc_int32_t first, last;
  };
  static constexpr Range kRanges[] = {
      {0x0E00, 0x0E7F}, {0x2E80, 0x30FF}, {0x31F0, 0x31FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
      {0xF900, 0xFAFF}, {0xFF66, 0xFF9F}, {0x1AFF0, 0x1B16F}, {0x20000, 0x323AF},
  };
  for (const Range& r : kRanges) {
    if (cp < r.first) return false;
    if (cp <= r.last) return true;
  }
  return false;
}

CharClass Classify(utf8proc_int32_t cp) {
  if (cp < 0) return CharClass::kSeparator;  // invalid UTF-8
  if (cp < 0x80) return kAsciiClasses[cp];
  if (cp == 0x2019) return CharClass::kApostrophe;
  const utf8proc_category_t cat = utf8proc_category(cp);
  switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return InSingleCharBlock(cp) ? CharClass::kSingle : CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
      return InSingleCharBlock(cp) ? CharClass::kSingle : CharClass::kDigit;
    case UTF8PROC_CATEGORY_NL:  // 〇 and the Suzhou numerals
      return InSingleCharBlock(cp) ? CharClass::kSingle : CharClass::kSeparator;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
      return CharClass::kMark;
    default:
      return CharClass::kSeparator;
  }
}

// Decodes the code point at text[pos] (pos < text.size()) into *cp and
// returns its length in bytes; an invalid byte gives *cp = -1 and length 1.
size_t Decode(std::string_view text, size_t pos, utf8proc_int32_t* cp) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data()) + pos;
  if (*p < 0x80) {
    *cp = *p;
    return 1;
  }
  const utf8proc_ssize_t n =
      utf8proc_iterate(p, static_cast<utf8proc_ssize_t>(text.size() - pos), cp);
  if (n <= 0) {
    *cp = -1;
    return 1;
  }
  return static_cast<size_t>(n);
}

bool IsWordChar(CharClass c) {
  return c == CharClass::kLetter || c == CharClass::kMark || c == CharClass::kDigit;
}

// NFC + full case folding; U+2019 becomes "'" so both apostrophes match.
// `ascii` says every byte of `word` is below 0x80. "" on invalid UTF-8.
std::string Fold(std::string_view word, bool ascii) {
  std::string out;
  if (ascii) {
    out.resize(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
      const char c = word[i];
      out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
    }
    return out;
  }
  utf8proc_uint8_t* folded = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(word.data()),
      static_cast<utf8proc_ssize_t>(word.size()), &folded,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD));
  if (n < 0) return out;  // utf8proc frees its buffer itself on error
  out.reserve(static_cast<size_t>(n));
  for (utf8proc_ssize_t i = 0; i < n; ++i) {
    if (folded[i] == 0xE2 && i + 2 < n && folded[i + 1] == 0x80 && folded[i + 2] == 0x99) {
      out.push_back('\'');
      i += 2;
    } else {
      out.push_back(static_cast<char>(folded[i]));
    }
  }
  std::free(folded);
  return out;
}

struct StemmerDeleter {
  void operator()(sb_stemmer* s) const { sb_stemmer_delete(s); }
};

}  // namespace

struct Analyzer::Impl {
  // Word frequencies are Zipfian, so remembering recent words saves most of
  // the stemming (~200 ns a word) and non-ASCII folding. Emptied when full.
  static constexpr size_t kMaxCachedWords = 1 << 15;

  std::unique_ptr<sb_stemmer, StemmerDeleter> stemmer;          // null for "none"
  const absl::flat_hash_set<std::string>* stopwords = nullptr;  // null: keep all words
  absl::flat_hash_map<std::string, std::string> cache;          // surface word -> term

  // Folds and stems a word of at most kMaxTokenBytes bytes; "" for a
  // stopword. `ascii` says every byte of it is below 0x80.
  std::string Normalize(std::string_view word, bool ascii) {
    // Cheaper than the cache ("none" has no stop list).
    if (ascii && stemmer == nullptr && stopwords == nullptr) return Fold(word, ascii);
    const absl::string_view key(word.data(), word.size());
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    std::string term = Fold(word, ascii);
    if (stopwords != nullptr && stopwords->contains(term)) {
      term.clear();
    } else if (stemmer != nullptr && !term.empty()) {
      const sb_symbol* stem =
          sb_stemmer_stem(stemmer.get(), reinterpret_cast<const sb_symbol*>(term.data()),
                          static_cast<int>(term.size()));
      // NULL means libstemmer ran out of memory: keep the word unstemmed, uncached.
      if (stem == nullptr) return term;
      term.assign(reinterpret_cast<const char*>(stem),
                  static_cast<size_t>(sb_stemmer_length(stemmer.get())));
    }
    if (cache.size() >= kMaxCachedWords) cache.clear();
    cache.emplace(key, term);
    return term;
  }
};

absl::StatusOr<std::unique_ptr<Analyzer>> Analyzer::Create(const AnalyzerOptions& options) {
  const std::string& name = options.language;
  auto impl = std::make_unique<Impl>();
  if (name != kNoStemming) {
    const std::vector<std::string> known = Languages();
    if (!std::binary_search(known.begin(), known.end(), name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown language \"", name, "\"; valid: ", absl::StrJoin(known, ", ")));
    }
  }
  if (options.stopwords) {
    impl->stopwords = StopwordsFor(name);
    if (impl->stopwords == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("language \"", name, "\" has no stopword list; languages with one: ",
                       absl::StrJoin(StopwordLanguages(), ", ")));
    }
  }
  if (name != kNoStemming) {
    impl->stemmer.reset(sb_stemmer_new(name.c_str(), "UTF_8"));
    if (impl->stemmer == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot create the \"", name, "\" stemmer (out of memory)"));
    }
  }
  return std::unique_ptr<Analyzer>(new Analyzer(std::move(impl), options));
}

absl::StatusOr<std::unique_ptr<Analyzer>> Analyzer::Create(std::string_view language) {
  AnalyzerOptions options;
  options.language = std::string(language);
  options.stopwords = false;
  return Create(options);
}

Analyzer::Analyzer(std::unique_ptr<Impl> impl, AnalyzerOptions options)
    : impl_(std::move(impl)), options_(std::move(options)) {}

Analyzer::~Analyzer() = default;

std::unique_ptr<Analyzer> Analyzer::Clone() const {
  absl::StatusOr<std::unique_ptr<Analyzer>> clone = Create(options_);
  return clone.ok() ? *std::move(clone) : nullptr;
}

std::vector<std::string> Analyzer::Languages() {
  std::vector<std::string> names = {std::string(kNoStemming)};
  for (const char** name = sb_stemmer_list(); *name != nullptr; ++name) names.push_back(*name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::string> Analyzer::StopwordLanguages() {
  return ::scry::analysis::StopwordLanguages();
}

uint32_t Analyzer::Analyze(std::string_view text, uint32_t first_position,
                           std::vector<Token>* out) {
  uint32_t position = first_position;
  auto emit = [&](size_t begin, size_t end, bool ascii) {
    const uint32_t word_position = position++;
    if (end - begin > kMaxTokenBytes) return;  // dropped, position consumed
    std::string term = impl_->Normalize(text.substr(begin, end - begin), ascii);
    if (term.empty()) return;
    out->push_back(Token{std::move(term), word_position, static_cast<uint32_t>(begin),
                         static_cast<uint32_t>(end)});
  };

  const size_t size = text.size();
  size_t pos = 0;
  utf8proc_int32_t cp;
  while (pos < size) {
    const size_t begin = pos;
    const size_t len = Decode(text, pos, &cp);
    const CharClass cls = Classify(cp);
    pos += len;
    if (cls == CharClass::kSingle) {
      // Combining marks (dakuten, Thai vowel signs) stay with their character.
      while (pos < size) {
        const size_t n = Decode(text, pos, &cp);
        if (Classify(cp) != CharClass::kMark) break;
        pos += n;
      }
      emit(begin, pos, /*ascii=*/false);
      continue;
    }
    if (!IsWordChar(cls)) continue;  // separator, or an apostrophe outside a word

    bool ascii = cp < 0x80;
    // Whether the last non-mark code point was a letter: marks extend the
    // letter they follow, so "é'x" keeps its apostrophe even in NFD.
    bool after_letter = cls == CharClass::kLetter;
    while (pos < size) {
      const size_t n = Decode(text, pos, &cp);
      const CharClass next = Classify(cp);
      if (IsWordChar(next)) {
        if (next != CharClass::kMark) after_letter = next == CharClass::kLetter;
        ascii = ascii && cp < 0x80;
        pos += n;
        continue;
      }
      if (next != CharClass::kApostrophe || !after_letter || pos + n >= size) break;
      utf8proc_int32_t after;
      const size_t m = Decode(text, pos + n, &after);
      if (Classify(after) != CharClass::kLetter) break;
      ascii = ascii && cp < 0x80 && after < 0x80;
      pos += n + m;
    }
    emit(begin, pos, ascii);
  }
  return position;
}

std::string Analyzer::NormalizeWord(std::string_view word) {
  if (word.empty() || word.size() > kMaxTokenBytes) return "";
  const bool ascii = std::all_of(word.begin(), word.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return impl_->Normalize(word, ascii);
}

std::string Analyzer::FoldWord(std::string_view word) {
  if (word.empty() || word.size() > kMaxTokenBytes) return "";
  const bool ascii = std::all_of(word.begin(), word.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return Fold(word, ascii);
}

}  // namespace scry::analysis
