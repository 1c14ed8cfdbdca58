// File: bench/intersect_bench.cc
//
// Intersection kernels and FirstGeq (storage/intersect.h) on docid-like data.
// The long list holds 2^20 docids drawn uniformly from a universe of 10M
// documents (mean gap ~9.5); the short list of a ratio 1:r holds 2^20 / r
// docids, half sampled from the long list and half drawn from the universe,
// so about 55% of it is in the intersection. Fixed seeds.
//
//   BM_Intersect/<kernel>/ratio:<r>   postings (na + nb) per second; every
//                                     kernel of IntersectKernels(), r from 1
//                                     to 100000 (Intersect()'s thresholds)
//   BM_IntersectBlock/<kernel>/short:<n>/long:<m>
//                                     m consecutive docids of the long list
//                                     against n docids of the same range
//                                     (half from them), 1024 random pairs:
//                                     postings per second, time_per_pair
//   BM_FirstGeq/<variant>             calls on random 128-docid blocks (in
//                                     L1) with a random target inside each;
//                                     time_per_call (2^16 calls per iteration,
//                                     so branches cannot be learnt). FirstGeq,
//                                     FirstGeqScalar, std::lower_bound, a
//                                     linear scan
//   BM_FirstGeqChained/<variant>      the same, each target depending on the
//                                     previous result (latency, as in a
//                                     cursor's leapfrog)
//
// Run: build/bench/intersect_bench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "storage/intersect.h"

namespace scry::storage {
namespace {

constexpr size_t kLongSize = size_t{1} << 20;
constexpr uint32_t kUniverse = 10'000'000;
constexpr uint32_t kSeed = 1902741074;
// 1:1 to 1:10000, plus the neighbourhood of Intersect()'s thresholds.
constexpr int64_t kRatios[] = {1, 3, 6, 8, 10, 100, 1000, 10000, 15000, 20000, 100000};

// n distinct docids, ascending: n / 2 sampled from `from` (which may be
// empty), the rest drawn uniformly from [0, kUniverse).
std::vector<uint32_t> DocIds(std::mt19937& rng, size_t n, const std::vector<uint32_t>& from) {
  std::vector<uint32_t> out;
  std::sample(from.begin(), from.end(), std::back_inserter(out), n / 2, rng);
  std::uniform_int_distribution<uint32_t> docid(0, kUniverse - 1);
  while (out.size() < n) {
    while (out.size() < n) out.push_back(docid(rng));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  return out;
}

const std::vector<uint32_t>& LongList() {
  static const std::vector<uint32_t> list = [] {
    std::mt19937 rng(kSeed);
    return DocIds(rng, kLongSize, {});
  }();
  return list;
}

void BM_Intersect(benchmark::State& state, IntersectFn fn) {
  const std::vector<uint32_t>& l = LongList();
  std::mt19937 rng(kSeed + static_cast<uint32_t>(state.range(0)));
  const std::vector<uint32_t> s = DocIds(rng, kLongSize / state.range(0), l);
  std::vector<uint32_t> out(s.size());
  size_t matches = 0;
  for (auto _ : state) {
    matches = fn(s.data(), s.size(), l.data(), l.size(), out.data());
    benchmark::DoNotOptimize(matches);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * (l.size() + s.size())));
  state.counters["short"] = static_cast<double>(s.size());
  state.counters["matches"] = static_cast<double>(matches);
}

// Block-sized inputs, as a conjunction of cursors intersects them: `long`
// consecutive docids of the long list against `short` docids in the same
// docid range (half from them). 1024 random pairs per iteration.
void BM_IntersectBlock(benchmark::State& state, IntersectFn fn) {
  constexpr size_t kPairs = 1024;
  const std::vector<uint32_t>& l = LongList();
  const auto ns = static_cast<size_t>(state.range(0));
  const auto kLen = static_cast<size_t>(state.range(1));
  std::mt19937 rng(kSeed + static_cast<uint32_t>(ns));
  std::vector<const uint32_t*> longs;
  std::vector<std::vector<uint32_t>> shorts;
  for (size_t p = 0; p < kPairs; ++p) {
    const uint32_t* block = l.data() + (rng() % (l.size() / kLen)) * kLen;
    std::vector<uint32_t> s;
    std::sample(block, block + kLen, std::back_inserter(s), ns / 2, rng);
    std::uniform_int_distribution<uint32_t> docid(block[0], block[kLen - 1]);
    while (s.size() < ns) {
      while (s.size() < ns) s.push_back(docid(rng));
      std::sort(s.begin(), s.end());
      s.erase(std::unique(s.begin(), s.end()), s.end());
    }
    longs.push_back(block);
    shorts.push_back(std::move(s));
  }
  std::vector<uint32_t> out(ns);
  for (auto _ : state) {
    size_t matches = 0;
    for (size_t p = 0; p < kPairs; ++p) {
      matches += fn(shorts[p].data(), ns, longs[p], kLen, out.data());
    }
    benchmark::DoNotOptimize(matches);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPairs * (kLen + ns)));
  state.counters["time_per_pair"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kPairs),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// --- FirstGeq ------------------------------------------------------------------

using FirstGeqFn = size_t (*)(const uint32_t* a, size_t n, uint32_t target) noexcept;

size_t StdLowerBound(const uint32_t* a, size_t n, uint32_t target) noexcept {
  return static_cast<size_t>(std::lower_bound(a, a + n, target) - a);
}

size_t LinearScan(const uint32_t* a, size_t n, uint32_t target) noexcept {
  size_t i = 0;
  while (i < n && a[i] < target) ++i;
  return i;
}

constexpr size_t kBlock = 128;
constexpr size_t kBlocks = 32;      // 16 KiB, in L1 like a freshly decoded block
constexpr size_t kCalls = 1 << 16;  // too many for the branch predictor to learn

struct Probes {
  const uint32_t* blocks;        // kBlocks blocks of kBlock docids
  std::vector<uint8_t> block;    // per call: which block
  std::vector<uint32_t> target;  // per call: uniform in the block's range
};

Probes MakeProbes() {
  std::mt19937 rng(kSeed);
  Probes p{LongList().data(), {}, {}};
  for (size_t c = 0; c < kCalls; ++c) {
    const auto b = static_cast<uint8_t>(rng() % kBlocks);
    const uint32_t* block = p.blocks + b * kBlock;
    p.block.push_back(b);
    p.target.push_back(std::uniform_int_distribution<uint32_t>(block[0], block[kBlock - 1])(rng));
  }
  return p;
}

// Printed as e.g. "time_per_call=4.9ns".
void SetPerCall(benchmark::State& state) {
  state.counters["time_per_call"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kCalls),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_FirstGeq(benchmark::State& state, FirstGeqFn fn) {
  benchmark::DoNotOptimize(fn);  // no inlining through the pointer
  const Probes p = MakeProbes();
  for (auto _ : state) {
    size_t sum = 0;
    for (size_t c = 0; c < kCalls; ++c)
      sum += fn(p.blocks + p.block[c] * kBlock, kBlock, p.target[c]);
    benchmark::DoNotOptimize(sum);
  }
  SetPerCall(state);
}

void BM_FirstGeqChained(benchmark::State& state, FirstGeqFn fn) {
  benchmark::DoNotOptimize(fn);
  const Probes p = MakeProbes();
  for (auto _ : state) {
    size_t prev = 0;
    for (size_t c = 0; c < kCalls; ++c) {
      // prev < 2^32, so the target is unchanged, but waits for prev.
      prev = fn(p.blocks + p.block[c] * kBlock, kBlock,
                p.target[c] + static_cast<uint32_t>(prev >> 32));
    }
    benchmark::DoNotOptimize(prev);
  }
  SetPerCall(state);
}

void RegisterAll() {
  for (const IntersectKernel& kernel : IntersectKernels()) {
    auto* b = benchmark::RegisterBenchmark(("BM_Intersect/" + std::string(kernel.name)).c_str(),
                                           BM_Intersect, kernel.fn);
    b->ArgName("ratio");
    for (int64_t r : kRatios) b->Arg(r);
  }
  for (const IntersectKernel& kernel : IntersectKernels()) {
    auto* b = benchmark::RegisterBenchmark(
        ("BM_IntersectBlock/" + std::string(kernel.name)).c_str(), BM_IntersectBlock, kernel.fn);
    b->ArgNames({"short", "long"});
    for (int64_t n : {128, 64, 32, 16, 8, 4, 1}) b->Args({n, 128});
    for (int64_t len : {512, 2048, 8192}) {
      for (int64_t r : {8, 32, 128}) b->Args({len / r, len});
    }
  }
  const std::pair<const char*, FirstGeqFn> variants[] = {
      {"FirstGeq", &FirstGeq},
      {"FirstGeqScalar", &FirstGeqScalar},
      {"std_lower_bound", &StdLowerBound},
      {"linear_scan", &LinearScan},
  };
  for (const auto& [name, fn] : variants) {
    benchmark::RegisterBenchmark((std::string("BM_FirstGeq/") + name).c_str(), BM_FirstGeq, fn);
  }
  for (const auto& [name, fn] : variants) {
    benchmark::RegisterBenchmark((std::string("BM_FirstGeqChained/") + name).c_str(),
                                 BM_FirstGeqChained, fn);
  }
}

const bool kRegistered = (RegisterAll(), true);

}  // namespace
}  // namespace scry::storage
