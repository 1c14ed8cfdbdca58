// File: tests/server/live_index_test.cc
//
// Tests for server/live_index.h on real indexes built by indexer::BuildIndex:
// a new build is picked up by the watcher and by Reload; a search holding the
// old Searcher keeps reading the old generation to its end, whose files go
// once it lets go; a damaged generation is refused and the old one serves on;
// a vanished index directory leaves the served generation in place.
#include "server/live_index.h"
#include "server/live_segments.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;

class LiveIndexTest : public ::testing::Test {
 protected:
  // Builds `docs` documents "d0".."d<docs-1>", each holding `word`.
  void Build(int docs, const std::string& word) {
    const std::string input = dir_.Sub(absl::StrCat("in", builds_++, ".jsonl"));
    std::string text;
    for (int i = 0; i < docs; ++i) {
      absl::StrAppend(&text, "{\"id\":\"d", i, "\",\"title\":\"", word, " ", i, "\"}\n");
    }
    scry::testing::WriteFile(input, text);
    indexer::BuildOptions options;
    options.inputs = {input};
    options.index_dir = index_;
    options.num_shards = 2;
    options.threads = 1;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  }

  // Hits of `word` in `searcher`.
  static uint64_t Hits(const query::Searcher& searcher, const std::string& word) {
    query::SearchRequest request;
    request.query = word;
    request.exact_total_hits = true;
    absl::StatusOr<query::SearchResult> result = searcher.Search(request);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? result->total_hits : 0;
  }

  // Waits up to 5 s for `done`.
  static bool Eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 500; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  std::vector<std::string> Generations() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(index_)) {
      const std::string name = e.path().filename().string();
      if (name.starts_with("gen-") && e.is_directory()) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  LiveIndexOptions Options(int poll_ms) {
    LiveIndexOptions o;
    o.index_dir = index_;
    o.poll_ms = poll_ms;
    o.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(line);
    };
    return o;
  }

  scry::testing::TempDir dir_;
  const std::string index_ = dir_.Sub("index");
  int builds_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(LiveIndexTest, TheWatcherSwitchesToANewBuildAndRemovesTheOldOne) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(20));
  ASSERT_THAT(live, IsOk());
  const std::string first = (*live)->info().generation;
  EXPECT_EQ(Hits(*(*live)->Acquire(), "alpha"), 5u);

  Build(7, "beta");
  ASSERT_TRUE(Eventually([&] { return (*live)->info().generation != first; }));
  std::shared_ptr<const query::Searcher> searcher = (*live)->Acquire();
  EXPECT_EQ(Hits(*searcher, "beta"), 7u);
  EXPECT_EQ(Hits(*searcher, "alpha"), 0u);
  EXPECT_EQ((*live)->info().reloads, 1u);
  // Nobody holds the first generation: it is closed and removed.
  ASSERT_TRUE(Eventually([&] { return Generations().size() == 1; }));
  EXPECT_EQ(Generations()[0], (*live)->info().generation);
}

TEST_F(LiveIndexTest, ASearchInFlightFinishesOnItsGenerationWhichGoesAfterward) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(0));  // switches only on Reload
  ASSERT_THAT(live, IsOk());
  std::shared_ptr<const query::Searcher> held = (*live)->Acquire();  // a search in flight
  const std::string first = held->generation();

  Build(3, "beta");
  absl::StatusOr<std::string> now = (*live)->Reload();
  ASSERT_THAT(now, IsOk());
  EXPECT_NE(*now, first);
  EXPECT_EQ((*live)->Acquire()->generation(), *now);
  // The old generation is still whole and readable for the search holding it.
  EXPECT_EQ(Hits(*held, "alpha"), 5u);
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(index_, "/", first, "/MANIFEST")));
  // A second build while the first generation is still held: the build
  // removes the unleased second one, not the held first.
  Build(2, "gamma");
  ASSERT_THAT((*live)->Reload(), IsOk());
  EXPECT_EQ(Hits(*held, "alpha"), 5u);
  EXPECT_EQ(Hits(*(*live)->Acquire(), "gamma"), 2u);

  held.reset();  // the search ends
  ASSERT_TRUE(Eventually([&] { return Generations().size() == 1; }));
  EXPECT_EQ(Generations()[0], (*live)->info().generation);
}

TEST_F(LiveIndexTest, ADamagedGenerationIsRefusedAndTheOldOneServesOn) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(20));
  ASSERT_THAT(live, IsOk());
  const std::string first = (*live)->info().generation;
  ASSERT_THAT(scry::testing::CommitDamagedGeneration(index_, 2), IsOk());
  ASSERT_TRUE(Eventually([&] { return (*live)->info().failed_reloads == 1; }));
  EXPECT_EQ((*live)->info().generation, first);
  EXPECT_THAT((*live)->info().last_error, ::testing::HasSubstr("cannot serve"));
  EXPECT_EQ(Hits(*(*live)->Acquire(), "alpha"), 5u);
  // The watcher does not try it again and again; an explicit reload does.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ((*live)->info().failed_reloads, 1u);
  EXPECT_FALSE((*live)->Reload().ok());
  EXPECT_EQ((*live)->info().failed_reloads, 2u);
  // A good build after it is taken.
  Build(4, "beta");
  ASSERT_TRUE(Eventually([&] { return Hits(*(*live)->Acquire(), "beta") == 4u; }));
  EXPECT_EQ((*live)->info().failed_reloads, 2u);  // last_error stays, for the record
}

TEST_F(LiveIndexTest, VerifyOnOpenRefusesAGenerationWithABadBlock) {
  Build(5, "alpha");
  LiveIndexOptions options = Options(0);
  options.verify_on_open = true;
  auto live = LiveIndex::Open(options);
  ASSERT_THAT(live, IsOk());
  const std::string first = (*live)->info().generation;
  {
    std::lock_guard<std::mutex> lock(log_mu_);
    ASSERT_FALSE(log_.empty());
    EXPECT_THAT(log_[0], ::testing::HasSubstr("verified " + first));
  }
  Build(300, "beta");
  auto gen = storage::LiveGeneration(index_);
  ASSERT_THAT(gen, IsOk());
  const auto terms = scry::testing::SstFilesOf(*gen + "/shard-001", storage::kTermsCf);
  ASSERT_EQ(terms.size(), 1u);
  scry::testing::FlipByte(terms[0].path, terms[0].data_bytes / 2);
  // Opening reads no list: unverified, the damaged generation would be served.
  EXPECT_THAT(query::Searcher::Open(index_, query::SearcherOptions()), IsOk());
  EXPECT_THAT((*live)->Reload(), StatusIs(absl::StatusCode::kDataLoss, "failed verification"));
  EXPECT_EQ((*live)->info().generation, first);
  EXPECT_EQ((*live)->info().failed_reloads, 1u);
  EXPECT_THAT((*live)->info().last_error, ::testing::HasSubstr("shard-001 terms file"));
  EXPECT_EQ(Hits(*(*live)->Acquire(), "alpha"), 5u);
  // Nor does a new LiveIndex start on it.
  EXPECT_THAT(LiveIndex::Open(options), StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(LiveIndexTest, AVanishedIndexDirectoryLeavesTheServedGeneration) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(20));
  ASSERT_THAT(live, IsOk());
  std::filesystem::remove(index_ + "/CURRENT");
  EXPECT_THAT((*live)->Reload(), StatusIs(absl::StatusCode::kFailedPrecondition, "still serving"));
  EXPECT_EQ(Hits(*(*live)->Acquire(), "alpha"), 5u);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(log_mu_);
    return !log_.empty() && log_.back().find("no readable CURRENT") != std::string::npos;
  }));
}

TEST_F(LiveIndexTest, ConcurrentReloadsTakeTurns) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(0));
  ASSERT_THAT(live, IsOk());
  Build(6, "beta");
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<std::string>> results(4, std::string());
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = (*live)->Reload(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(*r, (*live)->info().generation);
  }
  EXPECT_EQ((*live)->info().reloads, 1u);
}

}  // namespace
}  // namespace scry::server

namespace scry::server {
namespace {

// A refresh serves a Searcher of the same generation with live writes
// (server/live_segments.h); a search holding the old one keeps its
// snapshot; a failed refresh changes nothing; the old snapshot's searcher
// is closed without taking the generation (still leased by the new one).
TEST_F(LiveIndexTest, ARefreshServesTheNewSnapshotAndKeepsTheGeneration) {
  Build(5, "alpha");
  auto live = LiveIndex::Open(Options(20));
  ASSERT_THAT(live, IsOk());
  const std::string generation = (*live)->info().generation;
  std::shared_ptr<const query::Searcher> before = (*live)->Acquire();

  LiveSegmentsOptions segments;
  segments.dir = dir_.Sub("segments");
  uint64_t next_segment = 1;
  std::vector<LiveOp> ops(2);
  ops[0].doc.id = "new";
  ops[0].doc.fields = {{"title", "alpha gamma"}};
  ops[1].kind = OpKind::kDelete;
  ops[1].doc.id = "d0";
  ASSERT_THAT((*live)->Refresh([&](const query::Searcher& served) {
    return ApplyOperations(served, ops, segments, &next_segment);
  }),
              IsOk());
  std::shared_ptr<const query::Searcher> after = (*live)->Acquire();
  EXPECT_EQ(Hits(*after, "alpha"), 5u);  // d1..d4 and "new"
  EXPECT_EQ(Hits(*after, "gamma"), 1u);
  EXPECT_EQ(Hits(*before, "alpha"), 5u);  // d0..d4
  EXPECT_EQ(Hits(*before, "gamma"), 0u);
  EXPECT_EQ(after->generation(), generation);
  EXPECT_EQ((*live)->info().refreshes, 1u);

  EXPECT_THAT((*live)->Refresh(
                  [](const query::Searcher&) -> absl::StatusOr<std::unique_ptr<query::Searcher>> {
                    return absl::InternalError("disk on fire");
                  }),
              StatusIs(absl::StatusCode::kInternal, "disk on fire"));
  EXPECT_EQ((*live)->Acquire().get(), after.get());
  EXPECT_EQ((*live)->info().refreshes, 1u);

  before.reset();
  after.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Generations(), std::vector<std::string>{generation});
  EXPECT_EQ(Hits(*(*live)->Acquire(), "gamma"), 1u);
}

}  // namespace
}  // namespace scry::server
