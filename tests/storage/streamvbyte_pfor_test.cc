// File: tests/storage/streamvbyte_pfor_test.cc
//
// Format checks of the "streamvbyte" and "pfor" codecs against plain reference
// decoders of their byte layouts (libstreamvbyte's own decoder for Stream
// VByte, a bit-by-bit reader of the grammar in storage/pfor_codec.cc for
// PFor), the size choices of PFor, and rejection of malformed blocks. Round
// trips, truncation and corruption fuzzing of every registered codec are in
// block_codec_test.cc.

#include <streamvbyte.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "storage/internal_codecs.h"
#include "tests/test_util.h"

namespace scry::storage::internal {
// Defined in storage/streamvbyte_codec.cc.
bool SetStreamVByteSimdForTesting(bool enable);
}  // namespace scry::storage::internal

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::ElementsAreArray;

// A block of n values whose bit widths are drawn uniformly from [0, max_width]
// (so every byte length and bit width shows up), with a fixed seed.
std::vector<uint32_t> RandomBlock(std::mt19937& rng, size_t n, uint32_t max_width) {
  std::vector<uint32_t> values(n);
  for (uint32_t& v : values) {
    const uint32_t width = rng() % (max_width + 1);
    v = width == 0 ? 0
                   : static_cast<uint32_t>(rng() >> (32 - width)) | (uint32_t{1} << (width - 1));
  }
  return values;
}

// Decodes from an exactly sized heap copy, so that ASan sees any overread.
absl::StatusOr<size_t> DecodeExact(const BlockCodec& codec, std::string_view bytes, size_t n,
                                   std::vector<uint32_t>* values, bool delta = false,
                                   uint32_t prev = 0) {
  const std::vector<char> copy(bytes.begin(), bytes.end());
  values->assign(kBlockSize, 0xdeadbeef);
  const std::string_view view(copy.data(), copy.size());
  auto result = delta ? codec.DecodeDelta(view, n, prev, values->data())
                      : codec.Decode(view, n, values->data());
  values->resize(n);
  return result;
}

// --- Stream VByte -------------------------------------------------------------

// Runs each test body with the SIMD decoder (where the CPU has it) and with
// the scalar one.
class StreamVByteTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { saved_ = internal::SetStreamVByteSimdForTesting(GetParam()); }
  void TearDown() override { internal::SetStreamVByteSimdForTesting(saved_); }

  const BlockCodec& codec_ = internal::StreamVByteCodecInstance();
  bool saved_ = true;
};

// The library's decoder on a padded copy (it may read past the data).
std::vector<uint32_t> LibraryDecode(std::string_view bytes, size_t n, size_t* consumed) {
  std::vector<uint8_t> padded(bytes.begin(), bytes.end());
  padded.resize(padded.size() + 64, 0);
  std::vector<uint32_t> values(n + 4);
  *consumed = streamvbyte_decode(padded.data(), values.data(), static_cast<uint32_t>(n));
  values.resize(n);
  return values;
}

TEST_P(StreamVByteTest, EncodingIsTheLibraryFormat) {
  const uint32_t seed = ::scry::testing::TestSeed(5);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (size_t n = 0; n <= kBlockSize; ++n) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " n=" << n);
    const std::vector<uint32_t> values = RandomBlock(rng, n, 32);
    std::string encoded;
    codec_.Encode(values.data(), n, &encoded);
    std::vector<uint8_t> expected(streamvbyte_max_compressedbytes(static_cast<uint32_t>(n)) + 1);
    expected.resize(streamvbyte_encode(values.data(), static_cast<uint32_t>(n), expected.data()));
    EXPECT_EQ(encoded, std::string(expected.begin(), expected.end()));
  }
}

TEST_P(StreamVByteTest, DecodeMatchesLibraryDecoder) {
  const uint32_t seed = ::scry::testing::TestSeed(11);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> decoded;
  for (int trial = 0; trial < 600; ++trial) {
    const size_t n = trial <= static_cast<int>(kBlockSize) ? trial : rng() % (kBlockSize + 1);
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " trial=" << trial << " n=" << n);
    // Random bytes are a valid block once long enough: every code is legal,
    // including non-minimal lengths the encoder never writes.
    std::string bytes(streamvbyte_max_compressedbytes(static_cast<uint32_t>(n)), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    size_t lib_consumed = 0;
    const std::vector<uint32_t> expected = LibraryDecode(bytes, n, &lib_consumed);
    bytes.resize(lib_consumed + trial % 20);  // 0..19 bytes of slack after the block
    auto consumed = DecodeExact(codec_, bytes, n, &decoded);
    ASSERT_THAT(consumed, IsOk());
    EXPECT_EQ(*consumed, lib_consumed);
    EXPECT_THAT(decoded, ElementsAreArray(expected));
  }
}

TEST_P(StreamVByteTest, DecodeDeltaIsDecodeThenPrefixSum) {
  const uint32_t seed = ::scry::testing::TestSeed(12);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> plain, fused;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = rng() % (kBlockSize + 1);
    const uint32_t prev = trial % 3 == 0 ? 0xffffffffu : static_cast<uint32_t>(rng());
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " trial=" << trial << " n=" << n);
    // Arbitrary (even wrapping) gaps: fused and unfused must agree bit for bit.
    const std::vector<uint32_t> gaps = RandomBlock(rng, n, trial % 2 ? 32 : 9);
    std::string bytes;
    codec_.Encode(gaps.data(), n, &bytes);
    ASSERT_THAT(DecodeExact(codec_, bytes, n, &plain), IsOk());
    uint32_t sum = prev;
    for (uint32_t& v : plain) v = sum += v + 1;
    auto consumed = DecodeExact(codec_, bytes, n, &fused, /*delta=*/true, prev);
    ASSERT_THAT(consumed, IsOk());
    EXPECT_EQ(*consumed, bytes.size());
    EXPECT_THAT(fused, ElementsAreArray(plain));
  }
}

TEST_P(StreamVByteTest, Layout) {
  const uint32_t values[] = {1, 256, 65536, 16777216, 5};
  std::string out;
  codec_.Encode(values, 5, &out);
  // Codes 0,1,2,3 -> 0b11'10'01'00; then code 0 for the fifth value.
  const std::string expected(
      "\xe4\x00"
      "\x01"
      "\x00\x01"
      "\x00\x00\x01"
      "\x00\x00\x00\x01"
      "\x05",
      13);
  EXPECT_EQ(out, expected);
  std::vector<uint32_t> decoded;
  EXPECT_THAT(DecodeExact(codec_, out, 5, &decoded), IsOk());
  EXPECT_THAT(decoded, ElementsAreArray(values));
}

TEST_P(StreamVByteTest, NonMinimalLengthsAndUnusedCodesAreAccepted) {
  // One integer stored in 4 bytes; the unused codes of the control byte set.
  const std::string bytes("\xff\x07\x00\x00\x00", 5);
  std::vector<uint32_t> decoded;
  auto consumed = DecodeExact(codec_, bytes, 1, &decoded);
  ASSERT_THAT(consumed, IsOk());
  EXPECT_EQ(*consumed, 5u);
  EXPECT_THAT(decoded, ElementsAreArray({7u}));
}

TEST_P(StreamVByteTest, LengthFromControlBytesIsChecked) {
  // 128 integers of 4 bytes each need 32 + 512 bytes; every shorter prefix of
  // the block, and garbage-length data, is DataLoss without reading past it.
  const std::vector<uint32_t> values(kBlockSize, 0xfffffffeu);
  std::string bytes;
  codec_.Encode(values.data(), kBlockSize, &bytes);
  ASSERT_EQ(bytes.size(), 32u + 512u);
  std::vector<uint32_t> decoded;
  for (size_t len : {size_t{0}, size_t{31}, size_t{32}, size_t{33}, size_t{100}, size_t{543}}) {
    EXPECT_THAT(DecodeExact(codec_, std::string_view(bytes).substr(0, len), kBlockSize, &decoded),
                StatusIs(absl::StatusCode::kDataLoss))
        << len;
    EXPECT_THAT(DecodeExact(codec_, std::string_view(bytes).substr(0, len), kBlockSize, &decoded,
                            /*delta=*/true, 0),
                StatusIs(absl::StatusCode::kDataLoss))
        << len;
  }
}

INSTANTIATE_TEST_SUITE_P(Decoders, StreamVByteTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Simd" : "Scalar");
                         });

// --- PFor ---------------------------------------------------------------------

// Reads bits LSB first from a byte string; every read is bounds-checked.
class BitReader {
 public:
  explicit BitReader(std::string_view bytes) : bytes_(bytes) {}
  bool Read(uint32_t width, uint32_t* v) {
    uint64_t r = 0;
    for (uint32_t k = 0; k < width; ++k, ++bit_) {
      if (bit_ / 8 >= bytes_.size()) return false;
      r |= uint64_t{(static_cast<uint8_t>(bytes_[bit_ / 8]) >> (bit_ % 8)) & 1u} << k;
    }
    *v = static_cast<uint32_t>(r);
    return true;
  }
  size_t bytes_used() const { return (bit_ + 7) / 8; }

 private:
  std::string_view bytes_;
  size_t bit_ = 0;
};

// The plain reference decoder of the pfor grammar; false if malformed.
bool ReferencePForDecode(std::string_view data, size_t n, std::vector<uint32_t>* values,
                         size_t* consumed) {
  if (data.empty()) return false;
  const uint8_t header = static_cast<uint8_t>(data[0]);
  const uint32_t b = header & 0x7f;
  if (b > 32) return false;
  values->assign(n, 0);
  BitReader packed(data.substr(1));
  for (size_t i = 0; i < n; ++i) {
    if (!packed.Read(b, &(*values)[i])) return false;
  }
  size_t pos = 1 + packed.bytes_used();
  if ((header & 0x80) == 0) {
    *consumed = pos;
    return true;
  }
  if (data.size() < pos + 2) return false;
  const size_t count = static_cast<uint8_t>(data[pos]) + size_t{1};
  const uint32_t hw = static_cast<uint8_t>(data[pos + 1]);
  pos += 2;
  if (count > n || hw == 0 || b + hw > 32 || data.size() < pos + count) return false;
  const std::string_view positions = data.substr(pos, count);
  BitReader high(data.substr(pos + count));
  int last = -1;
  for (size_t k = 0; k < count; ++k) {
    const int i = static_cast<uint8_t>(positions[k]);
    uint32_t h = 0;
    if (i >= static_cast<int>(n) || i <= last || !high.Read(hw, &h) || h == 0) return false;
    (*values)[i] |= h << b;
    last = i;
  }
  *consumed = pos + count + high.bytes_used();
  return true;
}

// Smallest pfor size over all widths, straight from the grammar.
size_t OptimalPForBytes(const std::vector<uint32_t>& values) {
  const size_t n = values.size();
  uint32_t max_width = 0;
  for (uint32_t v : values) max_width = std::max<uint32_t>(max_width, std::bit_width(v));
  size_t best = SIZE_MAX;
  for (uint32_t b = 0; b <= 32; ++b) {
    size_t count = 0;
    for (uint32_t v : values) count += std::bit_width(v) > b;
    size_t bytes = 1 + (n * b + 7) / 8;
    if (count > 0) bytes += 2 + count + (count * (max_width - b) + 7) / 8;
    best = std::min(best, bytes);
  }
  return best;
}

// Mostly narrow values with a few wide outliers: the blocks pfor is for.
std::vector<uint32_t> OutlierBlock(std::mt19937& rng, size_t n) {
  const uint32_t narrow = rng() % 9;
  const uint32_t wide = narrow + rng() % (33 - narrow);
  const size_t outliers = n == 0 ? 0 : rng() % (1 + n / 4);
  std::vector<uint32_t> values = RandomBlock(rng, n, narrow);
  for (size_t k = 0; k < outliers; ++k) {
    values[rng() % n] = wide == 0 ? 0 : (rng() >> (32 - wide)) | (uint32_t{1} << (wide - 1));
  }
  return values;
}

TEST(PFor, MatchesReferenceDecoderAndIsOptimal) {
  const BlockCodec& pfor = internal::PForCodecInstance();
  const BlockCodec& bitpack = internal::BitPackCodecInstance();
  const uint32_t seed = ::scry::testing::TestSeed(21);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> decoded, reference;
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t n = trial % 4 == 0 ? kBlockSize : rng() % (kBlockSize + 1);
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " trial=" << trial << " n=" << n);
    const std::vector<uint32_t> values =
        trial % 2 ? OutlierBlock(rng, n) : RandomBlock(rng, n, rng() % 33);
    std::string encoded;
    pfor.Encode(values.data(), n, &encoded);
    size_t ref_consumed = 0;
    ASSERT_TRUE(ReferencePForDecode(encoded, n, &reference, &ref_consumed));
    EXPECT_EQ(ref_consumed, encoded.size());
    EXPECT_THAT(reference, ElementsAreArray(values));
    auto consumed = DecodeExact(pfor, encoded, n, &decoded);
    ASSERT_THAT(consumed, IsOk());
    EXPECT_EQ(*consumed, encoded.size());
    EXPECT_THAT(decoded, ElementsAreArray(values));
    EXPECT_EQ(encoded.size(), OptimalPForBytes(values));
    std::string packed;
    bitpack.Encode(values.data(), n, &packed);
    EXPECT_LE(encoded.size(), packed.size());
  }
}

TEST(PFor, CorruptBlocksAgreeWithReferenceDecoder) {
  // Whatever a flipped byte does, the codec accepts exactly what the grammar
  // accepts, with the same values and length.
  const BlockCodec& pfor = internal::PForCodecInstance();
  const uint32_t seed = ::scry::testing::TestSeed(22);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> decoded, reference;
  for (int trial = 0; trial < 4000; ++trial) {
    const size_t n = rng() % (kBlockSize + 1);
    const std::vector<uint32_t> values = OutlierBlock(rng, n);
    std::string encoded;
    pfor.Encode(values.data(), n, &encoded);
    encoded[rng() % encoded.size()] ^= static_cast<char>(1 + rng() % 255);
    if (rng() % 4 == 0) encoded.resize(rng() % (encoded.size() + 1));
    const size_t decode_n = rng() % 2 ? n : rng() % (kBlockSize + 1);
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " trial=" << trial);
    size_t ref_consumed = 0;
    const bool ref_ok = ReferencePForDecode(encoded, decode_n, &reference, &ref_consumed);
    auto consumed = DecodeExact(pfor, encoded, decode_n, &decoded);
    if (ref_ok) {
      ASSERT_THAT(consumed, IsOk());
      EXPECT_EQ(*consumed, ref_consumed);
      EXPECT_THAT(decoded, ElementsAreArray(reference));
    } else {
      EXPECT_THAT(consumed, StatusIs(absl::StatusCode::kDataLoss));
    }
  }
}

TEST(PFor, DecodeDeltaIsDecodeThenPrefixSum) {
  const BlockCodec& pfor = internal::PForCodecInstance();
  const uint32_t seed = ::scry::testing::TestSeed(24);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  std::vector<uint32_t> plain, fused;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = rng() % (kBlockSize + 1);
    const uint32_t prev = trial % 3 == 0 ? 0xffffffffu : static_cast<uint32_t>(rng());
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " trial=" << trial << " n=" << n);
    // Arbitrary (even wrapping) gaps: the SIMD prefix sum wraps like the loop.
    const std::vector<uint32_t> gaps = trial % 2 ? OutlierBlock(rng, n) : RandomBlock(rng, n, 32);
    std::string bytes;
    pfor.Encode(gaps.data(), n, &bytes);
    ASSERT_THAT(DecodeExact(pfor, bytes, n, &plain), IsOk());
    uint32_t sum = prev;
    for (uint32_t& v : plain) v = sum += v + 1;
    auto consumed = DecodeExact(pfor, bytes, n, &fused, /*delta=*/true, prev);
    ASSERT_THAT(consumed, IsOk());
    EXPECT_EQ(*consumed, bytes.size());
    EXPECT_THAT(fused, ElementsAreArray(plain));
  }
}

TEST(PFor, OutliersCostLittle) {
  // 126 values below 8 and two above 2^30: bitpack needs 31 bits for every
  // value, pfor 3 bits plus two patched exceptions.
  std::vector<uint32_t> values(kBlockSize);
  for (size_t i = 0; i < kBlockSize; ++i) values[i] = i % 8;
  values[17] = 0x7fffffffu;
  values[90] = 1u << 30;
  std::string pfor, bitpack;
  internal::PForCodecInstance().Encode(values.data(), values.size(), &pfor);
  internal::BitPackCodecInstance().Encode(values.data(), values.size(), &bitpack);
  EXPECT_EQ(bitpack.size(), 1u + 128u * 31u / 8u);
  // Header, 48 packed bytes, count and width, 2 positions, 2 * 28 high bits.
  EXPECT_EQ(pfor.size(), 1u + 48u + 2u + 2u + 7u);
  EXPECT_LT(pfor.size() * 8, bitpack.size());
  std::vector<uint32_t> decoded;
  ASSERT_THAT(DecodeExact(internal::PForCodecInstance(), pfor, kBlockSize, &decoded), IsOk());
  EXPECT_THAT(decoded, ElementsAreArray(values));
}

TEST(PFor, WithoutExceptionsIsBitpack) {
  const uint32_t seed = ::scry::testing::TestSeed(23);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (uint32_t width = 0; width <= 32; ++width) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed << " width=" << width);
    // Uniform values of one width: exceptions never pay off.
    std::vector<uint32_t> values(kBlockSize);
    for (uint32_t& v : values) {
      v = width == 0 ? 0 : (rng() >> (32 - width)) | (uint32_t{1} << (width - 1));
    }
    std::string pfor, bitpack;
    internal::PForCodecInstance().Encode(values.data(), values.size(), &pfor);
    internal::BitPackCodecInstance().Encode(values.data(), values.size(), &bitpack);
    EXPECT_EQ(pfor, bitpack);
  }
}

TEST(PFor, Layout) {
  // Sixteen values of 0 or 1 and one of 2^20 + 1 at position 2: b = 1 (9
  // bytes) beats b = 21 without exceptions (43 bytes) and b = 0 (14 bytes).
  std::vector<uint32_t> values(16, 0);
  values[0] = values[3] = 1;
  values[2] = (1u << 20) + 1;
  std::string out;
  internal::PForCodecInstance().Encode(values.data(), values.size(), &out);
  // Header 0x80 | b; low bits 1,0,1,1,0... -> 0x0d 0x00; count-1 = 0; hw =
  // 21 - 1 = 20; position 2; high part 2^19 at 20 bits -> 0x00 0x00 0x08.
  EXPECT_EQ(out, std::string("\x81\x0d\x00\x00\x14\x02\x00\x00\x08", 9));
  out.clear();
  internal::PForCodecInstance().Encode(values.data(), 0, &out);
  EXPECT_EQ(out, std::string("\x00", 1));
}

TEST(PFor, RejectsMalformedBlocks) {
  const BlockCodec& pfor = internal::PForCodecInstance();
  std::vector<uint32_t> decoded;
  const auto decode = [&](std::string_view bytes, size_t n) {
    return DecodeExact(pfor, bytes, n, &decoded);
  };
  const auto kDataLoss = StatusIs(absl::StatusCode::kDataLoss);
  // A valid (if not the smallest) encoding of {1, 0, 9, 1}.
  ASSERT_THAT(decode(std::string("\x81\x0d\x00\x03\x02\x04", 6), 4), IsOk());
  EXPECT_THAT(decoded, ElementsAreArray({1u, 0u, 9u, 1u}));
  EXPECT_THAT(decode("", 0), kDataLoss);                                          // no header
  EXPECT_THAT(decode(std::string("\x21", 1), 0), kDataLoss);                      // b = 33
  EXPECT_THAT(decode(std::string("\xa1", 1), 0), kDataLoss);                      // b = 33, flag
  EXPECT_THAT(decode(std::string("\xc0", 1), 0), kDataLoss);                      // b = 64, flag
  EXPECT_THAT(decode(std::string("\x81\x0d\x00\x03\x04\x04", 6), 4), kDataLoss);  // position 4
  EXPECT_THAT(decode(std::string("\x81\x0d\x04\x03\x02\x04", 6), 4), kDataLoss);  // 5 exceptions
  EXPECT_THAT(decode(std::string("\x81\x0d\x00\x00\x02\x04", 6), 4), kDataLoss);  // hw = 0
  EXPECT_THAT(decode(std::string("\x81\x0d\x00\x20\x02\x04", 6), 4), kDataLoss);  // b + hw = 33
  EXPECT_THAT(decode(std::string("\x81\x0d\x00\x03\x02\x00", 6), 4), kDataLoss);  // high part 0
  // Two exceptions at the same position, then descending.
  EXPECT_THAT(decode(std::string("\x81\x0d\x01\x03\x02\x02\x24", 7), 4), kDataLoss);
  EXPECT_THAT(decode(std::string("\x81\x0d\x01\x03\x02\x01\x24", 7), 4), kDataLoss);
  ASSERT_THAT(decode(std::string("\x81\x0d\x01\x03\x01\x02\x24", 7), 4), IsOk());
  EXPECT_THAT(decoded, ElementsAreArray({1u, 8u, 9u, 1u}));
  // Every truncation of a valid block.
  const std::string valid("\x81\x0d\x01\x03\x01\x02\x24", 7);
  for (size_t len = 0; len < valid.size(); ++len) {
    EXPECT_THAT(decode(std::string_view(valid).substr(0, len), 4), kDataLoss) << len;
  }
}

}  // namespace
}  // namespace scry::storage
