// File: server/metrics_http.h
//
// The server's metrics in the Prometheus text exposition format (0.0.4),
// served over plain HTTP/1.1 at GET /metrics by a small POSIX-socket server.
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
// MetricsHttpServer accepts connections on one thread and handles them one
// at a time, each bounded in size and in time: the request head (request
// line and headers) must arrive within `io_timeout_ms` of the accept and
// within `max_request_bytes`, and the response must be taken by the client
// within another `io_timeout_ms`; then the connection is closed (one request
// per connection, "Connection: close"). A slow or hostile client thus holds
// the thread for at most about 2 x io_timeout_ms; other clients wait in the
// listen backlog meanwhile. GET and HEAD of /metrics (a query string is
// ignored) are answered 200; another path 404; another method on /metrics
// 405; a malformed request 400; a too large request head 431; a request head
// not complete in time 408.
//
// Thread safety: port() and Shutdown() may be called from any thread; the
// render callback runs on the server's thread.
#ifndef SCRY_SERVER_METRICS_HTTP_H_
#define SCRY_SERVER_METRICS_HTTP_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scry/v1/search.pb.h"

namespace scry::server {

// Content-Type of the Prometheus text format.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// The exposition text of `stats` (see the file comment). Labels and series
// come in a fixed order (methods as in `stats`, codes sorted by name, shards
// as in `stats`), so that equal inputs give equal texts.
std::string RenderPrometheus(const v1::StatsResponse& stats);

struct MetricsHttpOptions {
  // Longest request head (request line and headers) read; longer: 431.
  size_t max_request_bytes = 8 << 10;
  // Time a client has to send its request head, and again to take the
  // response.
  int io_timeout_ms = 2000;
};

class MetricsHttpServer {
 public:
  // Body of a 200 answer; an error status is answered 503 with its message.
  using Render = std::function<absl::StatusOr<std::string>()>;

  // Binds `listen` ("HOST:PORT"; HOST a name or an address, IPv6 in
  // brackets; port 0 picks a free port) and starts the accept thread.
  // InvalidArgument if `listen` is not HOST:PORT; Unavailable if it cannot
  // be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, Render render, const MetricsHttpOptions& options = {});
  ~MetricsHttpServer();  // Shutdown()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The port actually bound.
  int port() const { return port_; }

  // Closes the listening socket and the connection being handled (if any)
  // and joins the thread; returns promptly. Idempotent.
  void Shutdown();

 private:
  MetricsHttpServer(int listen_fd, int port, int wake_read_fd, int wake_write_fd, Render render,
                    const MetricsHttpOptions& options);
  void AcceptLoop();
  void HandleConnection(int fd);

  const int listen_fd_;
  const int port_;
  // A byte written to the wake pipe ends every wait of the thread.
  const int wake_read_fd_, wake_write_fd_;
  const Render render_;
  const MetricsHttpOptions options_;
  std::atomic<bool> shut_down_{false};
  std::thread thread_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_METRICS_HTTP_H_
