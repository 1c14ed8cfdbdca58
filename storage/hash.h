// File: storage/hash.h
//
// The stable hash that routes documents to shards. It is part of the on-disk
// contract: an index built by one scry binary must route ids the same way in
// every other, so this is 64-bit FNV-1a over the id's bytes (offset basis
// 0xcbf29ce484222325, prime 0x100000001b3), never std::hash or absl::Hash.
//
//   shard(id) = Fnv1a64(id) % num_shards
#ifndef SCRY_STORAGE_HASH_H_
#define SCRY_STORAGE_HASH_H_

#include <cstdint>
#include <string_view>

namespace scry::storage {

constexpr uint64_t Fnv1a64(std::string_view bytes) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The shard that holds document `id` in an index of `num_shards` shards.
// REQUIRES: num_shards > 0.
constexpr uint32_t ShardForId(std::string_view id, uint32_t num_shards) noexcept {
  return static_cast<uint32_t>(Fnv1a64(id) % num_shards);
}

}  // namespace scry::storage

#endif  // SCRY_STORAGE_HASH_H_
