// File: storage/memory_lists.cc
#include "storage/memory_lists.h"

#include <bit>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "storage/coding.h"
#include "storage/rocks_util.h"
#include "storage/status.h"

namespace scry::storage::internal {
namespace {

uint64_t HashKey(std::string_view key) { return absl::Hash<absl::string_view>()(AsAbsl(key)); }

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace

absl::StatusOr<std::unique_ptr<MemoryDictionary>> MemoryDictionary::Load(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* terms) {
  std::unique_ptr<MemoryDictionary> dict(new MemoryDictionary());
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, terms));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = View(it->key());
    if (!dict->key_begin_.empty() && !(dict->key(dict->size() - 1) < key)) {
      return absl::DataLossError("terms out of order");
    }
    if (dict->size() >= 0xfffffffeu) return absl::DataLossError("too many terms in one shard");
    dict->key_begin_.push_back(dict->arena_.size());
    dict->arena_.append(key);
    dict->value_begin_.push_back(dict->arena_.size());
    dict->arena_.append(View(it->value()));
    dict->value_end_.push_back(dict->arena_.size());
  }
  SCRY_RETURN_IF_ERROR(FromRocks(it->status(), "read terms"));
  dict->arena_.shrink_to_fit();
  dict->BuildTable();
  return dict;
}

void MemoryDictionary::BuildTable() {
  // At most half full: short probe runs.
  const uint64_t slots = std::bit_ceil(std::max<uint64_t>(16, 2 * uint64_t{size()}));
  table_.assign(slots, 0);
  mask_ = slots - 1;
  for (size_t i = 0; i < size(); ++i) {
    uint64_t s = HashKey(key(i)) & mask_;
    while (table_[s] != 0) s = (s + 1) & mask_;
    table_[s] = static_cast<uint32_t>(i + 1);
  }
}

int64_t MemoryDictionary::Find(std::string_view key) const noexcept {
  for (uint64_t s = HashKey(key) & mask_;; s = (s + 1) & mask_) {
    const uint32_t e = table_[s];
    if (e == 0) return -1;
    if (this->key(e - 1) == key) return e - 1;
  }
}

size_t MemoryDictionary::bytes() const noexcept {
  return arena_.capacity() +
         (key_begin_.capacity() + value_begin_.capacity() + value_end_.capacity()) *
             sizeof(uint64_t) +
         table_.capacity() * sizeof(uint32_t);
}

absl::StatusOr<std::unique_ptr<MemoryChunks>> MemoryChunks::Load(rocksdb::DB* db,
                                                                 rocksdb::ColumnFamilyHandle* cf,
                                                                 const MemoryDictionary& dict,
                                                                 uint64_t max_bytes) {
  std::unique_ptr<MemoryChunks> chunks(new MemoryChunks());
  chunks->first_chunk_.reserve(dict.size() + 1);
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, cf));
  // Chunk keys are term keys with 0x00 ‖ chunk(be32) appended; terms hold
  // no 0x00 byte, so chunks come in the dictionary's order and a merge walk
  // numbers them. `entry`: the dictionary entry of the chunks being read.
  size_t entry = 0;
  uint32_t expect = 0;  // the next chunk number of `entry`
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = View(it->key());
    if (key.size() < 6 || key[key.size() - 5] != '\0') return absl::DataLossError("bad chunk key");
    const std::string_view term_key = key.substr(0, key.size() - 5);
    const uint32_t number = DecodeBigEndian32(key.data() + key.size() - 4);
    if (chunks->first_chunk_.size() > entry && dict.key(entry) == term_key) {
      if (number != expect) return absl::DataLossError("chunk numbers of a term not in sequence");
    } else {
      // A new term: every entry before it has all its chunks (or none).
      if (chunks->first_chunk_.size() > entry) ++entry;
      while (entry < dict.size() && dict.key(entry) < term_key) {
        chunks->first_chunk_.push_back(static_cast<uint32_t>(chunks->chunk_begin_.size()));
        ++entry;
      }
      if (entry >= dict.size() || dict.key(entry) != term_key) {
        return absl::DataLossError("a posting chunk of a term the dictionary lacks");
      }
      if (number != 0) return absl::DataLossError("chunk numbers of a term not in sequence");
      chunks->first_chunk_.push_back(static_cast<uint32_t>(chunks->chunk_begin_.size()));
      expect = 0;
    }
    ++expect;
    if (chunks->chunk_begin_.size() >= 0xfffffffeu) return nullptr;
    chunks->chunk_begin_.push_back(chunks->arena_.size());
    chunks->arena_.append(View(it->value()));
    if (chunks->arena_.size() > max_bytes) return nullptr;
  }
  SCRY_RETURN_IF_ERROR(FromRocks(it->status(), "read chunks"));
  while (chunks->first_chunk_.size() <= dict.size()) {
    chunks->first_chunk_.push_back(static_cast<uint32_t>(chunks->chunk_begin_.size()));
  }
  chunks->chunk_begin_.push_back(chunks->arena_.size());
  chunks->arena_.shrink_to_fit();
  return chunks;
}

size_t MemoryChunks::bytes() const noexcept {
  return arena_.capacity() + chunk_begin_.capacity() * sizeof(uint64_t) +
         first_chunk_.capacity() * sizeof(uint32_t);
}

}  // namespace scry::storage::internal
