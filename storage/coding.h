// File: storage/coding.h
//
// Byte-level encodings used by every on-disk format in scry:
//   fixed32/fixed64  little-endian, for values read at fixed offsets;
//   BigEndian32      for key suffixes, so that byte order equals numeric order;
//   varint32/64      LEB128 (7 bits per byte, high bit = more), for sizes/counts.
// Decoders never read past `end` and report failure instead.
#ifndef SCRY_STORAGE_CODING_H_
#define SCRY_STORAGE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace scry::storage {

inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 4);
}

inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 8);
}

// REQUIRES: p points at 4 readable bytes.
inline uint32_t DecodeFixed32(const char* p) noexcept {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// REQUIRES: p points at 8 readable bytes.
inline uint64_t DecodeFixed64(const char* p) noexcept {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

inline void PutBigEndian32(std::string* dst, uint32_t v) {
  char buf[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
  dst->append(buf, 4);
}

// REQUIRES: p points at 4 readable bytes.
inline uint32_t DecodeBigEndian32(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

inline void PutVarint64(std::string* dst, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}

inline void PutVarint32(std::string* dst, uint32_t v) { PutVarint64(dst, v); }

inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint32(dst, static_cast<uint32_t>(s.size()));
  dst->append(s);
}

// Decodes a varint from [p, end). Returns the byte after it, or nullptr if the
// input ends inside the varint or it is longer than 10 bytes.
inline const char* GetVarint64Ptr(const char* p, const char* end, uint64_t* v) noexcept {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && p < end; shift += 7) {
    const uint64_t byte = static_cast<unsigned char>(*p++);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}

// As GetVarint64Ptr, and also fails (nullptr) if the value exceeds 32 bits.
inline const char* GetVarint32Ptr(const char* p, const char* end, uint32_t* v) noexcept {
  uint64_t v64 = 0;
  p = GetVarint64Ptr(p, end, &v64);
  if (p == nullptr || v64 > 0xffffffffULL) return nullptr;
  *v = static_cast<uint32_t>(v64);
  return p;
}

// Consuming readers over a string_view: on success advance *in and return true.
inline bool GetVarint32(std::string_view* in, uint32_t* v) noexcept {
  const char* p = GetVarint32Ptr(in->data(), in->data() + in->size(), v);
  if (p == nullptr) return false;
  in->remove_prefix(static_cast<size_t>(p - in->data()));
  return true;
}

inline bool GetVarint64(std::string_view* in, uint64_t* v) noexcept {
  const char* p = GetVarint64Ptr(in->data(), in->data() + in->size(), v);
  if (p == nullptr) return false;
  in->remove_prefix(static_cast<size_t>(p - in->data()));
  return true;
}

inline bool GetFixed32(std::string_view* in, uint32_t* v) noexcept {
  if (in->size() < 4) return false;
  *v = DecodeFixed32(in->data());
  in->remove_prefix(4);
  return true;
}

inline bool GetLengthPrefixed(std::string_view* in, std::string_view* out) noexcept {
  uint32_t len = 0;
  if (!GetVarint32(in, &len) || in->size() < len) return false;
  *out = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

}  // namespace scry::storage

#endif  // SCRY_STORAGE_CODING_H_
