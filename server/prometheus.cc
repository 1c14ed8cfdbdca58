// File: server/prometheus.cc
#include "server/prometheus.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace scry::server {
namespace {

// ---- Rendering ---------------------------------------------------------------

// A label value with '\', '"' and newline escaped, as the format requires.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `micros` in seconds, as an exact decimal: 50 -> "0.00005", 2500000 -> "2.5".
std::string MicrosAsSeconds(uint64_t micros) {
  std::string out = absl::StrCat(micros / 1000000);
  uint64_t fraction = micros % 1000000;
  if (fraction == 0) return out;
  char digits[7];
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  int n = 6;
  while (digits[n - 1] == '0') --n;
  absl::StrAppend(&out, ".", absl::string_view(digits, n));
  return out;
}

void Family(std::string* out, const char* name, const char* type, const char* help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// The scry_rpc_* families of `stats.methods()`.
void AppendRpcMetrics(const v1::StatsResponse& stats, std::string* out);

}  // namespace

std::string RenderPrometheus(const v1::StatsResponse& stats) {
  std::string out;
  AppendRpcMetrics(stats, &out);
  Family(&out, "scry_searches_in_flight", "gauge", "Searches running now.");
  absl::StrAppend(&out, "scry_searches_in_flight ", stats.searches_in_flight(), "\n");
  Family(&out, "scry_connections_open", "gauge", "Connections to the gRPC port open now.");
  absl::StrAppend(&out, "scry_connections_open ", stats.connections_open(), "\n");
  Family(&out, "scry_connections_refused_total", "counter",
         "Connections closed at once because --max-connections were open.");
  absl::StrAppend(&out, "scry_connections_refused_total ", stats.connections_refused(), "\n");
  Family(&out, "scry_connections_max", "gauge", "The cap on open connections (--max-connections).");
  absl::StrAppend(&out, "scry_connections_max ", stats.max_connections(), "\n");
  Family(&out, "scry_index_docs", "gauge", "Documents in the served index.");
  absl::StrAppend(&out, "scry_index_docs ", stats.docs(), "\n");
  Family(&out, "scry_index_terms", "gauge", "Terms in the served index (summed over shards).");
  absl::StrAppend(&out, "scry_index_terms ", stats.terms(), "\n");
  Family(&out, "scry_index_postings", "gauge", "Postings in the served index.");
  absl::StrAppend(&out, "scry_index_postings ", stats.postings(), "\n");
  Family(&out, "scry_index_bytes_on_disk", "gauge", "Bytes of the served index's SST files.");
  absl::StrAppend(&out, "scry_index_bytes_on_disk ", stats.bytes_on_disk(), "\n");
  Family(&out, "scry_live_segments", "gauge",
         "Segments of live writes served now (all shards; merges bound them).");
  absl::StrAppend(&out, "scry_live_segments ", stats.live_segments(), "\n");
  Family(&out, "scry_live_deleted_docs", "gauge",
         "Deleted or replaced documents still held by the base or segments (merges drop them).");
  absl::StrAppend(&out, "scry_live_deleted_docs ", stats.deleted_docs(), "\n");
  Family(&out, "scry_live_merges_total", "counter",
         "Snapshots of merged live segments served since the server started.");
  absl::StrAppend(&out, "scry_live_merges_total ", stats.merges(), "\n");
  Family(&out, "scry_index_generation_info", "gauge",
         "The generation of the index directory served (value 1).");
  absl::StrAppend(&out, "scry_index_generation_info{generation=\"", EscapeLabel(stats.generation()),
                  "\"} 1\n");
  Family(&out, "scry_index_generation_loaded_timestamp_seconds", "gauge",
         "When the served generation began to be served (Unix time).");
  absl::StrAppend(&out, "scry_index_generation_loaded_timestamp_seconds ",
                  MicrosAsSeconds(stats.generation_loaded_unix_micros()), "\n");
  Family(&out, "scry_index_reloads_total", "counter",
         "New generations switched to since the server started.");
  absl::StrAppend(&out, "scry_index_reloads_total ", stats.reloads(), "\n");
  Family(&out, "scry_index_failed_reloads_total", "counter",
         "New generations refused (they could not be opened).");
  absl::StrAppend(&out, "scry_index_failed_reloads_total ", stats.failed_reloads(), "\n");
  Family(&out, "scry_index_shard_docs", "gauge", "Documents in one shard of the served index.");
  for (const v1::ShardStats& s : stats.shards()) {
    absl::StrAppend(&out, "scry_index_shard_docs{shard=\"", s.shard(), "\"} ", s.docs(), "\n");
  }
  Family(&out, "scry_index_shard_bytes_on_disk", "gauge",
         "Bytes of one shard's SST files in the served index.");
  for (const v1::ShardStats& s : stats.shards()) {
    uint64_t bytes = 0;
    for (const auto& [cf, n] : s.bytes_per_column_family()) bytes += n;
    absl::StrAppend(&out, "scry_index_shard_bytes_on_disk{shard=\"", s.shard(), "\"} ", bytes,
                    "\n");
  }
  return out;
}

namespace {

void AppendRpcMetrics(const v1::StatsResponse& stats, std::string* out) {
  Family(out, "scry_rpc_calls_total", "counter", "Finished RPCs by method and status code.");
  for (const v1::MethodMetrics& m : stats.methods()) {
    std::vector<std::pair<std::string, uint64_t>> codes(m.calls_by_code().begin(),
                                                        m.calls_by_code().end());
    // OK is always there, so that rates start at zero rather than appear.
    if (m.calls_by_code().find("OK") == m.calls_by_code().end()) codes.emplace_back("OK", 0);
    std::sort(codes.begin(), codes.end());
    const std::string method = EscapeLabel(m.method());
    for (const auto& [code, n] : codes) {
      absl::StrAppend(out, "scry_rpc_calls_total{method=\"", method, "\",code=\"",
                      EscapeLabel(code), "\"} ", n, "\n");
    }
  }
  Family(out, "scry_rpc_latency_seconds", "histogram", "Latency of finished RPCs, by method.");
  for (const v1::MethodMetrics& m : stats.methods()) {
    const std::string method = EscapeLabel(m.method());
    // counts[i] is the bucket of bounds[i]; counts past the bounds are the
    // calls above the last bound (only in +Inf).
    uint64_t cumulative = 0;
    for (int i = 0; i < m.latency_bucket_upper_micros_size(); ++i) {
      if (i < m.latency_bucket_counts_size()) cumulative += m.latency_bucket_counts(i);
      absl::StrAppend(out, "scry_rpc_latency_seconds_bucket{method=\"", method, "\",le=\"",
                      MicrosAsSeconds(m.latency_bucket_upper_micros(i)), "\"} ", cumulative, "\n");
    }
    for (int i = m.latency_bucket_upper_micros_size(); i < m.latency_bucket_counts_size(); ++i) {
      cumulative += m.latency_bucket_counts(i);
    }
    absl::StrAppend(out, "scry_rpc_latency_seconds_bucket{method=\"", method, "\",le=\"+Inf\"} ",
                    cumulative, "\n");
    absl::StrAppend(out, "scry_rpc_latency_seconds_sum{method=\"", method, "\"} ",
                    MicrosAsSeconds(m.latency_sum_micros()), "\n");
    absl::StrAppend(out, "scry_rpc_latency_seconds_count{method=\"", method, "\"} ", cumulative,
                    "\n");
  }
}

}  // namespace

std::string RenderBrokerPrometheus(const v1::StatsResponse& stats) {
  std::string out;
  AppendRpcMetrics(stats, &out);
  Family(&out, "scry_broker_backend_up", "gauge",
         "1 if the backend answered its last health check and no call failed since.");
  for (const v1::BackendStatus& b : stats.backends()) {
    absl::StrAppend(&out, "scry_broker_backend_up{address=\"", EscapeLabel(b.address()), "\"} ",
                    b.up() ? 1 : 0, "\n");
  }
  Family(&out, "scry_broker_backend_info", "gauge",
         "What the backend's last Describe said: its shards, build and generation.");
  for (const v1::BackendStatus& b : stats.backends()) {
    absl::StrAppend(&out, "scry_broker_backend_info{address=\"", EscapeLabel(b.address()),
                    "\",shards=\"", absl::StrJoin(b.shards(), ","), "\",build_id=\"",
                    EscapeLabel(b.build_id()), "\",generation=\"", EscapeLabel(b.generation()),
                    "\",writable=\"", b.writable() ? "true" : "false", "\"} 1\n");
  }
  Family(&out, "scry_broker_backend_lagging", "gauge",
         "1 if the backend missed writes its group acknowledged (left out until re-synced).");
  for (const v1::BackendStatus& b : stats.backends()) {
    absl::StrAppend(&out, "scry_broker_backend_lagging{address=\"", EscapeLabel(b.address()),
                    "\"} ", b.lagging() ? 1 : 0, "\n");
  }
  Family(&out, "scry_broker_backend_write_seq", "gauge",
         "The last write sequence the backend logged.");
  for (const v1::BackendStatus& b : stats.backends()) {
    absl::StrAppend(&out, "scry_broker_backend_write_seq{address=\"", EscapeLabel(b.address()),
                    "\"} ", b.write_seq(), "\n");
  }
  Family(&out, "scry_broker_backend_calls_in_flight", "gauge",
         "The broker's calls to the backend in flight now.");
  for (const v1::BackendStatus& b : stats.backends()) {
    absl::StrAppend(&out, "scry_broker_backend_calls_in_flight{address=\"",
                    EscapeLabel(b.address()), "\"} ", b.calls_in_flight(), "\n");
  }
  return out;
}

}  // namespace scry::server
