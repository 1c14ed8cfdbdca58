// File: tests/storage/decoder_fuzz_test.cc
//
// Randomized decoder safety test, with fixed seeds (issue: corrupt or
// truncated data gives a clear Status error, never an out-of-bounds read).
// Every block codec in CodecNames() (Stream VByte with both its SSSE3 and
// scalar decoders), posting chunks, positions chunks and TermInfos, made from
// valid encodings and then truncated at every length, with every single bit
// flipped and every byte replaced, and from random bytes. Each decoder must
// return OK or DataLoss (never another code, never more bytes consumed than
// given), and must not read outside its input: the checks in
// tests/fuzz/decoder_checks.h copy every input into an exactly sized heap
// buffer, so the ASan build (SCRY_SANITIZE=ON) reports any overread. The same
// checks drive the libFuzzer target tests/fuzz/posting_decoder_fuzz.cc
// (tools/fuzz.sh), which explores further.

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "storage/block_codec.h"
#include "storage/posting_format.h"
#include "storage/status.h"
#include "tests/fuzz/decoder_checks.h"
#include "tests/test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SCRY_TEST_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRY_TEST_HAVE_ASAN 1
#endif
#endif
#ifdef SCRY_TEST_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace scry::storage::internal {
// Test hooks in storage/streamvbyte_codec.cc (false forces the scalar
// decoder) and storage/simdbp_codec.cc (the Highway targets compiled in).
bool SetStreamVByteSimdForTesting(bool enable);
int64_t SimdBp128CompiledTargets();
}  // namespace scry::storage::internal

namespace scry::fuzz {
namespace {

using ::scry::AsAbsl;
using ::scry::storage::CodecByName;
using ::scry::storage::CodecNames;
using ::scry::storage::EncodedPostingList;
using ::scry::storage::EncodePostingList;
using ::scry::storage::PostingList;
using ::scry::storage::TermInfo;
using ::scry::testing::IsOk;

// Calls f(bytes, what) for every strict prefix of `good`, every single bit
// flip, and every byte replaced by 0x00, 0xff and a random other value.
template <typename F>
void ForAllMutations(const std::string& good, std::mt19937& rng, F&& f) {
  for (size_t len = 0; len < good.size(); ++len) {
    f(std::string_view(good).substr(0, len), absl::StrCat("truncated to ", len));
  }
  std::string bad = good;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      bad[i] = static_cast<char>(good[i] ^ (1 << bit));
      f(bad, absl::StrCat("bit ", bit, " of byte ", i, " flipped"));
    }
    for (int v : {0x00, 0xff, static_cast<int>(rng() & 0xff)}) {
      if (static_cast<char>(v) == good[i]) continue;
      bad[i] = static_cast<char>(v);
      f(bad, absl::StrCat("byte ", i, " set to ", v));
    }
    bad[i] = good[i];
  }
}

// Calls f(bytes, what) `count` times with 1 to 3 random bit flips or byte
// replacements, a quarter of them also truncated; half the time the changes
// hit the first `hot` bytes (headers and offsets).
template <typename F>
void ForRandomMutations(const std::string& good, size_t hot, int count, std::mt19937& rng, F&& f) {
  if (good.empty()) return;
  hot = std::clamp<size_t>(hot, 1, good.size());
  for (int t = 0; t < count; ++t) {
    std::string bad = good;
    std::string what;
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < changes; ++c) {
      const size_t i = rng() % 2 == 0 ? rng() % hot : rng() % bad.size();
      if (rng() % 2 == 0) {
        bad[i] ^= static_cast<char>(1 << (rng() % 8));
      } else {
        bad[i] = static_cast<char>(rng());
      }
      absl::StrAppend(&what, "byte ", i, " -> ", static_cast<uint8_t>(bad[i]), "; ");
    }
    if (rng() % 4 == 0) {
      bad.resize(rng() % bad.size());
      absl::StrAppend(&what, "truncated to ", bad.size());
    }
    f(bad, what);
  }
}

// --- Block codecs ----------------------------------------------------------------

class CodecFuzzTest : public ::testing::TestWithParam<std::string_view> {
 protected:
  void SetUp() override {
    auto codec = CodecByName(GetParam());
    ASSERT_THAT(codec, IsOk());
    codec_ = *codec;
  }

  // Runs body() once, and for Stream VByte again with the scalar decoder.
  template <typename F>
  void ForEachDecoder(F&& body) {
    body();
    if (codec_->name() == "streamvbyte") {
      const bool saved = storage::internal::SetStreamVByteSimdForTesting(false);
      body();
      storage::internal::SetStreamVByteSimdForTesting(saved);
    }
  }

  const storage::BlockCodec* codec_ = nullptr;
};

TEST_P(CodecFuzzTest, RandomBytes) {
  Checker checker;
  ForEachDecoder([&] {
    for (size_t si = 0; si < kNumFuzzSizes; ++si) {
      const size_t n = kFuzzSizes[si];
      const uint32_t seed = ::scry::testing::TestSeed(1000 + static_cast<uint32_t>(si));
      SCRY_SEED_TRACE(seed);
      std::mt19937 rng(seed);
      for (int trial = 0; trial < 1000; ++trial) {
        // Up to a little past the largest encoding of n integers.
        std::string bytes(rng() % (6 * n + 24), '\0');
        const int kind = trial % 4;
        for (char& c : bytes) {
          c = static_cast<char>(kind == 0   ? rng()
                                : kind == 1 ? (rng() % 4 == 0 ? rng() : 0)
                                : kind == 2 ? (rng() % 4 == 0 ? rng() : 0xff)
                                            : rng() % 3);
        }
        // A plausible width byte (bitpack, simdbp128; pfor with or without
        // exceptions) half the time, so decoding gets past the first check.
        if (!bytes.empty() && trial % 2 == 0) {
          bytes[0] = static_cast<char>(rng() % 33 | (rng() % 2 == 0 ? 0x80 : 0));
        }
        checker.set_context(
            absl::StrCat(AsAbsl(codec_->name()), " n=", n, " seed=", seed, " trial=", trial));
        CheckBlock(*codec_, bytes, n, kFuzzPrevs[trial % kNumFuzzPrevs], &checker);
        // And the same bytes with another n.
        CheckBlock(*codec_, bytes, kFuzzSizes[rng() % kNumFuzzSizes], 0xffffffffu, &checker);
      }
    }
  });
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
  RecordProperty("ok", static_cast<int>(checker.ok_count()));
  RecordProperty("data_loss", static_cast<int>(checker.data_loss_count()));
}

TEST_P(CodecFuzzTest, CorruptedValidEncodings) {
  Checker checker;
  ForEachDecoder([&] {
    for (size_t si = 0; si < kNumFuzzSizes; ++si) {
      const size_t n = kFuzzSizes[si];
      for (int kind = 0; kind < 6; ++kind) {
        const uint32_t seed =
            ::scry::testing::TestSeed(2000 + 10 * static_cast<uint32_t>(si) + kind);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const std::vector<uint32_t> values = RandomBlock(rng, n, kind);
        std::string good;
        codec_->Encode(values.data(), n, &good);
        const std::string context =
            absl::StrCat(AsAbsl(codec_->name()), " n=", n, " kind=", kind, " seed=", seed);
        checker.set_context(context);
        // The intact block decodes, plain and as docid gaps.
        std::vector<uint32_t> decoded;
        checker.Expect(
            CheckBlock(*codec_, good, n, 0xffffffffu, &checker, &decoded) && decoded == values,
            "valid block does not round-trip");
        // EncodeDelta of the docids these gaps make writes the same bytes.
        std::vector<uint32_t> docids(n);
        uint32_t prev = 12345;
        for (size_t i = 0; i < n; ++i) docids[i] = prev += values[i] + 1;
        std::string delta;
        codec_->EncodeDelta(docids.data(), n, 12345, &delta);
        checker.Expect(delta == good, "EncodeDelta wrote other bytes than Encode of the gaps");

        const size_t other_n = kFuzzSizes[(si + 1 + rng() % (kNumFuzzSizes - 1)) % kNumFuzzSizes];
        uint32_t out[kBlockSize];
        ForAllMutations(good, rng, [&](std::string_view bad, const std::string& what) {
          checker.set_context(absl::StrCat(context, " ", what));
          CheckBlock(*codec_, bad, n, kFuzzPrevs[bad.size() % kNumFuzzPrevs], &checker);
          if (bad.size() < good.size()) {
            // A strict prefix of a valid block is always too short.
            checker.Expect(!codec_->Decode(bad, n, out).ok(), "truncated block decoded");
          } else if (bad[bad.size() / 2] == '\0') {
            CheckBlock(*codec_, bad, other_n, 0, &checker);  // a wrong n, now and then
          }
        });
      }
    }
  });
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
  RecordProperty("ok", static_cast<int>(checker.ok_count()));
  RecordProperty("data_loss", static_cast<int>(checker.data_loss_count()));
}

INSTANTIATE_TEST_SUITE_P(DecoderFuzz, CodecFuzzTest, ::testing::ValuesIn(CodecNames()),
                         [](const ::testing::TestParamInfo<std::string_view>& info) {
                           return std::string(info.param);
                         });

// --- Posting and positions chunks, TermInfo ----------------------------------------

EncodedPostingList MustEncode(std::mt19937& rng, const PostingList& list,
                              const storage::PostingCodecs& codecs) {
  absl::StatusOr<EncodedPostingList> enc = EncodeWithRandomLengths(rng, list, codecs);
  EXPECT_THAT(enc, IsOk());
  return enc.ok() ? *std::move(enc) : EncodedPostingList{};
}

std::string CodecsName(const storage::PostingCodecs& c) {
  return absl::StrCat(AsAbsl(c.docids->name()), "/", AsAbsl(c.freqs->name()), "/",
                      AsAbsl(c.positions != nullptr ? c.positions->name() : "(freqs)"));
}

// Lists of one chunk, small enough to corrupt every byte (those of more than
// one block carry impacts).
TEST(DecoderFuzz, CorruptedSingleChunkLists) {
  Checker checker;
  for (size_t n : {1, 2, 3, 5, 31, 127, 128, 129, 200}) {
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      SCRY_SEEDED_RNG(rng, static_cast<uint32_t>(100 * n) + seed);
      const PostingList list = RandomPostingList(rng, n);
      const storage::PostingCodecs codecs = RandomCodecs(rng);
      const EncodedPostingList enc = MustEncode(rng, list, codecs);
      ASSERT_EQ(enc.posting_chunks.size(), 1u);
      const std::string& postings = enc.posting_chunks[0];
      const std::string& positions = enc.position_chunks[0];
      const std::string context =
          absl::StrCat("n=", n, " seed=", 100 * n + seed, " codecs=", CodecsName(codecs));

      // Intact, everything decodes.
      checker.set_context(context + " intact");
      const size_t loss_before = checker.data_loss_count();
      CheckChunks(postings, positions, &checker);
      checker.Expect(checker.data_loss_count() == loss_before, "an intact chunk did not decode");
      const size_t blocks = (n + kBlockSize - 1) / kBlockSize;

      // Posting chunk corrupted, positions intact; then the other way round.
      const bool every_byte = n <= 129;
      auto posting_check = [&](std::string_view bad, const std::string& what) {
        checker.set_context(absl::StrCat(context, " postings: ", what));
        CheckChunks(bad, positions, &checker);
      };
      auto positions_check = [&](std::string_view bad, const std::string& what) {
        checker.set_context(absl::StrCat(context, " positions: ", what));
        CheckChunks(postings, bad, &checker);
      };
      if (every_byte) {
        ForAllMutations(postings, rng, posting_check);
        ForAllMutations(positions, rng, positions_check);
      } else {
        ForRandomMutations(postings, 2 + 12 * blocks, 3000, rng, posting_check);
        ForRandomMutations(positions, 1 + 4 * blocks, 3000, rng, positions_check);
      }

      // The TermInfo, as stored for a long list and (one block) for a short
      // one, with the list inline in compact form.
      const std::string outline = enc.info.Encode();
      TermInfo info;
      std::string inlined;
      if (MakeInline(enc, &info)) inlined = info.Encode();
      auto term_check = [&](std::string_view bad, const std::string& what) {
        checker.set_context(absl::StrCat(context, " term info: ", what));
        CheckTermInfo(bad, &checker);
      };
      checker.set_context(context + " term info intact");
      const size_t loss_before_info = checker.data_loss_count();
      CheckTermInfo(outline, &checker);
      CheckTermInfo(inlined, &checker);  // (empty unless one block: DataLoss)
      checker.Expect(checker.data_loss_count() - loss_before_info == (inlined.empty() ? 1 : 0),
                     "an intact term info did not decode");
      ForAllMutations(outline, rng, term_check);
      if (every_byte) {
        ForAllMutations(inlined, rng, term_check);
      } else {
        ForRandomMutations(inlined, 24, 3000, rng, term_check);
      }
    }
  }
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
  RecordProperty("ok", static_cast<int>(checker.ok_count()));
  RecordProperty("data_loss", static_cast<int>(checker.data_loss_count()));
}

// Lists of several chunks (64 blocks of 128 postings each): random
// corruption biased to the headers, and chunks paired with the wrong
// positions chunk.
TEST(DecoderFuzz, CorruptedMultiChunkLists) {
  Checker checker;
  for (size_t n : {8192, 8193, 20000}) {
    const uint32_t seed = ::scry::testing::TestSeed(static_cast<uint32_t>(n));
    SCRY_SEED_TRACE(seed);
    std::mt19937 rng(seed);
    const PostingList list = RandomPostingList(rng, n);
    const storage::PostingCodecs codecs = RandomCodecs(rng);
    const EncodedPostingList enc = MustEncode(rng, list, codecs);
    ASSERT_EQ(enc.posting_chunks.size(), (n + 8191) / 8192);
    const std::string context =
        absl::StrCat("n=", n, " seed=", seed, " codecs=", CodecsName(codecs));
    const size_t chunks = enc.posting_chunks.size();
    for (size_t c = 0; c < chunks; ++c) {
      const std::string& postings = enc.posting_chunks[c];
      const std::string& positions = enc.position_chunks[c];
      checker.set_context(absl::StrCat(context, " chunk ", c, " intact"));
      CheckChunks(postings, positions, &checker);
      ForRandomMutations(
          postings, 2 + 12 * 64, 150, rng, [&](std::string_view bad, const std::string& what) {
            checker.set_context(absl::StrCat(context, " chunk ", c, " postings: ", what));
            CheckChunks(bad, positions, &checker);
          });
      ForRandomMutations(
          positions, 1 + 4 * 64, 150, rng, [&](std::string_view bad, const std::string& what) {
            checker.set_context(absl::StrCat(context, " chunk ", c, " positions: ", what));
            CheckChunks(postings, bad, &checker);
          });
      checker.set_context(absl::StrCat(context, " chunk ", c, " with other positions"));
      CheckChunks(postings, enc.position_chunks[(c + 1) % chunks], &checker);
    }
    ForAllMutations(enc.info.Encode(), rng, [&](std::string_view bad, const std::string& what) {
      checker.set_context(absl::StrCat(context, " term info: ", what));
      CheckTermInfo(bad, &checker);
    });
  }
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
}

// Impact lists: valid ones (from multi-block lists' TermInfos) corrupted,
// and random bytes.
TEST(DecoderFuzz, CorruptedImpactLists) {
  Checker checker;
  const uint32_t seed = ::scry::testing::TestSeed(55);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (int list_no = 0; list_no < 6; ++list_no) {
    const PostingList list = RandomPostingList(rng, 129 + rng() % 1000);
    const EncodedPostingList enc = MustEncode(rng, list, RandomCodecs(rng));
    ASSERT_FALSE(enc.info.impacts.empty());
    std::string good;
    storage::EncodeImpacts(enc.info.impacts, &good);
    checker.set_context(absl::StrCat("seed=", seed, " list ", list_no, " intact"));
    CheckImpacts(good, &checker);
    ForAllMutations(good, rng, [&](std::string_view bad, const std::string& what) {
      checker.set_context(absl::StrCat("seed=", seed, " list ", list_no, ": ", what));
      CheckImpacts(bad, &checker);
    });
  }
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 2 == 0 ? rng() % 0x80 : rng());
    checker.set_context(absl::StrCat("seed=", seed, " random trial ", trial));
    CheckImpacts(bytes, &checker);
  }
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
  RecordProperty("ok", static_cast<int>(checker.ok_count()));
  RecordProperty("data_loss", static_cast<int>(checker.data_loss_count()));
}

// Random bytes into every structure of the fuzz target's input format.
TEST(DecoderFuzz, RandomBytesIntoEveryStructure) {
  Checker checker;
  const uint32_t seed = ::scry::testing::TestSeed(77);
  SCRY_SEED_TRACE(seed);
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 5000; ++trial) {
    std::string input(1 + rng() % 300, '\0');
    for (char& c : input) c = static_cast<char>(rng() % 3 == 0 ? rng() % 4 : rng());
    const int kind = trial % (kFirstCodecSelector + 1);  // each structure, or a codec
    input[0] =
        static_cast<char>(kind == kFirstCodecSelector ? kFirstCodecSelector + rng() % 251 : kind);
    checker.set_context(absl::StrCat("seed=", seed, " trial=", trial));
    RunFuzzInput(reinterpret_cast<const uint8_t*>(input.data()), input.size(), &checker);
  }
  EXPECT_TRUE(checker.ok()) << checker.violations() << " violations:\n" << checker.Report();
}

// --- Stack poisoning (ASan builds) --------------------------------------------------

#ifdef SCRY_TEST_HAVE_ASAN
// Bytes of dead stack below the caller's frame that the helpers look at, and
// the few right below it that belong to the helpers' own frames.
constexpr size_t kStackScan = 64 * 1024;
constexpr size_t kStackMargin = 256;

// Clears the shadow of the dead stack below the caller's frame.
__attribute__((noinline)) void UnpoisonStackBelow() {
  const auto top = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) - kStackMargin;
  ASAN_UNPOISON_MEMORY_REGION(reinterpret_cast<void*>(top - kStackScan), kStackScan);
}

// Poisoned bytes left in the dead stack below the caller's frame: an
// instrumented function unpoisons its frame when it returns, so any is
// stale poison, which makes ASan report later, correct frames at that depth.
__attribute__((noinline)) size_t StalePoisonBelow() {
  const auto top = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) - kStackMargin;
  size_t poisoned = 0;
  for (uintptr_t a = top - kStackScan; a < top; a += 8) {
    poisoned += __asan_address_is_poisoned(reinterpret_cast<void*>(a)) ? 8 : 0;
  }
  return poisoned;
}
#endif

// Regression: the simdbp128 kernels (uninstrumented) inlined Highway's Iota,
// whose stack array kept its use-after-scope poisoning after they returned;
// a later DataLoss in pfor then failed with stack-use-after-scope in the ASan
// build. No codec, on any simdbp128 target, may leave the stack poisoned.
TEST(DecoderFuzz, NoCodecLeavesStalePoisonOnTheStack) {
#ifndef SCRY_TEST_HAVE_ASAN
  GTEST_SKIP() << "only meaningful under AddressSanitizer";
#else
  hwy::SetSupportedTargetsForTest(0);
  std::vector<int64_t> targets;  // the simdbp128 targets this CPU runs
  for (int64_t t = hwy::SupportedTargets() & storage::internal::SimdBp128CompiledTargets(); t != 0;
       t &= t - 1) {
    targets.push_back(t & -t);
  }
  ASSERT_FALSE(targets.empty());
  const bool saved_svb = storage::internal::SetStreamVByteSimdForTesting(true);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    for (bool svb_simd : {true, false}) {
      storage::internal::SetStreamVByteSimdForTesting(svb_simd);
      for (std::string_view name : CodecNames()) {
        const storage::BlockCodec& codec = **CodecByName(name);
        for (size_t n : kFuzzSizes) {
          for (uint32_t width : {0u, 1u, 7u, 13u, 31u, 32u}) {
            SCRY_SEEDED_RNG(rng, width * 1000 + static_cast<uint32_t>(n));
            std::vector<uint32_t> values(n);
            for (uint32_t& v : values)
              v = static_cast<uint32_t>(rng() & ((uint64_t{1} << width) - 1));
            std::vector<uint32_t> docids(n);
            uint32_t prev = 0xffffffffu;
            for (size_t i = 0; i < n; ++i) docids[i] = prev += values[i] + 1;
            uint32_t out[kBlockSize];
            std::string bytes, delta;
            const std::string what =
                absl::StrCat(AsAbsl(name), " n=", n, " width=", width,
                             " target=", hwy::TargetName(target), " streamvbyte simd=", svb_simd);
            UnpoisonStackBelow();
            codec.Encode(values.data(), n, &bytes);
            EXPECT_EQ(StalePoisonBelow(), 0u) << "Encode " << what;
            UnpoisonStackBelow();
            codec.EncodeDelta(docids.data(), n, 0xffffffffu, &delta);
            EXPECT_EQ(StalePoisonBelow(), 0u) << "EncodeDelta " << what;
            UnpoisonStackBelow();
            EXPECT_TRUE(codec.Decode(bytes, n, out).ok());
            EXPECT_EQ(StalePoisonBelow(), 0u) << "Decode " << what;
            UnpoisonStackBelow();
            EXPECT_TRUE(codec.DecodeDelta(delta, n, 0xffffffffu, out).ok());
            EXPECT_EQ(StalePoisonBelow(), 0u) << "DecodeDelta " << what;
            UnpoisonStackBelow();
            (void)codec.Decode(std::string_view(bytes).substr(0, bytes.size() / 2), n, out);
            EXPECT_EQ(StalePoisonBelow(), 0u) << "Decode of a truncated block " << what;
          }
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  storage::internal::SetStreamVByteSimdForTesting(saved_svb);
#endif
}

}  // namespace
}  // namespace scry::fuzz
