// File: server/index_service.cc
#include "server/index_service.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/method_handler.h"
#include "grpcpp/support/server_callback.h"
#include "server/server.h"

namespace scry::server {

namespace {

std::string CodeName(const absl::Status& status) { return absl::StatusCodeToString(status.code()); }

template <class Response>
grpc::Status Serialize(const Response& response, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Response>::Serialize(response, out, &own_buffer);
}

}  // namespace

// WriteStream: reads WriteRequests one by one, logs each batch as it
// arrives, answers once at the end. The call is counted and logged (RunCall)
// when it ends; the token is checked before the first read.
class IndexService::StreamReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  StreamReactor(const IndexService* service, grpc::CallbackServerContext* grpc_context,
                grpc::ByteBuffer* out)
      : service_(service),
        out_(out),
        context_(service->calls_->ContextOf(grpc_context)),
        start_(std::chrono::steady_clock::now()) {
    // The token and the server's state before the first read (the whole
    // stream is counted once, at its end).
    grpc::Status ok = service_->calls_->Authenticate(&context_, Access::kWrite);
    LiveWriter* writer = nullptr;
    if (ok.ok()) ok = service_->Writer(&writer);
    if (!ok.ok()) {
      End(ok);
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client has sent everything
      End(Serialize(response_, out_));
      return;
    }
    bytes_ += in_.Length();
    v1::WriteRequest request;
    grpc::Status status = ParseRequest(in_, &request);
    if (status.ok()) status = service_->WriteBatch(request, next_index_, &response_);
    next_index_ += static_cast<uint64_t>(request.ops_size());
    if (!status.ok()) {
      End(status);
      return;
    }
    StartRead(&in_);
  }

  void OnDone() override { delete this; }

 private:
  // Counts the whole stream as one call and finishes it with `status`.
  void End(const grpc::Status& status) {
    service_->calls_->RecordCall(Metrics::kWriteStream, &context_, bytes_, status, start_);
    Finish(status);
  }

  const IndexService* service_;
  grpc::ByteBuffer* out_;
  const CallContext context_;
  const std::chrono::steady_clock::time_point start_;
  grpc::ByteBuffer in_;
  v1::WriteStreamResponse response_;
  uint64_t next_index_ = 0;
  size_t bytes_ = 0;
};

template <class Request, class Response>
void IndexService::AddUnary(const char* path, Metrics::Method metric,
                            TypedMethod<Request, Response> method) {
  AddRawUnary(path, GrpcApi::kCallback,
              [this, metric, method](grpc::ServerContextBase* grpc_context,
                                     const grpc::ByteBuffer* in, grpc::ByteBuffer* out) {
                const CallContext context = calls_->ContextOf(grpc_context);
                return calls_->RunCall(metric, Access::kWrite, &context, in->Length(),
                                       [&]() -> grpc::Status {
                                         Request request;
                                         grpc::Status s = ParseRequest(*in, &request);
                                         if (!s.ok()) return s;
                                         Response response;
                                         s = (this->*method)(&context, request, &response);
                                         return s.ok() ? Serialize(response, out) : s;
                                       });
              });
}

template <class Request, class Response>
grpc::Status IndexService::RunJson(Metrics::Method metric, TypedMethod<Request, Response> method,
                                   const CallContext& context, const std::string& json_in,
                                   std::string* json_out) const {
  return calls_->RunJsonCall<Request, Response>(
      metric, Access::kWrite, context, json_in, json_out,
      [this, method](const CallContext* c, const Request& request, Response* response) {
        return (this->*method)(c, request, response);
      });
}

IndexService::IndexService(const SearchService* calls, const IndexServiceOptions& options)
    : calls_(calls), options_(options) {
  // Paths as in proto/scry/v1/index.proto; gRPC keeps the pointers, so they
  // must be literals. The stream is the first method (index 0): a sync
  // handler that never runs, replaced by the callback reactor.
  AddMethod(new grpc::internal::RpcServiceMethod(
      "/scry.v1.IndexService/WriteStream", grpc::internal::RpcMethod::CLIENT_STREAMING,
      new grpc::internal::ClientStreamingHandler<RawService, grpc::ByteBuffer, grpc::ByteBuffer>(
          [](RawService*, grpc::ServerContext*, grpc::ServerReader<grpc::ByteBuffer>*,
             grpc::ByteBuffer*) {
            return grpc::Status(grpc::StatusCode::INTERNAL, "callback method run as sync");
          },
          this)));
  MarkMethodRawCallback(
      methods_added_++,
      new grpc::internal::CallbackClientStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
          [this](grpc::CallbackServerContext* context, grpc::ByteBuffer* out) {
            return new StreamReactor(this, context, out);
          }));
  AddUnary("/scry.v1.IndexService/Write", Metrics::kWrite, &IndexService::Write);
  AddUnary("/scry.v1.IndexService/Refresh", Metrics::kRefresh, &IndexService::Refresh);
  AddUnary("/scry.v1.IndexService/Commit", Metrics::kCommit, &IndexService::Commit);
}

grpc::Status IndexService::Writer(LiveWriter** writer) const {
  if (options_.read_only) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        "this server takes no writes (scry serve --read-only, or --shards: a server "
        "of some shards)");
  }
  *writer = writer_.load(std::memory_order_acquire);
  if (*writer == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the index is still loading; retry");
  }
  return grpc::Status::OK;
}

absl::StatusOr<WriteOp> ToWriteOp(const v1::Operation& in) {
  WriteOp op;
  if (in.op_case() == v1::Operation::kUpsert) {
    const v1::Upsert& upsert = in.upsert();
    if (!upsert.document().empty() && !upsert.document_bytes().empty()) {
      return absl::InvalidArgumentError("set document or document_bytes, not both");
    }
    op.kind = OpKind::kUpsert;
    op.document = upsert.document().empty() ? upsert.document_bytes() : upsert.document();
  } else if (in.op_case() == v1::Operation::kDelete) {
    op.kind = OpKind::kDelete;
    op.id = in.delete_().id();
  } else {
    return absl::InvalidArgumentError("an operation must be an upsert or a delete");
  }
  return op;
}

grpc::Status IndexService::Apply(const v1::WriteRequest& request, const CallContext* context,
                                 std::vector<absl::Status>* results, uint64_t* first_seq) const {
  LiveWriter* writer = nullptr;
  grpc::Status ready = Writer(&writer);
  if (!ready.ok()) return ready;
  // The operations of a well-formed shape go to the writer (in order);
  // where[k] is the request position of ops[k].
  results->assign(static_cast<size_t>(request.ops_size()), absl::OkStatus());
  std::vector<WriteOp> ops;
  std::vector<size_t> where;
  ops.reserve(results->size());
  where.reserve(results->size());
  for (int i = 0; i < request.ops_size(); ++i) {
    absl::StatusOr<WriteOp> op = ToWriteOp(request.ops(i));
    if (!op.ok()) {
      (*results)[static_cast<size_t>(i)] = op.status();
      continue;
    }
    ops.push_back(*std::move(op));
    where.push_back(static_cast<size_t>(i));
  }
  std::vector<absl::Status> written;
  // Last chance to refuse rather than log what the caller no longer waits
  // for (a broker would take the replica for behind; the wait for the log
  // itself can still outlast the deadline).
  if (context != nullptr && context->cancelled && context->cancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away; nothing was logged");
  }
  if (context != nullptr && absl::Now() >= context->deadline) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the deadline passed before the write was logged; nothing was logged");
  }
  absl::Status logged = writer->Write(&ops, request.sync(), &written, first_seq);
  if (!logged.ok()) return ToGrpc(logged);
  for (size_t k = 0; k < written.size(); ++k) (*results)[where[k]] = std::move(written[k]);
  return grpc::Status::OK;
}

grpc::Status IndexService::Write(const CallContext* context, const v1::WriteRequest& request,
                                 v1::WriteResponse* response) const {
  std::vector<absl::Status> results;
  uint64_t seq = 0;
  grpc::Status s = Apply(request, context, &results, &seq);
  if (!s.ok()) return s;
  if (options_.after_write) options_.after_write();
  for (const absl::Status& r : results) {
    v1::OperationResult* out = response->add_results();
    out->set_code(CodeName(r));
    if (r.ok()) {
      out->set_seq(seq++);
    } else {
      out->set_message(std::string(r.message()));
    }
  }
  return grpc::Status::OK;
}

grpc::Status IndexService::WriteBatch(const v1::WriteRequest& request, uint64_t first_index,
                                      v1::WriteStreamResponse* response) const {
  std::vector<absl::Status> results;
  uint64_t seq = 0;
  grpc::Status s = Apply(request, nullptr, &results, &seq);
  if (!s.ok()) return s;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      response->set_accepted(response->accepted() + 1);
      response->set_last_seq(seq++);
      continue;
    }
    response->set_refused(response->refused() + 1);
    if (response->failures_size() < kMaxListedFailures) {
      v1::OperationFailure* f = response->add_failures();
      f->set_index(first_index + i);
      f->set_code(CodeName(results[i]));
      f->set_message(std::string(results[i].message()));
    }
  }
  return grpc::Status::OK;
}

grpc::Status IndexService::Refresh(const CallContext* /*context*/,
                                   const v1::RefreshRequest& /*request*/,
                                   v1::RefreshResponse* response) const {
  LiveWriter* writer = nullptr;
  grpc::Status ready = Writer(&writer);
  if (!ready.ok()) return ready;
  absl::StatusOr<uint64_t> applied = writer->Refresh();
  if (!applied.ok()) return ToGrpc(applied.status());
  response->set_applied(*applied);
  return grpc::Status::OK;
}

grpc::Status IndexService::Commit(const CallContext* /*context*/,
                                  const v1::CommitRequest& /*request*/,
                                  v1::CommitResponse* response) const {
  LiveWriter* writer = nullptr;
  grpc::Status ready = Writer(&writer);
  if (!ready.ok()) return ready;
  const uint64_t last = writer->log()->next_seq() - 1;
  absl::Status synced = writer->Commit();
  if (!synced.ok()) return ToGrpc(synced);
  response->set_last_seq(last);
  return grpc::Status::OK;
}

grpc::Status IndexService::CallJson(Method method, const CallContext& context,
                                    const std::string& json_in, std::string* json_out) const {
  switch (method) {
    case Method::kWrite:
      return RunJson(Metrics::kWrite, &IndexService::Write, context, json_in, json_out);
    case Method::kRefresh:
      return RunJson(Metrics::kRefresh, &IndexService::Refresh, context, json_in, json_out);
    case Method::kCommit:
      return RunJson(Metrics::kCommit, &IndexService::Commit, context, json_in, json_out);
  }
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such method");
}

}  // namespace scry::server
