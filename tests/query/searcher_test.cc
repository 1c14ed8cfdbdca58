// The Searcher over real on-disk indexes, checked against a hand-computed
// BM25 example and, on random corpora and random queries (fixed seeds),
// against a plain in-memory reference evaluator; and 1 shard vs 3 shards.
#include "query/searcher.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "analysis/analyzer.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/bm25.h"
#include "query/deadline.h"
#include "storage/verify.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

struct Doc {
  std::string id, title, body;
};

std::string Jsonl(const std::vector<Doc>& docs) {
  std::string out;
  for (const auto& d : docs) {
    absl::StrAppend(&out, "{\"id\":\"", d.id, "\",\"title\":\"", d.title, "\",\"body\":\"", d.body,
                    "\"}\n");
  }
  return out;
}

std::unique_ptr<Searcher> BuildAndOpen(const TempDir& dir, const std::string& name,
                                       const std::vector<Doc>& docs, uint32_t shards) {
  const std::string input = dir.Sub(name + ".jsonl");
  scry::testing::WriteFile(input, Jsonl(docs));
  indexer::BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir.Sub(name);
  options.num_shards = shards;
  auto built = indexer::BuildIndex(options);
  EXPECT_THAT(built, IsOk());
  auto searcher = Searcher::Open(dir.Sub(name), SearcherOptions());
  EXPECT_THAT(searcher, IsOk());
  return searcher.ok() ? std::move(*searcher) : nullptr;
}

TEST(Searcher, Bm25MatchesHandComputedExample) {
  TempDir dir;
  // N = 3, lengths 2, 3, 1 -> avgdl = 2; "apple" has df = 2.
  auto s = BuildAndOpen(
      dir, "idx",
      {{"d1", "", "apple banana"}, {"d2", "", "apple apple cherry"}, {"d3", "", "cherry"}}, 1);
  ASSERT_NE(s, nullptr);
  SearchRequest req;
  req.query = "apple";
  auto r = s->Search(req);
  ASSERT_THAT(r, IsOk());
  ASSERT_EQ(r->hits.size(), 2u);
  EXPECT_EQ(r->total_hits, 2u);
  // idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6
  // d2: tf 2, dl 3: idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 1.5))
  // d1: tf 1, dl 2: idf * 1 * 2.2 / (1 + 1.2)
  EXPECT_EQ(r->hits[0].id, "d2");
  EXPECT_NEAR(r->hits[0].score, 0.5665797174469143, 1e-12);
  EXPECT_EQ(r->hits[1].id, "d1");
  EXPECT_NEAR(r->hits[1].score, 0.47000362924573563, 1e-12);
}

TEST(Searcher, BadRequestsAreInvalidArgument) {
  TempDir dir;
  auto s = BuildAndOpen(dir, "idx", {{"a", "t", "hello world"}}, 1);
  ASSERT_NE(s, nullptr);
  SearchRequest req;
  req.query = "";
  EXPECT_THAT(s->Search(req), StatusIs(absl::StatusCode::kInvalidArgument, "column"));
  req.query = "\"hello";
  EXPECT_THAT(s->Search(req), StatusIs(absl::StatusCode::kInvalidArgument, "column 1"));
  req.query = "hello";
  req.top_k = 20000;
  EXPECT_THAT(s->Search(req), StatusIs(absl::StatusCode::kInvalidArgument, "top_k"));
}

TEST(Searcher, MissingIndexIsFailedPrecondition) {
  TempDir dir;
  EXPECT_THAT(Searcher::Open(dir.Sub("nothing"), SearcherOptions()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// ---- reference evaluator ---------------------------------------------------

struct RefField {
  std::map<std::string, std::vector<uint32_t>> positions;
  uint32_t length = 0;
};

struct RefDoc {
  std::string id;
  std::map<std::string, RefField> fields;  // "" = the catch-all, "title", "body"
};

// Lucene's sloppy phrase frequency, computed plainly: each slot walks its
// term's positions shifted by its offset; the slot furthest behind (ties:
// the lower slot) moves on; a window is scored when the mover passes the
// next slot. Repeated terms must sit on different positions.
double RefSloppyFreq(const std::vector<const std::vector<uint32_t>*>& pos,
                     const std::vector<uint32_t>& offsets, const std::vector<std::string>& terms,
                     uint32_t slop) {
  const size_t n = pos.size();
  std::vector<size_t> at(n, 0);
  auto value = [&](size_t i) { return int64_t{(*pos[i])[at[i]]} - int64_t{offsets[i]}; };
  auto distinct = [&] {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        if (terms[i] == terms[j] && (*pos[i])[at[i]] == (*pos[j])[at[j]]) return false;
      }
    }
    return true;
  };
  std::vector<bool> out(n, false);  // slots not in the "queue" (the mover)
  auto min_slot = [&] {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (out[i]) continue;
      if (best == n || value(i) < value(best)) best = i;
    }
    return best;
  };
  int64_t end = INT64_MIN;
  for (size_t i = 0; i < n; ++i) end = std::max(end, value(i));
  double freq = 0;
  size_t pp = min_slot();
  out[pp] = true;
  int64_t length = end - value(pp);
  int64_t next = value(min_slot());
  bool ok = distinct();
  for (;;) {
    if (++at[pp] == pos[pp]->size()) break;
    const int64_t v = value(pp);
    end = std::max(end, v);
    if (v > next) {
      out[pp] = false;
      if (length <= slop && ok) freq += 1.0 / (1.0 + length);
      pp = min_slot();
      out[pp] = true;
      next = value(min_slot());
      length = end - value(pp);
      ok = distinct();
    } else if (end - v < length) {
      length = end - v;
      ok = distinct();
    }
  }
  if (length <= slop && ok) freq += 1.0 / (1.0 + length);
  return freq;
}

class Reference : public TermSource {
 public:
  explicit Reference(const std::vector<Doc>& docs) {
    auto analyzer = *analysis::Analyzer::Create("english");
    for (const auto& d : docs) {
      RefDoc r;
      r.id = d.id;
      std::vector<analysis::Token> tokens;
      uint32_t next = 0;
      for (const auto& [name, text] :
           {std::pair<std::string, const std::string*>{"title", &d.title}, {"body", &d.body}}) {
        const uint32_t start = next == 0 ? 0 : next + indexer::kFieldPositionGap;
        const size_t first = tokens.size();
        next = analyzer->Analyze(*text, start, &tokens);
        RefField& f = r.fields[name];
        for (size_t i = first; i < tokens.size(); ++i) {
          f.positions[tokens[i].term].push_back(tokens[i].position - start);
        }
        f.length = static_cast<uint32_t>(tokens.size() - first);
        total_length_[name] += f.length;
      }
      RefField& all = r.fields[""];
      for (const auto& t : tokens) all.positions[t.term].push_back(t.position);
      all.length = static_cast<uint32_t>(tokens.size());
      total_length_[""] += all.length;
      docs_.push_back(std::move(r));
    }
  }

  // The dictionary, for prefix and fuzzy expansion.
  absl::Status Scan(const std::string& field, std::string_view prefix,
                    const std::function<bool(std::string_view, uint64_t)>& fn) const override {
    std::map<std::string, uint64_t> dict;
    for (const auto& d : docs_) {
      for (const auto& [term, p] : d.fields.at(field).positions) {
        if (term.substr(0, prefix.size()) == prefix) ++dict[term];
      }
    }
    for (const auto& [term, df] : dict) {
      if (!fn(term, df)) break;
    }
    return absl::OkStatus();
  }

  SearchResult Search(const QueryNode& root) const {
    std::vector<std::pair<double, std::string>> hits;
    for (const auto& d : docs_) {
      auto score = Eval(root, d);
      if (score.has_value()) hits.emplace_back(*score, d.id);
    }
    std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    SearchResult out;
    out.total_hits = hits.size();
    for (const auto& [score, id] : hits) {
      SearchHit hit;
      hit.id = id;
      hit.score = score;
      out.hits.push_back(std::move(hit));
    }
    return out;
  }

 private:
  uint64_t Df(const std::string& field, const std::string& term) const {
    uint64_t df = 0;
    for (const auto& d : docs_) df += d.fields.at(field).positions.count(term);
    return df;
  }

  std::optional<double> Eval(const QueryNode& n, const RefDoc& d) const {
    const Bm25 bm25(docs_.size(), n.is_leaf() ? total_length_.at(n.field) : 0);
    switch (n.kind) {
      case QueryNode::Kind::kTerm: {
        const RefField& f = d.fields.at(n.field);
        auto it = f.positions.find(n.terms[0]);
        if (it == f.positions.end()) return std::nullopt;
        return bm25.Score(bm25.Idf(Df(n.field, n.terms[0])) * n.boost, it->second.size(), f.length);
      }
      case QueryNode::Kind::kPhrase: {
        const RefField& f = d.fields.at(n.field);
        double idf = 0;
        std::vector<const std::vector<uint32_t>*> pos;
        for (const auto& t : n.terms) {
          if (!f.positions.count(t)) return std::nullopt;
          idf += bm25.Idf(Df(n.field, t));
          pos.push_back(&f.positions.at(t));
        }
        double matches = 0;
        if (n.slop > 0) {
          matches = RefSloppyFreq(pos, n.positions, n.terms, n.slop);
        } else {
          for (uint32_t p0 : *pos[0]) {
            bool all = p0 >= n.positions[0];
            for (size_t i = 1; i < n.terms.size() && all; ++i) {
              all = std::binary_search(pos[i]->begin(), pos[i]->end(),
                                       p0 - n.positions[0] + n.positions[i]);
            }
            matches += all;
          }
        }
        if (matches == 0) return std::nullopt;
        return bm25.Score(idf * n.boost, matches, f.length);
      }
      case QueryNode::Kind::kPrefix:
      case QueryNode::Kind::kFuzzy:
        ADD_FAILURE() << "not expanded";
        return std::nullopt;
      case QueryNode::Kind::kKeyword:
      case QueryNode::Kind::kRange:
        ADD_FAILURE() << "a typed clause in an untyped index";
        return std::nullopt;
      case QueryNode::Kind::kBool:
        break;
    }
    double score = 0;
    for (const auto& c : n.must_not) {
      if (Eval(*c, d).has_value()) return std::nullopt;
    }
    for (const auto& c : n.must) {
      auto s = Eval(*c, d);
      if (!s.has_value()) return std::nullopt;
      score += *s;
    }
    bool any_should = false;
    for (const auto& c : n.should) {
      auto s = Eval(*c, d);
      if (s.has_value()) {
        score += *s;
        any_should = true;
      }
    }
    if (n.must.empty() && !any_should) return std::nullopt;
    return score;
  }

  std::vector<RefDoc> docs_;
  std::map<std::string, uint64_t> total_length_;
};

const char* kVocab[] = {"alpha", "bravo",    "charlie", "delta",  "echo",   "foxtrot",
                        "golf",  "hotel",    "india",   "juliet", "kilo",   "lima",
                        "mike",  "november", "oscar",   "papa",   "quebec", "running",
                        "runs",  "ran",      "Zürich",  "straße", "ΣΟΦΙΑ",  "москва"};
constexpr size_t kVocabSize = sizeof(kVocab) / sizeof(kVocab[0]);

std::vector<Doc> RandomCorpus(std::mt19937* rng, size_t n) {
  // Zipf-like: word i drawn with weight 1/(i+1).
  std::vector<double> w;
  for (size_t i = 0; i < kVocabSize; ++i) w.push_back(1.0 / (i + 1));
  std::discrete_distribution<size_t> word(w.begin(), w.end());
  std::vector<Doc> docs;
  for (size_t i = 0; i < n; ++i) {
    Doc d;
    d.id = absl::StrCat("doc-", (*rng)() % 100000, "-", i);
    auto text = [&](size_t len) {
      std::vector<std::string> words;
      for (size_t k = 0; k < len; ++k) words.push_back(kVocab[word(*rng)]);
      return absl::StrJoin(words, (*rng)() % 2 ? " " : ", ");
    };
    d.title = (*rng)() % 3 == 0 ? "" : text(1 + (*rng)() % 4);
    d.body = text((*rng)() % 40);
    docs.push_back(d);
    if ((*rng)() % 10 == 0) {  // an exact copy under another id: score ties
      Doc copy = d;
      copy.id = absl::StrCat("copy-", i);
      docs.push_back(copy);
    }
  }
  return docs;
}

std::string RandomQuery(std::mt19937* rng, int depth = 0) {
  auto term = [&] { return std::string(kVocab[(*rng)() % kVocabSize]); };
  const int n = 1 + static_cast<int>((*rng)() % 3);
  std::string q;
  for (int i = 0; i < n; ++i) {
    if (i > 0) {
      const char* ops[] = {" ", " AND ", " OR ", " NOT ", " "};
      q += ops[(*rng)() % 5];
    } else if ((*rng)() % 6 == 0) {
      q += (*rng)() % 2 ? "+" : "";
    }
    const uint32_t kind = (*rng)() % 10;
    const char* fields[] = {"", "", "", "title:", "body:"};
    q += fields[(*rng)() % 5];
    if (kind < 6 || depth > 1) {
      q += ((*rng)() % 8 == 0 ? "-" : "") + term();
      // Prefix and fuzzy forms of the word.
      const uint32_t form = (*rng)() % 12;
      if (form == 0) q.resize(q.size() - std::min<size_t>(q.size() - 1, 2)), q += "*";
      if (form == 1) q += "~1";
    } else if (kind < 8) {
      q += "\"" + term() + " " + term() + ((*rng)() % 2 ? " " + term() : "") + "\"";
      if ((*rng)() % 3 == 0) q += absl::StrCat("~", (*rng)() % 4);
    } else {
      q += "(" + RandomQuery(rng, depth + 1) + ")";
    }
    if ((*rng)() % 6 == 0) q += (*rng)() % 2 ? "^2" : "^0.5";
  }
  return q;
}

TEST(Searcher, RandomQueriesMatchReferenceAndShardingIsInvisible) {
  const uint32_t seed = ::scry::testing::TestSeed(20261123);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<Doc> docs = RandomCorpus(&rng, 700);
  TempDir dir;
  auto one = BuildAndOpen(dir, "one", docs, 1);
  auto three = BuildAndOpen(dir, "three", docs, 3);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(three, nullptr);
  Reference ref(docs);
  auto analyzer = *analysis::Analyzer::Create("english");
  int checked = 0;
  const std::vector<std::string> fields = {"body", "title"};
  for (int q = 0; q < 600; ++q) {
    SearchRequest req;
    req.query = RandomQuery(&rng);
    req.top_k = 5000;
    req.default_operator = q % 4 == 0 ? DefaultOperator::kAnd : DefaultOperator::kOr;
    req.exact_total_hits = true;
    if (q % 5 == 1) req.default_fields = {{"title", 2.0}, {"body", 1.0}};
    if (q % 5 == 2) req.default_fields = {{"body", 0.5}};
    SCOPED_TRACE(req.query);
    auto a = one->Search(req);
    auto b = three->Search(req);
    ParseOptions po;
    po.default_operator = req.default_operator;
    po.known_fields = &fields;
    auto tree = ParseQuery(req.query, po, analyzer.get());
    if (!tree.ok()) {  // e.g. only negative clauses: both must say so alike
      EXPECT_EQ(a.status(), tree.status());
      EXPECT_EQ(b.status(), tree.status());
      continue;
    }
    if (!req.default_fields.empty()) ApplyDefaultFields(tree->get(), req.default_fields);
    ExpansionResult expanded;
    ASSERT_THAT(ExpandMultiTerms(tree->get(), ref, ExpansionOptions(), &expanded), IsOk());
    FlattenDisjunctions(tree->get());
    ASSERT_THAT(a, IsOk());
    ASSERT_THAT(b, IsOk());
    // Sharded == unsharded, bit for bit.
    ASSERT_EQ(a->total_hits, b->total_hits);
    ASSERT_EQ(a->hits.size(), b->hits.size());
    for (size_t i = 0; i < a->hits.size(); ++i) {
      ASSERT_EQ(a->hits[i].id, b->hits[i].id) << "rank " << i;
      ASSERT_EQ(a->hits[i].score, b->hits[i].score) << "rank " << i;
    }
    // Index == reference (scores may differ in the last bits: other sum order).
    SearchResult want = ref.Search(**tree);
    ASSERT_EQ(a->total_hits, want.total_hits) << (*tree)->DebugString();
    ASSERT_EQ(a->hits.size(), want.hits.size());
    for (size_t i = 0; i < want.hits.size(); ++i) {
      ASSERT_NEAR(a->hits[i].score, want.hits[i].score, 1e-9) << "rank " << i;
      // Ids must agree except inside groups of (numerically) tied scores.
      if (a->hits[i].id != want.hits[i].id) {
        ASSERT_NEAR(a->hits[i].score, want.hits[i].score, 1e-12);
      }
    }
    checked += want.total_hits > 0;
  }
  EXPECT_GT(checked, 200);  // the generator must produce mostly matching queries
}

// Phrases read pairs of words where the shard has them (storage/keys.h):
// hits, scores and total_hits must be those of an index without pairs, bit
// for bit, and the reference's; on indexes with pairs of one or of two
// common words, rare pairs left out, 3 shards, and a format 6 index. The
// phrases: taken from the documents (so they match: repeated words, common
// words at either end, one word), across the title/body boundary (they
// must not match), random words, sloppy, and on named fields.
TEST(Searcher, PhrasesWithPairsMatchReference) {
  SCRY_SEEDED_RNG(rng, 20261204);
  std::vector<Doc> docs = RandomCorpus(&rng, 600);
  TempDir dir;
  const std::string input = dir.Sub("docs.jsonl");
  scry::testing::WriteFile(input, Jsonl(docs));
  struct Variant {
    std::string name;
    uint32_t common_terms, pair_min_df, shards;
    bool need_both;
  };
  const std::vector<Variant> variants = {
      {"plain", 0, 1, 1, false},         {"pairs", 4, 1, 1, false},
      {"rare-left-out", 6, 5, 3, false}, {"both-common", 10, 1, 1, true},
      {"format6", 0, 1, 2, false},
  };
  std::vector<std::unique_ptr<Searcher>> searchers;
  for (const Variant& v : variants) {
    indexer::BuildOptions options;
    options.inputs = {input};
    options.index_dir = dir.Sub(v.name);
    options.num_shards = v.shards;
    options.common_terms = v.common_terms;
    options.pair_min_df = v.pair_min_df;
    options.pairs_need_both = v.need_both;
    options.pair_sample_bytes = 4096;  // a sample of the first documents
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
    if (v.name == "format6") scry::testing::DowngradeToFormat(options.index_dir, 6);
    auto verified = storage::VerifyIndex(options.index_dir);
    ASSERT_THAT(verified, IsOk());
    EXPECT_TRUE(verified->ok()) << v.name << ": " << verified->Summary();
    auto searcher = Searcher::Open(options.index_dir, SearcherOptions());
    ASSERT_THAT(searcher, IsOk());
    searchers.push_back(std::move(*searcher));
  }
  // The pairs hold postings of their own, but the statistics are the words'.
  auto plain = searchers[0]->Stats();
  auto pairs = searchers[1]->Stats();
  ASSERT_THAT(plain, IsOk());
  ASSERT_THAT(pairs, IsOk());
  EXPECT_EQ((*plain)[0].terms, (*pairs)[0].terms);
  EXPECT_EQ((*plain)[0].postings, (*pairs)[0].postings);
  EXPECT_GT((*pairs)[0].bytes_per_column_family.at("terms"),
            (*plain)[0].bytes_per_column_family.at("terms"));

  Reference ref(docs);
  auto analyzer = *analysis::Analyzer::Create("english");
  auto words = [&](const std::string& text) {
    std::vector<std::string> out;
    for (absl::string_view w : absl::StrSplit(text, absl::ByAnyChar(" ,"), absl::SkipEmpty())) {
      out.emplace_back(w.data(), w.size());
    }
    return out;
  };
  int matched = 0;
  for (int q = 0; q < 500; ++q) {
    const Doc& d = docs[rng() % docs.size()];
    const std::vector<std::string> title = words(d.title), body = words(d.body);
    std::vector<std::string> phrase;
    const uint32_t kind = rng() % 10;
    if (kind == 0 && !title.empty() && !body.empty()) {
      phrase = {title.back(), body.front()};  // across the boundary
    } else if (kind <= 2) {
      for (size_t n = 1 + rng() % 4; n > 0; --n) phrase.push_back(kVocab[rng() % 6]);
    } else {
      const std::vector<std::string>& from = kind <= 4 && !title.empty() ? title : body;
      if (from.empty()) continue;
      const size_t len = std::min<size_t>(from.size(), 1 + rng() % 4);
      const size_t start = rng() % (from.size() - len + 1);
      phrase.assign(from.begin() + static_cast<long>(start),
                    from.begin() + static_cast<long>(start + len));
    }
    SearchRequest req;
    const char* fields[] = {"", "", "", "title:", "body:"};
    req.query = absl::StrCat(fields[rng() % 5], "\"", absl::StrJoin(phrase, " "), "\"");
    if (rng() % 8 == 0) absl::StrAppend(&req.query, "~", 1 + rng() % 2);
    if (rng() % 6 == 0) absl::StrAppend(&req.query, " ", kVocab[rng() % kVocabSize]);
    req.top_k = 1000;
    req.exact_total_hits = true;
    SCOPED_TRACE(req.query);
    auto want = searchers[0]->Search(req);
    ASSERT_THAT(want, IsOk());
    for (size_t v = 1; v < searchers.size(); ++v) {
      SCOPED_TRACE(variants[v].name);
      auto got = searchers[v]->Search(req);
      ASSERT_THAT(got, IsOk());
      ASSERT_EQ(got->total_hits, want->total_hits);
      ASSERT_EQ(got->hits.size(), want->hits.size());
      for (size_t i = 0; i < want->hits.size(); ++i) {
        ASSERT_EQ(got->hits[i].id, want->hits[i].id) << "rank " << i;
        ASSERT_EQ(got->hits[i].score, want->hits[i].score) << "rank " << i;
      }
    }
    const std::vector<std::string> known = {"body", "title"};
    ParseOptions po;
    po.known_fields = &known;
    auto tree = ParseQuery(req.query, po, analyzer.get());
    ASSERT_THAT(tree, IsOk());
    SearchResult reference = ref.Search(**tree);
    ASSERT_EQ(want->total_hits, reference.total_hits) << (*tree)->DebugString();
    for (size_t i = 0; i < want->hits.size(); ++i) {
      ASSERT_NEAR(want->hits[i].score, reference.hits[i].score, 1e-9) << "rank " << i;
    }
    matched += want->total_hits > 0;
  }
  EXPECT_GT(matched, 250);
}

TEST(Searcher, PaginationAndStoredFields) {
  TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 30; ++i) {
    docs.push_back({absl::StrCat("d", 100 + i), absl::StrCat("title ", i),
                    std::string(i % 5 + 1, 'x') == "x" ? "word" : "word word filler"});
  }
  auto s = BuildAndOpen(dir, "idx", docs, 2);
  ASSERT_NE(s, nullptr);
  SearchRequest all;
  all.query = "word";
  all.top_k = 30;
  auto full = s->Search(all);
  ASSERT_THAT(full, IsOk());
  ASSERT_EQ(full->hits.size(), 30u);
  SearchRequest page = all;
  page.top_k = 7;
  page.offset = 10;
  page.fields = {"body"};
  auto p = s->Search(page);
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->hits.size(), 7u);
  EXPECT_EQ(p->total_hits, 30u);
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(p->hits[i].id, full->hits[10 + i].id);
    EXPECT_EQ(p->hits[i].score, full->hits[10 + i].score);
    ASSERT_EQ(p->hits[i].fields.size(), 1u);
    EXPECT_EQ(p->hits[i].fields[0].first, "body");
  }
  auto doc = s->GetDocument("d105");
  ASSERT_THAT(doc, IsOk());
  EXPECT_EQ(doc->Field("title"), "title 5");
  EXPECT_THAT(s->GetDocument("nope"), StatusIs(absl::StatusCode::kNotFound));
}

// MaxScore (the default for OR queries of terms) against exhaustive
// evaluation (exact_total_hits), on the bundled sample corpus (real text,
// 4,522 documents) with 1 and 3 shards: 2,000 random OR queries of 2 to 8
// words drawn both by corpus frequency (common words, where pruning bites)
// and uniformly from the vocabulary (rare words), k from 1 to 1000. Ids and
// scores must be identical, and pruning must actually have happened.
// Deadlines and cancellation reach the evaluation loops of every path
// (exhaustive tree, MaxScore, Block-Max WAND, block-max AND, phrases): an
// expired search fails with DEADLINE_EXCEEDED, a cancelled one with
// CANCELLED at the first poll after the callback said so.
TEST(Searcher, DeadlineAndCancellationStopTheEvaluation) {
  TempDir dir;
  indexer::BuildOptions options;
  options.inputs = {std::string(SCRY_TEST_DATA_DIR) + "/sample.jsonl"};
  options.index_dir = dir.Sub("idx");
  ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  auto searcher = Searcher::Open(options.index_dir, SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  const std::string words = "the of and to a in is for that with this from";
  struct Case {
    std::string query;
    DefaultOperator op;
    Pruning pruning;
  };
  const Case cases[] = {
      {words, DefaultOperator::kOr, Pruning::kNone},
      {words, DefaultOperator::kOr, Pruning::kMaxScore},
      {words, DefaultOperator::kOr, Pruning::kBlockMaxWand},
      {"the of", DefaultOperator::kAnd, Pruning::kAuto},
      {"\"of the\" OR \"in the\" OR \"to the\"", DefaultOperator::kOr, Pruning::kAuto},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query + " pruning " + std::to_string(static_cast<int>(c.pruning)));
    SearchRequest req;
    req.query = c.query;
    req.default_operator = c.op;
    req.pruning = c.pruning;
    req.top_k = 1000;
    req.ids_only = true;
    auto full = (*searcher)->Search(req);
    ASSERT_THAT(full, IsOk());
    ASSERT_GT(full->total_hits, 500u);

    req.deadline = absl::Now() - absl::Milliseconds(1);
    EXPECT_THAT((*searcher)->Search(req), StatusIs(absl::StatusCode::kDeadlineExceeded));
    req.deadline = absl::Now() + absl::Hours(1);
    EXPECT_THAT((*searcher)->Search(req), IsOk());

    // Polled all along the evaluation: hundreds of matches, several polls.
    // (The callback is asked at most once per kCancelCheckInterval: each
    // answer here takes that long, so every clock check asks again.)
    int polls = 0;
    req.cancelled = [&polls] {
      absl::SleepFor(Deadline::kCancelCheckInterval);
      return ++polls < 0;
    };
    ASSERT_THAT((*searcher)->Search(req), IsOk());
    EXPECT_GT(polls, 2);
    // Cancelled at the third poll: the search stops there.
    polls = 0;
    req.cancelled = [&polls] {
      absl::SleepFor(Deadline::kCancelCheckInterval);
      return ++polls >= 3;
    };
    EXPECT_THAT((*searcher)->Search(req), StatusIs(absl::StatusCode::kCancelled));
    EXPECT_EQ(polls, 3);
  }
}

// The same ranking: ids and scores bit for bit.
void ExpectSameHits(const SearchResult& got, const SearchResult& want) {
  ASSERT_EQ(got.hits.size(), want.hits.size());
  for (size_t i = 0; i < got.hits.size(); ++i) {
    ASSERT_EQ(got.hits[i].id, want.hits[i].id) << "rank " << i;
    ASSERT_EQ(got.hits[i].score, want.hits[i].score) << "rank " << i;
  }
}

TEST(Searcher, PrunedTopKEqualsExhaustive) {
  const std::string sample = std::string(SCRY_TEST_DATA_DIR) + "/sample.jsonl";
  std::vector<std::string> tokens;  // every word occurrence: sampling by frequency
  {
    std::ifstream in(sample);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string word;
    for (char c : text) {
      if (std::isalpha(static_cast<unsigned char>(c))) {
        word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      } else {
        if (word.size() >= 2 && word.size() <= 15) tokens.push_back(word);
        word.clear();
      }
    }
  }
  ASSERT_GT(tokens.size(), 100000u);
  std::vector<std::string> vocabulary = tokens;
  std::sort(vocabulary.begin(), vocabulary.end());
  vocabulary.erase(std::unique(vocabulary.begin(), vocabulary.end()), vocabulary.end());

  TempDir dir;
  std::unique_ptr<Searcher> searchers[2];
  for (uint32_t i = 0; i < 2; ++i) {
    indexer::BuildOptions options;
    options.inputs = {sample};
    options.index_dir = dir.Sub(absl::StrCat("idx", i));
    options.num_shards = i == 0 ? 1 : 3;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
    SearcherOptions searcher_options;
    searcher_options.parallel_min_postings = 0;  // shards in parallel: a shared threshold race
    auto s = Searcher::Open(options.index_dir, searcher_options);
    ASSERT_THAT(s, IsOk());
    searchers[i] = std::move(*s);
  }
  SCRY_SEEDED_RNG(rng, 5);
  const uint32_t ks[] = {1, 3, 10, 10, 10, 100, 1000};
  int lower_bounds[4] = {}, and_lower_bounds = 0;  // by Pruning
  uint64_t scored_pruned[4] = {}, scored_exhaustive = 0, scored_hinted = 0, scored_unhinted = 0;
  for (int q = 0; q < 2000; ++q) {
    const size_t n = 2 + rng() % 7;
    std::vector<std::string> words;
    for (size_t i = 0; i < n; ++i) {
      words.push_back(rng() % 3 == 0 ? vocabulary[rng() % vocabulary.size()]
                                     : tokens[rng() % tokens.size()]);
    }
    SearchRequest req;
    req.query = absl::StrJoin(words, " ");
    req.top_k = ks[rng() % std::size(ks)];
    req.ids_only = true;
    // Every fourth query ANDs its words (block-max conjunction), with mostly
    // common words so that it matches.
    if (q % 4 == 3) {
      req.default_operator = DefaultOperator::kAnd;
      words.resize(2);
      for (auto& w : words) w = tokens[rng() % tokens.size()];
      req.query = absl::StrJoin(words, " ");
      req.top_k = 1 + rng() % 10;
    }
    SCOPED_TRACE(absl::StrCat(req.query, " k=", req.top_k));
    for (const auto& searcher : searchers) {
      req.exact_total_hits = true;
      auto exhaustive = searcher->Search(req);
      ASSERT_THAT(exhaustive, IsOk());
      EXPECT_FALSE(exhaustive->total_hits_is_lower_bound);
      scored_exhaustive += exhaustive->total_hits;
      req.exact_total_hits = false;
      for (Pruning pruning : {Pruning::kMaxScore, Pruning::kBlockMaxWand, Pruning::kAuto}) {
        SCOPED_TRACE(static_cast<int>(pruning));
        req.pruning = pruning;
        auto pruned = searcher->Search(req);
        ASSERT_THAT(pruned, IsOk());
        ExpectSameHits(*pruned, *exhaustive);
        if (pruned->total_hits_is_lower_bound) {
          EXPECT_LE(pruned->total_hits, exhaustive->total_hits);
          ++lower_bounds[static_cast<int>(pruning)];
          and_lower_bounds += req.default_operator == DefaultOperator::kAnd;
        } else {
          EXPECT_EQ(pruned->total_hits, exhaustive->total_hits);
        }
        scored_pruned[static_cast<int>(pruning)] += pruned->postings_scored;
        // A broker's hint (min_competitive_score): any score that top_k hits
        // reach, here the k-th exhaustive score scaled by 0.5-1, starts the
        // threshold there: the same hits, no more postings scored.
        if (exhaustive->hits.size() >= req.top_k && pruning != Pruning::kAuto) {
          const double kth = exhaustive->hits[req.top_k - 1].score;
          req.min_competitive_score = kth * (0.5 + 0.5 * static_cast<double>(rng() % 3) / 2);
          auto hinted = searcher->Search(req);
          req.min_competitive_score = 0;
          ASSERT_THAT(hinted, IsOk());
          ExpectSameHits(*hinted, *exhaustive);
          EXPECT_LE(hinted->total_hits, exhaustive->total_hits);
          scored_hinted += hinted->postings_scored;
          scored_unhinted += pruned->postings_scored;
        }
      }
    }
  }
  EXPECT_LT(scored_hinted, scored_unhinted);  // the hint prunes more
  // Not vacuous: pruning skipped documents in many queries.
  EXPECT_GT(lower_bounds[static_cast<int>(Pruning::kMaxScore)], 500);
  EXPECT_GT(lower_bounds[static_cast<int>(Pruning::kBlockMaxWand)], 500);
  EXPECT_GT(and_lower_bounds, 30);  // a small corpus: few lists span several blocks
  std::printf(
      "pruned (MaxScore, BMW): %d, %d of 4000 searches (%d AND, all algorithms); postings "
      "scored %llu, %llu (matches %llu); with a broker's hint %llu against %llu\n",
      lower_bounds[static_cast<int>(Pruning::kMaxScore)],
      lower_bounds[static_cast<int>(Pruning::kBlockMaxWand)], and_lower_bounds,
      static_cast<unsigned long long>(scored_pruned[static_cast<int>(Pruning::kMaxScore)]),
      static_cast<unsigned long long>(scored_pruned[static_cast<int>(Pruning::kBlockMaxWand)]),
      static_cast<unsigned long long>(scored_exhaustive),
      static_cast<unsigned long long>(scored_hinted),
      static_cast<unsigned long long>(scored_unhinted));
}

// Long lists (many blocks and chunks, where Block-Max WAND's shallow moves
// read block headers of chunks ahead of the cursor) on a synthetic corpus:
// Zipf-distributed words, document lengths from 3 to 300.
TEST(Searcher, PrunedTopKEqualsExhaustiveOnLongLists) {
  constexpr int kVocabulary = 3000;
  SCRY_SEEDED_RNG(rng, 11);
  std::vector<double> weights(kVocabulary);
  for (int w = 0; w < kVocabulary; ++w) weights[w] = 1.0 / (w + 1);
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  auto word = [](int w) { return absl::StrCat("w", w); };
  std::vector<Doc> docs;
  for (int d = 0; d < 24000; ++d) {
    const int length = 3 + static_cast<int>(rng() % 100) * (rng() % 3 + 1);
    std::string body;
    for (int i = 0; i < length; ++i) absl::StrAppend(&body, i ? " " : "", word(zipf(rng)));
    docs.push_back({absl::StrCat("d", d), "", body});
  }
  TempDir dir;
  std::unique_ptr<Searcher> searchers[] = {BuildAndOpen(dir, "one", docs, 1),
                                           BuildAndOpen(dir, "two", docs, 2)};
  ASSERT_NE(searchers[0], nullptr);
  ASSERT_NE(searchers[1], nullptr);
  int lower_bounds = 0;
  for (int q = 0; q < 150; ++q) {
    SearchRequest req;
    std::vector<std::string> words;
    const size_t n = 2 + rng() % 5;
    // Mostly frequent words (lists of up to 20,000 postings), some rare.
    for (size_t i = 0; i < n; ++i) words.push_back(word(rng() % 4 ? rng() % 30 : zipf(rng)));
    req.query = absl::StrJoin(words, " ");
    req.top_k = std::vector<uint32_t>{1, 10, 10, 100, 1000}[rng() % 5];
    req.ids_only = true;
    if (q % 5 == 4) req.default_operator = DefaultOperator::kAnd;
    SCOPED_TRACE(absl::StrCat(req.query, " k=", req.top_k));
    for (const auto& searcher : searchers) {
      req.pruning = Pruning::kNone;
      auto exhaustive = searcher->Search(req);
      ASSERT_THAT(exhaustive, IsOk());
      for (Pruning pruning : {Pruning::kMaxScore, Pruning::kBlockMaxWand}) {
        req.pruning = pruning;
        auto pruned = searcher->Search(req);
        ASSERT_THAT(pruned, IsOk());
        ExpectSameHits(*pruned, *exhaustive);
        lower_bounds += pruned->total_hits_is_lower_bound;
      }
    }
  }
  EXPECT_GT(lower_bounds, 300);
}

}  // namespace
}  // namespace scry::query
