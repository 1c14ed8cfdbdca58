#include "storage/rocks_util.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::storage::internal {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(AsAbsl(context), ": ", s.ToString());
  // A full disk is a resource to free, not an internal error.
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    case rocksdb::Status::kTimedOut:
      return absl::DeadlineExceededError(msg);
    default:
      return absl::InternalError(msg);
  }
}

namespace {

// One block cache shared by every shard of a process, sized by the first
// caller (readers pass their configured size; writers do not read).
std::shared_ptr<rocksdb::Cache> SharedBlockCache(size_t bytes) {
  static std::once_flag once;
  static std::shared_ptr<rocksdb::Cache> cache;
  std::call_once(once, [bytes] { cache = rocksdb::NewLRUCache(bytes); });
  return cache;
}

}  // namespace

rocksdb::ColumnFamilyOptions CfOptions(std::string_view name, size_t block_cache_bytes,
                                       bool for_build) {
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = SharedBlockCache(block_cache_bytes);
  table.cache_index_and_filter_blocks = false;  // read-mostly: keep them pinned in memory
  table.format_version = 5;
  if (name == kTermsCf || name == kIdsCf) {
    // Point lookups of terms and ids that mostly exist: no bloom filter (it
    // would only spare reads for absent ones, at 10 bits per key); ZSTD on
    // 16 KiB blocks, decompressed once into the block cache.
    table.block_size = 16 * 1024;
    cf.compression = rocksdb::kZSTD;
  } else if (name == kPostingsCf) {
    // Codec output, yet ZSTD takes a fifth off (fixed-width block headers,
    // bit-width bytes): 9.0 -> 7.1 MB on the shared corpus. Blocks are
    // decompressed once into the block cache, so warm reads do not pay.
    table.block_size = 16 * 1024;
    cf.compression = rocksdb::kZSTD;
  } else if (name == kPositionsCf) {
    // Codec output that ZSTD shrinks by under 1%: LZ4, cheaper to undo.
    table.block_size = 16 * 1024;
    cf.compression = rocksdb::kLZ4Compression;
  } else if (name == kTitlesCf) {
    // Read whole once at open (ShardReader keeps the titles in memory).
    table.block_size = 64 * 1024;
    cf.compression = rocksdb::kZSTD;
  } else if (name == kDocsCf) {
    table.block_size = 16 * 1024;
    cf.compression = rocksdb::kZSTD;
  } else {
    // meta: document lengths as fixed32, read once at open.
    cf.compression = rocksdb::kZSTD;
  }
  if (for_build && name == kIdsCf) {
    // Every document's id is looked up (duplicates) and written while
    // building; most lookups miss.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    cf.write_buffer_size = 8 << 20;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

std::vector<rocksdb::ColumnFamilyDescriptor> CfDescriptors(size_t block_cache_bytes,
                                                           bool for_build) {
  std::vector<rocksdb::ColumnFamilyDescriptor> out;
  for (const char* name : kColumnFamilies) {
    out.emplace_back(name, CfOptions(name, block_cache_bytes, for_build));
  }
  return out;
}

absl::Status OpenShardReadOnly(const rocksdb::DBOptions& db_options, const std::string& path,
                               size_t block_cache_bytes,
                               std::vector<rocksdb::ColumnFamilyHandle*>* cfs,
                               std::unique_ptr<rocksdb::DB>* db) {
  cfs->clear();
  db->reset();
  std::vector<std::string> present;
  absl::Status s =
      FromRocks(rocksdb::DB::ListColumnFamilies(db_options, path, &present), "open shard " + path);
  if (!s.ok()) return s;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<int> indices;  // of each descriptor in kColumnFamilies
  std::vector<rocksdb::ColumnFamilyDescriptor> all = CfDescriptors(block_cache_bytes);
  for (int i = 0; i < kNumColumnFamilies; ++i) {
    if (std::find(present.begin(), present.end(), all[i].name) == present.end()) {
      if (i < kTitlesCfIndex) {
        return absl::DataLossError(
            absl::StrCat("shard ", path, " has no column family ", kColumnFamilies[i]));
      }
      continue;
    }
    indices.push_back(i);
    descriptors.push_back(std::move(all[i]));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = FromRocks(rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles, &raw),
                "open shard " + path);
  if (!s.ok()) return s;
  db->reset(raw);
  cfs->assign(kNumColumnFamilies, nullptr);
  for (size_t i = 0; i < handles.size(); ++i) (*cfs)[indices[i]] = handles[i];
  return absl::OkStatus();
}

}  // namespace scry::storage::internal
