// File: query/collector.cc
#include "query/collector.h"

#include <algorithm>

namespace scry::query {

void MergeShardHits(std::span<const storage::ShardReader* const> shards,
                    std::vector<ShardHit>* hits) {
  std::sort(hits->begin(), hits->end(), [&](const ShardHit& a, const ShardHit& b) {
    if (a.score != b.score) return a.score > b.score;
    return shards[a.shard]->external_id(a.docid) < shards[b.shard]->external_id(b.docid);
  });
}

void MergeSortedHits(std::span<const storage::ShardReader* const> shards, const SortOrder& order,
                     std::vector<ShardHit>* hits) {
  std::sort(hits->begin(), hits->end(), [&](const ShardHit& a, const ShardHit& b) {
    return order.Before(a.sort_keys, a.score, shards[a.shard]->external_id(a.docid), b.sort_keys,
                        b.score, shards[b.shard]->external_id(b.docid));
  });
}

}  // namespace scry::query
