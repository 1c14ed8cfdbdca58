// File: storage/simdbp_codec.cc
//
// "simdbp128" (CodecId::kSimdBp128): bit packing in the SIMD-BP128 family
// (Lemire & Boytsov, "Decoding billions of integers per second through
// vectorization", 2015), written with Google Highway and dispatched at run
// time (foreach_target.h + HWY_EXPORT / HWY_DYNAMIC_DISPATCH) to the best
// target this CPU supports among those compiled: AVX2, SSE4, or the portable
// fallback (HWY_SCALAR with GCC < 12.3, else EMU128). Every target works on
// 128-bit rows of four 32-bit lanes, so all of them write and read exactly
// the same bytes; tests/storage/simdbp_codec_test.cc checks that per target.
//
// Byte layout of one block of n <= 128 integers (n is not stored; the caller
// knows it). Value i goes to lane i % 4 as that lane's value t = i / 4; the
// lanes are packed independently and interleaved word by word ("vertical"
// layout), so one 128-bit load feeds four values at a time:
//
//   simdbp_block := width:uint8 row{ceil(len(0) / 4)}
//   width        := 0..32            // bit width of the OR of the n values
//   row k        := word(k, 0)[c(k, 0)] word(k, 1)[c(k, 1)]
//                   word(k, 2)[c(k, 2)] word(k, 3)[c(k, 3)]
//   word(k, j)   := bytes [4k, 4k + 4) of lane j's bit stream
//   c(k, j)      := min(4, max(0, len(j) - 4k))  // bytes of word(k, j) stored
//
//   lane j's bit stream: its m(j) = ceil((n - j) / 4) values (0 if n <= j),
//     value t in bits [t * width, (t + 1) * width), LSB-first, the bytes
//     little-endian; len(j) = ceil(m(j) * width / 8) bytes.
//   payload size = len(0) + len(1) + len(2) + len(3) bytes after `width`.
//
// A full block (n = 128, m(j) = 32) is the classic SIMD-BP128 layout: `width`
// rows of 16 bytes, 1 + 16 * width bytes in all. A shorter block (the last
// block of a list) is, equivalently, the full layout of the values padded
// with zeros to 128, with the trailing bytes of each lane that hold no bit of
// a real value left out (they would be zero); so a block never costs more
// than 3 bytes over the horizontal "bitpack" codec. Examples: n = 0 is the
// single byte 0x00; n = 1 is 1 + ceil(width / 8) bytes; n = 5, width 3 holds
// lanes of 2, 1, 1, 1 values in 1 + 4 bytes.
//
// Encoders write the pad bits (past m(j) * width in a lane's last byte) as 0;
// decoders ignore them. Decoders check the payload size before any load, and
// rebuild short blocks in a zero-filled stack buffer, so no load goes past the
// end of the input. DecodeDelta fuses the prefix sum into the unpack: an
// in-register prefix sum over the four lanes (two lane shifts and adds), the
// +1 per gap, and the running total broadcast from the last lane.

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "storage/block_codec.h"
#include "storage/internal_codecs.h"

// The kernels are compiled for AVX2, SSE4 and Highway's portable fallback:
// AVX3 (AVX-512) and later x86 targets measured no faster on 128-bit rows (and
// would double the compile time), and SSE4 supersedes SSSE3.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS ((HWY_AVX2 - 1) | HWY_SSSE3)  // bits 0..8: x86 above AVX2
#endif

// Re-includes this file once per Highway target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "storage/simdbp_codec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#ifndef SCRY_STORAGE_SIMDBP_CODEC_SHARED_
#define SCRY_STORAGE_SIMDBP_CODEC_SHARED_
namespace scry::storage::simdbp {

static_assert(std::endian::native == std::endian::little,
              "the kernels store vector lanes as little-endian words");
static_assert(kBlockSize == 128, "the kernels unpack 32 rows of 4 lanes");

// The sanitizers leave the unrolled SIMD kernels (PackRows, UnpackRows and
// the helpers inlined into them) alone: ASan's and UBSan's instrumentation of
// their thousands of inlined vector operations made this file take over half
// an hour to compile. The kernels only shift by constants and add modulo 2^32,
// and their loads and stores stay within bounds that the (instrumented)
// callers check: 16 * width bytes of a checked input, or stack buffers. The
// tests confirm the bounds on every target with the input between guard
// pages, with or without sanitizers. (Sanitized builds compile this file with
// -fno-sanitize-address-use-after-scope: see storage/CMakeLists.txt.)
#define SCRY_SIMDBP_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))
#define SCRY_SIMDBP_INLINE HWY_INLINE SCRY_SIMDBP_NO_SANITIZE

constexpr uint32_t kMaxBitWidth = 32;
constexpr size_t kLanes = 4;
constexpr size_t kRowBytes = 16;                            // one word of each lane
constexpr size_t kMaxRowsBytes = kRowBytes * kMaxBitWidth;  // a full 32-bit block

}  // namespace scry::storage::simdbp
#endif  // SCRY_STORAGE_SIMDBP_CODEC_SHARED_

HWY_BEFORE_NAMESPACE();
namespace scry::storage::simdbp {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#if HWY_TARGET == HWY_SCALAR
// Highway's portable fallback is EMU128 (four-lane vectors), except with
// GCC < 12.3, where EMU128 is miscompiled (GCC bug 106322) and HWY_SCALAR
// (one-lane vectors) takes its place. There the kernels are plain loops over
// the same layout: not specialised per bit width (they only serve CPUs
// without SSE4), and cheap to compile.

inline uint32_t LoadWord(const uint8_t* rows, size_t word, size_t lane) {
  uint32_t w;
  std::memcpy(&w, rows + kRowBytes * word + 4 * lane, sizeof(w));
  return w;
}

inline void OrWord(uint8_t* rows, size_t word, size_t lane, uint32_t bits) {
  const uint32_t w = LoadWord(rows, word, lane) | bits;
  std::memcpy(rows + kRowBytes * word + 4 * lane, &w, sizeof(w));
}

uint32_t PackBlock(const uint32_t* HWY_RESTRICT in, uint8_t* HWY_RESTRICT rows) {
  uint32_t all = 0;
  for (size_t i = 0; i < kBlockSize; ++i) all |= in[i];
  const auto width = static_cast<uint32_t>(std::bit_width(all));
  std::memset(rows, 0, kRowBytes * width);
  for (size_t i = 0; i < kBlockSize && width > 0; ++i) {
    const size_t bit = (i / kLanes) * width;
    const uint32_t shift = bit % 32;
    OrWord(rows, bit / 32, i % kLanes, in[i] << shift);
    if (shift + width > 32) OrWord(rows, bit / 32 + 1, i % kLanes, in[i] >> (32 - shift));
  }
  return width;
}

template <bool kDelta>
void UnpackLoop(const uint8_t* HWY_RESTRICT rows, uint32_t width, uint32_t prev,
                uint32_t* HWY_RESTRICT out) {
  const uint32_t mask = width == 32 ? ~uint32_t{0} : (uint32_t{1} << width) - 1;
  for (size_t i = 0; i < kBlockSize; ++i) {
    uint32_t v = 0;
    if (width > 0) {
      const size_t bit = (i / kLanes) * width;
      const uint32_t shift = bit % 32;
      v = LoadWord(rows, bit / 32, i % kLanes) >> shift;
      if (shift + width > 32) v |= LoadWord(rows, bit / 32 + 1, i % kLanes) << (32 - shift);
      v &= mask;
    }
    if constexpr (kDelta) {
      prev += v + 1;
      v = prev;
    }
    out[i] = v;
  }
}

void UnpackBlock(const uint8_t* HWY_RESTRICT rows, uint32_t width, uint32_t* HWY_RESTRICT out) {
  UnpackLoop<false>(rows, width, 0, out);
}

void UnpackDeltaBlock(const uint8_t* HWY_RESTRICT rows, uint32_t width, uint32_t prev,
                      uint32_t* HWY_RESTRICT out) {
  UnpackLoop<true>(rows, width, prev, out);
}

void DeltaGaps(const uint32_t* HWY_RESTRICT values, size_t n, uint32_t prev,
               uint32_t* HWY_RESTRICT gaps) {
  for (size_t i = 0; i < n; ++i) {
    gaps[i] = values[i] - prev - 1;
    prev = values[i];
  }
}

#else  // HWY_TARGET != HWY_SCALAR: 128-bit vectors, kernels unrolled per width

// A row (word k of lanes 0..3) is one vector of four 32-bit lanes.
using D = hn::FixedTag<uint32_t, kLanes>;
using D8 = hn::Repartition<uint8_t, D>;
using V = hn::Vec<D>;

SCRY_SIMDBP_INLINE V Splat(uint32_t x) { return hn::Set(D(), x); }
SCRY_SIMDBP_INLINE V LoadValues(const uint32_t* HWY_RESTRICT p) { return hn::LoadU(D(), p); }
SCRY_SIMDBP_INLINE void StoreValues(V v, uint32_t* HWY_RESTRICT p) { hn::StoreU(v, D(), p); }
SCRY_SIMDBP_INLINE V LoadRow(const uint8_t* HWY_RESTRICT rows, size_t k) {
  return hn::BitCast(D(), hn::LoadU(D8(), rows + kRowBytes * k));
}
SCRY_SIMDBP_INLINE void StoreRow(V v, uint8_t* HWY_RESTRICT rows, size_t k) {
  hn::StoreU(hn::BitCast(D8(), v), D8(), rows + kRowBytes * k);
}
template <int kBits>
SCRY_SIMDBP_INLINE V ShiftLeft(V v) {
  return hn::ShiftLeft<kBits>(v);
}
template <int kBits>
SCRY_SIMDBP_INLINE V ShiftRight(V v) {
  return hn::ShiftRight<kBits>(v);
}
SCRY_SIMDBP_INLINE V Or(V a, V b) { return hn::Or(a, b); }
SCRY_SIMDBP_INLINE V And(V a, V b) { return hn::And(a, b); }
SCRY_SIMDBP_INLINE V Add(V a, V b) { return hn::Add(a, b); }
SCRY_SIMDBP_INLINE V Sub(V a, V b) { return hn::Sub(a, b); }
SCRY_SIMDBP_INLINE V OrAnd(V o, V a1, V a2) { return hn::OrAnd(o, a1, a2); }  // one op on AVX3
// Inclusive prefix sum over the four lanes: two lane shifts and adds.
SCRY_SIMDBP_INLINE V PrefixSum(V v) {
  v = hn::Add(v, hn::ShiftLeftLanes<1>(D(), v));
  return hn::Add(v, hn::ShiftLeftLanes<2>(D(), v));
}
SCRY_SIMDBP_INLINE V BroadcastLast(V v) { return hn::Broadcast<3>(v); }
// [before[3], v[0], v[1], v[2]]: each lane's predecessor in the value order.
SCRY_SIMDBP_INLINE V Predecessors(V v, V before) {
  return hn::CombineShiftRightLanes<3>(D(), v, before);
}
SCRY_SIMDBP_INLINE uint32_t OrOfLanes(V v) {
  alignas(16) uint32_t lanes[kLanes];
  hn::Store(v, D(), lanes);
  return lanes[0] | lanes[1] | lanes[2] | lanes[3];
}
SCRY_SIMDBP_INLINE V Iota1() { return hn::Iota(D(), 1); }

// --- Pack --------------------------------------------------------------------

// ORs values 4T..4T+3 (each < 2^B) into the row being filled and stores the
// row once it is complete. Every shift is a compile-time constant.
template <uint32_t B, size_t T>
SCRY_SIMDBP_INLINE V PackStep(const uint32_t* HWY_RESTRICT in, uint8_t* HWY_RESTRICT rows, V acc) {
  constexpr size_t kBit = T * B;
  constexpr size_t kWord = kBit / 32;
  constexpr int kShift = static_cast<int>(kBit % 32);
  const V v = LoadValues(in + kLanes * T);
  if constexpr (kShift == 0) {
    acc = v;
  } else {
    acc = Or(acc, ShiftLeft<kShift>(v));
  }
  if constexpr (kShift + B >= 32) {
    StoreRow(acc, rows, kWord);
    if constexpr (kShift + B > 32) acc = ShiftRight<32 - kShift>(v);
  }
  return acc;
}

template <uint32_t B, size_t... T>
SCRY_SIMDBP_INLINE void PackSteps(const uint32_t* HWY_RESTRICT in, uint8_t* HWY_RESTRICT rows,
                                  std::index_sequence<T...>) {
  V acc = Splat(0);
  ((acc = PackStep<B, T>(in, rows, acc)), ...);
}

// Packs 128 values of at most B bits into B rows (16 * B bytes).
template <uint32_t B>
SCRY_SIMDBP_NO_SANITIZE void PackRows(const uint32_t* HWY_RESTRICT in, uint8_t* HWY_RESTRICT rows) {
  if constexpr (B > 0) PackSteps<B>(in, rows, std::make_index_sequence<kBlockSize / kLanes>());
}

// --- Unpack --------------------------------------------------------------------

// Unpacks values 4T..4T+3 from the B rows at `rows` and stores them, after the
// prefix sum if kDelta: out = carry + inclusive prefix sum of (value + 1).
template <uint32_t B, bool kDelta, size_t T>
SCRY_SIMDBP_INLINE V UnpackStep(const uint8_t* HWY_RESTRICT rows, uint32_t* HWY_RESTRICT out,
                                [[maybe_unused]] V mask, [[maybe_unused]] V iota, V carry) {
  V v;
  if constexpr (B == 0) {
    v = Splat(0);
  } else {
    constexpr size_t kBit = T * B;
    constexpr size_t kWord = kBit / 32;
    constexpr int kShift = static_cast<int>(kBit % 32);
    const V lo = LoadRow(rows, kWord);
    const V lo_shifted = kShift == 0 ? lo : ShiftRight<kShift>(lo);
    if constexpr (kShift + B > 32) {
      // Straddles two words; the low part has 32 - kShift < B bits already.
      v = OrAnd(lo_shifted, ShiftLeft<32 - kShift>(LoadRow(rows, kWord + 1)), mask);
    } else if constexpr (kShift + B < 32) {
      v = And(lo_shifted, mask);
    } else {
      v = lo_shifted;  // the value ends at bit 31: nothing above it
    }
  }
  if constexpr (kDelta) {
    // Sums within the row (iota = 1, 2, 3, 4 adds the +1 of each gap), then
    // the carry: the last value of the previous row in every lane. Only the
    // carry update is a dependency from row to row: one add.
    const V sums = Add(PrefixSum(v), iota);
    v = Add(sums, carry);
    carry = Add(carry, BroadcastLast(sums));
  }
  StoreValues(v, out + kLanes * T);
  return carry;
}

template <uint32_t B, bool kDelta, size_t... T>
SCRY_SIMDBP_INLINE void UnpackSteps(const uint8_t* HWY_RESTRICT rows, uint32_t prev,
                                    uint32_t* HWY_RESTRICT out, std::index_sequence<T...>) {
  const V mask = Splat(B == 32 ? ~uint32_t{0} : (uint32_t{1} << (B % 32)) - 1);
  const V iota = Iota1();
  V carry = Splat(prev);
  ((carry = UnpackStep<B, kDelta, T>(rows, out, mask, iota, carry)), ...);
}

// Unpacks 128 values of B bits from B rows (16 * B bytes); with kDelta, writes
// their running sum (each plus one) starting from prev.
template <uint32_t B, bool kDelta>
SCRY_SIMDBP_NO_SANITIZE void UnpackRows(const uint8_t* HWY_RESTRICT rows, uint32_t prev,
                                        uint32_t* HWY_RESTRICT out) {
  UnpackSteps<B, kDelta>(rows, prev, out, std::make_index_sequence<kBlockSize / kLanes>());
}

// --- Tables of the 33 specialisations, indexed by bit width -----------------------

using PackFn = void (*)(const uint32_t*, uint8_t*);
using UnpackFn = void (*)(const uint8_t*, uint32_t, uint32_t*);

template <uint32_t... B>
constexpr std::array<PackFn, sizeof...(B)> MakePackTable(std::integer_sequence<uint32_t, B...>) {
  return {&PackRows<B>...};
}

template <bool kDelta, uint32_t... B>
constexpr std::array<UnpackFn, sizeof...(B)> MakeUnpackTable(
    std::integer_sequence<uint32_t, B...>) {
  return {&UnpackRows<B, kDelta>...};
}

using Widths = std::make_integer_sequence<uint32_t, kMaxBitWidth + 1>;
constexpr std::array<PackFn, kMaxBitWidth + 1> kPack = MakePackTable(Widths());
constexpr std::array<UnpackFn, kMaxBitWidth + 1> kUnpack = MakeUnpackTable<false>(Widths());
constexpr std::array<UnpackFn, kMaxBitWidth + 1> kUnpackDelta = MakeUnpackTable<true>(Widths());

// --- Entry points, one per target (HWY_EXPORT below) --------------------------------

// Packs the 128 values at `in` into width rows at `rows` (16 * width bytes,
// at most kMaxRowsBytes) and returns the width.
uint32_t PackBlock(const uint32_t* HWY_RESTRICT in, uint8_t* HWY_RESTRICT rows) {
  V all = Splat(0);
  for (size_t i = 0; i < kBlockSize; i += kLanes) all = Or(all, LoadValues(in + i));
  const auto width = static_cast<uint32_t>(std::bit_width(OrOfLanes(all)));
  kPack[width](in, rows);
  return width;
}

// Unpacks 128 values of `width` bits from the 16 * width bytes at `rows`.
void UnpackBlock(const uint8_t* HWY_RESTRICT rows, uint32_t width, uint32_t* HWY_RESTRICT out) {
  kUnpack[width](rows, 0, out);
}

// As UnpackBlock, then out[i] = prev + sum over k <= i of (value k + 1).
void UnpackDeltaBlock(const uint8_t* HWY_RESTRICT rows, uint32_t width, uint32_t prev,
                      uint32_t* HWY_RESTRICT out) {
  kUnpackDelta[width](rows, prev, out);
}

// gaps[i] = values[i] - values[i - 1] - 1 with values[-1] = prev, for i < n.
void DeltaGaps(const uint32_t* HWY_RESTRICT values, size_t n, uint32_t prev,
               uint32_t* HWY_RESTRICT gaps) {
  const V one = Splat(1);
  V before = Splat(prev);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const V v = LoadValues(values + i);
    StoreValues(Sub(Sub(v, Predecessors(v, before)), one), gaps + i);
    before = v;
  }
  if (i > 0) prev = values[i - 1];
  for (; i < n; ++i) {
    gaps[i] = values[i] - prev - 1;
    prev = values[i];
  }
}

#endif  // HWY_TARGET == HWY_SCALAR

// The target this copy of the kernels was compiled for.
int64_t CompiledTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace scry::storage::simdbp
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace scry::storage {
namespace simdbp {

HWY_EXPORT(PackBlock);
HWY_EXPORT(UnpackBlock);
HWY_EXPORT(UnpackDeltaBlock);
HWY_EXPORT(DeltaGaps);
HWY_EXPORT(CompiledTarget);

namespace {

// Per-lane stream lengths of a block of n values of `width` bits: len(j) of
// the grammar. len[0] >= len[1] >= len[2] >= len[3].
struct LaneLengths {
  LaneLengths(size_t n, uint32_t width) {
    for (size_t j = 0; j < kLanes; ++j) {
      const size_t m = n > j ? (n - j + kLanes - 1) / kLanes : 0;
      len[j] = (m * width + 7) / 8;
    }
  }
  size_t Payload() const { return len[0] + len[1] + len[2] + len[3]; }
  // Rows in which every lane's word is stored whole.
  size_t FullRows() const { return len[3] / 4; }
  // Bytes of word k of lane j that are stored: c(k, j) of the grammar.
  size_t Stored(size_t k, size_t j) const {
    return len[j] > 4 * k ? std::min<size_t>(4, len[j] - 4 * k) : 0;
  }
  size_t Rows() const { return (len[0] + 3) / 4; }

  size_t len[kLanes];
};

// Writes the stored bytes of the full-layout rows (16 * width bytes) to out.
// Returns the end of the written bytes.
char* GatherRows(const uint8_t* rows, const LaneLengths& lanes, char* out) {
  const size_t full = lanes.FullRows();
  std::memcpy(out, rows, kRowBytes * full);
  out += kRowBytes * full;
  for (size_t k = full; k < lanes.Rows(); ++k) {
    for (size_t j = 0; j < kLanes; ++j) {
      const size_t c = lanes.Stored(k, j);
      std::memcpy(out, rows + kRowBytes * k + 4 * j, c);
      out += c;
    }
  }
  return out;
}

// Rebuilds the width full-layout rows from the stored bytes at `in` (which
// holds lanes.Payload() readable bytes), zero-filling what was left out.
void ScatterRows(const uint8_t* in, const LaneLengths& lanes, uint32_t width, uint8_t* rows) {
  const size_t full = lanes.FullRows();
  std::memcpy(rows, in, kRowBytes * full);
  in += kRowBytes * full;
  std::memset(rows + kRowBytes * full, 0, kRowBytes * (width - full));
  for (size_t k = full; k < lanes.Rows(); ++k) {
    for (size_t j = 0; j < kLanes; ++j) {
      const size_t c = lanes.Stored(k, j);
      std::memcpy(rows + kRowBytes * k + 4 * j, in, c);
      in += c;
    }
  }
}

class SimdBp128Codec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kSimdBp128; }
  std::string_view name() const noexcept override { return "simdbp128"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    const uint32_t* in = values;
    alignas(16) uint32_t padded[kBlockSize];
    if (n < kBlockSize) {
      std::copy_n(values, n, padded);  // n may be 0 with values == nullptr
      std::fill(padded + n, padded + kBlockSize, 0u);
      in = padded;
    }
    alignas(16) uint8_t rows[kMaxRowsBytes];
    const uint32_t width = HWY_DYNAMIC_DISPATCH(PackBlock)(in, rows);
    const LaneLengths lanes(n, width);
    const size_t old_size = out->size();
    out->resize(old_size + 1 + lanes.Payload());
    char* p = out->data() + old_size;
    p[0] = static_cast<char>(width);
    [[maybe_unused]] const char* end = GatherRows(rows, lanes, p + 1);
    assert(end == out->data() + out->size());
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    return DecodeImpl</*kDelta=*/false>(data, n, 0, values);
  }

  void EncodeDelta(const uint32_t* values, size_t n, uint32_t prev,
                   std::string* out) const override {
    assert(n <= kBlockSize);
    alignas(16) uint32_t gaps[kBlockSize];
    HWY_DYNAMIC_DISPATCH(DeltaGaps)(values, n, prev, gaps);
    Encode(gaps, n, out);
  }

  absl::StatusOr<size_t> DecodeDelta(std::string_view data, size_t n, uint32_t prev,
                                     uint32_t* values) const override {
    return DecodeImpl</*kDelta=*/true>(data, n, prev, values);
  }

 private:
  template <bool kDelta>
  static absl::StatusOr<size_t> DecodeImpl(std::string_view data, size_t n, uint32_t prev,
                                           uint32_t* values) {
    assert(n <= kBlockSize);
    if (data.empty()) return absl::DataLossError("simdbp128 block: missing bit-width byte");
    const uint32_t width = static_cast<unsigned char>(data[0]);
    if (width > kMaxBitWidth) {
      return absl::DataLossError(absl::StrCat("simdbp128 block: bit width ", width, " > 32"));
    }
    const auto* in = reinterpret_cast<const uint8_t*>(data.data()) + 1;
    const size_t avail = data.size() - 1;
    if (n == kBlockSize) {
      const size_t payload = kRowBytes * width;
      if (avail < payload) return Truncated(payload, avail);
      if constexpr (kDelta) {
        HWY_DYNAMIC_DISPATCH(UnpackDeltaBlock)(in, width, prev, values);
      } else {
        HWY_DYNAMIC_DISPATCH(UnpackBlock)(in, width, values);
      }
      return 1 + payload;
    }
    const LaneLengths lanes(n, width);
    const size_t payload = lanes.Payload();
    if (avail < payload) return Truncated(payload, avail);
    if (n == 0) return 1;
    // A short block: rebuild the full rows, unpack all 128 values, keep n.
    alignas(16) uint8_t rows[kMaxRowsBytes];
    ScatterRows(in, lanes, width, rows);
    alignas(16) uint32_t all[kBlockSize];
    if constexpr (kDelta) {
      HWY_DYNAMIC_DISPATCH(UnpackDeltaBlock)(rows, width, prev, all);
    } else {
      HWY_DYNAMIC_DISPATCH(UnpackBlock)(rows, width, all);
    }
    std::memcpy(values, all, n * sizeof(uint32_t));
    return 1 + payload;
  }

  static absl::Status Truncated(size_t payload, size_t avail) {
    return absl::DataLossError(
        absl::StrCat("simdbp128 block: truncated, need ", payload, " payload bytes, have ", avail));
  }
};

const SimdBp128Codec kSimdBp128Codec;

}  // namespace

// HWY_DYNAMIC_DISPATCH names the function unqualified (with HWY_COMPILE_ONLY_*
// it becomes N_<target>::CompiledTarget), so it is called from this namespace.
int64_t DispatchedTarget() { return HWY_DYNAMIC_DISPATCH(CompiledTarget)(); }

}  // namespace simdbp

namespace internal {

const BlockCodec& SimdBp128CodecInstance() { return simdbp::kSimdBp128Codec; }

// For tests: the Highway targets (HWY_AVX2 | ...) the kernels were compiled
// for, and the one the codec dispatches to now.
int64_t SimdBp128CompiledTargets() { return HWY_TARGETS; }
int64_t SimdBp128DispatchedTarget() { return simdbp::DispatchedTarget(); }

}  // namespace internal
}  // namespace scry::storage
#endif  // HWY_ONCE
