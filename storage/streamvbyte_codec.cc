// File: storage/streamvbyte_codec.cc
//
// Stream VByte block codec ("streamvbyte", CodecId::kStreamVByte): the format
// of libstreamvbyte (Lemire, Kurz, Rupp: "Stream VByte: Faster Byte-Oriented
// Integer Compression", 2018) for one block of n integers (n is not stored;
// the caller knows it):
//
//   streamvbyte_block := control{ceil(n / 4)} data
//   control           := u8       // four 2-bit codes, LSB first: integer i
//                                 // uses bits [2*(i%4), 2*(i%4)+2) of
//                                 // control byte i/4
//   data              := byte{sum over i < n of (code_i + 1)}
//                                 // integer i in code_i + 1 bytes,
//                                 // little-endian, in order
//
// The encoder writes the unused codes of a last, partial control byte as 0 and
// uses the shortest length per integer; the decoder ignores unused codes and
// accepts longer lengths. An empty block (n == 0) is zero bytes.
// EncodeDelta is the base class's (gaps minus one, then the block above);
// DecodeDelta fuses the prefix sum into the decoder.
//
// Encoding calls libstreamvbyte. Decoding is ours: Debian's libstreamvbyte
// 0.4.1 is built without SIMD (and unoptimised), about 12x slower than the
// SSSE3 shuffle decoder below, and its decoder does no bounds checking. Ours
// first computes the exact block length from the control bytes (DataLoss if
// `data` is shorter), then decodes groups of four integers with one 16-byte
// load and a byte shuffle while 16 bytes remain inside `data`, and the rest
// with exact byte loads. The SSSE3 path is chosen at run time; the scalar path
// decodes the same bytes to the same integers. tests/storage/
// streamvbyte_pfor_test.cc checks both against the library's own decoder.

#include <streamvbyte.h>

#include <array>
#include <atomic>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/block_codec.h"
#include "storage/internal_codecs.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SCRY_SVB_X86 1
#else
#define SCRY_SVB_X86 0
#endif

namespace scry::storage {
namespace {

constexpr size_t ControlBytes(size_t n) noexcept { return (n + 3) / 4; }

// Largest encoding of one block.
constexpr size_t kMaxBlockBytes = ControlBytes(kBlockSize) + 4 * kBlockSize;

// Data bytes described by one control byte (four codes).
constexpr std::array<uint8_t, 256> kDataBytesPerControl = [] {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = static_cast<uint8_t>(4 + (c & 3) + ((c >> 2) & 3) + ((c >> 4) & 3) + (c >> 6));
  }
  return table;
}();

// Sum of the 32 2-bit codes in the 8 bytes at p (SWAR: pairs of codes into
// 4-bit sums, then bytes, then one multiply adds the bytes; byte order does
// not matter).
inline size_t CodeSum8(const uint8_t* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
  w = (w & 0x3333333333333333u) + ((w >> 2) & 0x3333333333333333u);  // <= 6 per nibble
  w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0fu;                          // <= 12 per byte
  return static_cast<size_t>((w * 0x0101010101010101u) >> 56);       // <= 96
}

// Data bytes of the n integers whose codes are in control[0, ControlBytes(n)).
size_t DataBytes(const uint8_t* control, size_t n) noexcept {
  const size_t full = n / 4;
  size_t total = full * 4;
  size_t i = 0;
  for (; i + 8 <= full; i += 8) total += CodeSum8(control + i);
  for (; i < full; ++i) total += kDataBytesPerControl[control[i]] - 4;
  if (const size_t rest = n % 4; rest > 0) {
    // Clear the codes past the last integer; each cleared code counts 1 byte.
    const uint8_t c = control[full] & static_cast<uint8_t>((1u << (2 * rest)) - 1);
    total += kDataBytesPerControl[c] - (4 - rest);
  }
  return total;
}

// Reads the `code` + 1 byte little-endian integer at *p and advances *p.
// REQUIRES: code + 1 readable bytes at *p.
inline uint32_t ReadOne(const uint8_t** p, uint32_t code) noexcept {
  const uint8_t* q = *p;
  uint32_t v = q[0];
  if (code >= 1) v |= uint32_t{q[1]} << 8;
  if (code >= 2) v |= uint32_t{q[2]} << 16;
  if (code >= 3) v |= uint32_t{q[3]} << 24;
  *p = q + code + 1;
  return v;
}

// Decodes integers [i, n) one by one, from data at `d`, continuing a prefix
// sum at `prev` if kDelta (then values[k] = prev + sum of (decoded + 1)).
// REQUIRES: the block was length-checked, so every read is inside it.
template <bool kDelta>
const uint8_t* DecodeTail(const uint8_t* control, const uint8_t* d, size_t i, size_t n,
                          uint32_t prev, uint32_t* values) noexcept {
  for (; i < n; ++i) {
    const uint32_t code = (control[i / 4] >> (2 * (i % 4))) & 3;
    const uint32_t v = ReadOne(&d, code);
    if constexpr (kDelta) {
      prev += v + 1;
      values[i] = prev;
    } else {
      values[i] = v;
    }
  }
  return d;
}

// Portable decoder: four integers per control byte, exact-width loads.
template <bool kDelta>
const uint8_t* DecodeScalar(const uint8_t* in, size_t n, uint32_t prev, uint32_t* values) noexcept {
  const uint8_t* control = in;
  const uint8_t* d = in + ControlBytes(n);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t c = control[i / 4];
    for (uint32_t j = 0; j < 4; ++j) {
      const uint32_t v = ReadOne(&d, (c >> (2 * j)) & 3);
      if constexpr (kDelta) {
        prev += v + 1;
        values[i + j] = prev;
      } else {
        values[i + j] = v;
      }
    }
  }
  return DecodeTail<kDelta>(control, d, i, n, prev, values);
}

#if SCRY_SVB_X86

// Per control byte: the pshufb mask that spreads its four integers' bytes
// over four 32-bit lanes (0x80 = a zero byte).
struct ShuffleTable {
  alignas(16) uint8_t mask[256][16];
};

constexpr ShuffleTable MakeShuffleTable() {
  ShuffleTable t{};
  for (int c = 0; c < 256; ++c) {
    int offset = 0;
    for (int lane = 0; lane < 4; ++lane) {
      const int len = ((c >> (2 * lane)) & 3) + 1;
      for (int b = 0; b < 4; ++b) {
        t.mask[c][4 * lane + b] = static_cast<uint8_t>(b < len ? offset + b : 0x80);
      }
      offset += len;
    }
  }
  return t;
}

constexpr ShuffleTable kShuffle = MakeShuffleTable();

// SSSE3 decoder: one 16-byte load and one shuffle per four integers, while the
// load stays inside [in, end); the remaining integers go through DecodeTail.
template <bool kDelta>
__attribute__((target("ssse3"))) const uint8_t* DecodeSsse3(const uint8_t* in, const uint8_t* end,
                                                            size_t n, uint32_t prev,
                                                            uint32_t* values) noexcept {
  const uint8_t* control = in;
  const uint8_t* d = in + ControlBytes(n);
  const __m128i ones = _mm_set1_epi32(1);
  __m128i run = _mm_set1_epi32(static_cast<int>(prev));
  size_t i = 0;
  for (; i + 4 <= n && end - d >= 16; i += 4) {
    const uint8_t c = control[i / 4];
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d));
    v = _mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(kShuffle.mask[c])));
    if constexpr (kDelta) {
      // Inclusive prefix sum of (gap + 1) over the four lanes, plus the
      // running total, which then becomes lane 3 broadcast.
      v = _mm_add_epi32(v, ones);
      v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
      v = _mm_add_epi32(v, _mm_slli_si128(v, 8));
      v = _mm_add_epi32(v, run);
      run = _mm_shuffle_epi32(v, 0xff);
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(values + i), v);
    d += kDataBytesPerControl[c];
  }
  if constexpr (kDelta) prev = static_cast<uint32_t>(_mm_cvtsi128_si32(run));
  return DecodeTail<kDelta>(control, d, i, n, prev, values);
}

bool CpuHasSsse3() noexcept {
  __builtin_cpu_init();
  return __builtin_cpu_supports("ssse3");
}

#else

bool CpuHasSsse3() noexcept { return false; }

#endif  // SCRY_SVB_X86

// Whether Decode uses the SSSE3 path: the CPU's answer, switchable by tests.
std::atomic<bool> use_simd{CpuHasSsse3()};

class StreamVByteCodec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kStreamVByte; }
  std::string_view name() const noexcept override { return "streamvbyte"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    if (n == 0) return;
    uint8_t buf[kMaxBlockBytes];
    const size_t len = streamvbyte_encode(values, static_cast<uint32_t>(n), buf);
    assert(len <= kMaxBlockBytes);
    out->append(reinterpret_cast<const char*>(buf), len);
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    return DecodeImpl<false>(data, n, 0, values);
  }

  absl::StatusOr<size_t> DecodeDelta(std::string_view data, size_t n, uint32_t prev,
                                     uint32_t* values) const override {
    return DecodeImpl<true>(data, n, prev, values);
  }

 private:
  template <bool kDelta>
  static absl::StatusOr<size_t> DecodeImpl(std::string_view data, size_t n, uint32_t prev,
                                           uint32_t* values) {
    assert(n <= kBlockSize);
    if (n == 0) return 0;
    const size_t control = ControlBytes(n);
    if (data.size() < control) {
      return absl::DataLossError(absl::StrCat("streamvbyte block: truncated, need ", control,
                                              " control bytes, have ", data.size()));
    }
    const auto* in = reinterpret_cast<const uint8_t*>(data.data());
    const size_t total = control + DataBytes(in, n);
    if (data.size() < total) {
      return absl::DataLossError(
          absl::StrCat("streamvbyte block: truncated, need ", total, " bytes, have ", data.size()));
    }
    const uint8_t* end;
#if SCRY_SVB_X86
    if (use_simd.load(std::memory_order_relaxed)) {
      end = DecodeSsse3<kDelta>(in, in + data.size(), n, prev, values);
    } else {
      end = DecodeScalar<kDelta>(in, n, prev, values);
    }
#else
    end = DecodeScalar<kDelta>(in, n, prev, values);
#endif
    assert(static_cast<size_t>(end - in) == total);
    static_cast<void>(end);
    return total;
  }
};

const StreamVByteCodec kStreamVByteCodec;

}  // namespace

namespace internal {

const BlockCodec& StreamVByteCodecInstance() { return kStreamVByteCodec; }

// Test hook (declared in tests/storage/streamvbyte_pfor_test.cc): forces the
// scalar decoder (false) or the CPU's best (true); returns the previous mode.
bool SetStreamVByteSimdForTesting(bool enable) {
  return use_simd.exchange(enable && CpuHasSsse3());
}

}  // namespace internal

}  // namespace scry::storage
