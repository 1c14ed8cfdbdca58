// File: server/server.h
//
// The scry gRPC server: SearchService (proto/scry/v1/search.proto) over one
// index, plus the standard grpc.health.v1 health service (SERVING once the
// index is open, NOT_SERVING during shutdown), server reflection, and
// optionally a Prometheus /metrics endpoint over HTTP.
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
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/support/status.h"
#include "query/searcher.h"
#include "server/live_writer.h"
#include "server/search_service.h"

namespace scry::server {

struct ServerOptions {
  std::string index_dir;
  // How often the server reads the index directory's CURRENT for a new
  // generation (server/live_index.h), in milliseconds; 0: only on Reload
  // (the RPC, or Server::Reload on SIGHUP).
  int reload_poll_ms = 500;
  std::string listen = "127.0.0.1:7700";  // HOST:PORT; port 0 picks a free port
  query::SearcherOptions searcher;
  int max_message_bytes = 4 << 20;  // largest request accepted
  SearchServiceOptions service;     // deadlines, concurrency, tokens
  // TLS: PEM files of the server's certificate chain and private key (both or
  // neither); with tls_client_ca_file too, clients must present a
  // certificate signed by that CA (mutual TLS).
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  // Bearer tokens accepted, one per line ('#' comments), each optionally
  // followed by its scope, "read" (the default) or "write" (read and write:
  // IndexService); added to service.auth_tokens (and write_tokens). With
  // tokens, server reflection is off (it cannot check them); health stays
  // open.
  std::string auth_token_file;
  // Live writes (IndexService, server/live_writer.h): the write-ahead log in
  // index_dir/live. With read_only the log is not opened and every
  // IndexService call is FAILED_PRECONDITION.
  bool read_only = false;
  WalSync wal_sync = WalSync::kAlways;
  int wal_sync_interval_ms = 100;  // with WalSync::kInterval
  // Makes logged operations visible (LiveWriter's hook); empty: the
  // built-in one, server/live_segments.h LiveApplier (segments under
  // INDEX_DIR/live-segments). Called once within Start, before it returns
  // and before SERVING, with what the log recovered (if anything), so it
  // must not use the Server.
  ApplyHook apply;
  // Writes become visible by themselves within this many milliseconds (a
  // background Refresh when operations are pending; also applies the log
  // onto a newly served generation); 0: only on the Refresh RPC.
  int refresh_interval_ms = 1000;
  // The built-in applier's tiered merge policy (server/live_segments.h,
  // MergePolicyOptions): segments of a base shard per size tier before a
  // merge, segments merged at once, and the size (documents) under which a
  // segment counts as that size.
  size_t merge_segments_per_tier = 10;
  size_t merge_max_at_once = 10;
  uint64_t merge_floor_docs = 1000;
  // Prometheus text endpoint (GET /metrics over plain HTTP/1.1, see
  // server/prometheus.h and server/http_server.h), "HOST:PORT" (port 0: a
  // free port); empty: off.
  std::string metrics_listen;
  // The HTTP/JSON API (server/http_api.h: POST /v1/search, ... and GET
  // /metrics), "HOST:PORT" (port 0: a free port); empty: off. Same tokens
  // (options.service.auth_tokens) and limits as gRPC; no TLS: bind it to
  // loopback or put a TLS proxy in front.
  std::string http_listen;
  // Verify each generation before serving it (LiveIndexOptions::verify_on_open).
  bool verify_on_open = false;
  // Most threads of the synchronous gRPC server (its ResourceQuota). gRPC
  // 1.51 keeps one of them polling, so at most N - 1 calls run at once; a
  // call that finds no thread free is answered at once with
  // RESOURCE_EXHAUSTED "Server Threadpool Exhausted" (it does not wait).
  // A thread that has just sent its answer is not free for a moment, so the
  // refusals can start a little below N - 1 calls in flight.
  // kAutoGrpcThreads: see GrpcMaxThreads; 0: no limit (gRPC's default);
  // 1 and 2 are refused (1 would refuse every call, 2 some sequential ones).
  static constexpr int kAutoGrpcThreads = -1;
  int grpc_max_threads = kAutoGrpcThreads;
  // Most connections open at once (server/acceptor.h); one more is closed
  // at once. 0: DefaultMaxConnections of the fd limit (raised to the hard
  // limit at start) and the descriptors open then.
  int max_connections = 0;
  // A connection without calls for this long is closed (GOAWAY); 0: never.
  int idle_timeout_s = 300;
  // A connection that has not completed its TLS and HTTP/2 handshake this
  // long after it was accepted is closed.
  int handshake_timeout_s = 10;
};

// The thread limit applied for `options`: options.grpc_max_threads, or for
// kAutoGrpcThreads 4 x service.max_concurrent_searches (at least 64; so that
// the server's own limit, with its clearer message, is reached first and
// GetDocument/Stats still find threads), or 0 (no limit) when
// max_concurrent_searches is 0. (The health service uses gRPC's callback
// API and needs none of these threads.)
int GrpcMaxThreads(const ServerOptions& options);

// Longest error message sent to clients; longer ones are cut (see ToGrpc).
inline constexpr size_t kMaxStatusMessageBytes = 1024;

// A token of a token file and its scope.
struct ScopedToken {
  std::string token;
  bool write = false;  // scope "write" (reads too); else "read"
};

// The tokens of a token file's text: one per line ("TOKEN" or "TOKEN
// SCOPE", SCOPE "read" or "write"), surrounding whitespace stripped, blank
// lines and '#' comments skipped. InvalidArgument for another scope or more
// words.
absl::StatusOr<std::vector<ScopedToken>> ParseScopedTokenFile(std::string_view text);

// A builder option that removes server reflection (registered for every
// server of the process) from one server: for servers that ask for tokens.
std::unique_ptr<grpc::ServerBuilderOption> NoReflectionOption();

// The scoped tokens of the token file at `path` (ParseScopedTokenFile);
// InvalidArgument naming the file if it holds none or a bad line.
absl::StatusOr<std::vector<ScopedToken>> ReadScopedTokenFile(const std::string& path);

// The bearer tokens of a token file's text, without their scopes (what a
// client sends).
std::vector<std::string> ParseTokenFile(std::string_view text);

// Parses --wal-sync: "always", "never" or "interval:MS" (MS > 0).
absl::Status ParseWalSync(std::string_view text, WalSync* sync, int* interval_ms);

// `message` with every absolute path of two or more components cut to
// ".../" and its last component (errors sent to clients name no server
// paths).
std::string WithoutServerPaths(std::string_view message);

// Whether `listen` ("HOST:PORT", "[V6]:PORT", "unix:PATH") is only reachable
// from this machine (127.0.0.0/8, ::1, localhost, a Unix socket).
bool IsLoopbackListen(std::string_view listen);

// Converts an absl::Status to a grpc::Status with the same code and message.
// Non-canonical codes and kUnknown become INTERNAL. A message longer than
// kMaxStatusMessageBytes is cut there (at a UTF-8 character boundary) and
// "..." appended, so that it fits in the HTTP/2 trailers. For DATA_LOSS,
// INTERNAL and UNAVAILABLE, server paths are cut (WithoutServerPaths) and
// the whole message is logged (at most once a second).
grpc::Status ToGrpc(const absl::Status& status);

class Server {
 public:
  // Starts listening (health NOT_SERVING, every call UNAVAILABLE), opens the
  // index, then serves (health SERVING). FailedPrecondition if there is no
  // index at options.index_dir (the port is closed again); Unavailable if the address cannot be
  // bound; InvalidArgument/NotFound for unusable TLS or token files.
  // With options.metrics_listen (options.http_listen), the metrics endpoint
  // (the HTTP/JSON API) is bound before the index opens (Unavailable if it cannot be;
  // InvalidArgument if it is not HOST:PORT). InvalidArgument for a grpc_max_threads of 1 or 2, or a
  // negative max_connections, idle_timeout_s or handshake_timeout_s (or a
  // handshake_timeout_s of 0), or a service.default_deadline_ms over a
  // service.max_deadline_ms that is set. Raises the soft fd limit to the
  // hard one.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();  // shuts down if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  // The port of the metrics endpoint; 0 if off (no options.metrics_listen).
  int metrics_port() const;
  // The live writer (null with read_only): the log, for tests and the
  // engine's hook.
  LiveWriter* writer() const;
  // The port of the HTTP/JSON API; 0 if off (no options.http_listen).
  int http_port() const;
  // The cap on connections in force (options.max_connections, or the
  // default derived from the fd limit).
  int max_connections() const;

  // Asks the server to serve the generation CURRENT names, if new, without
  // waiting (for SIGHUP); the outcome is logged.
  void ReloadSoon();

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
