// File: indexer/segment.h
//
// A segment of a live index (issue 19): one shard directory built from a
// small batch of documents held in memory, in the format of the bulk build
// (storage/keys.h), so that storage::ShardReader, the cursors and the codecs
// read it as they read a base shard, and query::Searcher::WithSegments
// evaluates it like one more shard of the base.
//
// A segment is analysed with its base shard's settings: the language and
// stopwords, the named fields (the base's keep their ids; a member first
// seen here gets the next one, chosen by index_fields as in a bulk build),
// and the base's pairs (its common terms, pair_min_df and pairs_need_both
// from its meta), so that a phrase reads and scores here as in the base.
// Documents keep the order given (docid i = the i-th document): no
// reordering, no run files (the batch is inverted and written at once).
//
// Thread safety: BuildSegment touches only its arguments (and `path`).
#ifndef SCRY_INDEXER_SEGMENT_H_
#define SCRY_INDEXER_SEGMENT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "indexer/jsonl_reader.h"
#include "storage/shard.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace scry::indexer {

struct SegmentOptions {
  // The base shard's meta (storage::ShardReader::meta()): its shard index
  // and count (every document's id must route to it), language, named
  // fields, common terms, pair_min_df and pairs_need_both.
  storage::ShardMeta base;
  // The index's (the manifest's; query::IndexInfo::stopwords).
  bool stopwords = false;
  // As BuildOptions (indexer/builder.h): the members indexed as named fields
  // ({"*"}: every member whose name is a field name) and stored.
  std::vector<std::string> index_fields = {"*"};
  std::vector<std::string> stored_fields = {"*"};
  size_t max_document_bytes = 64 << 20;
  // As BuildOptions::env; nullptr: the local file system.
  rocksdb::Env* env = nullptr;
};

struct SegmentSummary {
  uint64_t docs = 0;
  uint64_t terms = 0;     // distinct terms of the catch-all
  uint64_t postings = 0;  // of the catch-all
};

// Writes `docs` as a new shard at `path` (which must not exist or be empty;
// on error the caller removes it). Every document is checked first, so a
// segment is written whole or not at all: InvalidArgument "document I (id
// \"ID\"): reason" for a document that breaks the rules of a JSON line
// (ValidateDocument), whose id routes to another shard, or whose id is in
// the batch twice; InvalidArgument for an empty batch, an index_fields name
// that cannot be a field, or more named fields than a shard can have;
// ResourceExhausted/Internal for I/O errors.
absl::StatusOr<SegmentSummary> BuildSegment(const std::string& path,
                                            const std::vector<InputDocument>& docs,
                                            const SegmentOptions& options);

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_SEGMENT_H_
