// File: indexer/memory_index.cc
//
// The estimate counts what malloc hands out for each list: the capacity of
// its three arrays, a per-list overhead, a key past the short-string buffer,
// and the hash map's slot array.
#include "indexer/memory_index.h"

#include <algorithm>
#include <utility>

namespace scry::indexer {
namespace {

// Bytes counted per (field, term) list besides its arrays and its slot in
// the hash map: malloc's header and rounding of the three arrays.
constexpr size_t kListOverhead = 3 * 16;

size_t ListBytes(const storage::PostingList& l) {
  return 4 * (l.docids.capacity() + l.freqs.capacity() + l.positions.capacity());
}

}  // namespace

size_t MemoryIndex::Append(Inverted* inv) {
  size_t added = 0;
  const size_t slots_before = lists_.capacity();
  for (size_t k = 0; k < inv->keys.size(); ++k) {
    auto [it, inserted] = lists_.try_emplace(std::move(inv->keys[k]));
    storage::PostingList& to = it->second;
    const size_t before = ListBytes(to);
    if (inserted) {
      // A key past the short-string buffer has a heap block of its own.
      added += kListOverhead + (it->first.capacity() > 15 ? it->first.capacity() + 17 : 0);
    }
    const uint32_t b = k == 0 ? 0 : inv->ends[k - 1], e = inv->ends[k];
    const uint32_t pb = k == 0 ? 0 : inv->pos_ends[k - 1], pe = inv->pos_ends[k];
    to.docids.insert(to.docids.end(), inv->docids.begin() + b, inv->docids.begin() + e);
    to.freqs.insert(to.freqs.end(), inv->freqs.begin() + b, inv->freqs.begin() + e);
    to.positions.insert(to.positions.end(), inv->positions.begin() + pb,
                        inv->positions.begin() + pe);
    added += ListBytes(to) - before;
  }
  // The map's slot array (a slot and a control byte per capacity).
  added += (lists_.capacity() - slots_before) * (sizeof(Entry) + 1);
  bytes_ += added;
  return added;
}

std::vector<const MemoryIndex::Entry*> MemoryIndex::SortedEntries() const {
  std::vector<const Entry*> entries;
  entries.reserve(lists_.size());
  for (const auto& e : lists_) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  return entries;
}

void MemoryIndex::Clear() {
  Lists().swap(lists_);
  bytes_ = 0;
}

}  // namespace scry::indexer
