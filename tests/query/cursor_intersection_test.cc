// CursorIntersection over posting lists in a real RocksDB shard, against
// std::set_intersection of the plain lists: 2 to 4 cursors of very different
// densities (ratios up to 1:1000), walked with Next-like and random targets.
#include "query/cursor_intersection.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <random>

#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "tests/query/intersection_check.h"
#include "tests/test_util.h"

namespace scry::query {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;
using storage::kEndDocid;
using storage::PostingCursor;
using storage::PostingList;

constexpr uint32_t kUniverse = 200000;

PostingList RandomList(std::mt19937* rng, double density) {
  PostingList list;
  std::bernoulli_distribution keep(density);
  for (uint32_t d = 0; d < kUniverse; ++d) {
    if (!keep(*rng)) continue;
    list.docids.push_back(d);
    list.freqs.push_back(1 + (*rng)() % 3);
    for (uint32_t k = 0; k < list.freqs.back(); ++k) list.positions.push_back(k);
  }
  if (list.docids.empty()) {  // lists are never empty
    list.docids.push_back((*rng)() % kUniverse);
    list.freqs.push_back(1);
    list.positions.push_back(0);
  }
  return list;
}

class CursorIntersectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SCRY_SEEDED_RNG(rng, 7);
    for (double density : {0.0001, 0.001, 0.005, 0.02, 0.1, 0.5, 0.9, 1.0}) {
      lists_.push_back(RandomList(&rng, density));
    }
    // Two lists sharing most docids, and a clustered one.
    lists_.push_back(lists_[5]);
    {
      PostingList& l = lists_.back();
      l.positions.clear();
      for (size_t i = 0; i < l.docids.size(); ++i) {
        l.freqs[i] = i % 7 == 0 ? 2 : 1;
        for (uint32_t k = 0; k < l.freqs[i]; ++k) l.positions.push_back(k);
      }
    }
    PostingList clustered;
    for (uint32_t d = 50000; d < 60000; ++d) {
      clustered.docids.push_back(d);
      clustered.freqs.push_back(1);
      clustered.positions.push_back(0);
    }
    lists_.push_back(clustered);

    path_ = dir_.Sub("shard");
    auto writer = storage::ShardWriter::Create(path_, storage::ShardWriterOptions());
    ASSERT_THAT(writer, IsOk());
    for (uint32_t d = 0; d < kUniverse; ++d) {
      char id[32];
      std::snprintf(id, sizeof id, "d%08u", d);
      ASSERT_THAT((*writer)->AddDocument(d, storage::StoredDocument{id, {}}, 10), IsOk());
    }
    for (size_t i = 0; i < lists_.size(); ++i) {
      ASSERT_THAT((*writer)->AddPostingList(storage::kTextField, Term(i), lists_[i]), IsOk());
    }
    storage::ShardMeta meta;
    meta.language = "english";
    ASSERT_THAT((*writer)->Finish(meta), IsOk());
    auto reader = storage::ShardReader::Open(path_, storage::ShardReader::Options());
    ASSERT_THAT(reader, IsOk());
    reader_ = std::move(*reader);
  }

  static std::string Term(size_t i) {  // zero-padded: terms are added in key order
    char term[32];
    std::snprintf(term, sizeof term, "t%03zu", i);
    return term;
  }

  std::unique_ptr<PostingCursor> Cursor(size_t i) {
    auto info = reader_->FindTerm(storage::kTextField, Term(i));
    EXPECT_THAT(info, IsOk());
    return std::make_unique<PostingCursor>(reader_.get(), storage::kTextField, Term(i), **info);
  }

  std::vector<uint32_t> Expected(const std::vector<size_t>& which) {
    std::vector<uint32_t> acc = lists_[which[0]].docids;
    for (size_t k = 1; k < which.size(); ++k) {
      std::vector<uint32_t> next;
      const auto& b = lists_[which[k]].docids;
      std::set_intersection(acc.begin(), acc.end(), b.begin(), b.end(), std::back_inserter(next));
      acc = std::move(next);
    }
    return acc;
  }

  uint32_t FreqOf(size_t list, uint32_t docid) {
    const auto& l = lists_[list];
    const size_t at = std::lower_bound(l.docids.begin(), l.docids.end(), docid) - l.docids.begin();
    return l.freqs[at];
  }

  TempDir dir_;
  std::string path_;
  std::vector<PostingList> lists_;
  std::unique_ptr<storage::ShardReader> reader_;
};

TEST_F(CursorIntersectionTest, EqualsSetIntersection) {
  SCRY_SEEDED_RNG(rng, 11);
  for (int round = 0; round < 300; ++round) {
    const size_t k = 2 + rng() % 3;
    std::vector<size_t> which;
    for (size_t i = 0; i < k; ++i) which.push_back(rng() % lists_.size());
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const std::vector<uint32_t> expected = Expected(which);

    std::vector<std::unique_ptr<PostingCursor>> owned;
    std::vector<PostingCursor*> cursors;
    for (size_t i : which) {
      owned.push_back(Cursor(i));
      cursors.push_back(owned.back().get());
    }
    CheckIntersection(
        cursors, expected, [&](size_t c, uint32_t d) { return FreqOf(which[c], d); },
        /*jumps=*/round % 2 == 1, &rng);
  }
}

}  // namespace
}  // namespace scry::query
