// File: query/hit_fetcher.h
//
// The last stage of a search: a page of ranked hits (shard, docid, score),
// the final one after the merge, made into SearchHits: external ids, and
// unless the request asks for ids only, the title, the requested stored
// fields and snippets; with SearchRequest::explain, each hit's BM25
// breakdown. Nothing here depends on how the page was ranked, so that a
// broker can fetch the page it merged from several servers' hits.
//
// The stored documents of a page are read in one batch per shard (a RocksDB
// MultiGet in docid order) and viewed in place: a hit's title is a view into
// the value, copied once into the hit, and the rest of the document is not
// copied unless asked for.
//
// Thread safety: FetchHits may run concurrently (it only reads the shards).
#ifndef SCRY_QUERY_HIT_FETCHER_H_
#define SCRY_QUERY_HIT_FETCHER_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "query/analyzer_pool.h"
#include "query/collector.h"
#include "query/planner.h"
#include "query/search_request.h"
#include "storage/shard.h"

namespace scry::query {

// The hits of `page`, in its order. `request` says what to fetch (fields,
// ids_only, explain, highlight_fields, highlight); `plan` is its plan, with
// statistics; `analyzers` cut the snippets. DataLoss/Internal if a shard
// cannot be read; ResourceExhausted if snippets need an analyzer and none
// can be made, or once the hits take more than request.max_response_bytes;
// DeadlineExceeded or Cancelled if request.deadline or request.cancelled
// (asked before each hit) says so. REQUIRES: every hit's shard indexes
// `shards`.
absl::StatusOr<std::vector<SearchHit>> FetchHits(
    const QueryPlan& plan, const SearchRequest& request,
    std::span<const storage::ShardReader* const> shards, std::span<const ShardHit> page,
    const AnalyzerPool& analyzers);

namespace internal {
// For tests: true makes FetchHits read each hit's document on its own (one
// Get, decoded whole), titles included, the path before batches and the
// title store; the results must not differ.
// Process-wide; false by default.
void SetFetchOneByOneForTesting(bool one_by_one);
}  // namespace internal

}  // namespace scry::query

#endif  // SCRY_QUERY_HIT_FETCHER_H_
