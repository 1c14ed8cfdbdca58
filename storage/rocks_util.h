// File: storage/rocks_util.h
//
// The one place where RocksDB types meet absl: status conversion and the
// options every shard is written and read with (internal to storage/).
#ifndef SCRY_STORAGE_ROCKS_UTIL_H_
#define SCRY_STORAGE_ROCKS_UTIL_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/status.h"

namespace scry::storage::internal {

// Maps a RocksDB status to the canonical absl code (NotFound, DataLoss for
// Corruption, Unavailable for Busy/TryAgain, ResourceExhausted for a full
// disk (IOError NoSpace), Internal for other IOErrors, ...),
// prefixing `context` to the message.
absl::Status FromRocks(const rocksdb::Status& s, std::string_view context);

// Column family options for `name` (compression, bloom filters, block size),
// identical for writing and reading.
// `for_build`: options of a shard being built (ids are written with Put and
// looked up to find duplicates: a bloom filter and a larger write buffer).
rocksdb::ColumnFamilyOptions CfOptions(std::string_view name, size_t block_cache_bytes,
                                       bool for_build = false);

// Descriptors of every scry column family, in kColumnFamilies order.
std::vector<rocksdb::ColumnFamilyDescriptor> CfDescriptors(size_t block_cache_bytes,
                                                           bool for_build = false);

// Opens the shard at `path` read-only with the scry column families it has:
// (*cfs)[i] is the handle of kColumnFamilies[i], null for one the shard
// lacks (titles, before format 6). DataLoss if it lacks one that every
// format has. On error *db is null and no handle is left open.
absl::Status OpenShardReadOnly(const rocksdb::DBOptions& db_options, const std::string& path,
                               size_t block_cache_bytes,
                               std::vector<rocksdb::ColumnFamilyHandle*>* cfs,
                               std::unique_ptr<rocksdb::DB>* db);

}  // namespace scry::storage::internal

#endif  // SCRY_STORAGE_ROCKS_UTIL_H_
