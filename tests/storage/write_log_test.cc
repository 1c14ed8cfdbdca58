// File: tests/storage/write_log_test.cc
#include "storage/write_log.h"

#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;

std::vector<std::pair<uint64_t, std::string>> ReadAll(const WriteLog& log, uint64_t from = 1) {
  std::vector<std::pair<uint64_t, std::string>> out;
  EXPECT_THAT(log.ReadFrom(from,
                           [&](uint64_t seq, std::string_view record) {
                             out.emplace_back(seq, std::string(record));
                             return absl::OkStatus();
                           }),
              IsOk());
  return out;
}

TEST(WriteLog, NumbersBatchesInOrderAndKeepsThemAcrossReopening) {
  TempDir dir;
  const std::string path = dir.Sub("live");
  {
    auto log = WriteLog::Open(path);
    ASSERT_THAT(log, IsOk());
    EXPECT_EQ((*log)->next_seq(), 1u);
    EXPECT_EQ((*log)->applied(), 0u);
    auto first = (*log)->Append({"a", "b", "c"}, /*sync=*/false);
    ASSERT_THAT(first, IsOk());
    EXPECT_EQ(*first, 1u);
    auto second = (*log)->Append({std::string("d\0e", 3)}, /*sync=*/true);
    ASSERT_THAT(second, IsOk());
    EXPECT_EQ(*second, 4u);
    auto empty = (*log)->Append({}, true);
    ASSERT_THAT(empty, IsOk());
    EXPECT_EQ(*empty, 5u);
    EXPECT_EQ((*log)->next_seq(), 5u);
  }
  auto log = WriteLog::Open(path);
  ASSERT_THAT(log, IsOk());
  EXPECT_EQ((*log)->next_seq(), 5u);
  const std::vector<std::pair<uint64_t, std::string>> want = {
      {1, "a"}, {2, "b"}, {3, "c"}, {4, std::string("d\0e", 3)}};
  EXPECT_EQ(ReadAll(**log), want);
  const std::vector<std::pair<uint64_t, std::string>> tail(want.begin() + 2, want.end());
  EXPECT_EQ(ReadAll(**log, 3), tail);
}

TEST(WriteLog, AppliedAndTrimSurviveReopening) {
  TempDir dir;
  const std::string path = dir.Sub("live");
  {
    auto log = WriteLog::Open(path);
    ASSERT_THAT(log, IsOk());
    ASSERT_THAT((*log)->Append({"1", "2", "3", "4"}, false), IsOk());
    EXPECT_THAT((*log)->MarkApplied(9),
                ::scry::testing::StatusIs(absl::StatusCode::kInvalidArgument));
    ASSERT_THAT((*log)->MarkApplied(3), IsOk());
    ASSERT_THAT((*log)->MarkApplied(2), IsOk());  // never goes back
    EXPECT_EQ((*log)->applied(), 3u);
    ASSERT_THAT((*log)->Trim(10), IsOk());  // only up to applied
  }
  {
    auto log = WriteLog::Open(path);
    ASSERT_THAT(log, IsOk());
    EXPECT_EQ((*log)->applied(), 3u);
    EXPECT_EQ(ReadAll(**log), (std::vector<std::pair<uint64_t, std::string>>{{4, "4"}}));
    ASSERT_THAT((*log)->MarkApplied(4), IsOk());
    ASSERT_THAT((*log)->Trim(4), IsOk());
    EXPECT_TRUE(ReadAll(**log).empty());
  }
  // Every record trimmed: the numbering still goes on after the applied one.
  auto log = WriteLog::Open(path);
  ASSERT_THAT(log, IsOk());
  EXPECT_EQ((*log)->next_seq(), 5u);
  auto next = (*log)->Append({"5"}, true);
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(*next, 5u);
}

// Get: the point read a merge of live segments uses, against ReadFrom's
// records; a sequence never appended or trimmed is NotFound.
TEST(WriteLog, GetReadsOneRecordAsReadFromDoes) {
  TempDir dir;
  auto log = WriteLog::Open(dir.Sub("live"));
  ASSERT_THAT(log, IsOk());
  ASSERT_THAT((*log)->Append({"one", std::string("t\0o", 3), "three"}, false), IsOk());
  ASSERT_THAT((*log)->Append({"four"}, false), IsOk());
  for (const auto& [seq, record] : ReadAll(**log)) {
    auto got = (*log)->Get(seq);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(*got, record) << seq;
  }
  EXPECT_THAT((*log)->Get(0), ::scry::testing::StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*log)->Get(5), ::scry::testing::StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT((*log)->MarkApplied(2), IsOk());
  ASSERT_THAT((*log)->Trim(2), IsOk());
  EXPECT_THAT((*log)->Get(1), ::scry::testing::StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*log)->Get(3), IsOk());
}

TEST(WriteLog, ASecondOpenerIsRefused) {
  TempDir dir;
  auto log = WriteLog::Open(dir.Sub("live"));
  ASSERT_THAT(log, IsOk());
  EXPECT_FALSE(WriteLog::Open(dir.Sub("live")).ok());
}

TEST(WriteLog, DroppedRecordsAreGoneAndSequencesNeverGoBack) {
  TempDir dir;
  const std::string path = dir.Sub("live");
  {
    auto log = WriteLog::Open(path);
    ASSERT_THAT(log, IsOk());
    ASSERT_THAT((*log)->Append({"a", "b", "c", "d"}, false), IsOk());
    EXPECT_EQ((*log)->records(), 4u);
    const std::vector<uint64_t> drop = {1, 3};
    ASSERT_THAT((*log)->Drop(drop), IsOk());
    EXPECT_EQ((*log)->records(), 2u);
    EXPECT_FALSE((*log)->Get(1).ok());
    const std::vector<std::pair<uint64_t, std::string>> want = {{2, "b"}, {4, "d"}};
    EXPECT_EQ(ReadAll(**log), want);
    const std::vector<uint64_t> last = {4};
    ASSERT_THAT((*log)->Drop(last), IsOk());
  }
  auto log = WriteLog::Open(path);
  ASSERT_THAT(log, IsOk());
  EXPECT_EQ((*log)->records(), 1u);
  // The newest records dropped, their sequences are still not handed out
  // again.
  EXPECT_EQ((*log)->next_seq(), 5u);
  const std::vector<std::pair<uint64_t, std::string>> want = {{2, "b"}};
  EXPECT_EQ(ReadAll(**log), want);
}

// Bytes follow the records kept: a log whose records are replaced round
// after round (each round appends a new copy of every record and drops the
// old) stays within a small multiple of one round's bytes, where without
// the compaction Drop triggers it would hold every round.
TEST(WriteLog, DiskUseFollowsTheRecordsKept) {
  TempDir dir;
  const std::string path = dir.Sub("live");
  auto log = WriteLog::Open(path);
  ASSERT_THAT(log, IsOk());
  SCRY_SEEDED_RNG(rng, 1919);
  constexpr int kRecords = 2000, kBytes = 1000, kRounds = 12;
  std::vector<uint64_t> live;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::string> batch;
    for (int i = 0; i < kRecords; ++i) {
      std::string record(kBytes, ' ');
      for (char& c : record) c = static_cast<char>('a' + rng() % 26);  // incompressible-ish
      batch.push_back(std::move(record));
    }
    auto first = (*log)->Append(batch, false);
    ASSERT_THAT(first, IsOk());
    ASSERT_THAT((*log)->Drop(live), IsOk());
    live.clear();
    for (int i = 0; i < kRecords; ++i) live.push_back(*first + i);
  }
  EXPECT_EQ((*log)->records(), static_cast<uint64_t>(kRecords));
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  const uint64_t round_bytes = uint64_t{kRecords} * kBytes;
  EXPECT_LT(bytes, 4 * round_bytes) << bytes << " bytes on disk for " << round_bytes << " live";
}

}  // namespace
}  // namespace scry::storage
