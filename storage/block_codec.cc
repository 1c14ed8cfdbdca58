// File: storage/block_codec.cc
//
// The block codecs and their registry. Byte layout of one encoded block of n
// integers (n is not stored; the caller knows it):
//
//   varint_block  := varint32{n}
//   varint32      := byte{0..4} final_byte      // LEB128, at most 5 bytes
//   byte          := 0x80..0xff                 // 7 payload bits, "more" bit set
//   final_byte    := 0x00..0x7f                 // 5th byte: 0x00..0x0f (<= 32 bits)
//
//   bitpack_block := width:uint8 packed
//   width         := 0..32                      // max bit width over the block
//   packed        := byte[ceil(n * width / 8)]  // value i occupies bits
//                                               // [i*width, (i+1)*width) of the
//                                               // little-endian bit stream
//                                               // (LSB-first)
//
// width == 0 means every value is zero and `packed` is empty. An empty block
// (n == 0) is zero bytes with varint and the single byte 0x00 with bitpack.
// Encoders write the pad bits of the last packed byte as 0; decoders ignore
// them, and accept non-minimal (but <= 5 byte) varints.

#include "storage/block_codec.h"
#include "storage/internal_codecs.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/coding.h"

namespace scry::storage {
namespace {

constexpr size_t kMaxVarint32Bytes = 5;
constexpr uint32_t kMaxBitWidth = 32;

// Little-endian 64-bit load. REQUIRES: p points at 8 readable bytes.
inline uint64_t LoadLE64(const uint8_t* p) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  } else {
    return DecodeFixed64(reinterpret_cast<const char*>(p));
  }
}

// Little-endian load of the min(8, avail) bytes at p; the rest are zero.
inline uint64_t LoadLE64Partial(const uint8_t* p, size_t avail) noexcept {
  if (avail >= 8) return LoadLE64(p);
  uint64_t v = 0;
  for (size_t i = 0; i < avail; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// ---------------------------------------------------------------------------
// varint

class VarintCodec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kVarint; }
  std::string_view name() const noexcept override { return "varint"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    for (size_t i = 0; i < n; ++i) PutVarint32(out, values[i]);
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    assert(n <= kBlockSize);
    const char* const begin = data.data();
    const char* const end = begin + data.size();
    const char* p = begin;
    for (size_t i = 0; i < n; ++i) {
      // Fast path for the common one-byte varint.
      if (p < end && static_cast<unsigned char>(*p) < 0x80) {
        values[i] = static_cast<unsigned char>(*p++);
        continue;
      }
      // Limiting the window to 5 bytes turns a 6th byte into "truncated".
      const char* limit =
          end - p > static_cast<ptrdiff_t>(kMaxVarint32Bytes) ? p + kMaxVarint32Bytes : end;
      p = GetVarint32Ptr(p, limit, &values[i]);
      if (p == nullptr) {
        return absl::DataLossError(
            absl::StrCat("varint block: truncated or malformed varint for integer ", i, " of ", n));
      }
    }
    return static_cast<size_t>(p - begin);
  }
};

// ---------------------------------------------------------------------------
// bitpack

constexpr size_t PackedBytes(size_t n, uint32_t width) noexcept { return (n * width + 7) / 8; }

// Unpacks n values of B bits each from `in`, which has `avail` readable bytes
// (at least PackedBytes(n, B); bytes past the packed data are ignored).
template <uint32_t B>
void Unpack(const uint8_t* in, size_t avail, size_t n, uint32_t* out) noexcept {
  if constexpr (B == 0) {
    std::fill_n(out, n, 0u);
  } else {
    constexpr uint64_t kMask = (uint64_t{1} << B) - 1;
    // 8 values span exactly B bytes, so within a group every byte offset and
    // shift is a compile-time constant. The last load of a group reads 8 bytes
    // starting at byte (7 * B) / 8 of the group.
    constexpr size_t kGroupReach = (7 * B) / 8 + 8;
    size_t i = 0;
    const uint8_t* p = in;
    for (; i + 8 <= n && static_cast<size_t>(p - in) + kGroupReach <= avail; i += 8, p += B) {
#pragma GCC unroll 8
      for (uint32_t j = 0; j < 8; ++j) {
        const uint32_t bit = j * B;
        out[i + j] = static_cast<uint32_t>((LoadLE64(p + bit / 8) >> (bit % 8)) & kMask);
      }
    }
    // Tail: bounds-checked loads (B + 7 <= 39 bits are ever needed).
    for (; i < n; ++i) {
      const size_t bit = i * B;
      const size_t byte = bit / 8;
      const uint64_t w = LoadLE64Partial(in + byte, avail - byte);
      out[i] = static_cast<uint32_t>((w >> (bit % 8)) & kMask);
    }
  }
}

using UnpackFn = void (*)(const uint8_t*, size_t, size_t, uint32_t*) noexcept;

template <uint32_t... B>
constexpr auto MakeUnpackTable(std::integer_sequence<uint32_t, B...>) {
  return std::array<UnpackFn, sizeof...(B)>{&Unpack<B>...};
}

// Unpack<0> .. Unpack<32>, indexed by bit width.
constexpr auto kUnpackers =
    MakeUnpackTable(std::make_integer_sequence<uint32_t, kMaxBitWidth + 1>{});

class BitPackCodec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kBitPack; }
  std::string_view name() const noexcept override { return "bitpack"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    uint32_t all = 0;
    for (size_t i = 0; i < n; ++i) all |= values[i];
    const uint32_t width = static_cast<uint32_t>(std::bit_width(all));

    char buf[1 + kBlockSize * 4];
    size_t len = 0;
    buf[len++] = static_cast<char>(width);
    if (width > 0) {
      uint64_t acc = 0;  // pending bits, LSB first; never more than 39 of them
      uint32_t pending = 0;
      for (size_t i = 0; i < n; ++i) {
        acc |= uint64_t{values[i]} << pending;
        pending += width;
        while (pending >= 8) {
          buf[len++] = static_cast<char>(acc & 0xff);
          acc >>= 8;
          pending -= 8;
        }
      }
      if (pending > 0) buf[len++] = static_cast<char>(acc & 0xff);
    }
    assert(len == 1 + PackedBytes(n, width));
    out->append(buf, len);
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    assert(n <= kBlockSize);
    if (data.empty()) return absl::DataLossError("bitpack block: missing bit-width byte");
    const uint32_t width = static_cast<unsigned char>(data[0]);
    if (width > kMaxBitWidth) {
      return absl::DataLossError(absl::StrCat("bitpack block: bit width ", width, " > 32"));
    }
    const size_t payload = PackedBytes(n, width);
    const size_t avail = data.size() - 1;
    if (avail < payload) {
      return absl::DataLossError(
          absl::StrCat("bitpack block: truncated, need ", payload, " payload bytes, have ", avail));
    }
    const auto* in = reinterpret_cast<const uint8_t*>(data.data()) + 1;
    kUnpackers[width](in, avail, n, values);
    return 1 + payload;
  }
};

const VarintCodec kVarintCodec;
const BitPackCodec kBitPackCodec;

}  // namespace

namespace internal {
const BlockCodec& VarintCodecInstance() { return kVarintCodec; }
const BlockCodec& BitPackCodecInstance() { return kBitPackCodec; }
}  // namespace internal

namespace {

// Every codec, one line each (codecs live in their own files and expose an
// accessor declared in storage/internal_codecs.h).
const std::vector<const BlockCodec*>& AllCodecs() {
  static const std::vector<const BlockCodec*> all = {
      &internal::VarintCodecInstance(),
      &internal::BitPackCodecInstance(),
      &internal::StreamVByteCodecInstance(),
      &internal::PForCodecInstance(),
      &internal::SimdBp128CodecInstance(),
  };
  return all;
}

}  // namespace

const BlockCodec* CodecById(uint8_t id) noexcept {
  for (const BlockCodec* codec : AllCodecs()) {
    if (static_cast<uint8_t>(codec->id()) == id) return codec;
  }
  return nullptr;
}

absl::StatusOr<const BlockCodec*> CodecByName(std::string_view name) {
  for (const BlockCodec* codec : AllCodecs()) {
    if (codec->name() == name) return codec;
  }
  // This abseil build has its own absl::string_view (not std's), so StrCat
  // and StrJoin cannot take std::string_view directly.
  std::string message = "unknown codec '";
  message.append(name).append("' (known: ");
  const std::vector<std::string_view> names = CodecNames();
  for (size_t i = 0; i < names.size(); ++i) message.append(i == 0 ? "" : ", ").append(names[i]);
  message.append(")");
  return absl::InvalidArgumentError(message);
}

std::vector<std::string_view> CodecNames() {
  std::vector<std::string_view> names;
  names.reserve(AllCodecs().size());
  for (const BlockCodec* codec : AllCodecs()) names.push_back(codec->name());
  return names;
}

}  // namespace scry::storage

namespace scry::storage {

void BlockCodec::EncodeDelta(const uint32_t* values, size_t n, uint32_t prev,
                             std::string* out) const {
  uint32_t gaps[kBlockSize];
  for (size_t i = 0; i < n; ++i) {
    gaps[i] = values[i] - prev - 1;
    prev = values[i];
  }
  Encode(gaps, n, out);
}

absl::StatusOr<size_t> BlockCodec::DecodeDelta(std::string_view data, size_t n, uint32_t prev,
                                               uint32_t* values) const {
  absl::StatusOr<size_t> used = Decode(data, n, values);
  if (!used.ok()) return used;
  for (size_t i = 0; i < n; ++i) {
    prev += values[i] + 1;
    values[i] = prev;
  }
  return used;
}

}  // namespace scry::storage
