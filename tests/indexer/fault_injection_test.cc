// Builds under a file system that fails on purpose (tests/fault_fs.h): a
// full disk (ENOSPC) or a bad one (EIO) at points spread over a whole build's
// bytes, files and syncs, and a crash that loses whatever was not synced.
// Each failed build must end with a clear error, leave the previous
// generation as CURRENT, whole and searchable with the same results, and
// leave no half-written generation behind; the next build must succeed.
#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "storage/index_dir.h"
#include "storage/verify.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::FaultFs;
using ::scry::testing::IsOk;
using ::scry::testing::TempDir;
namespace fs = std::filesystem;

// `n` documents over a small vocabulary; `salt` changes every text, so two
// corpora answer the same queries differently.
std::string Corpus(int n, int salt) {
  static const char* const kWords[] = {"apple", "banana", "cherry", "kiwi", "lemon", "mango",
                                       "grape", "plum",   "pear",   "fig",  "lime",  "date"};
  std::string out;
  uint32_t x = 12345u + static_cast<uint32_t>(salt);
  auto next = [&x] { return x = x * 1103515245u + 12345u, (x >> 16) % 12; };
  for (int i = 0; i < n; ++i) {
    std::string body;
    const int words = 3 + static_cast<int>(next() % 9);
    for (int w = 0; w < words; ++w) absl::StrAppend(&body, w ? " " : "", kWords[next()]);
    absl::StrAppend(&out, "{\"id\":\"d", salt, "-", i, "\",\"title\":\"", kWords[next()],
                    "\",\"body\":\"", body, "\"}\n");
  }
  return out;
}

using Results = std::vector<std::pair<std::string, double>>;

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scry::testing::WriteFile(dir_.Sub("old.jsonl"), Corpus(600, 1));
    scry::testing::WriteFile(dir_.Sub("new.jsonl"), Corpus(600, 2));
    ASSERT_THAT(BuildIndex(Options("old.jsonl", index_, nullptr)), IsOk());
    old_generation_ = storage::CurrentGenerationName(index_);
    ASSERT_FALSE(old_generation_.empty());
    old_results_ = Search(index_);
    ASSERT_FALSE(old_results_[0].empty());
  }

  BuildOptions Options(const std::string& input, const std::string& index, rocksdb::Env* env) {
    BuildOptions o;
    o.inputs = {dir_.Sub(input)};
    o.index_dir = index;
    o.num_shards = 2;
    o.threads = 2;
    o.env = env;
    return o;
  }

  // The hits of a few queries (ids and scores), one list per query.
  static std::vector<Results> Search(const std::string& index) {
    std::vector<Results> out;
    auto searcher = query::Searcher::Open(index, query::SearcherOptions());
    EXPECT_THAT(searcher, IsOk());
    if (!searcher.ok()) return out;
    for (const char* q : {"apple", "kiwi lemon", "\"grape plum\"", "fig OR date", "title:pear"}) {
      query::SearchRequest request;
      request.query = q;
      request.top_k = 20;
      auto result = (*searcher)->Search(request);
      EXPECT_THAT(result, IsOk()) << q;
      Results hits;
      if (result.ok()) {
        for (const auto& hit : result->hits) hits.emplace_back(hit.id, hit.score);
      }
      out.push_back(std::move(hits));
    }
    return out;
  }

  // The previous generation is CURRENT, verifies clean, and answers as
  // before; no unfinished generation is left.
  void ExpectOldIndexIntact(const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(storage::CurrentGenerationName(index_), old_generation_);
    for (const auto& entry : fs::directory_iterator(index_)) {
      EXPECT_FALSE(entry.path().filename().string().ends_with(".tmp")) << entry.path();
    }
    auto report = storage::VerifyIndex(index_);
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << report->Summary();
    EXPECT_EQ(Search(index_), old_results_);
  }

  // The bytes, files and syncs of a whole build of the new corpus, measured
  // on a copy of the index.
  FaultFs::Counts MeasureBuild() {
    const std::string probe = dir_.Sub("probe");
    fs::copy(index_, probe, fs::copy_options::recursive);
    FaultFs faults;
    EXPECT_THAT(BuildIndex(Options("new.jsonl", probe, faults.env())), IsOk());
    return faults.counts();
  }

  TempDir dir_;
  const std::string index_ = dir_.Sub("index");
  std::string old_generation_;
  std::vector<Results> old_results_;
};

TEST_F(FaultInjectionTest, BuildWritesThroughTheGivenEnv) {
  FaultFs faults;
  auto summary = BuildIndex(Options("new.jsonl", index_, faults.env()));
  ASSERT_THAT(summary, IsOk());
  const FaultFs::Counts counts = faults.counts();
  // Two shards: each a RocksDB of several files, SSTs synced; MANIFEST and CURRENT.
  EXPECT_GT(counts.files, 10u);
  EXPECT_GT(counts.syncs, 10u);
  EXPECT_GT(counts.bytes, 10000u);
  EXPECT_EQ(counts.faults, 0u);
  EXPECT_NE(storage::CurrentGenerationName(index_), old_generation_);
  EXPECT_NE(Search(index_), old_results_);
}

struct FaultPoint {
  enum Kind { kBytes, kFile, kSync } kind;
  uint64_t at;
  FaultFs::Fault fault;
};

std::string Describe(const FaultPoint& p) {
  return absl::StrCat(p.fault == FaultFs::Fault::kNoSpace ? "ENOSPC" : "EIO", " at ",
                      p.kind == FaultPoint::kBytes  ? "byte "
                      : p.kind == FaultPoint::kFile ? "file "
                                                    : "sync ",
                      p.at);
}

TEST_F(FaultInjectionTest, FailedWritesLeaveThePreviousGenerationServing) {
  const FaultFs::Counts total = MeasureBuild();
  ASSERT_GT(total.syncs, 4u);
  ASSERT_GT(total.files, 4u);
  std::vector<FaultPoint> points;
  int i = 0;
  auto add = [&](FaultPoint::Kind kind, uint64_t at) {
    points.push_back(
        {kind, at, i++ % 2 == 0 ? FaultFs::Fault::kNoSpace : FaultFs::Fault::kIoError});
  };
  for (uint64_t at : {uint64_t{0}, total.bytes / 4, total.bytes / 2, total.bytes * 9 / 10}) {
    add(FaultPoint::kBytes, at);
  }
  for (uint64_t at : {uint64_t{1}, total.files / 3, total.files * 2 / 3, total.files}) {
    add(FaultPoint::kFile, at);
  }
  // The last syncs are those of the commit: the MANIFEST, then CURRENT.
  for (uint64_t at :
       {uint64_t{1}, total.syncs / 2, total.syncs - 2, total.syncs - 1, total.syncs}) {
    add(FaultPoint::kSync, at);
  }
  for (const FaultPoint& point : points) {
    FaultFs faults;
    switch (point.kind) {
      case FaultPoint::kBytes:
        faults.FailAfterBytes(point.at, point.fault);
        break;
      case FaultPoint::kFile:
        faults.FailAtFile(point.at, point.fault);
        break;
      case FaultPoint::kSync:
        faults.FailAtSync(point.at, point.fault);
        break;
    }
    auto summary = BuildIndex(Options("new.jsonl", index_, faults.env()));
    ASSERT_TRUE(faults.broken()) << Describe(point) << ": no fault fired";
    ASSERT_FALSE(summary.ok()) << Describe(point) << ": the build ignored the fault";
    EXPECT_EQ(summary.status().code(), point.fault == FaultFs::Fault::kNoSpace
                                           ? absl::StatusCode::kResourceExhausted
                                           : absl::StatusCode::kInternal)
        << Describe(point) << ": " << summary.status();
    EXPECT_NE(summary.status().message().find("injected"), std::string::npos)
        << Describe(point) << ": " << summary.status();
    // A crash now loses what was not synced; the old generation must not care.
    faults.DropUnsyncedData();
    ExpectOldIndexIntact(Describe(point));
  }
  // The disk is fine again: the next build replaces the index.
  ASSERT_THAT(BuildIndex(Options("new.jsonl", index_, nullptr)), IsOk());
  EXPECT_NE(storage::CurrentGenerationName(index_), old_generation_);
  EXPECT_EQ(Search(index_), Search(dir_.Sub("probe")));
  // It also removed the generations the failed commits left unnamed.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(index_)) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(std::count_if(names.begin(), names.end(),
                          [&](const std::string& n) {
                            return n.starts_with("gen-") && fs::is_directory(index_ + "/" + n);
                          }),
            1)
      << ::testing::PrintToString(names);
}

TEST_F(FaultInjectionTest, CrashAfterCommitLosesNothing) {
  // Everything a committed generation needs was synced before CURRENT named
  // it: dropping every unsynced byte afterwards changes no answer.
  FaultFs faults;
  ASSERT_THAT(BuildIndex(Options("new.jsonl", index_, faults.env())), IsOk());
  const std::vector<Results> before = Search(index_);
  ASSERT_NE(before, old_results_);
  faults.DropUnsyncedData();
  auto report = storage::VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << report->Summary();
  EXPECT_EQ(Search(index_), before);
}

}  // namespace
}  // namespace scry::indexer
