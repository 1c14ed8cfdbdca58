// server/live_segments.h merges: the tiered policy (SelectMerges), and
// LiveApplier's merges on a real index (RocksDB shards, the real write-ahead
// log): random mixes of upserts, deletes, refreshes and merges answer as a
// bulk build of the surviving documents (ids and scores); the segment count
// stays bounded; deletes that land while a merge builds are carried over; a
// search holding an older snapshot finishes on it and its directories go
// when it lets go.
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "server/live_index.h"
#include "server/live_segments.h"
#include "server/live_writer.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

namespace fs = std::filesystem;
using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

// ---- The policy --------------------------------------------------------------

TEST(SelectMerges, DropsMergesMostlyDeletedAndTheSmallestOfAFullTier) {
  MergePolicyOptions options;
  options.segments_per_tier = 3;
  options.max_merge_at_once = 2;
  options.floor_docs = 10;
  // Shard 0: four small segments (tier 0, over 3): the two smallest merge.
  // Shard 1: one wholly deleted (dropped), one mostly deleted (alone), one
  // not mergeable. Shard 2: three in tier 0 (not over), one in tier 1.
  std::vector<SegmentSize> segments = {
      {0, 5, 0, true}, {0, 3, 0, true},  {0, 8, 1, true},  {0, 4, 0, true},
      {1, 6, 6, true}, {1, 10, 6, true}, {1, 2, 2, false}, {2, 1, 0, true},
      {2, 2, 0, true}, {2, 9, 0, true},  {2, 50, 0, true},
  };
  const MergePlan plan = SelectMerges(segments, options);
  EXPECT_EQ(plan.drop, std::vector<size_t>({4}));
  ASSERT_EQ(plan.merges.size(), 2u);
  // Sizes count as the floor (10) below it: all four tie, the oldest go.
  EXPECT_EQ(plan.merges[0], std::vector<size_t>({0, 1}));
  EXPECT_EQ(plan.merges[1], std::vector<size_t>({5}));

  // Over the floor, the smallest of the tier go whatever their age.
  options.floor_docs = 1;
  options.max_merge_at_once = 10;
  options.segments_per_tier = 2;
  std::vector<SegmentSize> sized = {{0, 7, 0, true}, {0, 3, 0, true}, {0, 5, 0, true}};
  const MergePlan by_size = SelectMerges(sized, options);
  ASSERT_EQ(by_size.merges.size(), 1u);
  // Tiers of 10: 3, 5 and 7 are all tier 0, over 2: all three merge.
  EXPECT_EQ(by_size.merges[0], std::vector<size_t>({0, 1, 2}));
  EXPECT_TRUE(
      SelectMerges(std::vector<SegmentSize>{{0, 7, 0, true}, {0, 70, 0, true}}, options).empty());
}

// ---- On a live index ---------------------------------------------------------

std::string Json(const std::string& id, const std::string& body) {
  return absl::StrCat("{\"id\":\"", id, "\",\"title\":\"doc ", id, "\",\"body\":\"", body, "\"}");
}

class LiveMerge {
 public:
  // `docs` in the base; segments store only "title" (so merges must read the
  // log back).
  LiveMerge(const TempDir& dir, const std::map<std::string, std::string>& docs, uint32_t shards,
            MergePolicyOptions policy, std::function<void()> before_swap = nullptr)
      : dir_(dir), shards_(shards), live_(docs) {
    index_ = dir_.Sub("index");
    Bulk(index_, docs);
    LiveIndexOptions index_options;
    index_options.index_dir = index_;
    index_options.poll_ms = 0;
    auto index = LiveIndex::Open(index_options);
    EXPECT_THAT(index, IsOk());
    live_index_ = std::move(*index);
    LiveSegmentsOptions segments;
    segments.dir = index_ + "/live-segments";
    segments.stored_fields = {"title"};
    segments.merge = policy;
    segments.before_merge_swap = std::move(before_swap);
    auto applier = LiveApplier::Create(
        live_index_.get(), segments,
        [this](uint64_t upto, std::vector<LiveOp>* ops) { return writer_->ReadOps(upto, ops); },
        [this](uint64_t seq) { return writer_->ReadOp(seq); },
        [this](std::span<const uint64_t> seqs) { return writer_->log()->Drop(seqs); });
    EXPECT_THAT(applier, IsOk());
    applier_ = std::move(*applier);
    LiveWriterOptions writer;
    writer.index_dir = index_;
    writer.num_shards = shards;
    writer.sync = WalSync::kNever;
    writer.apply = [this](std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq) {
      return applier_->Apply(std::move(by_shard), last_seq);
    };
    auto opened = LiveWriter::Open(writer);
    EXPECT_THAT(opened, IsOk());
    writer_ = std::move(*opened);
  }

  ~LiveMerge() {
    applier_.reset();  // its merge thread before the writer it reads
    writer_.reset();
  }

  void Upsert(const std::string& id, const std::string& body) {
    ops_.push_back(WriteOp{OpKind::kUpsert, Json(id, body), ""});
    live_[id] = body;
  }
  void Delete(const std::string& id) {
    ops_.push_back(WriteOp{OpKind::kDelete, "", id});
    live_.erase(id);
  }
  void Refresh() {
    std::vector<absl::Status> results;
    ASSERT_THAT(writer_->Write(&ops_, false, &results), IsOk());
    for (const absl::Status& s : results) ASSERT_THAT(s, IsOk());
    ops_.clear();
    ASSERT_THAT(writer_->Refresh(), IsOk());
  }
  // Merges until the policy is content; returns how many steps changed.
  int MergeAll() {
    int steps = 0;
    for (;;) {
      absl::StatusOr<bool> merged = applier_->MergeOnce();
      EXPECT_THAT(merged, IsOk());
      if (!merged.ok() || !*merged) return steps;
      ++steps;
    }
  }

  // A bulk build of the live documents, searched.
  std::unique_ptr<query::Searcher> Reference(const std::string& name) {
    const std::string dir = dir_.Sub(name);
    Bulk(dir, live_);
    auto searcher = query::Searcher::Open(dir, query::SearcherOptions());
    EXPECT_THAT(searcher, IsOk());
    return std::move(*searcher);
  }

  // The upserts and the deletes the log keeps.
  std::pair<size_t, size_t> LogRecords() {
    std::vector<LiveOp> ops;
    EXPECT_THAT(writer_->ReadOps(~uint64_t{0}, &ops), IsOk());
    size_t upserts = 0;
    for (const LiveOp& op : ops) upserts += op.kind == OpKind::kUpsert;
    return {upserts, ops.size() - upserts};
  }

  LiveIndex& index() { return *live_index_; }
  LiveApplier& applier() { return *applier_; }
  const std::map<std::string, std::string>& live() const { return live_; }
  std::string segment_dir() const { return index_ + "/live-segments"; }

 private:
  void Bulk(const std::string& out, const std::map<std::string, std::string>& docs) {
    std::string jsonl;
    for (const auto& [id, body] : docs) absl::StrAppend(&jsonl, Json(id, body), "\n");
    const std::string input = out + ".jsonl";
    scry::testing::WriteFile(input, jsonl);
    indexer::BuildOptions options;
    options.inputs = {input};
    options.index_dir = out;
    options.num_shards = shards_;
    EXPECT_THAT(indexer::BuildIndex(options), IsOk());
  }

  const TempDir& dir_;
  const uint32_t shards_;
  std::string index_;
  std::map<std::string, std::string> live_;
  std::vector<WriteOp> ops_;
  std::unique_ptr<LiveIndex> live_index_;
  std::unique_ptr<LiveApplier> applier_;
  std::unique_ptr<LiveWriter> writer_;
};

std::vector<std::pair<std::string, double>> Ranking(const query::Searcher& searcher,
                                                    const std::string& query) {
  query::SearchRequest req;
  req.query = query;
  req.top_k = 1000;
  req.exact_total_hits = true;
  req.ids_only = true;
  auto result = searcher.Search(req);
  EXPECT_THAT(result, IsOk()) << query;
  std::vector<std::pair<std::string, double>> out;
  if (!result.ok()) return out;
  for (const query::SearchHit& hit : result->hits) out.emplace_back(hit.id, hit.score);
  return out;
}

const std::vector<std::string> kWords = {"red",   "green", "blue",  "apple", "cherry", "pear",
                                         "pie",   "jam",   "tart",  "wine",  "salt",   "water",
                                         "bread", "cake",  "honey", "milk"};

std::string RandomBody(std::mt19937* rng) {
  std::string body;
  const int n = 1 + static_cast<int>((*rng)() % 6);
  for (int i = 0; i < n; ++i) absl::StrAppend(&body, i > 0 ? " " : "", kWords[(*rng)() % 16]);
  return body;
}

const std::vector<std::string> kQueries = {
    "apple",     "red apple",       "\"red apple\"",  "cherry -red",
    "doc",       "pear OR pie",     "+jam +bread",    "title:doc",
    "body:salt", "honey milk cake", "\"water salt\"", "wine"};

void ExpectEqualsBulk(LiveMerge* live, const std::string& name) {
  std::unique_ptr<query::Searcher> ref = live->Reference(name);
  std::shared_ptr<const query::Searcher> served = live->index().Acquire();
  EXPECT_EQ(served->info().docs, live->live().size());
  for (const std::string& q : kQueries) EXPECT_EQ(Ranking(*served, q), Ranking(*ref, q)) << q;
}

class LiveMergeTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(LiveMergeTest, RandomMixesWithMergesEqualABulkBuild) {
  const uint32_t shards = GetParam();
  SCRY_SEEDED_RNG(rng, 19190 + shards);
  TempDir dir;
  std::map<std::string, std::string> base;
  for (int i = 0; i < 60; ++i) base[absl::StrCat("b", i)] = RandomBody(&rng);
  MergePolicyOptions policy;
  policy.segments_per_tier = 2;
  policy.max_merge_at_once = 3;
  policy.floor_docs = 4;
  policy.background = false;
  LiveMerge live(dir, base, shards, policy);
  int merge_steps = 0;
  for (int round = 0; round < 24; ++round) {
    const int ops = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < ops; ++i) {
      const std::string id = absl::StrCat(rng() % 2 == 0 ? "b" : "n", rng() % 80);
      if (rng() % 3 == 0) {
        live.Delete(id);
      } else {
        live.Upsert(id, RandomBody(&rng));
      }
    }
    ASSERT_NO_FATAL_FAILURE(live.Refresh());
    if (rng() % 3 == 0) merge_steps += live.MergeAll();
    if (round % 8 == 7) ExpectEqualsBulk(&live, absl::StrCat("ref", round));
  }
  merge_steps += live.MergeAll();
  EXPECT_GT(merge_steps, 3);
  EXPECT_EQ(live.index().info().merges, static_cast<uint64_t>(merge_steps));
  ExpectEqualsBulk(&live, "ref-final");
  // The log keeps one upsert per document live in a segment (the records
  // superseded were dropped between merges, which still read what stays).
  size_t in_segments = 0;
  for (const query::Segment& segment : live.index().Acquire()->snapshot().segments) {
    in_segments += segment.reader->meta().doc_count -
                   (segment.deleted != nullptr ? segment.deleted->size() : 0);
  }
  const auto [upserts, deletes] = live.LogRecords();
  EXPECT_EQ(upserts, in_segments);
  EXPECT_GT(deletes, 0u);
  // Documents of merged segments come from the log whole: a member that
  // segments do not store is still indexed.
  std::shared_ptr<const query::Searcher> served = live.index().Acquire();
  for (const auto& [id, body] : live.live()) {
    auto doc = served->GetDocument(id);
    ASSERT_THAT(doc, IsOk()) << id;
    EXPECT_EQ(doc->Field("title"), "doc " + id);
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, LiveMergeTest, ::testing::Values(1u, 3u));

size_t Entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++n;
  return n;
}

// Entries(dir) once it is `want`, or after 30 s: LiveIndex closes released
// Searchers (and so removes their segments) on its own thread, soon after.
size_t EntriesSettled(const std::string& dir, size_t want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t n = Entries(dir);
  while (n != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = Entries(dir);
  }
  return n;
}

TEST(LiveMerge, TheSegmentCountStaysBoundedAndDirectoriesFollowIt) {
  SCRY_SEEDED_RNG(rng, 1919);
  TempDir dir;
  MergePolicyOptions policy;
  policy.segments_per_tier = 4;
  policy.max_merge_at_once = 4;
  policy.floor_docs = 2;
  policy.background = true;  // the merge thread
  LiveMerge live(dir, {{"a", "apple"}}, 1, policy);
  size_t most = 0;
  for (int round = 0; round < 120; ++round) {
    live.Upsert(absl::StrCat("n", round), RandomBody(&rng));
    if (round % 5 == 0) live.Delete(absl::StrCat("n", rng() % (round + 1)));
    ASSERT_NO_FATAL_FAILURE(live.Refresh());
    most = std::max(most, live.index().Acquire()->snapshot().segments.size());
  }
  live.MergeAll();  // whatever the thread has not done yet
  const size_t now = live.index().Acquire()->snapshot().segments.size();
  // Tiers of 4 over a floor of 2: 120 documents are in tiers 0..3, at most
  // 4 segments each once merged.
  EXPECT_LE(now, 16u);
  EXPECT_LT(most, 60u);  // the thread kept up (120 refreshes made 120 segments)
  EXPECT_GT(live.index().info().merges, 0u);
  // Only served segments are on disk (nothing else holds a snapshot).
  EXPECT_EQ(EntriesSettled(live.segment_dir(), now), now);
  ExpectEqualsBulk(&live, "ref");
}

TEST(LiveMerge, DeletesAndReplacesDuringAMergeAreCarriedOver) {
  TempDir dir;
  std::promise<void> reached;
  std::promise<void> go;
  std::shared_future<void> go_future = go.get_future().share();
  MergePolicyOptions policy;
  policy.segments_per_tier = 2;
  policy.max_merge_at_once = 3;
  policy.floor_docs = 1;
  policy.background = false;
  bool paused = false;
  LiveMerge live(dir, {{"a", "apple pie"}, {"b", "blue berry"}}, 1, policy, [&] {
    if (paused) return;
    paused = true;
    reached.set_value();
    go_future.wait();
  });
  // Three refreshes, three segments: over 2 in tier 0.
  live.Upsert("x", "red apple");
  live.Upsert("y", "green apple");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  live.Upsert("z", "red cherry");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  live.Upsert("w", "cherry pie");
  live.Upsert("v", "apple jam");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  ASSERT_EQ(live.index().Acquire()->snapshot().segments.size(), 3u);

  std::thread merger([&] {
    absl::StatusOr<bool> merged = live.applier().MergeOnce();
    EXPECT_THAT(merged, IsOk());
    EXPECT_TRUE(merged.ok() && *merged);
  });
  reached.get_future().wait();
  // The merge is built and waits to be swapped in: delete and replace
  // documents of the segments it merged; the refresh does not wait for it.
  live.Delete("x");
  live.Upsert("z", "plain water");
  live.Delete("v");
  live.Upsert("q", "apple water");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  go.set_value();
  merger.join();

  std::shared_ptr<const query::Searcher> served = live.index().Acquire();
  // The merged segment and the refresh's.
  EXPECT_EQ(served->snapshot().segments.size(), 2u);
  EXPECT_EQ(live.index().info().merges, 1u);
  EXPECT_THAT(served->GetDocument("x"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(served->GetDocument("v"), StatusIs(absl::StatusCode::kNotFound));
  auto z = served->Locate("z");
  ASSERT_THAT(z, IsOk());
  ASSERT_TRUE(z->has_value());
  EXPECT_EQ((*z)->segment, 1);  // the refresh's copy, not the merged one
  ExpectEqualsBulk(&live, "ref");
}

TEST(LiveMerge, ASearchAcrossAMergeFinishesOnItsSnapshot) {
  TempDir dir;
  MergePolicyOptions policy;
  policy.segments_per_tier = 1;
  policy.max_merge_at_once = 2;
  policy.floor_docs = 1;
  policy.background = false;
  LiveMerge live(dir, {{"a", "apple pie"}}, 1, policy);
  live.Upsert("x", "red apple");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  live.Upsert("y", "green apple");
  live.Delete("a");
  ASSERT_NO_FATAL_FAILURE(live.Refresh());
  std::shared_ptr<const query::Searcher> before = live.index().Acquire();
  const auto ranking = Ranking(*before, "apple");
  ASSERT_EQ(ranking.size(), 2u);
  ASSERT_EQ(Entries(live.segment_dir()), 2u);

  EXPECT_GT(live.MergeAll(), 0);
  std::shared_ptr<const query::Searcher> after = live.index().Acquire();
  EXPECT_EQ(after->snapshot().segments.size(), 1u);
  // The old snapshot still searches its own segments, which are still on
  // disk beside the merged one, and answers as the new one does.
  EXPECT_EQ(Ranking(*before, "apple"), ranking);
  EXPECT_EQ(Ranking(*after, "apple"), ranking);
  EXPECT_EQ(Entries(live.segment_dir()), 3u);
  before.reset();
  EXPECT_EQ(EntriesSettled(live.segment_dir(), 1), 1u);
}

}  // namespace
}  // namespace scry::server
