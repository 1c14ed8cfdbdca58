// The term dictionary and the chunks a ShardReader keeps in memory
// (storage/memory_lists.h) against their plain reference, the RocksDB reads
// (FindTermStored, ReadChunkStored), on a real shard of random lists: short
// (inline), one chunk and several chunks, in the catch-all and a named field.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "storage/keys.h"
#include "storage/posting_cursor.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

constexpr uint32_t kDocs = 20000;

PostingList RandomList(std::mt19937* rng, size_t n) {
  PostingList list;
  std::vector<uint32_t> docids;
  while (docids.size() < n) {
    for (size_t i = docids.size(); i < n; ++i) docids.push_back((*rng)() % kDocs);
    std::sort(docids.begin(), docids.end());
    docids.erase(std::unique(docids.begin(), docids.end()), docids.end());
  }
  list.docids = docids;
  for (size_t i = 0; i < n; ++i) {
    // Many positions with wide gaps: positions outweigh postings, as in
    // real indexes.
    const uint32_t f = 1 + (*rng)() % 16;
    list.freqs.push_back(f);
    for (uint32_t k = 0, p = 0; k < f; ++k) list.positions.push_back(p += 1 + (*rng)() % 5000);
  }
  return list;
}

struct Term {
  uint8_t field;
  std::string text;
};

class MemoryListsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const uint32_t seed = ::scry::testing::TestSeed(1818);
    SCRY_SEED_TRACE(seed);
    std::mt19937 rng(seed);
    ShardWriterOptions options;
    options.field_names = {"title"};
    auto writer = ShardWriter::Create(dir_.Sub("shard"), options);
    ASSERT_THAT(writer, IsOk());
    const uint32_t lengths[2] = {10, 3};
    for (uint32_t d = 0; d < kDocs; ++d) {
      ASSERT_THAT((*writer)->ClaimId("d" + std::to_string(d), d), IsOk());
      ASSERT_THAT((*writer)->AddDocument(d, StoredDocument{"d" + std::to_string(d), {}}, lengths),
                  IsOk());
    }
    // Terms that are prefixes of one another ("a", "aa", ...) check the
    // order of chunk keys against term keys.
    std::vector<std::string> texts;
    for (int i = 0; i < 300; ++i) {
      std::string t(1 + rng() % 3, static_cast<char>('a' + rng() % 3));
      t += std::to_string(rng() % 50);
      if (rng() % 4 == 0) t.resize(1 + rng() % 2);
      texts.push_back(t);
    }
    std::sort(texts.begin(), texts.end());
    texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
    for (uint8_t field : {kTextField, uint8_t{1}}) {
      for (const std::string& t : texts) {
        const uint32_t shape = rng() % 10;
        const size_t n = shape < 5   ? 1 + rng() % 20
                         : shape < 8 ? 100 + rng() % 3000
                                     : 9000 + rng() % 10000;
        ASSERT_THAT((*writer)->AddPostingList(field, t, RandomList(&rng, n)), IsOk());
        terms_.push_back({field, t});
      }
    }
    ShardMeta meta;
    meta.language = "english";
    ASSERT_THAT((*writer)->Finish(meta), IsOk());
  }

  std::unique_ptr<ShardReader> Open(uint64_t memory_lists_bytes, bool dictionary = true) {
    ShardReader::Options options;
    options.memory_lists_bytes = memory_lists_bytes;
    options.memory_dictionary = dictionary;
    auto r = ShardReader::Open(dir_.Sub("shard"), options);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? std::move(*r) : nullptr;
  }

  // Every lookup and chunk read of `reader` equals the RocksDB reference.
  void ExpectSameAsStored(const ShardReader& reader) {
    for (const Term& t : terms_) {
      SCOPED_TRACE(std::to_string(t.field) + ":" + t.text);
      auto got = reader.FindTerm(t.field, t.text);
      auto want = reader.FindTermStored(t.field, t.text);
      ASSERT_THAT(got, IsOk());
      ASSERT_THAT(want, IsOk());
      ASSERT_TRUE(got->has_value());
      ASSERT_TRUE(want->has_value());
      EXPECT_EQ((*got)->Encode(), (*want)->Encode());
      const uint32_t chunks = static_cast<uint32_t>((*want)->chunk_last_docids.size());
      for (bool positions : {false, true}) {
        // One past the last chunk is missing in both.
        for (uint32_t c = 0; c <= chunks; ++c) {
          PinnedValue a, b;
          const absl::Status sa = reader.ReadChunk(t.field, t.text, c, positions, &a);
          const absl::Status sb = reader.ReadChunkStored(t.field, t.text, c, positions, &b);
          EXPECT_EQ(sa.code(), sb.code()) << "chunk " << c << " " << sa << " " << sb;
          if (c == chunks || (*want)->is_inline()) {
            EXPECT_THAT(sa, StatusIs(absl::StatusCode::kDataLoss));
          } else {
            ASSERT_THAT(sa, IsOk());
            EXPECT_EQ(a.view(), b.view());
          }
        }
      }
    }
    // Absent terms, fields and neighbours of present terms.
    for (const std::string& absent : {std::string("zz"), std::string("a0x"), std::string("")}) {
      for (uint8_t field : {kTextField, uint8_t{1}, uint8_t{7}}) {
        auto got = reader.FindTerm(field, absent);
        ASSERT_THAT(got, IsOk());
        EXPECT_FALSE(got->has_value());
        auto want = reader.FindTermStored(field, absent);
        ASSERT_THAT(want, IsOk());
        EXPECT_FALSE(want->has_value());
        PinnedValue v;
        EXPECT_THAT(reader.ReadChunk(field, absent, 0, false, &v),
                    StatusIs(absl::StatusCode::kDataLoss));
      }
    }
  }

  TempDir dir_;
  std::vector<Term> terms_;
};

TEST_F(MemoryListsTest, InMemoryReadsEqualRocksDbReads) {
  auto reader = Open(uint64_t{1} << 30);
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->chunks_in_memory(false));
  EXPECT_TRUE(reader->chunks_in_memory(true));
  ExpectSameAsStored(*reader);
}

TEST_F(MemoryListsTest, BudgetZeroReadsThroughRocksDb) {
  auto reader = Open(0);
  ASSERT_NE(reader, nullptr);
  EXPECT_FALSE(reader->chunks_in_memory(false));
  EXPECT_FALSE(reader->chunks_in_memory(true));
  ExpectSameAsStored(*reader);
}

TEST_F(MemoryListsTest, WithoutDictionaryEverythingReadsThroughRocksDb) {
  auto reader = Open(uint64_t{1} << 30, /*dictionary=*/false);
  ASSERT_NE(reader, nullptr);
  EXPECT_FALSE(reader->chunks_in_memory(false));
  EXPECT_FALSE(reader->chunks_in_memory(true));
  ExpectSameAsStored(*reader);
}

TEST_F(MemoryListsTest, PostingsFitPositionsDoNot) {
  // Find the postings' size from a reader holding both, then a budget that
  // holds them but not the positions as well.
  auto all = Open(uint64_t{1} << 30);
  ASSERT_NE(all, nullptr);
  auto none = Open(0);
  ASSERT_NE(none, nullptr);
  auto stats = none->Stats();
  ASSERT_THAT(stats, IsOk());
  const uint64_t postings = stats->bytes_per_cf.at(kPostingsCf);
  const uint64_t positions = stats->bytes_per_cf.at(kPositionsCf);
  ASSERT_GT(positions, 4 * postings) << "the shard's positions should outweigh its postings";
  auto reader = Open(3 * postings);
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->chunks_in_memory(false));
  EXPECT_FALSE(reader->chunks_in_memory(true));
  ExpectSameAsStored(*reader);
}

TEST_F(MemoryListsTest, CursorsWalkAlikeFromMemoryAndRocksDb) {
  auto memory = Open(uint64_t{1} << 30);
  auto stored = Open(0);
  ASSERT_NE(memory, nullptr);
  ASSERT_NE(stored, nullptr);
  std::vector<uint32_t> pa, pb;
  for (const Term& t : terms_) {
    SCOPED_TRACE(t.text);
    auto info = memory->FindTerm(t.field, t.text);
    ASSERT_THAT(info, IsOk());
    ASSERT_TRUE(info->has_value());
    PostingCursor a(memory.get(), t.field, std::string_view(t.text), &**info);
    PostingCursor b(stored.get(), t.field, t.text, **info);
    for (; a.docid() != kEndDocid; a.Next(), b.Next()) {
      ASSERT_EQ(a.docid(), b.docid());
      ASSERT_EQ(a.freq(), b.freq());
      if (a.docid() % 5 == 0) {
        ASSERT_THAT(a.Positions(&pa), IsOk());
        ASSERT_THAT(b.Positions(&pb), IsOk());
        ASSERT_EQ(pa, pb);
      }
    }
    EXPECT_EQ(b.docid(), kEndDocid);
    EXPECT_THAT(a.status(), IsOk());
    EXPECT_THAT(b.status(), IsOk());
  }
}

}  // namespace
}  // namespace scry::storage
