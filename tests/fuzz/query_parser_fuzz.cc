// File: tests/fuzz/query_parser_fuzz.cc
//
// libFuzzer target for the query parser and the query-side analysis
// (issue 8): any byte string either parses into a tree that respects the
// limits or is an InvalidArgument error with a column; never a crash, a hang
// or another code. The first byte picks the default operator and tighter
// limits; the rest is the query text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/analyzer.h"
#include "query/query_parser.h"

namespace {

// Leaves (terms and phrases) of a parsed tree.
size_t Leaves(const scry::query::QueryNode& node) {
  size_t n = node.kind == scry::query::QueryNode::Kind::kBool ? 0 : 1;
  for (const auto* group : {&node.must, &node.should, &node.must_not}) {
    for (const auto& child : *group) n += Leaves(*child);
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<scry::analysis::Analyzer> analyzer = [] {
    auto a = scry::analysis::Analyzer::Create("english");
    if (!a.ok()) std::abort();
    return std::move(*a);
  }();
  if (size == 0) return 0;
  scry::query::ParseOptions options;
  options.default_operator =
      (data[0] & 1) ? scry::query::DefaultOperator::kAnd : scry::query::DefaultOperator::kOr;
  if (data[0] & 2) {
    options.max_query_bytes = 64;
    options.max_clauses = 4;
  }
  // Field names the index knows (fields, prefixes, fuzzy terms, slop and
  // boosts parse whatever the setting).
  static const std::vector<std::string> fields = {"body", "title"};
  if (data[0] & 4) options.known_fields = &fields;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto root = scry::query::ParseQuery(text, options, analyzer.get());
  if (root.ok()) {
    if (text.size() > options.max_query_bytes || Leaves(**root) > options.max_clauses) {
      std::fprintf(stderr, "a query over the limits was accepted\n");
      std::abort();
    }
  } else if (root.status().code() != absl::StatusCode::kInvalidArgument ||
             root.status().message().find("column") == std::string_view::npos) {
    std::fprintf(stderr, "unexpected error: %s\n", root.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
