// File: server/server.h
//
// The scry gRPC server: SearchService (proto/scry/v1/search.proto) over one
// index, plus the standard grpc.health.v1 health service (SERVING once the
// index is open, NOT_SERVING during shutdown) and server reflection.
//
// Status mapping (absl -> gRPC) keeps the canonical code; nothing is mapped
// to UNKNOWN.
//
// Thread safety: Start/Wait/Shutdown from one controlling thread; RPCs run on
// gRPC's thread pool.
#ifndef SCRY_SERVER_SERVER_H_
#define SCRY_SERVER_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "query/searcher.h"
#include "server/search_service.h"

namespace scry::server {

struct ServerOptions {
  std::string index_dir;
  std::string listen = "127.0.0.1:7700";  // HOST:PORT; port 0 picks a free port
  query::SearcherOptions searcher;
  int max_message_bytes = 4 << 20;  // largest request accepted
  SearchServiceOptions service;     // deadlines, concurrency, tokens
  // TLS: PEM files of the server's certificate chain and private key (both or
  // neither); with tls_client_ca_file too, clients must present a
  // certificate signed by that CA (mutual TLS).
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  // Bearer tokens accepted, one per line ('#' comments); added to
  // service.auth_tokens. With tokens, server reflection is off (it cannot
  // check them); health stays open.
  std::string auth_token_file;
};

// Longest error message sent to clients; longer ones are cut (see ToGrpc).
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// The bearer tokens of a token file's text: one per line, surrounding
// whitespace stripped, blank lines and '#' comments skipped.
std::vector<std::string> ParseTokenFile(std::string_view text);

// Converts an absl::Status to a grpc::Status with the same code and message.
// Non-canonical codes and kUnknown become INTERNAL. A message longer than
// kMaxStatusMessageBytes is cut there (at a UTF-8 character boundary) and
// "..." appended, so that it fits in the HTTP/2 trailers.
grpc::Status ToGrpc(const absl::Status& status);

class Server {
 public:
  // Starts listening (health NOT_SERVING, every call UNAVAILABLE), opens the
  // index, then serves (health SERVING). FailedPrecondition if there is no
  // index at options.index_dir (the port is closed again); Unavailable if the address cannot be
  // bound; InvalidArgument/NotFound for unusable TLS or token files.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // shuts down if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually bound (useful with port 0).
  int port() const { return port_; }

  // Blocks until Shutdown() is called from another thread (or a signal
  // handler's helper thread).
  void Wait();

  // Stops accepting calls, lets in-flight calls finish (up to `grace_ms`),
  // then cancels the rest. Idempotent.
  void Shutdown(int grace_ms = 5000);

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_SERVER_H_
