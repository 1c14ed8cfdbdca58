// File: server/index_service.h
//
// The scry.v1.IndexService RPCs (proto/scry/v1/index.proto): live writes
// through a LiveWriter (server/live_writer.h). Every call runs through
// SearchService::RunCall, the wrapper of SearchService's own calls: the
// token check (a write-scoped token, Access::kWrite), metrics, the access
// log. The methods always use gRPC's callback API (whatever --grpc-api
// says): WriteStream is a client-streaming reactor, and the unary ones run
// on the thread that read them, as the search methods do by default.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef SCRY_SERVER_INDEX_SERVICE_H_
#define SCRY_SERVER_INDEX_SERVICE_H_

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "scry/v1/index.pb.h"
#include "server/live_writer.h"
#include "server/search_service.h"

namespace scry::server {

// One operation of a request as the writer takes it: InvalidArgument for
// one that is neither an upsert nor a delete, or sets both document forms
// (the server's and a broker's check, in the same words).
absl::StatusOr<WriteOp> ToWriteOp(const v1::Operation& op);

struct IndexServiceOptions {
  // Every method FAILED_PRECONDITION (scry serve --read-only).
  bool read_only = false;
  // SearchServiceOptions::after_write (tests only).
  std::function<void()> after_write;
};

class IndexService final : public RawService {
 public:
  // `calls` (the wrapper) must outlive the service. The writer may be null
  // while the index loads (every call UNAVAILABLE until SetWriter).
  IndexService(const SearchService* calls, const IndexServiceOptions& options);
  void SetWriter(LiveWriter* writer) { writer_.store(writer, std::memory_order_release); }
  // The writer set; null before SetWriter (or with read_only).
  LiveWriter* writer() const { return writer_.load(std::memory_order_acquire); }

  // The typed methods; `context` as in SearchService. The token is checked
  // by the callers (RunCall), not here.
  grpc::Status Write(const CallContext* context, const v1::WriteRequest& request,
                     v1::WriteResponse* response) const;
  grpc::Status Refresh(const CallContext* context, const v1::RefreshRequest& request,
                       v1::RefreshResponse* response) const;
  grpc::Status Commit(const CallContext* context, const v1::CommitRequest& request,
                      v1::CommitResponse* response) const;

  // One batch of a stream: the accepted and refused operations are added to
  // *response (indexes counted from `first_index`).
  grpc::Status WriteBatch(const v1::WriteRequest& request, uint64_t first_index,
                          v1::WriteStreamResponse* response) const;

  // The HTTP/JSON API's calls (POST /v1/write, /v1/refresh, /v1/commit).
  enum class Method { kWrite, kRefresh, kCommit };
  grpc::Status CallJson(Method method, const CallContext& context, const std::string& json_in,
                        std::string* json_out) const;

  static constexpr const char* kServiceName = "scry.v1.IndexService";
  // Refused operations a WriteStreamResponse lists (the rest are counted).
  static constexpr int kMaxListedFailures = 1000;

 private:
  // UNAVAILABLE / FAILED_PRECONDITION, or the writer.
  grpc::Status Writer(LiveWriter** writer) const;
  // Runs the operations of `request` through the writer; results[i] per op.
  // A call whose client is gone or whose deadline has passed (`context`,
  // may be null) logs nothing: its caller (a broker) counts it as failed.
  grpc::Status Apply(const v1::WriteRequest& request, const CallContext* context,
                     std::vector<absl::Status>* results, uint64_t* first_seq) const;

  template <class Request, class Response>
  using TypedMethod = grpc::Status (IndexService::*)(const CallContext*, const Request&,
                                                     Response*) const;
  // A unary method at `path` over gRPC: parse, `method`, serialize, through
  // SearchService::RunCall.
  template <class Request, class Response>
  void AddUnary(const char* path, Metrics::Method metric, TypedMethod<Request, Response> method);
  // The same over the HTTP/JSON API.
  template <class Request, class Response>
  grpc::Status RunJson(Metrics::Method metric, TypedMethod<Request, Response> method,
                       const CallContext& context, const std::string& json_in,
                       std::string* json_out) const;

  class StreamReactor;
  const SearchService* calls_;
  IndexServiceOptions options_;
  std::atomic<LiveWriter*> writer_{nullptr};
};

}  // namespace scry::server

#endif  // SCRY_SERVER_INDEX_SERVICE_H_
