// File: indexer/memory_index.h
//
// The in-memory inverted index of one shard during a build: a posting list
// per key (storage::TermKey), to which inverted batches are appended in
// docid order, and an estimate of the heap bytes it holds, which the build
// weighs against its memory cap (BuildOptions::memory_mb) to decide when to
// write the index out as a sorted run (indexer/run_file.h).
//
// Thread safety: none; the build appends under the shard's lock.
#ifndef SCRY_INDEXER_MEMORY_INDEX_H_
#define SCRY_INDEXER_MEMORY_INDEX_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "indexer/inverter.h"
#include "storage/posting_format.h"

namespace scry::indexer {

class MemoryIndex {
 public:
  using Lists = absl::flat_hash_map<std::string, storage::PostingList>;
  using Entry = Lists::value_type;  // (key, list)

  // Appends the postings of `inv` (its keys are moved from) and returns by
  // how many bytes the estimate grew. REQUIRES: inv's docids above those
  // appended before.
  size_t Append(Inverted* inv);

  // The entries in key order; valid until the next Append or Clear.
  std::vector<const Entry*> SortedEntries() const;

  bool empty() const { return lists_.empty(); }
  // The estimated bytes of the lists, their keys and the map's slots.
  size_t bytes() const { return bytes_; }
  // Empties the index and frees its memory.
  void Clear();

 private:
  Lists lists_;
  size_t bytes_ = 0;
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_MEMORY_INDEX_H_
