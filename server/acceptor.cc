// File: server/acceptor.cc
#include "server/acceptor.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http_server.h"

namespace scry::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kSweepMs = 200;                         // how often ended connections are looked for
constexpr int kBackoffMs = 100;                       // pause after accept4 fails (EMFILE, ...)
constexpr auto kLogEvery = std::chrono::seconds(10);  // rate of the refusal log lines
constexpr int kBacklog = 1024;

void SetPort(sockaddr_storage* addr, int port) {
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else if (addr->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}

// A listening socket on `addr`; -1 and `*error` if not.
int ListenOn(const addrinfo& ai, int port, std::string* error) {
  sockaddr_storage addr{};
  std::memcpy(&addr, ai.ai_addr, ai.ai_addrlen);
  if (port != 0) SetPort(&addr, port);
  const int fd = socket(ai.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  const int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted sockets inherit it: no Nagle delay on small responses.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // "[::]" takes IPv4 too, as with gRPC's own listener.
  if (ai.ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), ai.ai_addrlen) != 0 ||
      listen(fd, kBacklog) != 0) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

// The identity of an open file: a closed fd number reused for another file
// (or socket) has another one.
struct FileId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino; }
};

bool IdOf(int fd, FileId* id) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  *id = {st.st_dev, st.st_ino};
  return true;
}

}  // namespace

int64_t RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    // An unlimited hard limit is not accepted for RLIMIT_NOFILE (the kernel's
    // nr_open caps it); try a large finite value then.
    if (raised.rlim_cur == RLIM_INFINITY) raised.rlim_cur = 1 << 20;
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) return static_cast<int64_t>(limit.rlim_cur);
    limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? INT64_MAX : static_cast<int64_t>(limit.rlim_cur);
}

int64_t OpenFdCount() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

int DefaultMaxConnections(int64_t fd_limit, int64_t open_fds) {
  constexpr int64_t kMost = 16384, kLeast = 16, kReserve = 256;
  if (fd_limit < 0) return static_cast<int>(kMost);
  const int64_t n = fd_limit - std::max<int64_t>(open_fds, 0) - kReserve;
  return static_cast<int>(std::clamp(n, kLeast, kMost));
}

absl::StatusOr<std::unique_ptr<Acceptor>> Acceptor::Listen(const std::string& listen,
                                                           int max_connections, LogFn log) {
  if (max_connections < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-connections must be at least 1, not ", max_connections));
  }
  const std::string cannot = absl::StrCat("cannot listen on ", listen);
  std::string host, port;
  if (!SplitHostPort(listen, &host, &port).ok()) {
    return absl::UnavailableError(absl::StrCat(cannot, ": not HOST:PORT"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0) return absl::UnavailableError(absl::StrCat(cannot, ": ", gai_strerror(gai)));
  std::vector<int> fds;
  int bound_port = 0;
  std::string error;
  bool wildcard_v6 = false;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    // A dual-stack "[::]" already takes IPv4: skip 0.0.0.0 after it.
    if (wildcard_v6 && ai->ai_family == AF_INET &&
        reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_ANY)) {
      continue;
    }
    // As gRPC does, one address of several that cannot be bound (say ::1
    // on a host without IPv6) is skipped.
    const int fd = ListenOn(*ai, bound_port, &error);
    if (fd < 0) continue;
    if (ai->ai_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr)) {
      wildcard_v6 = true;
    }
    if (bound_port == 0) bound_port = BoundPort(fd);
    fds.push_back(fd);
  }
  freeaddrinfo(found);
  if (fds.empty() || bound_port == 0) {
    for (int f : fds) close(f);
    return absl::UnavailableError(error.empty() ? cannot : absl::StrCat(cannot, ": ", error));
  }
  return std::unique_ptr<Acceptor>(
      new Acceptor(std::move(fds), bound_port, max_connections, std::move(log)));
}

Acceptor::Acceptor(std::vector<int> listen_fds, int port, int max_connections, LogFn log)
    : listen_fds_(std::move(listen_fds)),
      port_(port),
      max_connections_(max_connections),
      log_(std::move(log)) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Acceptor::~Acceptor() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Acceptor::Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> grpc) {
  grpc_ = std::move(grpc);
  thread_ = std::thread([this] { Loop(); });
}

void Acceptor::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    const uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  for (int fd : listen_fds_) close(fd);
}

void Acceptor::Loop() {
  // Connections handed to gRPC: fd -> the file it was then.
  std::unordered_map<int, FileId> live;
  const auto sweep = [&] {
    for (auto it = live.begin(); it != live.end();) {
      FileId now;
      if (!IdOf(it->first, &now) || !(now == it->second)) {
        it = live.erase(it);
      } else {
        ++it;
      }
    }
    open_.store(live.size(), std::memory_order_relaxed);
  };
  Clock::time_point last_sweep = Clock::now();
  // Rate-limited log lines: refusals at the cap, accept errors.
  Clock::time_point last_log = Clock::now() - kLogEvery;
  uint64_t refused_unlogged = 0, errors_unlogged = 0;
  std::string last_error;
  const auto maybe_log = [&] {
    if (refused_unlogged + errors_unlogged == 0 || Clock::now() - last_log < kLogEvery) return;
    last_log = Clock::now();
    if (refused_unlogged > 0) {
      log_(absl::StrCat(refused_unlogged, " connection(s) closed at once: --max-connections ",
                        max_connections_, " open (", refused_.load(std::memory_order_relaxed),
                        " since start)"));
    }
    if (errors_unlogged > 0) {
      log_(absl::StrCat(errors_unlogged, " accept failure(s) (last: ", last_error,
                        "); accepting again after ", kBackoffMs, " ms"));
    }
    refused_unlogged = errors_unlogged = 0;
  };

  std::vector<pollfd> fds(listen_fds_.size() + 1);
  while (true) {
    fds[0] = {wake_fd_, POLLIN, 0};
    for (size_t i = 0; i < listen_fds_.size(); ++i) fds[i + 1] = {listen_fds_[i], POLLIN, 0};
    const int n = poll(fds.data(), fds.size(), kSweepMs);
    if (fds[0].revents != 0) return;
    if (Clock::now() - last_sweep >= std::chrono::milliseconds(kSweepMs)) {
      sweep();
      last_sweep = Clock::now();
    }
    maybe_log();
    if (n <= 0) continue;  // timeout, or EINTR
    bool backoff = false;
    for (size_t i = 0; i < listen_fds_.size(); ++i) {
      if (fds[i + 1].revents == 0) continue;
      const int listen_fd = listen_fds_[i];
      // Everything waiting on this socket, until EAGAIN.
      while (true) {
        const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          // EMFILE, ENFILE, ENOBUFS, ENOMEM, ...: the connection stays in the
          // backlog; pause and try again (never give up the listener).
          last_error = std::strerror(errno);
          ++errors_unlogged;
          backoff = true;
          break;
        }
        // Its number was free, so a connection remembered under it has ended.
        live.erase(fd);
        if (live.size() >= static_cast<size_t>(max_connections_)) sweep();
        if (live.size() >= static_cast<size_t>(max_connections_)) {
          // Counted before the close: a client that sees its connection
          // closed and asks Stats finds it among the refused.
          refused_.fetch_add(1, std::memory_order_relaxed);
          ++refused_unlogged;
          close(fd);
          continue;
        }
        FileId id;
        if (!IdOf(fd, &id)) {
          close(fd);
          continue;
        }
        live.emplace(fd, id);
        open_.store(live.size(), std::memory_order_relaxed);
        grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters params;
        params.listener_fd = listen_fd;
        params.fd = fd;
        grpc_->HandleNewConnection(&params);  // gRPC owns the fd now
      }
    }
    maybe_log();
    if (backoff) {
      pollfd wake = {wake_fd_, POLLIN, 0};
      if (poll(&wake, 1, kBackoffMs) > 0) return;
      sweep();
      last_sweep = Clock::now();
    }
  }
}

}  // namespace scry::server
