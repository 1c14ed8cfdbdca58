// File: tests/storage/intersect_test.cc
//
// FirstGeq and every intersection kernel of storage/intersect.h on every
// Highway target compiled into them and supported by this CPU
// (hwy::SetSupportedTargetsForTest, then re-dispatch), against
// std::lower_bound and std::set_intersection: empty lists, single elements,
// equal and disjoint lists, values near 0 and near 0xffffffff, length ratios
// from 1:1 to 1:100000 (every branch of Intersect()), dense and sparse lists,
// lengths that are not multiples of any vector width, inputs placed against
// inaccessible pages and canaries after the output. Every randomized case
// logs its seed.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "storage/intersect.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::testing::ElementsAreArray;
using List = std::vector<uint32_t>;

constexpr uint64_t kUniverse = uint64_t{1} << 32;

// --- Inputs --------------------------------------------------------------------

// n distinct values from [lo, lo + span), ascending. REQUIRES: n <= span.
List RandomList(std::mt19937& rng, size_t n, uint64_t lo, uint64_t span) {
  List out;
  if (span < 3 * static_cast<uint64_t>(n)) {  // dense: keep each value with probability n/span
    for (uint64_t v = lo, left = span; left > 0 && out.size() < n; ++v, --left) {
      if (std::uniform_int_distribution<uint64_t>(0, left - 1)(rng) < n - out.size()) {
        out.push_back(static_cast<uint32_t>(v));
      }
    }
    return out;
  }
  std::uniform_int_distribution<uint64_t> value(lo, lo + span - 1);
  while (out.size() < n) {
    while (out.size() < n) out.push_back(static_cast<uint32_t>(value(rng)));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  return out;
}

// A list of ns values: about half sampled from `from` (so the intersection is
// not empty), the rest drawn from [lo, lo + span).
List ShortList(std::mt19937& rng, const List& from, size_t ns, uint64_t lo, uint64_t span) {
  List picked;
  std::sample(from.begin(), from.end(), std::back_inserter(picked), (ns + 1) / 2, rng);
  List out = RandomList(rng, ns, lo, span);
  out.insert(out.end(), picked.begin(), picked.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::shuffle(out.begin(), out.end(), rng);
  out.resize(std::min(out.size(), ns));
  std::sort(out.begin(), out.end());
  return out;
}

List Reference(const List& a, const List& b) {
  List out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// --- Targets -------------------------------------------------------------------

// The compiled targets this CPU supports, best first.
std::vector<int64_t> Targets() {
  hwy::SetSupportedTargetsForTest(0);  // the real CPU, not a mock
  std::vector<int64_t> targets;
  for (int64_t t = hwy::SupportedTargets() & internal::IntersectCompiledTargets(); t != 0;
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
    ASSERT_EQ(internal::IntersectDispatchedTarget(), target) << "re-dispatch failed";
    body();
    hwy::SetSupportedTargetsForTest(0);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

constexpr uint32_t kCanary = 0xdeadbeef;
constexpr size_t kCanaries = 16;

// Runs every kernel on (a, b) and (b, a) with an output of exactly
// min(na, nb) elements: in its own allocation (so ASan sees any write past
// it), then followed by canaries that must stay untouched (for the build
// without sanitizers).
void ExpectAllKernels(const List& a, const List& b, const List& expected) {
  for (const IntersectKernel& kernel : IntersectKernels()) {
    for (bool swap : {false, true}) {
      SCOPED_TRACE(::testing::Message() << kernel.name << (swap ? " (swapped)" : ""));
      const List& x = swap ? b : a;
      const List& y = swap ? a : b;
      const size_t room = std::min(x.size(), y.size());
      List out(room);
      size_t n = kernel.fn(x.data(), x.size(), y.data(), y.size(), out.data());
      ASSERT_LE(n, room);
      out.resize(n);
      ASSERT_THAT(out, ElementsAreArray(expected)) << " na=" << x.size() << " nb=" << y.size();
      List guarded(room + kCanaries, kCanary);
      n = kernel.fn(x.data(), x.size(), y.data(), y.size(), guarded.data());
      ASSERT_EQ(n, expected.size());
      ASSERT_THAT(std::vector<uint32_t>(guarded.begin() + room, guarded.end()),
                  ::testing::Each(kCanary))
          << "wrote past min(na, nb)";
    }
  }
}

// Readable pages between inaccessible ones: arrays placed right against a
// guard page fault on any load outside them, with or without sanitizers.
class GuardedArrays {
 public:
  static constexpr size_t kPages = 8;  // of data, after a leading guard page
  GuardedArrays() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = (kPages + 2) * page_;
    void* mem = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) std::abort();
    mem_ = static_cast<char*>(mem);
    if (mprotect(mem_, page_, PROT_NONE) != 0 ||
        mprotect(mem_ + (kPages + 1) * page_, page_, PROT_NONE) != 0) {
      std::abort();
    }
  }
  ~GuardedArrays() { munmap(mem_, size_); }
  GuardedArrays(const GuardedArrays&) = delete;
  GuardedArrays& operator=(const GuardedArrays&) = delete;

  // A copy of v that ends at the trailing guard page.
  std::span<const uint32_t> AtEnd(const List& v) {
    auto* p = reinterpret_cast<uint32_t*>(mem_ + (kPages + 1) * page_) - v.size();
    std::copy(v.begin(), v.end(), p);
    return {p, v.size()};
  }
  // A copy of v that starts after the leading guard page.
  std::span<const uint32_t> AtStart(const List& v) {
    auto* p = reinterpret_cast<uint32_t*>(mem_ + page_);
    std::copy(v.begin(), v.end(), p);
    return {p, v.size()};
  }

 private:
  size_t page_ = 0;
  size_t size_ = 0;
  char* mem_ = nullptr;
};

// --- Tests ---------------------------------------------------------------------

TEST(Intersect, DispatchesToTheBestCompiledTarget) {
  const std::vector<int64_t> targets = Targets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (int64_t t : targets) names.append(names.empty() ? "" : ", ").append(hwy::TargetName(t));
  const int64_t chosen = internal::IntersectDispatchedTarget();
  std::printf("intersect: targets compiled and supported here: %s; dispatching to %s\n",
              names.c_str(), hwy::TargetName(chosen));
  EXPECT_EQ(chosen, targets.front());
#if HWY_ARCH_X86
  const int64_t compiled = internal::IntersectCompiledTargets();
  EXPECT_NE(compiled & HWY_AVX2, 0);
  EXPECT_NE(compiled & HWY_SSE4, 0);
  EXPECT_NE(compiled & (HWY_SCALAR | HWY_EMU128), 0);
  if (hwy::SupportedTargets() & HWY_AVX2) {
    EXPECT_EQ(chosen, HWY_AVX2);
  }
#endif
  std::vector<std::string_view> kernels;
  for (const IntersectKernel& k : IntersectKernels()) kernels.push_back(k.name);
  EXPECT_THAT(kernels, ElementsAreArray({"merge", "galloping", "simd_merge", "simd_scan",
                                         "simd_galloping", "auto"}));
}

TEST(FirstGeq, MatchesLowerBoundOnEveryTarget) {
  ForEachTarget([] {
    for (size_t n = 0; n <= 300; n += (n < 140 ? 1 : 37)) {
      for (int shape = 0; shape < 4; ++shape) {  // dense, sparse, near 0, near 2^32
        const uint32_t seed = ::scry::testing::TestSeed(100 * static_cast<uint32_t>(n) + shape);
        SCOPED_TRACE(::testing::Message() << "n=" << n << " shape=" << shape << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const uint64_t span = shape == 1 ? kUniverse : 2 * n + 2;
        const uint64_t lo = shape == 3 ? kUniverse - span : (shape == 0 ? 1000 : 0);
        const List a = RandomList(rng, n, lo, span);
        List targets = {0, 1, 0xfffffffe, 0xffffffff, static_cast<uint32_t>(rng())};
        for (uint32_t v : a) targets.insert(targets.end(), {v - 1, v, v + 1});
        for (uint32_t t : targets) {
          const size_t expected = std::lower_bound(a.begin(), a.end(), t) - a.begin();
          ASSERT_EQ(FirstGeq(a.data(), n, t), expected) << "target " << t;
          ASSERT_EQ(FirstGeqScalar(a.data(), n, t), expected) << "target " << t;
        }
      }
    }
  });
}

TEST(FirstGeq, LongArrays) {
  ForEachTarget([] {
    for (size_t n : {1000, 4096, 4097, 100003}) {
      const uint32_t seed = ::scry::testing::TestSeed(7 + static_cast<uint32_t>(n));
      SCOPED_TRACE(::testing::Message() << "n=" << n << " seed=" << seed);
      SCRY_SEED_TRACE(seed);
      std::mt19937 rng(seed);
      const List a = RandomList(rng, n, 0, kUniverse);
      for (int trial = 0; trial < 2000; ++trial) {
        const uint32_t t = trial % 2 ? a[rng() % n] : static_cast<uint32_t>(rng());
        const size_t expected = std::lower_bound(a.begin(), a.end(), t) - a.begin();
        ASSERT_EQ(FirstGeq(a.data(), n, t), expected) << "target " << t;
        ASSERT_EQ(FirstGeqScalar(a.data(), n, t), expected) << "target " << t;
      }
    }
  });
}

TEST(Intersect, EdgeCasesOnEveryTarget) {
  std::vector<std::pair<List, List>> cases = {
      {{}, {}},
      {{}, {1, 2, 3}},
      {{5}, {5}},
      {{5}, {6}},
      {{0}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}},
      {{0xffffffff}, {0, 0xfffffffe, 0xffffffff}},
      {{0, 0xffffffff}, {0, 0xffffffff}},
  };
  SCRY_SEEDED_RNG(rng, 4242);
  for (size_t n : {1, 7, 8, 9, 16, 31, 33, 64, 127, 128, 129, 1000}) {
    List evens;
    List odds;
    for (uint32_t i = 0; i < 2 * n; ++i) (i % 2 ? odds : evens).push_back(i);
    cases.push_back({evens, odds});  // disjoint, interleaved
    List high;
    for (uint32_t i = 0; i < n; ++i) high.push_back(0xffffffff - static_cast<uint32_t>(n) + i + 1);
    cases.push_back({evens, high});  // disjoint ranges; high ends at 0xffffffff
    cases.push_back({high, high});   // equal
    cases.push_back({evens, evens});
    const List sparse = RandomList(rng, n, 0, kUniverse);
    cases.push_back({sparse, sparse});
    cases.push_back({{sparse.back()}, sparse});  // a single element at the end
    cases.push_back({{sparse.front()}, sparse});
    cases.push_back({{0}, high});
    cases.push_back({{0xffffffff}, evens});
  }
  ForEachTarget([&cases] {
    for (size_t c = 0; c < cases.size(); ++c) {
      SCOPED_TRACE(::testing::Message() << "case " << c);
      const auto& [a, b] = cases[c];
      ExpectAllKernels(a, b, Reference(a, b));
      if (::testing::Test::HasFatalFailure()) return;
    }
  });
}

// Length ratios 1:1 to 1:100000 (every branch of Intersect()), short lengths
// around every vector width, dense and sparse universes and one that ends at
// 0xffffffff.
TEST(Intersect, RandomRatiosOnEveryTarget) {
  struct Case {
    uint32_t seed;
    List a;
    List b;
    List expected;
  };
  std::vector<Case> cases;
  const size_t kShort[] = {1, 2, 3, 5, 8, 9, 15, 16, 17, 31, 33, 100, 257, 1000, 3001};
  const size_t kRatios[] = {1, 2, 3, 4, 5, 7, 10, 16, 31, 64, 100, 250, 1000, 10000, 20000, 100000};
  for (size_t ratio : kRatios) {
    for (size_t ns : kShort) {
      const size_t nl = ns * ratio;
      if (nl > 400000) continue;
      for (int shape = 0; shape < 3; ++shape) {  // dense, sparse, near 2^32
        const uint32_t seed =
            ::scry::testing::TestSeed(static_cast<uint32_t>(1000000 * shape + 1000 * ratio + ns));
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const uint64_t span = shape == 1 ? kUniverse : nl + nl / 2 + 8;
        const uint64_t lo = shape == 2 ? kUniverse - span : 0;
        Case c{seed, RandomList(rng, nl, lo, span), {}, {}};
        c.b = ShortList(rng, c.a, ns, lo, span);
        c.expected = Reference(c.a, c.b);
        cases.push_back(std::move(c));
      }
    }
  }
  ForEachTarget([&cases] {
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message()
                   << "seed=" << c.seed << " nl=" << c.a.size() << " ns=" << c.b.size());
      ExpectAllKernels(c.a, c.b, c.expected);
      if (::testing::Test::HasFatalFailure()) return;
    }
  });
}

// Inputs right against a guard page, on either side: no kernel and no
// FirstGeq loads outside its input on any target.
TEST(Intersect, NoTargetReadsOutsideTheInputs) {
  GuardedArrays guard_a;
  GuardedArrays guard_b;
  ForEachTarget([&] {
    for (size_t nl : {0, 1, 5, 8, 9, 17, 31, 32, 33, 63, 64, 65, 129, 1000, 2048}) {
      for (size_t ns : {0, 1, 3, 8, 13, 64}) {
        if (ns > nl) continue;
        const uint32_t seed =
            ::scry::testing::TestSeed(static_cast<uint32_t>(10000 + 100 * nl + ns));
        SCOPED_TRACE(::testing::Message() << "nl=" << nl << " ns=" << ns << " seed=" << seed);
        SCRY_SEED_TRACE(seed);
        std::mt19937 rng(seed);
        const List l = RandomList(rng, nl, 0, 3 * nl + 10);
        const List s = ShortList(rng, l, ns, 0, 3 * nl + 10);
        const List expected = Reference(l, s);
        for (bool at_end : {true, false}) {
          const auto gl = at_end ? guard_a.AtEnd(l) : guard_a.AtStart(l);
          const auto gs = at_end ? guard_b.AtEnd(s) : guard_b.AtStart(s);
          for (const IntersectKernel& kernel : IntersectKernels()) {
            List out(ns);
            out.resize(kernel.fn(gl.data(), nl, gs.data(), ns, out.data()));
            ASSERT_THAT(out, ElementsAreArray(expected)) << kernel.name;
            out.assign(ns, 0);
            out.resize(kernel.fn(gs.data(), ns, gl.data(), nl, out.data()));
            ASSERT_THAT(out, ElementsAreArray(expected)) << kernel.name;
          }
          for (uint32_t t : {0u, 7u, 0xffffffffu, nl ? l.back() : 0u, nl ? l.back() + 1 : 1u}) {
            const size_t expected_pos = std::lower_bound(l.begin(), l.end(), t) - l.begin();
            ASSERT_EQ(FirstGeq(gl.data(), nl, t), expected_pos) << t;
            ASSERT_EQ(FirstGeqScalar(gl.data(), nl, t), expected_pos) << t;
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace scry::storage
