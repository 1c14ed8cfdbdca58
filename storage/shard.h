// File: storage/shard.h
//
// One shard of an index: a RocksDB instance laid out as in storage/keys.h.
// ShardWriter bulk-writes a new shard (SST files, then ingestion); ShardReader
// opens a finished shard read-only for queries.
#ifndef SCRY_STORAGE_SHARD_H_
#define SCRY_STORAGE_SHARD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/posting_format.h"
#include "storage/stored_document.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class PinnableSlice;
}  // namespace rocksdb

namespace scry::storage {

struct ShardMeta {
  uint32_t format_version = 0;
  uint32_t shard_index = 0;
  uint32_t num_shards = 1;
  std::string language;
  uint64_t doc_count = 0;
  uint64_t total_length = 0;  // sum of document lengths, in tokens
  uint64_t term_count = 0;
  uint64_t posting_count = 0;
};

struct ShardStats {
  ShardMeta meta;
  std::map<std::string, uint64_t> bytes_per_cf;  // live SST bytes per column family
};

struct ShardWriterOptions {
  PostingCodecs codecs;  // null members: simdbp128 docids, pfor tfs, positions as tfs
};

// Writes one new shard into an empty directory. Not thread-safe; one writer
// per shard. If Finish() is not reached, the directory holds no usable shard
// (the caller removes it).
class ShardWriter {
 public:
  // `path` must not exist yet or be an empty directory.
  static absl::StatusOr<std::unique_ptr<ShardWriter>> Create(const std::string& path,
                                                             const ShardWriterOptions& options);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Stores a document. REQUIRES: docids given as 0, 1, 2, ... in order, and
  // doc.id in strictly ascending byte order (so that docid order is id order).
  absl::Status AddDocument(uint32_t docid, const StoredDocument& doc, uint32_t length);

  // Stores the posting list of (field, term). REQUIRES: (field, term) strictly
  // ascending across calls; term non-empty without 0x00 bytes; docids below
  // the number of documents added.
  absl::Status AddPostingList(uint8_t field, std::string_view term, const PostingList& list);

  // Writes the metadata (doc_count, total_length, term and posting counts are
  // computed here; the rest is taken from `meta`), ingests everything into a
  // new RocksDB at `path` and closes it.
  absl::Status Finish(const ShardMeta& meta);

 private:
  struct Impl;
  explicit ShardWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A posting or positions chunk read from RocksDB without copying (pinned in
// the block cache while this object lives).
class PinnedValue {
 public:
  PinnedValue();
  ~PinnedValue();
  PinnedValue(PinnedValue&&) noexcept;
  PinnedValue& operator=(PinnedValue&&) noexcept;
  std::string_view view() const;
  rocksdb::PinnableSlice* slice() { return slice_.get(); }

 private:
  std::unique_ptr<rocksdb::PinnableSlice> slice_;
};

// Read-only access to a finished shard.
// Thread safety: all const methods are safe to call concurrently.
class ShardReader {
 public:
  struct Options {
    size_t block_cache_bytes = 256 << 20;  // shared by all shards of the process
  };

  // NotFound if there is no shard at `path`; DataLoss/FailedPrecondition if
  // it is not a complete scry shard of a format this binary reads.
  static absl::StatusOr<std::unique_ptr<ShardReader>> Open(const std::string& path,
                                                           const Options& options);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const ShardMeta& meta() const { return meta_; }

  // The TermInfo of (field, term), or nullopt if the shard has no such term.
  absl::StatusOr<std::optional<TermInfo>> FindTerm(uint8_t field, std::string_view term) const;

  // Reads chunk `chunk` of (field, term) from the postings (positions=false)
  // or positions column family. NotFound/DataLoss if it is missing.
  absl::Status ReadChunk(uint8_t field, std::string_view term, uint32_t chunk, bool positions,
                         PinnedValue* out) const;

  // Length in tokens of document `docid`. REQUIRES: docid < doc_count.
  uint32_t doc_length(uint32_t docid) const noexcept { return doc_lengths_[docid]; }

  // The external id of document `docid`, from a table loaded at open (ids
  // are needed for every hit and for tie-breaks across shards; reading them
  // from RocksDB per hit dominated top-1000 latency). Valid while the reader
  // lives. REQUIRES: docid < doc_count.
  std::string_view external_id(uint32_t docid) const noexcept {
    return std::string_view(ids_arena_)
        .substr(id_offsets_[docid], id_offsets_[docid + 1] - id_offsets_[docid]);
  }

  absl::StatusOr<StoredDocument> GetDocument(uint32_t docid) const;
  // The docid of external id `id`, or nullopt.
  absl::StatusOr<std::optional<uint32_t>> FindDocId(std::string_view id) const;

  absl::StatusOr<ShardStats> Stats() const;

 private:
  ShardReader() = default;
  absl::Status LoadMeta();
  absl::Status LoadIds();

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // kColumnFamilies order
  ShardMeta meta_;
  std::vector<uint32_t> doc_lengths_;
  std::string ids_arena_;             // every external id, in docid order
  std::vector<uint64_t> id_offsets_;  // doc_count + 1 offsets into ids_arena_
};

}  // namespace scry::storage

#endif  // SCRY_STORAGE_SHARD_H_
