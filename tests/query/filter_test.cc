// Filters and facets on typed fields (issue 21) against a plain reference:
// random documents with keyword and numeric members (fixed seeds,
// tests/test_util.h TestSeed), random filter expressions written in the
// query language and evaluated on the input values by hand, and random text
// queries whose matches and scores come from the exhaustive evaluator
// (PRUNING_NONE, itself tested against a scan in searcher_test.cc).
//
// Every way of giving a filter is checked: SearchRequest.filter, typed
// clauses required next to a scored clause (lifted into the filter, so the
// pruned evaluators run), excluded ones, typed clauses inside groups (the
// scorer tree), and optional ones (which match with score 0). Facet counts
// equal counts over the reference's matching set.
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "indexer/schema.h"
#include "query/searcher.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::scry::testing::WriteFile;

constexpr char kSchema[] = R"({"fields": {"lang": "keyword", "year": "int64", "price": "double"}})";
const std::vector<std::string> kLangs = {"en", "fr", "de", "en-US", "x y"};
const std::vector<std::string> kWords = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};

struct Doc {
  std::set<std::string> lang;
  std::vector<int64_t> year;
  std::vector<double> price;
};

// A random filter expression: its text and its value on a document.
struct Expr {
  std::string text;
  std::function<bool(const Doc&)> eval;
};

class FilterTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    seed_ = scry::testing::TestSeed(2110 + GetParam());
    rng_.seed(seed_);
    std::string input;
    for (size_t i = 0; i < 600; ++i) {
      const std::string id = absl::StrFormat("d%03d", i);
      Doc& d = docs_[id];
      std::vector<std::string> body;
      for (size_t k = 1 + Pick(6); k > 0; --k) body.push_back(kWords[Pick(kWords.size())]);
      std::string line =
          absl::StrCat(R"({"id":")", id, R"(","body":")", absl::StrJoin(body, " "), "\"");
      if (Pick(5) != 0) {
        std::vector<std::string> quoted;
        for (size_t k = 1 + Pick(2); k > 0; --k) {
          const std::string& l = kLangs[Pick(kLangs.size())];
          d.lang.insert(l);
          quoted.push_back(absl::StrCat("\"", l, "\""));
        }
        absl::StrAppend(&line, R"(,"lang":[)", absl::StrJoin(quoted, ","), "]");
      }
      if (Pick(4) != 0) {
        d.year.push_back(1990 + static_cast<int64_t>(Pick(30)));
        absl::StrAppend(&line, R"(,"year":)", d.year[0]);
      }
      if (Pick(3) != 0) {
        std::vector<std::string> texts;
        for (size_t k = 1 + Pick(2); k > 0; --k) {
          d.price.push_back((static_cast<double>(Pick(400)) - 100) / 4);
          texts.push_back(absl::StrFormat("%.17g", d.price.back()));
        }
        absl::StrAppend(&line, R"(,"price":[)", absl::StrJoin(texts, ","), "]");
      }
      input += line + "}\n";
    }
    const std::string path = dir_.Sub("in.jsonl");
    WriteFile(path, input);
    indexer::BuildOptions options;
    options.inputs = {path};
    options.index_dir = dir_.Sub("index");
    options.num_shards = GetParam();
    options.schema = *indexer::Schema::ParseJson(kSchema);
    SCRY_ASSERT_OK(indexer::BuildIndex(options));
    auto searcher = Searcher::Open(dir_.Sub("index"), SearcherOptions());
    ASSERT_THAT(searcher, IsOk());
    searcher_ = std::move(*searcher);
  }

  size_t Pick(size_t n) { return static_cast<size_t>(rng_() % n); }

  // A typed clause: a keyword value, or a range of year or price.
  Expr Clause() {
    switch (Pick(3)) {
      case 0: {
        const std::string l = kLangs[Pick(kLangs.size())];
        const bool quote = l.find(' ') != std::string::npos || Pick(2) == 0;
        return {absl::StrCat("lang:", quote ? absl::StrCat("\"", l, "\"") : l),
                [l](const Doc& d) { return d.lang.count(l) != 0; }};
      }
      case 1: {
        const int64_t a = 1988 + static_cast<int64_t>(Pick(34));
        const int64_t b = a + static_cast<int64_t>(Pick(8));
        const bool lo_open = Pick(2) == 0, hi_open = Pick(2) == 0;
        const std::string text = Pick(4) == 0 ? absl::StrCat("year:", a)
                                              : absl::StrCat("year:", lo_open ? "{" : "[", a,
                                                             " TO ", b, hi_open ? "}" : "]");
        const bool single = text.find(" TO ") == std::string::npos;
        return {
            text, [=](const Doc& d) {
              for (int64_t y : d.year) {
                if (single ? y == a : (lo_open ? y > a : y >= a) && (hi_open ? y < b : y <= b)) {
                  return true;
                }
              }
              return false;
            }};
      }
      default: {
        const double x = (static_cast<double>(Pick(400)) - 100) / 4;
        const int op = static_cast<int>(Pick(4));
        const char* ops[] = {">", ">=", "<", "<="};
        return {absl::StrFormat("price:%s%.17g", ops[op], x), [=](const Doc& d) {
                  for (double p : d.price) {
                    if ((op == 0 && p > x) || (op == 1 && p >= x) || (op == 2 && p < x) ||
                        (op == 3 && p <= x)) {
                      return true;
                    }
                  }
                  return false;
                }};
      }
    }
  }

  // Up to `depth` levels of AND, OR and NOT over typed clauses.
  Expr Random(int depth) {
    if (depth == 0 || Pick(3) == 0) return Clause();
    Expr a = Random(depth - 1), b = Random(depth - 1);
    switch (Pick(3)) {
      case 0:
        return {absl::StrCat("(", a.text, " AND ", b.text, ")"),
                [a, b](const Doc& d) { return a.eval(d) && b.eval(d); }};
      case 1:
        return {absl::StrCat("(", a.text, " OR ", b.text, ")"),
                [a, b](const Doc& d) { return a.eval(d) || b.eval(d); }};
      default:
        return {absl::StrCat("(", a.text, " AND NOT ", b.text, ")"),
                [a, b](const Doc& d) { return a.eval(d) && !b.eval(d); }};
    }
  }

  std::string RandomText() {
    std::vector<std::string> words;
    for (size_t k = 1 + Pick(3); k > 0; --k) words.push_back(kWords[Pick(kWords.size())]);
    return absl::StrJoin(words, " ");
  }

  // Every match of `text` (exhaustive), by id, with its score.
  std::map<std::string, double> Matches(const std::string& text, DefaultOperator op) {
    SearchRequest request;
    request.query = text;
    request.default_operator = op;
    request.top_k = 1000;
    request.pruning = Pruning::kNone;
    request.ids_only = true;
    auto result = searcher_->Search(request);
    EXPECT_THAT(result, IsOk());
    std::map<std::string, double> out;
    if (result.ok()) {
      for (const SearchHit& hit : result->hits) out[hit.id] = hit.score;
    }
    return out;
  }

  // The expected top `k` of `scored` (id -> score): score desc, then id.
  static std::vector<std::pair<std::string, double>> Top(
      const std::map<std::string, double>& scored, size_t k) {
    std::vector<std::pair<std::string, double>> all(scored.begin(), scored.end());
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (all.size() > k) all.resize(k);
    return all;
  }

  void ExpectHits(const SearchRequest& request, const std::map<std::string, double>& expected,
                  const std::string& label) {
    SCOPED_TRACE(absl::StrCat(label, ": query '", request.query, "' filter '", request.filter,
                              "' exact ", request.exact_total_hits));
    auto result = searcher_->Search(request);
    ASSERT_THAT(result, IsOk());
    const auto want = Top(expected, request.top_k);
    ASSERT_EQ(result->hits.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(result->hits[i].id, want[i].first) << "hit " << i;
      EXPECT_NEAR(result->hits[i].score, want[i].second, 1e-9) << "hit " << i;
    }
    if (request.exact_total_hits || !request.facets.empty()) {
      EXPECT_EQ(result->total_hits, expected.size());
      EXPECT_FALSE(result->total_hits_is_lower_bound);
    }
  }

  std::map<std::string, Doc> docs_;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  TempDir dir_;
  std::unique_ptr<Searcher> searcher_;
};

TEST_P(FilterTest, EveryFormOfFilterEqualsTheReference) {
  SCOPED_TRACE(scry::testing::SeedDescription(seed_));
  for (int round = 0; round < 40; ++round) {
    const std::string text = RandomText();
    const Expr filter = Random(2);
    const DefaultOperator op = Pick(2) == 0 ? DefaultOperator::kOr : DefaultOperator::kAnd;
    const std::map<std::string, double> scored = Matches(text, op);
    std::map<std::string, double> kept, kept_out, either;
    for (const auto& [id, score] : scored) {
      (filter.eval(docs_.at(id)) ? kept : kept_out)[id] = score;
    }
    for (const auto& [id, doc] : docs_) {
      const auto it = scored.find(id);
      if (it != scored.end()) {
        either[id] = it->second;
      } else if (filter.eval(doc)) {
        either[id] = 0;  // a typed clause matches with score 0
      }
    }
    for (const bool exact : {false, true}) {
      SearchRequest request;
      request.top_k = 1 + static_cast<uint32_t>(Pick(15));
      request.default_operator = op;
      request.exact_total_hits = exact;
      request.ids_only = true;
      // The request's filter.
      request.query = text;
      request.filter = filter.text;
      ExpectHits(request, kept, "filter");
      request.filter.clear();
      // Required next to the scored clauses (a group: the scorer tree; a
      // single clause: lifted).
      request.query = absl::StrCat("(", text, ") AND ", filter.text);
      ExpectHits(request, kept, "AND");
      request.query = absl::StrCat("(", text, ") AND NOT ", filter.text);
      ExpectHits(request, kept_out, "AND NOT");
      if (op == DefaultOperator::kOr) {
        request.query = absl::StrCat("(", text, ") OR ", filter.text);
        ExpectHits(request, either, "OR");
      }
    }
  }
}

TEST_P(FilterTest, SingleTypedClausesAreLiftedAndKeepPruning) {
  SCOPED_TRACE(scry::testing::SeedDescription(seed_));
  for (int round = 0; round < 40; ++round) {
    const Expr clause = Clause();
    // An OR of words with a required (or excluded) typed clause, and an
    // AND of words: the pruned evaluators with the filter.
    for (const DefaultOperator op : {DefaultOperator::kOr, DefaultOperator::kAnd}) {
      const std::string text = absl::StrCat(kWords[Pick(3)], " ", kWords[3 + Pick(3)]);
      const std::map<std::string, double> scored = Matches(text, op);
      std::map<std::string, double> kept, kept_out;
      for (const auto& [id, score] : scored) {
        (clause.eval(docs_.at(id)) ? kept : kept_out)[id] = score;
      }
      for (const Pruning pruning : {Pruning::kAuto, Pruning::kBlockMaxWand, Pruning::kNone}) {
        SearchRequest request;
        request.top_k = 1 + static_cast<uint32_t>(Pick(10));
        request.default_operator = op;
        request.pruning = pruning;
        request.ids_only = true;
        request.query = absl::StrCat("(", text, ") AND ", clause.text);
        ExpectHits(request, kept, "lifted");
        request.query = absl::StrCat(text, " -", clause.text);
        ExpectHits(request, kept_out, "excluded");
        if (op == DefaultOperator::kAnd) {
          request.query = absl::StrCat(text, " ", clause.text);
          ExpectHits(request, kept, "implicit AND");
        }
      }
    }
  }
}

TEST_P(FilterTest, FacetsCountEveryMatch) {
  SCOPED_TRACE(scry::testing::SeedDescription(seed_));
  for (int round = 0; round < 25; ++round) {
    const std::string text = RandomText();
    const Expr filter = Random(1);
    const std::map<std::string, double> scored = Matches(text, DefaultOperator::kOr);
    std::map<std::string, double> kept;
    for (const auto& [id, score] : scored) {
      if (filter.eval(docs_.at(id))) kept[id] = score;
    }
    SearchRequest request;
    request.query = text;
    request.filter = filter.text;
    request.top_k = 5;
    request.ids_only = true;
    const uint32_t size = 1 + static_cast<uint32_t>(Pick(5));
    const std::vector<std::string> years = {"[* TO 2000}", "[2000 TO 2009]", "{2009 TO *]", "2015"};
    const std::vector<std::string> prices = {"<0", "[0 TO 10]", ">=10.25"};
    request.facets = {FacetRequest{"lang", size, {}}, FacetRequest{"year", 0, years},
                      FacetRequest{"price", 0, prices}};
    // The reference: counts over the matches' input values.
    std::map<std::string, uint64_t> lang_counts;
    std::vector<uint64_t> year_counts(years.size()), price_counts(prices.size());
    for (const auto& [id, score] : kept) {
      const Doc& d = docs_.at(id);
      for (const std::string& l : d.lang) ++lang_counts[l];
      for (const int64_t y : d.year) {
        year_counts[0] += y < 2000;
        year_counts[1] += y >= 2000 && y <= 2009;
        year_counts[2] += y > 2009;
        year_counts[3] += y == 2015;
      }
      price_counts[0] +=
          std::any_of(d.price.begin(), d.price.end(), [](double p) { return p < 0; });
      price_counts[1] +=
          std::any_of(d.price.begin(), d.price.end(), [](double p) { return p >= 0 && p <= 10; });
      price_counts[2] +=
          std::any_of(d.price.begin(), d.price.end(), [](double p) { return p >= 10.25; });
    }
    FacetResult lang{"lang", {}, lang_counts.size()};
    for (const auto& [value, count] : lang_counts) lang.counts.push_back({value, count});
    std::sort(lang.counts.begin(), lang.counts.end(), [](const auto& a, const auto& b) {
      return a.count != b.count ? a.count > b.count : a.value < b.value;
    });
    if (lang.counts.size() > size) lang.counts.resize(size);
    FacetResult year{"year", {}, 0}, price{"price", {}, 0};
    for (size_t r = 0; r < years.size(); ++r) year.counts.push_back({years[r], year_counts[r]});
    for (size_t r = 0; r < prices.size(); ++r) price.counts.push_back({prices[r], price_counts[r]});

    ExpectHits(request, kept, "facets");
    auto result = searcher_->Search(request);
    ASSERT_THAT(result, IsOk());
    ASSERT_EQ(result->facets.size(), 3u);
    EXPECT_EQ(result->facets[0], lang) << filter.text;
    EXPECT_EQ(result->facets[1], year) << filter.text;
    EXPECT_EQ(result->facets[2], price) << filter.text;
  }
}

// Sorted by one or two numeric fields (with missing and multiple values),
// filtered, paged with search_after from each page's last hit: the pages
// together equal the reference order of every match.
TEST_P(FilterTest, SortedSearchesPageThroughTheReferenceOrder) {
  SCOPED_TRACE(scry::testing::SeedDescription(seed_));
  for (int round = 0; round < 20; ++round) {
    const std::string text = RandomText();
    const Expr filter = Random(1);
    const bool with_filter = Pick(2) == 0;
    std::vector<SortField> sort;
    for (size_t n = 1 + Pick(2); n > 0; --n) {
      sort.push_back({Pick(2) == 0 ? "year" : "price", Pick(2) == 0});
    }
    // The reference key of a document per sort field: year, or price's
    // least (ascending) or greatest (descending) value; none if absent.
    auto key = [&](const Doc& d, const SortField& f) -> std::optional<double> {
      if (f.field == "year") {
        return d.year.empty() ? std::nullopt : std::optional<double>(d.year[0]);
      }
      if (d.price.empty()) return std::nullopt;
      return f.descending ? *std::max_element(d.price.begin(), d.price.end())
                          : *std::min_element(d.price.begin(), d.price.end());
    };
    std::vector<std::pair<std::string, double>> want;
    for (const auto& [id, score] : Matches(text, DefaultOperator::kOr)) {
      if (!with_filter || filter.eval(docs_.at(id))) want.emplace_back(id, score);
    }
    std::sort(want.begin(), want.end(), [&](const auto& a, const auto& b) {
      for (const SortField& f : sort) {
        const std::optional<double> ka = key(docs_.at(a.first), f), kb = key(docs_.at(b.first), f);
        if (ka.has_value() != kb.has_value()) return ka.has_value();
        if (!ka.has_value() || *ka == *kb) continue;
        return (*ka < *kb) != f.descending;
      }
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });

    SearchRequest request;
    request.query = text;
    if (with_filter) request.filter = filter.text;
    request.sort = sort;
    request.top_k = 5 + static_cast<uint32_t>(Pick(40));
    request.ids_only = true;
    std::vector<std::pair<std::string, double>> got;
    for (int page = 0; page < 1000; ++page) {
      auto result = searcher_->Search(request);
      ASSERT_THAT(result, IsOk());
      EXPECT_EQ(result->total_hits, want.size());
      for (const SearchHit& hit : result->hits) {
        ASSERT_EQ(hit.sort_values.size(), sort.size());
        const Doc& d = docs_.at(hit.id);
        for (size_t k = 0; k < sort.size(); ++k) {
          const std::optional<double> expected = key(d, sort[k]);
          if (!expected.has_value()) {
            EXPECT_EQ(hit.sort_values[k], "");
          } else {
            EXPECT_EQ(std::stod(hit.sort_values[k]), *expected) << hit.sort_values[k];
          }
        }
        got.emplace_back(hit.id, hit.score);
      }
      if (result->hits.size() < request.top_k) break;
      const SearchHit& last = result->hits.back();
      request.search_after = SearchRequest::After{last.score, last.id, last.sort_values};
    }
    ASSERT_EQ(got.size(), want.size()) << text << " / " << filter.text;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].first, want[i].first) << "rank " << i;
      EXPECT_NEAR(got[i].second, want[i].second, 1e-9) << "rank " << i;
    }
    // An offset page equals the same slice of the order.
    request.search_after.reset();
    request.offset = static_cast<uint32_t>(Pick(10));
    auto result = searcher_->Search(request);
    ASSERT_THAT(result, IsOk());
    for (size_t i = 0; i < result->hits.size(); ++i) {
      ASSERT_LT(request.offset + i, want.size());
      EXPECT_EQ(result->hits[i].id, want[request.offset + i].first);
    }
  }
}

TEST_P(FilterTest, BadFiltersAndFacetsAreClearErrors) {
  SearchRequest request;
  request.query = "alpha";
  auto error = [&](const std::string& message) {
    EXPECT_THAT(searcher_->Search(request), StatusIs(absl::StatusCode::kInvalidArgument, message))
        << request.query << " / " << request.filter;
  };
  request.query = "alpha year:[2001 TO";
  error("column 12: unterminated range");
  request.query = "alpha year:abc";
  error("column 7:");
  request.query = "alpha lang:(en OR fr)";
  error("column 12: a typed field takes one value or a range, not a group");
  request.query = "alpha lang:";
  error("column 7: missing value after 'lang:'");
  request.query = "alpha lang:\"en\"~1";
  error("'~' cannot follow a typed field's value");
  request.query = "alpha price:[1 TO x]";
  error("column 7:");
  request.query = "alpha";
  request.filter = "year:>";
  error("filter: column 1:");
  request.filter.clear();
  request.facets = {FacetRequest{"body", 0, {}}};
  error("facet 'body' is not a typed field of the index (lang, price, year)");
  request.facets = {FacetRequest{"lang", 0, {"[1 TO 2]"}}};
  error("facet 'lang' is a keyword field");
  request.facets = {FacetRequest{"year", 0, {}}};
  error("facet 'year' is a int64 field: give it 1 to 256 ranges");
  request.facets = {FacetRequest{"year", 0, {"[a TO b]"}}};
  error("facet 'year': ");
  request.facets.clear();
  request.sort = {SortField{"lang", false}};
  error("sort field 'lang' is not a numeric or date field of the index (price, year;");
  request.sort = {SortField{"year", false}};
  request.search_after = SearchRequest::After{1.0, "d001", {}};
  error("search_after.sort_values must have one value per sort field (1), got 0");
  request.search_after = SearchRequest::After{1.0, "d001", {"x"}};
  error("search_after.sort_values[0]: ");
}

INSTANTIATE_TEST_SUITE_P(Shards, FilterTest, ::testing::Values(1u, 3u));

}  // namespace
}  // namespace scry::query
