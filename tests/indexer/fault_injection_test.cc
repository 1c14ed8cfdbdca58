// Builds under a file system that fails on purpose (tests/fault_fs.h): a
// full disk (ENOSPC) or a bad one (EIO) at points spread over a whole build's
// bytes, files, syncs and reads (in RocksDB's files, and in the sorted runs
// and source log of a build past its memory cap), and a crash that loses
// whatever was not synced.
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

struct FaultPoint {
  enum Kind { kBytes, kFile, kSync, kRead } kind;
  uint64_t at;
  FaultFs::Fault fault;
};

std::string Describe(const FaultPoint& p) {
  static const char* const kKinds[] = {"byte ", "file ", "sync ", "read "};
  return absl::StrCat(p.fault == FaultFs::Fault::kNoSpace ? "ENOSPC" : "EIO", " at ",
                      kKinds[p.kind], p.at);
}

void Arm(FaultFs* faults, const FaultPoint& p) {
  switch (p.kind) {
    case FaultPoint::kBytes:
      faults->FailAfterBytes(p.at, p.fault);
      break;
    case FaultPoint::kFile:
      faults->FailAtFile(p.at, p.fault);
      break;
    case FaultPoint::kSync:
      faults->FailAtSync(p.at, p.fault);
      break;
    case FaultPoint::kRead:
      faults->FailAtRead(p.at, p.fault);
      break;
  }
}

// Points spread over `total`, ENOSPC and EIO in turn: the first, middle
// and near-last byte and the first, middle and last file; for a whole build
// (`whole_build`) also a quarter of the bytes, a third and two thirds of
// the files, and syncs up to the commit's.
std::vector<FaultPoint> SpreadPoints(const FaultFs::Counts& total, bool whole_build) {
  std::vector<FaultPoint> points;
  int i = 0;
  auto add = [&](FaultPoint::Kind kind, uint64_t at) {
    for (const FaultPoint& p : points) {
      if (p.kind == kind && p.at == at) return;
    }
    points.push_back(
        {kind, at, i++ % 2 == 0 ? FaultFs::Fault::kNoSpace : FaultFs::Fault::kIoError});
  };
  for (uint64_t at : {uint64_t{0}, total.bytes / 2, total.bytes * 9 / 10}) {
    add(FaultPoint::kBytes, at);
  }
  for (uint64_t at : {uint64_t{1}, total.files / 2, total.files}) {
    add(FaultPoint::kFile, std::max<uint64_t>(at, 1));
  }
  if (whole_build) {
    add(FaultPoint::kBytes, total.bytes / 4);
    add(FaultPoint::kFile, total.files / 3);
    add(FaultPoint::kFile, total.files * 2 / 3);
    // The last syncs are those of the commit: the MANIFEST, then CURRENT.
    for (uint64_t at :
         {uint64_t{1}, total.syncs / 2, total.syncs - 2, total.syncs - 1, total.syncs}) {
      add(FaultPoint::kSync, at);
    }
  }
  return points;
}

class FaultInjectionTest : public ::testing::Test {
 protected:
  // The previous index, built once and copied for each test.
  static void SetUpTestSuite() {
    old_ = new TempDir();
    scry::testing::WriteFile(old_->Sub("old.jsonl"), Corpus(600, 1));
    BuildOptions o;
    o.inputs = {old_->Sub("old.jsonl")};
    o.index_dir = old_->Sub("index");
    o.num_shards = 2;
    o.threads = 2;
    ASSERT_THAT(BuildIndex(o), IsOk());
  }
  static void TearDownTestSuite() {
    delete old_;
    old_ = nullptr;
  }

  void SetUp() override {
    fs::copy(old_->Sub("index"), index_, fs::copy_options::recursive);
    scry::testing::WriteFile(dir_.Sub("new.jsonl"), Corpus(600, 2));
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

  // Whether the index at `index` holds an unfinished generation.
  static bool HasDebris(const std::string& index) {
    for (const auto& entry : fs::directory_iterator(index)) {
      if (entry.path().filename().string().ends_with(".tmp")) return true;
    }
    return false;
  }

  // The index at `index` is generation `generation`, verifies clean and
  // answers `results`.
  static void ExpectIndex(const std::string& index, const std::string& generation,
                          const std::vector<Results>& results) {
    EXPECT_EQ(storage::CurrentGenerationName(index), generation);
    auto report = storage::VerifyIndex(index);
    ASSERT_THAT(report, IsOk());
    EXPECT_TRUE(report->ok()) << report->Summary();
    EXPECT_EQ(Search(index), results);
  }

  // The previous generation is CURRENT, verifies clean, and answers as
  // before; no unfinished generation is left.
  void ExpectOldIndexIntact(const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_FALSE(HasDebris(index_));
    ExpectIndex(index_, old_generation_, old_results_);
  }

  // What a whole build with `options` does, measured on a copy of the index
  // in `probe`, counting the files whose path contains `only` (FaultFs).
  FaultFs::Counts MeasureBuild(const BuildOptions& options, const std::string& only,
                               const std::string& probe) {
    fs::copy(index_, dir_.Sub(probe), fs::copy_options::recursive);
    FaultFs faults(only);
    BuildOptions o = options;
    o.index_dir = dir_.Sub(probe);
    o.env = faults.env();
    EXPECT_THAT(BuildIndex(o), IsOk());
    return faults.counts();
  }

  // A build of a corpus large enough to spill sorted runs at a 1 MiB memory
  // cap and to flush each shard's source log, whose run files and source
  // logs are written and read in the same order every time (one analysis
  // thread, so one merge thread too).
  BuildOptions SpillOptions() {
    scry::testing::WriteFile(dir_.Sub("spill.jsonl"), Corpus(kSpillDocs, 3));
    BuildOptions o = Options("spill.jsonl", index_, nullptr);
    o.memory_mb = 1;
    o.threads = 1;
    return o;
  }

  // Runs the build `options` under `faults`, armed at `point`, and expects
  // it to fail cleanly: the fault fired, the error is RESOURCE_EXHAUSTED for
  // a full disk and INTERNAL for EIO, says "injected" and names `names` (a
  // part of the failing file's path); after a crash that drops what was not
  // synced, the previous generation is intact.
  void ExpectCleanFailure(BuildOptions options, FaultFs* faults, const FaultPoint& point,
                          const std::string& names) {
    Arm(faults, point);
    options.env = faults->env();
    auto summary = BuildIndex(options);
    ASSERT_TRUE(faults->broken()) << Describe(point) << ": no fault fired";
    ASSERT_FALSE(summary.ok()) << Describe(point) << ": the build ignored the fault";
    EXPECT_EQ(summary.status().code(), point.fault == FaultFs::Fault::kNoSpace
                                           ? absl::StatusCode::kResourceExhausted
                                           : absl::StatusCode::kInternal)
        << Describe(point) << ": " << summary.status();
    EXPECT_NE(summary.status().message().find("injected"), std::string::npos)
        << Describe(point) << ": " << summary.status();
    EXPECT_NE(summary.status().message().find(names), std::string::npos)
        << Describe(point) << ": " << summary.status();
    faults->DropUnsyncedData();
    ExpectOldIndexIntact(Describe(point));
  }

  // After the failures, a build without faults replaces the index with what
  // the build measured in `probe` made, leaving one generation: it also
  // removed the generations the failed commits left unnamed.
  void ExpectCleanBuild(const BuildOptions& options, const std::string& probe) {
    ASSERT_THAT(BuildIndex(options), IsOk());
    EXPECT_NE(storage::CurrentGenerationName(index_), old_generation_);
    EXPECT_EQ(Search(index_), Search(dir_.Sub(probe)));
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

  // ExpectCleanFailure at each of `points`, counting the files whose path
  // contains `only`, then ExpectCleanBuild.
  void FailAtEach(const BuildOptions& options, const std::string& only,
                  const std::vector<FaultPoint>& points, const std::string& names) {
    for (const FaultPoint& point : points) {
      FaultFs faults(only);
      ExpectCleanFailure(options, &faults, point, names);
    }
    // The disk is fine again: the next build replaces the index.
    ExpectCleanBuild(options, "probe");
  }

  static constexpr int kSpillDocs = 17000;
  static TempDir* old_;
  TempDir dir_;
  const std::string index_ = dir_.Sub("index");
  std::string old_generation_;
  std::vector<Results> old_results_;
};

TempDir* FaultInjectionTest::old_ = nullptr;

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

TEST_F(FaultInjectionTest, RunFilesAndTheSourceLogGoThroughTheGivenEnv) {
  const BuildOptions options = SpillOptions();
  const FaultFs::Counts runs = MeasureBuild(options, "/run-", "probe");
  // Several runs per shard, read back by the merge; temporary, never synced.
  EXPECT_GE(runs.files, 4u);
  EXPECT_GE(runs.bytes, 256u << 10);
  EXPECT_GE(runs.reads, runs.files);
  EXPECT_EQ(runs.syncs, 0u);
  // One source log per shard, each flushed past 64 KiB.
  const FaultFs::Counts sources = MeasureBuild(options, "/sources", "probe2");
  EXPECT_EQ(sources.files, 2u);
  EXPECT_GE(sources.bytes, 2u * (64 << 10));
  // The same build counts the same again: the points below are reproducible.
  const FaultFs::Counts again = MeasureBuild(options, "/run-", "probe3");
  EXPECT_EQ(again.files, runs.files);
  EXPECT_EQ(again.bytes, runs.bytes);
  EXPECT_EQ(again.reads, runs.reads);
}

TEST_F(FaultInjectionTest, FailedWritesLeaveThePreviousGenerationServing) {
  const BuildOptions options = Options("new.jsonl", index_, nullptr);
  const FaultFs::Counts total = MeasureBuild(options, "", "probe");
  ASSERT_GT(total.syncs, 4u);
  ASSERT_GT(total.files, 4u);
  FailAtEach(options, "", SpreadPoints(total, /*whole_build=*/true), "");
}

TEST_F(FaultInjectionTest, FailedRunFileWritesLeaveThePreviousGenerationServing) {
  const BuildOptions options = SpillOptions();
  const FaultFs::Counts total = MeasureBuild(options, "/run-", "probe");
  ASSERT_GE(total.files, 3u);
  FailAtEach(options, "/run-", SpreadPoints(total, /*whole_build=*/false), ".runs/run-");
}

TEST_F(FaultInjectionTest, FailedRunFileReadsLeaveThePreviousGenerationServing) {
  const BuildOptions options = SpillOptions();
  const FaultFs::Counts total = MeasureBuild(options, "/run-", "probe");
  ASSERT_GE(total.reads, 3u);
  std::vector<FaultPoint> points;
  for (uint64_t at : {uint64_t{1}, total.reads / 2, total.reads}) {
    points.push_back({FaultPoint::kRead, at, FaultFs::Fault::kIoError});
  }
  FailAtEach(options, "/run-", points, ".runs/run-");
}

TEST_F(FaultInjectionTest, FailedSourceLogWritesLeaveThePreviousGenerationServing) {
  const BuildOptions options = SpillOptions();
  const FaultFs::Counts total = MeasureBuild(options, "/sources", "probe");
  ASSERT_EQ(total.files, 2u);
  FailAtEach(options, "/sources", SpreadPoints(total, /*whole_build=*/false), ".runs/sources");
}

TEST_F(FaultInjectionTest, FailedSourceLogReadIsTheErrorNotAWrongDuplicateMessage) {
  // A duplicate id sends the reader to the source log for the first one's
  // line: a failed read there is the build's error.
  const std::string corpus = Corpus(50, 4);
  scry::testing::WriteFile(dir_.Sub("dup.jsonl"), corpus + corpus.substr(0, corpus.find('\n') + 1));
  const BuildOptions options = Options("dup.jsonl", index_, nullptr);
  auto duplicate = BuildIndex(options);
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument) << duplicate.status();
  EXPECT_NE(duplicate.status().message().find("first seen at"), std::string::npos)
      << duplicate.status();
  FaultFs faults("/sources");
  ExpectCleanFailure(options, &faults, {FaultPoint::kRead, 1, FaultFs::Fault::kIoError},
                     ".runs/sources");
}

TEST_F(FaultInjectionTest, CrashMidBuildLeavesTheOldIndexWhole) {
  // A power loss at a point of the build: the picture of the index
  // directory it leaves (the unfinished generation and all, unsynced data
  // dropped) still serves the old generation, and the next build there
  // succeeds and clears the debris.
  const BuildOptions options = SpillOptions();
  const FaultFs::Counts runs = MeasureBuild(options, "/run-", "probe");
  const FaultFs::Counts sources = MeasureBuild(options, "/sources", "probe2");
  const FaultFs::Counts all = MeasureBuild(options, "", "probe3");
  const std::vector<Results> expected = Search(dir_.Sub("probe"));
  struct Crash {
    std::string only;
    FaultPoint point;
  };
  const FaultFs::Fault eio = FaultFs::Fault::kIoError;
  const Crash crashes[] = {
      {"/run-", {FaultPoint::kBytes, runs.bytes / 2, eio}},
      {"/run-", {FaultPoint::kRead, runs.reads / 2, eio}},
      {"/sources", {FaultPoint::kBytes, sources.bytes / 2, eio}},
      {"", {FaultPoint::kSync, all.syncs - 1, eio}},  // the MANIFEST synced, CURRENT not yet
  };
  int n = 0;
  for (const Crash& crash : crashes) {
    SCOPED_TRACE(absl::StrCat("crash at ", crash.only, " ", Describe(crash.point)));
    const std::string image = dir_.Sub(absl::StrCat("crashed", n++));
    FaultFs faults(crash.only);
    faults.ImageOnFault(index_, image);
    Arm(&faults, crash.point);
    BuildOptions o = options;
    o.env = faults.env();
    ASSERT_FALSE(BuildIndex(o).ok());
    ASSERT_TRUE(fs::exists(image));
    // The unfinished generation is there, as a killed build leaves it.
    EXPECT_TRUE(HasDebris(image));
    ExpectIndex(image, old_generation_, old_results_);
    // The next build there steps over the debris.
    BuildOptions again = options;
    again.index_dir = image;
    ASSERT_THAT(BuildIndex(again), IsOk());
    EXPECT_NE(storage::CurrentGenerationName(image), old_generation_);
    EXPECT_FALSE(HasDebris(image));
    ExpectIndex(image, storage::CurrentGenerationName(image), expected);
  }
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
