// File: server/prometheus.h
//
// The server's metrics in the Prometheus text exposition format (0.0.4).
//
// RenderPrometheus turns a StatsResponse (what the Stats RPC reports) into
// the exposition text:
//
//   scry_rpc_calls_total{method,code}             counter (OK always present)
//   scry_rpc_latency_seconds{method}              histogram: _bucket{le} (cumulative,
//                                                 ending with le="+Inf"), _sum, _count
//   scry_searches_in_flight                       gauge
//   scry_index_docs, scry_index_terms, scry_index_postings,
//   scry_index_bytes_on_disk                      gauges (whole index)
//   scry_index_shard_docs{shard},
//   scry_index_shard_bytes_on_disk{shard}         gauges (per shard)
//
// It is served at GET /metrics of the HTTP listener (server/http_server.h;
// `scry serve --metrics-listen`).
#ifndef SCRY_SERVER_PROMETHEUS_H_
#define SCRY_SERVER_PROMETHEUS_H_

#include <string>

#include "scry/v1/search.pb.h"

namespace scry::server {

// Content-Type of the Prometheus text format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The exposition text of `stats` (see the file comment). Labels and series
// come in a fixed order (methods as in `stats`, codes sorted by name, shards
// as in `stats`), so that equal inputs give equal texts.
std::string RenderPrometheus(const v1::StatsResponse& stats);

// A broker's (`scry broker --http-listen`, GET /metrics): the scry_rpc_*
// families of its own calls, and per backend (address label):
//   scry_broker_backend_up, scry_broker_backend_lagging (0/1),
//   scry_broker_backend_write_seq, scry_broker_backend_calls_in_flight,
//   scry_broker_backend_info{shards,build_id,generation,writable} = 1.
std::string RenderBrokerPrometheus(const v1::StatsResponse& stats);

}  // namespace scry::server

#endif  // SCRY_SERVER_PROMETHEUS_H_
