// File: tests/storage/simdbp_codec_test.cc
//
// The "simdbp128" codec on every Highway target compiled into it and supported
// by this CPU (hwy::SetSupportedTargetsForTest, then re-dispatch): each target
// must write exactly the bytes of a plain scalar reference written here from
// the grammar in storage/simdbp_codec.cc, and decode (with and without delta)
// exactly like it, for every bit width 0..32 and short and full blocks. Also
// truncation at every prefix length, bad widths and the exact byte layout.
// The generic round-trip and fuzz tests run in block_codec_test.cc.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/detect_targets.h"
#include "hwy/targets.h"
#include "storage/block_codec.h"
#include "storage/internal_codecs.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace internal {
// Test hooks defined in storage/simdbp_codec.cc: the Highway targets its
// kernels were compiled for, and the one the codec dispatches to under the
// current hwy::SetSupportedTargetsForTest mock.
int64_t SimdBp128CompiledTargets();
int64_t SimdBp128DispatchedTarget();
}  // namespace internal

namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::ElementsAreArray;

constexpr size_t kSizes[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 31, 32, 33, 64, 100, 127, 128};
constexpr uint32_t kSentinel = 0xdeadbeef;

// --- Scalar reference, straight from the grammar -----------------------------

uint32_t RefWidth(const std::vector<uint32_t>& values) {
  uint32_t all = 0;
  for (uint32_t v : values) all |= v;
  uint32_t width = 0;
  while (width < 32 && (all >> width) != 0) ++width;
  return width;
}

// Number of values in lane j of a block of n: i < n with i % 4 == j.
size_t RefLaneCount(size_t n, size_t j) {
  size_t m = 0;
  for (size_t i = j; i < n; i += 4) ++m;
  return m;
}

size_t RefLaneBytes(size_t n, uint32_t width, size_t j) {
  return (RefLaneCount(n, j) * width + 7) / 8;
}

std::string RefEncode(const std::vector<uint32_t>& values) {
  const size_t n = values.size();
  const uint32_t width = RefWidth(values);
  std::vector<uint8_t> lane[4];
  for (size_t j = 0; j < 4; ++j) lane[j].assign(RefLaneBytes(n, width, j), 0);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t bit = 0; bit < width; ++bit) {
      if ((values[i] >> bit) & 1) {
        const size_t pos = (i / 4) * width + bit;
        lane[i % 4][pos / 8] |= static_cast<uint8_t>(1u << (pos % 8));
      }
    }
  }
  std::string out(1, static_cast<char>(width));
  for (size_t k = 0; 4 * k < lane[0].size(); ++k) {
    for (size_t j = 0; j < 4; ++j) {
      for (size_t byte = 4 * k; byte < 4 * k + 4 && byte < lane[j].size(); ++byte) {
        out.push_back(static_cast<char>(lane[j][byte]));
      }
    }
  }
  return out;
}

// Returns the bytes consumed, or nullopt if `data` is too short or malformed.
std::optional<size_t> RefDecode(std::string_view data, size_t n, std::vector<uint32_t>* values) {
  if (data.empty()) return std::nullopt;
  const uint32_t width = static_cast<uint8_t>(data[0]);
  if (width > 32) return std::nullopt;
  std::vector<uint8_t> lane[4];
  size_t total = 0;
  for (size_t j = 0; j < 4; ++j) total += RefLaneBytes(n, width, j);
  if (data.size() < 1 + total) return std::nullopt;
  size_t pos = 1;
  for (size_t k = 0; 4 * k < RefLaneBytes(n, width, 0); ++k) {
    for (size_t j = 0; j < 4; ++j) {
      for (size_t byte = 4 * k; byte < 4 * k + 4 && byte < RefLaneBytes(n, width, j); ++byte) {
        lane[j].push_back(static_cast<uint8_t>(data[pos++]));
      }
    }
  }
  values->assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t bit = 0; bit < width; ++bit) {
      const size_t p = (i / 4) * width + bit;
      if ((lane[i % 4][p / 8] >> (p % 8)) & 1) (*values)[i] |= uint32_t{1} << bit;
    }
  }
  return pos;
}

std::vector<uint32_t> RefGaps(const std::vector<uint32_t>& values, uint32_t prev) {
  std::vector<uint32_t> gaps;
  for (uint32_t v : values) {
    gaps.push_back(v - prev - 1);
    prev = v;
  }
  return gaps;
}

std::vector<uint32_t> RefPrefixSum(const std::vector<uint32_t>& gaps, uint32_t prev) {
  std::vector<uint32_t> values;
  for (uint32_t g : gaps) {
    prev += g + 1;
    values.push_back(prev);
  }
  return values;
}

// --- Helpers -------------------------------------------------------------------

const BlockCodec& Codec() { return internal::SimdBp128CodecInstance(); }

// n random values of at most `width` bits, one of them (if any) exactly
// `width` bits wide.
std::vector<uint32_t> RandomValues(std::mt19937& rng, size_t n, uint32_t width) {
  const uint32_t max = width == 32 ? 0xffffffffu : (uint32_t{1} << width) - 1;
  std::vector<uint32_t> values(n);
  for (uint32_t& v : values) v = static_cast<uint32_t>(rng()) & max;
  if (n > 0) values[rng() % n] = max;
  return values;
}

// Decodes from an exactly-sized heap copy of `bytes` (so ASan sees any read
// past the end) into a buffer of kBlockSize sentinels, checking that nothing
// past values[n) is written.
absl::StatusOr<size_t> DecodeExact(std::string_view bytes, size_t n, std::optional<uint32_t> prev,
                                   std::vector<uint32_t>* values) {
  const std::vector<char> copy(bytes.begin(), bytes.end());
  const std::string_view data(copy.data(), copy.size());
  values->assign(kBlockSize, kSentinel);
  absl::StatusOr<size_t> result = prev.has_value()
                                      ? Codec().DecodeDelta(data, n, *prev, values->data())
                                      : Codec().Decode(data, n, values->data());
  for (size_t i = n; i < kBlockSize; ++i) {
    EXPECT_EQ((*values)[i], kSentinel) << "wrote past n=" << n << " at " << i;
  }
  values->resize(n);
  return result;
}

// Every target both compiled into the codec and supported by this CPU, best
// (lowest bit) first.
std::vector<int64_t> Targets() {
  hwy::SetSupportedTargetsForTest(0);  // the real CPU, not a mock
  std::vector<int64_t> targets;
  for (int64_t t = hwy::SupportedTargets() & internal::SimdBp128CompiledTargets(); t != 0;
       t &= t - 1) {
    targets.push_back(t & -t);
  }
  return targets;
}

// Runs body() once per target with dispatch forced to that target.
template <typename Body>
void ForEachTarget(Body body) {
  const std::vector<int64_t> targets = Targets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    SCOPED_TRACE(::testing::Message() << "target " << hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    ASSERT_EQ(internal::SimdBp128DispatchedTarget(), target) << "re-dispatch failed";
    body();
    hwy::SetSupportedTargetsForTest(0);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Readable memory between two inaccessible pages, so that any load before or
// past the bytes placed in it faults, on every target and with or without
// sanitizers (the SIMD kernels are not instrumented by ASan).
class GuardedBuffer {
 public:
  GuardedBuffer() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = 3 * page_;  // guard, data, guard; a block is at most 513 bytes
    void* mem = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) std::abort();
    mem_ = static_cast<char*>(mem);
    if (mprotect(mem_, page_, PROT_NONE) != 0 ||
        mprotect(mem_ + 2 * page_, page_, PROT_NONE) != 0) {
      std::abort();
    }
  }
  ~GuardedBuffer() { munmap(mem_, size_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // A copy of `bytes` that ends right at the trailing guard page.
  std::string_view AtEnd(std::string_view bytes) {
    char* p = mem_ + 2 * page_ - bytes.size();
    std::memcpy(p, bytes.data(), bytes.size());
    return std::string_view(p, bytes.size());
  }
  // A copy of `bytes` that starts right after the leading guard page.
  std::string_view AtStart(std::string_view bytes) {
    std::memcpy(mem_ + page_, bytes.data(), bytes.size());
    return std::string_view(mem_ + page_, bytes.size());
  }

 private:
  size_t page_ = 0;
  size_t size_ = 0;
  char* mem_ = nullptr;
};

// --- Tests ---------------------------------------------------------------------

TEST(SimdBp128, DispatchesToTheBestCompiledTarget) {
  hwy::SetSupportedTargetsForTest(0);
  const std::vector<int64_t> targets = Targets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (int64_t t : targets) names.append(names.empty() ? "" : ", ").append(hwy::TargetName(t));
  const int64_t chosen = internal::SimdBp128DispatchedTarget();
  std::printf("simdbp128: targets compiled and supported here: %s; dispatching to %s\n",
              names.c_str(), hwy::TargetName(chosen));
  RecordProperty("targets", names);
  RecordProperty("dispatched", hwy::TargetName(chosen));
  EXPECT_EQ(chosen, targets.front());
#if HWY_ARCH_X86
  const int64_t compiled = internal::SimdBp128CompiledTargets();
  EXPECT_NE(compiled & HWY_AVX2, 0);
  EXPECT_NE(compiled & HWY_SSE4, 0);
  EXPECT_NE(compiled & (HWY_SCALAR | HWY_EMU128), 0);
  if (hwy::SupportedTargets() & HWY_AVX2) {
    EXPECT_EQ(chosen, HWY_AVX2);
  }
#endif
  EXPECT_EQ(Codec().name(), "simdbp128");
  EXPECT_EQ(Codec().id(), CodecId::kSimdBp128);
}

TEST(SimdBp128, EveryTargetMatchesReference) {
  ForEachTarget([] {
    for (uint32_t width = 0; width <= 32; ++width) {
      for (size_t n : kSizes) {
        const uint32_t seed = ::scry::testing::TestSeed(1000 * width + static_cast<uint32_t>(n));
        SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const std::vector<uint32_t> values = RandomValues(rng, n, width);
        const std::string expected = RefEncode(values);
        std::string encoded = "ab";  // Encode appends
        Codec().Encode(values.data(), n, &encoded);
        ASSERT_EQ(encoded, "ab" + expected);
        std::vector<uint32_t> decoded;
        auto used = DecodeExact(expected, n, std::nullopt, &decoded);
        ASSERT_THAT(used, IsOk());
        EXPECT_EQ(*used, expected.size());
        EXPECT_THAT(decoded, ElementsAreArray(values));
      }
    }
  });
}

TEST(SimdBp128, EveryTargetMatchesReferenceWithDelta) {
  ForEachTarget([] {
    for (uint32_t width = 0; width <= 32; ++width) {
      for (size_t n : kSizes) {
        const uint32_t seed =
            ::scry::testing::TestSeed(2000000 + 1000 * width + static_cast<uint32_t>(n));
        SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        // Gaps of `width` bits; the docids wrap modulo 2^32 at large widths,
        // which the modular arithmetic must carry through.
        const std::vector<uint32_t> gaps = RandomValues(rng, n, width);
        for (uint32_t prev : {0xffffffffu, static_cast<uint32_t>(rng()), 0u}) {
          SCOPED_TRACE(::testing::Message() << "prev=" << prev);
          const std::vector<uint32_t> values = RefPrefixSum(gaps, prev);
          ASSERT_EQ(RefGaps(values, prev), gaps);
          const std::string expected = RefEncode(gaps);
          std::string encoded;
          Codec().EncodeDelta(values.data(), n, prev, &encoded);
          ASSERT_EQ(encoded, expected);
          std::vector<uint32_t> decoded;
          auto used = DecodeExact(expected, n, prev, &decoded);
          ASSERT_THAT(used, IsOk());
          EXPECT_EQ(*used, expected.size());
          EXPECT_THAT(decoded, ElementsAreArray(values));
        }
      }
    }
  });
}

// Random payload bytes (so pad bits and the bits of lanes' last bytes are
// arbitrary): every target decodes exactly like the reference.
TEST(SimdBp128, EveryTargetDecodesArbitraryBytesLikeReference) {
  ForEachTarget([] {
    const uint32_t seed = ::scry::testing::TestSeed(31337);
    SCRY_SEED_TRACE(seed);
    std::mt19937 rng(seed);
    for (int trial = 0; trial < 3000; ++trial) {
      const size_t n = trial < 33 * 8 ? kSizes[trial % std::size(kSizes)] : rng() % 129;
      const uint32_t width = trial < 33 * 8 ? static_cast<uint32_t>(trial / 8) : rng() % 33;
      std::string data(1, static_cast<char>(width));
      const size_t size = 4 * 4 * 33 + rng() % 8;  // enough, plus some trailing bytes
      for (size_t i = 0; i < size; ++i) data.push_back(static_cast<char>(rng()));
      std::vector<uint32_t> expected;
      const std::optional<size_t> ref_used = RefDecode(data, n, &expected);
      ASSERT_TRUE(ref_used.has_value());
      data.resize(*ref_used + trial % 3);
      const uint32_t prev = static_cast<uint32_t>(rng());
      SCOPED_TRACE(::testing::Message() << "trial=" << trial << " n=" << n << " width=" << width);
      std::vector<uint32_t> decoded;
      auto used = DecodeExact(data, n, std::nullopt, &decoded);
      ASSERT_THAT(used, IsOk());
      EXPECT_EQ(*used, *ref_used);
      EXPECT_THAT(decoded, ElementsAreArray(expected));
      used = DecodeExact(data, n, prev, &decoded);
      ASSERT_THAT(used, IsOk());
      EXPECT_EQ(*used, *ref_used);
      EXPECT_THAT(decoded, ElementsAreArray(RefPrefixSum(expected, prev)));
    }
  });
}

TEST(SimdBp128, TruncatedInputIsDataLossOnEveryTarget) {
  ForEachTarget([] {
    for (uint32_t width = 0; width <= 32; ++width) {
      for (size_t n : kSizes) {
        const uint32_t seed =
            ::scry::testing::TestSeed(3000000 + 1000 * width + static_cast<uint32_t>(n));
        SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const std::vector<uint32_t> values = RandomValues(rng, n, width);
        std::string encoded;
        Codec().Encode(values.data(), n, &encoded);
        std::vector<uint32_t> decoded;
        for (size_t len = 0; len < encoded.size(); ++len) {
          const std::string_view prefix = std::string_view(encoded).substr(0, len);
          EXPECT_THAT(DecodeExact(prefix, n, std::nullopt, &decoded),
                      StatusIs(absl::StatusCode::kDataLoss))
              << "prefix length " << len << " of " << encoded.size();
          EXPECT_THAT(DecodeExact(prefix, n, 7u, &decoded), StatusIs(absl::StatusCode::kDataLoss))
              << "delta, prefix length " << len << " of " << encoded.size();
        }
      }
    }
  });
}

// Every prefix of every block, decoded right against a guard page (and the
// whole block right after one): no load strays outside the input.
TEST(SimdBp128, NoTargetReadsOutsideTheInput) {
  GuardedBuffer guarded;
  ForEachTarget([&guarded] {
    for (uint32_t width = 0; width <= 32; ++width) {
      for (size_t n : kSizes) {
        const uint32_t seed =
            ::scry::testing::TestSeed(4000000 + 1000 * width + static_cast<uint32_t>(n));
        SCOPED_TRACE(::testing::Message() << "width=" << width << " n=" << n << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const std::vector<uint32_t> values = RandomValues(rng, n, width);
        std::string encoded;
        Codec().Encode(values.data(), n, &encoded);
        uint32_t out[kBlockSize];
        for (size_t len = 0; len <= encoded.size(); ++len) {
          const std::string_view data = guarded.AtEnd(std::string_view(encoded).substr(0, len));
          EXPECT_EQ(Codec().Decode(data, n, out).ok(), len == encoded.size()) << len;
          EXPECT_EQ(Codec().DecodeDelta(data, n, 5, out).ok(), len == encoded.size()) << len;
        }
        const std::string_view data = guarded.AtStart(encoded);
        ASSERT_THAT(Codec().Decode(data, n, out), IsOk());
        EXPECT_THAT(std::vector<uint32_t>(out, out + n), ElementsAreArray(values));
        ASSERT_THAT(Codec().DecodeDelta(data, n, 5, out), IsOk());
      }
    }
  });
}

TEST(SimdBp128, WidthAbove32IsDataLoss) {
  std::string data(1 + 16 * 40, '\0');
  std::vector<uint32_t> decoded;
  for (int width : {33, 34, 64, 128, 255}) {
    data[0] = static_cast<char>(width);
    for (size_t n : {size_t{0}, size_t{1}, size_t{5}, kBlockSize}) {
      EXPECT_THAT(DecodeExact(data, n, std::nullopt, &decoded),
                  StatusIs(absl::StatusCode::kDataLoss, "bit width"))
          << width << " n=" << n;
      EXPECT_THAT(DecodeExact(data, n, 0u, &decoded), StatusIs(absl::StatusCode::kDataLoss))
          << width << " n=" << n;
    }
  }
}

TEST(SimdBp128, Layout) {
  // Short block: lanes hold {1, 5}, {2}, {3}, {4}; 3 bits each, LSB-first.
  {
    const uint32_t values[] = {1, 2, 3, 4, 5};
    std::string out;
    Codec().Encode(values, 5, &out);
    EXPECT_EQ(out, std::string("\x03\x29\x02\x03\x04", 5));  // 0x29 = 1 | 5 << 3
  }
  // Full block of i % 2 (width 1): lanes 0 and 2 are all 0, lanes 1 and 3 all 1.
  {
    std::vector<uint32_t> values(kBlockSize);
    for (size_t i = 0; i < kBlockSize; ++i) values[i] = i % 2;
    std::string out;
    Codec().Encode(values.data(), kBlockSize, &out);
    EXPECT_EQ(out, std::string("\x01\x00\x00\x00\x00\xff\xff\xff\xff"
                               "\x00\x00\x00\x00\xff\xff\xff\xff",
                               17));
  }
  // Empty, all-zero and one-value blocks.
  {
    std::string out;
    Codec().Encode(nullptr, 0, &out);
    EXPECT_EQ(out, std::string("\x00", 1));
    const std::vector<uint32_t> zeros(kBlockSize, 0);
    out.clear();
    Codec().Encode(zeros.data(), kBlockSize, &out);
    EXPECT_EQ(out, std::string("\x00", 1));
    const uint32_t one[] = {0x12345};
    out.clear();
    Codec().Encode(one, 1, &out);
    EXPECT_EQ(out, std::string("\x11\x45\x23\x01", 4));
  }
  // Sizes: 1 + 16 * width for a full block, 1 + ceil(width / 8) for n = 1.
  for (uint32_t width = 0; width <= 32; ++width) {
    SCRY_SEEDED_RNG(rng, width);
    std::string out;
    const std::vector<uint32_t> full = RandomValues(rng, kBlockSize, width);
    Codec().Encode(full.data(), kBlockSize, &out);
    EXPECT_EQ(out.size(), 1 + 16 * width);
    out.clear();
    const std::vector<uint32_t> single = RandomValues(rng, 1, width);
    Codec().Encode(single.data(), 1, &out);
    EXPECT_EQ(out.size(), 1 + (width + 7) / 8);
  }
}

}  // namespace
}  // namespace scry::storage
