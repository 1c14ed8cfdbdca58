// File: storage/intersect.h
//
// Search and intersection over sorted, strictly ascending uint32 arrays
// (decoded docid blocks and whole docid lists): the kernels of the hot path.
//
// FirstGeq finds the first element >= a target inside a decoded block with
// SIMD compares; a cursor's next_geq skips whole blocks by their headers and
// calls it on the block it lands in. The intersection kernels follow Lemire,
// Boytsov and Kurz, "SIMD compression and the intersection of sorted
// integers" (2016): a scalar merge and galloping search, a SIMD block merge
// for lists of similar length, and SIMD variants of V1 (a block scan of the
// longer list per element of the shorter one) and galloping (exponential and
// binary search over the longer list, then one SIMD compare of a block).
// Intersect() picks one of them by the ratio of the lengths.
//
// The SIMD kernels are written with Google Highway and dispatched at run time
// to the best target this CPU supports among AVX2, SSE4 and the portable
// fallback (see storage/intersect.cc). Every target returns the same result.
//
// Example:
//
//   std::vector<uint32_t> out(std::min(a.size(), b.size()));
//   out.resize(Intersect(a.data(), a.size(), b.data(), b.size(), out.data()));
//
// Common contract of the functions below (pointers may be null when their
// length is 0):
//   REQUIRES: every input array is strictly ascending.
//   REQUIRES: `out` has room for min(na, nb) elements and overlaps neither
//             input.
// The kernels allocate nothing and keep no state. Thread safety: all of them
// may be called concurrently.
#ifndef SCRY_STORAGE_INTERSECT_H_
#define SCRY_STORAGE_INTERSECT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace scry::storage {

// FirstGeq
//
// Returns the index of the first element of a[0, n) that is >= target, or n
// if there is none (std::lower_bound). Branch-free: a binary search narrows
// the range to a few vectors, which SIMD compares count. Fastest for n <= 128
// (a decoded block), correct for any n.
[[nodiscard]] size_t FirstGeq(const uint32_t* a, size_t n, uint32_t target) noexcept;

// The same with a scalar branch-free binary search: the reference FirstGeq is
// tested against, and the fallback where SIMD does not pay.
[[nodiscard]] size_t FirstGeqScalar(const uint32_t* a, size_t n, uint32_t target) noexcept;

// Intersection kernels. Each writes a[0, na) ∩ b[0, nb), ascending, to out
// and returns its size. The arguments may come in either order of length.

// Scalar branch-light merge: O(na + nb).
size_t IntersectMerge(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                      uint32_t* out) noexcept;

// Scalar galloping: for each element of the shorter list, an exponential then
// binary search of the longer one from the last position. O(ns log(nl / ns)).
size_t IntersectGalloping(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                          uint32_t* out) noexcept;

// SIMD block merge: each vector of one list is compared with every element of
// a vector of the other (broadcasts), the matching lanes compressed to out.
size_t IntersectSimdMerge(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                          uint32_t* out) noexcept;

// SIMD V1: for each element of the shorter list, skips blocks of the longer
// one by their last element, then compares one block with SIMD.
size_t IntersectSimdScan(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                         uint32_t* out) noexcept;

// SIMD galloping: for each element of the shorter list, gallops over the
// longer one in steps of a block, binary-searches down to one block and
// compares it with SIMD.
size_t IntersectSimdGalloping(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                              uint32_t* out) noexcept;

// Intersect
//
// The kernel for the ratio of the lengths, as measured on this project's
// benchmark (bench/intersect_bench.cc; thresholds in storage/intersect.cc).
size_t Intersect(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                 uint32_t* out) noexcept;

// All kernels by name, for tests and benchmarks: "merge", "galloping",
// "simd_merge", "simd_scan", "simd_galloping" and "auto" (Intersect).
using IntersectFn = size_t (*)(const uint32_t* a, size_t na, const uint32_t* b, size_t nb,
                               uint32_t* out) noexcept;
struct IntersectKernel {
  std::string_view name;
  IntersectFn fn;
};
[[nodiscard]] std::span<const IntersectKernel> IntersectKernels() noexcept;

namespace internal {
// For tests: the Highway targets (HWY_AVX2 | ...) the kernels were compiled
// for, and the one they dispatch to now (see hwy::SetSupportedTargetsForTest).
int64_t IntersectCompiledTargets();
int64_t IntersectDispatchedTarget();
}  // namespace internal

}  // namespace scry::storage

#endif  // SCRY_STORAGE_INTERSECT_H_
