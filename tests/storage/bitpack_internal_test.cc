// File: tests/storage/bitpack_internal_test.cc
//
// The bit packer shared by "bitpack" and "pfor" (storage/bitpack_internal.h)
// against a bit-at-a-time reference of the layout (value i at bits
// [i * width, (i + 1) * width) of an LSB-first stream, pad bits 0): every
// width 0..32 and every n 0..128, packed bytes identical, unpacked values
// identical with exactly sized input and with slack after it; and the delta
// prefix sum against the serial loop.

#include "storage/bitpack_internal.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/block_codec.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::testing::ElementsAreArray;

std::vector<uint8_t> ReferencePack(const std::vector<uint32_t>& values, uint32_t width) {
  std::vector<uint8_t> out((values.size() * width + 7) / 8, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    for (uint32_t b = 0; b < width; ++b) {
      if ((values[i] >> b) & 1) {
        const size_t bit = i * width + b;
        out[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8));
      }
    }
  }
  return out;
}

TEST(BitPackInternal, PackAndUnpackMatchTheReferenceLayout) {
  for (uint32_t width = 0; width <= bitpack::kMaxWidth; ++width) {
    const uint32_t seed = ::scry::testing::TestSeed(500 + width);
    SCRY_SEED_TRACE(seed);
    std::mt19937 rng(seed);
    const uint64_t mask = (uint64_t{1} << width) - 1;
    for (size_t n = 0; n <= kBlockSize; ++n) {
      SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
      std::vector<uint32_t> values(n);
      for (uint32_t& v : values) v = static_cast<uint32_t>(rng() & mask);
      if (n > 0) values[rng() % n] = static_cast<uint32_t>(mask);
      const std::vector<uint8_t> expected = ReferencePack(values, width);
      ASSERT_EQ(bitpack::PackedBytes(n, width), expected.size());

      // Pack writes exactly the packed bytes (the guard byte stays).
      std::vector<uint8_t> packed(expected.size() + 1, 0xa5);
      EXPECT_EQ(bitpack::Pack(values.data(), n, width, packed.data()), expected.size());
      EXPECT_EQ(packed.back(), 0xa5);
      packed.pop_back();
      EXPECT_THAT(packed, ElementsAreArray(expected));

      // Unpack from an exactly sized heap copy (ASan catches overreads), and
      // with 16 bytes of slack (the unchecked fast path).
      for (size_t slack : {size_t{0}, size_t{16}}) {
        const size_t size = expected.size() + slack;
        const std::unique_ptr<uint8_t[]> in(new uint8_t[size]);
        std::copy(expected.begin(), expected.end(), in.get());
        std::fill(in.get() + expected.size(), in.get() + size, 0xff);
        std::vector<uint32_t> out(kBlockSize, 0xdeadbeef);
        bitpack::UnpackWidth(width, in.get(), size, n, out.data());
        out.resize(n);
        EXPECT_THAT(out, ElementsAreArray(values)) << "slack " << slack;
      }
    }
  }
}

TEST(BitPackInternal, DeltaPrefixSumMatchesTheSerialLoop) {
  const uint32_t seed = ::scry::testing::TestSeed(9);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (size_t n = 0; n <= kBlockSize; ++n) {
    for (uint32_t prev : {0u, 0xffffffffu, static_cast<uint32_t>(rng())}) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " prev=" << prev << " seed=" << seed);
      std::vector<uint32_t> gaps(n);
      for (uint32_t& g : gaps) g = rng() % 4 == 0 ? static_cast<uint32_t>(rng()) : rng() % 100;
      std::vector<uint32_t> expected(n);
      uint32_t sum = prev;
      for (size_t i = 0; i < n; ++i) expected[i] = sum += gaps[i] + 1;  // modulo 2^32
      bitpack::DeltaPrefixSum(gaps.data(), n, prev);
      EXPECT_THAT(gaps, ElementsAreArray(expected));
    }
  }
}

}  // namespace
}  // namespace scry::storage
