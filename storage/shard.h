// File: storage/shard.h
//
// One shard of an index: a RocksDB instance laid out as in storage/keys.h.
// ShardWriter bulk-writes a new shard (SST files, then ingestion); ShardReader
// opens a finished shard read-only for queries.
#ifndef SCRY_STORAGE_SHARD_H_
#define SCRY_STORAGE_SHARD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "storage/posting_format.h"
#include "storage/status.h"
#include "storage/stored_document.h"

namespace rocksdb {
class DB;
class Env;
class ColumnFamilyHandle;
class PinnableSlice;
}  // namespace rocksdb

namespace scry::storage {

// storage/doc_values.h (which includes this header through posting_cursor.h).
enum class FieldType : uint8_t;
class DocValuesColumn;

namespace internal {
class MemoryDictionary;
class MemoryChunks;
}  // namespace internal

struct ShardMeta {
  uint32_t format_version = 0;
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  std::string language;
  uint64_t doc_count = 0;
  uint64_t total_length = 0;  // sum of document lengths, in tokens
  uint64_t term_count = 0;
  uint64_t posting_count = 0;
  // Named fields (format 5): field_names[f] is the name of field id f
  // (field_names[0] is "", the catch-all); field_lengths[f] the sum of the
  // documents' lengths in field f (field_lengths[0] == total_length).
  std::vector<std::string> field_names;
  std::vector<uint64_t> field_lengths;
  // Pairs (format 7, storage/keys.h): the common terms, sorted (empty: no
  // pairs), and the fewest documents a stored pair is found in.
  std::vector<std::string> common_terms;
  uint32_t pair_min_df = 0;
  bool pairs_need_both = false;  // pairs of two common terms only
  // Typed fields (format 8, the schema of `scry index --schema`), by name:
  // keyword fields are named fields whose terms are the exact values;
  // numeric ones have a doc-values column (ShardReader::doc_values).
  std::vector<std::pair<std::string, FieldType>> typed_fields;
};

struct ShardStats {
  ShardMeta meta;
  std::map<std::string, uint64_t> bytes_per_cf;  // live SST bytes per column family
};

struct ShardWriterOptions {
  PostingCodecs codecs;  // null members: simdbp128 docids, pfor tfs, positions as tfs
  // Names of the named fields: field_names[i] gets field id i + 1 (at most
  // kMaxFields - 1 names, unique, non-empty).
  std::vector<std::string> field_names;
  // Pair lists (PairTerm keys) found in fewer documents than this are not
  // stored (the lists of words always are). At most 8,192 (a chunk), so
  // that a dropped list never had a chunk written. Recorded by Finish.
  uint32_t pair_min_df = 1;
  // Whether pairs are indexed only where both words are common terms (else
  // where either is). Recorded by Finish.
  bool pairs_need_both = false;
  // The RocksDB environment every file of the shard is written through;
  // nullptr: the default (the local file system). Tests pass one that
  // injects faults (tests/fault_fs.h). Must outlive the writer.
  rocksdb::Env* env = nullptr;
};

// Writes one new shard into an empty directory. If Finish() is not reached,
// the directory holds no usable shard (the caller removes it).
//
// Documents come in docid order (0, 1, 2, ...) in any id order: ids are
// claimed first (ClaimId, which finds duplicates with bounded memory: the
// ids go into the shard's RocksDB at once), stored documents and lengths
// follow in docid order (AddDocument), posting lists last in (field, term)
// order (AddPostingList, or StartList for a list given in pieces). Stored
// documents and posting lists are written as SST files and ingested by
// Finish.
//
// Thread safety: ClaimId may run concurrently with AddDocument and the
// posting lists; lists of distinct parts (SetListParts) concurrently with
// each other; each of the others one call at a time.
class ShardWriter {
 public:
  // `path` must not exist yet or be an empty directory.
  static absl::StatusOr<std::unique_ptr<ShardWriter>> Create(const std::string& path,
                                                             const ShardWriterOptions& options);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Records that `id` is document `docid`'s. AlreadyExists if `id` was
  // claimed before (by the docid then put in *earlier, if given).
  // REQUIRES: id non-empty.
  absl::Status ClaimId(std::string_view id, uint32_t docid, uint32_t* earlier = nullptr);

  // Declares named field `id` (1..255) as `name`, if options.field_names did
  // not. REQUIRES: before any posting list of the field; ids and names unique.
  absl::Status DeclareField(uint8_t id, std::string_view name);

  // Stores a document. `lengths[f]` is its length in tokens in field f
  // (lengths[0] the catch-all's); fields past lengths.size() have 0.
  // REQUIRES: docids given as 0, 1, 2, ... in order; doc.id claimed.
  absl::Status AddDocument(uint32_t docid, const StoredDocument& doc,
                           std::span<const uint32_t> lengths);
  // A document with the catch-all field only; claims its id too (for tests
  // and small tools).
  absl::Status AddDocument(uint32_t docid, const StoredDocument& doc, uint32_t length) {
    absl::Status s = ClaimId(doc.id, docid);
    if (!s.ok()) return s;
    return AddDocument(docid, doc, std::span<const uint32_t>(&length, 1));
  }

  // Posting lists go to list parts, each with SST files of its own, so that
  // several threads can write them at once: SetListParts(n) (before any list
  // is added) makes parts 0..n-1; without it there is one, part 0. Every key
  // of part p must sort before every key of part p + 1 (each part takes a
  // range of the (field, term) order, ascending within it). Lists of
  // distinct parts may be added concurrently, once every document is added.
  absl::Status SetListParts(size_t n);

  // Stores the posting list of (field, term) in part `part`. REQUIRES:
  // (field, term) strictly ascending across calls on the part; term
  // non-empty without 0x00 bytes; docids below the number of documents
  // added; the field declared.
  absl::Status AddPostingList(uint8_t field, std::string_view term, const PostingList& list,
                              size_t part = 0);

  // A posting list stored as it is encoded, in pieces (PostingListEncoder):
  // its complete chunks go to the part's files at once, so a list longer
  // than one wants in memory (a merge of sorted runs) never is whole.
  // Stores the same bytes as AddPostingList of the pieces concatenated.
  class ListWriter {
   public:
    // Appends a piece (docids above the pieces' before, below the number
    // of documents added).
    absl::Status Add(const PostingList& piece);
    // Stores the rest and the TermInfo. The list has at least one posting.
    absl::Status Finish();

   private:
    friend class ShardWriter;
    ListWriter(ShardWriter* writer, size_t part, uint8_t field, std::string_view term);
    ShardWriter* writer_;
    size_t part_;
    uint8_t field_;
    std::string term_;
    PostingListEncoder encoder_;
    uint32_t chunks_written_ = 0;
    std::vector<std::string> postings_, positions_;  // chunks being written
  };
  // Starts the list of (field, term) in part `part` (ordering rules as for
  // AddPostingList; no other list is added to the part until it is finished).
  absl::StatusOr<std::unique_ptr<ListWriter>> StartList(uint8_t field, std::string_view term,
                                                        size_t part = 0);

  // Stores the doc-values column of numeric field `name` (one of the
  // typed_fields given to Finish). REQUIRES: column.num_docs() is the number
  // of documents added, by Finish.
  absl::Status SetDocValues(std::string_view name, DocValuesColumn column);

  // Writes the metadata (doc_count, lengths, term and posting counts, fields
  // and pair_min_df are computed here or come from the options; the rest,
  // common_terms and typed_fields included, is taken from `meta`; each
  // numeric typed field needs its SetDocValues), ingests everything,
  // compacts the ids and closes the shard.
  absl::Status Finish(const ShardMeta& meta);

 private:
  struct Impl;
  explicit ShardWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A posting or positions chunk, read from RocksDB without copying (pinned in
// the block cache while this object lives) or viewed in the shard's memory.
class PinnedValue {
 public:
  PinnedValue();
  ~PinnedValue();
  PinnedValue(PinnedValue&&) noexcept;
  PinnedValue& operator=(PinnedValue&&) noexcept;
  std::string_view view() const noexcept { return view_; }

 private:
  friend class ShardReader;
  // Unpins what it held; the slice to read into (made on first use: a
  // shard whose lists are in memory never needs one).
  rocksdb::PinnableSlice* ResetSlice();
  void Unpin();

  std::unique_ptr<rocksdb::PinnableSlice> slice_;
  std::string_view view_;
};

// Stored documents read in one batch (ShardReader::GetDocuments), pinned in
// the block cache while this object lives.
class PinnedDocuments {
 public:
  PinnedDocuments();
  ~PinnedDocuments();
  PinnedDocuments(PinnedDocuments&&) noexcept;
  PinnedDocuments& operator=(PinnedDocuments&&) noexcept;

  size_t size() const;
  // The i-th document asked for, in place (its views valid while this
  // object lives): the same document, or the same error, as GetDocument.
  absl::StatusOr<StoredDocumentView> Get(size_t i) const;

 private:
  friend class ShardReader;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Read-only access to a finished shard.
// Thread safety: all const methods are safe to call concurrently.
class ShardReader {
 public:
  struct Options {
    size_t block_cache_bytes = 256 << 20;  // shared by all shards of the process
    // The shard's posting chunks, then its position chunks, are copied into
    // memory at open if they fit in this many bytes (each against what the
    // ones before left); what does not fit is read through RocksDB and its
    // block cache. 0: none. A column family that does not read whole (a
    // damaged block, a chunk of no term) is read through RocksDB too, so
    // damage is still found per read.
    uint64_t memory_lists_bytes = uint64_t{512} << 20;
    // Whether the term dictionary is loaded into memory at open (else terms
    // are looked up through RocksDB, and no chunk is in memory either).
    // Tools that open a shard once (verify, assemble) skip it.
    bool memory_dictionary = true;
  };

  // NotFound if there is no shard at `path`; DataLoss/FailedPrecondition if
  // it is not a complete scry shard of a format this binary reads.
  static absl::StatusOr<std::unique_ptr<ShardReader>> Open(const std::string& path,
                                                           const Options& options);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const ShardMeta& meta() const { return meta_; }

  // The TermInfo of (field, term), or nullopt if the shard has no such term,
  // from the dictionary loaded at open (see Options).
  absl::StatusOr<std::optional<TermInfo>> FindTerm(uint8_t field, std::string_view term) const;

  // Reads chunk `chunk` of (field, term) from the postings (positions=false)
  // or positions column family: from memory if it was loaded at open (see
  // Options), else through RocksDB. DataLoss if it is missing.
  absl::Status ReadChunk(uint8_t field, std::string_view term, uint32_t chunk, bool positions,
                         PinnedValue* out) const;

  // The whole posting list of (field, term), whose TermInfo is `info`,
  // decoded into *out: docids, tfs and positions (for tools that rewrite a
  // shard; queries read lists through cursors). DataLoss if it is damaged.
  absl::Status ReadPostingList(uint8_t field, std::string_view term, const TermInfo& info,
                               PostingList* out) const;

  // The plain references of FindTerm and ReadChunk, read through RocksDB
  // whatever is in memory (tests compare the two).
  absl::StatusOr<std::optional<TermInfo>> FindTermStored(uint8_t field,
                                                         std::string_view term) const;
  absl::Status ReadChunkStored(uint8_t field, std::string_view term, uint32_t chunk, bool positions,
                               PinnedValue* out) const;

  // Whether the posting (positions=false) or position chunks are in memory.
  bool chunks_in_memory(bool positions) const noexcept {
    return (positions ? positions_memory_ : postings_memory_) != nullptr;
  }

  // Length in tokens of document `docid` in `field` (kTextField: the
  // catch-all). REQUIRES: docid < doc_count, field < meta().field_names.size().
  uint32_t doc_length(uint8_t field, uint32_t docid) const noexcept {
    return doc_lengths_[field][docid];
  }
  // The id of the named field `name` in this shard, or nullopt.
  std::optional<uint8_t> FieldId(std::string_view name) const;
  // The type of field `name`: text unless meta().typed_fields names it.
  FieldType TypeOf(std::string_view name) const;
  // The doc-values column of numeric field `name` (loaded at open), or
  // null if it is not one. Valid while the reader lives.
  const DocValuesColumn* doc_values(std::string_view name) const;
  // Whether the pair `first second` is indexed where the two words follow
  // each other in a field (meta().common_terms holds either, or both with
  // pairs_need_both): then it has a list (PairTerm) unless found in fewer
  // than pair_min_df documents.
  bool IndexesPair(std::string_view first, std::string_view second) const {
    if (common_.empty()) return false;
    const bool a = common_.contains(AsAbsl(first)), b = common_.contains(AsAbsl(second));
    return meta_.pairs_need_both ? a && b : a || b;
  }

  // Calls fn(term, encoded TermInfo) for every term of `field` that starts
  // with `prefix`, in byte order, until fn returns false; pairs are left
  // out unless `with_pairs` (they sort after every word). The views are
  // valid during the call only.
  absl::Status ScanTerms(
      uint8_t field, std::string_view prefix,
      const std::function<bool(std::string_view term, std::string_view info)>& fn,
      bool with_pairs = false) const;

  // The external id of document `docid`, from a table loaded at open (ids
  // are needed for every hit and for tie-breaks across shards; reading them
  // from RocksDB per hit dominated top-1000 latency). Valid while the reader
  // lives. REQUIRES: docid < doc_count.
  std::string_view external_id(uint32_t docid) const noexcept {
    return std::string_view(ids_arena_)
        .substr(id_offsets_[docid], id_offsets_[docid + 1] - id_offsets_[docid]);
  }

  // Whether the shard keeps its titles apart from the documents (format 6
  // on): then title() gives them, loaded at open like the ids, and a page of
  // hits reads no stored document unless it asks for more than titles.
  bool has_titles() const noexcept { return has_titles_; }
  // The title of document `docid` ("" if it has none). Valid while the
  // reader lives. REQUIRES: has_titles(), docid < doc_count.
  std::string_view title(uint32_t docid) const noexcept {
    return std::string_view(titles_arena_)
        .substr(title_offsets_[docid], title_offsets_[docid + 1] - title_offsets_[docid]);
  }

  absl::StatusOr<StoredDocument> GetDocument(uint32_t docid) const;
  // The stored documents of `docids` read in one batch (one RocksDB
  // MultiGet), each viewed in place; errors are per document (see
  // PinnedDocuments::Get). Ascending docids are read fastest.
  PinnedDocuments GetDocuments(std::span<const uint32_t> docids) const;
  // The docid of external id `id`, or nullopt.
  absl::StatusOr<std::optional<uint32_t>> FindDocId(std::string_view id) const;

  absl::StatusOr<ShardStats> Stats() const;

 private:
  ShardReader() = default;
  absl::Status LoadMeta();
  absl::Status LoadTypedFields();  // format 8
  absl::Status LoadIds();
  absl::Status LoadTitles();
  void LoadMemoryLists(const Options& options);

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // kColumnFamilies order (null: absent)
  ShardMeta meta_;
  absl::flat_hash_set<std::string> common_;         // meta_.common_terms
  std::vector<std::vector<uint32_t>> doc_lengths_;  // by field id
  std::map<std::string, std::unique_ptr<DocValuesColumn>, std::less<>>
      doc_values_;                    // numeric fields
  std::string ids_arena_;             // every external id, in docid order
  std::vector<uint64_t> id_offsets_;  // doc_count + 1 offsets into ids_arena_
  bool has_titles_ = false;
  std::string titles_arena_;             // every title, in docid order
  std::vector<uint64_t> title_offsets_;  // doc_count + 1 offsets into titles_arena_
  // The term dictionary, and the chunks that fit in the budget (null: read
  // through RocksDB); see storage/memory_lists.h and Options.
  std::unique_ptr<internal::MemoryDictionary> dictionary_;
  std::unique_ptr<internal::MemoryChunks> postings_memory_;
  std::unique_ptr<internal::MemoryChunks> positions_memory_;
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_SHARD_H_
