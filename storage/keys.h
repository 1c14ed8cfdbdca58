// File: storage/keys.h
//
// The RocksDB layout of one shard. Each shard is its own RocksDB instance
// (DIR/gen-N/shard-NNN/) with these column families:
//
//   meta       "format_version"    -> fixed32
//              "shard"             -> fixed32 index, fixed32 count
//              "language"          -> analyser language name (e.g. "english")
//              "doc_count"         -> fixed64
//              "total_length"      -> fixed64   sum of document lengths (tokens)
//              "term_count"        -> fixed64   distinct (field, term) keys
//              "posting_count"     -> fixed64
//              "doclen" chunk:be32 -> fixed32 length of each document, for
//                                     docids [chunk*kDocLenChunk, ...), dense
//   terms      field:u8 term       -> TermInfo (storage/posting_format.h); short
//                                     lists are inline there and have no
//                                     postings/positions keys
//   postings   field:u8 term 0x00 chunk:be32 -> posting chunk (docids, freqs)
//   positions  field:u8 term 0x00 chunk:be32 -> positions of the same chunk
//   docs       docid:be32          -> StoredDocument (storage/stored_document.h);
//                                     absent when only the id is stored
//   ids        external id bytes   -> docid:be32
//
// Terms never contain 0x00 (the analyser emits letters and digits only), so
// `term 0x00` sorts every key of one term before those of any longer term.
// Big-endian docids and chunk numbers make byte order equal numeric order.
// Field 0 ("text") holds title, body and every other text field of a
// document; later fields get their own ids.
#ifndef SCRY_STORAGE_KEYS_H_
#define SCRY_STORAGE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/coding.h"

namespace scry::storage {

// 2: short posting lists inline in the terms column family.
// 3: positions encoded with block codecs.
// 4: impacts (tf, doc length frontiers) per block and per list, for pruning;
//    inline lists compacted; no `docs` entry for documents with only an id.
inline constexpr uint32_t kFormatVersion = 4;
inline constexpr uint8_t kTextField = 0;
inline constexpr uint32_t kDocLenChunk = 65536;

inline constexpr const char* kMetaCf = "meta";
inline constexpr const char* kTermsCf = "terms";
inline constexpr const char* kPostingsCf = "postings";
inline constexpr const char* kPositionsCf = "positions";
inline constexpr const char* kDocsCf = "docs";
inline constexpr const char* kIdsCf = "ids";

// All column families in a fixed order (default first, as RocksDB wants).
inline constexpr const char* kColumnFamilies[] = {"default",    kMetaCf, kTermsCf, kPostingsCf,
                                                  kPositionsCf, kDocsCf, kIdsCf};
inline constexpr int kNumColumnFamilies = 7;

inline std::string TermKey(uint8_t field, std::string_view term) {
  std::string key;
  key.reserve(term.size() + 1);
  key.push_back(static_cast<char>(field));
  key.append(term);
  return key;
}

inline std::string ChunkKey(uint8_t field, std::string_view term, uint32_t chunk) {
  std::string key = TermKey(field, term);
  key.push_back('\0');
  PutBigEndian32(&key, chunk);
  return key;
}

inline std::string DocKey(uint32_t docid) {
  std::string key;
  PutBigEndian32(&key, docid);
  return key;
}

inline std::string DocLenKey(uint32_t chunk) {
  std::string key = "doclen";
  PutBigEndian32(&key, chunk);
  return key;
}

}  // namespace scry::storage

#endif  // SCRY_STORAGE_KEYS_H_
