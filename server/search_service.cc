// File: server/search_service.cc
#include "server/search_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/server_callback.h"
#include "server/convert.h"
#include "server/log_limiter.h"
#include "server/server.h"
#include "storage/hash.h"

namespace scry::server {
void SearchService::RecordCall(Metrics::Method metric, const CallContext* context,
                               size_t request_bytes, const grpc::Status& status,
                               std::chrono::steady_clock::time_point start) const {
  // Every call is counted by status code and timed.
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  metrics_.Record(metric, status.error_code(), static_cast<uint64_t>(micros));
  if (options_.access_log) {
    // One write per line, so that concurrent calls do not interleave.
    const std::string line = absl::StrCat(
        "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
        "\",\"method\":\"", Metrics::kMethodNames[metric], "\",\"code\":\"",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
        "\",\"micros\":", micros, ",\"request_bytes\":", request_bytes, ",\"peer\":\"",
        context != nullptr ? absl::CEscape(context->peer) : "", "\"}\n");
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
}

template <class Request, class Response, class Parse, class Serialize>
grpc::Status SearchService::Run(Metrics::Method metric, TypedMethod<Request, Response> method,
                                const CallContext* context, size_t request_bytes,
                                const Parse& parse, const Serialize& serialize) const {
  // A broker's first phase is part of a search.
  const Access access = metric == Metrics::kSearch || metric == Metrics::kTermStatistics
                            ? Access::kSearch
                            : Access::kRead;
  return RunCall(metric, access, context, request_bytes, [&]() -> grpc::Status {
    Request request;
    grpc::Status parsed = parse(&request);
    if (!parsed.ok()) return parsed;
    Response response;
    grpc::Status done = (this->*method)(context, request, &response);
    if (!done.ok()) return done;
    return serialize(response);
  });
}

// What a gRPC call brings besides its request. The token is read only when
// tokens are checked and the peer (a string built per call) only when a log
// line may name it: neither is on the path of an ordinary call.
CallContext SearchService::ContextOf(grpc::ServerContextBase* grpc_context) const {
  const bool want_token = !options_.auth_tokens.empty();
  const bool want_peer = want_token || options_.access_log;
  CallContext context;
  if (want_token) {
    const auto& metadata = grpc_context->client_metadata();
    const auto it = metadata.find("authorization");
    if (it != metadata.end()) context.authorization.assign(it->second.data(), it->second.size());
  }
  if (want_peer) context.peer = grpc_context->peer();
  if (grpc_context->deadline() != std::chrono::system_clock::time_point::max()) {
    context.deadline = absl::FromChrono(grpc_context->deadline());
  }
  context.cancelled = [grpc_context] { return grpc_context->IsCancelled(); };
  return context;
}

void RawService::AddRawUnary(const char* path, GrpcApi api, RawHandler handler) {
  ++methods_added_;
  AddMethod(new grpc::internal::RpcServiceMethod(
      path, grpc::internal::RpcMethod::NORMAL_RPC,
      new grpc::internal::RpcMethodHandler<RawService, grpc::ByteBuffer, grpc::ByteBuffer>(
          [handler](RawService*, grpc::ServerContext* context, const grpc::ByteBuffer* in,
                    grpc::ByteBuffer* out) { return handler(context, in, out); },
          this)));
  if (api == GrpcApi::kCallback) {
    // Answered on the thread that read the request: the whole call runs
    // there and finishes the default reactor.
    MarkMethodRawCallback(
        methods_added_ - 1,
        new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
            [handler](grpc::CallbackServerContext* context, const grpc::ByteBuffer* in,
                      grpc::ByteBuffer* out) {
              grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
              reactor->Finish(handler(context, in, out));
              return reactor;
            }));
  }
}

template <class Request, class Response>
void SearchService::AddUnaryMethod(const char* path, Metrics::Method metric,
                                   TypedMethod<Request, Response> method) {
  AddRawUnary(path, options_.api,
              [this, method, metric](grpc::ServerContextBase* grpc_context,
                                     const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
                const CallContext context = ContextOf(grpc_context);
                return Run(
                    metric, method, &context, in->Length(),
                    [in](Request* request) { return ParseRequest(*in, request); },
                    [out](const Response& response) {
                      bool own_buffer = false;
                      return grpc::SerializationTraits<Response>::Serialize(response, out,
                                                                            &own_buffer);
                    });
              });
}

SearchService::SearchService(LiveIndex* index, const SearchServiceOptions& options)
    : index_(index), options_(options) {
  // Paths as in proto/scry/v1/search.proto; gRPC keeps the pointers, so they
  // must be literals.
  AddUnaryMethod("/scry.v1.SearchService/Search", Metrics::kSearch, &SearchService::Search);
  AddUnaryMethod("/scry.v1.SearchService/GetDocument", Metrics::kGetDocument,
                 &SearchService::GetDocument);
  AddUnaryMethod("/scry.v1.SearchService/Stats", Metrics::kStats, &SearchService::Stats);
  AddUnaryMethod("/scry.v1.SearchService/Reload", Metrics::kReload, &SearchService::Reload);
  AddUnaryMethod("/scry.v1.SearchService/Describe", Metrics::kDescribe, &SearchService::Describe);
  AddUnaryMethod("/scry.v1.SearchService/TermStatistics", Metrics::kTermStatistics,
                 &SearchService::TermStatistics);
}

namespace {

// Equality in time that depends on the lengths only, not on where the
// strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

grpc::Status Loading() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the index is still loading; retry");
}

}  // namespace

const char* SearchService::TokenProblem(const CallContext& context,
                                        const std::vector<std::string>& tokens) const {
  return BearerTokenProblem(context.authorization, tokens);
}

const char* BearerTokenProblem(std::string_view value, const std::vector<std::string>& tokens) {
  if (value.empty()) return "no authorization metadata";
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) {
    return "not a bearer token";
  }
  const std::string_view token = value.substr(kBearer.size());
  bool accepted = false;
  for (const std::string& t : tokens) accepted |= ConstantTimeEquals(token, t);
  return accepted ? nullptr : "unknown token";
}

bool SearchService::IsAnonymous(const CallContext* context) const {
  return context != nullptr && !options_.auth_tokens.empty() && options_.anonymous_search &&
         TokenProblem(*context, options_.auth_tokens) != nullptr;
}

grpc::Status SearchService::Authenticate(const CallContext* context, Access access) const {
  if (options_.auth_tokens.empty() || context == nullptr) return grpc::Status::OK;
  if (access == Access::kSearch && options_.anonymous_search) return grpc::Status::OK;
  const char* reason = TokenProblem(*context, options_.auth_tokens);
  if (reason == nullptr) {
    if (access != Access::kWrite || TokenProblem(*context, options_.write_tokens) == nullptr) {
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "this token may not write: writes need a token with the write scope "
                        "(a line \"TOKEN write\" in the server's --auth-token-file)");
  }
  // Logged without the token, and at most once a second: a client must not
  // be able to fill the log.
  static LogLimiter limiter(absl::Seconds(1));
  if (uint64_t dropped = 0; limiter.Allow(&dropped)) {
    std::fprintf(
        stderr, "scry: unauthenticated call from %s: %s%s\n", context->peer.c_str(), reason,
        dropped == 0
            ? ""
            : absl::StrCat(" (", dropped, " more unauthenticated calls not logged)").c_str());
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      std::string(reason) + ": send metadata 'authorization: Bearer <token>'");
}

namespace {

// Limits an anonymous search to the stored members `allowed`: "*" in
// fields becomes them; another member in fields or highlight_fields is
// PERMISSION_DENIED.
grpc::Status RestrictToFields(const std::vector<std::string>& allowed, query::SearchRequest* q) {
  auto is_allowed = [&](const std::string& name) {
    return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
  };
  auto denied = [](const std::string& name) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "member \"" + name +
                            "\" is not open to searches without a token (the server's "
                            "--anonymous-fields); send a bearer token");
  };
  std::vector<std::string> fields;
  for (const std::string& name : q->fields) {
    if (name == "*") {
      fields.insert(fields.end(), allowed.begin(), allowed.end());
    } else if (is_allowed(name)) {
      fields.push_back(name);
    } else {
      return denied(name);
    }
  }
  q->fields = std::move(fields);
  for (const std::string& name : q->highlight_fields) {
    if (!is_allowed(name)) return denied(name);
  }
  return grpc::Status::OK;
}

}  // namespace

grpc::Status SearchService::Search(const CallContext* context, const v1::SearchRequest& request,
                                   v1::SearchResponse* response) const {
  const auto start = std::chrono::steady_clock::now();
  if (options_.before_search) options_.before_search();
  // At most max_concurrent_searches at once; the rest are refused at once.
  struct InFlight {
    std::atomic<int>& count;
    explicit InFlight(std::atomic<int>& c) : count(c) { count.fetch_add(1); }
    ~InFlight() { count.fetch_sub(1); }
  } in_flight(searches_in_flight_);
  if (options_.max_concurrent_searches > 0 &&
      in_flight.count.load() > options_.max_concurrent_searches) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "too many concurrent searches (the server's limit is " +
                            std::to_string(options_.max_concurrent_searches) + "); retry later");
  }
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  const std::shared_ptr<const query::Searcher> searcher = index->Acquire();
  absl::StatusOr<query::SearchRequest> q = FromProto(request);
  if (!q.ok()) return ToGrpc(q.status());
  const bool anonymous = IsAnonymous(context);
  if (anonymous) {
    grpc::Status allowed = RestrictToFields(options_.anonymous_fields, &*q);
    if (!allowed.ok()) return allowed;
  }
  // The client's deadline, else the server's default, reaches the
  // evaluation loops, but never later than the server's maximum; so does a
  // cancellation.
  const absl::Time now = absl::Now();
  if (context != nullptr && context->deadline != absl::InfiniteFuture()) {
    q->deadline = context->deadline;
  } else if (options_.default_deadline_ms > 0) {
    const absl::Time from =
        context != nullptr && context->received != absl::InfinitePast() ? context->received : now;
    q->deadline = from + absl::Milliseconds(options_.default_deadline_ms);
  }
  bool server_maximum = false;
  if (options_.max_deadline_ms > 0 &&
      q->deadline > now + absl::Milliseconds(options_.max_deadline_ms)) {
    q->deadline = now + absl::Milliseconds(options_.max_deadline_ms);
    server_maximum = true;
  }
  if (context != nullptr && context->cancelled) q->cancelled = context->cancelled;
  // The hits, and a little for the rest of the response.
  if (options_.max_response_bytes > 0) {
    q->max_response_bytes = std::max<size_t>(options_.max_response_bytes, 2048) - 1024;
  }
  absl::StatusOr<query::SearchResult> result = searcher->Search(*q);
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kDataLoss) {
      index->ReportDamage(*searcher, result.status());
    }
    if (server_maximum && result.status().code() == absl::StatusCode::kDeadlineExceeded) {
      // Not the client's deadline: say whose it was.
      return ToGrpc(absl::DeadlineExceededError(
          absl::StrCat(result.status().message(), " (the server's maximum of ",
                       options_.max_deadline_ms, " ms, --max-deadline-ms)")));
    }
    return ToGrpc(result.status());
  }
  ToProto(std::move(*result), q->explain, response);
  if (anonymous && std::find(options_.anonymous_fields.begin(), options_.anonymous_fields.end(),
                             "title") == options_.anonymous_fields.end()) {
    for (v1::Hit& hit : *response->mutable_hits()) hit.clear_title();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  response->set_took_micros(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  return grpc::Status::OK;
}

grpc::Status SearchService::GetDocument(const CallContext* /*context*/,
                                        const v1::GetDocumentRequest& request,
                                        v1::GetDocumentResponse* response) const {
  absl::StatusOr<std::string> id = FromProto(request);
  if (!id.ok()) return ToGrpc(id.status());
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  const std::shared_ptr<const query::Searcher> searcher = index->Acquire();
  absl::StatusOr<query::Document> doc = searcher->GetDocument(*id);
  if (!doc.ok()) {
    if (doc.status().code() == absl::StatusCode::kDataLoss) {
      index->ReportDamage(*searcher, doc.status());
    }
    return ToGrpc(doc.status());
  }
  ToProto(std::move(*doc), response);
  return grpc::Status::OK;
}

grpc::Status SearchService::Stats(const CallContext* /*context*/,
                                  const v1::StatsRequest& /*request*/,
                                  v1::StatsResponse* response) const {
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  const std::shared_ptr<const query::Searcher> searcher = index->Acquire();
  absl::StatusOr<std::vector<query::ShardInfo>> stats = searcher->Stats();
  if (!stats.ok()) return ToGrpc(stats.status());
  ToProto(searcher->info(), *stats, response);
  const LiveIndexInfo live = index->info();
  if (live.generation == searcher->generation()) {
    response->set_generation_loaded_unix_micros(
        static_cast<uint64_t>(absl::ToUnixMicros(live.loaded_at)));
  }
  response->set_reloads(live.reloads);
  response->set_failed_reloads(live.failed_reloads);
  response->set_last_reload_error(live.last_error);
  const query::Snapshot& snapshot = searcher->snapshot();
  uint64_t deleted = 0;
  for (const auto& base : snapshot.base_deleted) deleted += base != nullptr ? base->size() : 0;
  for (const query::Segment& s : snapshot.segments) deleted += s.deleted ? s.deleted->size() : 0;
  response->set_live_segments(snapshot.segments.size());
  response->set_deleted_docs(deleted);
  response->set_merges(live.merges);
  metrics_.Fill(response);
  response->set_searches_in_flight(
      static_cast<uint64_t>(std::max(0, searches_in_flight_.load(std::memory_order_relaxed))));
  if (options_.add_stats) options_.add_stats(response);
  return grpc::Status::OK;
}

grpc::Status SearchService::Reload(const CallContext* /*context*/,
                                   const v1::ReloadRequest& /*request*/,
                                   v1::ReloadResponse* response) const {
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  bool switched = false;
  absl::StatusOr<std::string> now = index->Reload(&switched);
  if (!now.ok()) return ToGrpc(now.status());
  response->set_generation(*now);
  response->set_switched(switched);
  return grpc::Status::OK;
}

namespace {

void Describe(const query::Searcher& searcher, const SearchServiceOptions& options,
              v1::DescribeResponse* response) {
  const query::IndexInfo& info = searcher.info();
  response->set_generation(info.generation);
  response->set_build_id(info.build_id);
  response->set_num_shards(info.num_shards);
  for (const uint32_t s : searcher.served_shards()) response->add_shards(s);
  // What makes two servers' scores comparable, in one string.
  std::string settings = absl::StrCat(info.language, "\n", info.stopwords, "\n", info.num_shards);
  for (const std::string& field : info.fields) absl::StrAppend(&settings, "\n", field);
  for (const auto& [name, type] : info.typed_fields) {
    absl::StrAppend(&settings, "\n", name, ":", type);
    v1::TypedField* typed = response->add_typed_fields();
    typed->set_name(name);
    typed->set_type(type);
  }
  response->set_settings_digest(absl::StrFormat("%016x", storage::Fnv1a64(settings)));
  response->set_writable(options.writable);
  if (options.write_seq) response->set_write_seq(options.write_seq());
}

}  // namespace

grpc::Status SearchService::Describe(const CallContext* /*context*/,
                                     const v1::DescribeRequest& /*request*/,
                                     v1::DescribeResponse* response) const {
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  server::Describe(*index->Acquire(), options_, response);
  return grpc::Status::OK;
}

grpc::Status SearchService::TermStatistics(const CallContext* context,
                                           const v1::TermStatisticsRequest& request,
                                           v1::TermStatisticsResponse* response) const {
  LiveIndex* index = index_.load(std::memory_order_acquire);
  if (index == nullptr) return Loading();
  const std::shared_ptr<const query::Searcher> searcher = index->Acquire();
  absl::StatusOr<query::SearchRequest> q = FromProto(request.request());
  if (!q.ok()) return ToGrpc(q.status());
  if (context != nullptr && context->deadline != absl::InfiniteFuture()) {
    q->deadline = context->deadline;
  }
  if (context != nullptr && context->cancelled) q->cancelled = context->cancelled;
  absl::StatusOr<query::PlanStatistics> stats = searcher->Statistics(*q);
  if (!stats.ok()) return ToGrpc(stats.status());
  ToProto(*stats, response->mutable_statistics());
  server::Describe(*searcher, options_, response->mutable_server());
  return grpc::Status::OK;
}

template <class Request, class Response>
grpc::Status SearchService::RunJson(Metrics::Method metric, TypedMethod<Request, Response> method,
                                    const CallContext& context, const std::string& json_in,
                                    std::string* json_out) const {
  const Access access = metric == Metrics::kSearch ? Access::kSearch : Access::kRead;
  return RunJsonCall<Request, Response>(
      metric, access, context, json_in, json_out,
      [this, method](const CallContext* c, const Request& request, Response* response) {
        return (this->*method)(c, request, response);
      });
}

grpc::Status SearchService::CallJson(Method method, const CallContext& context,
                                     const std::string& json_in, std::string* json_out) const {
  switch (method) {
    case Method::kSearch:
      return RunJson<v1::SearchRequest, v1::SearchResponse>(
          Metrics::kSearch, &SearchService::Search, context, json_in, json_out);
    case Method::kGetDocument:
      return RunJson<v1::GetDocumentRequest, v1::GetDocumentResponse>(
          Metrics::kGetDocument, &SearchService::GetDocument, context, json_in, json_out);
    case Method::kStats:
      return RunJson<v1::StatsRequest, v1::StatsResponse>(Metrics::kStats, &SearchService::Stats,
                                                          context, json_in, json_out);
    case Method::kReload:
      return RunJson<v1::ReloadRequest, v1::ReloadResponse>(
          Metrics::kReload, &SearchService::Reload, context, json_in, json_out);
  }
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such method");
}

}  // namespace scry::server
