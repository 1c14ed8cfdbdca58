// File: query/rewrite.cc
#include "query/rewrite.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "storage/status.h"

namespace scry::query {
namespace {

struct Expansion {
  std::string term;
  uint64_t df;
  uint32_t distance;  // fuzzy: edits from the query word
};

// Keeps the `limit` best expansions: fewest edits, then highest df, then
// term order (so the choice is the same on every run and shard count).
bool KeepBest(std::vector<Expansion>* terms, size_t limit) {
  std::sort(terms->begin(), terms->end(), [](const Expansion& a, const Expansion& b) {
    if (a.distance != b.distance) return a.distance < b.distance;
    if (a.df != b.df) return a.df > b.df;
    return a.term < b.term;
  });
  if (terms->size() <= limit) return false;
  terms->resize(limit);
  return true;
}

absl::Status ExpandLeaf(QueryNode* leaf, const TermSource& source, const ExpansionOptions& options,
                        ExpansionResult* result) {
  std::vector<Expansion> found;
  if (leaf->kind == QueryNode::Kind::kPrefix) {
    SCRY_RETURN_IF_ERROR(
        source.Scan(leaf->field, leaf->terms[0], [&](std::string_view term, uint64_t df) {
          found.push_back({std::string(term), df, 0});
          return true;
        }));
    result->truncated |= KeepBest(&found, options.max_expansions);
  } else {
    // Fuzzy: a term matches if it is within max_edits of the folded word or
    // of its stem (the dictionary holds stems).
    const std::u32string word = DecodeUtf8(leaf->terms[0]);
    const std::u32string stem = DecodeUtf8(leaf->terms[1]);
    const uint32_t max = leaf->max_edits;
    std::u32string term32;
    SCRY_RETURN_IF_ERROR(source.Scan(leaf->field, "", [&](std::string_view term, uint64_t df) {
      // Cheap length test first: an edit changes the length by at most one.
      // (A term has at most as many code points as bytes.)
      if (term.size() + max < std::min(word.size(), stem.size())) return true;
      term32 = DecodeUtf8(term);
      const uint32_t d =
          std::min(BoundedEditDistance(word, term32, max), BoundedEditDistance(stem, term32, max));
      if (d <= max) found.push_back({std::string(term), df, d});
      return true;
    }));
    result->truncated |= KeepBest(&found, options.max_fuzzy_expansions);
  }
  result->terms += found.size();
  if (options.max_total_expansions > 0 && result->terms > options.max_total_expansions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "column ", leaf->column, ": the query's prefix and fuzzy words expand to more than ",
        options.max_total_expansions,
        " dictionary terms in all (the limit per query); use longer prefixes or fewer of them"));
  }
  auto group = QueryNode::Bool();
  const size_t word_length = std::max<size_t>(1, DecodeUtf8(leaf->terms[0]).size());
  for (Expansion& e : found) {
    auto term = QueryNode::Term(std::move(e.term));
    term->field = leaf->field;
    term->column = leaf->column;
    term->boost = leaf->boost;
    if (e.distance > 0) {
      // Like Lucene's fuzzy scoring: the more edits, the less a term counts.
      const double similarity = 1.0 - static_cast<double>(e.distance) /
                                          static_cast<double>(std::min(word_length, size_t{8}));
      term->boost *= std::max(0.1, similarity);
    }
    group->should.push_back(std::move(term));
  }
  const std::string field = leaf->field;
  *leaf = std::move(*group);
  leaf->field = field;
  return absl::OkStatus();
}

}  // namespace

void ApplyDefaultFields(QueryNode* node, const std::vector<FieldWeight>& fields) {
  for (auto* group : {&node->must, &node->should, &node->must_not}) {
    for (auto& child : *group) {
      if (!child->is_leaf()) {
        ApplyDefaultFields(child.get(), fields);
        continue;
      }
      if (!child->field.empty()) continue;
      if (fields.size() == 1) {
        child->field = fields[0].field;
        child->boost *= fields[0].weight;
        continue;
      }
      auto any = QueryNode::Bool();
      for (const FieldWeight& f : fields) {
        auto copy = child->Clone();
        copy->field = f.field;
        copy->boost *= f.weight;
        any->should.push_back(std::move(copy));
      }
      child = std::move(any);
    }
  }
}

absl::Status ExpandMultiTerms(QueryNode* node, const TermSource& source,
                              const ExpansionOptions& options, ExpansionResult* result) {
  if (node->kind == QueryNode::Kind::kPrefix || node->kind == QueryNode::Kind::kFuzzy) {
    return ExpandLeaf(node, source, options, result);
  }
  for (auto* group : {&node->must, &node->should, &node->must_not}) {
    for (auto& child : *group)
      SCRY_RETURN_IF_ERROR(ExpandMultiTerms(child.get(), source, options, result));
  }
  return absl::OkStatus();
}

void FlattenDisjunctions(QueryNode* node) {
  for (auto* group : {&node->must, &node->should, &node->must_not}) {
    for (auto& child : *group) FlattenDisjunctions(child.get());
  }
  const bool nested = std::any_of(node->should.begin(), node->should.end(), [](const auto& c) {
    return !c->is_leaf() && c->must.empty() && c->must_not.empty();
  });
  if (!nested) return;
  std::vector<std::unique_ptr<QueryNode>> flat;
  for (auto& child : node->should) {
    if (!child->is_leaf() && child->must.empty() && child->must_not.empty()) {
      for (auto& grandchild : child->should) flat.push_back(std::move(grandchild));
    } else {
      flat.push_back(std::move(child));
    }
  }
  node->should = std::move(flat);
}

uint32_t BoundedEditDistance(const std::u32string& a, const std::u32string& b, uint32_t max) {
  const size_t n = a.size(), m = b.size();
  if ((n > m ? n - m : m - n) > max) return max + 1;
  // Three rows of the optimal-string-alignment table; a row whose minimum
  // exceeds max ends the computation.
  constexpr size_t kStackRow = 300;
  uint32_t rows[3][kStackRow];
  std::vector<uint32_t> heap_rows;
  uint32_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
  if (m + 1 > kStackRow) {
    heap_rows.resize(3 * (m + 1));
    prev2 = heap_rows.data();
    prev = prev2 + m + 1;
    cur = prev + m + 1;
  }
  for (size_t j = 0; j <= m; ++j) prev[j] = static_cast<uint32_t>(j);
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = static_cast<uint32_t>(i);
    uint32_t row_min = cur[0];
    for (size_t j = 1; j <= m; ++j) {
      const uint32_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      uint32_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        v = std::min(v, prev2[j - 2] + 1);
      }
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > max) return max + 1;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return std::min(prev[m], max + 1);
}

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : c & (0x7F >> len);
    bool ok = true;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

}  // namespace scry::query
