// File: storage/bitpack_internal.h
//
// Horizontal bit packing, LSB first, shared by the "bitpack" codec
// (block_codec.cc) and the "pfor" codec (pfor_codec.cc, for its low parts and
// exception high parts): value i occupies bits [i * width, (i + 1) * width)
// of a little-endian bit stream, ceil(n * width / 8) bytes, pad bits 0.
// Also the SSE2 prefix sum that rebuilds docids from gaps. Internal to
// storage/: not part of the library's public headers.
#ifndef SCRY_STORAGE_BITPACK_INTERNAL_H_
#define SCRY_STORAGE_BITPACK_INTERNAL_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace scry::storage::bitpack {

inline constexpr uint32_t kMaxWidth = 32;

// Bytes that n values of `width` bits take.
constexpr size_t PackedBytes(size_t n, uint32_t width) noexcept { return (n * width + 7) / 8; }

// Little-endian 64-bit load. REQUIRES: p points at 8 readable bytes.
inline uint64_t LoadLE64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Little-endian load of the min(8, avail) bytes at p; the rest are zero.
inline uint64_t LoadLE64Partial(const uint8_t* p, size_t avail) noexcept {
  if (avail >= 8) return LoadLE64(p);
  uint64_t v = 0;
  for (size_t i = 0; i < avail; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Writes the low `width` bits of values[0, n) to out and returns the bytes
// written, PackedBytes(n, width). REQUIRES: each value < 2^width (width <=
// 32); out has room for PackedBytes(n, width) bytes. Completed 32-bit words
// are stored whole, the last bytes one at a time; nothing past the packed
// bytes is written.
inline size_t Pack(const uint32_t* values, size_t n, uint32_t width, uint8_t* out) noexcept {
  if (width == 0) return 0;
  uint64_t acc = 0;  // pending bits, LSB first; fewer than 32 between values
  uint32_t pending = 0;
  uint8_t* p = out;
  for (size_t i = 0; i < n; ++i) {
    acc |= uint64_t{values[i]} << pending;
    pending += width;
    if (pending >= 32) {
      uint32_t word = static_cast<uint32_t>(acc);
      if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap32(word);
      std::memcpy(p, &word, sizeof(word));
      p += 4;
      acc >>= 32;
      pending -= 32;
    }
  }
  for (; pending > 0; pending -= std::min<uint32_t>(pending, 8)) {
    *p++ = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
  return static_cast<size_t>(p - out);
}

// Unpacks n values of W bits from `in`, which has `avail` readable bytes, at
// least PackedBytes(n, W) (bytes past the packed data are ignored). Eight
// values span exactly W bytes, so within a group of eight every load offset
// and shift is a compile-time constant; groups use unchecked 8-byte loads
// while those stay inside `avail`, the rest bounds-checked loads (W + 7 <= 39
// bits are ever needed). (One load per group for W <= 8 measured no faster.)
template <uint32_t W>
void Unpack(const uint8_t* in, size_t avail, size_t n, uint32_t* out) noexcept {
  static_assert(W <= kMaxWidth);
  if constexpr (W == 0) {
    std::fill_n(out, n, 0u);
  } else {
    constexpr uint64_t kMask = (uint64_t{1} << W) - 1;
    // The last load of a group of eight starts at byte (7 * W) / 8.
    constexpr size_t kGroupReach = (7 * W) / 8 + 8;
    size_t i = 0;
    const uint8_t* p = in;
    for (; i + 8 <= n && static_cast<size_t>(p - in) + kGroupReach <= avail; i += 8, p += W) {
#pragma GCC unroll 8
      for (uint32_t j = 0; j < 8; ++j) {
        const uint32_t bit = j * W;
        out[i + j] = static_cast<uint32_t>((LoadLE64(p + bit / 8) >> (bit % 8)) & kMask);
      }
    }
    for (; i < n; ++i) {
      const size_t bit = i * W;
      const size_t byte = bit / 8;
      const uint64_t w = LoadLE64Partial(in + byte, avail - byte);
      out[i] = static_cast<uint32_t>((w >> (bit % 8)) & kMask);
    }
  }
}

using UnpackFn = void (*)(const uint8_t*, size_t, size_t, uint32_t*) noexcept;

template <uint32_t... W>
constexpr std::array<UnpackFn, sizeof...(W)> MakeUnpackTable(
    std::integer_sequence<uint32_t, W...>) {
  return {&Unpack<W>...};
}

// Unpack<0> .. Unpack<32>, indexed by bit width.
inline constexpr std::array<UnpackFn, kMaxWidth + 1> kUnpackers =
    MakeUnpackTable(std::make_integer_sequence<uint32_t, kMaxWidth + 1>{});

// Unpack<width>. REQUIRES: width <= 32, and Unpack's requirements.
inline void UnpackWidth(uint32_t width, const uint8_t* in, size_t avail, size_t n,
                        uint32_t* out) noexcept {
  kUnpackers[width](in, avail, n, out);
}

// Turns gaps into values in place: values[i] = prev + sum over k <= i of
// (values[k] + 1), modulo 2^32 (the inverse of BlockCodec::EncodeDelta's
// gaps). Four lanes at a time with SSE2 (part of x86-64): about twice as fast
// as the serial loop.
inline void DeltaPrefixSum(uint32_t* values, size_t n, uint32_t prev) noexcept {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i ones = _mm_set1_epi32(1);
  __m128i run = _mm_set1_epi32(static_cast<int>(prev));
  for (; i + 4 <= n; i += 4) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + i));
    v = _mm_add_epi32(v, ones);
    v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
    v = _mm_add_epi32(v, _mm_slli_si128(v, 8));
    v = _mm_add_epi32(v, run);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(values + i), v);
    run = _mm_shuffle_epi32(v, 0xff);
  }
  prev = static_cast<uint32_t>(_mm_cvtsi128_si32(run));
#endif
  for (; i < n; ++i) values[i] = prev += values[i] + 1;
}

}  // namespace scry::storage::bitpack

#endif  // SCRY_STORAGE_BITPACK_INTERNAL_H_
