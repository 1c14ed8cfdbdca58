// File: tests/indexer/analyzer_test.cc
//
// Tests for indexer/analyzer.h: tokenizing, folding, stemming, offsets and
// positions, and robustness against arbitrary bytes.
#include "indexer/analyzer.h"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <utf8proc.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::indexer {
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
  const uint32_t seed = 20240611;
  std::cout << "[ INFO     ] RandomBytes seed " << seed << "\n";
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
                                           MakeAnalyzer("none")};
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
    Analyzer& a = *analyzers[iter % 3];
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
}  // namespace scry::indexer
