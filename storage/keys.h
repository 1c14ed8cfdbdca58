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
//              "term_count"        -> fixed64   distinct terms (of the catch-all)
//              "posting_count"     -> fixed64   postings of the catch-all
//              "doclen" chunk:be32 -> fixed32 length of each document, for
//                                     docids [chunk*kDocLenChunk, ...), dense
//                                     (field 0, the catch-all)
//              "doclen" chunk:be32 field:u8 -> the same for named field `field`
//              "fields"            -> (field:u8 name:lp)* the named fields (format 5)
//              "field_length" field:u8 -> fixed64 sum of the lengths in `field`
//              "pairs"             -> min_df:varint32 flags:varint32 (term:lp)*
//                                     the common terms of the shard's pairs,
//                                     sorted; flags bit 0: pairs of two
//                                     common terms only (format 7)
//              "typed"             -> (name:lp type:u8)* the typed fields of
//                                     the schema, by name (format 8; type:
//                                     storage::FieldType)
//              "dv" name           -> DocValuesColumn (storage/doc_values.h)
//                                     of numeric field `name` (format 8)
//   terms      field:u8 term       -> TermInfo (storage/posting_format.h); short
//                                     lists are inline there and have no
//                                     postings/positions keys
//              field:u8 0xff first 0xff second -> the same for a pair of
//                                     words (PairTerm, format 7)
//   postings   field:u8 term 0x00 chunk:be32 -> posting chunk (docids, freqs)
//   positions  field:u8 term 0x00 chunk:be32 -> positions of the same chunk
//   docs       docid:be32          -> StoredDocument (storage/stored_document.h);
//                                     absent when only the id is stored
//   ids        external id bytes   -> docid:be32
//   titles     docid:be32          -> the document's title (its stored field
//                                     "title"), absent when it has none
//                                     (format 6; loaded whole at open)
//
// Terms never contain 0x00 (the analyser emits letters and digits only), so
// `term 0x00` sorts every key of one term before those of any longer term.
// Pairs (format 7): where two words follow each other (positions p and
// p + 1 of one field) and at least one of them (or both, as the shard says)
// is a common term of the shard (meta "pairs"), the pair is indexed too, as a list of its own with
// the first word's positions, so that a phrase of common words reads short
// lists. Pair terms start with 0xff, a byte that UTF-8 never holds: they
// sort after every word of their field and never match a word's prefix, so
// dictionary scans, statistics and scoring never see them. A pair found in
// fewer than min_df documents is not stored (a phrase then reads its
// words), so a missing pair says nothing about the phrase.
// Big-endian docids and chunk numbers make byte order equal numeric order.
// Field 0 (the catch-all, kTextField) holds title, body and every other text
// member of a document; from format 5, each indexed member also has postings
// of its own under field ids 1..255, named in meta "fields" (ids are per
// shard: readers map names to ids shard by shard).
#ifndef SCRY_STORAGE_KEYS_H_
#define SCRY_STORAGE_KEYS_H_

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "storage/coding.h"

namespace scry::storage {

// 2: short posting lists inline in the terms column family.
// 3: positions encoded with block codecs.
// 4: impacts (tf, doc length frontiers) per block and per list, for pruning;
//    inline lists compacted; no `docs` entry for documents with only an id.
// 5: named fields (postings and document lengths per field); stored
//    documents may carry position checkpoints. Format 4 shards still open
//    (no named fields).
// 6: the `titles` column family: what every hit returns, apart from the
//    stored documents, so a page of hits reads no document. Format 4 and 5
//    shards still open (their titles come from `docs`).
// 7: pairs of words next to a common term (PairTerm, meta "pairs"). Format 4
//    to 6 shards still open (no pairs: phrases read their words).
// 8: typed fields (issue 21): meta "typed" and a "dv" doc-values column per
//    numeric field; keyword values are posting terms of a named field. Format
//    4 to 7 shards still open (no typed fields).
inline constexpr uint32_t kFormatVersion = 8;
inline constexpr uint32_t kMinFormatVersion = 4;
inline constexpr size_t kMaxFields = 256;  // field ids are one byte; 0 is the catch-all
inline constexpr uint8_t kTextField = 0;
inline constexpr uint32_t kDocLenChunk = 65536;

inline constexpr const char* kMetaCf = "meta";
inline constexpr const char* kTermsCf = "terms";
inline constexpr const char* kPostingsCf = "postings";
inline constexpr const char* kPositionsCf = "positions";
inline constexpr const char* kDocsCf = "docs";
inline constexpr const char* kIdsCf = "ids";
inline constexpr const char* kTitlesCf = "titles";  // from format 6

// All column families in a fixed order (default first, as RocksDB wants),
// and the index of each in it (and in the handles RocksDB opens in it).
inline constexpr const char* kColumnFamilies[] = {"default",    kMetaCf, kTermsCf, kPostingsCf,
                                                  kPositionsCf, kDocsCf, kIdsCf,   kTitlesCf};
enum ColumnFamilyIndex : int {
  kDefaultCfIndex = 0,
  kMetaCfIndex,
  kTermsCfIndex,
  kPostingsCfIndex,
  kPositionsCfIndex,
  kDocsCfIndex,
  kIdsCfIndex,
  kTitlesCfIndex,
  kNumColumnFamilies,
};
static_assert(std::size(kColumnFamilies) == kNumColumnFamilies);
static_assert(std::string_view(kColumnFamilies[kMetaCfIndex]) == kMetaCf &&
              std::string_view(kColumnFamilies[kTermsCfIndex]) == kTermsCf &&
              std::string_view(kColumnFamilies[kPostingsCfIndex]) == kPostingsCf &&
              std::string_view(kColumnFamilies[kPositionsCfIndex]) == kPositionsCf &&
              std::string_view(kColumnFamilies[kDocsCfIndex]) == kDocsCf &&
              std::string_view(kColumnFamilies[kIdsCfIndex]) == kIdsCf &&
              std::string_view(kColumnFamilies[kTitlesCfIndex]) == kTitlesCf);

// Keys of the `meta` column family (grammar above).
inline constexpr const char* kMetaFormatVersion = "format_version";
inline constexpr const char* kMetaShard = "shard";
inline constexpr const char* kMetaLanguage = "language";
inline constexpr const char* kMetaDocCount = "doc_count";
inline constexpr const char* kMetaTotalLength = "total_length";
inline constexpr const char* kMetaTermCount = "term_count";
inline constexpr const char* kMetaPostingCount = "posting_count";
inline constexpr const char* kMetaFields = "fields";
inline constexpr const char* kMetaPairs = "pairs";                     // from format 7
inline constexpr const char* kMetaTyped = "typed";                     // from format 8
inline constexpr const char* kMetaDocValuesPrefix = "dv";              // + field name, format 8
inline constexpr const char* kMetaDocLenPrefix = "doclen";             // DocLenKey
inline constexpr const char* kMetaFieldLengthPrefix = "field_length";  // FieldLengthKey

// Whether `name` can name a field of its own (and be written `name:` in a
// query): an ASCII letter or '_', then letters, digits or '_', at most 64.
inline bool IsFieldName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

inline std::string TermKey(uint8_t field, std::string_view term) {
  std::string key;
  key.reserve(term.size() + 1);
  key.push_back(static_cast<char>(field));
  key.append(term);
  return key;
}

// The term of the pair `first second` (see above).
inline constexpr char kPairMark = '\xff';
inline std::string PairTerm(std::string_view first, std::string_view second) {
  std::string term;
  term.reserve(first.size() + second.size() + 2);
  term.push_back(kPairMark);
  term.append(first);
  term.push_back(kPairMark);
  term.append(second);
  return term;
}
inline bool IsPairTerm(std::string_view term) { return !term.empty() && term[0] == kPairMark; }
// The two words of a pair term; false if `term` is not one.
inline bool SplitPairTerm(std::string_view term, std::string_view* first,
                          std::string_view* second) {
  if (!IsPairTerm(term)) return false;
  const size_t mark = term.find(kPairMark, 1);
  if (mark == std::string_view::npos) return false;
  *first = term.substr(1, mark - 1);
  *second = term.substr(mark + 1);
  return true;
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

inline std::string DocLenKey(uint32_t chunk, uint8_t field = kTextField) {
  std::string key = kMetaDocLenPrefix;
  PutBigEndian32(&key, chunk);
  if (field != kTextField) key.push_back(static_cast<char>(field));
  return key;
}

inline std::string FieldLengthKey(uint8_t field) {
  std::string key = kMetaFieldLengthPrefix;
  key.push_back(static_cast<char>(field));
  return key;
}

}  // namespace scry::storage

#endif  // SCRY_STORAGE_KEYS_H_
