// File: storage/block_codec.h
//
// Block codecs: encode and decode up to kBlockSize (128) unsigned 32-bit
// integers per call. Posting lists are cut into blocks of 128 postings; the
// writer turns docids into gaps (and frequencies into tf-1) before calling a
// codec, so codecs see small non-negative integers. Virtual dispatch happens
// once per block, never per integer.
//
// Every codec has a stable one-byte id that is written into each block on
// disk, so an index stays readable when the default codec changes. Ids are
// never reused.
//
// Decoders are safe on untrusted bytes: truncated or corrupt input yields a
// DataLoss status, never a read outside `data`.
//
// Thread safety: codecs are stateless singletons, safe to share.
#ifndef SCRY_STORAGE_BLOCK_CODEC_H_
#define SCRY_STORAGE_BLOCK_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace scry::storage {

inline constexpr size_t kBlockSize = 128;

enum class CodecId : uint8_t {
  kVarint = 1,       // LEB128 per integer; the plain reference codec
  kBitPack = 2,      // one bit width b (0..32) per block, then n*b bits, horizontal layout
  kStreamVByte = 3,  // Stream VByte (libstreamvbyte): 2-bit length codes, then data bytes
  kSimdBp128 = 4,    // SIMD-BP128 family: one bit width per block, 4-lane vertical layout
  kPFor = 5,         // patched frame of reference: bit width b plus exceptions
};

class BlockCodec {
 public:
  virtual ~BlockCodec() = default;

  [[nodiscard]] virtual CodecId id() const noexcept = 0;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;

  // Appends the encoding of values[0, n) to *out.
  // REQUIRES: n <= kBlockSize.
  virtual void Encode(const uint32_t* values, size_t n, std::string* out) const = 0;

  // Decodes exactly n integers from the front of `data` into values[0, n).
  // Returns the number of bytes consumed; DataLoss if `data` is too short or
  // malformed. REQUIRES: n <= kBlockSize; values has room for kBlockSize.
  virtual absl::StatusOr<size_t> Decode(std::string_view data, size_t n,
                                        uint32_t* values) const = 0;

  // Delta coding of strictly ascending values (docids): encodes the gaps
  // values[i] - values[i-1] - 1, with values[-1] = prev. Arithmetic is modulo
  // 2^32, so prev = 0xffffffff encodes a list that may start at 0.
  // REQUIRES: n <= kBlockSize; values strictly ascending and > prev (mod 2^32).
  virtual void EncodeDelta(const uint32_t* values, size_t n, uint32_t prev, std::string* out) const;

  // Decodes what EncodeDelta wrote, rebuilding the values (prefix sum). The
  // default decodes then sums; SIMD codecs fuse the two. Callers validate the
  // values (e.g. against a block's last docid): corrupt input decodes to
  // garbage values, never to an out-of-bounds read.
  virtual absl::StatusOr<size_t> DecodeDelta(std::string_view data, size_t n, uint32_t prev,
                                             uint32_t* values) const;
};

// The codec with this id, or nullptr if the id is unknown (a corrupt block or
// an index written by a newer scry).
const BlockCodec* CodecById(uint8_t id) noexcept;

// The codec named `name` ("varint", "bitpack"); InvalidArgument if unknown.
absl::StatusOr<const BlockCodec*> CodecByName(std::string_view name);

// Names of all codecs, for --help texts and tests.
std::vector<std::string_view> CodecNames();

}  // namespace scry::storage

#endif  // SCRY_STORAGE_BLOCK_CODEC_H_
