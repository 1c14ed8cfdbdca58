// File: server/search_service.h
//
// The scry.v1.SearchService RPCs (proto/scry/v1/search.proto) over the
// generations of one index (server/live_index.h).
//
// The service registers its three unary methods itself, with raw byte
// buffers on the wire, and parses the requests on its own. With the
// generated SearchService::Service, a request that protobuf refuses to parse
// (most commonly a proto3 string field holding invalid UTF-8) would be
// answered by gRPC with INTERNAL and an empty message; here it is
// INVALID_ARGUMENT with a message that says what was wrong, as the API
// promises for any malformed query. The typed methods below do the work and
// can be called directly.
//
// Thread safety: all methods are safe to call concurrently (the Searcher is).
#ifndef SCRY_SERVER_SEARCH_SERVICE_H_
#define SCRY_SERVER_SEARCH_SERVICE_H_

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"
#include "query/searcher.h"
#include "scry/v1/search.pb.h"
#include "server/live_index.h"
#include "server/metrics.h"

namespace scry::server {

// How the service's methods meet gRPC (chosen by measurement: README.md,
// bench/RESULTS.md).
enum class GrpcApi {
  // The callback API: a call runs on the gRPC thread that read it, with no
  // hand-off to another thread.
  kCallback,
  // The synchronous API: a pool of gRPC threads, one per call in flight
  // (ServerOptions::grpc_max_threads).
  kSync,
};

// What a call brings besides its request: from gRPC metadata, or from the
// HTTP/JSON API's headers (server/http_api.h).
struct CallContext {
  std::string authorization;  // "Bearer <token>", or empty
  std::string peer;           // for the logs
  // The client's deadline; InfiniteFuture: none (the server's default then).
  absl::Time deadline = absl::InfiniteFuture();
  // When the call arrived, if it waited before it ran (an HTTP request for
  // a worker): a default deadline counts from here. InfinitePast: now.
  absl::Time received = absl::InfinitePast();
  // Whether the client went away; may be empty.
  std::function<bool()> cancelled;
};

struct SearchServiceOptions {
  GrpcApi api = GrpcApi::kCallback;
  // Whether the server takes live writes (DescribeResponse.writable).
  bool writable = false;
  // The sequence of the last live write logged (DescribeResponse.write_seq);
  // empty: 0.
  std::function<uint64_t()> write_seq;
  // Deadline of a search whose client set none; 0: none (max_deadline_ms
  // still applies). At most max_deadline_ms when that is set.
  int default_deadline_ms = 10000;
  // The longest a search may run, whatever deadline its client asked for: a
  // client deadline further away is brought in to now + max_deadline_ms.
  // 0: no maximum (the client's deadline, or the default, as it is).
  int max_deadline_ms = 30000;
  // The largest response a call may send, in bytes (the gRPC server's max
  // send message size too): a search whose hits would take more fails with
  // RESOURCE_EXHAUSTED once they do (query::SearchRequest::
  // max_response_bytes), rather than build it. 0: no limit.
  size_t max_response_bytes = size_t{64} << 20;
  // Searches running at once; one more is refused with RESOURCE_EXHAUSTED
  // (rather than queued without bound). 0: no limit.
  int max_concurrent_searches = 64;
  // Accepted bearer tokens; when not empty, every call must carry metadata
  // `authorization: Bearer <token>` with one of them (UNAUTHENTICATED if not),
  // except Search when anonymous_search is set.
  std::vector<std::string> auth_tokens;
  // The tokens of auth_tokens with the write scope: only they may call
  // IndexService (server/index_service.h), anonymous_search or not; another
  // accepted token is PERMISSION_DENIED there.
  std::vector<std::string> write_tokens;
  bool anonymous_search = false;
  // The stored members a search without a token (anonymous_search) may see:
  // in `fields` ("*" means these), in snippets, and the hits' titles (if
  // "title" is one). Others are PERMISSION_DENIED.
  std::vector<std::string> anonymous_fields = {"title"};
  // One JSON line per call on stderr: time, method, status code, latency,
  // peer, request bytes (never the query text or a token).
  bool access_log = false;
  // Called by Stats to add what the service does not know itself (the
  // connection counts of server/acceptor.h); may be empty.
  std::function<void(v1::StatsResponse*)> add_stats;
  // Tests only: runs first in every Search (a stalled replica for the
  // broker's hedging test); empty: nothing.
  std::function<void()> before_search;
  // Tests only: runs in every Write once its operations are logged, before
  // the answer (an answer lost after the write, for the broker's test).
  std::function<void()> after_write;
};

// Why `authorization` (a call's "authorization" metadata or header) carries
// no bearer token of `tokens`, or nullptr if it carries one (compared in
// constant time).
const char* BearerTokenProblem(std::string_view authorization,
                               const std::vector<std::string>& tokens);

// Who may make a call (SearchServiceOptions::auth_tokens, write_tokens).
enum class Access {
  kRead,    // any accepted token
  kSearch,  // any accepted token, or none with anonymous_search
  kWrite,   // a token with the write scope
};

// A grpc::Service whose methods take and give raw byte buffers: the
// requests are parsed by the typed methods' wrapper (SearchService::RunCall),
// so that what protobuf refuses is INVALID_ARGUMENT with a message.
class RawService : public grpc::Service {
 protected:
  using RawHandler = std::function<grpc::Status(grpc::ServerContextBase*, const grpc::ByteBuffer*,
                                                grpc::ByteBuffer*)>;
  // Adds the unary method `path` (a literal: gRPC keeps the pointer),
  // answered on the thread that read it with kCallback.
  void AddRawUnary(const char* path, GrpcApi api, RawHandler handler);
  int methods_added_ = 0;  // the index of the next method
};

// Parses `bytes` into *out; INVALID_ARGUMENT naming the message if protobuf
// refuses them (bad wire format, or a string field that is not UTF-8).
template <class Message>
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes, Message* out);

class SearchService final : public RawService {
 public:
  // `index` must outlive the service. It may be null while the index is
  // loading: every call is then UNAVAILABLE until SetIndex. Each call runs
  // on the generation served when it starts (LiveIndex::Acquire).
  SearchService(LiveIndex* index, const SearchServiceOptions& options);
  void SetIndex(LiveIndex* index) { index_.store(index, std::memory_order_release); }

  // `context` may be null (a direct call: no token checked, no client
  // deadline, no cancellation); Call and CallJson check the token first.
  grpc::Status Search(const CallContext* context, const v1::SearchRequest& request,
                      v1::SearchResponse* response) const;
  grpc::Status GetDocument(const CallContext* context, const v1::GetDocumentRequest& request,
                           v1::GetDocumentResponse* response) const;
  grpc::Status Stats(const CallContext* context, const v1::StatsRequest& request,
                     v1::StatsResponse* response) const;
  grpc::Status Reload(const CallContext* context, const v1::ReloadRequest& request,
                      v1::ReloadResponse* response) const;
  // For a broker (server/broker.h): the shards served, and the served
  // shards' part of a query's statistics.
  grpc::Status Describe(const CallContext* context, const v1::DescribeRequest& request,
                        v1::DescribeResponse* response) const;
  grpc::Status TermStatistics(const CallContext* context, const v1::TermStatisticsRequest& request,
                              v1::TermStatisticsResponse* response) const;

  // The methods by name, as the HTTP/JSON API calls them.
  enum class Method { kSearch, kGetDocument, kStats, kReload };
  // One call of `method` with its request in protobuf's JSON mapping
  // (unknown members refused), answered in it (*json_out, on OK): the same
  // token check, limits, deadlines, metrics and access log as over gRPC.
  grpc::Status CallJson(Method method, const CallContext& context, const std::string& json_in,
                        std::string* json_out) const;

  // Full gRPC name of the service, for health checks.
  static constexpr const char* kServiceName = "scry.v1.SearchService";

  // One call from end to end, for this service and IndexService alike: the
  // token check for `access`, then `body`; exceptions become statuses; the
  // call is counted and timed by `metric` and written to the access log.
  // (A template, so that a search pays no std::function.)
  template <class Body>
  grpc::Status RunCall(Metrics::Method metric, Access access, const CallContext* context,
                       size_t request_bytes, const Body& body) const;
  // OK if `context` carries a token that `access` accepts (or none is
  // required); UNAUTHENTICATED, or PERMISSION_DENIED for a token without
  // the write scope where kWrite is needed.
  grpc::Status Authenticate(const CallContext* context, Access access) const;
  // Counts and times a finished call that began at `start`, and writes its
  // access log line (RunCall does it for the calls it runs).
  void RecordCall(Metrics::Method metric, const CallContext* context, size_t request_bytes,
                  const grpc::Status& status, std::chrono::steady_clock::time_point start) const;
  // The CallContext of a gRPC call (its token only when tokens are checked).
  CallContext ContextOf(grpc::ServerContextBase* grpc_context) const;
  // The same parsing of a JSON request and printing of a JSON response as
  // CallJson's, around `body`.
  template <class Request, class Response>
  grpc::Status RunJsonCall(
      Metrics::Method metric, Access access, const CallContext& context, const std::string& json_in,
      std::string* json_out,
      const std::function<grpc::Status(const CallContext*, const Request&, Response*)>& body) const;

 private:
  // Why `context` carries no token of `tokens`, or nullptr if it carries one.
  const char* TokenProblem(const CallContext& context,
                           const std::vector<std::string>& tokens) const;
  // Whether a Search on `context` runs without a token (anonymous_search).
  bool IsAnonymous(const CallContext* context) const;

  template <class Request, class Response>
  using TypedMethod = grpc::Status (SearchService::*)(const CallContext*, const Request&,
                                                      Response*) const;
  // A call from end to end: the token, `parse` (into the Request), the
  // method, `serialize` (the Response); counted, timed and logged.
  template <class Request, class Response, class Parse, class Serialize>
  grpc::Status Run(Metrics::Method metric, TypedMethod<Request, Response> method,
                   const CallContext* context, size_t request_bytes, const Parse& parse,
                   const Serialize& serialize) const;
  template <class Request, class Response>
  grpc::Status RunJson(Metrics::Method metric, TypedMethod<Request, Response> method,
                       const CallContext& context, const std::string& json_in,
                       std::string* json_out) const;
  template <class Request, class Response>
  void AddUnaryMethod(const char* path, Metrics::Method metric,
                      TypedMethod<Request, Response> method);

  std::atomic<LiveIndex*> index_;
  SearchServiceOptions options_;
  mutable std::atomic<int> searches_in_flight_{0};
  mutable Metrics metrics_;
};

template <class Message>
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes, Message* out) {
  grpc::ByteBuffer copy(bytes);  // Deserialize consumes its input
  if (grpc::SerializationTraits<Message>::Deserialize(&copy, out).ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed " + Message::descriptor()->full_name() +
                          ": not a valid protobuf message, or a string field is not valid UTF-8");
}

// A request in protobuf's JSON mapping (unknown members refused);
// INVALID_ARGUMENT naming the message if malformed.
template <class Request>
grpc::Status ParseJson(const std::string& json, Request* request) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(json, request, options);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "malformed " + Request::descriptor()->full_name() +
                          " (JSON): " + std::string(status.message()));
}

// A response in protobuf's JSON mapping, with the .proto's field names.
template <class Response>
grpc::Status WriteJson(const Response& response, std::string* json) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  const auto status = google::protobuf::util::MessageToJsonString(response, json, options);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      "cannot write the response as JSON: " + std::string(status.message()));
}

template <class Body>
grpc::Status SearchService::RunCall(Metrics::Method metric, Access access,
                                    const CallContext* context, size_t request_bytes,
                                    const Body& body) const {
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = [&]() -> grpc::Status {
    // gRPC would turn an escaping exception into UNKNOWN; the API promises
    // never to answer UNKNOWN.
    try {
      grpc::Status auth = Authenticate(context, access);
      if (!auth.ok()) return auth;
      return body();
    } catch (const std::bad_alloc&) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory");
    } catch (const std::exception& e) {
      return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
    }
  }();
  RecordCall(metric, context, request_bytes, status, start);
  return status;
}

template <class Request, class Response>
grpc::Status SearchService::RunJsonCall(
    Metrics::Method metric, Access access, const CallContext& context, const std::string& json_in,
    std::string* json_out,
    const std::function<grpc::Status(const CallContext*, const Request&, Response*)>& body) const {
  return RunCall(metric, access, &context, json_in.size(), [&]() -> grpc::Status {
    Request request;
    grpc::Status parsed = ParseJson(json_in.empty() ? "{}" : json_in, &request);
    if (!parsed.ok()) return parsed;
    Response response;
    grpc::Status done = body(&context, request, &response);
    if (!done.ok()) return done;
    return WriteJson(response, json_out);
  });
}

}  // namespace scry::server

#endif  // SCRY_SERVER_SEARCH_SERVICE_H_
