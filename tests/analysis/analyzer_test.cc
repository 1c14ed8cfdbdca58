// File: tests/analysis/analyzer_test.cc
//
// Tests for analysis/analyzer.h: tokenizing, folding, stemming, offsets and
// positions, stopwords (analysis/stopwords.h), every Snowball language, and
// robustness against arbitrary bytes.
#include "analysis/analyzer.h"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <utf8proc.h>

#include "analysis/stopwords.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::analysis {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::unique_ptr<Analyzer> MakeAnalyzer(std::string_view language) {
  absl::StatusOr<std::unique_ptr<Analyzer>> analyzer = Analyzer::Create(language);
  EXPECT_THAT(analyzer, IsOk());
  return analyzer.ok() ? *std::move(analyzer) : nullptr;
}

std::unique_ptr<Analyzer> MakeStopAnalyzer(std::string_view language) {
  AnalyzerOptions options;
  options.language = std::string(language);
  options.stopwords = true;
  absl::StatusOr<std::unique_ptr<Analyzer>> analyzer = Analyzer::Create(options);
  EXPECT_THAT(analyzer, IsOk());
  return analyzer.ok() ? *std::move(analyzer) : nullptr;
}

// (term, position) pairs, to check the gaps stopwords leave.
std::vector<std::pair<std::string, uint32_t>> TermsAt(Analyzer& analyzer, std::string_view text) {
  std::vector<Token> tokens;
  analyzer.Analyze(text, 0, &tokens);
  std::vector<std::pair<std::string, uint32_t>> out;
  for (const Token& t : tokens) out.emplace_back(t.term, t.position);
  return out;
}

std::vector<std::string> Terms(Analyzer& analyzer, std::string_view text) {
  std::vector<Token> tokens;
  analyzer.Analyze(text, 0, &tokens);
  std::vector<std::string> terms;
  for (const Token& t : tokens) terms.push_back(t.term);
  return terms;
}

std::vector<std::string> Terms(std::string_view language, std::string_view text) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer(language);
  return analyzer == nullptr ? std::vector<std::string>{} : Terms(*analyzer, text);
}

TEST(Analyzer, AsciiWordsAndPunctuation) {
  auto a = MakeAnalyzer("none");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  EXPECT_EQ(a->Analyze("Hello, World! foo-bar_baz (x).", 0, &tokens), 6u);
  ASSERT_EQ(tokens.size(), 6u);
  const std::vector<std::string> expected = {"hello", "world", "foo", "bar", "baz", "x"};
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_EQ(tokens[i].term, expected[i]);
    EXPECT_EQ(tokens[i].position, i);
  }
  EXPECT_EQ(tokens[0].begin, 0u);
  EXPECT_EQ(tokens[0].end, 5u);
  EXPECT_EQ(tokens[1].begin, 7u);
  EXPECT_EQ(tokens[1].end, 12u);
}

TEST(Analyzer, FirstPositionAndAppend) {
  auto a = MakeAnalyzer("none");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  EXPECT_EQ(a->Analyze("one two", 10, &tokens), 12u);
  EXPECT_EQ(a->Analyze("three", 12, &tokens), 13u);
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].position, 10u);
  EXPECT_EQ(tokens[1].position, 11u);
  EXPECT_EQ(tokens[2].position, 12u);
  EXPECT_EQ(tokens[2].term, "three");
}

TEST(Analyzer, CaseFolding) {
  EXPECT_THAT(Terms("none", "Straße STRASSE straße"), ElementsAre("strasse", "strasse", "strasse"));
  EXPECT_THAT(Terms("none", "ß"), ElementsAre("ss"));
  // Final sigma and capital sigma fold to the same letter.
  EXPECT_THAT(Terms("none", "ΟΔΟΣ οδος"), ElementsAre("οδοσ", "οδοσ"));
  EXPECT_THAT(Terms("none", "МОСКВА Москва"), ElementsAre("москва", "москва"));
}

TEST(Analyzer, TurkishDottedIDoesNotCrash) {
  auto a = MakeAnalyzer("turkish");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  const std::string text = "İSTANBUL ıIiİ";
  EXPECT_EQ(a->Analyze(text, 0, &tokens), 2u);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_FALSE(tokens[0].term.empty());
  EXPECT_EQ(tokens[0].begin, 0u);
  EXPECT_EQ(tokens[1].end, text.size());
}

TEST(Analyzer, NfcComposition) {
  // "e" + COMBINING ACUTE ACCENT composes to U+00E9.
  EXPECT_THAT(Terms("none", "Cafe\xCC\x81 caf\xC3\xA9"), ElementsAre("caf\xC3\xA9", "caf\xC3\xA9"));
  // A combining voiced mark stays with its kana and composes: か + ゙ = が.
  EXPECT_THAT(Terms("none", "\xE3\x81\x8B\xE3\x82\x99"), ElementsAre("\xE3\x81\x8C"));
}

TEST(Analyzer, EnglishStemming) {
  EXPECT_THAT(Terms("english", "running Runs run"), ElementsAre("run", "run", "run"));
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->NormalizeWord("cooperation"), a->NormalizeWord("cooperating"));
  EXPECT_EQ(a->NormalizeWord("cooperation"), "cooper");
  EXPECT_EQ(a->NormalizeWord("Libraries"), a->NormalizeWord("library"));
}

TEST(Analyzer, GermanStemming) {
  EXPECT_THAT(Terms("german", "Häuser Häusern Haus"), ElementsAre("haus", "haus", "haus"));
  EXPECT_THAT(Terms("german", "Straße STRASSE"), ElementsAre("strass", "strass"));
}

TEST(Analyzer, RussianStemming) {
  EXPECT_THAT(Terms("russian", "МОСКВА москвы Москве"), ElementsAre("москв", "москв", "москв"));
}

TEST(Analyzer, DigitsAndMixedAlnum) {
  EXPECT_THAT(Terms("english", "abc123 2008 3.14 v2-beta"),
              ElementsAre("abc123", "2008", "3", "14", "v2", "beta"));
  // Arabic-Indic digits are Nd too.
  EXPECT_THAT(Terms("none", "\xD9\xA1\xD9\xA2"), ElementsAre("\xD9\xA1\xD9\xA2"));
}

TEST(Analyzer, Apostrophes) {
  EXPECT_THAT(Terms("none", "don't DON\xE2\x80\x99T"), ElementsAre("don't", "don't"));
  // Not between two letters: the apostrophe separates.
  EXPECT_THAT(Terms("none", "'quoted' rock'n'roll a''b 90's x'"),
              ElementsAre("quoted", "rock'n'roll", "a", "b", "90", "s", "x"));
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  EXPECT_THAT(Terms(*a, "library's"), ElementsAre(a->NormalizeWord("library")));
  std::vector<Token> tokens;
  a->Analyze("the library's", 0, &tokens);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].begin, 4u);
  EXPECT_EQ(tokens[1].end, 13u);
}

TEST(Analyzer, CjkAndThaiCharactersAreWords) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  // 中文 (Han), ひら (Hiragana), カナ (Katakana), abc, then 。 (separator).
  const std::string text = "中文ひらカナabc。";
  EXPECT_EQ(a->Analyze(text, 0, &tokens), 7u);
  std::vector<std::string> terms;
  for (const Token& t : tokens) terms.push_back(t.term);
  EXPECT_THAT(terms, ElementsAre("中", "文", "ひ", "ら", "カ", "ナ", "abc"));
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(tokens[i].begin, 3 * i);
    EXPECT_EQ(tokens[i].end, 3 * i + 3);
  }
  EXPECT_EQ(tokens[6].begin, 18u);
  EXPECT_EQ(tokens[6].end, 21u);
  EXPECT_THAT(Terms(*a, "ไทย"), ElementsAre("ไ", "ท", "ย"));
  // Hangul is not split per character.
  EXPECT_THAT(Terms(*a, "한국어"), ElementsAre("한국어"));
}

TEST(Analyzer, EmptyAndWhitespace) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  EXPECT_EQ(a->Analyze("", 5, &tokens), 5u);
  EXPECT_EQ(a->Analyze(" \t\r\n \xC2\xA0 \xE3\x80\x80 ", 5, &tokens), 5u);
  EXPECT_THAT(tokens, IsEmpty());
  EXPECT_EQ(a->NormalizeWord(""), "");
}

TEST(Analyzer, HugeTokenDroppedButTakesPosition) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  const std::string huge(10000, 'a');
  EXPECT_EQ(a->Analyze(huge + " next", 0, &tokens), 2u);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].term, "next");
  EXPECT_EQ(tokens[0].position, 1u);
  EXPECT_EQ(tokens[0].begin, 10001u);

  // The limit is on the surface bytes: 255 is kept, 256 is dropped.
  tokens.clear();
  EXPECT_EQ(
      a->Analyze(std::string(kMaxTokenBytes, 'b') + " " + std::string(kMaxTokenBytes + 1, 'c'), 0,
                 &tokens),
      2u);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].end, kMaxTokenBytes);
  EXPECT_EQ(a->NormalizeWord(std::string(kMaxTokenBytes + 1, 'c')), "");
}

TEST(Analyzer, InvalidUtf8Separates) {
  auto a = MakeAnalyzer("none");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  EXPECT_EQ(a->Analyze("\xff\xfe"
                       "abc \xc3",
                       0, &tokens),
            1u);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].term, "abc");
  EXPECT_EQ(tokens[0].begin, 2u);
  EXPECT_EQ(tokens[0].end, 5u);
  // A stray continuation byte, a surrogate and an overlong '/' split words.
  EXPECT_THAT(Terms(*a,
                    "ab\x80"
                    "cd\xED\xA0\x80"
                    "ef\xC0\xAFgh"),
              ElementsAre("ab", "cd", "ef", "gh"));
  EXPECT_EQ(a->NormalizeWord("ab\xff"), "");
}

TEST(Analyzer, MultiByteOffsets) {
  auto a = MakeAnalyzer("none");
  ASSERT_NE(a, nullptr);
  std::vector<Token> tokens;
  const std::string text = "«Ünïcödé» — Привет!";
  a->Analyze(text, 0, &tokens);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(text.substr(tokens[0].begin, tokens[0].end - tokens[0].begin), "Ünïcödé");
  EXPECT_EQ(tokens[0].term, "ünïcödé");
  EXPECT_EQ(text.substr(tokens[1].begin, tokens[1].end - tokens[1].begin), "Привет");
  EXPECT_EQ(tokens[1].term, "привет");
}

TEST(Analyzer, UnknownLanguage) {
  EXPECT_THAT(Analyzer::Create("klingon"), StatusIs(absl::StatusCode::kInvalidArgument, "klingon"));
  absl::StatusOr<std::unique_ptr<Analyzer>> a = Analyzer::Create("");
  EXPECT_THAT(a, StatusIs(absl::StatusCode::kInvalidArgument, "english"));
}

TEST(Analyzer, Languages) {
  const std::vector<std::string> languages = Analyzer::Languages();
  EXPECT_THAT(languages, Contains("english"));
  EXPECT_THAT(languages, Contains("german"));
  EXPECT_THAT(languages, Contains("russian"));
  EXPECT_THAT(languages, Contains("none"));
  EXPECT_TRUE(std::is_sorted(languages.begin(), languages.end()));
  for (const std::string& language : languages) {
    absl::StatusOr<std::unique_ptr<Analyzer>> a = Analyzer::Create(language);
    ASSERT_THAT(a, IsOk()) << language;
    EXPECT_EQ((*a)->language(), language);
  }
}

TEST(Analyzer, CloneGivesIdenticalOutput) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  std::unique_ptr<Analyzer> b = a->Clone();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->language(), "english");
  const std::string text = "The QUICK brown foxes were running; Straße 中文 don't 42";
  std::vector<Token> ta, tb;
  EXPECT_EQ(a->Analyze(text, 3, &ta), b->Analyze(text, 3, &tb));
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].term, tb[i].term);
    EXPECT_EQ(ta[i].position, tb[i].position);
    EXPECT_EQ(ta[i].begin, tb[i].begin);
    EXPECT_EQ(ta[i].end, tb[i].end);
  }
}

// More distinct words than the analyzer's internal word cache holds: results
// must not depend on what was analyzed before.
TEST(Analyzer, ManyDistinctWordsGiveStableTerms) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  std::string text;
  for (int i = 0; i < 50000; ++i) {
    text += (i % 2 == 0 ? "Running" : "ÉTÉS");
    text += std::to_string(i % 997) + "x" + std::to_string(i) + "ing ";
  }
  std::vector<Token> first, second;
  EXPECT_EQ(a->Analyze(text, 0, &first), 50000u);
  EXPECT_EQ(a->Analyze(text, 0, &second), 50000u);
  ASSERT_EQ(first.size(), 50000u);
  ASSERT_EQ(second.size(), 50000u);
  auto fresh = MakeAnalyzer("english");
  ASSERT_NE(fresh, nullptr);
  for (size_t i = 0; i < first.size(); i += 7) {
    ASSERT_EQ(first[i].term, second[i].term) << i;
    const std::string surface = text.substr(first[i].begin, first[i].end - first[i].begin);
    ASSERT_EQ(fresh->NormalizeWord(surface), first[i].term) << surface;
  }
}

// --- Languages -------------------------------------------------------------

// Words of several scripts: 17 of them, whatever the language.
constexpr std::string_view kMixedSentence =
    "The quick brown foxes were running; Die Häuser der Straße; "
    "Москва и ЁЛКИ; Ελληνικά κείμενα; 2024 don't";
constexpr uint32_t kMixedSentenceWords = 17;

bool IsValidUtf8(const std::string& s);

TEST(AnalyzerLanguages, EveryLanguageAnalyzesASentence) {
  for (const std::string& language : Analyzer::Languages()) {
    SCOPED_TRACE(language);
    std::unique_ptr<Analyzer> a = MakeAnalyzer(language);
    ASSERT_NE(a, nullptr);
    EXPECT_FALSE(a->stopwords());
    std::vector<Token> tokens;
    EXPECT_EQ(a->Analyze(kMixedSentence, 0, &tokens), kMixedSentenceWords);
    ASSERT_EQ(tokens.size(), kMixedSentenceWords);  // no stopwords: every word a token
    for (const Token& t : tokens) {
      EXPECT_FALSE(t.term.empty());
      EXPECT_TRUE(IsValidUtf8(t.term)) << t.term;
      const std::string surface(kMixedSentence.substr(t.begin, t.end - t.begin));
      EXPECT_EQ(a->NormalizeWord(surface), t.term) << surface;
    }
  }
}

TEST(AnalyzerLanguages, EnglishStemmingAndPossessives) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->NormalizeWord("cooperating"), a->NormalizeWord("cooperation"));
  EXPECT_EQ(a->NormalizeWord("COOPERATING"), "cooper");
  // Possessives: "'s" and a trailing "'" (which the tokenizer drops) go.
  EXPECT_THAT(Terms(*a, "the dog's bone, the dogs' bones, the DOG\xE2\x80\x99S"),
              ElementsAre("the", "dog", "bone", "the", "dog", "bone", "the", "dog"));
  EXPECT_EQ(a->NormalizeWord("library's"), a->NormalizeWord("libraries"));
}

TEST(AnalyzerLanguages, GermanCaseFoldingAndUmlauts) {
  auto a = MakeAnalyzer("german");
  ASSERT_NE(a, nullptr);
  // Upper and lower case umlauts fold alike, then stem with the plural.
  EXPECT_THAT(Terms(*a, "Häuser HÄUSER häuser Häusern Haus"),
              ElementsAre("haus", "haus", "haus", "haus", "haus"));
  // Full case folding: ß is "ss", so Straße and STRASSE are one term.
  EXPECT_EQ(Analyzer::FoldWord("Straße"), "strasse");
  EXPECT_EQ(Analyzer::FoldWord("STRASSE"), "strasse");
  EXPECT_THAT(Terms(*a, "Straße STRASSE straße"), ElementsAre("strass", "strass", "strass"));
  EXPECT_THAT(Terms(*a, "groß GROSS Füße"), ElementsAre("gross", "gross", "fuss"));
  // The German Snowball stemmer removes umlauts (outputs of libstemmer).
  EXPECT_THAT(Terms(*a, "Bücher Buch schön SCHÖNER Mädchen Äpfel Apfel"),
              ElementsAre("buch", "buch", "schon", "schon", "madch", "apfel", "apfel"));
  EXPECT_EQ(Analyzer::FoldWord("ÄPFEL"), "äpfel");  // folding alone keeps them
}

TEST(AnalyzerLanguages, RussianCyrillicCaseAndYo) {
  auto a = MakeAnalyzer("russian");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(Analyzer::FoldWord("МОСКВА"), "москва");
  EXPECT_EQ(Analyzer::FoldWord("Москвы"), "москвы");
  EXPECT_THAT(Terms(*a, "МОСКВА москва Москва Москвы МОСКВЕ москву"),
              ElementsAre("москв", "москв", "москв", "москв", "москв", "москв"));
  EXPECT_THAT(Terms(*a, "КНИГА книги книгой"), ElementsAre("книг", "книг", "книг"));
  // Ё folds to ё (not е); the Russian stemmer then spells ё as е.
  EXPECT_EQ(Analyzer::FoldWord("ЁЛКА"), "ёлка");
  EXPECT_EQ(Analyzer::FoldWord("Ёлка"), "ёлка");
  EXPECT_THAT(Terms(*a, "ЁЛКА Ёлка ёлка елка"), ElementsAre("елк", "елк", "елк", "елк"));
  // Without stemming ё and е stay apart.
  EXPECT_THAT(Terms("none", "ЁЛКА елка"), ElementsAre("ёлка", "елка"));
}

// --- Stopwords ---------------------------------------------------------------

TEST(AnalyzerStopwords, OffByDefault) {
  auto a = MakeAnalyzer("english");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->stopwords());
  EXPECT_FALSE(a->options().stopwords);
  EXPECT_THAT(Terms(*a, "the cat"), ElementsAre("the", "cat"));
  EXPECT_EQ(AnalyzerOptions().language, "english");
  EXPECT_FALSE(AnalyzerOptions().stopwords);
}

TEST(AnalyzerStopwords, EnglishKeepsPositionGaps) {
  auto a = MakeStopAnalyzer("english");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->stopwords());
  EXPECT_EQ(a->language(), "english");
  std::vector<Token> tokens;
  EXPECT_EQ(a->Analyze("the cat", 0, &tokens), 2u);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].term, "cat");
  EXPECT_EQ(tokens[0].position, 1u);
  EXPECT_EQ(tokens[0].begin, 4u);
  EXPECT_EQ(tokens[0].end, 7u);
  using P = std::pair<std::string, uint32_t>;
  // Upper case, curly apostrophes and contractions are stopwords too; the
  // check is on the unstemmed word ("having" is listed, "haves" is not).
  EXPECT_THAT(TermsAt(*a, "The Cat and THE hat DON\xE2\x80\x99T having haves"),
              ElementsAre(P("cat", 1), P("hat", 4), P("have", 7)));
  EXPECT_EQ(a->NormalizeWord("The"), "");
  EXPECT_EQ(a->NormalizeWord("cats"), "cat");
  // Positions continue across calls as without stopwords.
  tokens.clear();
  EXPECT_EQ(a->Analyze("of the", 10, &tokens), 12u);
  EXPECT_THAT(tokens, IsEmpty());
}

TEST(AnalyzerStopwords, German) {
  auto off = MakeAnalyzer("german");
  auto on = MakeStopAnalyzer("german");
  ASSERT_NE(off, nullptr);
  ASSERT_NE(on, nullptr);
  using P = std::pair<std::string, uint32_t>;
  const std::string text = "Die Katze und der Hund sind ÜBER dem Haus";
  EXPECT_THAT(TermsAt(*on, text), ElementsAre(P("katz", 1), P("hund", 4), P("haus", 8)));
  EXPECT_EQ(TermsAt(*off, text).size(), 9u);
  // "daß" is listed; folding makes it "dass", so every spelling is dropped.
  EXPECT_THAT(Terms(*on, "daß DASS dass Fuß"), ElementsAre("fuss"));
}

TEST(AnalyzerStopwords, Russian) {
  auto on = MakeStopAnalyzer("russian");
  ASSERT_NE(on, nullptr);
  using P = std::pair<std::string, uint32_t>;
  EXPECT_THAT(TermsAt(*on, "И ВОТ Москва, а не Петербург"),
              ElementsAre(P("москв", 2), P("петербург", 5)));
  // The Snowball list spells ё as е; both spellings are dropped.
  EXPECT_THAT(Terms(*on, "ЕЩЁ ещё еще ЕЁ всё ёлка"), ElementsAre("елк"));
  EXPECT_THAT(Terms("russian", "и вот"), ElementsAre("и", "вот"));
}

TEST(AnalyzerStopwords, EveryListCreatesAndIsFolded) {
  const std::vector<std::string> languages = Analyzer::StopwordLanguages();
  EXPECT_TRUE(std::is_sorted(languages.begin(), languages.end()));
  EXPECT_EQ(languages, StopwordLanguages());
  for (const char* expected :
       {"danish", "dutch", "english", "finnish", "french", "german", "hungarian", "italian",
        "norwegian", "portuguese", "russian", "spanish", "swedish"}) {
    EXPECT_THAT(languages, Contains(expected));
  }
  const std::vector<std::string> all = Analyzer::Languages();
  for (const std::string& language : languages) {
    SCOPED_TRACE(language);
    EXPECT_THAT(all, Contains(language));
    std::unique_ptr<Analyzer> on = MakeStopAnalyzer(language);
    ASSERT_NE(on, nullptr);
    EXPECT_TRUE(on->stopwords());
    std::vector<Token> tokens;
    EXPECT_EQ(on->Analyze(kMixedSentence, 0, &tokens), kMixedSentenceWords);
    const absl::flat_hash_set<std::string>* words = StopwordsFor(language);
    ASSERT_NE(words, nullptr);
    EXPECT_GT(words->size(), 90u);
    for (const std::string& word : *words) {
      // Stored folded, one word to the tokenizer, and dropped.
      EXPECT_EQ(Analyzer::FoldWord(word), word);
      tokens.clear();
      EXPECT_EQ(on->Analyze(word, 0, &tokens), 1u) << word;
      EXPECT_THAT(tokens, IsEmpty()) << word;
    }
  }
  EXPECT_EQ(StopwordsFor("none"), nullptr);
  EXPECT_EQ(StopwordsFor("turkish"), nullptr);
  EXPECT_EQ(StopwordsFor("klingon"), nullptr);
}

TEST(AnalyzerStopwords, Errors) {
  AnalyzerOptions options;
  options.language = "klingon";
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "klingon"));
  options.stopwords = true;
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "klingon"));
  options.language = "none";
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "\"none\""));
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "russian"));
  options.language = "turkish";
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "turkish"));
  EXPECT_THAT(Analyzer::Create(options), StatusIs(absl::StatusCode::kInvalidArgument, "english"));
  options.stopwords = false;
  EXPECT_THAT(Analyzer::Create(options), IsOk());
  // Designated initializers pick the options overload.
  EXPECT_THAT(Analyzer::Create({.language = "german", .stopwords = true}), IsOk());
}

TEST(AnalyzerStopwords, CloneKeepsSettings) {
  auto a = MakeStopAnalyzer("german");
  ASSERT_NE(a, nullptr);
  std::unique_ptr<Analyzer> b = a->Clone();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->language(), "german");
  EXPECT_TRUE(b->stopwords());
  const std::string text = "Der Hund und die Katze, the dogs";
  EXPECT_EQ(TermsAt(*a, text), TermsAt(*b, text));
  EXPECT_EQ(TermsAt(*b, text).size(), 4u);
}

// --- FoldWord ------------------------------------------------------------------

TEST(AnalyzerFoldWord, FoldsWithoutStemmingOrStopwords) {
  EXPECT_EQ(Analyzer::FoldWord("Running"), "running");
  EXPECT_EQ(Analyzer::FoldWord("The"), "the");
  EXPECT_EQ(Analyzer::FoldWord("HÄUSER"), "häuser");
  EXPECT_EQ(Analyzer::FoldWord("ΟΔΟΣ"), "οδοσ");
  EXPECT_EQ(Analyzer::FoldWord("Cafe\xCC\x81"), "caf\xC3\xA9");  // NFC
  EXPECT_EQ(Analyzer::FoldWord("DON\xE2\x80\x99T"), "don't");
  EXPECT_EQ(Analyzer::FoldWord(""), "");
  EXPECT_EQ(Analyzer::FoldWord("ab\xff"), "");
  EXPECT_EQ(Analyzer::FoldWord(std::string(kMaxTokenBytes, 'A')), std::string(kMaxTokenBytes, 'a'));
  EXPECT_EQ(Analyzer::FoldWord(std::string(kMaxTokenBytes + 1, 'a')), "");
  // The same as what a "none" analyzer (no stemming, no stopwords) indexes,
  // and as a member call.
  auto none = MakeAnalyzer("none");
  auto english = MakeStopAnalyzer("english");
  ASSERT_NE(none, nullptr);
  ASSERT_NE(english, nullptr);
  for (const char* word : {"Straße", "МОСКВА", "Ёлка", "İSTANBUL", "the", "Libraries", "中"}) {
    EXPECT_EQ(Analyzer::FoldWord(word), none->NormalizeWord(word)) << word;
    EXPECT_EQ(english->FoldWord(word), none->NormalizeWord(word)) << word;
  }
}

bool IsValidUtf8(const std::string& s) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp;
    const utf8proc_ssize_t n =
        utf8proc_iterate(p + i, static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

TEST(Analyzer, RandomBytes) {
  const uint32_t seed = ::scry::testing::TestSeed(20240611);
  std::cout << "[ INFO     ] RandomBytes seed " << seed << "\n";
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  const std::vector<std::string> pieces = {
      "a",
      "Z",
      "7",
      " ",
      "'",
      "\xE2\x80\x99",
      "\xC3\xA9",
      "\xC3\x9F",
      "\xCC\x81",
      "中",
      "カ",
      "ไ",
      "Σ",
      "İ",
      "\xF0\x9F\x98\x80",
      "\xF0\xA0\x80\x80",
      "-",
      ".",
      "\xE3\x82\x99",
      "\xD0\x96",
      "\xC2\xA0",
  };
  std::unique_ptr<Analyzer> analyzers[] = {MakeAnalyzer("english"), MakeAnalyzer("russian"),
                                           MakeAnalyzer("none"), MakeStopAnalyzer("english")};
  for (const auto& a : analyzers) ASSERT_NE(a, nullptr);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string text;
    const int parts = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int i = 0; i < parts; ++i) {
      switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
        case 0:  // printable ASCII
          text.push_back(static_cast<char>(std::uniform_int_distribution<int>(0x20, 0x7E)(rng)));
          break;
        case 1:
          text += pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
          break;
        case 2:  // garbage byte
          text.push_back(static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng)));
          break;
        default:  // a run of one letter, sometimes over the limit
          text.append(std::uniform_int_distribution<size_t>(1, 300)(rng), 'q');
          break;
      }
    }
    Analyzer& a = *analyzers[iter % std::size(analyzers)];
    std::vector<Token> tokens;
    const uint32_t next = a.Analyze(text, 100, &tokens);
    SCOPED_TRACE(::testing::Message() << "iteration " << iter << ", text \"" << text << "\"");
    uint32_t last_position = 99;
    for (const Token& t : tokens) {
      ASSERT_LT(t.begin, t.end);
      ASSERT_LE(t.end, text.size());
      ASSERT_LE(t.end - t.begin, kMaxTokenBytes);
      ASSERT_GT(t.position, last_position);
      ASSERT_LT(t.position, next);
      last_position = t.position;
      ASSERT_FALSE(t.term.empty());
      ASSERT_TRUE(IsValidUtf8(t.term));
      const std::string surface = text.substr(t.begin, t.end - t.begin);
      ASSERT_TRUE(IsValidUtf8(surface));
      ASSERT_EQ(a.NormalizeWord(surface), t.term);
    }
    ASSERT_LE(next - 100, text.size());
  }
}

}  // namespace
}  // namespace scry::analysis
