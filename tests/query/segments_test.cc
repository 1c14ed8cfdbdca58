// A live index's snapshot (query/searcher.h Searcher::WithSegments): a bulk
// built base, segments built by indexer::BuildSegment and deleted documents,
// checked against a bulk build of exactly the live documents: every query of
// tests/data/sample.queries.tsv and random AND / OR / phrase / NOT / field
// queries, top 10 and top 1000, exhaustive and pruned, with search_after
// pages: the same ids, bit-identical scores and, for exact counts, the same
// total_hits. Random mixes of adds, replaces and deletes (fixed seeds), on
// 1 and 3 shards, with and without pairs; real RocksDB shards on disk.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "indexer/inverter.h"
#include "indexer/jsonl_reader.h"
#include "indexer/schema.h"
#include "indexer/segment.h"
#include "query/deleted_docs.h"
#include "query/planner.h"
#include "query/searcher.h"
#include "storage/hash.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using indexer::InputDocument;
using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

constexpr char kSchema[] = R"({"fields": {"kind": "keyword", "year": "int64"}})";

// The bundled sample, each document with typed members derived from a hash
// of its id (BulkOptions' schema): `kind` one or two of k0-k4 or none,
// `year` 1990-2019 or none.
std::vector<InputDocument> ReadSample() {
  auto reader = indexer::JsonlReader::Open(scry::testing::TestDataDir() + "/sample.jsonl", 1 << 24);
  EXPECT_THAT(reader, IsOk());
  std::vector<InputDocument> docs;
  InputDocument doc;
  while ((*reader)->Next(&doc).ok()) {
    const uint64_t h = storage::Fnv1a64(absl::StrCat(doc.id, "/typed"));
    doc.typed.clear();
    if (h % 7 != 0) {
      InputDocument::Typed kind{"kind", {absl::StrCat("k", h % 5)}, {}};
      if ((h >> 8) % 3 == 0) kind.keywords.push_back(absl::StrCat("k", (h >> 12) % 5));
      doc.typed.push_back(std::move(kind));
    }
    if ((h >> 16) % 6 != 0) {
      doc.typed.push_back({"year", {}, {static_cast<int64_t>(1990 + (h >> 20) % 30)}});
    }
    docs.push_back(doc);
  }
  return docs;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string Jsonl(const std::vector<InputDocument>& docs) {
  std::string out;
  for (const InputDocument& d : docs) {
    absl::StrAppend(&out, "{\"id\":", JsonString(d.id));
    for (const auto& [name, value] : d.fields) {
      absl::StrAppend(&out, ",", JsonString(name), ":", JsonString(value));
    }
    for (const InputDocument::Typed& t : d.typed) {
      std::vector<std::string> values;
      for (const std::string& k : t.keywords) values.push_back(JsonString(k));
      for (const int64_t k : t.keys) values.push_back(absl::StrCat(k));
      absl::StrAppend(&out, ",", JsonString(t.name), ":[", absl::StrJoin(values, ","), "]");
    }
    out += "}\n";
  }
  return out;
}

struct Variant {
  uint32_t shards;
  uint32_t common_terms;  // 0: no pairs
};

indexer::BuildOptions BulkOptions(const std::string& input, const std::string& dir,
                                  const Variant& v) {
  indexer::BuildOptions options;
  options.inputs = {input};
  options.index_dir = dir;
  options.num_shards = v.shards;
  options.common_terms = v.common_terms;
  options.pair_min_df = 2;
  options.pair_sample_bytes = 1 << 16;
  options.schema = *indexer::Schema::ParseJson(kSchema);
  return options;
}

// A live index kept by hand: the base, the segments and the deletes, and
// the documents that should be live.
class LiveMix {
 public:
  LiveMix(const TempDir& dir, const Variant& v, std::vector<InputDocument> base_docs)
      : dir_(dir), variant_(v) {
    const std::string input = dir.Sub("base.jsonl");
    scry::testing::WriteFile(input, Jsonl(base_docs));
    EXPECT_THAT(indexer::BuildIndex(BulkOptions(input, dir.Sub("base"), v)), IsOk());
    auto opened = Searcher::Open(dir.Sub("base"), SearcherOptions());
    EXPECT_THAT(opened, IsOk());
    base_ = std::move(*opened);
    base_deleted_.resize(v.shards);
    for (InputDocument& d : base_docs) live_[d.id] = std::move(d);
  }

  const Searcher& current() const { return current_ != nullptr ? *current_ : *base_; }
  const std::map<std::string, InputDocument>& live() const { return live_; }

  // Upserts `docs` (a segment per shard they route to) and deletes `ids`,
  // then makes the snapshot's Searcher, from the base or from the last one.
  void Apply(std::vector<InputDocument> docs, const std::vector<std::string>& ids, bool from_base) {
    std::vector<std::string> gone = ids;
    for (const InputDocument& d : docs) gone.push_back(d.id);
    for (const std::string& id : gone) {
      auto at = current().Locate(id);
      ASSERT_THAT(at, IsOk());
      if (!at->has_value()) continue;
      const DocLocation& loc = **at;
      (loc.segment < 0 ? base_deleted_[loc.shard] : segment_deleted_[loc.segment])
          .push_back(loc.docid);
      live_.erase(id);
    }
    std::vector<std::vector<InputDocument>> by_shard(variant_.shards);
    for (InputDocument& d : docs) {
      by_shard[storage::ShardForId(d.id, variant_.shards)].push_back(d);
      live_[d.id] = std::move(d);
    }
    for (uint32_t s = 0; s < variant_.shards; ++s) {
      if (by_shard[s].empty()) continue;
      const std::string path = dir_.Sub(absl::StrCat("segment-", segments_.size()));
      indexer::SegmentOptions options;
      options.base = base_->base_shard(s).meta();
      options.stopwords = base_->info().stopwords;
      auto built = indexer::BuildSegment(path, by_shard[s], options);
      ASSERT_THAT(built, IsOk());
      EXPECT_EQ(built->docs, by_shard[s].size());
      auto reader = storage::ShardReader::Open(path, storage::ShardReader::Options());
      ASSERT_THAT(reader, IsOk());
      segments_.push_back(Segment{s, std::move(*reader), nullptr, nullptr});
      segment_deleted_.emplace_back();
    }
    Snapshot snapshot;
    for (uint32_t s = 0; s < variant_.shards; ++s) {
      snapshot.base_deleted.push_back(Deleted(base_deleted_[s], base_->base_shard(s).meta()));
    }
    snapshot.segments = segments_;
    for (size_t i = 0; i < segments_.size(); ++i) {
      snapshot.segments[i].deleted = Deleted(segment_deleted_[i], segments_[i].reader->meta());
    }
    auto next = (from_base ? *base_ : current()).WithSegments(std::move(snapshot));
    ASSERT_THAT(next, IsOk());
    current_ = std::move(*next);
  }

 private:
  static std::shared_ptr<const DeletedDocs> Deleted(const std::vector<uint32_t>& docids,
                                                    const storage::ShardMeta& meta) {
    if (docids.empty()) return nullptr;
    auto made = DeletedDocs::Create(docids, static_cast<uint32_t>(meta.doc_count));
    EXPECT_THAT(made, IsOk());
    return *made;
  }

  const TempDir& dir_;
  Variant variant_;
  std::unique_ptr<Searcher> base_;
  std::unique_ptr<Searcher> current_;
  std::vector<Segment> segments_;
  std::vector<std::vector<uint32_t>> base_deleted_, segment_deleted_;
  std::map<std::string, InputDocument> live_;
};

// The sample's queries ("kind<TAB>words": and, or, phrase) as query text.
std::vector<SearchRequest> SampleQueries() {
  std::ifstream in(scry::testing::TestDataDir() + "/sample.queries.tsv");
  std::vector<SearchRequest> out;
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> parts = absl::StrSplit(line, '\t');
    if (parts.size() != 2) continue;
    SearchRequest req;
    if (parts[0] == "phrase") {
      req.query = absl::StrCat("\"", parts[1], "\"");
    } else {
      req.query = parts[1];
      if (parts[0] == "and") req.default_operator = DefaultOperator::kAnd;
    }
    out.push_back(req);
  }
  return out;
}

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view w :
       absl::StrSplit(text, absl::ByAnyChar(" \n\t.,;:!?()\"'"), absl::SkipEmpty())) {
    if (std::all_of(w.begin(), w.end(), [](char c) { return std::isalpha(c); })) {
      out.emplace_back(w.data(), w.size());
    }
  }
  return out;
}

std::vector<SearchRequest> RandomQueries(std::mt19937* rng,
                                         const std::map<std::string, InputDocument>& live,
                                         const std::vector<std::string>& vocab, int n) {
  std::vector<const InputDocument*> docs;
  for (const auto& [id, d] : live) docs.push_back(&d);
  std::vector<SearchRequest> out;
  auto word = [&] { return vocab[(*rng)() % vocab.size()]; };
  while (static_cast<int>(out.size()) < n) {
    SearchRequest req;
    const uint32_t kind = (*rng)() % 6;
    if (kind <= 1) {  // OR / AND of 2-5 words
      std::vector<std::string> w;
      for (size_t k = 2 + (*rng)() % 4; k > 0; --k) w.push_back(word());
      req.query = absl::StrJoin(w, " ");
      if (kind == 1) req.default_operator = DefaultOperator::kAnd;
    } else if (kind == 2) {  // a phrase of a live document, maybe on a field
      const InputDocument& d = *docs[(*rng)() % docs.size()];
      if (d.fields.empty()) continue;
      const auto& [name, text] = d.fields[(*rng)() % d.fields.size()];
      const std::vector<std::string> w = Words(text);
      if (w.empty()) continue;
      const size_t len = std::min<size_t>(w.size(), 2 + (*rng)() % 3);
      const size_t start = (*rng)() % (w.size() - len + 1);
      req.query = absl::StrCat((*rng)() % 3 == 0 ? name + ":" : "", "\"",
                               absl::StrJoin(w.begin() + static_cast<long>(start),
                                             w.begin() + static_cast<long>(start + len), " "),
                               "\"");
      if ((*rng)() % 5 == 0) absl::StrAppend(&req.query, "~2");
    } else if (kind == 3) {  // NOT
      req.query = absl::StrCat(word(), " ", word(), " -", word());
    } else if (kind == 4) {  // required and optional, a field
      req.query = absl::StrCat("+", word(), " title:", word(), " ", word());
    } else {  // phrase of frequent words and a term
      req.query = absl::StrCat("\"", word(), " ", word(), "\" ", word());
    }
    out.push_back(req);
  }
  return out;
}

void ExpectSameHits(const SearchResult& got, const SearchResult& want, bool totals) {
  if (totals) {
    ASSERT_EQ(got.total_hits, want.total_hits);
  }
  ASSERT_EQ(got.hits.size(), want.hits.size());
  for (size_t i = 0; i < want.hits.size(); ++i) {
    ASSERT_EQ(got.hits[i].id, want.hits[i].id) << "rank " << i;
    ASSERT_EQ(got.hits[i].score, want.hits[i].score) << "rank " << i;
  }
}

// Every request, top 10 and top 1000, exhaustive and pruned, and a
// search_after page, on `live` and `ref`.
void CompareAll(const Searcher& live, const Searcher& ref,
                const std::vector<SearchRequest>& requests) {
  for (const SearchRequest& base : requests) {
    SCOPED_TRACE(base.query);
    for (const uint32_t k : {10u, 1000u}) {
      for (const Pruning p : {Pruning::kNone, Pruning::kAuto, Pruning::kBlockMaxWand}) {
        SearchRequest req = base;
        req.top_k = k;
        req.ids_only = true;
        req.pruning = p;
        req.exact_total_hits = p == Pruning::kNone;
        SCOPED_TRACE(absl::StrCat("k ", k,
                                  p == Pruning::kNone   ? " exhaustive"
                                  : p == Pruning::kAuto ? " auto"
                                                        : " bmw"));
        auto want = ref.Search(req);
        ASSERT_THAT(want, IsOk());
        auto got = live.Search(req);
        ASSERT_THAT(got, IsOk());
        ASSERT_NO_FATAL_FAILURE(ExpectSameHits(*got, *want, req.exact_total_hits));
        if (k == 10 && want->hits.size() == 10) {
          req.search_after = SearchRequest::After{want->hits[4].score, want->hits[4].id, {}};
          want = ref.Search(req);
          ASSERT_THAT(want, IsOk());
          got = live.Search(req);
          ASSERT_THAT(got, IsOk());
          ASSERT_NO_FATAL_FAILURE(ExpectSameHits(*got, *want, req.exact_total_hits));
        }
      }
    }
  }
}

class SegmentsTest : public ::testing::TestWithParam<Variant> {};

TEST_P(SegmentsTest, LiveMixEqualsBulkBuildOfLiveDocuments) {
  const Variant v = GetParam();
  SCRY_SEEDED_RNG(rng, 20261204 + v.shards * 10 + (v.common_terms > 0 ? 1 : 0));
  std::vector<InputDocument> sample = ReadSample();
  ASSERT_GT(sample.size(), 4000u);
  std::shuffle(sample.begin(), sample.end(), rng);
  // 60% in the base, the rest added later; replacements take the text of
  // another document (some with a member the base never had).
  const size_t base_count = sample.size() * 6 / 10;
  std::vector<InputDocument> base(sample.begin(), sample.begin() + static_cast<long>(base_count));
  std::vector<InputDocument> pending(sample.begin() + static_cast<long>(base_count), sample.end());
  TempDir dir;
  LiveMix mix(dir, v, base);
  std::vector<std::string> deleted_ids;
  std::map<std::string, InputDocument> replaced;  // id -> its newest content
  const int rounds = 5;
  for (int round = 0; round < rounds; ++round) {
    std::vector<InputDocument> upserts;
    std::set<std::string> touched;
    const size_t adds = round == 2 ? 1 : std::min<size_t>(pending.size(), 250 + rng() % 100);
    for (size_t i = 0; i < adds && !pending.empty(); ++i) {
      touched.insert(pending.back().id);
      upserts.push_back(std::move(pending.back()));
      pending.pop_back();
    }
    std::vector<std::string> live_ids;
    for (const auto& [id, d] : mix.live()) live_ids.push_back(id);
    for (int i = 0; i < 60; ++i) {  // replaces
      const std::string& id = live_ids[rng() % live_ids.size()];
      if (!touched.insert(id).second) continue;
      InputDocument d = sample[rng() % sample.size()];
      d.id = id;
      if (rng() % 4 == 0) d.fields.emplace_back("tags", "replaced live segment");
      replaced[id] = d;
      upserts.push_back(std::move(d));
    }
    for (int i = 0; i < 3 && !deleted_ids.empty(); ++i) {  // a deleted id comes back
      const std::string id = deleted_ids[rng() % deleted_ids.size()];
      if (!touched.insert(id).second) continue;
      InputDocument d = sample[rng() % sample.size()];
      d.id = id;
      replaced[id] = d;
      upserts.push_back(std::move(d));
    }
    std::vector<std::string> deletes;
    for (int i = 0; i < 80; ++i) {
      const std::string& id = live_ids[rng() % live_ids.size()];
      if (!touched.insert(id).second) continue;
      deletes.push_back(id);
      replaced.erase(id);
    }
    ASSERT_NO_FATAL_FAILURE(mix.Apply(std::move(upserts), deletes, round % 2 == 0));
    for (const std::string& id : deletes) deleted_ids.push_back(id);
  }
  // Ids deleted and not added again since.
  std::erase_if(deleted_ids, [&](const std::string& id) { return mix.live().contains(id); });

  std::vector<InputDocument> live_docs;
  for (const auto& [id, d] : mix.live()) live_docs.push_back(d);
  std::shuffle(live_docs.begin(), live_docs.end(), rng);  // docids do not matter
  const std::string input = dir.Sub("live.jsonl");
  scry::testing::WriteFile(input, Jsonl(live_docs));
  ASSERT_THAT(indexer::BuildIndex(BulkOptions(input, dir.Sub("ref"), v)), IsOk());
  auto ref = Searcher::Open(dir.Sub("ref"), SearcherOptions());
  ASSERT_THAT(ref, IsOk());
  const Searcher& live = mix.current();

  EXPECT_EQ(live.info().docs, live_docs.size());
  EXPECT_EQ(live.fields(), (*ref)->fields());
  auto stats = live.Stats();
  ASSERT_THAT(stats, IsOk());
  auto ref_stats = (*ref)->Stats();
  ASSERT_THAT(ref_stats, IsOk());
  ASSERT_EQ(stats->size(), ref_stats->size());
  for (size_t s = 0; s < stats->size(); ++s) EXPECT_EQ((*stats)[s].docs, (*ref_stats)[s].docs);

  // GetDocument: deleted ids are gone, replaced ones have their new text.
  ASSERT_FALSE(deleted_ids.empty());
  for (const std::string& id : deleted_ids) {
    EXPECT_THAT(live.GetDocument(id), StatusIs(absl::StatusCode::kNotFound)) << id;
  }
  ASSERT_FALSE(replaced.empty());
  for (const auto& [id, d] : replaced) {
    auto doc = live.GetDocument(id);
    ASSERT_THAT(doc, IsOk());
    std::vector<std::pair<std::string, std::string>> want = d.fields;
    indexer::OrderMembers(&want);
    // The text members as given, then the typed ones as the bulk build stores them.
    auto ref_doc = (*ref)->GetDocument(id);
    ASSERT_THAT(ref_doc, IsOk());
    for (size_t i = want.size(); i < ref_doc->fields.size(); ++i)
      want.push_back(ref_doc->fields[i]);
    EXPECT_EQ(doc->fields, want) << id;
    EXPECT_EQ(doc->fields.size(), d.fields.size() + d.typed.size()) << id;
  }

  std::vector<SearchRequest> requests = SampleQueries();
  ASSERT_EQ(requests.size(), 200u);
  const std::vector<std::string> vocab =
      scry::testing::MostFrequentWords(scry::testing::TestDataDir() + "/sample.jsonl", 300, {});
  for (SearchRequest& r : RandomQueries(&rng, mix.live(), vocab, 150)) requests.push_back(r);
  requests.emplace_back();
  requests.back().query = "tags:replaced live";
  CompareAll(live, **ref, requests);

  // Typed clauses, filters, facets and sort read the segments' columns and
  // keyword lists as the bulk build's, with the deletes masked.
  for (const std::string text : {"president", "government OR market", "new york"}) {
    for (int variant = 0; variant < 4; ++variant) {
      SearchRequest req;
      req.query = text;
      req.top_k = 20;
      req.ids_only = true;
      req.exact_total_hits = true;
      if (variant == 0) req.filter = "kind:k1 OR year:[2000 TO 2010]";
      if (variant == 1) req.query = absl::StrCat("(", text, ") AND kind:k2 -year:>2015");
      if (variant == 2) {
        req.facets = {{"kind", 3, {}}, {"year", 0, {"[* TO 2000}", "[2000 TO *]"}}};
      }
      if (variant == 3) req.sort = {{"year", true}};
      SCOPED_TRACE(absl::StrCat(req.query, " variant ", variant));
      auto want = (*ref)->Search(req);
      ASSERT_THAT(want, IsOk());
      auto got = live.Search(req);
      ASSERT_THAT(got, IsOk());
      EXPECT_GT(want->total_hits, 0u);
      ASSERT_NO_FATAL_FAILURE(ExpectSameHits(*got, *want, true));
      EXPECT_EQ(got->facets, want->facets);
      ASSERT_EQ(got->hits.size(), want->hits.size());
      for (size_t i = 0; i < got->hits.size(); ++i) {
        EXPECT_EQ(got->hits[i].sort_values, want->hits[i].sort_values);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, SegmentsTest,
                         ::testing::Values(Variant{1, 0}, Variant{1, 32}, Variant{3, 0},
                                           Variant{3, 32}),
                         [](const auto& info) {
                           return absl::StrCat(info.param.shards, "shards_",
                                               info.param.common_terms > 0 ? "pairs" : "nopairs");
                         });

// The segment builder's checks: the rules of a JSON line, the shard, the
// batch's own duplicates; nothing is written for a bad batch.
TEST(BuildSegment, RejectsBadDocumentsWithTheReaderReasons) {
  TempDir dir;
  indexer::SegmentOptions options;
  options.base.language = "english";
  options.base.num_shards = 1;
  auto build = [&](std::vector<InputDocument> docs) {
    static int n = 0;
    return indexer::BuildSegment(dir.Sub(absl::StrCat("s", n++)), docs, options);
  };
  InputDocument good{"a", {{"title", "hello"}, {"body", "world"}}, {}, 0};
  EXPECT_THAT(build({}), StatusIs(absl::StatusCode::kInvalidArgument, "at least one"));
  EXPECT_THAT(build({good, good}),
              StatusIs(absl::StatusCode::kInvalidArgument, "document 1 (id \"a\"): duplicate id"));
  InputDocument empty_id = good;
  empty_id.id = "";
  EXPECT_THAT(build({empty_id}),
              StatusIs(absl::StatusCode::kInvalidArgument, "member \"id\" is empty"));
  InputDocument long_id = good;
  long_id.id = std::string(indexer::kMaxIdBytes + 1, 'x');
  EXPECT_THAT(build({long_id}), StatusIs(absl::StatusCode::kInvalidArgument, "longer than 1024"));
  InputDocument twice = good;
  twice.fields.emplace_back("title", "again");
  EXPECT_THAT(build({twice}),
              StatusIs(absl::StatusCode::kInvalidArgument, "member \"title\" appears twice"));
  InputDocument bad_utf8 = good;
  bad_utf8.fields[1].second = "\xff\xfe";
  EXPECT_THAT(build({bad_utf8}), StatusIs(absl::StatusCode::kInvalidArgument, "invalid UTF-8"));
  options.base.num_shards = 3;
  options.base.shard_index = (storage::ShardForId("a", 3) + 1) % 3;
  EXPECT_THAT(build({good}), StatusIs(absl::StatusCode::kInvalidArgument, "belongs to shard"));

  // The same reasons as the reader gives for the same lines.
  const std::string path = dir.Sub("bad.jsonl");
  scry::testing::WriteFile(path, "{\"id\":\"\"}\n{\"id\":\"a\",\"title\":\"x\",\"title\":\"y\"}\n");
  auto reader = indexer::JsonlReader::Open(path, 1 << 20);
  ASSERT_THAT(reader, IsOk());
  InputDocument doc;
  EXPECT_THAT((*reader)->Next(&doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "member \"id\" is empty"));
  EXPECT_THAT((*reader)->Next(&doc),
              StatusIs(absl::StatusCode::kInvalidArgument, "member \"title\" appears twice"));
}

// Both ways of counting a list's deleted postings (walking the list,
// probing it with the deleted docids) against a plain count over the
// decoded list, on a real shard, for deleted sets of many sizes.
TEST(DeletedDocs, CountDeletedPostingsMatchesPlainCount) {
  SCRY_SEEDED_RNG(rng, 20261204);
  TempDir dir;
  const std::string input = dir.Sub("docs.jsonl");
  std::vector<InputDocument> sample = ReadSample();
  scry::testing::WriteFile(input, Jsonl(sample));
  ASSERT_THAT(indexer::BuildIndex(BulkOptions(input, dir.Sub("idx"), Variant{1, 0})), IsOk());
  auto searcher = Searcher::Open(dir.Sub("idx"), SearcherOptions());
  ASSERT_THAT(searcher, IsOk());
  const storage::ShardReader& shard = (*searcher)->base_shard(0);
  const uint32_t n = static_cast<uint32_t>(shard.meta().doc_count);
  const std::vector<std::string> terms = {"the", "of", "moscow", "war", "zebra", "a"};
  int probed = 0, walked = 0;
  for (const size_t size : {1u, 5u, 40u, 300u, 2000u, 4500u}) {
    std::vector<uint32_t> docids;
    for (size_t i = 0; i < size; ++i) docids.push_back(static_cast<uint32_t>(rng() % n));
    auto deleted = DeletedDocs::Create(docids, n);
    ASSERT_THAT(deleted, IsOk());
    for (const std::string& term : terms) {
      auto info = shard.FindTerm(storage::kTextField, term);
      ASSERT_THAT(info, IsOk());
      if (!info->has_value()) continue;
      storage::PostingList list;
      SCRY_ASSERT_OK(shard.ReadPostingList(storage::kTextField, term, **info, &list));
      uint32_t want = 0;
      for (const uint32_t d : list.docids) want += (*deleted)->Contains(d) ? 1 : 0;
      auto got = CountDeletedPostings(shard, storage::kTextField, term, **info, **deleted);
      ASSERT_THAT(got, IsOk());
      EXPECT_EQ(*got, want) << term << " " << size;
      ((**info).df <= (*deleted)->size() ? walked : probed)++;
    }
  }
  EXPECT_GT(walked, 3);
  EXPECT_GT(probed, 3);
}

TEST(DeletedDocs, BitmapAndSortedList) {
  auto d = DeletedDocs::Create({70, 3, 3, 64, 0}, 71);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(std::vector<uint32_t>((*d)->docids().begin(), (*d)->docids().end()),
            (std::vector<uint32_t>{0, 3, 64, 70}));
  for (uint32_t i = 0; i < 80; ++i) {
    EXPECT_EQ((*d)->Contains(i), i == 0 || i == 3 || i == 64 || i == 70) << i;
  }
  EXPECT_THAT(DeletedDocs::Create({71}, 71), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace scry::query
