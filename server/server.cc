// File: server/server.cc
#include "server/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/acceptor.h"
#include "server/http_api.h"
#include "server/http_server.h"
#include "server/index_service.h"
#include "server/live_segments.h"
#include "server/log_limiter.h"
#include "server/prometheus.h"
#include "server/search_service.h"
#include "storage/status.h"

namespace scry::server {
namespace {

absl::Status WriteLogNotOpen() {
  return absl::UnavailableError("the write-ahead log is not open yet");
}

// `listen` ("HOST:PORT") with its port replaced by the one actually bound
// (for port 0); other address forms ("unix:PATH") as they are.
std::string BoundAddress(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) return listen;
  for (size_t i = colon + 1; i < listen.size(); ++i) {
    if (listen[i] < '0' || listen[i] > '9') return listen;
  }
  return absl::StrCat(listen.substr(0, colon + 1), port);
}

// `message`, cut to at most kMaxStatusMessageBytes bytes (at a UTF-8
// character boundary) plus "...". The message travels in the HTTP/2
// trailers, whose size the client limits (8 KiB by default); a longer one
// (say, NOT_FOUND quoting a 100 KB id) would reach the client as
// RESOURCE_EXHAUSTED instead of the real error.
std::string ShortenMessage(absl::string_view message) {
  if (message.size() <= kMaxStatusMessageBytes) return std::string(message);
  size_t cut = kMaxStatusMessageBytes;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(message.substr(0, cut), "...");
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is empty"));
  return text;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const ServerOptions& options) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("give both --tls-cert and --tls-key, or neither");
  }
  if (options.tls_cert_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  SCRY_ASSIGN_OR_RETURN(pair.private_key, ReadSmallFile(options.tls_key_file, "TLS key"));
  SCRY_ASSIGN_OR_RETURN(pair.cert_chain, ReadSmallFile(options.tls_cert_file, "TLS certificate"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) {
    SCRY_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                          ReadSmallFile(options.tls_client_ca_file, "TLS client CA"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

void SetServing(grpc::Server* server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(SearchService::kServiceName, serving);
}

// Removes server reflection (registered for every server of the process by
// InitProtoReflectionServerBuilderPlugin) from one builder.
class NoReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string name = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&](const auto& p) { return p->name() == name; }),
                   plugins->end());
  }
};

}  // namespace

std::unique_ptr<grpc::ServerBuilderOption> NoReflectionOption() {
  return std::make_unique<NoReflection>();
}

absl::StatusOr<std::vector<ScopedToken>> ReadScopedTokenFile(const std::string& path) {
  SCRY_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, "token file"));
  absl::StatusOr<std::vector<ScopedToken>> tokens = ParseScopedTokenFile(text);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  if (tokens->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token file ", path, " holds no token"));
  }
  return tokens;
}

std::string WithoutServerPaths(std::string_view message) {
  // A path starts with '/' after a separator and runs to the next one; one
  // with two or more slashes (a directory and a file) keeps its last part.
  auto separator = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == ':' || c == ',' ||
           c == '(' || c == ')' || c == '[' || c == ']' || c == '=' || c == ';';
  };
  std::string out;
  out.reserve(message.size());
  size_t i = 0;
  while (i < message.size()) {
    if (message[i] == '/' && (i == 0 || separator(message[i - 1]))) {
      size_t end = i;
      while (end < message.size() && !separator(message[end])) ++end;
      const std::string_view path = message.substr(i, end - i);
      if (std::count(path.begin(), path.end(), '/') >= 2) {
        out += ".../";
        out += path.substr(path.rfind('/') + 1);
      } else {
        out += path;
      }
      i = end;
      continue;
    }
    out += message[i++];
  }
  return out;
}

bool IsLoopbackListen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  std::string_view host = colon == std::string_view::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127." ||
         listen.substr(0, 5) == "unix:";
}

int GrpcMaxThreads(const ServerOptions& options) {
  if (options.grpc_max_threads != ServerOptions::kAutoGrpcThreads) return options.grpc_max_threads;
  const int searches = options.service.max_concurrent_searches;
  if (searches <= 0) return 0;
  return static_cast<int>(std::clamp<int64_t>(int64_t{4} * searches, 64, INT_MAX));
}

absl::StatusOr<std::vector<ScopedToken>> ParseScopedTokenFile(std::string_view text) {
  std::vector<ScopedToken> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    ScopedToken token;
    token.token = std::string(words[0]);
    if (words.size() > 2 || (words.size() == 2 && words[1] != "read" && words[1] != "write")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token file line ", line_number, ": expected TOKEN or TOKEN SCOPE, SCOPE read or write"));
    }
    token.write = words.size() == 2 && words[1] == "write";
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::vector<std::string> ParseTokenFile(std::string_view text) {
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    tokens.emplace_back(line.substr(0, line.find_first_of(" \t")));
  }
  return tokens;
}

absl::Status ParseWalSync(std::string_view text, WalSync* sync, int* interval_ms) {
  const absl::string_view t(text.data(), text.size());
  if (t == "always") {
    *sync = WalSync::kAlways;
  } else if (t == "never") {
    *sync = WalSync::kNever;
  } else if (int ms = 0;
             absl::StartsWith(t, "interval:") && absl::SimpleAtoi(t.substr(9), &ms) && ms > 0) {
    *sync = WalSync::kInterval;
    *interval_ms = ms;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--wal-sync takes always, never or interval:MS (MS > 0), not \"", t, "\""));
  }
  return absl::OkStatus();
}

grpc::Status ToGrpc(const absl::Status& status) {
  grpc::StatusCode code;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      break;
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case absl::StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case absl::StatusCode::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case absl::StatusCode::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case absl::StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case absl::StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case absl::StatusCode::kAborted:
      code = grpc::StatusCode::ABORTED;
      break;
    case absl::StatusCode::kOutOfRange:
      code = grpc::StatusCode::OUT_OF_RANGE;
      break;
    case absl::StatusCode::kUnimplemented:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case absl::StatusCode::kDataLoss:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case absl::StatusCode::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:  // never answer UNKNOWN
    default:                          // not a canonical code
      code = grpc::StatusCode::INTERNAL;
      break;
  }
  // Errors of the server's own (a damaged or vanished file) name no server
  // paths to clients; the server logs them whole.
  if (code == grpc::StatusCode::DATA_LOSS || code == grpc::StatusCode::INTERNAL ||
      code == grpc::StatusCode::UNAVAILABLE) {
    const std::string_view message(status.message().data(), status.message().size());
    const std::string scrubbed = WithoutServerPaths(message);
    if (scrubbed != message) {
      static LogLimiter limiter(absl::Seconds(1));
      if (uint64_t dropped = 0; limiter.Allow(&dropped)) {
        std::fprintf(stderr, "scry: %s (%llu more such errors not logged)\n",
                     status.ToString().c_str(), static_cast<unsigned long long>(dropped));
      }
    }
    return grpc::Status(code, ShortenMessage(scrubbed));
  }
  return grpc::Status(code, ShortenMessage(status.message()));
}

// Runs `fn` every `interval_ms` on a thread of its own until destroyed.
class PeriodicTask {
 public:
  PeriodicTask(int interval_ms, std::function<void()> fn)
      : interval_(interval_ms), fn_(std::move(fn)), thread_([this] { Loop(); }) {}
  ~PeriodicTask() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      fn_();
      lock.lock();
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is made
};

struct Server::Impl {
  // Destroyed bottom-up: the gRPC server (which waits for running calls)
  // before the service and the searcher it uses, the acceptor (which the
  // service's Stats reads) last.
  std::unique_ptr<Acceptor> acceptor;
  std::unique_ptr<LiveIndex> index;
  std::unique_ptr<LiveApplier> applier;  // the writer's hook uses it
  std::unique_ptr<LiveWriter> writer;
  std::unique_ptr<PeriodicTask> refresher;  // uses the writer and the applier
  std::unique_ptr<SearchService> service;
  std::unique_ptr<IndexService> index_service;
  std::unique_ptr<grpc::Server> server;
  // Uses `service`; stopped first.
  std::unique_ptr<HttpServer> metrics;
  std::unique_ptr<HttpServer> http;

  // `writer` for the applier's hooks, which may run (a merge, a rebase)
  // before the writer is opened: null until then.
  std::atomic<LiveWriter*> log_writer{nullptr};

  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;

  // No merge or rebase may read or drop log records once the writer (and
  // its log) is gone.
  ~Impl() {
    if (applier != nullptr) applier->Stop();
  }
};

Server::Server(std::unique_ptr<Impl> impl, int port) : impl_(std::move(impl)), port_(port) {}

Server::~Server() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  const int max_threads = GrpcMaxThreads(options);
  if (max_threads < 0 || max_threads == 1 || max_threads == 2) {
    // gRPC keeps one thread polling in reserve: with one thread it answers
    // every call RESOURCE_EXHAUSTED; with two, a client calling back to back
    // is refused now and then (the thread that answered its last call is not
    // polling again yet).
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc-max-threads must be 0 (no limit) or at least 3, not ", max_threads));
  }
  if (options.max_connections < 0 || options.idle_timeout_s < 0 ||
      options.handshake_timeout_s <= 0) {
    return absl::InvalidArgumentError(
        "--max-connections and --idle-timeout-s must be at least 0, --handshake-timeout-s at "
        "least 1");
  }
  const SearchServiceOptions& deadlines = options.service;
  if (deadlines.default_deadline_ms < 0 || deadlines.max_deadline_ms < 0 ||
      (deadlines.max_deadline_ms > 0 &&
       deadlines.default_deadline_ms > deadlines.max_deadline_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--default-deadline-ms (", deadlines.default_deadline_ms,
                     ") must be at least 0 and at most --max-deadline-ms (",
                     deadlines.max_deadline_ms, "; 0 = no maximum)"));
  }
  SCRY_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  const int64_t fd_limit = RaiseFdLimit();
  const int max_connections = options.max_connections > 0
                                  ? options.max_connections
                                  : DefaultMaxConnections(fd_limit, OpenFdCount());
  // scry's own listener and accept loop (server/acceptor.h): gRPC's stops
  // for good after EMFILE; this one caps the connections and goes on.
  SCRY_ASSIGN_OR_RETURN(
      impl->acceptor,
      Acceptor::Listen(options.listen, max_connections, [](const std::string& line) {
        std::fprintf(stderr, "scry: %s\n", line.c_str());
        std::fflush(stderr);
      }));
  SearchServiceOptions service = options.service;
  const Acceptor* acceptor = impl->acceptor.get();
  service.add_stats = [acceptor](v1::StatsResponse* stats) {
    stats->set_connections_open(acceptor->connections_open());
    stats->set_connections_refused(acceptor->connections_refused());
    stats->set_max_connections(static_cast<uint64_t>(acceptor->max_connections()));
  };
  if (!options.auth_token_file.empty()) {
    SCRY_ASSIGN_OR_RETURN(std::vector<ScopedToken> tokens,
                          ReadScopedTokenFile(options.auth_token_file));
    for (ScopedToken& t : tokens) {
      if (t.write) service.write_tokens.push_back(t.token);
      service.auth_tokens.push_back(std::move(t.token));
    }
  }
  if (!service.auth_tokens.empty() && options.tls_cert_file.empty() &&
      !IsLoopbackListen(options.listen)) {
    std::fprintf(stderr,
                 "scry: warning: bearer tokens travel in plaintext to %s (no --tls-cert): anyone "
                 "on the network path can read and reuse them\n",
                 options.listen.c_str());
  }
  // Listen first, answering UNAVAILABLE (health: NOT_SERVING) while the
  // index opens, so that probes see a loading server rather than a closed
  // port; then open the index and switch to SERVING.
  // A server of some shards takes the writes of documents of those shards
  // (a broker routes each by its id; others are refused per operation).
  const bool read_only = options.read_only;
  service.writable = !read_only;
  service.write_seq = [state = impl.get()]() -> uint64_t {
    LiveWriter* writer = state->index_service->writer();
    return writer == nullptr ? 0 : writer->log()->next_seq() - 1;
  };
  impl->service = std::make_unique<SearchService>(nullptr, service);
  IndexServiceOptions writes;
  writes.read_only = read_only;
  writes.after_write = service.after_write;
  impl->index_service = std::make_unique<IndexService>(impl->service.get(), writes);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!service.auth_tokens.empty()) builder.SetOption(NoReflectionOption());
  // No port of gRPC's own: the acceptor hands it the connections.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> connections =
      builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
  const int selected_port = impl->acceptor->port();
  builder.RegisterService(impl->service.get());
  builder.RegisterService(impl->index_service.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  if (options.service.max_response_bytes > 0) {
    builder.SetMaxSendMessageSize(
        static_cast<int>(std::min<size_t>(options.service.max_response_bytes, INT_MAX)));
  }
  // Idle and slow connections: closed (GOAWAY) after idle_timeout_s without
  // calls, or when their TLS/HTTP/2 handshake (up to the client's SETTINGS
  // frame) takes longer than handshake_timeout_s. Keepalive pings, while
  // calls run, find peers that vanished without closing the connection.
  if (options.idle_timeout_s > 0) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_IDLE_MS,
        static_cast<int>(std::min<int64_t>(int64_t{options.idle_timeout_s} * 1000, INT_MAX)));
  }
  builder.AddChannelArgument(
      GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
      static_cast<int>(std::min<int64_t>(int64_t{options.handshake_timeout_s} * 1000, INT_MAX)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  if (max_threads > 0) {
    grpc::ResourceQuota quota("scry-server");
    quota.SetMaxThreads(max_threads);
    builder.SetResourceQuota(quota);
  }
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  impl->acceptor->Start(std::move(connections));
  SetServing(impl->server.get(), false);
  // The HTTP listeners are bound now (a bad address fails before the index
  // opens); they answer 503 while the index loads, like the RPCs
  // (UNAVAILABLE). `flag` names the option in an error.
  const auto listen_http = [&](const std::string& listen, std::vector<HttpRoute> routes,
                               int worker_threads, const char* flag,
                               std::unique_ptr<HttpServer>* out) -> absl::Status {
    HttpServerOptions http;
    http.worker_threads = worker_threads;
    absl::StatusOr<std::unique_ptr<HttpServer>> started =
        HttpServer::Start(listen, std::move(routes), http);
    if (!started.ok()) {
      impl->acceptor->Stop();
      impl->server->Shutdown();
      return absl::Status(started.status().code(),
                          absl::StrCat(started.status().message(), " (", flag, ")"));
    }
    *out = std::move(*started);
    return absl::OkStatus();
  };
  if (!options.metrics_listen.empty()) {
    SCRY_RETURN_IF_ERROR(listen_http(options.metrics_listen, {MetricsRoute(impl->service.get())}, 1,
                                     "--metrics-listen", &impl->metrics));
  }
  if (!options.http_listen.empty()) {
    // Searches run on the listener's workers, as many as there are cores
    // (each search uses the engine's own thread pool for its shards too).
    SCRY_RETURN_IF_ERROR(listen_http(
        options.http_listen, JsonApiRoutes(impl->service.get(), impl->index_service.get()),
        std::max(2, static_cast<int>(std::thread::hardware_concurrency())), "--http-listen",
        &impl->http));
  }
  LiveIndexOptions live;
  live.index_dir = options.index_dir;
  live.searcher = options.searcher;
  live.poll_ms = options.reload_poll_ms;
  live.verify_on_open = options.verify_on_open;
  Impl* state = impl.get();
  live.on_health = [state](bool healthy) {
    absl::MutexLock lock(&state->mu);
    if (!state->shut_down) SetServing(state->server.get(), healthy);
  };
  live.log = [](const std::string& line) {
    std::fprintf(stderr, "scry: %s\n", line.c_str());
    std::fflush(stderr);
  };
  absl::StatusOr<std::unique_ptr<LiveIndex>> index_or = LiveIndex::Open(live);
  if (!index_or.ok()) {
    impl->acceptor->Stop();
    impl->server->Shutdown();
    return index_or.status();
  }
  impl->index = std::move(*index_or);
  if (!read_only) {
    LiveWriterOptions writer;
    writer.index_dir = options.index_dir;
    writer.num_shards = impl->index->Acquire()->info().num_shards;
    writer.shards = options.searcher.shards;
    writer.sync = options.wal_sync;
    writer.sync_interval_ms = options.wal_sync_interval_ms;
    writer.apply = options.apply;
    absl::StatusOr<indexer::Schema> schema = indexer::Schema::OfIndex(options.index_dir);
    if (!schema.ok()) {
      impl->acceptor->Stop();
      impl->server->Shutdown();
      return schema.status();
    }
    writer.schema = *std::move(schema);
    if (!writer.apply) {
      LiveSegmentsOptions segments;
      segments.dir = options.index_dir + "/live-segments";
      segments.merge.segments_per_tier = options.merge_segments_per_tier;
      segments.merge.max_merge_at_once = options.merge_max_at_once;
      segments.merge.floor_docs = options.merge_floor_docs;
      absl::StatusOr<std::unique_ptr<LiveApplier>> applier = LiveApplier::Create(
          impl->index.get(), segments,
          [state](uint64_t upto, std::vector<LiveOp>* ops) -> absl::Status {
            LiveWriter* writer = state->log_writer.load();
            if (writer == nullptr) return WriteLogNotOpen();
            return writer->ReadOps(upto, ops);
          },
          [state](uint64_t seq) -> absl::StatusOr<LiveOp> {
            LiveWriter* writer = state->log_writer.load();
            if (writer == nullptr) return WriteLogNotOpen();
            return writer->ReadOp(seq);
          },
          [state](std::span<const uint64_t> seqs) -> absl::Status {
            LiveWriter* writer = state->log_writer.load();
            if (writer == nullptr) return WriteLogNotOpen();
            return writer->log()->Drop(seqs);
          });
      if (!applier.ok()) {
        impl->acceptor->Stop();
        impl->server->Shutdown();
        return applier.status();
      }
      impl->applier = std::move(*applier);
      writer.apply = [state](std::vector<std::vector<LiveOp>> by_shard, uint64_t last_seq) {
        return state->applier->Apply(std::move(by_shard), last_seq);
      };
    }
    absl::StatusOr<std::unique_ptr<LiveWriter>> opened = LiveWriter::Open(writer);
    if (!opened.ok()) {
      impl->acceptor->Stop();
      impl->server->Shutdown();
      return opened.status();
    }
    impl->writer = std::move(*opened);
    impl->log_writer.store(impl->writer.get());
    // What the log recovered is served before the server says SERVING: a
    // restart does not hide writes that were searchable before it.
    if (impl->writer->pending() > 0) {
      const absl::StatusOr<uint64_t> recovered = impl->writer->Refresh();
      if (!recovered.ok()) {
        // The periodic refresh (or the next Refresh call) tries again.
        std::fprintf(stderr, "scry: applying the recovered write-ahead log failed: %s\n",
                     recovered.status().ToString().c_str());
        std::fflush(stderr);
      }
    }
    impl->index_service->SetWriter(impl->writer.get());
    if (options.refresh_interval_ms > 0) {
      impl->refresher = std::make_unique<PeriodicTask>(options.refresh_interval_ms, [state] {
        absl::Status status = absl::OkStatus();
        if (state->writer->pending() > 0) status = state->writer->Refresh().status();
        if (status.ok() && state->applier != nullptr) status = state->applier->CatchUp();
        if (!status.ok()) {
          std::fprintf(stderr, "scry: automatic refresh failed: %s\n", status.ToString().c_str());
          std::fflush(stderr);
        }
      });
    }
  }
  impl->service->SetIndex(impl->index.get());
  SetServing(impl->server.get(), true);

  const std::shared_ptr<const query::Searcher> searcher = impl->index->Acquire();
  const query::IndexInfo& index = searcher->info();
  const char* tls = options.tls_cert_file.empty()        ? "plaintext"
                    : options.tls_client_ca_file.empty() ? "TLS"
                                                         : "mutual TLS";
  std::fprintf(stderr,
               "scry: serving %s %s (%llu docs, %zu shards) on %s (%s%s; fd limit %lld, "
               "max %d connections)\n",
               options.index_dir.c_str(), searcher->generation().c_str(),
               static_cast<unsigned long long>(index.docs), static_cast<size_t>(index.num_shards),
               BoundAddress(options.listen, selected_port).c_str(), tls,
               service.auth_tokens.empty() ? "" : ", bearer tokens required",
               static_cast<long long>(fd_limit), max_connections);
  if (impl->metrics != nullptr) {
    std::fprintf(stderr, "scry: metrics on http://%s/metrics\n",
                 BoundAddress(options.metrics_listen, impl->metrics->port()).c_str());
  }
  if (impl->http != nullptr) {
    std::fprintf(stderr, "scry: HTTP/JSON API on http://%s/v1/search\n",
                 BoundAddress(options.http_listen, impl->http->port()).c_str());
  }
  std::fflush(stderr);
  return std::unique_ptr<Server>(new Server(std::move(impl), selected_port));
}

int Server::metrics_port() const { return impl_->metrics != nullptr ? impl_->metrics->port() : 0; }

LiveWriter* Server::writer() const { return impl_->writer.get(); }

int Server::http_port() const { return impl_->http != nullptr ? impl_->http->port() : 0; }

int Server::max_connections() const { return impl_->acceptor->max_connections(); }

void Server::Wait() { impl_->server->Wait(); }

void Server::ReloadSoon() {
  if (impl_->index != nullptr) impl_->index->ReloadSoon();
}

void Server::Shutdown(int grace_ms) {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
  }
  SetServing(impl_->server.get(), false);
  impl_->acceptor->Stop();  // no new connections
  if (impl_->http != nullptr) impl_->http->Shutdown();
  if (impl_->metrics != nullptr) impl_->metrics->Shutdown();
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(std::max(grace_ms, 0)));
}

}  // namespace scry::server
