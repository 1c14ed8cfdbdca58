// Invert on its own: hand-made batches (docids, tfs, positions, field gaps,
// named fields, stopword gaps, stored members and their checkpoints), and
// randomized batches against a plain reference that analyses member by
// member and files every token under its keys in a std::map.
#include "indexer/inverter.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "analysis/checkpoints.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "storage/keys.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using analysis::Analyzer;
using analysis::AnalyzerOptions;
using storage::kTextField;
using storage::TermKey;

struct List {
  std::vector<uint32_t> docids, freqs, positions;
  bool operator==(const List&) const = default;
};

std::ostream& operator<<(std::ostream& os, const List& l) {
  auto put = [&](const char* name, const std::vector<uint32_t>& v) {
    os << name << "{";
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
    os << "} ";
  };
  put("docids", l.docids);
  put("freqs", l.freqs);
  put("positions", l.positions);
  return os;
}

// The lists of `inv` by key; fails the test if its arrays are inconsistent.
std::map<std::string, List> ListsOf(const Inverted& inv) {
  std::map<std::string, List> out;
  EXPECT_EQ(inv.ends.size(), inv.keys.size());
  EXPECT_EQ(inv.pos_ends.size(), inv.keys.size());
  EXPECT_EQ(inv.docids.size(), inv.freqs.size());
  for (size_t k = 0; k < inv.keys.size(); ++k) {
    const uint32_t b = k == 0 ? 0 : inv.ends[k - 1], e = inv.ends[k];
    const uint32_t pb = k == 0 ? 0 : inv.pos_ends[k - 1], pe = inv.pos_ends[k];
    List l;
    l.docids.assign(inv.docids.begin() + b, inv.docids.begin() + e);
    l.freqs.assign(inv.freqs.begin() + b, inv.freqs.begin() + e);
    l.positions.assign(inv.positions.begin() + pb, inv.positions.begin() + pe);
    uint64_t sum = 0;
    for (uint32_t f : l.freqs) sum += f;
    EXPECT_EQ(sum, l.positions.size()) << "key " << inv.keys[k];
    EXPECT_TRUE(out.emplace(inv.keys[k], std::move(l)).second) << "key twice: " << inv.keys[k];
  }
  EXPECT_EQ(inv.ends.empty() ? 0 : inv.ends.back(), inv.docids.size());
  EXPECT_EQ(inv.pos_ends.empty() ? 0 : inv.pos_ends.back(), inv.positions.size());
  return out;
}

Document Doc(std::string id, std::vector<std::pair<std::string, std::string>> fields,
             std::vector<uint8_t> field_ids) {
  return Document{std::move(id), std::move(fields), std::move(field_ids), {}, {}, {}};
}

class InverterTest : public ::testing::Test {
 protected:
  Inverted Run(const Batch& batch, std::vector<std::string> stored = {"*"},
               bool stopwords = false) {
    auto analyzer = Analyzer::Create(AnalyzerOptions{"english", stopwords});
    EXPECT_TRUE(analyzer.ok());
    Inverted inv;
    Invert(stored, analyzer->get(), batch, &inv);
    EXPECT_EQ(inv.batch, &batch);
    EXPECT_EQ(inv.lengths.size(), batch.docs.size());
    EXPECT_EQ(inv.stored.size(), batch.docs.size());
    return inv;
  }
};

TEST_F(InverterTest, DocidsTfsAndPositions) {
  Batch batch;
  batch.first_docid = 10;
  batch.docs.push_back(Doc("a", {{"body", "red fox red"}}, {0}));
  batch.docs.push_back(Doc("b", {{"body", "fox"}}, {0}));
  batch.docs.push_back(Doc("c", {{"body", ""}}, {0}));
  const Inverted inv = Run(batch);
  // Keys in first-seen order.
  EXPECT_EQ(inv.keys, (std::vector<std::string>{TermKey(0, "red"), TermKey(0, "fox")}));
  const auto lists = ListsOf(inv);
  EXPECT_EQ(lists.at(TermKey(0, "red")), (List{{10}, {2}, {0, 2}}));
  EXPECT_EQ(lists.at(TermKey(0, "fox")), (List{{10, 11}, {1, 1}, {1, 0}}));
  EXPECT_EQ(inv.lengths[0], std::vector<uint32_t>{3});
  EXPECT_EQ(inv.lengths[1], std::vector<uint32_t>{1});
  EXPECT_EQ(inv.lengths[2], std::vector<uint32_t>{0});
  EXPECT_EQ(inv.stored[2].id, "c");
}

TEST_F(InverterTest, EmptyBatch) {
  Batch batch;
  const Inverted inv = Run(batch);
  EXPECT_TRUE(inv.keys.empty());
  EXPECT_TRUE(inv.docids.empty());
  EXPECT_TRUE(inv.positions.empty());
}

TEST_F(InverterTest, MembersAreGapsApartAndNamedFieldsCountFromZero) {
  Batch batch;
  batch.docs.push_back(
      Doc("a", {{"title", "red sun"}, {"body", "red fox"}, {"note", "fox"}}, {1, 2, 0}));
  const Inverted inv = Run(batch);
  const auto lists = ListsOf(inv);
  const uint32_t body = 2 + kFieldPositionGap, note = body + 2 + kFieldPositionGap;
  EXPECT_EQ(lists.at(TermKey(0, "red")), (List{{0}, {2}, {0, body}}));
  EXPECT_EQ(lists.at(TermKey(0, "sun")), (List{{0}, {1}, {1}}));
  EXPECT_EQ(lists.at(TermKey(0, "fox")), (List{{0}, {2}, {body + 1, note}}));
  EXPECT_EQ(lists.at(TermKey(1, "red")), (List{{0}, {1}, {0}}));
  EXPECT_EQ(lists.at(TermKey(1, "sun")), (List{{0}, {1}, {1}}));
  EXPECT_EQ(lists.at(TermKey(2, "red")), (List{{0}, {1}, {0}}));
  EXPECT_EQ(lists.at(TermKey(2, "fox")), (List{{0}, {1}, {1}}));
  EXPECT_EQ(lists.size(), 7u);  // nothing under a field of "note"
  EXPECT_EQ(inv.lengths[0], (std::vector<uint32_t>{5, 2, 2}));
}

TEST_F(InverterTest, RepeatedMemberContinuesItsField) {
  Batch batch;
  batch.docs.push_back(Doc("a", {{"body", "cat"}, {"tag", "red"}, {"tag", "red fox"}}, {0, 1, 1}));
  const Inverted inv = Run(batch);
  const auto lists = ListsOf(inv);
  const uint32_t tag1 = 1 + kFieldPositionGap, tag2 = tag1 + 1 + kFieldPositionGap;
  EXPECT_EQ(lists.at(TermKey(0, "red")), (List{{0}, {2}, {tag1, tag2}}));
  // Field 1 starts where its first member starts in the catch-all.
  EXPECT_EQ(lists.at(TermKey(1, "red")), (List{{0}, {2}, {0, tag2 - tag1}}));
  EXPECT_EQ(lists.at(TermKey(1, "fox")), (List{{0}, {1}, {tag2 + 1 - tag1}}));
  EXPECT_EQ(inv.lengths[0], (std::vector<uint32_t>{4, 3}));
}

TEST_F(InverterTest, StopwordsKeepTheirPositions) {
  Batch batch;
  batch.docs.push_back(Doc("a", {{"title", "the fox"}, {"body", "a red fox and the sun"}}, {1, 0}));
  const Inverted inv = Run(batch, {"*"}, /*stopwords=*/true);
  const auto lists = ListsOf(inv);
  const uint32_t body = 2 + kFieldPositionGap;
  EXPECT_EQ(lists.count(TermKey(0, "the")), 0u);
  EXPECT_EQ(lists.at(TermKey(0, "fox")), (List{{0}, {2}, {1, body + 2}}));
  EXPECT_EQ(lists.at(TermKey(0, "red")), (List{{0}, {1}, {body + 1}}));
  EXPECT_EQ(lists.at(TermKey(0, "sun")), (List{{0}, {1}, {body + 5}}));
  EXPECT_EQ(lists.at(TermKey(1, "fox")), (List{{0}, {1}, {1}}));
  // Lengths count the tokens kept.
  EXPECT_EQ(inv.lengths[0], (std::vector<uint32_t>{4, 1}));
}

TEST_F(InverterTest, StoresTheChosenMembersWithCheckpoints) {
  std::string long_body;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&long_body, i % 7 == 0 ? "the " : "word", i, " ");
  Batch batch;
  batch.docs.push_back(
      Doc("a", {{"title", "Red Fox"}, {"body", long_body}, {"x", "y"}}, {1, 2, 0}));
  for (bool stopwords : {false, true}) {
    SCOPED_TRACE(stopwords);
    auto analyzer = Analyzer::Create(AnalyzerOptions{"english", stopwords});
    ASSERT_TRUE(analyzer.ok());
    const Inverted all = Run(batch, {"*"}, stopwords);
    ASSERT_EQ(all.stored[0].fields.size(), 3u);
    EXPECT_EQ(all.stored[0].id, "a");
    ASSERT_EQ(all.stored[0].checkpoints.size(), 3u);
    for (size_t m = 0; m < 3; ++m) {
      EXPECT_EQ(all.stored[0].fields[m], batch.docs[0].fields[m]);
      EXPECT_EQ(all.stored[0].checkpoints[m],
                analysis::PositionCheckpoints(batch.docs[0].fields[m].second, analyzer->get()))
          << "member " << m;
    }
    EXPECT_GT(all.stored[0].checkpoints[1].size(), 1u);
    const Inverted some = Run(batch, {"body"}, stopwords);
    ASSERT_EQ(some.stored[0].fields.size(), 1u);
    EXPECT_EQ(some.stored[0].fields[0].first, "body");
    EXPECT_EQ(some.stored[0].checkpoints[0], all.stored[0].checkpoints[1]);
    const Inverted none = Run(batch, {}, stopwords);
    EXPECT_TRUE(none.stored[0].fields.empty());
    EXPECT_TRUE(none.stored[0].checkpoints.empty());
    EXPECT_EQ(none.stored[0].id, "a");
  }
}

// The reference: each member analysed alone at its start position, each
// token filed under the catch-all and under its member's field.
struct Reference {
  std::map<std::string, List> lists;
  std::vector<std::vector<uint32_t>> lengths;
};

Reference Reinvert(const Batch& batch, Analyzer* analyzer) {
  Reference ref;
  for (size_t i = 0; i < batch.docs.size(); ++i) {
    const Document& doc = batch.docs[i];
    const uint32_t docid = batch.first_docid + static_cast<uint32_t>(i);
    uint8_t max_field = 0;
    for (uint8_t f : doc.field_ids) max_field = std::max(max_field, f);
    std::vector<uint32_t> lengths(max_field + 1, 0);
    std::vector<uint32_t> shift(max_field + 1, 0);
    std::map<std::string, std::vector<uint32_t>> positions;  // key -> this doc's positions
    uint32_t next = 0;
    for (size_t m = 0; m < doc.fields.size(); ++m) {
      const uint32_t start = next == 0 ? 0 : next + kFieldPositionGap;
      std::vector<analysis::Token> tokens;
      next = analyzer->Analyze(doc.fields[m].second, start, &tokens);
      const uint8_t f = doc.field_ids[m];
      if (f != kTextField && lengths[f] == 0) shift[f] = start;
      for (const auto& t : tokens) {
        positions[TermKey(kTextField, t.term)].push_back(t.position);
        if (f != kTextField) positions[TermKey(f, t.term)].push_back(t.position - shift[f]);
      }
      lengths[0] += static_cast<uint32_t>(tokens.size());
      if (f != kTextField) lengths[f] += static_cast<uint32_t>(tokens.size());
    }
    for (auto& [key, p] : positions) {
      std::sort(p.begin(), p.end());
      List& l = ref.lists[key];
      l.docids.push_back(docid);
      l.freqs.push_back(static_cast<uint32_t>(p.size()));
      l.positions.insert(l.positions.end(), p.begin(), p.end());
    }
    ref.lengths.push_back(std::move(lengths));
  }
  return ref;
}

TEST_F(InverterTest, MatchesTheReferenceOnRandomBatches) {
  const std::vector<std::string> words = {
      "red", "fox",   "the",   "running", "runs", "ran",  "and", "sun", "moon",  "über",
      "Öl",  "naïve", "don't", "42",      "x1",   "a",    "of",  "cat", "cats",  "東京",
      "dog", "quick", "brown", "jumps",   "over", "lazy", "is",  "it",  "stars", "sky"};
  const std::vector<std::string> names = {"title", "body", "tag", "note"};
  SCRY_SEEDED_RNG(rng, 20261204);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE(round);
    const bool stopwords = round % 2 == 1;
    Batch batch;
    batch.first_docid = static_cast<uint32_t>(rng() % 1000);
    const size_t num_docs = rng() % 40;
    for (size_t d = 0; d < num_docs; ++d) {
      Document doc;
      doc.id = absl::StrCat("doc", d);
      const size_t members = rng() % 5;
      for (size_t m = 0; m < members; ++m) {
        const size_t name = rng() % names.size();
        std::string text;
        const size_t n = rng() % 30;
        for (size_t w = 0; w < n; ++w) {
          absl::StrAppend(&text, w ? (rng() % 5 == 0 ? ", " : " ") : "",
                          words[rng() % words.size()]);
        }
        doc.fields.emplace_back(names[name], text);
        doc.field_ids.push_back(static_cast<uint8_t>(name == 3 ? 0 : name + 1));
      }
      batch.docs.push_back(std::move(doc));
    }
    auto analyzer = Analyzer::Create(AnalyzerOptions{"english", stopwords});
    ASSERT_TRUE(analyzer.ok());
    const Reference ref = Reinvert(batch, analyzer->get());
    const Inverted inv = Run(batch, {"*"}, stopwords);
    const auto lists = ListsOf(inv);
    ASSERT_EQ(lists.size(), ref.lists.size());
    for (const auto& [key, list] : ref.lists) {
      ASSERT_EQ(lists.count(key), 1u) << key;
      EXPECT_EQ(lists.at(key), list) << "key " << key;
    }
    EXPECT_EQ(inv.lengths, ref.lengths);
  }
}

}  // namespace
}  // namespace scry::indexer
