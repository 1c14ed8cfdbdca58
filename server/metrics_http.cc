// File: server/metrics_http.cc
#include "server/metrics_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace scry::server {
namespace {

using Clock = std::chrono::steady_clock;

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

// ---- Sockets -----------------------------------------------------------------

// "HOST:PORT" -> host (brackets of an IPv6 address removed) and port.
absl::Status SplitHostPort(const std::string& listen, std::string* host, std::string* port) {
  const size_t colon = listen.rfind(':');
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", listen, "\" is not HOST:PORT"));
  };
  if (colon == std::string::npos) return invalid();
  *host = listen.substr(0, colon);
  *port = listen.substr(colon + 1);
  if (port->empty() || port->size() > 5) return invalid();
  for (char c : *port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return invalid();
  }
  if (std::stoi(*port) > 65535) return invalid();
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  } else if (host->find(':') != std::string::npos) {
    return invalid();  // an IPv6 address needs brackets
  }
  return absl::OkStatus();
}

enum class Wait { kReady, kTimeout, kShutdown, kError };

// Waits until `fd` has one of `events`, `deadline` passes, or the wake pipe
// is written.
Wait WaitFor(int fd, short events, int wake_fd, Clock::time_point deadline) {
  while (true) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return Wait::kTimeout;
    // Rounded up, so that the deadline has passed when poll times out.
    const int ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1);
    pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int n = poll(fds, 2, ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Wait::kError;
    }
    if (fds[1].revents != 0) return Wait::kShutdown;
    if (fds[0].revents & (POLLERR | POLLNVAL)) return Wait::kError;
    if (fds[0].revents != 0) return Wait::kReady;  // (POLLHUP: recv/send will tell)
  }
}

// Writes all of `data`; false on timeout, shutdown or error.
bool WriteAll(int fd, absl::string_view data, int wake_fd, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFor(fd, POLLOUT, wake_fd, deadline) != Wait::kReady) return false;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RenderPrometheus(const v1::StatsResponse& stats) {
  std::string out;
  Family(&out, "scry_rpc_calls_total", "counter", "Finished RPCs by method and status code.");
  for (const v1::MethodMetrics& m : stats.methods()) {
    std::vector<std::pair<std::string, uint64_t>> codes(m.calls_by_code().begin(),
                                                        m.calls_by_code().end());
    // OK is always there, so that rates start at zero rather than appear.
    if (m.calls_by_code().find("OK") == m.calls_by_code().end()) codes.emplace_back("OK", 0);
    std::sort(codes.begin(), codes.end());
    const std::string method = EscapeLabel(m.method());
    for (const auto& [code, n] : codes) {
      absl::StrAppend(&out, "scry_rpc_calls_total{method=\"", method, "\",code=\"",
                      EscapeLabel(code), "\"} ", n, "\n");
    }
  }
  Family(&out, "scry_rpc_latency_seconds", "histogram", "Latency of finished RPCs, by method.");
  for (const v1::MethodMetrics& m : stats.methods()) {
    const std::string method = EscapeLabel(m.method());
    // counts[i] is the bucket of bounds[i]; counts past the bounds are the
    // calls above the last bound (only in +Inf).
    uint64_t cumulative = 0;
    for (int i = 0; i < m.latency_bucket_upper_micros_size(); ++i) {
      if (i < m.latency_bucket_counts_size()) cumulative += m.latency_bucket_counts(i);
      absl::StrAppend(&out, "scry_rpc_latency_seconds_bucket{method=\"", method, "\",le=\"",
                      MicrosAsSeconds(m.latency_bucket_upper_micros(i)), "\"} ", cumulative, "\n");
    }
    for (int i = m.latency_bucket_upper_micros_size(); i < m.latency_bucket_counts_size(); ++i) {
      cumulative += m.latency_bucket_counts(i);
    }
    absl::StrAppend(&out, "scry_rpc_latency_seconds_bucket{method=\"", method, "\",le=\"+Inf\"} ",
                    cumulative, "\n");
    absl::StrAppend(&out, "scry_rpc_latency_seconds_sum{method=\"", method, "\"} ",
                    MicrosAsSeconds(m.latency_sum_micros()), "\n");
    absl::StrAppend(&out, "scry_rpc_latency_seconds_count{method=\"", method, "\"} ", cumulative,
                    "\n");
  }
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

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, Render render, const MetricsHttpOptions& options) {
  std::string host, port;
  if (absl::Status s = SplitHostPort(listen, &host, &port); !s.ok()) return s;
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const int gai =
      getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &addresses);
  if (gai != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " for metrics: ", gai_strerror(gai)));
  }
  int fd = -1;
  std::string error = "no address";
  for (const addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    // Lets a restarted server bind while old connections are in TIME_WAIT;
    // a live listener still keeps the port (Linux).
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, " for metrics: ", error));
  }
  sockaddr_storage bound;
  socklen_t bound_size = sizeof bound;
  int bound_port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_size) == 0) {
    if (bound.ss_family == AF_INET) {
      bound_port = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    } else if (bound.ss_family == AF_INET6) {
      bound_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
    }
  }
  int wake[2];
  if (bound_port == 0 || pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " for metrics"));
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(fd, bound_port, wake[0], wake[1], std::move(render), options));
  server->thread_ = std::thread(&MetricsHttpServer::AcceptLoop, server.get());
  return server;
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int port, int wake_read_fd, int wake_write_fd,
                                     Render render, const MetricsHttpOptions& options)
    : listen_fd_(listen_fd),
      port_(port),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd),
      render_(std::move(render)),
      options_(options) {}

MetricsHttpServer::~MetricsHttpServer() { Shutdown(); }

void MetricsHttpServer::Shutdown() {
  if (shut_down_.exchange(true)) return;
  const char byte = 1;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
  close(wake_read_fd_);
  close(wake_write_fd_);
}

void MetricsHttpServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;  // Shutdown
    if (fds[0].revents == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors or memory: the connection stays in the backlog;
        // retry a little later rather than spin.
        pollfd wake = {wake_read_fd_, POLLIN, 0};
        poll(&wake, 1, 100);
      }
      continue;  // EAGAIN, ECONNABORTED, ...
    }
    HandleConnection(fd);
    close(fd);
  }
}

void MetricsHttpServer::HandleConnection(int fd) {
  const auto io_timeout = std::chrono::milliseconds(std::max(options_.io_timeout_ms, 1));
  const auto respond = [&](const char* status, const char* content_type, absl::string_view body,
                           absl::string_view extra_headers, bool send_body) {
    std::string response = absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                                        "\r\nContent-Length: ", body.size(),
                                        "\r\nConnection: close\r\n", extra_headers, "\r\n");
    if (send_body) response.append(body.data(), body.size());
    if (!WriteAll(fd, response, wake_read_fd_, Clock::now() + io_timeout)) return;
    shutdown(fd, SHUT_WR);
    // Drop what the client sent beyond the head (without waiting), so that
    // closing does not reset the connection before it reads the answer.
    char sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, 0) > 0; ++i) {
    }
  };
  const auto error = [&](const char* status, absl::string_view message,
                         absl::string_view extra_headers = "") {
    respond(status, "text/plain; charset=utf-8", absl::StrCat(message, "\n"), extra_headers, true);
  };

  // The request head: up to an empty line, within the size and time bounds.
  const auto deadline = Clock::now() + io_timeout;
  std::string head;
  size_t head_end = std::string::npos;
  char buffer[2048];
  while (true) {
    head_end = head.find("\r\n\r\n");
    if (head_end == std::string::npos) head_end = head.find("\n\n");
    if (head_end != std::string::npos && head_end <= options_.max_request_bytes) break;
    if (head.size() >= options_.max_request_bytes) {
      error("431 Request Header Fields Too Large",
            absl::StrCat("request head longer than ", options_.max_request_bytes, " bytes"));
      return;
    }
    const Wait wait = WaitFor(fd, POLLIN, wake_read_fd_, deadline);
    if (wait == Wait::kTimeout) {
      error("408 Request Timeout", "request not complete in time");
      return;
    }
    if (wait != Wait::kReady) return;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n == 0) return;  // the client went away
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return;
    }
    head.append(buffer, static_cast<size_t>(n));
  }

  // Request line: METHOD SP TARGET SP HTTP/1.x
  absl::string_view line(head.data(), std::min(head.find('\n'), head_end));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == absl::string_view::npos || line.find(' ', sp2 + 1) != absl::string_view::npos ||
      sp1 == 0 || sp2 == sp1 + 1 || !absl::StartsWith(line.substr(sp2 + 1), "HTTP/1.")) {
    error("400 Bad Request", "malformed request line");
    return;
  }
  const absl::string_view method = line.substr(0, sp1);
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") {
    error("404 Not Found", "not found; the metrics are at /metrics");
    return;
  }
  const bool is_head = method == "HEAD";
  if (method != "GET" && !is_head) {
    error("405 Method Not Allowed", "only GET and HEAD", "Allow: GET, HEAD\r\n");
    return;
  }
  absl::StatusOr<std::string> body = render_();
  if (!body.ok()) {
    error("503 Service Unavailable", body.status().message());
    return;
  }
  respond("200 OK", kPrometheusContentType, *body, "", !is_head);
}

}  // namespace scry::server
