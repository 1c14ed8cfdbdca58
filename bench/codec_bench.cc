// File: bench/codec_bench.cc
//
// Block codec throughput on posting-list-like data: blocks of kBlockSize gaps
// drawn from a geometric distribution (mean gap 8 = a frequent term, 100 = a
// rarer one). Every codec in CodecNames() is registered automatically.
//
//   BM_Decode/<codec>/mean_gap:<m>   integers decoded per second
//   BM_Encode/<codec>/mean_gap:<m>   integers encoded per second
//   BM_DecodeDelta/<codec>/mean_gap:<m>  docids rebuilt per second (DecodeDelta)
// Both report bits_per_int, the encoded size of the data set.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/block_codec.h"

namespace scry::storage {
namespace {

constexpr size_t kNumBlocks = 256;  // 32768 integers, a few dozen KiB encoded
constexpr uint32_t kSeed = 20240601;

// kNumBlocks * kBlockSize gaps >= 1 with the given mean.
std::vector<uint32_t> MakeGaps(uint32_t mean_gap) {
  std::mt19937 rng(kSeed + mean_gap);
  std::geometric_distribution<uint32_t> geometric(1.0 / mean_gap);
  std::vector<uint32_t> gaps(kNumBlocks * kBlockSize);
  for (uint32_t& g : gaps) g = 1 + geometric(rng);
  return gaps;
}

const BlockCodec& MustGetCodec(std::string_view name) {
  auto codec = CodecByName(name);
  if (!codec.ok()) std::abort();
  return **codec;
}

void SetCounters(benchmark::State& state, size_t encoded_bytes) {
  const size_t ints = kNumBlocks * kBlockSize;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ints));
  state.counters["bits_per_int"] = 8.0 * static_cast<double>(encoded_bytes) / ints;
}

void BM_Decode(benchmark::State& state, std::string_view codec_name, uint32_t mean_gap) {
  const BlockCodec& codec = MustGetCodec(codec_name);
  const std::vector<uint32_t> gaps = MakeGaps(mean_gap);
  std::string encoded;
  for (size_t b = 0; b < kNumBlocks; ++b) {
    codec.Encode(gaps.data() + b * kBlockSize, kBlockSize, &encoded);
  }
  uint32_t out[kBlockSize];
  for (auto _ : state) {
    std::string_view rest(encoded);
    for (size_t b = 0; b < kNumBlocks; ++b) {
      auto consumed = codec.Decode(rest, kBlockSize, out);
      if (!consumed.ok()) {
        state.SkipWithError("decode failed");
        return;
      }
      rest.remove_prefix(*consumed);
      benchmark::DoNotOptimize(out);
    }
    benchmark::ClobberMemory();
  }
  SetCounters(state, encoded.size());
}

// The same gaps as docids (a list starting at docid 0), encoded with
// EncodeDelta. Each block's prev comes from the previous block's last docid,
// as a reader gets it from the block headers.
void BM_DecodeDelta(benchmark::State& state, std::string_view codec_name, uint32_t mean_gap) {
  const BlockCodec& codec = MustGetCodec(codec_name);
  const std::vector<uint32_t> gaps = MakeGaps(mean_gap);
  std::vector<uint32_t> docids(gaps.size());
  uint32_t docid = 0xffffffffu;
  for (size_t i = 0; i < gaps.size(); ++i) docids[i] = docid += gaps[i];
  std::vector<uint32_t> prevs(kNumBlocks);
  std::string encoded;
  for (size_t b = 0; b < kNumBlocks; ++b) {
    prevs[b] = b == 0 ? 0xffffffffu : docids[b * kBlockSize - 1];
    codec.EncodeDelta(docids.data() + b * kBlockSize, kBlockSize, prevs[b], &encoded);
  }
  uint32_t out[kBlockSize];
  for (auto _ : state) {
    std::string_view rest(encoded);
    for (size_t b = 0; b < kNumBlocks; ++b) {
      auto consumed = codec.DecodeDelta(rest, kBlockSize, prevs[b], out);
      if (!consumed.ok()) {
        state.SkipWithError("decode failed");
        return;
      }
      rest.remove_prefix(*consumed);
      benchmark::DoNotOptimize(out);
    }
    benchmark::ClobberMemory();
  }
  SetCounters(state, encoded.size());
}

void BM_Encode(benchmark::State& state, std::string_view codec_name, uint32_t mean_gap) {
  const BlockCodec& codec = MustGetCodec(codec_name);
  const std::vector<uint32_t> gaps = MakeGaps(mean_gap);
  std::string encoded;
  encoded.reserve(kNumBlocks * (1 + 5 * kBlockSize));
  for (auto _ : state) {
    encoded.clear();
    for (size_t b = 0; b < kNumBlocks; ++b) {
      codec.Encode(gaps.data() + b * kBlockSize, kBlockSize, &encoded);
    }
    benchmark::DoNotOptimize(encoded.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, encoded.size());
}

const bool kRegistered = [] {
  for (std::string_view name : CodecNames()) {
    for (uint32_t mean_gap : {8u, 100u}) {
      const std::string suffix = absl::StrCat(std::string(name), "/mean_gap:", mean_gap);
      benchmark::RegisterBenchmark(absl::StrCat("BM_Decode/", suffix).c_str(), BM_Decode, name,
                                   mean_gap);
      benchmark::RegisterBenchmark(absl::StrCat("BM_Encode/", suffix).c_str(), BM_Encode, name,
                                   mean_gap);
      benchmark::RegisterBenchmark(absl::StrCat("BM_DecodeDelta/", suffix).c_str(), BM_DecodeDelta,
                                   name, mean_gap);
    }
  }
  return true;
}();

}  // namespace
}  // namespace scry::storage
