// File: server/http_server.cc
#include "server/http_server.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/thread_pool.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"

namespace scry::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

const std::string& HttpRequest::Header(const std::string& name) const {
  static const std::string* const kEmpty = new std::string();
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return *kEmpty;
}

absl::Status SplitHostPort(const std::string& listen, std::string* host, std::string* port) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("address \"", listen, "\" is not HOST:PORT"));
  };
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return invalid();
  *host = listen.substr(0, colon);
  *port = listen.substr(colon + 1);
  if (port->empty() || port->size() > 5) return invalid();
  for (char c : *port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return invalid();
  }
  int n = 0;
  if (!absl::SimpleAtoi(*port, &n) || n > 65535) return invalid();
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  } else if (host->find(':') != std::string::npos) {
    return invalid();  // an IPv6 address needs brackets
  }
  return absl::OkStatus();
}

namespace {

class Session;

}  // namespace

struct HttpServer::Impl {
  Impl(std::vector<HttpRoute> r, const HttpServerOptions& o)
      : routes(std::move(r)),
        options(o),
        acceptor(io),
        retry_timer(io),
        workers(o.worker_threads) {}

  void Accept();
  // The answer to `request`, on a worker thread.
  HttpResponse Route(const HttpRequest& request) const;

  const std::vector<HttpRoute> routes;
  const HttpServerOptions options;
  // The open connections, on the I/O thread only. Declared before `io`: the
  // sessions its pending handlers hold erase themselves when it is destroyed.
  std::unordered_set<Session*> sessions;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;  // after accept fails for want of descriptors
  asio::thread_pool workers;
  int port = 0;
  std::thread io_thread;
  std::once_flag shut_down;
};

namespace {

// One connection, driven on the I/O thread; kept alive by the shared_ptrs
// its pending operations hold.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl* server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(server->io) {}

  void Start() {
    server_->sessions.insert(this);
    error_code ec;
    const tcp::endpoint remote = socket_.remote_endpoint(ec);
    if (!ec) {
      const asio::ip::address a = remote.address();
      peer_ = a.is_v6() ? absl::StrCat("[", a.to_string(), "]:", remote.port())
                        : absl::StrCat(a.to_string(), ":", remote.port());
    }
    ReadRequest();
  }

  ~Session() { server_->sessions.erase(this); }

  void Close() {
    error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  // Arms the timer: past `ms`, the pending read or write is cancelled and
  // `timed_out_` set.
  void Arm(int ms) {
    timed_out_ = false;
    const uint64_t armed = ++armed_;
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([self = shared_from_this(), armed](error_code ec) {
      // Cancelled, or an expiry queued just before the operation ended.
      if (ec || armed != self->armed_) return;
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);
    });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    Arm(server_->options.request_timeout_ms);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(error_code ec) {
    ++armed_;
    timer_.cancel();
    if (ec) {
      if (timed_out_) {
        // A silent client too: it may be waiting for us.
        return Fail(408, "the request did not arrive in time");
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
        return Close();
      }
      if (ec == http::error::header_limit) {
        return Fail(431, absl::StrCat("the request head is larger than ",
                                      server_->options.max_header_bytes, " bytes"));
      }
      if (ec == http::error::body_limit) {
        return Fail(413, absl::StrCat("the request body is larger than ",
                                      server_->options.max_body_bytes, " bytes"));
      }
      return Fail(400, absl::StrCat("malformed request: ", ec.message()));
    }
    http::request<http::string_body> message = parser_->release();
    auto request = std::make_shared<HttpRequest>();
    request->method = std::string(message.method_string());
    const std::string target(message.target());
    const size_t question = target.find('?');
    request->path = target.substr(0, question);
    if (question != std::string::npos) request->query = target.substr(question + 1);
    for (const auto& field : message) {
      std::string name = absl::AsciiStrToLower(
          absl::string_view(field.name_string().data(), field.name_string().size()));
      const std::string value(field.value());
      bool merged = false;
      for (auto& [n, v] : request->headers) {
        if (n == name) {
          absl::StrAppend(&v, ", ", value);
          merged = true;
          break;
        }
      }
      if (!merged) request->headers.emplace_back(std::move(name), value);
    }
    request->body = std::move(message.body());
    request->peer = peer_;
    request->received = absl::Now();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    head_only_ = message.method() == http::verb::head;
    // The handler runs on a worker; its answer is written on the I/O thread.
    asio::post(server_->workers, [self = shared_from_this(), request]() {
      HttpResponse response = self->server_->Route(*request);
      asio::post(self->server_->io, [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    });
  }

  // Answers `status` with `message` and closes the connection.
  void Fail(int status, std::string message) {
    keep_alive_ = false;
    head_only_ = false;
    HttpResponse response;
    response.status = status;
    response.body = std::move(message) + "\n";
    Write(std::move(response));
  }

  void Write(HttpResponse response) {
    if (!socket_.is_open()) return;
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(version_ == 10 ? 10 : 11);
    out->result(static_cast<unsigned>(response.status));  // the reason phrase too
    out->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) out->set(name, value);
    out->keep_alive(keep_alive_);
    const size_t length = response.body.size();
    if (!head_only_) out->body() = std::move(response.body);
    out->content_length(length);
    Arm(server_->options.write_timeout_ms);
    http::async_write(socket_, *out, [self = shared_from_this(), out](error_code ec, size_t) {
      ++self->armed_;
      self->timer_.cancel();
      if (ec) return self->Close();
      if (!self->keep_alive_) return self->LingeringClose();
      self->ReadRequest();
    });
  }

  // Closes after the client has had its answer: our side is shut down first
  // and what the client still sends (the rest of a refused body) is read
  // and dropped for a little while, since closing with unread data would
  // reset the connection and could destroy the answer before the client
  // reads it.
  void LingeringClose() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    Arm(1000);
    Drain();
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(drain_, sizeof drain_),
                            [self = shared_from_this()](error_code ec, size_t) {
                              if (ec) return self->Close();  // EOF, or the timer
                              self->Drain();
                            });
  }

  HttpServer::Impl* const server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string peer_;
  char drain_[4096];
  uint64_t armed_ = 0;  // counts Arm() calls and ended operations
  bool timed_out_ = false;
  bool keep_alive_ = false;
  bool head_only_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS): the
      // connection waits in the backlog; retry shortly rather than spin.
      retry_timer.expires_after(std::chrono::milliseconds(100));
      retry_timer.async_wait([this](error_code e) {
        if (!e) Accept();
      });
      return;
    }
    if (static_cast<int>(sessions.size()) >= options.max_connections) {
      error_code ignored;
      socket.close(ignored);  // over the cap: closed, nothing read
    } else {
      std::make_shared<Session>(this, std::move(socket))->Start();
    }
    Accept();
  });
}

HttpResponse HttpServer::Impl::Route(const HttpRequest& request) const {
  std::vector<std::string> allowed;
  for (const HttpRoute& route : routes) {
    if (route.path != request.path) continue;
    if (route.method == request.method || (route.method == "GET" && request.method == "HEAD")) {
      try {
        return route.handler(request);
      } catch (const std::exception& e) {
        return HttpResponse{
            500, "text/plain; charset=utf-8", absl::StrCat("internal error: ", e.what(), "\n"), {}};
      }
    }
    allowed.push_back(route.method);
    if (route.method == "GET") allowed.push_back("HEAD");
  }
  if (allowed.empty()) {
    std::vector<std::string> paths;
    for (const HttpRoute& route : routes) {
      if (std::find(paths.begin(), paths.end(), route.path) == paths.end()) {
        paths.push_back(route.path);
      }
    }
    return HttpResponse{
        404,
        "text/plain; charset=utf-8",
        absl::StrCat("no such path; this server answers ", absl::StrJoin(paths, ", "), "\n"),
        {}};
  }
  const std::string allow = absl::StrJoin(allowed, ", ");
  return HttpResponse{405,
                      "text/plain; charset=utf-8",
                      absl::StrCat("method ", request.method, " not allowed; use ", allow, "\n"),
                      {{"Allow", allow}}};
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(); }

int HttpServer::port() const { return impl_->port; }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                              std::vector<HttpRoute> routes,
                                                              const HttpServerOptions& options) {
  if (options.max_connections < 1 || options.worker_threads < 1 || options.request_timeout_ms < 1 ||
      options.write_timeout_ms < 1) {
    return absl::InvalidArgumentError(
        "HTTP: max_connections, worker_threads and the timeouts must be at least 1");
  }
  std::string host, port;
  if (absl::Status s = SplitHostPort(listen, &host, &port); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(std::move(routes), options);
  const std::string cannot = absl::StrCat("cannot listen on ", listen, " for HTTP: ");
  error_code ec;
  tcp::resolver resolver(impl->io);
  const auto endpoints =
      resolver.resolve(host.empty() ? "::" : host, port,
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) return absl::UnavailableError(cannot + ec.message());
  std::string error = "no address";
  for (const auto& entry : endpoints) {
    error_code e;
    tcp::acceptor& a = impl->acceptor;
    a.open(entry.endpoint().protocol(), e);
    // Lets a restarted server bind while old connections are in TIME_WAIT;
    // a live listener still keeps the port (Linux).
    if (!e) a.set_option(asio::socket_base::reuse_address(true), e);
    if (!e) a.bind(entry.endpoint(), e);
    if (!e) a.listen(1024, e);
    if (!e) break;
    error = e.message();
    error_code ignored;
    a.close(ignored);
  }
  if (!impl->acceptor.is_open()) return absl::UnavailableError(cannot + error);
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return absl::UnavailableError(cannot + ec.message());
  impl->Accept();
  Impl* state = impl.get();
  impl->io_thread = std::thread([state] { state->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Shutdown() {
  std::call_once(impl_->shut_down, [this] {
    Impl* state = impl_.get();
    std::promise<void> closed;
    asio::post(state->io, [state, &closed] {
      error_code ignored;
      state->acceptor.close(ignored);
      state->retry_timer.cancel();
      // Copied: closing may end sessions, which erase themselves.
      const std::vector<Session*> open(state->sessions.begin(), state->sessions.end());
      for (Session* s : open) s->Close();
      closed.set_value();
    });
    // The I/O thread runs until stopped (the acceptor kept it busy so far).
    closed.get_future().wait();
    // Workers finish the handlers they run; their answers are posted to the
    // stopped I/O context and dropped with it.
    state->workers.join();
    state->io.stop();
    if (state->io_thread.joinable()) state->io_thread.join();
  });
}

}  // namespace scry::server
