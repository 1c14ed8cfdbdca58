// File: query/query_tree.cc
//
// Factories and the DebugString text form of QueryNode.
#include "query/query_tree.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace scry::query {
namespace {

void AppendDebugString(const QueryNode& node, std::string* out);

void AppendChildren(const std::vector<std::unique_ptr<QueryNode>>& children, char prefix,
                    bool* first, std::string* out) {
  for (const auto& child : children) {
    if (!*first) out->push_back(' ');
    *first = false;
    if (prefix != '\0') out->push_back(prefix);
    if (child == nullptr) {
      out->append("<null>");
    } else {
      AppendDebugString(*child, out);
    }
  }
}

void AppendDebugString(const QueryNode& node, std::string* out) {
  if (node.is_leaf() && !node.field.empty()) absl::StrAppend(out, node.field, ":");
  switch (node.kind) {
    case QueryNode::Kind::kTerm:
      if (!node.terms.empty()) out->append(node.terms.front());
      break;
    case QueryNode::Kind::kPrefix:
      if (!node.terms.empty()) out->append(node.terms.front());
      out->push_back('*');
      break;
    case QueryNode::Kind::kFuzzy:
      if (!node.terms.empty()) out->append(node.terms.front());
      absl::StrAppend(out, "~", node.max_edits);
      break;
    case QueryNode::Kind::kPhrase: {
      out->push_back('"');
      const bool has_positions = node.positions.size() == node.terms.size();
      for (size_t i = 0; i < node.terms.size(); ++i) {
        if (i > 0) {
          out->push_back(' ');
          // One "?" per position left empty by analysis, as Lucene prints it.
          if (has_positions && node.positions[i] > node.positions[i - 1]) {
            for (uint32_t gap = node.positions[i] - node.positions[i - 1] - 1; gap > 0; --gap) {
              out->append("? ");
            }
          }
        }
        out->append(node.terms[i]);
      }
      out->push_back('"');
      if (node.slop > 0) absl::StrAppend(out, "~", node.slop);
      break;
    }
    case QueryNode::Kind::kKeyword:
      out->push_back('=');
      if (!node.terms.empty()) out->append(node.terms.front());
      break;
    case QueryNode::Kind::kRange:
      absl::StrAppend(out, "[", node.range.lo, " TO ", node.range.hi, "]");
      break;
    case QueryNode::Kind::kBool: {
      out->push_back('(');
      bool first = true;
      AppendChildren(node.must, '+', &first, out);
      AppendChildren(node.should, '\0', &first, out);
      AppendChildren(node.must_not, '-', &first, out);
      out->push_back(')');
      break;
    }
  }
  if (node.is_leaf() && node.boost != 1.0) absl::StrAppend(out, "^", node.boost);
}

}  // namespace

std::unique_ptr<QueryNode> QueryNode::Term(std::string term) {
  auto node = std::make_unique<QueryNode>();
  node->kind = Kind::kTerm;
  node->terms.push_back(std::move(term));
  return node;
}

std::unique_ptr<QueryNode> QueryNode::Phrase(std::vector<std::string> terms,
                                             std::vector<uint32_t> positions) {
  auto node = std::make_unique<QueryNode>();
  node->kind = Kind::kPhrase;
  node->terms = std::move(terms);
  node->positions = std::move(positions);
  return node;
}

std::unique_ptr<QueryNode> QueryNode::Bool() {
  auto node = std::make_unique<QueryNode>();
  node->kind = Kind::kBool;
  return node;
}

std::unique_ptr<QueryNode> QueryNode::Clone() const {
  auto copy = std::make_unique<QueryNode>();
  copy->kind = kind;
  copy->terms = terms;
  copy->positions = positions;
  copy->field = field;
  copy->boost = boost;
  copy->slop = slop;
  copy->max_edits = max_edits;
  copy->range = range;
  copy->column = column;
  for (const auto* group : {&must, &should, &must_not}) {
    auto& to = group == &must ? copy->must : group == &should ? copy->should : copy->must_not;
    for (const auto& child : *group) to.push_back(child->Clone());
  }
  return copy;
}

std::string QueryNode::DebugString() const {
  std::string out;
  AppendDebugString(*this, &out);
  return out;
}

}  // namespace scry::query
