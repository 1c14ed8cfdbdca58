// Impacts (tf, doc length frontiers): computed frontiers against a brute
// force, their encoding, and the stored per-block and per-list impacts of
// lists written into a real RocksDB shard, which must dominate every posting.
#include <algorithm>
#include <cstdio>
#include <random>

#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "storage/keys.h"
#include "storage/posting_cursor.h"
#include "storage/posting_format.h"
#include "storage/shard.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;

bool Dominated(const std::vector<Impact>& impacts, uint32_t tf, uint32_t dl) {
  return std::any_of(impacts.begin(), impacts.end(),
                     [&](const Impact& p) { return p.tf >= tf && p.dl <= dl; });
}

// Strictly ascending in tf and dl: no pair dominates another.
void ExpectFrontierShape(const std::vector<Impact>& impacts) {
  for (size_t i = 1; i < impacts.size(); ++i) {
    EXPECT_LT(impacts[i - 1].tf, impacts[i].tf);
    EXPECT_LT(impacts[i - 1].dl, impacts[i].dl);
  }
}

TEST(ImpactsTest, FrontierEqualsBruteForce) {
  SCRY_SEEDED_RNG(rng, 41);
  for (int round = 0; round < 2000; ++round) {
    const size_t n = 1 + rng() % 128;
    const uint32_t max_tf = 1 + rng() % (round % 2 ? 5 : 300);
    const uint32_t max_dl = 1 + rng() % (round % 3 ? 50 : 100000);
    std::vector<uint32_t> tfs(n), dls(n);
    for (size_t i = 0; i < n; ++i) {
      tfs[i] = 1 + rng() % max_tf;
      dls[i] = rng() % max_dl;
    }
    // Brute force: the postings no other posting strictly improves on.
    std::vector<Impact> expected;
    for (size_t i = 0; i < n; ++i) {
      bool dominated = false;
      for (size_t j = 0; j < n && !dominated; ++j) {
        dominated = (tfs[j] >= tfs[i] && dls[j] <= dls[i]) && (tfs[j] > tfs[i] || dls[j] < dls[i]);
      }
      if (!dominated) expected.push_back(Impact{tfs[i], dls[i]});
    }
    std::sort(expected.begin(), expected.end(),
              [](const Impact& a, const Impact& b) { return a.tf < b.tf; });
    expected.erase(std::unique(expected.begin(), expected.end()), expected.end());

    const std::vector<Impact> exact = ComputeImpacts(tfs.data(), dls.data(), n, 0);
    ASSERT_EQ(exact, expected) << "round " << round;
    ExpectFrontierShape(exact);

    for (size_t cap : {1, 2, 3, 8}) {
      const std::vector<Impact> capped = ComputeImpacts(tfs.data(), dls.data(), n, cap);
      EXPECT_LE(capped.size(), cap);
      ExpectFrontierShape(capped);
      for (size_t i = 0; i < n; ++i) EXPECT_TRUE(Dominated(capped, tfs[i], dls[i]));
    }
    // Unknown lengths: one pair, the largest tf at length 0.
    const std::vector<Impact> no_lengths = ComputeImpacts(tfs.data(), nullptr, n, 8);
    ASSERT_EQ(no_lengths.size(), 1u);
    EXPECT_EQ(no_lengths[0].tf, *std::max_element(tfs.begin(), tfs.end()));
    EXPECT_EQ(no_lengths[0].dl, 0u);
  }
}

TEST(ImpactsTest, MergeIsTheFrontierOfTheUnion) {
  SCRY_SEEDED_RNG(rng, 42);
  for (int round = 0; round < 500; ++round) {
    std::vector<uint32_t> tfs(200), dls(200);
    for (size_t i = 0; i < 200; ++i) {
      tfs[i] = 1 + rng() % 20;
      dls[i] = rng() % 500;
    }
    const auto a = ComputeImpacts(tfs.data(), dls.data(), 90, 0);
    const auto b = ComputeImpacts(tfs.data() + 90, dls.data() + 90, 110, 0);
    EXPECT_EQ(MergeImpacts(a, b, 0), ComputeImpacts(tfs.data(), dls.data(), 200, 0));
  }
}

TEST(ImpactsTest, EncodingRoundTripsAndRejectsCorruption) {
  SCRY_SEEDED_RNG(rng, 43);
  for (int round = 0; round < 1000; ++round) {
    std::vector<uint32_t> tfs(64), dls(64);
    for (size_t i = 0; i < 64; ++i) {
      tfs[i] = 1 + (round == 0 ? 0xfffffffeu : rng() % 1000);
      dls[i] = round == 1 ? 0xffffffffu - static_cast<uint32_t>(i) : rng();
    }
    const auto impacts = ComputeImpacts(tfs.data(), dls.data(), 64, 16);
    std::string encoded;
    EncodeImpacts(impacts, &encoded);
    std::vector<Impact> decoded;
    ASSERT_THAT(DecodeImpacts(encoded, &decoded), IsOk());
    EXPECT_EQ(decoded, impacts);
    // A cut inside a pair is an error; no cut reads past the end (ASan).
    for (size_t cut = 0; cut < encoded.size(); ++cut) {
      const std::string prefix = encoded.substr(0, cut);
      absl::Status s = DecodeImpacts(prefix, &decoded);
      if (!s.ok()) {
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss));
      }
    }
  }
  // tf past 2^32 - 1.
  std::string bad;
  EncodeImpacts({Impact{0xffffffffu, 1}}, &bad);
  EncodeImpacts({Impact{5, 1}}, &bad);
  std::vector<Impact> out;
  EXPECT_THAT(DecodeImpacts(bad, &out), StatusIs(absl::StatusCode::kDataLoss));
}

// Lists of several sizes in a real shard whose documents have random lengths:
// every block's impacts and the list's impacts dominate every posting.
TEST(ImpactsTest, StoredImpactsBoundEveryPosting) {
  SCRY_SEEDED_RNG(rng, 44);
  const uint32_t universe = 60000;
  std::vector<uint32_t> lengths(universe);
  for (auto& l : lengths) l = 1 + rng() % 3000;
  std::vector<PostingList> lists;
  for (size_t n : {1, 2, 127, 128, 129, 1000, 8192, 8193, 30000}) {
    PostingList list;
    for (uint32_t d = 0; d < universe && list.docids.size() < n; ++d) {
      if (rng() % universe < n * 2 || universe - d <= n - list.docids.size()) {
        list.docids.push_back(d);
        const uint32_t f =
            1 + std::min<uint32_t>(rng() % 1000 < 900 ? rng() % 3 : rng() % 200, 300);
        list.freqs.push_back(f);
        for (uint32_t k = 0; k < f; ++k) list.positions.push_back(k * 2);
      }
    }
    lists.push_back(std::move(list));
  }

  TempDir dir;
  for (const char* docid_codec : {"simdbp128", "bitpack"}) {
    SCOPED_TRACE(docid_codec);
    const std::string path = dir.Sub(docid_codec);
    ShardWriterOptions options;
    options.codecs = {*CodecByName(docid_codec), *CodecByName("pfor"), nullptr};
    auto writer = ShardWriter::Create(path, options);
    ASSERT_THAT(writer, IsOk());
    for (uint32_t d = 0; d < universe; ++d) {
      char id[32];
      std::snprintf(id, sizeof id, "d%08u", d);  // ids sort like docids
      ASSERT_THAT((*writer)->AddDocument(d, StoredDocument{id, {}}, lengths[d]), IsOk());
    }
    for (size_t i = 0; i < lists.size(); ++i) {
      char term[32];
      std::snprintf(term, sizeof term, "t%06zu", i);
      ASSERT_THAT((*writer)->AddPostingList(kTextField, term, lists[i]), IsOk());
    }
    ShardMeta meta;
    meta.language = "english";
    ASSERT_THAT((*writer)->Finish(meta), IsOk());
    auto reader = ShardReader::Open(path, ShardReader::Options());
    ASSERT_THAT(reader, IsOk());

    for (size_t i = 0; i < lists.size(); ++i) {
      const PostingList& list = lists[i];
      char term[32];
      std::snprintf(term, sizeof term, "t%06zu", i);
      auto info = (*reader)->FindTerm(kTextField, term);
      ASSERT_THAT(info, IsOk());
      ASSERT_TRUE(info->has_value());
      // Only lists of several blocks store impacts.
      EXPECT_EQ((*info)->impacts.empty(), list.docids.size() <= kBlockSize);
      PostingCursor cursor(reader->get(), kTextField, term, **info);
      std::vector<Impact> list_impacts, block_impacts;
      ASSERT_THAT(cursor.ListImpacts(&list_impacts), IsOk());
      EXPECT_LE(list_impacts.size(), kMaxTermImpacts);
      // With every posting in the cap, the list frontier is exact.
      const auto exact = [&] {
        std::vector<uint32_t> dls;
        for (uint32_t d : list.docids) dls.push_back(lengths[d]);
        return ComputeImpacts(list.freqs.data(), dls.data(), dls.size(), 0);
      }();
      if (exact.size() <= kMaxTermImpacts) {
        EXPECT_EQ(list_impacts, exact);
      }
      uint32_t block_last = kEndDocid - 1;
      for (size_t k = 0; k < list.docids.size(); ++k) {
        ASSERT_EQ(cursor.docid(), list.docids[k]);
        const uint32_t tf = list.freqs[k], dl = lengths[list.docids[k]];
        EXPECT_TRUE(Dominated(list_impacts, tf, dl)) << "posting " << k;
        if (block_last != cursor.block_last_docid()) {
          block_last = cursor.block_last_docid();
          ASSERT_THAT(cursor.BlockImpacts(&block_impacts), IsOk());
          EXPECT_LE(block_impacts.size(),
                    list.docids.size() <= kBlockSize ? kMaxTermImpacts : kMaxBlockImpacts);
          ExpectFrontierShape(block_impacts);
        }
        EXPECT_TRUE(Dominated(block_impacts, tf, dl)) << "posting " << k;
        EXPECT_EQ(cursor.freq(), tf);
        cursor.Next();
      }
      EXPECT_EQ(cursor.docid(), kEndDocid);
      EXPECT_THAT(cursor.status(), IsOk());

      // Shallow moves: ascending targets, the cursor itself sometimes moved
      // up to them; each answer is the last docid of the block that holds
      // the first posting >= target (blocks are 128 postings from the start),
      // and its impacts dominate that block's postings.
      PostingCursor walker(reader->get(), kTextField, term, **info);
      const size_t n = list.docids.size();
      uint32_t target = 0;
      for (int step = 0; step < 200 && target < universe + 10; ++step) {
        target += 1 + rng() % (step % 2 ? 50 : universe / 20);
        const size_t k =
            std::lower_bound(list.docids.begin(), list.docids.end(), target) - list.docids.begin();
        const uint32_t last = walker.ShallowNextGeq(target);
        ASSERT_THAT(walker.status(), IsOk());
        if (k == n) {
          EXPECT_EQ(last, kEndDocid) << "target " << target;
          continue;
        }
        const size_t begin = k / kBlockSize * kBlockSize, end = std::min(begin + kBlockSize, n);
        ASSERT_EQ(last, list.docids[end - 1]) << "target " << target;
        ASSERT_THAT(walker.ShallowBlockImpacts(&block_impacts), IsOk());
        for (size_t j = begin; j < end; ++j) {
          EXPECT_TRUE(Dominated(block_impacts, list.freqs[j], lengths[list.docids[j]]));
        }
        if (rng() % 3 == 0) {
          const uint32_t to = target - rng() % 2;
          walker.NextGeq(to);
          EXPECT_EQ(walker.docid(), *std::lower_bound(list.docids.begin(), list.docids.end(), to));
        }
      }
    }
  }
}

// Pair lists are read by phrases only, never by a pruning evaluator, so they
// store no impacts: same postings and positions as a word's list, impact
// bytes 0 in every block, and a cursor asked for their bounds reports
// DataLoss rather than a bound it does not have.
TEST(ImpactsTest, PairListsStoreNoImpacts) {
  SCRY_SEEDED_RNG(rng, 45);
  const uint32_t universe = 50000;
  PostingList list;
  for (uint32_t d = 0; d < universe; ++d) {
    if (rng() % 4 != 0) continue;
    list.docids.push_back(d);
    const uint32_t f = 1 + rng() % 4;
    list.freqs.push_back(f);
    for (uint32_t k = 0; k < f; ++k) list.positions.push_back(k * 3 + rng() % 3);
  }
  ASSERT_GT(list.docids.size(), 8192u);  // more than one chunk

  // The encoder fed in pieces gives the bytes of the whole-list encoding.
  const PostingCodecs codecs{*CodecByName("simdbp128"), *CodecByName("pfor"), nullptr};
  auto whole = EncodePostingList(list, codecs, {}, /*impacts=*/false);
  ASSERT_THAT(whole, IsOk());
  EXPECT_TRUE(whole->info.impacts.empty());
  PostingListEncoder pieces(codecs, {}, /*impacts=*/false);
  std::vector<std::string> posting_chunks, position_chunks;
  for (size_t begin = 0, pos = 0; begin < list.docids.size();) {
    const size_t end = std::min(list.docids.size(), begin + 1 + rng() % 3000);
    PostingList piece;
    piece.docids.assign(list.docids.begin() + begin, list.docids.begin() + end);
    piece.freqs.assign(list.freqs.begin() + begin, list.freqs.begin() + end);
    size_t n = 0;
    for (uint32_t f : piece.freqs) n += f;
    piece.positions.assign(list.positions.begin() + pos, list.positions.begin() + pos + n);
    pos += n;
    begin = end;
    ASSERT_THAT(pieces.Add(piece), IsOk());
    pieces.TakeChunks(&posting_chunks, &position_chunks);
  }
  auto rest = pieces.Finish();
  ASSERT_THAT(rest, IsOk());
  pieces.TakeChunks(&posting_chunks, &position_chunks);
  for (auto& c : rest->posting_chunks) posting_chunks.push_back(std::move(c));
  for (auto& c : rest->position_chunks) position_chunks.push_back(std::move(c));
  EXPECT_EQ(posting_chunks, whole->posting_chunks);
  EXPECT_EQ(position_chunks, whole->position_chunks);
  EXPECT_EQ(rest->info.Encode(), whole->info.Encode());
  for (const std::string& chunk : whole->posting_chunks) {
    auto view = PostingChunkView::Parse(chunk);
    ASSERT_THAT(view, IsOk());
    for (uint32_t b = 0; b < view->num_blocks(); ++b) EXPECT_EQ(view->header(b).impact_bytes, 0);
  }

  TempDir dir;
  ShardWriterOptions options;
  options.codecs = codecs;
  auto writer = ShardWriter::Create(dir.path(), options);
  ASSERT_THAT(writer, IsOk());
  for (uint32_t d = 0; d < universe; ++d) {
    char id[32];
    std::snprintf(id, sizeof id, "d%08u", d);
    ASSERT_THAT((*writer)->AddDocument(d, StoredDocument{id, {}}, 1 + rng() % 500), IsOk());
  }
  const std::string pair = PairTerm("of", "the");
  ASSERT_THAT((*writer)->AddPostingList(kTextField, "the", list), IsOk());
  ASSERT_THAT((*writer)->AddPostingList(kTextField, pair, list), IsOk());
  ShardMeta meta;
  meta.language = "english";
  meta.common_terms = {"of", "the"};
  ASSERT_THAT((*writer)->Finish(meta), IsOk());
  auto reader = ShardReader::Open(dir.path(), ShardReader::Options());
  ASSERT_THAT(reader, IsOk());
  auto word_info = (*reader)->FindTerm(kTextField, "the");
  auto pair_info = (*reader)->FindTerm(kTextField, pair);
  ASSERT_THAT(word_info, IsOk());
  ASSERT_THAT(pair_info, IsOk());
  ASSERT_TRUE(word_info->has_value() && pair_info->has_value());
  EXPECT_FALSE((*word_info)->impacts.empty());
  EXPECT_TRUE((*pair_info)->impacts.empty());
  EXPECT_EQ((*pair_info)->df, (*word_info)->df);
  EXPECT_EQ((*pair_info)->total_tf, (*word_info)->total_tf);

  PostingCursor word(reader->get(), kTextField, "the", **word_info);
  PostingCursor pair_cursor(reader->get(), kTextField, pair, **pair_info);
  std::vector<uint32_t> word_positions, pair_positions;
  for (size_t k = 0; k < list.docids.size(); ++k) {
    ASSERT_EQ(word.docid(), list.docids[k]);
    ASSERT_EQ(pair_cursor.docid(), list.docids[k]);
    EXPECT_EQ(pair_cursor.freq(), list.freqs[k]);
    ASSERT_THAT(word.Positions(&word_positions), IsOk());
    ASSERT_THAT(pair_cursor.Positions(&pair_positions), IsOk());
    EXPECT_EQ(pair_positions, word_positions);
    word.Next();
    pair_cursor.Next();
  }
  EXPECT_EQ(pair_cursor.docid(), kEndDocid);
  EXPECT_THAT(pair_cursor.status(), IsOk());

  PostingCursor bounds(reader->get(), kTextField, pair, **pair_info);
  std::vector<Impact> impacts;
  EXPECT_THAT(bounds.ListImpacts(&impacts), StatusIs(absl::StatusCode::kDataLoss));
  PostingCursor block(reader->get(), kTextField, pair, **pair_info);
  EXPECT_THAT(block.BlockImpacts(&impacts), StatusIs(absl::StatusCode::kDataLoss));
  PostingCursor shallow(reader->get(), kTextField, pair, **pair_info);
  shallow.ShallowNextGeq(list.docids[3 * kBlockSize]);
  EXPECT_THAT(shallow.ShallowBlockImpacts(&impacts), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace scry::storage
