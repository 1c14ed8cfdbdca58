// File: server/async_workers.cc
#include "server/async_workers.h"

#include <atomic>
#include <utility>

#include "grpcpp/server_context.h"
#include "grpcpp/support/async_unary_call.h"
#include "grpcpp/support/byte_buffer.h"

namespace scry::server {

// One call of one method, from its request to its end. Its three tags come
// back on the queue: `requested` (a call arrived, or the server is shutting
// down), then `finished` (the answer is sent, or could not be) and `done`
// (gRPC is through with the call, AsyncNotifyWhenDone), in either order.
// The call is deleted when both of the last two are back.
class AsyncWorkers::Call {
 public:
  enum class Event { kRequested, kFinished, kDone };
  struct Tag {
    Call* call;
    Event event;
  };

  Call(AsyncWorkers* workers, int method)
      : workers_(workers), method_(method), responder_(&context_) {}

  // Asks gRPC for the next call of the method.
  void Request() {
    context_.AsyncNotifyWhenDone(&done_);
    workers_->service_->RequestAsyncCall(method_, &context_, &request_, &responder_,
                                         workers_->cq_.get(), &requested_);
  }

  // Handles one event of this call (on a worker thread).
  void Proceed(Event event, bool ok) {
    switch (event) {
      case Event::kRequested: {
        if (!ok) {  // the server is shutting down: no call came
          workers_->Orphan(this);
          return;
        }
        // The next call of the method can be taken at once, by another
        // thread; this one answers this call.
        if (workers_->accepting_.load(std::memory_order_acquire)) {
          (new Call(workers_, method_))->Request();
        }
        grpc::ByteBuffer response;
        const grpc::Status status =
            workers_->service_->HandleCall(method_, &context_, request_, &response);
        if (status.ok()) {
          responder_.Finish(response, status, &finished_);
        } else {
          responder_.FinishWithError(status, &finished_);
        }
        return;
      }
      case Event::kFinished:
      case Event::kDone:
        // Both come back once the call has started; the second deletes.
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
        return;
    }
  }

 private:
  AsyncWorkers* workers_;
  int method_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_;
  std::atomic<int> pending_{2};  // of `finished` and `done`
  Tag requested_{this, Event::kRequested};
  Tag finished_{this, Event::kFinished};
  Tag done_{this, Event::kDone};
};

AsyncWorkers::AsyncWorkers(SearchService* service, std::unique_ptr<grpc::ServerCompletionQueue> cq,
                           int threads)
    : service_(service), cq_(std::move(cq)), threads_(threads < 1 ? 1 : threads) {}

AsyncWorkers::~AsyncWorkers() { Shutdown(); }

void AsyncWorkers::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  // One outstanding request per method and thread: as many calls of a method
  // can run at once as there are threads.
  for (int t = 0; t < threads_; ++t) {
    for (int m = 0; m < service_->num_methods(); ++m) (new Call(this, m))->Request();
  }
  for (int t = 0; t < threads_; ++t) workers_.emplace_back([this] { Run(); });
}

void AsyncWorkers::Run() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_->Next(&tag, &ok)) {
    auto* t = static_cast<Call::Tag*>(tag);
    t->call->Proceed(t->event, ok);
  }
}

void AsyncWorkers::Orphan(Call* call) {
  std::lock_guard<std::mutex> lock(mu_);
  orphans_.emplace_back(call);
}

void AsyncWorkers::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  accepting_.store(false, std::memory_order_release);
  cq_->Shutdown();
  if (workers_.empty()) {
    // Never started: drain here.
    void* tag = nullptr;
    bool ok = false;
    while (cq_->Next(&tag, &ok)) {
      auto* t = static_cast<Call::Tag*>(tag);
      t->call->Proceed(t->event, ok);
    }
  }
  for (std::thread& w : workers_) w.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  orphans_.clear();
}

}  // namespace scry::server
