// File: tests/storage/block_codec_test.cc
//
// Every codec in CodecNames() runs the same parameterized body: round trips
// over sizes, bit widths and random values, truncation, random corruption,
// append semantics and concatenated blocks. Codec-specific layout checks and
// the registry follow as plain tests.

#include "storage/block_codec.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::ElementsAreArray;

constexpr size_t kSizes[] = {0, 1, 2, 127, 128};

// Decodes from an exactly-sized heap copy of `bytes`, so that ASan reports any
// read past the end (a std::string may have slack capacity).
absl::StatusOr<size_t> DecodeExact(const BlockCodec& codec, std::string_view bytes, size_t n,
                                   std::vector<uint32_t>* values) {
  const std::vector<char> copy(bytes.begin(), bytes.end());
  values->assign(kBlockSize, 0xdeadbeef);
  auto result = codec.Decode(std::string_view(copy.data(), copy.size()), n, values->data());
  values->resize(n);
  return result;
}

class BlockCodecTest : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    auto codec = CodecByName(GetParam());
    ASSERT_THAT(codec, IsOk());
    codec_ = *codec;
  }

  // Encodes `values`, checks the exact decode, and returns the encoding.
  std::string RoundTrip(const std::vector<uint32_t>& values) {
    std::string encoded;
    codec_->Encode(values.data(), values.size(), &encoded);
    std::vector<uint32_t> decoded;
    auto consumed = DecodeExact(*codec_, encoded, values.size(), &decoded);
    EXPECT_THAT(consumed, IsOk());
    if (consumed.ok()) {
      EXPECT_EQ(*consumed, encoded.size());
    }
    EXPECT_THAT(decoded, ElementsAreArray(values));
    return encoded;
  }

  const BlockCodec* codec_ = nullptr;
};

TEST_P(BlockCodecTest, RegistryAgrees) {
  EXPECT_EQ(codec_->name(), GetParam());
  EXPECT_EQ(CodecById(static_cast<uint8_t>(codec_->id())), codec_);
}

TEST_P(BlockCodecTest, RoundTripAllZeroAndAllMax) {
  for (size_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n=" << n);
    RoundTrip(std::vector<uint32_t>(n, 0));
    RoundTrip(std::vector<uint32_t>(n, 0xFFFFFFFFu));
  }
}

TEST_P(BlockCodecTest, RoundTripEachBitWidth) {
  for (uint32_t width = 0; width <= 32; ++width) {
    const uint32_t max = width == 32 ? 0xFFFFFFFFu : (uint32_t{1} << width) - 1;
    const uint32_t seed = ::scry::testing::TestSeed(1000 + width);
    SCRY_SEED_TRACE(seed);
    std::mt19937 rng(seed);
    std::uniform_int_distribution<uint32_t> dist(0, max);
    for (size_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
      std::vector<uint32_t> values(n);
      for (uint32_t& v : values) v = dist(rng);
      if (n > 0) values[n / 2] = max;  // the block really has this width
      RoundTrip(values);
    }
  }
}

TEST_P(BlockCodecTest, RoundTripRandom) {
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    SCRY_SEEDED_RNG(rng, seed);
    // A random bit width per block, then values up to it.
    const uint32_t width = rng() % 33;
    const uint64_t max = (uint64_t{1} << width) - 1;
    for (size_t n : kSizes) {
      SCOPED_TRACE(::testing::Message() << "seed=" << seed << " n=" << n);
      std::vector<uint32_t> values(n);
      for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & max);
      RoundTrip(values);
    }
  }
}

TEST_P(BlockCodecTest, TruncatedInputIsDataLoss) {
  const uint32_t seed = ::scry::testing::TestSeed(42);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (size_t n : kSizes) {
    for (uint32_t width : {0u, 1u, 7u, 8u, 13u, 31u, 32u}) {
      SCOPED_TRACE(::testing::Message() << "seed=" << seed << " n=" << n << " width=" << width);
      const uint64_t max = (uint64_t{1} << width) - 1;
      std::vector<uint32_t> values(n);
      for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & max);
      if (n > 0) values[0] = static_cast<uint32_t>(max);
      std::string encoded;
      codec_->Encode(values.data(), n, &encoded);
      std::vector<uint32_t> decoded;
      for (size_t len = 0; len < encoded.size(); ++len) {
        EXPECT_THAT(DecodeExact(*codec_, std::string_view(encoded).substr(0, len), n, &decoded),
                    StatusIs(absl::StatusCode::kDataLoss))
            << "prefix length " << len << " of " << encoded.size();
      }
    }
  }
}

TEST_P(BlockCodecTest, CorruptInputNeverCrashes) {
  const uint32_t seed = ::scry::testing::TestSeed(7);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> decoded;
  int ok = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const size_t n = rng() % (kBlockSize + 1);
    const uint64_t max = (uint64_t{1} << (rng() % 33)) - 1;
    std::vector<uint32_t> values(n);
    for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & max);
    std::string encoded;
    codec_->Encode(values.data(), n, &encoded);
    if (encoded.empty()) continue;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      encoded[rng() % encoded.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    if (rng() % 4 == 0) encoded.resize(rng() % (encoded.size() + 1));  // and maybe cut it
    // Decode with the right n and with a random one: either is fine.
    for (size_t decode_n : {n, static_cast<size_t>(rng() % (kBlockSize + 1))}) {
      auto consumed = DecodeExact(*codec_, encoded, decode_n, &decoded);
      if (consumed.ok()) {
        ++ok;
        EXPECT_LE(*consumed, encoded.size()) << "trial " << trial;
      } else {
        EXPECT_THAT(consumed, StatusIs(absl::StatusCode::kDataLoss)) << "trial " << trial;
      }
    }
  }
  RecordProperty("ok_decodes", ok);
}

TEST_P(BlockCodecTest, EncodeAppends) {
  const std::vector<uint32_t> values = {1, 2, 300, 70000, 0xFFFFFFFFu};
  std::string alone;
  codec_->Encode(values.data(), values.size(), &alone);
  std::string out = "prefix";
  codec_->Encode(values.data(), values.size(), &out);
  EXPECT_EQ(out, "prefix" + alone);
}

TEST_P(BlockCodecTest, ConcatenatedBlocksReportBytesConsumed) {
  const uint32_t seed = ::scry::testing::TestSeed(99);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<std::vector<uint32_t>> blocks;
  std::vector<size_t> sizes;
  std::string all;
  for (int b = 0; b < 20; ++b) {
    const size_t n = b < 5 ? kSizes[b] : rng() % (kBlockSize + 1);
    const uint64_t max = (uint64_t{1} << (rng() % 33)) - 1;
    std::vector<uint32_t> values(n);
    for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & max);
    const size_t before = all.size();
    codec_->Encode(values.data(), n, &all);
    sizes.push_back(all.size() - before);
    blocks.push_back(std::move(values));
  }
  std::string_view rest(all);
  std::vector<uint32_t> decoded;
  for (size_t b = 0; b < blocks.size(); ++b) {
    SCOPED_TRACE(::testing::Message() << "block " << b);
    auto consumed = DecodeExact(*codec_, rest, blocks[b].size(), &decoded);
    ASSERT_THAT(consumed, IsOk());
    EXPECT_EQ(*consumed, sizes[b]);
    EXPECT_THAT(decoded, ElementsAreArray(blocks[b]));
    rest.remove_prefix(*consumed);
  }
  EXPECT_TRUE(rest.empty());
}

INSTANTIATE_TEST_SUITE_P(BlockCodec, BlockCodecTest, ::testing::ValuesIn(CodecNames()),
                         [](const ::testing::TestParamInfo<std::string_view>& info) {
                           return std::string(info.param);
                         });

// --- Codec-specific layout ---------------------------------------------------

TEST(BlockCodec, VarintRejectsOverlongAndOversized) {
  const BlockCodec* varint = CodecById(static_cast<uint8_t>(CodecId::kVarint));
  ASSERT_NE(varint, nullptr);
  uint32_t v = 0;
  EXPECT_THAT(varint->Decode("\xff\xff\xff\xff\x0f", 1, &v), IsOk());
  EXPECT_EQ(v, 0xFFFFFFFFu);
  // 33+ bits in five bytes.
  EXPECT_THAT(varint->Decode("\xff\xff\xff\xff\x1f", 1, &v), StatusIs(absl::StatusCode::kDataLoss));
  // Six bytes, even though the value (0) fits.
  EXPECT_THAT(varint->Decode(std::string_view("\x80\x80\x80\x80\x80\x00", 6), 1, &v),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(BlockCodec, BitPackLayout) {
  const BlockCodec* bitpack = CodecById(static_cast<uint8_t>(CodecId::kBitPack));
  ASSERT_NE(bitpack, nullptr);
  const uint32_t values[] = {1, 2, 3, 0, 5};  // width 3, LSB-first
  std::string out;
  bitpack->Encode(values, 5, &out);
  // 001 010 011 000 101 -> bits LSB-first: 0b11010001, 0b01010000 (then pad).
  EXPECT_EQ(out, std::string("\x03\xd1\x50", 3));
  out.clear();
  const uint32_t zeros[3] = {0, 0, 0};
  bitpack->Encode(zeros, 3, &out);
  EXPECT_EQ(out, std::string("\x00", 1));
}

TEST(BlockCodec, BitPackRejectsWidthAbove32) {
  const BlockCodec* bitpack = CodecById(static_cast<uint8_t>(CodecId::kBitPack));
  ASSERT_NE(bitpack, nullptr);
  std::string data(1 + 4 * kBlockSize, '\0');
  uint32_t values[kBlockSize];
  for (int width : {33, 64, 255}) {
    data[0] = static_cast<char>(width);
    EXPECT_THAT(bitpack->Decode(data, 1, values), StatusIs(absl::StatusCode::kDataLoss)) << width;
    EXPECT_THAT(bitpack->Decode(data, 0, values), StatusIs(absl::StatusCode::kDataLoss)) << width;
  }
}

// --- Registry -----------------------------------------------------------------

TEST(BlockCodec, NamesAndIds) {
  // Ids are on-disk contracts: each registered codec keeps its own.
  const std::pair<const char*, int> known[] = {
      {"varint", 1}, {"bitpack", 2}, {"streamvbyte", 3}, {"simdbp128", 4}, {"pfor", 5}};
  EXPECT_THAT(CodecNames(), ::testing::IsSupersetOf({"varint", "bitpack"}));
  for (std::string_view name : CodecNames()) {
    bool listed = false;
    for (const auto& [known_name, id] : known) {
      if (name != known_name) continue;
      listed = true;
      ASSERT_NE(CodecById(static_cast<uint8_t>(id)), nullptr) << name;
      EXPECT_EQ(CodecById(static_cast<uint8_t>(id))->name(), name);
    }
    EXPECT_TRUE(listed) << "codec " << name << " has no pinned id in this test";
  }
}

TEST(BlockCodec, UnknownIdIsNull) {
  for (int id : {0, 6, 42, 255}) EXPECT_EQ(CodecById(static_cast<uint8_t>(id)), nullptr) << id;
}

TEST(BlockCodec, UnknownNameIsInvalidArgument) {
  EXPECT_THAT(CodecByName("zstd"), StatusIs(absl::StatusCode::kInvalidArgument,
                                            "unknown codec 'zstd' (known: varint, bitpack"));
  EXPECT_THAT(CodecByName(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CodecByName("VARINT"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace scry::storage

namespace scry::storage {
namespace {

// Delta coding round trips for every codec (the default and any fused SIMD
// override), including a list starting at docid 0 (prev = 0xffffffff).
TEST(BlockCodecDelta, RoundTripsForEveryCodec) {
  for (std::string_view name : CodecNames()) {
    const BlockCodec* codec = *CodecByName(name);
    for (uint32_t seed = 1; seed <= 40; ++seed) {
      SCOPED_TRACE(std::string(name) + " seed " + std::to_string(seed));
      SCRY_SEEDED_RNG(rng, seed);
      const size_t n = seed == 1 ? 0 : 1 + rng() % kBlockSize;
      const uint32_t max_gap = seed % 3 == 0 ? 3 : seed % 3 == 1 ? 1000 : 20000000;
      uint32_t prev = seed % 2 ? 0xffffffffu : rng() % 1000;
      const uint32_t start_prev = prev;
      std::vector<uint32_t> values(n);
      for (size_t i = 0; i < n; ++i) {
        prev += 1 + rng() % max_gap;
        values[i] = prev;
      }
      std::string out = "x";
      codec->EncodeDelta(values.data(), n, start_prev, &out);
      uint32_t back[kBlockSize];
      auto used = codec->DecodeDelta(std::string_view(out).substr(1), n, start_prev, back);
      ASSERT_TRUE(used.ok()) << used.status();
      EXPECT_EQ(*used, out.size() - 1);
      EXPECT_EQ(std::vector<uint32_t>(back, back + n), values);
    }
  }
}

}  // namespace
}  // namespace scry::storage
