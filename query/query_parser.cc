// File: query/query_parser.cc
//
// The query language of query_parser.h in two steps: a lexer that turns the
// text into tokens (words, phrases, parentheses, operators, modifiers) and a
// recursive-descent parser that analyses words and phrases as it meets them
// and builds the QueryNode tree bottom-up. Every group is finished as soon as
// it is complete: leaves dropped by analysis leave it, an empty group is
// dropped, a group with one required or optional child is replaced by that
// child, and a group with only negative children is an error.
//
// Recursion happens only at "(", and its depth is checked before recursing;
// chains of NOT are counted in a loop.
#include "query/query_parser.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::query {
namespace {

// Nesting is also capped here whatever max_clauses says, so that parsing,
// destroying and walking the tree stay far from the end of a thread's stack
// (gRPC handler threads, and sanitizer builds whose frames are much larger).
constexpr size_t kMaxNestingDepth = 100;
constexpr uint32_t kMaxSlop = 1000;
constexpr double kMaxBoost = 1e6;

enum class TokenKind {
  kWord,
  kPhrase,
  kLParen,
  kRParen,
  kAnd,
  kOr,
  kNot,
  kPlus,
  kMinus,
  kField,  // "name:" directly before a phrase or "(" (text: the name)
  kTilde,  // "~N" after a word (fuzzy) or phrase (slop); text: the digits
  kBoost,  // "^N" after a clause; text: the number as written
  kTyped,  // "name:value" of a typed field (field: the name; text: the value as written)
  kEnd
};

struct Token {
  TokenKind kind;
  size_t offset;     // byte offset of the token's first character
  std::string text;  // words and phrases: unescaped text; others: as written
  // kWord: "name:" written before the word (`title:word`), and whether it
  // ended with an unescaped '*' (a prefix query; the '*' is not in text).
  std::string field;
  bool prefix = false;

  Token(TokenKind k, size_t o, std::string t) : kind(k), offset(o), text(std::move(t)) {}
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// 1-based column, in code points, of the character at byte `offset`: one
// plus the number of UTF-8 lead bytes before it (a stray continuation byte
// shares the column of the character before it).
size_t ColumnAt(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (!IsContinuationByte(text[i])) ++column;
  }
  return column;
}

absl::Status ErrorAt(std::string_view text, size_t offset, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("column ", ColumnAt(text, offset), ": ", reason));
}

bool EndsWord(char c) {
  return IsSpace(c) || c == '(' || c == ')' || c == '"' || c == '~' || c == '^';
}

// Reads the quoted text that starts at text[*i] (a '"') into *value, a
// backslash escaping the next byte, and moves *i past the closing quote;
// false if there is none (then *i is the end).
bool ReadQuoted(std::string_view text, size_t* i, std::string* value) {
  for (++*i; *i < text.size();) {
    if (text[*i] == '\\' && *i + 1 < text.size()) {
      value->push_back(text[*i + 1]);
      *i += 2;
    } else if (text[*i] == '"') {
      ++*i;
      return true;
    } else {
      value->push_back(text[(*i)++]);
    }
  }
  return false;
}

// The value after "name:" of a typed field, which starts at text[*i] (just
// past the colon): a quoted value (backslash escapes), a range from '[' or
// '{' to the first ']' or '}', or the bytes up to whitespace or ')'
// (backslash escapes). Moves *i past it.
absl::StatusOr<std::string> LexTypedValue(std::string_view text, size_t name_start,
                                          const std::string& name, size_t* i) {
  size_t j = *i;
  std::string value;
  if (j == text.size() || IsSpace(text[j]) || text[j] == ')') {
    return ErrorAt(text, name_start, absl::StrCat("missing value after '", name, ":'"));
  }
  if (text[j] == '(') {
    return ErrorAt(text, j,
                   absl::StrCat("a typed field takes one value or a range, not a group: write (",
                                name, ":a OR ", name, ":b)"));
  }
  if (text[j] == '"') {
    if (!ReadQuoted(text, &j, &value)) {
      return ErrorAt(text, *i, "unterminated value: no closing '\"'");
    }
  } else if (text[j] == '[' || text[j] == '{') {
    const size_t close = text.find_first_of("]}", j);
    if (close == std::string_view::npos) {
      return ErrorAt(text, j, "unterminated range: no closing ']' or '}'");
    }
    value = std::string(text.substr(j, close + 1 - j));
    j = close + 1;
  } else {
    while (j < text.size() && !IsSpace(text[j]) && text[j] != ')') {
      if (text[j] == '\\' && j + 1 < text.size()) ++j;
      value.push_back(text[j++]);
    }
  }
  *i = j;
  return value;
}

absl::StatusOr<std::vector<Token>> Lex(std::string_view text, const TypedFields* typed) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i == text.size()) break;
    const size_t start = i;
    const char c = text[i];
    if (typed != nullptr && !typed->empty()) {
      // "name:" of a typed field: a value follows, not words. Only this
      // word is looked at (a search to the next colon of the whole text
      // would make lexing quadratic).
      size_t colon = i;
      while (colon < text.size() && !EndsWord(text[colon]) && text[colon] != ':') ++colon;
      if (colon < text.size() && text[colon] == ':') {
        const std::string_view name = text.substr(i, colon - i);
        if (storage::IsFieldName(name) && typed->count(name) != 0) {
          i = colon + 1;
          SCRY_ASSIGN_OR_RETURN(std::string value,
                                LexTypedValue(text, start, std::string(name), &i));
          Token token{TokenKind::kTyped, start, std::move(value)};
          token.field = std::string(name);
          tokens.push_back(std::move(token));
          continue;
        }
      }
    }
    if (c == '(' || c == ')' || c == '+' || c == '-' || c == '!') {
      // "+", "-" and "!" are modifiers here, at the start of a token; inside a
      // word ("wi-fi") they are ordinary characters.
      const TokenKind kind = c == '('   ? TokenKind::kLParen
                             : c == ')' ? TokenKind::kRParen
                             : c == '+' ? TokenKind::kPlus
                             : c == '-' ? TokenKind::kMinus
                                        : TokenKind::kNot;
      tokens.push_back({kind, start, std::string(1, c)});
      ++i;
      continue;
    }
    if (c == '~' || c == '^') {
      // Suffixes: "~" and optional digits, "^" and a number.
      for (++i; i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.'); ++i) {
      }
      tokens.push_back({c == '~' ? TokenKind::kTilde : TokenKind::kBoost, start,
                        std::string(text.substr(start + 1, i - start - 1))});
      continue;
    }
    std::string value;
    if (c == '"') {
      if (!ReadQuoted(text, &i, &value)) {
        return ErrorAt(text, start, "unterminated phrase: no closing '\"'");
      }
      tokens.push_back({TokenKind::kPhrase, start, std::move(value)});
      continue;
    }
    bool escaped = false;
    bool star_last = false;  // the word ended with unescaped '*'s
    std::string field;
    while (i < text.size() && !EndsWord(text[i])) {
      if (text[i] == '*') {
        size_t run = i;
        while (run < text.size() && text[run] == '*') ++run;
        if (run < text.size() && !EndsWord(text[run])) {
          return ErrorAt(text, i, "'*' is only allowed at the end of a word (a prefix query)");
        }
        star_last = true;
        i = run;
        break;
      }
      // A backslash escapes the next byte; a final backslash is kept as is.
      if (text[i] == '\\' && i + 1 < text.size()) {
        value.push_back(text[i + 1]);
        i += 2;
        escaped = true;
      } else if (text[i] == ':' && field.empty() && !escaped && storage::IsFieldName(value)) {
        field = std::move(value);
        value.clear();
        ++i;
        if (i == text.size() || EndsWord(text[i])) break;
      } else {
        value.push_back(text[i++]);
      }
    }
    TokenKind kind = TokenKind::kWord;
    if (!escaped && field.empty() && !star_last) {
      if (value == "AND" || value == "&&") kind = TokenKind::kAnd;
      if (value == "OR" || value == "||") kind = TokenKind::kOr;
      if (value == "NOT") kind = TokenKind::kNot;
    }
    if (!field.empty() && value.empty() && !star_last) {
      // "name:" alone: it scopes the phrase or group that follows.
      tokens.push_back({TokenKind::kField, start, std::move(field)});
      continue;
    }
    Token token{kind, start, std::move(value)};
    token.field = std::move(field);
    token.prefix = star_last;
    tokens.push_back(std::move(token));
  }
  tokens.push_back({TokenKind::kEnd, text.size(), ""});
  return tokens;
}

bool StartsPrimary(TokenKind kind) {
  return kind == TokenKind::kWord || kind == TokenKind::kPhrase || kind == TokenKind::kLParen ||
         kind == TokenKind::kField || kind == TokenKind::kTyped;
}

bool StartsUnary(TokenKind kind) {
  return StartsPrimary(kind) || kind == TokenKind::kNot || kind == TokenKind::kPlus ||
         kind == TokenKind::kMinus;
}

// Applies a field and a boost to every leaf of `node` (a field only where
// the leaf has none).
void Scope(QueryNode* node, const std::string& field, double boost) {
  if (node->is_leaf()) {
    if (node->field.empty()) node->field = field;
    node->boost *= boost;
    return;
  }
  for (auto* group : {&node->must, &node->should, &node->must_not}) {
    for (auto& child : *group) Scope(child.get(), field, boost);
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens, const ParseOptions& options,
         analysis::Analyzer* analyzer)
      : text_(text),
        tokens_(std::move(tokens)),
        options_(options),
        max_depth_(std::min(options.max_clauses, kMaxNestingDepth)),
        analyzer_(analyzer) {}

  absl::StatusOr<std::unique_ptr<QueryNode>> ParseRoot() {
    SCRY_ASSIGN_OR_RETURN(auto root, ParseOr(0));
    if (Peek().kind == TokenKind::kRParen) {
      return ErrorAt(text_, Peek().offset, "unexpected ')' without a matching '('");
    }
    SCRY_ASSIGN_OR_RETURN(root, Finish(std::move(root), 0, GroupKind::kRoot));
    if (root->kind != QueryNode::Kind::kBool) {
      auto wrapper = QueryNode::Bool();
      wrapper->should.push_back(std::move(root));
      root = std::move(wrapper);
    }
    return root;
  }

 private:
  enum class Modifier { kNone, kRequired, kExcluded };
  enum class GroupKind { kRoot, kParens, kAnd };

  // One operand of an OR: a single unary clause with its modifier, or a
  // group of clauses joined by AND (an unfinished kBool node).
  struct AndResult {
    bool is_group = false;
    std::unique_ptr<QueryNode> node;  // nullptr if analysis dropped it
    Modifier modifier = Modifier::kNone;
    size_t offset = 0;
  };

  struct Clause {
    std::unique_ptr<QueryNode> node;  // nullptr if analysis dropped it
    Modifier modifier = Modifier::kNone;
  };

  const Token& Peek() const { return tokens_[pos_]; }

  absl::Status MissingAfter(const Token& op) const {
    return ErrorAt(text_, op.offset, absl::StrCat("missing term after '", op.text, "'"));
  }

  // or_expr; returns an unfinished kBool node for the caller to Finish.
  absl::StatusOr<std::unique_ptr<QueryNode>> ParseOr(size_t depth) {
    const bool implicit_or = options_.default_operator == DefaultOperator::kOr;
    std::vector<AndResult> parts;
    while (true) {
      SCRY_ASSIGN_OR_RETURN(AndResult part, ParseAnd(depth));
      parts.push_back(std::move(part));
      const Token& next = Peek();
      if (next.kind == TokenKind::kOr) {
        ++pos_;
        if (!StartsUnary(Peek().kind)) return MissingAfter(next);
      } else if (!implicit_or || !StartsUnary(next.kind)) {
        break;
      }
    }
    if (parts.size() == 1 && parts[0].is_group) return std::move(parts[0].node);
    auto node = QueryNode::Bool();
    for (AndResult& part : parts) {
      if (part.is_group) {
        SCRY_ASSIGN_OR_RETURN(part.node,
                              Finish(std::move(part.node), part.offset, GroupKind::kAnd));
      }
      if (part.node == nullptr) continue;
      switch (part.modifier) {
        case Modifier::kRequired:
          node->must.push_back(std::move(part.node));
          break;
        case Modifier::kExcluded:
          node->must_not.push_back(std::move(part.node));
          break;
        case Modifier::kNone:
          node->should.push_back(std::move(part.node));
          break;
      }
    }
    return node;
  }

  absl::StatusOr<AndResult> ParseAnd(size_t depth) {
    const bool implicit_and = options_.default_operator == DefaultOperator::kAnd;
    AndResult result;
    result.offset = Peek().offset;
    std::vector<Clause> clauses;
    while (true) {
      SCRY_ASSIGN_OR_RETURN(Clause clause, ParseUnary(depth));
      clauses.push_back(std::move(clause));
      const Token& next = Peek();
      if (next.kind == TokenKind::kAnd) {
        ++pos_;
        if (!StartsUnary(Peek().kind)) return MissingAfter(next);
      } else if (!implicit_and || !StartsUnary(next.kind)) {
        break;
      }
    }
    if (clauses.size() == 1) {
      result.node = std::move(clauses[0].node);
      result.modifier = clauses[0].modifier;
      return result;
    }
    result.is_group = true;
    result.node = QueryNode::Bool();
    for (Clause& clause : clauses) {
      if (clause.node == nullptr) continue;
      auto& slot =
          clause.modifier == Modifier::kExcluded ? result.node->must_not : result.node->must;
      slot.push_back(std::move(clause.node));
    }
    return result;
  }

  // unary := "NOT" unary | ("+" | "-")? primary. Each NOT flips exclusion:
  // NOT +x is -x, NOT -x and NOT NOT x are plain x.
  absl::StatusOr<Clause> ParseUnary(size_t depth) {
    const Token* op = nullptr;
    bool negated = false;
    while (Peek().kind == TokenKind::kNot) {
      op = &Peek();
      negated = !negated;
      ++pos_;
    }
    Modifier modifier = Modifier::kNone;
    if (Peek().kind == TokenKind::kPlus || Peek().kind == TokenKind::kMinus) {
      op = &Peek();
      modifier = Peek().kind == TokenKind::kPlus ? Modifier::kRequired : Modifier::kExcluded;
      ++pos_;
    }
    const Token& token = Peek();
    if (!StartsPrimary(token.kind)) {
      if (op != nullptr) return MissingAfter(*op);
      if (token.kind == TokenKind::kTilde || token.kind == TokenKind::kBoost) {
        return ErrorAt(text_, token.offset,
                       absl::StrCat("'", token.kind == TokenKind::kTilde ? "~" : "^",
                                    "' must follow a word, a phrase or a group"));
      }
      if (token.kind == TokenKind::kAnd || token.kind == TokenKind::kOr) {
        return ErrorAt(text_, token.offset, absl::StrCat("missing term before '", token.text, "'"));
      }
      if (token.kind == TokenKind::kRParen) {
        return ErrorAt(text_, token.offset, "unexpected ')' without a matching '('");
      }
      return ErrorAt(text_, token.offset, "expected a term");
    }
    Clause clause;
    SCRY_ASSIGN_OR_RETURN(clause.node, ParsePrimary(depth));
    if ((modifier == Modifier::kExcluded) != negated) {
      clause.modifier = Modifier::kExcluded;
    } else if (modifier == Modifier::kRequired) {
      clause.modifier = Modifier::kRequired;
    }
    return clause;
  }

  // primary := [field ":"] (WORD | PHRASE | "(" or_expr ")") ["~" [N]] ["^" N]
  absl::StatusOr<std::unique_ptr<QueryNode>> ParsePrimary(size_t depth) {
    const Token* field_token = nullptr;
    if (Peek().kind == TokenKind::kField) {
      field_token = &Peek();
      ++pos_;
      if (Peek().kind != TokenKind::kPhrase && Peek().kind != TokenKind::kLParen) {
        return ErrorAt(text_, field_token->offset,
                       absl::StrCat("missing term after '", field_token->text, ":'"));
      }
    }
    const Token& token = Peek();
    ++pos_;
    std::unique_ptr<QueryNode> node;
    if (token.kind == TokenKind::kLParen) {
      if (depth + 1 > max_depth_) {
        return ErrorAt(text_, token.offset,
                       absl::StrCat("parentheses nested deeper than ", max_depth_));
      }
      if (Peek().kind == TokenKind::kRParen) {
        return ErrorAt(text_, token.offset, "empty parentheses");
      }
      if (Peek().kind == TokenKind::kEnd) return Unbalanced(token);
      SCRY_ASSIGN_OR_RETURN(auto group, ParseOr(depth + 1));
      if (Peek().kind != TokenKind::kRParen) return Unbalanced(token);
      ++pos_;
      SCRY_ASSIGN_OR_RETURN(node, Finish(std::move(group), token.offset, GroupKind::kParens));
    }
    // Suffixes: "~N" (words and phrases only), then "^N".
    const Token* tilde = nullptr;
    if (Peek().kind == TokenKind::kTilde) {
      tilde = &Peek();
      ++pos_;
      if (token.kind == TokenKind::kLParen) {
        return ErrorAt(text_, tilde->offset, "'~' must follow a word or a phrase, not a group");
      }
    }
    double boost = 1.0;
    if (Peek().kind == TokenKind::kBoost) {
      const Token& b = Peek();
      ++pos_;
      if (!absl::SimpleAtod(b.text, &boost) || !(boost > 0) || boost > kMaxBoost) {
        return ErrorAt(text_, b.offset,
                       absl::StrCat("'^' needs a positive number up to ", kMaxBoost,
                                    " after it, got '^", b.text, "'"));
      }
    }
    if (token.kind == TokenKind::kTyped) {
      if (tilde != nullptr) {
        return ErrorAt(text_, tilde->offset, "'~' cannot follow a typed field's value");
      }
      // Never scored: a boost would change nothing.
      return MakeTypedLeaf(token);
    }
    if (token.kind != TokenKind::kLParen) {
      SCRY_ASSIGN_OR_RETURN(node, MakeLeaf(token, tilde));
    }
    if (node == nullptr) return node;
    std::string field = field_token != nullptr ? field_token->text : token.field;
    if (!field.empty() && options_.known_fields != nullptr &&
        std::find(options_.known_fields->begin(), options_.known_fields->end(), field) ==
            options_.known_fields->end()) {
      return ErrorAt(text_, field_token != nullptr ? field_token->offset : token.offset,
                     absl::StrCat("unknown field '", field, "'; the index has ",
                                  options_.known_fields->empty()
                                      ? "no named fields"
                                      : absl::StrJoin(*options_.known_fields, ", ")));
    }
    Scope(node.get(), field, boost);
    return node;
  }

  absl::Status Unbalanced(const Token& open) const {
    return ErrorAt(text_, open.offset, "unbalanced '(': no matching ')'");
  }

  // Analyses a word or phrase: nullptr if it has no term, a kTerm node for
  // one term, a kPhrase node (relative positions) for more; with a '*' a
  // kPrefix node, with '~' after a word a kFuzzy node and after a phrase its
  // slop.
  absl::StatusOr<std::unique_ptr<QueryNode>> MakeLeaf(const Token& token, const Token* tilde) {
    uint32_t distance = 0;
    if (tilde != nullptr) {
      const uint32_t limit = token.kind == TokenKind::kPhrase ? kMaxSlop : 2;
      if (tilde->text.empty()) {
        distance = token.kind == TokenKind::kPhrase ? 0 : 2;  // Lucene's defaults
      } else if (!absl::SimpleAtoi(tilde->text, &distance) || distance > limit) {
        return ErrorAt(text_, tilde->offset,
                       token.kind == TokenKind::kPhrase
                           ? absl::StrCat("phrase slop must be a whole number up to ", kMaxSlop)
                           : std::string("fuzzy edit distance must be 0, 1 or 2"));
      }
      if (token.prefix) {
        return ErrorAt(text_, tilde->offset, "a prefix query ('*') cannot also be fuzzy ('~')");
      }
    }
    analyzed_.clear();
    analyzer_->Analyze(token.text, 0, &analyzed_);
    const bool special =
        token.prefix || (tilde != nullptr && token.kind == TokenKind::kWord && distance > 0);
    if (special) {
      // Prefix and fuzzy queries work on one word, case-folded but not
      // stemmed (the expansion compares it with the dictionary's terms).
      if (analyzed_.size() > 1) {
        return ErrorAt(text_, token.offset,
                       absl::StrCat(token.prefix ? "a prefix" : "a fuzzy",
                                    " query must be a single word, got '", token.text, "'"));
      }
      std::string_view surface = token.text;
      if (!analyzed_.empty()) {
        surface = surface.substr(analyzed_[0].begin, analyzed_[0].end - analyzed_[0].begin);
      }
      // Punctuation only ("***", "...~"), or a stopword: nothing to search.
      if (analyzed_.empty()) return nullptr;
      std::string folded = analysis::Analyzer::FoldWord(surface);
      if (folded.empty()) return nullptr;
      SCRY_RETURN_IF_ERROR(CountLeaf(token));
      auto node = std::make_unique<QueryNode>();
      node->column = static_cast<uint32_t>(ColumnAt(text_, token.offset));
      if (token.prefix) {
        node->kind = QueryNode::Kind::kPrefix;
        node->terms.push_back(std::move(folded));
      } else {
        node->kind = QueryNode::Kind::kFuzzy;
        node->max_edits = distance;
        std::string stemmed = std::move(analyzed_[0].term);
        node->terms.push_back(std::move(folded));
        node->terms.push_back(std::move(stemmed));
      }
      return node;
    }
    if (analyzed_.empty()) return nullptr;
    SCRY_RETURN_IF_ERROR(CountLeaf(token));
    std::unique_ptr<QueryNode> node;
    if (analyzed_.size() == 1) {
      node = QueryNode::Term(std::move(analyzed_[0].term));
    } else {
      std::vector<std::string> terms;
      std::vector<uint32_t> positions;
      terms.reserve(analyzed_.size());
      positions.reserve(analyzed_.size());
      for (analysis::Token& t : analyzed_) {
        terms.push_back(std::move(t.term));
        positions.push_back(t.position - analyzed_[0].position);
      }
      node = QueryNode::Phrase(std::move(terms), std::move(positions));
      if (token.kind == TokenKind::kPhrase) node->slop = distance;
    }
    node->column = static_cast<uint32_t>(ColumnAt(text_, token.offset));
    return node;
  }

  // A kKeyword or kRange leaf from a kTyped token.
  absl::StatusOr<std::unique_ptr<QueryNode>> MakeTypedLeaf(const Token& token) {
    SCRY_RETURN_IF_ERROR(CountLeaf(token));
    const storage::FieldType type = options_.typed_fields->find(token.field)->second;
    auto node = std::make_unique<QueryNode>();
    node->field = token.field;
    node->column = static_cast<uint32_t>(ColumnAt(text_, token.offset));
    if (type == storage::FieldType::kKeyword) {
      if (token.text.empty() || token.text.find('\0') != std::string::npos) {
        return ErrorAt(text_, token.offset,
                       absl::StrCat("a value of keyword field '", token.field,
                                    "' must be non-empty and hold no NUL character"));
      }
      node->kind = QueryNode::Kind::kKeyword;
      node->terms.push_back(token.text);
      return node;
    }
    absl::StatusOr<storage::KeyRange> range = storage::ParseRange(token.field, type, token.text);
    if (!range.ok()) return ErrorAt(text_, token.offset, range.status().message());
    node->kind = QueryNode::Kind::kRange;
    node->range = *range;
    return node;
  }

  absl::Status CountLeaf(const Token& token) {
    if (++leaves_ > options_.max_clauses) {
      return ErrorAt(
          text_, token.offset,
          absl::StrCat("query has more than ", options_.max_clauses, " terms and phrases"));
    }
    return absl::OkStatus();
  }

  // Completes a kBool group that started at byte `offset`: nullptr if it is
  // empty (an error at the root), an error if it has only must_not children,
  // its only child if it has one must or should child and nothing else (the
  // same matches and score), else the group itself. At the root a single
  // leaf child stays inside the group, as a should child.
  absl::StatusOr<std::unique_ptr<QueryNode>> Finish(std::unique_ptr<QueryNode> node, size_t offset,
                                                    GroupKind kind) const {
    const size_t positive = node->must.size() + node->should.size();
    if (positive == 0) {
      if (node->must_not.empty()) {
        if (kind == GroupKind::kRoot) return ErrorAt(text_, 0, "query has no searchable terms");
        return nullptr;
      }
      switch (kind) {
        case GroupKind::kRoot:
          return ErrorAt(text_, 0, "query has only negative clauses");
        case GroupKind::kParens:
          return ErrorAt(text_, offset, "parenthesised group has only negative clauses");
        case GroupKind::kAnd:
          return ErrorAt(text_, offset, "clauses joined by AND are all negative");
      }
    }
    if (positive == 1 && node->must_not.empty()) {
      auto& only = node->must.empty() ? node->should.front() : node->must.front();
      if (kind != GroupKind::kRoot || only->kind == QueryNode::Kind::kBool) return std::move(only);
      // A root with one leaf is always (leaf): +a and a mean the same.
      auto root = QueryNode::Bool();
      root->should.push_back(std::move(only));
      return root;
    }
    return node;
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  const ParseOptions& options_;
  const size_t max_depth_;
  analysis::Analyzer* analyzer_;
  size_t pos_ = 0;
  size_t leaves_ = 0;
  std::vector<analysis::Token> analyzed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<QueryNode>> ParseQuery(std::string_view text,
                                                      const ParseOptions& options,
                                                      analysis::Analyzer* analyzer) {
  if (analyzer == nullptr) return absl::InvalidArgumentError("ParseQuery: analyzer is null");
  if (text.size() > options.max_query_bytes) {
    size_t offset = options.max_query_bytes;
    while (offset > 0 && IsContinuationByte(text[offset])) --offset;
    return ErrorAt(text, offset,
                   absl::StrCat("query is longer than ", options.max_query_bytes, " bytes"));
  }
  if (std::all_of(text.begin(), text.end(), IsSpace)) return ErrorAt(text, 0, "query is empty");
  SCRY_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(text, options.typed_fields));
  Parser parser(text, std::move(tokens), options, analyzer);
  return parser.ParseRoot();
}

}  // namespace scry::query
