// File: server/acceptor.h
//
// scry's own accept loop for the gRPC port, with a cap on connections.
//
// gRPC 1.51's listener stops accepting for good after accept4 fails with
// EMFILE (too many open files), so a burst of idle connections could leave
// the server unreachable even after they closed. Instead, the Acceptor binds
// and listens itself and one thread accepts (poll + accept4, non-blocking,
// close-on-exec), handing each connection to gRPC through an
// ExternalConnectionAcceptor (ServerBuilder::experimental(), FROM_FD; the
// server's credentials, TLS or not, apply as on a port of its own).
//
// - At most `max_connections` connections are open at once; one more is
//   accepted and closed at once (the client sees the connection closed),
//   counted, and logged at most once per 10 s.
// - EMFILE/ENFILE (and other errors) from accept4 back off ~100 ms and the
//   loop goes on: it never stops accepting.
// - gRPC closes a connection's fd itself, so the acceptor remembers the
//   (fd, st_dev, st_ino) of each connection it handed over and sweeps them
//   every ~200 ms (and when at the cap): an fd that fstat refuses, or that
//   now names another file, has ended.
//
// Thread safety: Listen, Start and Stop from one controlling thread;
// connections_open/connections_refused/port from any.
#ifndef SCRY_SERVER_ACCEPTOR_H_
#define SCRY_SERVER_ACCEPTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"

namespace scry::server {

// Raises the process's soft RLIMIT_NOFILE to its hard limit (as far as the
// kernel allows) and returns the soft limit then in force (-1 if unknown).
int64_t RaiseFdLimit();

// The number of file descriptors the process has open now (entries of
// /proc/self/fd); -1 if unknown.
int64_t OpenFdCount();

// The default cap on connections for a soft fd limit of `fd_limit` with
// `open_fds` descriptors open: min(16384, fd_limit - open_fds - 256), at
// least 16 (the 256 left for RocksDB's files, the metrics endpoint, gRPC's
// own descriptors and the rest). 16384 if `fd_limit` is unknown (< 0).
int DefaultMaxConnections(int64_t fd_limit, int64_t open_fds);

class Acceptor {
 public:
  using LogFn = std::function<void(const std::string&)>;

  // Binds and listens on `listen` ("HOST:PORT", IPv6 hosts in brackets,
  // port 0: a free port; every address the host resolves to that can be
  // bound, on one port),
  // with SO_REUSEADDR but not SO_REUSEPORT (a second server on the port
  // fails instead of taking half of the connections). Unavailable "cannot
  // listen on ..." if it cannot. `max_connections` must be at least 1.
  static absl::StatusOr<std::unique_ptr<Acceptor>> Listen(const std::string& listen,
                                                          int max_connections, LogFn log);
  ~Acceptor();  // Stop()
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // The port bound.
  int port() const { return port_; }
  int max_connections() const { return max_connections_; }

  // Starts the accept thread, handing each connection to `grpc` (from
  // AddExternalConnectionAcceptor of the started server's builder).
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc);

  // Stops accepting and closes the listening sockets; connections already
  // handed over stay gRPC's. Idempotent.
  void Stop();

  // Connections handed to gRPC and not yet closed (as of the last sweep).
  uint64_t connections_open() const { return open_.load(std::memory_order_relaxed); }
  // Connections closed at once since Listen because the cap was reached.
  uint64_t connections_refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  Acceptor(std::vector<int> listen_fds, int port, int max_connections, LogFn log);
  void Loop();

  const std::vector<int> listen_fds_;
  const int port_;
  const int max_connections_;
  const LogFn log_;
  int wake_fd_ = -1;  // an eventfd written by Stop
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc_;
  std::thread thread_;
  bool stopped_ = false;
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace scry::server

#endif  // SCRY_SERVER_ACCEPTOR_H_
