// Run files on their own: lists written in pieces read back whole, marks
// every kRunMarkBytes that let a reader start near a key range, damaged
// files reported as DataLoss, and I/O errors as such.
#include "indexer/run_file.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace scry::indexer {
namespace {

using ::scry::testing::FaultFs;
using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using storage::PostingList;

// A list of n postings from docid `first` on, with random gaps, tfs and
// positions.
PostingList RandomList(std::mt19937* rng, uint32_t first, size_t n) {
  PostingList l;
  uint32_t d = first;
  for (size_t i = 0; i < n; ++i) {
    d += 1 + (*rng)() % 50;
    l.docids.push_back(d);
    const uint32_t tf = 1 + (*rng)() % 4;
    l.freqs.push_back(tf);
    uint32_t p = (*rng)() % 10;
    for (uint32_t k = 0; k < tf; ++k) {
      l.positions.push_back(p);
      p += 1 + (*rng)() % 300;
    }
  }
  return l;
}

PostingList Concat(const std::vector<PostingList>& pieces) {
  PostingList out;
  for (const auto& p : pieces) {
    out.docids.insert(out.docids.end(), p.docids.begin(), p.docids.end());
    out.freqs.insert(out.freqs.end(), p.freqs.begin(), p.freqs.end());
    out.positions.insert(out.positions.end(), p.positions.begin(), p.positions.end());
  }
  return out;
}

void ExpectSameList(const PostingList& a, const PostingList& b) {
  EXPECT_EQ(a.docids, b.docids);
  EXPECT_EQ(a.freqs, b.freqs);
  EXPECT_EQ(a.positions, b.positions);
}

class RunFileTest : public ::testing::Test {
 protected:
  // Writes `n` keys, key i with a list in 1 + i % 3 pieces, into a run.
  RunFile Write(size_t n, size_t postings_per_list) {
    SCRY_SEEDED_RNG(rng, 7);
    auto writer = RunWriter::Open(dir_.Sub("run"));
    EXPECT_THAT(writer, IsOk());
    for (size_t i = 0; i < n; ++i) {
      std::vector<PostingList> pieces;
      uint32_t first = 0;
      for (size_t p = 0; p < 1 + i % 3; ++p) {
        pieces.push_back(RandomList(&rng, first, postings_per_list));
        first = pieces.back().docids.back();
      }
      std::vector<const PostingList*> ptrs;
      for (const auto& p : pieces) ptrs.push_back(&p);
      // Ascending: field 0 for the first half, 1 for the rest.
      std::string key(1, static_cast<char>(i < n / 2 ? 0 : 1));
      absl::StrAppendFormat(&key, "%08d", i);
      keys_.push_back(std::move(key));
      EXPECT_THAT((*writer)->Add(keys_.back(), ptrs), IsOk());
      lists_.push_back(Concat(pieces));
    }
    auto run = (*writer)->Close();
    EXPECT_THAT(run, IsOk());
    return *run;
  }

  TempDir dir_;
  std::vector<std::string> keys_;
  std::vector<PostingList> lists_;
};

TEST_F(RunFileTest, ReadsBackWhatWasWritten) {
  SCRY_SEEDED_RNG(rng, 1);
  auto writer = RunWriter::Open(dir_.Sub("run"));
  ASSERT_THAT(writer, IsOk());
  std::vector<std::string> keys = {std::string("\0a", 2), std::string("\0b", 2),
                                   "\x01"
                                   "a"};
  std::vector<PostingList> wanted;
  for (size_t i = 0; i < keys.size(); ++i) {
    PostingList a = RandomList(&rng, 0, 1 + i * 100);
    PostingList b = RandomList(&rng, a.docids.back(), 5);
    const PostingList* pieces[] = {&a, &b};
    ASSERT_THAT((*writer)->Add(keys[i], pieces), IsOk());
    wanted.push_back(Concat({a, b}));
  }
  auto run = (*writer)->Close();
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->bytes, std::filesystem::file_size(run->path));
  ASSERT_EQ(run->marks.size(), 1u);  // small: only the first record's
  EXPECT_EQ(run->marks[0].key, keys[0]);
  EXPECT_EQ(run->marks[0].offset, 0u);
  auto reader = RunReader::Open(*run);
  ASSERT_THAT(reader, IsOk());
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_FALSE((*reader)->done());
    EXPECT_EQ((*reader)->key(), keys[i]);
    ExpectSameList((*reader)->list(), wanted[i]);
    ASSERT_THAT((*reader)->Next(), IsOk());
  }
  EXPECT_TRUE((*reader)->done());
}

TEST_F(RunFileTest, MarksLetAReaderStartNearARange) {
  // About 3 MB of records: a dozen marks.
  const RunFile run = Write(3000, 200);
  ASSERT_GT(run.marks.size(), 8u);
  for (size_t m = 1; m < run.marks.size(); ++m) {
    EXPECT_LT(run.marks[m - 1].key, run.marks[m].key);
    EXPECT_GE(run.marks[m].offset, run.marks[m - 1].offset + kRunMarkBytes);
  }
  // Every mark points at the start of its key's record.
  for (const auto& mark : run.marks) {
    auto reader = RunReader::Open(run, mark.key);
    ASSERT_THAT(reader, IsOk());
    EXPECT_EQ((*reader)->key(), mark.key);
  }
  // Ranges, including ones that start or end between marks and keys.
  const std::vector<std::string>& sorted = keys_;
  std::map<std::string, const PostingList*> by_key;
  for (size_t i = 0; i < keys_.size(); ++i) by_key[keys_[i]] = &lists_[i];
  const std::vector<std::pair<std::string, std::string>> ranges = {
      {"", ""},
      {sorted[100], sorted[1500]},
      {sorted[1500] + "x", ""},
      {"", sorted[10]},
      {run.marks[3].key, run.marks[5].key},
      {sorted.back(), ""},
      {sorted.back() + "z", ""},
  };
  for (const auto& [lo, hi] : ranges) {
    SCOPED_TRACE(lo + " .. " + hi);
    auto reader = RunReader::Open(run, lo, hi);
    ASSERT_THAT(reader, IsOk());
    auto it = std::lower_bound(sorted.begin(), sorted.end(), lo);
    const auto end = hi.empty() ? sorted.end() : std::lower_bound(sorted.begin(), sorted.end(), hi);
    for (; it != end; ++it) {
      ASSERT_FALSE((*reader)->done()) << *it;
      ASSERT_EQ((*reader)->key(), *it);
      ExpectSameList((*reader)->list(), *by_key[*it]);
      ASSERT_THAT((*reader)->Next(), IsOk());
    }
    EXPECT_TRUE((*reader)->done());
  }
}

TEST_F(RunFileTest, DamagedFileIsDataLoss) {
  const RunFile run = Write(50, 20);
  std::filesystem::resize_file(run.path, run.bytes / 2);
  auto reader = RunReader::Open(run);
  ASSERT_THAT(reader, IsOk());
  absl::Status s;
  while (s.ok() && !(*reader)->done()) s = (*reader)->Next();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(RunFileTest, MissingFileIsAnError) {
  RunFile run;
  run.path = dir_.Sub("absent");
  EXPECT_THAT(RunReader::Open(run), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(RunWriter::Open(dir_.Sub("no/such/dir/run")), StatusIs(absl::StatusCode::kInternal));
}

TEST_F(RunFileTest, IoErrorsAreReportedAsSuchNotAsDamage) {
  RunFile run = Write(3000, 200);
  ASSERT_GT(run.bytes, 4u << 16);  // several reads
  FaultFs faults("/run");
  run.env = faults.env();
  faults.FailAtRead(3, FaultFs::Fault::kIoError);
  auto reader = RunReader::Open(run);
  ASSERT_THAT(reader, IsOk());
  absl::Status s;
  while (s.ok() && !(*reader)->done()) s = (*reader)->Next();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal));
  EXPECT_NE(s.message().find("injected"), std::string::npos) << s;
  EXPECT_NE(s.message().find(run.path), std::string::npos) << s;

  // Writes: a full disk at the first flush, in Add (past 1 MiB buffered)
  // or at the close.
  SCRY_SEEDED_RNG(rng, 3);
  for (const size_t postings : {size_t{100}, size_t{300000}}) {
    FaultFs full("/run");
    full.FailAfterBytes(0, FaultFs::Fault::kNoSpace);
    auto writer = RunWriter::Open(dir_.Sub("run2"), full.env());
    ASSERT_THAT(writer, IsOk());
    const PostingList list = RandomList(&rng, 0, postings);
    const PostingList* piece = &list;
    const absl::Status added = (*writer)->Add(keys_[0], std::span(&piece, 1));
    EXPECT_EQ(added.ok(), postings == 100) << added;
    const absl::Status s = added.ok() ? (*writer)->Close().status() : added;
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kResourceExhausted)) << postings;
    EXPECT_NE(s.message().find("run2"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace scry::indexer
