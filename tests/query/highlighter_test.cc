// File: tests/query/highlighter_test.cc
//
// Snippets (query/highlighter.h): fragments of the texts in tests/data/snippets
// worked out by hand from the rules in highlighter.h, surface words marked,
// UTF-8 and length bounds, bounded work on long documents, and checkpoints
// against full analysis (randomized; seeds from tests/test_util.h TestSeed).
#include "query/highlighter.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "analysis/analyzer.h"
#include "gtest/gtest.h"
#include "storage/stored_document.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using analysis::Analyzer;
using analysis::Token;
using storage::kCheckpointInterval;

std::unique_ptr<Analyzer> MakeAnalyzer(const std::string& language) {
  absl::StatusOr<std::unique_ptr<Analyzer>> analyzer = Analyzer::Create(language);
  EXPECT_TRUE(analyzer.ok()) << analyzer.status();
  return analyzer.ok() ? *std::move(analyzer) : nullptr;
}

// What the searcher has for a hit: the analysed query terms and the
// positions of those terms in the text (from its postings).
struct Matches {
  absl::flat_hash_set<std::string> terms;
  std::vector<uint32_t> positions;
};

Matches FindMatches(std::string_view text, std::string_view query, Analyzer* analyzer) {
  Matches m;
  std::vector<Token> tokens;
  analyzer->Analyze(query, 0, &tokens);
  for (const Token& t : tokens) m.terms.insert(t.term);
  tokens.clear();
  analyzer->Analyze(text, 0, &tokens);
  for (const Token& t : tokens) {
    if (m.terms.contains(t.term)) m.positions.push_back(t.position);
  }
  return m;
}

std::string StripTags(std::string s, const HighlightOptions& options) {
  for (const std::string* tag : {&options.pre_tag, &options.post_tag}) {
    for (size_t at; (at = s.find(*tag)) != std::string::npos;) s.erase(at, tag->size());
  }
  return s;
}

size_t CountChars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// Fragments with "[[" "]]" tags, checked against the invariants every
// result must have; returns them as they are.
void ExpectWellFormed(std::string_view text, const std::vector<std::string>& fragments,
                      const HighlightOptions& options) {
  const uint32_t limit = std::clamp(options.fragment_chars, kMinFragmentChars, kMaxFragmentChars);
  size_t after = 0;
  for (const std::string& fragment : fragments) {
    const std::string plain = StripTags(fragment, options);
    EXPECT_TRUE(IsValidUtf8(plain)) << fragment;
    EXPECT_LE(CountChars(plain), limit) << fragment;
    EXPECT_NE(fragment.find(options.pre_tag), std::string::npos) << fragment;
    const size_t at = text.find(plain, after);
    ASSERT_NE(at, std::string::npos) << "not in the text, in order: " << fragment;
    after = at + plain.size();
  }
}

// The fragments of `file` (in tests/data/snippets) for `query`, checked for
// the invariants of every result and for being the same without checkpoints.
std::vector<std::string> Fragments(const std::string& file, const std::string& language,
                                   uint32_t fragment_chars, uint32_t max_fragments,
                                   const std::string& query) {
  const std::string text = testing::ReadFile(testing::TestDataDir() + "/snippets/" + file);
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer(language);
  if (analyzer == nullptr) return {};
  HighlightOptions options;
  options.fragment_chars = fragment_chars;
  options.max_fragments = max_fragments;
  const Matches m = FindMatches(text, query, analyzer.get());
  const std::vector<std::string> fragments =
      Highlight(text, analysis::PositionCheckpoints(text, analyzer.get()), m.positions, m.terms,
                options, analyzer.get());
  // Without checkpoints (an old index) the result is the same, only slower.
  EXPECT_EQ(fragments, Highlight(text, {}, m.positions, m.terms, options, analyzer.get()));
  ExpectWellFormed(text, fragments, options);
  return fragments;
}

// Fragments worked out by hand from the rules of highlighter.h (windows from
// a match, ranked by distinct terms, then matches, then earliest; widened by
// whole words, half the unused length on the left and the rest on the right,
// plus adjacent punctuation). The arithmetic is in the comments: "w" is the
// window's length in characters, "L" and "R" what the sides take.
TEST(Highlighter, HandCheckedFragments) {
  // Two terms side by side beat every window with one (the other "sluices"
  // and "keeper" are too far apart). w 14 of 60: L <= 23 takes "complained
  // that the " (20; "Ashford " would make 28), R <= 46 - 20 = 26 takes
  // " in\nBrill favoured their" (24; " own" would make 28).
  EXPECT_EQ(Fragments("en_river.txt", "english", 60, 1, "sluice keepers"),
            std::vector<std::string>{
                "complained that the <em>sluice</em> <em>keepers</em> in\nBrill favoured their"});

  // Three matches, one term each: the two earliest. w 10 of 20: L <= 5 takes
  // nothing after "River" (6) but "the " (4) before the second; R takes
  // " was" (4 of 10), " a" (2 of 6).
  EXPECT_EQ(Fragments("en_river.txt", "english", 20, 2, "commission"),
            (std::vector<std::string>{"<em>Commission</em> was", "the <em>Commission</em> a"}));

  // "cooperating" marks the surface word "cooperation" (same stem), the
  // earlier of the two matches. w 11 of 160: L <= 74 takes "asked ...
  // before: " (73; "charter " would make 81), R <= 149 - 73 = 76 takes
  // ". Each town ... the dikes, the" (72; " sluices" would make 80).
  const std::string cooperation =
      "asked the five valley towns for\nsomething they had never managed before: "
      "<em>cooperation</em>. Each town kept its own mill race and its own\nferry, but the "
      "dikes, the";
  EXPECT_EQ(Fragments("en_river.txt", "english", 160, 1, "cooperating"),
            std::vector<std::string>{cooperation});
  // Without stemming only "cooperation" itself matches: the same fragment.
  EXPECT_EQ(Fragments("en_river.txt", "none", 160, 1, "cooperation"),
            std::vector<std::string>{cooperation});

  // Two terms: first the window "towns ... cooperation. Each town" (2 terms,
  // 3 matches; w 73, L <= 43 takes "the sea. Its charter asked the five
  // valley " (43), R <= 44 takes " kept ... own\nferry," (42)); then the best
  // one that does not overlap it, "cooperating towns" (2 terms, 2 matches;
  // the "town" before it is 171 characters away; w 17, L <= 71 takes "a
  // public ... that the " (69; "at " would make 72), R <= 74 takes " simply
  // ... \n\nToday the" (67; " Commission" would make 78)). In document
  // order.
  EXPECT_EQ(Fragments("en_river.txt", "english", 160, 2, "cooperating towns"),
            (std::vector<std::string>{
                "the sea. Its charter asked the five valley <em>towns</em> for\nsomething they had "
                "never managed before: <em>cooperation</em>. Each <em>town</em> kept its own mill "
                "race and its own\nferry,",
                "a public meeting every autumn. A few,\nless charitably, note that the "
                "<em>cooperating</em> <em>towns</em> simply had no choice once the insurers left "
                "the valley.\n\nToday the"}));

  // Umlauts: w 11 of 40: L <= 14 takes "der " (4; "Verteilung " would make
  // 15), R <= 25 takes " wird offen\nabgestimmt:" (23 with the colon; " Ein"
  // would make 27).
  EXPECT_EQ(Fragments("de_energie.txt", "german", 40, 1, "Überschüsse"),
            std::vector<std::string>{"der <em>Überschüsse</em> wird offen\nabgestimmt:"});

  // A typographic apostrophe in the query matches the ASCII one of the text.
  // w 5 of 30: L <= 12 takes "scores. " (8), R <= 17 takes " panic: old URLs"
  // (16; " still" would make 22).
  EXPECT_EQ(Fragments("mixed.txt", "english", 30, 1, "don\u2019t"),
            std::vector<std::string>{"scores. <em>Don't</em> panic: old URLs"});

  // No match: nothing.
  EXPECT_EQ(Fragments("en_river.txt", "english", 160, 1, "nonexistentword"),
            std::vector<std::string>{});

  // Ideographs: 東 and 京 are two words with nothing between them, marked by
  // one pair of tags.
  const std::vector<std::string> tokyo = Fragments("mixed.txt", "english", 40, 1, "東京");
  ASSERT_EQ(tokyo.size(), 1u);
  EXPECT_NE(tokyo[0].find("<em>東京</em>と大阪"), std::string::npos) << tokyo[0];
  EXPECT_EQ(tokyo[0].find("<em>", tokyo[0].find("<em>") + 1), std::string::npos) << tokyo[0];
}

TEST(Highlighter, MarksTheSurfaceWordNotTheStem) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  ASSERT_EQ(analyzer->NormalizeWord("cooperating"), analyzer->NormalizeWord("cooperation"));
  const std::string text = "Rivers need cooperation, not walls.";
  const Matches m = FindMatches(text, "cooperating", analyzer.get());
  EXPECT_EQ(m.positions, std::vector<uint32_t>{2});
  EXPECT_EQ(Highlight(text, analysis::PositionCheckpoints(text, analyzer.get()), m.positions,
                      m.terms, {}, analyzer.get()),
            std::vector<std::string>{"Rivers need <em>cooperation</em>, not walls."});
}

TEST(Highlighter, TagsAreConfigurable) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  const std::string text = "Hello, World! Worlds apart.";
  const Matches m = FindMatches(text, "world", analyzer.get());
  HighlightOptions options;
  options.pre_tag = "[[";
  options.post_tag = "]]";
  EXPECT_EQ(Highlight(text, {}, m.positions, m.terms, options, analyzer.get()),
            std::vector<std::string>{"Hello, [[World]]! [[Worlds]] apart."});
  options.pre_tag = "";
  options.post_tag = "";
  EXPECT_EQ(Highlight(text, {}, m.positions, m.terms, options, analyzer.get()),
            std::vector<std::string>{text});
}

TEST(Highlighter, TextIsNotEscaped) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("none");
  const std::string text = "a <b>bold</b> & \"quoted\" claim";
  const Matches m = FindMatches(text, "bold", analyzer.get());
  EXPECT_EQ(Highlight(text, {}, m.positions, m.terms, {}, analyzer.get()),
            std::vector<std::string>{"a <b><em>bold</em></b> & \"quoted\" claim"});
}

TEST(Highlighter, NoMatchGivesNothingUnlessAsked) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  const std::string text = "  ...The first words of a text that matched nothing at all, but still.";
  HighlightOptions options;
  options.fragment_chars = 30;
  EXPECT_TRUE(Highlight(text, {}, {}, {"zebra"}, options, analyzer.get()).empty());
  EXPECT_TRUE(Highlight("", {}, {0}, {"zebra"}, options, analyzer.get()).empty());
  options.no_match_fragment = true;
  EXPECT_EQ(Highlight(text, {}, {}, {"zebra"}, options, analyzer.get()),
            std::vector<std::string>{"The first words of a text that"});
  options.max_fragments = 0;
  EXPECT_TRUE(Highlight(text, {}, {}, {"zebra"}, options, analyzer.get()).empty());
}

TEST(Highlighter, PrefersDistinctTermsThenMatchesAndKeepsDocumentOrder) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  std::string text = "apple apple apple pie. ";
  for (int i = 0; i < 40; ++i) text += "Filler words fill the space between. ";
  text += "One apple and one banana. ";
  for (int i = 0; i < 40; ++i) text += "More filler to keep them apart. ";
  text += "A lone apple at the end.";
  const Matches m = FindMatches(text, "apple banana", analyzer.get());
  HighlightOptions options;
  options.fragment_chars = 40;
  options.pre_tag = "[[";
  options.post_tag = "]]";
  EXPECT_EQ(Highlight(text, {}, m.positions, m.terms, options, analyzer.get()),
            std::vector<std::string>{"One [[apple]] and one [[banana]]. More filler to"});
  options.max_fragments = 3;
  const std::vector<std::string> three =
      Highlight(text, analysis::PositionCheckpoints(text, analyzer.get()), m.positions, m.terms,
                options, analyzer.get());
  EXPECT_EQ(three, (std::vector<std::string>{"[[apple]] [[apple]] [[apple]] pie. Filler words fill",
                                             "One [[apple]] and one [[banana]]. More filler to",
                                             "apart. A lone [[apple]] at the end."}));
}

TEST(Highlighter, CutsOnlyAnOverlongMatchAndAtACharacterBoundary) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("none");
  std::string word;
  for (int i = 0; i < 30; ++i) word += "ж";  // 2 bytes each
  const std::string text = "x " + word + " y";
  const Matches m = FindMatches(text, word, analyzer.get());
  HighlightOptions options;
  options.fragment_chars = 20;
  const std::vector<std::string> fragments =
      Highlight(text, {}, m.positions, m.terms, options, analyzer.get());
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0], "<em>" + word.substr(0, 40) + "</em>");
}

TEST(Highlighter, MultibyteTextIsNeverCutInsideACharacter) {
  const std::string dir = testing::TestDataDir() + "/snippets/";
  for (const auto& [file, language, query] :
       {std::tuple<std::string, std::string, std::string>{"de_energie.txt", "german",
                                                          "Überschüsse Genossenschaft Strom"},
        {"ru_library.txt", "russian", "библиотека архив здание"},
        {"mixed.txt", "english", "東京 café search"}}) {
    std::unique_ptr<Analyzer> analyzer = MakeAnalyzer(language);
    const std::string text = testing::ReadFile(dir + file);
    const Matches m = FindMatches(text, query, analyzer.get());
    ASSERT_FALSE(m.positions.empty()) << file;
    const std::vector<uint32_t> checkpoints = analysis::PositionCheckpoints(text, analyzer.get());
    HighlightOptions options;
    options.pre_tag = "[[";
    options.post_tag = "]]";
    for (uint32_t chars = 20; chars <= 200; chars += 3) {
      options.fragment_chars = chars;
      options.max_fragments = 1 + chars % 4;
      const std::vector<std::string> fragments =
          Highlight(text, checkpoints, m.positions, m.terms, options, analyzer.get());
      ASSERT_FALSE(fragments.empty()) << file << " " << chars;
      ExpectWellFormed(text, fragments, options);
    }
  }
}

TEST(Highlighter, FragmentLengthIsClamped) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  std::string text;
  for (int i = 0; i < 100; ++i) text += "word" + std::to_string(i) + " ";
  const Matches m = FindMatches(text, "word50", analyzer.get());
  HighlightOptions options;
  options.pre_tag = options.post_tag = "";
  options.fragment_chars = 1;  // taken as kMinFragmentChars
  std::vector<std::string> fragments =
      Highlight(text, {}, m.positions, m.terms, options, analyzer.get());
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0], "word49 word50 word51");
  options.fragment_chars = 1 << 30;  // taken as kMaxFragmentChars: the whole text
  fragments = Highlight(text, {}, m.positions, m.terms, options, analyzer.get());
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_EQ(fragments[0], text.substr(0, text.size() - 1));
}

// A text of about `bytes` bytes of English-like words, fixed seed.
std::string LongText(size_t bytes, uint32_t seed) {
  static const char* const kWords[] = {"river",  "valley", "the",     "of",      "and",
                                       "sluice", "keeper", "ledger",  "harvest", "town",
                                       "a",      "dike",   "warning", "spring",  "ferry"};
  SCRY_SEEDED_RNG(rng, seed);
  std::string text;
  while (text.size() < bytes) {
    text += kWords[rng() % std::size(kWords)];
    text += rng() % 12 == 0 ? ". " : " ";
  }
  return text;
}

TEST(Highlighter, AnalysesOnlyAroundTheMatchOfALongDocument) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  std::string text = LongText(1'000'000, 7);
  text += "Then a zebra crossed the dike. ";
  text += LongText(2000, 8);
  const Matches m = FindMatches(text, "zebra", analyzer.get());
  ASSERT_EQ(m.positions.size(), 1u);
  const std::vector<uint32_t> checkpoints = analysis::PositionCheckpoints(text, analyzer.get());
  HighlightStats with, without;
  const std::vector<std::string> fragments =
      Highlight(text, checkpoints, m.positions, m.terms, {}, analyzer.get(), &with);
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_NE(fragments[0].find("Then a <em>zebra</em> crossed the dike."), std::string::npos);
  EXPECT_LE(with.bytes_analyzed, 4096u);
  RecordProperty("bytes_analyzed", std::to_string(with.bytes_analyzed));
  // Without checkpoints: the same fragment, from the whole text before it.
  EXPECT_EQ(fragments, Highlight(text, {}, m.positions, m.terms, {}, analyzer.get(), &without));
  EXPECT_GE(without.bytes_analyzed, 1'000'000u);
}

TEST(Highlighter, ManyMatchesStayBounded) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  std::string text = LongText(500'000, 9);
  text += " the apple and the banana ";
  text += LongText(500'000, 10);
  const std::vector<uint32_t> checkpoints = analysis::PositionCheckpoints(text, analyzer.get());
  const Matches m = FindMatches(text, "river banana", analyzer.get());
  ASSERT_GT(m.positions.size(), 10'000u);
  // By term, the stretch with both terms wins, though "river" is far off.
  std::vector<std::vector<uint32_t>> by_term(2);
  std::vector<Token> tokens;
  analyzer->Analyze(text, 0, &tokens);
  for (const Token& t : tokens) {
    if (t.term == "river") by_term[0].push_back(t.position);
    if (t.term == "banana") by_term[1].push_back(t.position);
  }
  ASSERT_EQ(by_term[1].size(), 1u);
  HighlightStats stats;
  HighlightOptions options;
  options.fragment_chars = 300;
  std::vector<std::string> fragments =
      HighlightByTerm(text, checkpoints, by_term, m.terms, options, analyzer.get(), &stats);
  ASSERT_EQ(fragments.size(), 1u);
  EXPECT_NE(fragments[0].find("the apple and the <em>banana</em>"), std::string::npos)
      << fragments[0];
  EXPECT_NE(fragments[0].find("<em>river</em>"), std::string::npos) << fragments[0];
  EXPECT_LE(stats.bytes_analyzed, 64u * 1024);
  RecordProperty("bytes_analyzed_by_term", std::to_string(stats.bytes_analyzed));
  // From one list, the densest stretches of "river", within the same bound.
  stats = {};
  options.max_fragments = 3;
  fragments = Highlight(text, checkpoints, m.positions, m.terms, options, analyzer.get(), &stats);
  EXPECT_EQ(fragments.size(), 3u);
  EXPECT_LE(stats.bytes_analyzed, 64u * 1024);
  RecordProperty("bytes_analyzed", std::to_string(stats.bytes_analyzed));
}

TEST(Highlighter, GarbageCheckpointsCountAsNone) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  const std::string text = LongText(5000, 11) + " zebra " + LongText(500, 12);
  const Matches m = FindMatches(text, "zebra", analyzer.get());
  const std::vector<std::string> expected =
      Highlight(text, {}, m.positions, m.terms, {}, analyzer.get());
  ASSERT_EQ(expected.size(), 1u);
  for (const std::vector<uint32_t>& garbage :
       {std::vector<uint32_t>{0, 50, 40}, std::vector<uint32_t>{0, 1u << 30}}) {
    EXPECT_EQ(Highlight(text, garbage, m.positions, m.terms, {}, analyzer.get()), expected);
  }
}

TEST(Highlighter, WorksWithCheckpointsFromAStoredDocument) {
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  storage::StoredDocument doc;
  doc.id = "d1";
  doc.fields = {{"title", "Zebra crossings"}, {"body", LongText(20'000, 13) + " a zebra "}};
  for (const auto& field : doc.fields) {
    doc.checkpoints.push_back(analysis::PositionCheckpoints(field.second, analyzer.get()));
  }
  absl::StatusOr<storage::StoredDocument> decoded = storage::StoredDocument::Decode(doc.Encode());
  ASSERT_THAT(decoded, testing::IsOk());
  ASSERT_EQ(decoded->checkpoints, doc.checkpoints);
  const std::string_view body = decoded->Field("body");
  const Matches m = FindMatches(body, "zebra", analyzer.get());
  HighlightStats stats;
  EXPECT_EQ(
      Highlight(body, decoded->Checkpoints(1), m.positions, m.terms, {}, analyzer.get(), &stats),
      Highlight(body, {}, m.positions, m.terms, {}, analyzer.get()));
  EXPECT_LE(stats.bytes_analyzed, 4096u);
}

// Random text from pieces that stress the tokenizer: apostrophes, NFD marks,
// CJK (a word per character, no separators), over-long words (dropped but
// counted), punctuation, and words glued together.
// `dropped` in 100 pieces are over-long words.
std::string RandomText(std::mt19937& rng, uint32_t dropped = 3) {
  static const char* const kPieces[] = {"the",
                                        "of",
                                        "and",
                                        "river",
                                        "Rivers",
                                        "cooperation",
                                        "cooperating",
                                        "don't",
                                        "l’été",
                                        "rock'n'roll",
                                        "a1b2",
                                        "2024",
                                        "Größe",
                                        "über",
                                        "Straße",
                                        "библиотека",
                                        "ЧИТАТЕЛИ",
                                        "ёж",
                                        "東",
                                        "京",
                                        "日本語",
                                        "の",
                                        "e\u0301t\u00e9",
                                        "İstanbul",
                                        "ﬁsh",
                                        " ",
                                        " ",
                                        " ",
                                        "  ",
                                        "\n",
                                        ", ",
                                        ". ",
                                        "—",
                                        "(",
                                        ")",
                                        "\"",
                                        "'",
                                        "’",
                                        "-",
                                        "…",
                                        "\t"};
  std::string text;
  const size_t pieces = rng() % 700;
  for (size_t i = 0; i < pieces; ++i) {
    const uint32_t r = rng() % 100;
    if (r < dropped * 2 / 3) {
      text += std::string(256 + rng() % 40, 'q');  // over-long: dropped
    } else if (r < dropped) {
      for (int k = 0; k < 130; ++k) text += "é";  // 260 bytes: dropped
    } else {
      text += kPieces[rng() % std::size(kPieces)];
    }
  }
  return text;
}

TEST(Highlighter, CheckpointRestartsEqualFullAnalysis) {
  const uint32_t seed = ::scry::testing::TestSeed(20240611);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::unique_ptr<Analyzer> plain = MakeAnalyzer("english");
  // With stopwords on, stop words are dropped too (often at a checkpoint).
  absl::StatusOr<std::unique_ptr<Analyzer>> stopping =
      Analyzer::Create(analysis::AnalyzerOptions{"english", /*stopwords=*/true});
  ASSERT_THAT(stopping, testing::IsOk());
  for (int round = 0; round < 400; ++round) {
    Analyzer* analyzer = round % 2 == 0 ? plain.get() : stopping->get();
    // Every 8th text is mostly dropped words, so that checkpoints fall on
    // runs of them.
    const std::string text = RandomText(rng, round % 8 == 0 ? 60 : 3);
    SCOPED_TRACE(absl::StrCat("round ", round, " stopwords ", analyzer->stopwords(), ": ",
                              text.substr(0, 200)));
    std::vector<Token> full;
    const uint32_t words = analyzer->Analyze(text, 0, &full);
    const std::vector<uint32_t> checkpoints = analysis::PositionCheckpoints(text, analyzer);
    ASSERT_EQ(checkpoints.size(), (words + kCheckpointInterval - 1) / kCheckpointInterval);
    // The same from the tokens of an analysis at another base position.
    std::vector<Token> based;
    const uint32_t end = analyzer->Analyze(text, 1000, &based);
    EXPECT_EQ(analysis::PositionCheckpointsFromTokens(text, based, 1000, end, analyzer),
              checkpoints);
    for (size_t k = 0; k < checkpoints.size(); ++k) {
      const uint32_t position = static_cast<uint32_t>(k * kCheckpointInterval);
      std::vector<Token> restarted;
      EXPECT_EQ(
          analyzer->Analyze(std::string_view(text).substr(checkpoints[k]), position, &restarted),
          words);
      auto it = full.begin();
      while (it != full.end() && it->position < position) ++it;
      ASSERT_EQ(restarted.size(), static_cast<size_t>(full.end() - it)) << "checkpoint " << k;
      for (const Token& t : restarted) {
        EXPECT_EQ(t.term, it->term);
        EXPECT_EQ(t.position, it->position);
        EXPECT_EQ(t.begin + checkpoints[k], it->begin);
        EXPECT_EQ(t.end + checkpoints[k], it->end);
        ++it;
      }
    }
  }
}

TEST(Highlighter, WithCheckpointsEqualsWithout) {
  const uint32_t seed = ::scry::testing::TestSeed(77);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::unique_ptr<Analyzer> analyzer = MakeAnalyzer("english");
  int highlighted = 0;
  for (int round = 0; round < 400; ++round) {
    std::string text = RandomText(rng, round % 8 == 1 ? 40 : 3);
    if (round % 4 == 0) text += LongText(rng() % 30'000, round);
    std::vector<Token> tokens;
    analyzer->Analyze(text, 0, &tokens);
    if (tokens.empty()) continue;
    absl::flat_hash_set<std::string> terms;
    for (int i = 1 + rng() % 3; i > 0; --i) terms.insert(tokens[rng() % tokens.size()].term);
    std::vector<uint32_t> positions;
    for (const Token& t : tokens) {
      if (terms.contains(t.term) && rng() % 8 != 0) positions.push_back(t.position);
    }
    HighlightOptions options;
    options.pre_tag = "[[";
    options.post_tag = "]]";
    options.fragment_chars = 20 + rng() % 200;
    options.max_fragments = 1 + rng() % 4;
    SCOPED_TRACE(absl::StrCat("round ", round, " chars ", options.fragment_chars, " fragments ",
                              options.max_fragments));
    HighlightStats with, without;
    const std::vector<std::string> fragments =
        Highlight(text, analysis::PositionCheckpoints(text, analyzer.get()), positions, terms,
                  options, analyzer.get(), &with);
    EXPECT_EQ(fragments, Highlight(text, {}, positions, terms, options, analyzer.get(), &without));
    EXPECT_LE(fragments.size(), options.max_fragments);
    EXPECT_EQ(fragments.empty(), positions.empty());
    ExpectWellFormed(text, fragments, options);
    highlighted += fragments.empty() ? 0 : 1;
    // The same by term.
    std::vector<std::vector<uint32_t>> by_term(terms.size());
    for (uint32_t p : positions) {
      const auto it = std::find_if(tokens.begin(), tokens.end(),
                                   [&](const Token& t) { return t.position == p; });
      by_term[std::distance(terms.begin(), terms.find(it->term))].push_back(p);
    }
    const std::vector<std::string> by_term_fragments =
        HighlightByTerm(text, analysis::PositionCheckpoints(text, analyzer.get()), by_term, terms,
                        options, analyzer.get());
    EXPECT_EQ(by_term_fragments,
              HighlightByTerm(text, {}, by_term, terms, options, analyzer.get()));
    ExpectWellFormed(text, by_term_fragments, options);
    if (positions.size() <= 16) {
      EXPECT_EQ(by_term_fragments, fragments);
    }
  }
  EXPECT_GT(highlighted, 300);
}

}  // namespace
}  // namespace scry::query
