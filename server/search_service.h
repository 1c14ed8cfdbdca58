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
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server_context.h"
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
  // Whether the client went away; may be empty.
  std::function<bool()> cancelled;
};

struct SearchServiceOptions {
  GrpcApi api = GrpcApi::kCallback;
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
};

class SearchService final : public grpc::Service {
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

  // The methods by name, as the HTTP/JSON API calls them.
  enum class Method { kSearch, kGetDocument, kStats, kReload };
  // One call of `method` with its request in protobuf's JSON mapping
  // (unknown members refused), answered in it (*json_out, on OK): the same
  // token check, limits, deadlines, metrics and access log as over gRPC.
  grpc::Status CallJson(Method method, const CallContext& context, const std::string& json_in,
                        std::string* json_out) const;

  // Full gRPC name of the service, for health checks.
  static constexpr const char* kServiceName = "scry.v1.SearchService";

 private:
  // OK if `context` carries an accepted token (or none is required).
  grpc::Status Authenticate(const CallContext* context, bool is_search) const;
  // Why `context` carries no accepted token, or nullptr if it carries one.
  const char* TokenProblem(const CallContext& context) const;
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

  int methods_added_ = 0;  // the index of the next AddUnaryMethod's method
  std::atomic<LiveIndex*> index_;
  SearchServiceOptions options_;
  mutable std::atomic<int> searches_in_flight_{0};
  mutable Metrics metrics_;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_SEARCH_SERVICE_H_
