// File: server/convert.h
//
// The mapping between the scry.v1 messages (proto/scry/v1/search.proto) and
// the engine's values (query/search_request.h, query/index_info.h), as pure
// functions: no gRPC context, no clock, no index. SearchService and the CLI's
// local search (`scry search --index`) both call them, so that a search gives
// the same answer in process as over the wire.
//
// What is not in a message stays out of the mapping: the deadline and the
// cancellation of a search (from the gRPC context, or the caller's default),
// took_micros, and the server's metrics in a StatsResponse.
#ifndef SCRY_SERVER_CONVERT_H_
#define SCRY_SERVER_CONVERT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "query/index_info.h"
#include "query/planner.h"
#include "query/search_request.h"
#include "scry/v1/search.pb.h"

namespace scry::server {

// The engine's request for `request`; deadline and cancellation are left
// unset. InvalidArgument for an enum value this server does not know
// (default_operator, pruning) or highlight bounds past the API's limits
// (fragment_chars, max_fragments, tags longer than query::kMaxTagBytes).
// Highlight fields named twice are highlighted once.
absl::StatusOr<query::SearchRequest> FromProto(const v1::SearchRequest& request);

// Fills `response` (hits, total_hits, total_hits_is_lower_bound,
// expansions_truncated) from `result`, whose strings it takes. Each hit gets
// an explanation when `explain` (the request asked for one), even if empty.
// took_micros is left to the caller.
void ToProto(query::SearchResult result, bool explain, v1::SearchResponse* response);

// The id `request` asks for. InvalidArgument if it is empty.
absl::StatusOr<std::string> FromProto(const v1::GetDocumentRequest& request);

// Fills `response` from `doc`, whose strings it takes.
void ToProto(query::Document doc, v1::GetDocumentResponse* response);

// The engine's statistics of a query (query/planner.h) from their message,
// and back: a broker sums servers' parts (PlanStatistics::Merge) between.
query::PlanStatistics FromProto(const v1::Statistics& statistics);
void ToProto(const query::PlanStatistics& stats, v1::Statistics* out);

// Fills `response` with the index's description and each shard's sizes, and
// their sums; the metrics and searches_in_flight are left to the caller.
void ToProto(const query::IndexInfo& info, const std::vector<query::ShardInfo>& shards,
             v1::StatsResponse* response);

}  // namespace scry::server

#endif  // SCRY_SERVER_CONVERT_H_
