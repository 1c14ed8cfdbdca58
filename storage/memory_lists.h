// File: storage/memory_lists.h (internal to storage/)
//
// A shard's term dictionary, and optionally its posting and position chunks,
// copied into memory when the shard is opened, as the ids and titles are.
// A search looks up each of its terms and reads the first chunk of each
// list: through RocksDB that was two point reads per term (index block
// search, data block search, block cache lookup and its mutex), the largest
// fixed cost of a short query. Here a lookup is one hash and a probe or two,
// and a chunk read is an offset.
//
// MemoryDictionary: every `terms` entry (key = field ‖ term, value = the
// encoded TermInfo) in one arena, in key order, with an open-addressing hash
// table of entry numbers. MemoryChunks: every value of a chunk column family
// (postings or positions, keys field ‖ term ‖ 0x00 ‖ chunk(be32)) in one
// arena, numbered by the dictionary entry they belong to. Both are read-only
// once loaded, so safe to share between threads.
//
// The RocksDB reads stay as the reference (ShardReader::FindTermStored,
// ReadChunkStored) that tests compare these with, and as the path of shards
// whose lists exceed the memory budget (ShardReader::Options).
#ifndef SCRY_STORAGE_MEMORY_LISTS_H_
#define SCRY_STORAGE_MEMORY_LISTS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace scry::storage::internal {

class MemoryDictionary {
 public:
  // Reads every entry of column family `terms` of `db`. DataLoss on a read
  // error or keys out of order.
  static absl::StatusOr<std::unique_ptr<MemoryDictionary>> Load(rocksdb::DB* db,
                                                                rocksdb::ColumnFamilyHandle* terms);

  // The entry number of term key `key` (field ‖ term), or -1 if absent.
  int64_t Find(std::string_view key) const noexcept;

  size_t size() const noexcept { return value_end_.size(); }
  std::string_view key(size_t i) const noexcept {
    return std::string_view(arena_).substr(key_begin_[i], value_begin_[i] - key_begin_[i]);
  }
  std::string_view value(size_t i) const noexcept {
    return std::string_view(arena_).substr(value_begin_[i], value_end_[i] - value_begin_[i]);
  }
  // Heap bytes held.
  size_t bytes() const noexcept;

 private:
  MemoryDictionary() = default;
  void BuildTable();

  std::string arena_;  // key, value, key, value, ... in key order
  std::vector<uint64_t> key_begin_, value_begin_, value_end_;
  // Open addressing, linear probing: entry number + 1, 0 = empty slot.
  std::vector<uint32_t> table_;
  uint64_t mask_ = 0;
};

class MemoryChunks {
 public:
  // Reads every chunk of column family `cf` of `db` and numbers it by its
  // entry in `dict`. nullptr (not an error) once the values pass
  // `max_bytes`: the caller keeps reading through RocksDB. DataLoss on a read
  // error, a chunk of a term not in `dict`, or chunk numbers that do not run
  // 0, 1, 2, ... per term.
  static absl::StatusOr<std::unique_ptr<MemoryChunks>> Load(rocksdb::DB* db,
                                                            rocksdb::ColumnFamilyHandle* cf,
                                                            const MemoryDictionary& dict,
                                                            uint64_t max_bytes);

  // Chunk `chunk` of dictionary entry `entry`, or nullopt if it has none.
  std::optional<std::string_view> Chunk(size_t entry, uint32_t chunk) const noexcept {
    const uint64_t c = uint64_t{first_chunk_[entry]} + chunk;
    if (c >= first_chunk_[entry + 1]) return std::nullopt;
    return std::string_view(arena_).substr(chunk_begin_[c], chunk_begin_[c + 1] - chunk_begin_[c]);
  }
  size_t bytes() const noexcept;

 private:
  MemoryChunks() = default;

  std::string arena_;                  // the chunks, in key order
  std::vector<uint64_t> chunk_begin_;  // chunks + 1 offsets into arena_
  std::vector<uint32_t> first_chunk_;  // per dictionary entry, + 1: its first chunk's number
};

}  // namespace scry::storage::internal

#endif  // SCRY_STORAGE_MEMORY_LISTS_H_
