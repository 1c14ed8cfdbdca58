// File: storage/intersect.cc
//
// FirstGeq and the intersection kernels of storage/intersect.h. The SIMD
// kernels are written with Google Highway and dispatched at run time
// (foreach_target.h + HWY_EXPORT / HWY_DYNAMIC_DISPATCH, as in
// storage/simdbp_codec.cc) to the best target this CPU supports among AVX2
// (8 lanes), SSE4 (4 lanes) and the portable fallback (HWY_SCALAR, 1 lane,
// with GCC < 12.3; else EMU128). The kernels are generic in the lane count,
// so every target computes exactly the same results.
//
// Loads stay inside the inputs: a range that is not a whole number of vectors
// ends with a vector that overlaps the one before it (lanes counted twice are
// masked off), and lists shorter than one block go to the scalar kernels.
// Outputs are written one element at a time, except by the SIMD merge, whose
// full-vector stores fit in min(na, nb) (see SimdMergeKernel).

#include "storage/intersect.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

// The kernels are compiled for AVX2, SSE4 and Highway's portable fallback
// only, like storage/simdbp_codec.cc: AVX3 (AVX-512) and later targets would
// add compile time (most in the sanitizer build) and have not been tuned.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS ((HWY_AVX2 - 1) | HWY_SSSE3)  // bits 0..8: x86 above AVX2
#endif

// Re-includes this file once per Highway target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "storage/intersect.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#ifndef SCRY_STORAGE_INTERSECT_SHARED_
#define SCRY_STORAGE_INTERSECT_SHARED_
namespace scry::storage::isect {

// A condition that is true about half of the time: GCC then computes what
// depends on it with setcc / cmov / adc instead of a branch that would be
// mispredicted.
inline bool Unpredictable(bool cond) { return __builtin_expect_with_probability(cond, 1, 0.5); }

// 1 if x <= y, else 0, by arithmetic: GCC turns a comparison here into a
// branch, even with Unpredictable().
inline size_t NotGreater(uint32_t x, uint32_t y) {
  return static_cast<size_t>(1 - ((uint64_t{y} - x) >> 63));
}

// Scalar kernels, shared by all targets (for tails and short lists).

// Index of the first a[i] >= t in a[0, n): a branch-free binary search. The
// answer stays in [base, base + len]; each step halves len with one
// conditional move.
inline size_t LowerBound(const uint32_t* a, size_t n, uint32_t t) {
  if (n == 0) return 0;
  size_t base = 0;
  while (n > 1) {
    const size_t half = n / 2;
    base = Unpredictable(a[base + half - 1] < t) ? base + half : base;
    n -= half;
  }
  return base + (a[base] < t ? 1 : 0);
}

// out[k] is written before it is known to be a match; k <= min(i, j) keeps
// it inside min(na, nb). Branch-free: each step advances one list or both.
inline size_t MergeScalar(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                          uint32_t* out) {
  size_t i = 0;
  size_t j = 0;
  size_t k = 0;
  while (i < na && j < nb) {
    const uint32_t x = a[i];
    const uint32_t y = b[j];
    out[k] = x;
    k += Unpredictable(x == y);
    i += NotGreater(x, y);
    j += NotGreater(y, x);
  }
  return k;
}

// s is the shorter list. For each x of s: gallop from `lo` (everything before
// it is < x) to a position hi with l[hi] >= x, then binary-search (lo, hi].
inline size_t GallopScalar(const uint32_t* s, size_t ns, const uint32_t* l, size_t nl,
                           uint32_t* out) {
  if (ns == 0 || nl == 0) return 0;
  const uint32_t l_last = l[nl - 1];
  size_t lo = 0;
  size_t k = 0;
  for (size_t i = 0; i < ns; ++i) {
    const uint32_t x = s[i];
    if (x > l_last) break;
    size_t hi = lo;
    size_t step = 1;
    while (hi < nl - 1 && l[hi] < x) {
      lo = hi + 1;
      step *= 2;
      hi = lo + step - 1;
    }
    hi = std::min(hi, nl - 1);  // l[hi] >= x: the probe, or l_last
    const size_t pos = lo + LowerBound(l + lo, hi - lo, x);
    out[k] = x;
    k += l[pos] == x ? 1 : 0;
    lo = pos;
  }
  return k;
}

}  // namespace scry::storage::isect
#endif  // SCRY_STORAGE_INTERSECT_SHARED_

HWY_BEFORE_NAMESPACE();
namespace scry::storage::isect {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<uint32_t>;
using V = hn::Vec<D>;
constexpr size_t kLanes = hn::MaxLanes(D());

// Tuning, measured with bench/intersect_bench.cc on AVX2 (see Intersect()):
// FirstGeq binary-searches down to kFirstGeqWindow elements and counts
// those with SIMD compares (windows of 1, 2, 8 and 16 vectors, and an early-
// exit SIMD scan, were no faster on 128-element blocks). The scan and the
// galloping kernel compare blocks of kBlockVectors vectors (64 docids on
// AVX2; 2 and 4 vectors were slower past 1:10, 16 no faster). The scan skips
// kScanCoarseBlocks blocks at a time when the longer list is at least
// kScanCoarseMinRatio times longer.
constexpr size_t kFirstGeqWindow = 4 * kLanes;
constexpr size_t kBlockVectors = 8;
constexpr size_t kBlock = kBlockVectors * kLanes;
constexpr size_t kScanCoarseBlocks = 8;
constexpr size_t kScanCoarseMinRatio = 64;

// Number of elements of a[0, n) below vt's lanes.
HWY_INLINE size_t CountLess(const uint32_t* HWY_RESTRICT a, size_t n, V vt) {
  const D d;
  if (n < kLanes) {
    const uint32_t t = hn::GetLane(vt);
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) count += a[i] < t ? 1 : 0;
    return count;
  }
  size_t count = 0;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    count += hn::CountTrue(d, hn::Lt(hn::LoadU(d, a + i), vt));
  }
  if (i < n) {  // the last vector overlaps; its first kLanes - (n - i) lanes were counted
    const auto fresh = hn::Not(hn::FirstN(d, kLanes - (n - i)));
    count += hn::CountTrue(d, hn::And(fresh, hn::Lt(hn::LoadU(d, a + n - kLanes), vt)));
  }
  return count;
}

// Narrows [base, base + n] (which holds the answer) to kFirstGeqWindow
// elements as LowerBound does, then counts the elements below the target.
size_t FirstGeqKernel(const uint32_t* HWY_RESTRICT a, size_t n, uint32_t target) {
  size_t base = 0;
  while (n > kFirstGeqWindow) {
    const size_t half = n / 2;
    base = Unpredictable(a[base + half - 1] < target) ? base + half : base;
    n -= half;
  }
  return base + CountLess(a + base, n, hn::Set(D(), target));
}

// Whether the block of kBlock elements at p holds x (in every lane of vx).
HWY_INLINE bool BlockHas(const uint32_t* HWY_RESTRICT p, V vx) {
  const D d;
  auto eq = hn::Eq(hn::LoadU(d, p), vx);
  for (size_t v = 1; v < kBlockVectors; ++v) {
    eq = hn::Or(eq, hn::Eq(hn::LoadU(d, p + v * kLanes), vx));
  }
  return !hn::AllFalse(d, eq);
}

// Compress: the lanes of a vector selected by a mask, moved to the front.
// Highway 1.0.3's CompressStore copies its 1 KiB index table to the stack on
// every call under GCC (a non-static constexpr array), so the kernels use
// this static table: for each mask of kLanes <= 8 bits, the indices of its
// set lanes packed as nibbles, lowest first.
struct CompressTable {
  constexpr CompressTable() {
    for (uint32_t bits = 0; bits < (1u << kLanes); ++bits) {
      uint32_t packed = 0;
      uint32_t shift = 0;
      for (uint32_t lane = 0; lane < kLanes; ++lane) {
        if (bits & (1u << lane)) {
          packed |= lane << shift;
          shift += 4;
        }
      }
      nibbles[bits] = packed;
    }
  }
  uint32_t nibbles[1u << kLanes] = {};
};
static_assert(kLanes <= 8, "nibble-packed compress indices");
alignas(64) constexpr CompressTable kCompressTable;

// Writes the lanes of v selected by m to out[0, CountTrue(m)) and returns
// the count. Stores a whole vector if `full_store` (out has room for kLanes).
HWY_INLINE size_t CompressTo(V v, hn::Mask<D> m, bool full_store, uint32_t* HWY_RESTRICT out) {
  const D d;
  uint8_t bits[8];
  hn::StoreMaskBits(d, m, bits);
  const uint32_t mask = bits[0] & ((1u << kLanes) - 1);
  const V shifts = hn::ShiftLeft<2>(hn::Iota(d, 0));  // 0, 4, 8, ...
  const V lanes =
      hn::And(hn::Set(d, kCompressTable.nibbles[mask]) >> shifts, hn::Set(d, kLanes - 1));
  const V packed = hn::TableLookupLanes(v, hn::IndicesFromVec(d, lanes));
  const auto count = static_cast<size_t>(__builtin_popcount(mask));
  if (HWY_LIKELY(full_store)) {
    hn::StoreU(packed, d, out);
  } else {
    alignas(32) uint32_t buf[kLanes];
    hn::Store(packed, d, buf);
    std::copy_n(buf, count, out);
  }
  return count;
}

// SIMD block merge. One vector of a against one of b: each lane of a is
// compared with every element of b's vector (broadcast from memory), and the
// matching lanes of a are compressed to out. Then the vector with the
// smaller last element (or both) advances. A whole-vector store is used
// where one fits in out's min(na, nb) elements, a copy of the matches near
// the end. The scalar merge finishes the tails; it writes to out[matches so
// far], which stays below min(na, nb): while it runs, each list still has an
// unmatched element (the first never compared, or the last of a vector that
// stayed, which is larger than everything matched). Lists shorter than a
// vector are galloped instead.
size_t SimdMergeKernel(const uint32_t* HWY_RESTRICT a, size_t na, const uint32_t* HWY_RESTRICT b,
                       size_t nb, uint32_t* HWY_RESTRICT out) {
  if (na < kLanes || nb < kLanes) {  // not one vector: gallop rather than merge
    return na <= nb ? GallopScalar(a, na, b, nb, out) : GallopScalar(b, nb, a, na, out);
  }
  const D d;
  const size_t full_store_end = std::min(na, nb) - kLanes;  // last k for a whole vector
  size_t i = 0;
  size_t j = 0;
  size_t k = 0;
  do {
    const V va = hn::LoadU(d, a + i);
    auto eq = hn::Eq(va, hn::Set(d, b[j]));
    for (size_t t = 1; t < kLanes; ++t) eq = hn::Or(eq, hn::Eq(va, hn::Set(d, b[j + t])));
    k += CompressTo(va, eq, k <= full_store_end, out + k);
    const uint32_t a_max = a[i + kLanes - 1];
    const uint32_t b_max = b[j + kLanes - 1];
    i += kLanes * NotGreater(a_max, b_max);
    j += kLanes * NotGreater(b_max, a_max);
  } while (i + kLanes <= na && j + kLanes <= nb);
  return k + MergeScalar(a + i, na - i, b + j, nb - j, out + k);
}

// SIMD scan (V1, with V3's coarse step). s is the shorter list. For each x,
// blocks of l are skipped while their last element is < x (first kCoarse
// blocks at a time, then one), and the block reached is compared with x. The
// last block is aligned to the end of l. Everything before j is < x.
template <size_t kCoarse>
HWY_INLINE size_t ScanImpl(const uint32_t* HWY_RESTRICT s, size_t ns,
                           const uint32_t* HWY_RESTRICT l, size_t nl, uint32_t* HWY_RESTRICT out) {
  constexpr size_t kStride = kCoarse * kBlock;
  const D d;
  const uint32_t l_last = l[nl - 1];
  size_t j = 0;
  size_t k = 0;
  for (size_t i = 0; i < ns; ++i) {
    const uint32_t x = s[i];
    if (x > l_last) break;
    if constexpr (kCoarse > 1) {
      while (j + kStride <= nl && l[j + kStride - 1] < x) j += kStride;
    }
    while (j + kBlock <= nl && l[j + kBlock - 1] < x) j += kBlock;
    if (j + kBlock > nl) j = nl - kBlock;  // the block ending in l_last >= x
    out[k] = x;
    k += BlockHas(l + j, hn::Set(d, x)) ? 1 : 0;
  }
  return k;
}

size_t ScanKernel(const uint32_t* HWY_RESTRICT s, size_t ns, const uint32_t* HWY_RESTRICT l,
                  size_t nl, uint32_t* HWY_RESTRICT out) {
  if (ns == 0 || nl < kBlock) return GallopScalar(s, ns, l, nl, out);
  if (nl / ns < kScanCoarseMinRatio) return ScanImpl<1>(s, ns, l, nl, out);
  return ScanImpl<kScanCoarseBlocks>(s, ns, l, nl, out);
}

// SIMD galloping. s is the shorter list. For each x: probes l at lo + B - 1,
// then 2B, 4B, ... further (B = kBlock) until an element >= x (or l's end),
// binary-searches that range down to B elements and compares the block of B
// elements that holds them. Everything before lo is < x.
size_t GallopKernel(const uint32_t* HWY_RESTRICT s, size_t ns, const uint32_t* HWY_RESTRICT l,
                    size_t nl, uint32_t* HWY_RESTRICT out) {
  if (ns == 0 || nl < kBlock) return GallopScalar(s, ns, l, nl, out);
  const D d;
  const uint32_t l_last = l[nl - 1];
  size_t lo = 0;
  size_t k = 0;
  for (size_t i = 0; i < ns; ++i) {
    const uint32_t x = s[i];
    if (x > l_last) break;
    size_t hi = lo + kBlock - 1;
    size_t step = kBlock;
    while (hi < nl - 1 && l[hi] < x) {
      lo = hi + 1;
      step *= 2;
      hi = lo + step - 1;
    }
    hi = std::min(hi, nl - 1);  // l[hi] >= x
    size_t len = hi - lo + 1;   // the first element >= x is in [lo, lo + len)
    while (len > kBlock) {
      const size_t half = len / 2;
      lo = Unpredictable(l[lo + half - 1] < x) ? lo + half : lo;
      len -= half;
    }
    out[k] = x;
    k += BlockHas(l + std::min(lo, nl - kBlock), hn::Set(d, x)) ? 1 : 0;
  }
  return k;
}

int64_t CompiledTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace scry::storage::isect
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace scry::storage {
namespace isect {

HWY_EXPORT(FirstGeqKernel);
HWY_EXPORT(SimdMergeKernel);
HWY_EXPORT(ScanKernel);
HWY_EXPORT(GallopKernel);
HWY_EXPORT(CompiledTarget);

// HWY_DYNAMIC_DISPATCH names the function unqualified, so the calls are made
// from this namespace.
size_t FirstGeq(const uint32_t* a, size_t n, uint32_t target) {
  return HWY_DYNAMIC_DISPATCH(FirstGeqKernel)(a, n, target);
}
size_t SimdMerge(const uint32_t* a, size_t na, const uint32_t* b, size_t nb, uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(SimdMergeKernel)(a, na, b, nb, out);
}
size_t Scan(const uint32_t* s, size_t ns, const uint32_t* l, size_t nl, uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(ScanKernel)(s, ns, l, nl, out);
}
size_t Gallop(const uint32_t* s, size_t ns, const uint32_t* l, size_t nl, uint32_t* out) {
  return HWY_DYNAMIC_DISPATCH(GallopKernel)(s, ns, l, nl, out);
}
int64_t DispatchedTarget() { return HWY_DYNAMIC_DISPATCH(CompiledTarget)(); }

}  // namespace isect

size_t FirstGeq(const uint32_t* a, size_t n, uint32_t target) noexcept {
  return isect::FirstGeq(a, n, target);
}

size_t FirstGeqScalar(const uint32_t* a, size_t n, uint32_t target) noexcept {
  return isect::LowerBound(a, n, target);
}

size_t IntersectMerge(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                      uint32_t* out) noexcept {
  return isect::MergeScalar(a, na, b, nb, out);
}

size_t IntersectGalloping(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                          uint32_t* out) noexcept {
  return na <= nb ? isect::GallopScalar(a, na, b, nb, out) : isect::GallopScalar(b, nb, a, na, out);
}

size_t IntersectSimdMerge(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                          uint32_t* out) noexcept {
  return isect::SimdMerge(a, na, b, nb, out);
}

size_t IntersectSimdScan(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                         uint32_t* out) noexcept {
  return na <= nb ? isect::Scan(a, na, b, nb, out) : isect::Scan(b, nb, a, na, out);
}

size_t IntersectSimdGalloping(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                              uint32_t* out) noexcept {
  return na <= nb ? isect::Gallop(a, na, b, nb, out) : isect::Gallop(b, nb, a, na, out);
}

// Thresholds on the ratio nl / ns of the lengths (longer over shorter), from
// bench/intersect_bench.cc on the AVX2 target (AMD EPYC at 2.1 GHz, a shared
// 2-core VM). Microseconds per intersection with a long list of 2^20 docids:
//
//   ratio           1:3   1:6   1:8   1:10 | 1:10000  1:15000  1:20000  1:100000
//   simd_merge      581   512   499   473  |
//   simd_scan       961   521   406   342  |   2.60     2.79     3.29     2.36
//   simd_galloping 1099   603   483   394  |   4.11     3.05     2.28     0.50
//
// and nanoseconds per intersection of block-sized lists (medians of 3):
//
//   long:short      128:32  128:16  128:4 | 512:16  2048:64  8192:256
//   simd_merge        81      71     55   |   246     988     3645
//   simd_scan        120      61     23   |    71     355     1492
//   simd_galloping    97      53     20   |    76     407     1740
//
// So: the SIMD merge below 1:7; the SIMD scan up to 1:16000, except when the
// longer list is shorter than 256 (one or two blocks), where galloping is
// 5-15% faster; SIMD galloping otherwise. The scalar merge and galloping lose
// everywhere (at 1:1 the scalar merge takes 3.6 ms, the SIMD merge 0.88 ms;
// at 1:10000 scalar galloping 6.7 us, SIMD galloping 4.1 us).
constexpr size_t kSimdMergeMaxRatio = 7;
constexpr size_t kSimdScanMaxRatio = 16000;
constexpr size_t kSimdScanMinLength = 256;

size_t Intersect(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                 uint32_t* out) noexcept {
  if (na > nb) {
    std::swap(a, b);
    std::swap(na, nb);
  }
  if (na == 0) return 0;
  if (nb < kSimdMergeMaxRatio * na) return isect::SimdMerge(a, na, b, nb, out);
  if (nb >= kSimdScanMinLength && nb < kSimdScanMaxRatio * na) {
    return isect::Scan(a, na, b, nb, out);
  }
  return isect::Gallop(a, na, b, nb, out);
}

std::span<const IntersectKernel> IntersectKernels() noexcept {
  static constexpr IntersectKernel kKernels[] = {
      {"merge", &IntersectMerge},
      {"galloping", &IntersectGalloping},
      {"simd_merge", &IntersectSimdMerge},
      {"simd_scan", &IntersectSimdScan},
      {"simd_galloping", &IntersectSimdGalloping},
      {"auto", &Intersect},
  };
  return kKernels;
}

namespace internal {
int64_t IntersectCompiledTargets() { return HWY_TARGETS; }
int64_t IntersectDispatchedTarget() { return isect::DispatchedTarget(); }
}  // namespace internal

}  // namespace scry::storage
#endif  // HWY_ONCE
