// File: storage/pfor_codec.cc
//
// Patched frame-of-reference block codec ("pfor", CodecId::kPFor), in the
// spirit of NewPFD / OptPFor (Yan, Ding, Suel 2009; Lemire, Boytsov 2015): one
// bit width b for the block, chosen to minimise the block's size, and the few
// values that do not fit in b bits ("exceptions") patched in afterwards.
// Byte layout of one block of n integers (n is not stored; the caller knows
// it):
//
//   pfor_block  := header packed [exceptions]
//   header      := u8: bit 7 = has exceptions, bits 0..6 = b (0..32)
//   packed      := byte{ceil(n * b / 8)}  // low b bits of value i at bits
//                                         // [i*b, (i+1)*b) of the
//                                         // little-endian bit stream (LSB
//                                         // first), as in "bitpack"
//   exceptions  := count_minus_1:u8 hw:u8 position:u8{count} high
//                  count = count_minus_1 + 1, 1..n
//                  hw: bit width of the high parts, 1..32-b
//                  positions strictly ascending, each < n
//   high        := byte{ceil(count * hw / 8)}
//                  exception k's high part (value >> b, nonzero) at hw bits,
//                  packed as above
//
// Value i = low bits from `packed`, ORed with (high part << b) if i is the
// position of an exception. Pad bits are written as 0 and ignored. The encoder
// picks the b that gives the smallest block (ties: the larger b, fewer
// exceptions). A block without exceptions is byte for byte a "bitpack" block,
// so pfor is never larger than bitpack. An empty block (n == 0) is the single
// byte 0x00. Decoders return DataLoss on a bad width, an exception count above
// n, positions out of range or not ascending, a zero high part, or truncation.
//
// Positions as a bitmap (ceil(n/8) bytes) instead of one byte each would make
// real blocks 4-7% smaller, but the size-optimal b then leaves 3.6x more
// exceptions per block (32 instead of 9 in a full docid block) and decoding
// about 2x slower (measured with bench/posting_codec_bench), so there is no
// bitmap form.
//
// The bit packing is
// storage/bitpack_internal.h, shared with "bitpack".

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/bitpack_internal.h"
#include "storage/block_codec.h"
#include "storage/internal_codecs.h"
#include "storage/status.h"

namespace scry::storage {
namespace {

using bitpack::kMaxWidth;
using bitpack::PackedBytes;
constexpr uint8_t kHasExceptions = 0x80;

// ---------------------------------------------------------------------------
// Choice of b.

struct Plan {
  uint32_t b = 0;         // width of the packed low parts
  uint32_t hw = 0;        // width of the high parts (0 if no exceptions)
  size_t exceptions = 0;  // values >= 2^b
  size_t bytes = 0;       // encoded size
};

// The plan for width b when `exceptions` values are wider than b and the
// widest has `max_width` bits.
Plan Cost(size_t n, uint32_t b, size_t exceptions, uint32_t max_width) {
  Plan p;
  p.b = b;
  p.exceptions = exceptions;
  p.bytes = 1 + PackedBytes(n, b);
  if (exceptions > 0) {
    p.hw = max_width - b;
    p.bytes += 2 + exceptions + PackedBytes(exceptions, p.hw);
  }
  return p;
}

// The smallest encoding over b = 0..32; on ties the larger b (fewer
// exceptions, faster to decode).
Plan ChooseWidth(const uint32_t* values, size_t n) {
  std::array<size_t, kMaxWidth + 1> count{};
  for (size_t i = 0; i < n; ++i) ++count[std::bit_width(values[i])];
  uint32_t max_width = kMaxWidth;
  while (max_width > 0 && count[max_width] == 0) --max_width;
  Plan best = Cost(n, max_width, 0, max_width);
  size_t exceptions = 0;  // values wider than b
  for (uint32_t b = max_width; b-- > 0;) {
    exceptions += count[b + 1];
    const Plan p = Cost(n, b, exceptions, max_width);
    if (p.bytes < best.bytes) best = p;
  }
  return best;
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(absl::StrCat("pfor block: ", AsAbsl(what)));
}

// ---------------------------------------------------------------------------

class PForCodec final : public BlockCodec {
 public:
  CodecId id() const noexcept override { return CodecId::kPFor; }
  std::string_view name() const noexcept override { return "pfor"; }

  void Encode(const uint32_t* values, size_t n, std::string* out) const override {
    assert(n <= kBlockSize);
    const Plan plan = ChooseWidth(values, n);
    // Header, packed low parts, exception header, positions, high parts.
    uint8_t buf[1 + 4 * kBlockSize + 2 + kBlockSize + 4 * kBlockSize];
    size_t len = 0;
    buf[len++] = static_cast<uint8_t>(plan.b | (plan.exceptions > 0 ? kHasExceptions : 0));
    if (plan.exceptions == 0) {
      len += bitpack::Pack(values, n, plan.b, buf + len);
    } else {
      const uint32_t low_mask = (uint32_t{1} << plan.b) - 1;  // b < 32 here
      uint32_t low[kBlockSize];
      uint32_t high[kBlockSize];
      uint8_t positions[kBlockSize];
      size_t k = 0;
      for (size_t i = 0; i < n; ++i) {
        low[i] = values[i] & low_mask;
        if (const uint32_t h = values[i] >> plan.b; h != 0) {
          positions[k] = static_cast<uint8_t>(i);
          high[k++] = h;
        }
      }
      assert(k == plan.exceptions);
      len += bitpack::Pack(low, n, plan.b, buf + len);
      buf[len++] = static_cast<uint8_t>(k - 1);
      buf[len++] = static_cast<uint8_t>(plan.hw);
      std::memcpy(buf + len, positions, k);
      len += k;
      len += bitpack::Pack(high, k, plan.hw, buf + len);
    }
    assert(len == plan.bytes);
    out->append(reinterpret_cast<const char*>(buf), len);
  }

  absl::StatusOr<size_t> Decode(std::string_view data, size_t n, uint32_t* values) const override {
    assert(n <= kBlockSize);
    const auto* in = reinterpret_cast<const uint8_t*>(data.data());
    const size_t size = data.size();
    if (size == 0) return Malformed("missing header byte");
    const uint32_t b = in[0] & ~kHasExceptions;
    if (b > kMaxWidth) return Malformed(absl::StrCat("bit width ", b, " > 32"));
    const size_t packed = PackedBytes(n, b);
    size_t pos = 1 + packed;
    if (size < pos) {
      return Malformed(absl::StrCat("truncated, need ", pos, " bytes, have ", size));
    }
    bitpack::UnpackWidth(b, in + 1, size - 1, n, values);
    if ((in[0] & kHasExceptions) == 0) return pos;

    if (size < pos + 2) return Malformed("truncated exception header");
    const size_t count = size_t{in[pos]} + 1;
    const uint32_t hw = in[pos + 1];
    pos += 2;
    if (count > n) return Malformed(absl::StrCat(count, " exceptions in ", n, " integers"));
    if (hw == 0 || b + hw > kMaxWidth) {
      return Malformed(absl::StrCat("exception width ", hw, " with bit width ", b));
    }
    const uint8_t* positions = in + pos;
    const size_t high_pos = pos + count;
    const size_t end = high_pos + PackedBytes(count, hw);
    if (size < end) {
      return Malformed(absl::StrCat("truncated exceptions, need ", end, " bytes, have ", size));
    }
    uint32_t high[kBlockSize];
    bitpack::UnpackWidth(hw, in + high_pos, size - high_pos, count, high);
    for (size_t k = 0; k < count; ++k) {
      const size_t i = positions[k];
      if (i >= n || (k > 0 && i <= positions[k - 1]) || high[k] == 0) {
        return Malformed(absl::StrCat("bad exception ", k, " (position ", i, ")"));
      }
      values[i] |= high[k] << b;
    }
    return end;
  }
};

const PForCodec kPForCodec;

}  // namespace

namespace internal {
const BlockCodec& PForCodecInstance() { return kPForCodec; }
}  // namespace internal

}  // namespace scry::storage
