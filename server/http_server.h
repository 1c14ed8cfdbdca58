// File: server/http_server.h
//
// The server's HTTP/1.1 listener, on Boost.Beast over Boost.Asio (Debian's
// libboost-dev, header-only). Chosen over cpp-httplib and civetweb because
// both give each connection a thread for its whole life: a few hundred idle
// sockets then stall every other client until their read timeouts run out
// (the hand-written /metrics server this replaces was stalled 36 s by 20).
// Here one I/O thread multiplexes every connection with asynchronous reads
// and writes, each bounded in time and size, and the handlers run on a small
// pool of worker threads, so neither an idle nor a slow client nor a slow
// handler keeps the others waiting.
//
// Per connection: the request head (request line and headers) and body must
// arrive within `request_timeout_ms` of the accept or of the previous answer
// (keep-alive); past it the client gets 408 and the connection is closed. The
// head is at most `max_header_bytes` (431 past it), the body at most
// `max_body_bytes` (413). An answer must be taken within `write_timeout_ms`.
// At most `max_connections` are open at once: a connection past them is
// closed at once, and the server keeps accepting. A malformed request is
// answered 400 and the connection closed.
//
// Routes: exact paths (a query string is parsed off, not matched). A GET
// route answers HEAD too (head only). Another path: 404; another method on a
// known path: 405 with Allow. A handler's exception: 500.
//
// Thread safety: port() and Shutdown() may be called from any thread;
// handlers run on the worker threads, concurrently.
#ifndef SCRY_SERVER_HTTP_SERVER_H_
#define SCRY_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace scry::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ... (HEAD arrives as HEAD)
  std::string path;    // the target up to '?'
  std::string query;   // after '?', undecoded; empty if none
  // Header fields, names lower-cased; a repeated field's values joined by ", ".
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;  // "ADDRESS:PORT" of the client
  // When it was read, before it waited for a worker: deadlines count from
  // here, so the wait is charged to them.
  absl::Time received = absl::InfinitePast();

  // The value of header `name` (lower-case), or empty.
  const std::string& Header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpRoute {
  std::string method;  // "GET" (answers HEAD too), "POST", ...
  std::string path;    // exact, e.g. "/metrics"
  HttpHandler handler;
};

struct HttpServerOptions {
  size_t max_header_bytes = 8 << 10;
  size_t max_body_bytes = 1 << 20;
  // Time a client has for a whole request (head and body) after the accept
  // or its previous answer; then 408 and the connection is closed.
  int request_timeout_ms = 5000;
  // Time a client has to take an answer.
  int write_timeout_ms = 10000;
  int max_connections = 512;
  int worker_threads = 2;
};

class HttpServer {
 public:
  // Binds `listen` ("HOST:PORT"; HOST a name or an address, IPv6 in
  // brackets; port 0 picks a free port) and starts serving `routes`.
  // InvalidArgument if `listen` is not HOST:PORT or an option is out of
  // range; Unavailable if it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           std::vector<HttpRoute> routes,
                                                           const HttpServerOptions& options = {});
  ~HttpServer();  // Shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  int port() const;

  // Stops accepting, closes every connection (a request being handled is
  // finished by its worker, its answer dropped) and joins the threads.
  // Idempotent.
  void Shutdown();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" ("[v6]:PORT" for IPv6; HOST may be empty: every
// address). InvalidArgument unless PORT is a number in [0, 65535].
absl::Status SplitHostPort(const std::string& listen, std::string* host, std::string* port);

}  // namespace scry::server

#endif  // SCRY_SERVER_HTTP_SERVER_H_
