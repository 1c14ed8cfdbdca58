// File: tests/query/query_parser_test.cc
//
// Tests of ParseQuery with the real English analyzer: the trees of good
// queries (through DebugString), the exact column of every kind of error,
// the limits, and a randomized robustness test.
#include "query/query_parser.h"

#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analysis/analyzer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "query/query_tree.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::StatusIs;

class QueryParser : public ::testing::Test {
 protected:
  void SetUp() override {
    auto analyzer = analysis::Analyzer::Create("english");
    ASSERT_TRUE(analyzer.ok()) << analyzer.status();
    analyzer_ = std::move(*analyzer);
  }

  absl::StatusOr<std::unique_ptr<QueryNode>> Parse(std::string_view text,
                                                   const ParseOptions& options = {}) {
    return ParseQuery(text, options, analyzer_.get());
  }

  // The DebugString of the parse, or "error: <message>".
  std::string Debug(std::string_view text, const ParseOptions& options = {}) {
    auto node = Parse(text, options);
    if (!node.ok()) return "error: " + std::string(node.status().message());
    return (*node)->DebugString();
  }

  std::string DebugAnd(std::string_view text) {
    ParseOptions options;
    options.default_operator = DefaultOperator::kAnd;
    return Debug(text, options);
  }

  std::unique_ptr<analysis::Analyzer> analyzer_;
};

TEST_F(QueryParser, SingleTermIsRootBoolWithOneShould) {
  auto node = Parse("a");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->kind, QueryNode::Kind::kBool);
  ASSERT_EQ((*node)->should.size(), 1u);
  EXPECT_EQ((*node)->should[0]->kind, QueryNode::Kind::kTerm);
  EXPECT_EQ((*node)->DebugString(), "(a)");
  EXPECT_EQ(Debug("  a\t\n"), "(a)");
}

TEST_F(QueryParser, ImplicitOrAndExplicitOperators) {
  EXPECT_EQ(Debug("a b c"), "(a b c)");
  EXPECT_EQ(Debug("a OR b"), "(a b)");
  EXPECT_EQ(Debug("a AND b"), "(+a +b)");
  EXPECT_EQ(Debug("a AND b AND c"), "(+a +b +c)");
  EXPECT_EQ(Debug("a AND b OR c"), "((+a +b) c)");
  EXPECT_EQ(Debug("a OR b AND c"), "(a (+b +c))");
  EXPECT_EQ(Debug("a b AND c d"), "(a (+b +c) d)");
}

TEST_F(QueryParser, NotAndModifiers) {
  EXPECT_EQ(Debug("a NOT b"), "(a -b)");
  EXPECT_EQ(Debug("a AND NOT b"), "(+a -b)");
  EXPECT_EQ(Debug("a OR NOT b"), "(a -b)");
  EXPECT_EQ(Debug("+a b -c"), "(+a b -c)");
  EXPECT_EQ(Debug("a -b +c"), "(+c a -b)");
  EXPECT_EQ(Debug("a AND -b AND +c"), "(+a +c -b)");
  EXPECT_EQ(Debug("+a"), "(a)");  // a lone leaf is always a should child
  // A modifier applies to the next clause even after whitespace.
  EXPECT_EQ(Debug("a - b"), "(a -b)");
  // Each NOT flips exclusion.
  EXPECT_EQ(Debug("a NOT NOT b"), "(a b)");
  EXPECT_EQ(Debug("a NOT +b"), "(a -b)");
  EXPECT_EQ(Debug("a NOT -b"), "(a b)");
}

TEST_F(QueryParser, NestedParentheses) {
  EXPECT_EQ(Debug("(a b)"), "(a b)");
  EXPECT_EQ(Debug("((a))"), "(a)");
  EXPECT_EQ(Debug("(a b) c"), "((a b) c)");
  EXPECT_EQ(Debug("a (b OR (c AND d))"), "(a (b (+c +d)))");
  EXPECT_EQ(Debug("+(a b) -(c d) e"), "(+(a b) e -(c d))");
  EXPECT_EQ(Debug("(a AND b) AND (c OR d)"), "(+(+a +b) +(c d))");
  EXPECT_EQ(Debug("a AND (b)"), "(+a +b)");
  EXPECT_EQ(Debug("(a -b) c"), "((a -b) c)");
  EXPECT_EQ(Debug("-(a) b"), "(b -a)");
  EXPECT_EQ(Debug("a(b)c"), "(a b c)");
}

TEST_F(QueryParser, Phrases) {
  EXPECT_EQ(Debug("\"b c\""), "(\"b c\")");
  EXPECT_EQ(Debug("a +\"b c\" d -e"), "(+\"b c\" a d -e)");
  EXPECT_EQ(Debug("-\"b c\" a"), "(a -\"b c\")");
  EXPECT_EQ(Debug("\"a\""), "(a)");                   // one term: a term
  EXPECT_EQ(Debug("\"\" a \"...\""), "(a)");          // empty phrases are dropped
  EXPECT_EQ(Debug("\"a AND (b\""), "(\"a and b\")");  // no operators inside
  EXPECT_EQ(Debug("x\"b c\"y"), "(x \"b c\" y)");

  auto node = Parse("\"b c d\"");
  ASSERT_TRUE(node.ok()) << node.status();
  const QueryNode& phrase = *(*node)->should[0];
  EXPECT_EQ(phrase.kind, QueryNode::Kind::kPhrase);
  EXPECT_THAT(phrase.terms, ::testing::ElementsAre("b", "c", "d"));
  EXPECT_THAT(phrase.positions, ::testing::ElementsAre(0, 1, 2));
}

TEST_F(QueryParser, PhraseKeepsPositionGaps) {
  // An over-long word is dropped by the analyzer but keeps its position.
  const std::string long_word(analysis::kMaxTokenBytes + 1, 'x');
  auto node = Parse("\"a " + long_word + " b\"");
  ASSERT_TRUE(node.ok()) << node.status();
  const QueryNode& phrase = *(*node)->should[0];
  EXPECT_THAT(phrase.terms, ::testing::ElementsAre("a", "b"));
  EXPECT_THAT(phrase.positions, ::testing::ElementsAre(0, 2));
  EXPECT_EQ((*node)->DebugString(), "(\"a ? b\")");
  // A gap before the first term is not kept: positions are relative.
  EXPECT_EQ(Debug("\"" + long_word + " a b\""), "(\"a b\")");
}

TEST_F(QueryParser, WordWithSeveralTermsBecomesPhrase) {
  EXPECT_EQ(Debug("wi-fi"), "(\"wi fi\")");
  EXPECT_EQ(Debug("a +wi-fi"), "(+\"wi fi\" a)");
  EXPECT_EQ(Debug("日本"), "(\"日 本\")");
  EXPECT_EQ(Debug("a!b"), "(\"a b\")");
  EXPECT_EQ(Debug("a&&b"), "(\"a b\")");
}

TEST_F(QueryParser, AnalyzerStemsAndFolds) {
  EXPECT_EQ(Debug("Running"), "(run)");
  EXPECT_EQ(Debug("\"Running Dogs\""), "(\"run dog\")");
  EXPECT_EQ(Debug("CATS AND Dogs"), "(+cat +dog)");
  EXPECT_EQ(Debug("Über"), "(über)");
}

TEST_F(QueryParser, WordsAnalysingToNothingAreDropped) {
  EXPECT_EQ(Debug("a ..."), "(a)");
  EXPECT_EQ(Debug("a AND ..."), "(a)");
  EXPECT_EQ(Debug("a AND ... AND b"), "(+a +b)");
  EXPECT_EQ(Debug("(... ***) a"), "(a)");
  EXPECT_EQ(Debug("a -... +%%"), "(a)");
  EXPECT_EQ(Debug("(a ...) OR (... b)"), "(a b)");
  EXPECT_EQ(Debug("((... a) AND b)"), "(+a +b)");
}

TEST_F(QueryParser, DefaultOperatorAnd) {
  EXPECT_EQ(DebugAnd("a"), "(a)");
  EXPECT_EQ(DebugAnd("a b"), "(+a +b)");
  EXPECT_EQ(DebugAnd("a b c"), "(+a +b +c)");
  EXPECT_EQ(DebugAnd("a -b"), "(+a -b)");
  EXPECT_EQ(DebugAnd("a +b"), "(+a +b)");
  EXPECT_EQ(DebugAnd("a NOT b"), "(+a -b)");
  EXPECT_EQ(DebugAnd("a OR b"), "(a b)");
  EXPECT_EQ(DebugAnd("a b OR c"), "((+a +b) c)");
  EXPECT_EQ(DebugAnd("a OR b c"), "(a (+b +c))");
  EXPECT_EQ(DebugAnd("(a OR b) c"), "(+(a b) +c)");
  EXPECT_EQ(DebugAnd("a ..."), "(a)");
}

TEST_F(QueryParser, SymbolOperators) {
  EXPECT_EQ(Debug("a && b"), "(+a +b)");
  EXPECT_EQ(Debug("a || b"), "(a b)");
  EXPECT_EQ(Debug("a !b"), "(a -b)");
  EXPECT_EQ(Debug("a && !b || c"), "((+a -b) c)");
  EXPECT_EQ(Debug("(a)&&(b)"), "(+a +b)");
  EXPECT_EQ(Debug("a !!b"), "(a b)");
}

TEST_F(QueryParser, Escapes) {
  EXPECT_EQ(Debug("\\(a\\)"), "(a)");
  EXPECT_EQ(Debug("a \\AND b"), "(a and b)");
  EXPECT_EQ(Debug("\\NOT a"), "(not a)");
  EXPECT_EQ(Debug("\\-a b"), "(a b)");  // not a modifier
  EXPECT_EQ(Debug("\\+a"), "(a)");
  EXPECT_EQ(Debug("\\!a"), "(a)");
  EXPECT_EQ(Debug("\\\"a b\\\""), "(a b)");  // \" is not a phrase quote
  EXPECT_EQ(Debug("a\\ b"), "(\"a b\")");    // an escaped space stays in the word
  EXPECT_EQ(Debug("\"a \\\" b\""), "(\"a b\")");
  EXPECT_EQ(Debug("a \\"), "(a)");  // a final backslash is a character
  EXPECT_EQ(Debug("\\&&"), "error: column 1: query has no searchable terms");
}

TEST_F(QueryParser, LowerCaseOperatorsAreWords) {
  EXPECT_EQ(Debug("a and b or c not d"), "(a and b or c not d)");
  EXPECT_EQ(Debug("And Or Not"), "(and or not)");
  EXPECT_EQ(Debug("ANDROID ORACLE NOTE"), "(android oracl note)");
}

TEST_F(QueryParser, EmptyQueries) {
  EXPECT_THAT(Parse(""), StatusIs(absl::StatusCode::kInvalidArgument, "column 1: query is empty"));
  EXPECT_THAT(Parse(" \t\n "),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 1: query is empty"));
  for (const char* text : {"...", "\"\"", "(...)", "... AND ***", "-..."}) {
    EXPECT_THAT(Parse(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "column 1: query has no searchable terms"))
        << text;
  }
}

TEST_F(QueryParser, OnlyNegativeClauses) {
  for (const char* text :
       {"-a", "NOT a", "!a", "-a -b", "NOT a AND NOT b", "-(a b)", "... AND NOT a", "-a ..."}) {
    EXPECT_THAT(Parse(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "column 1: query has only negative clauses"))
        << text;
  }
  // A group that could only exclude matches nothing: an error too.
  EXPECT_EQ(Debug("(-a)"), "error: column 1: parenthesised group has only negative clauses");
  EXPECT_EQ(Debug("a (-b)"), "error: column 3: parenthesised group has only negative clauses");
  EXPECT_EQ(Debug("a AND (NOT b)"),
            "error: column 7: parenthesised group has only negative clauses");
  EXPECT_EQ(Debug("c OR NOT a AND NOT b"),
            "error: column 6: clauses joined by AND are all negative");
}

TEST_F(QueryParser, SyntaxErrorsReportTheColumn) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a \"b c", "column 3: unterminated phrase"},
      {"\"a \\\"", "column 1: unterminated phrase"},
      {"a (b", "column 3: unbalanced '('"},
      {"(a (b)", "column 1: unbalanced '('"},
      {"a (", "column 3: unbalanced '('"},
      {"a)", "column 2: unexpected ')'"},
      {"(a) b)", "column 6: unexpected ')'"},
      {") a", "column 1: unexpected ')'"},
      {"a ()", "column 3: empty parentheses"},
      // A missing operand is reported at the operator.
      {"title AND", "column 7: missing term after 'AND'"},
      {"AND a", "column 1: missing term before 'AND'"},
      {"OR a", "column 1: missing term before 'OR'"},
      {"a AND OR b", "column 3: missing term after 'AND'"},
      {"a OR AND b", "column 3: missing term after 'OR'"},
      {"a OR", "column 3: missing term after 'OR'"},
      {"a &&", "column 3: missing term after '&&'"},
      {"a NOT", "column 3: missing term after 'NOT'"},
      {"a !", "column 3: missing term after '!'"},
      {"+", "column 1: missing term after '+'"},
      {"a -", "column 3: missing term after '-'"},
      {"(a +)", "column 4: missing term after '+'"},
      {"(a AND) b", "column 4: missing term after 'AND'"},
      {"(AND a)", "column 2: missing term before 'AND'"},
      {"+-a", "column 1: missing term after '+'"},
      {"-NOT a", "column 1: missing term after '-'"},
      // Columns count code points, not bytes.
      {"日本 AND", "column 4: missing term after 'AND'"},
      {"über (x", "column 6: unbalanced '('"},
      {"\xff AND", "column 3: missing term after 'AND'"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_THAT(Parse(text), StatusIs(absl::StatusCode::kInvalidArgument, message)) << text;
  }
}

TEST_F(QueryParser, InvalidUtf8IsSeparator) {
  EXPECT_EQ(Debug("a\xff"
                  "b"),
            "(\"a b\")");
  EXPECT_EQ(Debug("\xc3 a \x80"), "(a)");
}

TEST_F(QueryParser, MaxQueryBytes) {
  ParseOptions options;
  options.max_query_bytes = 5;
  EXPECT_EQ(Debug("a b c", options), "(a b c)");
  EXPECT_THAT(Parse("a b cd", options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 6: query is longer than 5"));
  // The limit falls inside the second "é": its column is reported.
  options.max_query_bytes = 3;
  EXPECT_THAT(Parse("ééé", options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 2: query is longer than 3"));
  EXPECT_THAT(Parse(std::string(5000, 'a'), ParseOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 4097: query is longer"));
}

TEST_F(QueryParser, MaxClauses) {
  ParseOptions options;
  options.max_clauses = 3;
  EXPECT_EQ(Debug("a b c", options), "(a b c)");
  EXPECT_EQ(Debug("a \"b c d e\" ... f", options), "(a \"b c d e\" f)");  // dropped: not counted
  EXPECT_THAT(Parse("a b c d", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "column 7: query has more than 3 terms and phrases"));
  EXPECT_EQ(Debug("(((a)))", options), "(a)");
  EXPECT_THAT(
      Parse("a ((((b))))", options),
      StatusIs(absl::StatusCode::kInvalidArgument, "column 6: parentheses nested deeper than 3"));
}

TEST_F(QueryParser, DeepNestingDoesNotOverflowTheStack) {
  ParseOptions options;
  options.max_query_bytes = 1 << 20;
  const std::string open(100000, '(');
  EXPECT_THAT(Parse(open, options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 101: parentheses nested"));
  EXPECT_THAT(Parse(open + "a" + std::string(100000, ')'), options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 101: parentheses nested"));
  // max_clauses above the built-in nesting cap does not lift the cap.
  options.max_clauses = 1000000;
  EXPECT_THAT(Parse(open, options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 101: parentheses nested"));
  options.max_clauses = 1024;
  EXPECT_EQ(Debug(std::string(100, '(') + "a" + std::string(100, ')'), options), "(a)");
  EXPECT_EQ(Debug(std::string(100000, '!') + "a b", options), "(a b)");
  EXPECT_THAT(Parse(std::string(100000, ')'), options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 1: unexpected ')'"));
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "a AND ";
  EXPECT_THAT(Parse(many + "a", options),
              StatusIs(absl::StatusCode::kInvalidArgument, "column 6145: query has more than"));
}

TEST_F(QueryParser, NullAnalyzer) {
  EXPECT_THAT(ParseQuery("a", ParseOptions(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(QueryParser, FieldScopes) {
  EXPECT_EQ(Debug("title:Cats"), "(title:cat)");
  EXPECT_EQ(Debug("title:\"big cats\""), "(title:\"big cat\")");
  EXPECT_EQ(Debug("title:(cats dogs) birds"), "((title:cat title:dog) bird)");
  // An inner field wins over the group's.
  EXPECT_EQ(Debug("title:(cats body:dogs)"), "(title:cat body:dog)");
  EXPECT_EQ(Debug("+title:cats -body:dogs"), "(+title:cat -body:dog)");
  EXPECT_EQ(Debug("title:wi-fi"), "(title:\"wi fi\")");
  // Not a field name: an ordinary word (here two terms, a phrase).
  EXPECT_EQ(Debug("12:30"), "(\"12 30\")");
  EXPECT_EQ(Debug("title\\:cats"), "(\"titl cat\")");
}

TEST_F(QueryParser, BoostsPrefixFuzzyAndSlop) {
  EXPECT_EQ(Debug("cats^2 dogs"), "(cat^2 dog)");
  EXPECT_EQ(Debug("\"big cats\"^0.5"), "(\"big cat\"^0.5)");
  EXPECT_EQ(Debug("(cats dogs^2)^3"), "(cat^3 dog^6)");
  EXPECT_EQ(Debug("title:Secur*"), "(title:secur*)");
  EXPECT_EQ(Debug("secur**^2"), "(secur*^2)");
  EXPECT_EQ(Debug("Medvedv~1"), "(medvedv~1)");
  EXPECT_EQ(Debug("running~"), "(running~2)");  // folded, not stemmed; Lucene's default 2
  EXPECT_EQ(Debug("cats~0"), "(cat)");
  EXPECT_EQ(Debug("\"european treaty\"~3"), "(\"european treati\"~3)");
  EXPECT_EQ(Debug("\"cats\"~3"), "(cat)");  // one term: no phrase, no slop
  EXPECT_EQ(Debug("title:\"a b\"~2^4"), "(title:\"a b\"~2^4)");
  // Punctuation before '*' or '~' analyses to nothing: dropped like "...".
  EXPECT_EQ(Debug("cats ...* ***"), "(cat)");
}

TEST_F(QueryParser, FieldPrefixFuzzyAndBoostErrors) {
  const std::vector<std::string> fields = {"body", "title"};
  ParseOptions options;
  options.known_fields = &fields;
  auto error = [&](std::string_view text) { return Debug(text, options); };
  EXPECT_EQ(error("title:"), "error: column 1: missing term after 'title:'");
  EXPECT_EQ(error("a title: b"), "error: column 3: missing term after 'title:'");
  EXPECT_EQ(error("nosuch:cats"),
            "error: column 1: unknown field 'nosuch'; the index has body, title");
  EXPECT_EQ(error("a nosuch:\"b c\""),
            "error: column 3: unknown field 'nosuch'; the index has body, title");
  const std::vector<std::string> none;
  ParseOptions no_fields;
  no_fields.known_fields = &none;
  EXPECT_EQ(Debug("title:a", no_fields),
            "error: column 1: unknown field 'title'; the index has no named fields");
  EXPECT_EQ(error("a*b"),
            "error: column 2: '*' is only allowed at the end of a word (a prefix query)");
  EXPECT_EQ(error("cats~3"), "error: column 5: fuzzy edit distance must be 0, 1 or 2");
  EXPECT_EQ(error("\"a b\"~1001"),
            "error: column 6: phrase slop must be a whole number up to 1000");
  EXPECT_EQ(error("cats^"),
            "error: column 5: '^' needs a positive number up to 1e+06 after it, got '^'");
  EXPECT_EQ(error("cats^0"),
            "error: column 5: '^' needs a positive number up to 1e+06 after it, got '^0'");
  EXPECT_EQ(error("^2 cats"), "error: column 1: '^' must follow a word, a phrase or a group");
  EXPECT_EQ(error("(a b)~2"), "error: column 6: '~' must follow a word or a phrase, not a group");
  EXPECT_EQ(error("wi-fi~1"), "error: column 1: a fuzzy query must be a single word, got 'wi-fi'");
  EXPECT_EQ(error("wi-f*"), "error: column 1: a prefix query must be a single word, got 'wi-f'");
  EXPECT_EQ(error("secur*~1"), "error: column 7: a prefix query ('*') cannot also be fuzzy ('~')");
}

// Checks the invariants of a parsed tree; returns "" or what is wrong.
std::string CheckTree(const QueryNode& node, bool is_root) {
  switch (node.kind) {
    case QueryNode::Kind::kTerm:
      if (is_root) return "root is a term";
      if (node.terms.size() != 1 || node.terms[0].empty()) return "bad term";
      if (!(node.boost > 0) || node.boost > 1e18) return "bad boost";
      if (!node.field.empty() && node.field != "title" && node.field != "body") {
        return "field not known";
      }
      return "";
    case QueryNode::Kind::kPhrase:
      if (is_root) return "root is a phrase";
      if (node.terms.size() < 2 || node.positions.size() != node.terms.size()) {
        return "bad phrase";
      }
      if (node.positions[0] != 0) return "phrase does not start at 0";
      if (node.slop > 1000) return "slop over the limit";
      for (size_t i = 1; i < node.positions.size(); ++i) {
        if (node.positions[i] <= node.positions[i - 1]) return "phrase positions not increasing";
      }
      return "";
    case QueryNode::Kind::kPrefix:
      if (is_root) return "root is a prefix";
      if (node.terms.size() != 1 || node.terms[0].empty()) return "bad prefix";
      return "";
    case QueryNode::Kind::kFuzzy:
      if (is_root) return "root is a fuzzy term";
      if (node.terms.size() != 2 || node.terms[0].empty() || node.terms[1].empty()) {
        return "bad fuzzy term";
      }
      if (node.max_edits < 1 || node.max_edits > 2) return "bad fuzzy distance";
      return "";
    case QueryNode::Kind::kKeyword:
    case QueryNode::Kind::kRange:
      return "a typed clause without typed fields";
    case QueryNode::Kind::kBool:
      if (node.must.empty() && node.should.empty()) return "bool without positive clause";
      if (!is_root && node.must.size() + node.should.size() == 1 && node.must_not.empty()) {
        return "single-child bool was not unwrapped";
      }
      for (const auto* group : {&node.must, &node.should, &node.must_not}) {
        for (const auto& child : *group) {
          if (child == nullptr) return "null child";
          std::string problem = CheckTree(*child, false);
          if (!problem.empty()) return problem;
        }
      }
      return "";
  }
  return "bad kind";
}

TEST_F(QueryParser, RandomQueriesNeverCrash) {
  const uint32_t seed = ::scry::testing::TestSeed(20240611);
  std::cout << "RandomQueriesNeverCrash seed " << seed << "\n";
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  const std::vector<std::string> alphabet = {
      "a", "b",  "\"",   "(",  ")",  ")", "AND", "OR",   "NOT",    "+",     "-",  "\\",
      "ü", "日", "\xff", "&&", "||", "!", " ",   " ",    " ",      "\t",    "..", "wi-fi",
      ":", "*",  "~",    "~1", "~9", "^", "^2",  "^0.5", "title:", "body:", "x:", "^1e9"};
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 14);
  const std::vector<std::string> fields = {"body", "title"};
  size_t ok_count = 0;
  // A million inputs (about 10 s in a release build).
  constexpr int kInputs = 1000000;
  for (int i = 0; i < kInputs; ++i) {
    std::string text;
    for (int n = length(rng); n > 0; --n) text += alphabet[pick(rng)];
    ParseOptions options;
    options.default_operator = i % 2 == 0 ? DefaultOperator::kOr : DefaultOperator::kAnd;
    options.known_fields = &fields;
    auto node = Parse(text, options);
    if (node.ok()) {
      ++ok_count;
      ASSERT_NE(*node, nullptr) << text;
      ASSERT_EQ((*node)->kind, QueryNode::Kind::kBool) << text;
      ASSERT_EQ(CheckTree(**node, true), "") << text << " -> " << (*node)->DebugString();
      continue;
    }
    ASSERT_EQ(node.status().code(), absl::StatusCode::kInvalidArgument) << text;
    const std::string message(node.status().message());
    ASSERT_EQ(message.rfind("column ", 0), 0u) << text << " -> " << message;
    size_t code_points = 0;
    for (unsigned char c : text) code_points += (c & 0xC0) != 0x80;
    const size_t column = std::stoul(message.substr(7));
    ASSERT_GE(column, 1u) << text << " -> " << message;
    ASSERT_LE(column, code_points + 1) << text << " -> " << message;
  }
  std::cout << "parsed OK: " << ok_count << " of " << kInputs << "\n";
  EXPECT_GT(ok_count, 50000u);
}

}  // namespace
}  // namespace scry::query
