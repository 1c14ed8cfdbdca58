// Posting lists written through ShardWriter into a real RocksDB and read back
// through PostingCursor, checked against the plain vectors they came from.
#include "storage/posting_cursor.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "storage/keys.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

PostingList RandomList(std::mt19937* rng, size_t n, uint32_t universe) {
  PostingList list;
  std::vector<uint32_t> all(universe);
  for (uint32_t i = 0; i < universe; ++i) all[i] = i;
  std::shuffle(all.begin(), all.end(), *rng);
  list.docids.assign(all.begin(), all.begin() + static_cast<long>(n));
  std::sort(list.docids.begin(), list.docids.end());
  std::geometric_distribution<uint32_t> tf(0.5);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t f = 1 + std::min<uint32_t>(tf(*rng), 40);
    list.freqs.push_back(f);
    uint32_t p = (*rng)() % 5;
    for (uint32_t k = 0; k < f; ++k) {
      list.positions.push_back(p);
      p += 1 + (*rng)() % 7;
    }
  }
  return list;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<ShardReader> reader;
  std::vector<PostingList> lists;

  // Writes lists[i] under term "t<i>" (zero-padded so keys sort) with codec.
  void Build(const std::vector<PostingList>& in, uint32_t universe, const char* codec) {
    lists = in;
    ShardWriterOptions options;
    options.codecs = {*CodecByName(codec), *CodecByName(codec)};
    auto writer = ShardWriter::Create(dir.Sub("shard"), options);
    ASSERT_THAT(writer, IsOk());
    for (uint32_t d = 0; d < universe; ++d) {
      char id[32];
      std::snprintf(id, sizeof id, "d%08u", d);
      ASSERT_THAT((*writer)->AddDocument(d, StoredDocument{id, {}}, 10), IsOk());
    }
    for (size_t i = 0; i < lists.size(); ++i) {
      char term[32];
      std::snprintf(term, sizeof term, "t%06zu", i);
      ASSERT_THAT((*writer)->AddPostingList(kTextField, term, lists[i]), IsOk());
    }
    ShardMeta meta;
    meta.language = "english";
    ASSERT_THAT((*writer)->Finish(meta), IsOk());
    auto r = ShardReader::Open(dir.Sub("shard"), ShardReader::Options());
    ASSERT_THAT(r, IsOk());
    reader = std::move(*r);
  }

  std::unique_ptr<PostingCursor> Cursor(size_t i) {
    char term[32];
    std::snprintf(term, sizeof term, "t%06zu", i);
    auto info = reader->FindTerm(kTextField, term);
    EXPECT_THAT(info, IsOk());
    EXPECT_TRUE(info->has_value());
    return std::make_unique<PostingCursor>(reader.get(), kTextField, term, **info);
  }
};

class PostingCursorTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PostingCursorTest, NextVisitsEveryPostingWithFreqsAndPositions) {
  const uint32_t seed = ::scry::testing::TestSeed(1234);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  const uint32_t universe = 30000;
  // Edge sizes around block (128) and chunk (8192) boundaries.
  std::vector<PostingList> in;
  for (size_t n : {1, 2, 127, 128, 129, 255, 256, 1000, 8191, 8192, 8193, 20000}) {
    in.push_back(RandomList(&rng, n, universe));
  }
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.Build(in, universe, GetParam()));
  std::vector<uint32_t> positions;
  for (size_t i = 0; i < in.size(); ++i) {
    auto c = f.Cursor(i);
    size_t pos_index = 0;
    for (size_t k = 0; k < in[i].docids.size(); ++k) {
      ASSERT_EQ(c->docid(), in[i].docids[k]) << "list " << i << " posting " << k;
      ASSERT_EQ(c->freq(), in[i].freqs[k]);
      // Positions for every other posting, so skipping over some is tested.
      if (k % 2 == 0) {
        ASSERT_THAT(c->Positions(&positions), IsOk());
        std::vector<uint32_t> want(in[i].positions.begin() + pos_index,
                                   in[i].positions.begin() + pos_index + in[i].freqs[k]);
        ASSERT_EQ(positions, want);
      }
      pos_index += in[i].freqs[k];
      c->Next();
    }
    EXPECT_EQ(c->docid(), kEndDocid);
    EXPECT_THAT(c->status(), IsOk());
  }
}

TEST_P(PostingCursorTest, NextGeqMatchesLowerBound) {
  const uint32_t seed = ::scry::testing::TestSeed(99);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  const uint32_t universe = 50000;
  std::vector<PostingList> in = {RandomList(&rng, 20000, universe), RandomList(&rng, 300, universe),
                                 RandomList(&rng, 1, universe)};
  Fixture f;
  ASSERT_NO_FATAL_FAILURE(f.Build(in, universe, GetParam()));
  for (size_t i = 0; i < in.size(); ++i) {
    for (int trial = 0; trial < 50; ++trial) {
      auto c = f.Cursor(i);
      uint32_t target = 0;
      while (true) {
        target += rng() % (trial % 2 ? 5000 : 60);
        c->NextGeq(target);
        auto it = std::lower_bound(in[i].docids.begin(), in[i].docids.end(), target);
        if (it == in[i].docids.end()) {
          ASSERT_EQ(c->docid(), kEndDocid);
          break;
        }
        ASSERT_EQ(c->docid(), *it) << "target " << target;
        ASSERT_EQ(c->freq(), in[i].freqs[it - in[i].docids.begin()]);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, PostingCursorTest, ::testing::Values("varint", "bitpack"));

TEST(PostingFormat, CorruptChunkIsDataLossNotCrash) {
  SCRY_SEEDED_RNG(rng, 7);
  PostingList list = RandomList(&rng, 1000, 5000);
  auto enc = EncodePostingList(list, {*CodecByName("bitpack"), *CodecByName("varint")});
  ASSERT_THAT(enc, IsOk());
  const std::string good = enc->posting_chunks[0];
  uint32_t docids[kBlockSize], freqs[kBlockSize];
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    if (trial % 3 == 0) {
      bad.resize(rng() % bad.size());
    } else {
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    auto view = PostingChunkView::Parse(bad);
    if (!view.ok()) {
      EXPECT_THAT(view, StatusIs(absl::StatusCode::kDataLoss));
      continue;
    }
    for (uint32_t b = 0; b < view->num_blocks(); ++b) {
      absl::Status s = view->DecodeBlock(b, docids, freqs);
      if (!s.ok()) {
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss));
      }
    }
  }
}

TEST(PostingFormat, TermInfoRoundTrip) {
  TermInfo info;
  info.df = 5;
  info.total_tf = 1ull << 40;
  info.max_tf = 77;
  info.chunk_last_docids = {3, 9000, 123456};
  auto back = TermInfo::Decode(info.Encode());
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->df, 5u);
  EXPECT_EQ(back->total_tf, 1ull << 40);
  EXPECT_EQ(back->max_tf, 77u);
  EXPECT_EQ(back->chunk_last_docids, info.chunk_last_docids);
  EXPECT_THAT(TermInfo::Decode(info.Encode().substr(0, 3)), StatusIs(absl::StatusCode::kDataLoss));
  // Inline lists: only with one chunk, and they round-trip.
  EXPECT_THAT(TermInfo::Decode(info.Encode() + "x"), StatusIs(absl::StatusCode::kDataLoss));
  info.chunk_last_docids = {9};
  info.inline_postings = "post";
  info.inline_positions = "pos";
  back = TermInfo::Decode(info.Encode());
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->inline_postings, "post");
  EXPECT_EQ(back->inline_positions, "pos");
  info.chunk_last_docids = {9, 10};
  EXPECT_THAT(TermInfo::Decode(info.Encode()), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(PostingFormat, RejectsUnsortedInput) {
  PostingList list{{3, 2}, {1, 1}, {0, 0}};
  EXPECT_THAT(EncodePostingList(list, {*CodecByName("varint"), *CodecByName("varint")}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PostingFormat, EncoderInPiecesGivesTheBytesOfTheWholeList) {
  // The streaming encoder (the build's merge of sorted runs) against the
  // whole-list encoder, the reference: random lists cut at random places,
  // with and without document lengths, lists of one block to several chunks.
  const PostingCodecs codecs{*CodecByName("simdbp128"), *CodecByName("pfor"), *CodecByName("pfor")};
  SCRY_SEEDED_RNG(rng, 20261203);
  for (int round = 0; round < 60; ++round) {
    const size_t n = round % 6 == 0 ? 1 + rng() % 128 : 1 + rng() % 40000;
    const uint32_t universe = static_cast<uint32_t>(n + rng() % (3 * n + 10));
    const PostingList whole = RandomList(&rng, n, universe);
    std::vector<uint32_t> lengths;
    if (round % 2 == 0) {
      for (uint32_t d = 0; d < universe; ++d) lengths.push_back(1 + rng() % 500);
    }
    auto expected = EncodePostingList(whole, codecs, lengths);
    ASSERT_THAT(expected, IsOk());
    PostingListEncoder e(codecs, lengths);
    std::vector<std::string> postings, positions;
    size_t i = 0, pi = 0;
    while (i < n) {
      // Pieces of 0 to ~3 chunks, some exactly at chunk boundaries.
      size_t len = rng() % 4 == 0 ? 8192 - (i % 8192) : rng() % 20000;
      len = std::min(len, n - i);
      PostingList piece;
      size_t positions_len = 0;
      for (size_t k = i; k < i + len; ++k) positions_len += whole.freqs[k];
      piece.docids.assign(whole.docids.begin() + i, whole.docids.begin() + i + len);
      piece.freqs.assign(whole.freqs.begin() + i, whole.freqs.begin() + i + len);
      piece.positions.assign(whole.positions.begin() + pi,
                             whole.positions.begin() + pi + positions_len);
      ASSERT_THAT(e.Add(piece), IsOk());
      if (rng() % 2 == 0) e.TakeChunks(&postings, &positions);
      i += len;
      pi += positions_len;
    }
    auto rest = e.Finish();
    ASSERT_THAT(rest, IsOk());
    postings.insert(postings.end(), rest->posting_chunks.begin(), rest->posting_chunks.end());
    positions.insert(positions.end(), rest->position_chunks.begin(), rest->position_chunks.end());
    EXPECT_EQ(rest->info.Encode(), expected->info.Encode()) << "round " << round << " n " << n;
    EXPECT_TRUE(postings == expected->posting_chunks) << "round " << round;
    EXPECT_TRUE(positions == expected->position_chunks) << "round " << round;
  }
}

TEST(PostingFormat, EncoderInPiecesRejectsPiecesOutOfOrder) {
  const PostingCodecs codecs{*CodecByName("varint"), *CodecByName("varint")};
  PostingListEncoder e(codecs);
  ASSERT_THAT(e.Add(PostingList{{1, 5}, {1, 1}, {0, 0}}), IsOk());
  EXPECT_THAT(e.Add(PostingList{{5, 9}, {1, 1}, {0, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  PostingListEncoder empty(codecs);
  ASSERT_THAT(empty.Add(PostingList{}), IsOk());
  EXPECT_THAT(empty.Finish(), StatusIs(absl::StatusCode::kInvalidArgument));
  PostingListEncoder bad(codecs);
  EXPECT_THAT(bad.Add(PostingList{{1}, {2}, {4, 3}}), IsOk());  // positions: checked at encoding
  EXPECT_THAT(bad.Finish(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace scry::storage
