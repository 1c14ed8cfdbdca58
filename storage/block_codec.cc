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
// them, and accept non-minimal (but <= 5 byte) varints. The bit packing is in
// storage/bitpack_internal.h, shared with pfor (pfor_codec.cc).

#include "storage/block_codec.h"
#include "storage/internal_codecs.h"

#include <bit>
#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/bitpack_internal.h"
#include "storage/coding.h"

namespace scry::storage {
namespace {

constexpr size_t kMaxVarint32Bytes = 5;

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

class BitPackCodec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kBitPack; }
  std::string_view name() const noexcept override { return "bitpack"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    uint32_t all = 0;
    for (size_t i = 0; i < n; ++i) all |= values[i];
    const uint32_t width = static_cast<uint32_t>(std::bit_width(all));

    uint8_t buf[1 + kBlockSize * 4];
    buf[0] = static_cast<uint8_t>(width);
    const size_t len = 1 + bitpack::Pack(values, n, width, buf + 1);
    assert(len == 1 + bitpack::PackedBytes(n, width));
    out->append(reinterpret_cast<const char*>(buf), len);
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    assert(n <= kBlockSize);
    if (data.empty()) return absl::DataLossError("bitpack block: missing bit-width byte");
    const uint32_t width = static_cast<unsigned char>(data[0]);
    if (width > bitpack::kMaxWidth) {
      return absl::DataLossError(absl::StrCat("bitpack block: bit width ", width, " > 32"));
    }
    const size_t payload = bitpack::PackedBytes(n, width);
    const size_t avail = data.size() - 1;
    if (avail < payload) {
      return absl::DataLossError(
          absl::StrCat("bitpack block: truncated, need ", payload, " payload bytes, have ", avail));
    }
    const auto* in = reinterpret_cast<const uint8_t*>(data.data()) + 1;
    bitpack::UnpackWidth(width, in, avail, n, values);
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
      &internal::VarintCodecInstance(),      &internal::BitPackCodecInstance(),
      &internal::StreamVByteCodecInstance(), &internal::PForCodecInstance(),
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
  bitpack::DeltaPrefixSum(values, n, prev);  // vectorised
  return used;
}

}  // namespace scry::storage
