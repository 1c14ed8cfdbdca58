// File: server/async_workers.h
//
// SearchService on gRPC's asynchronous API (`--grpc-api async`): threads of
// our own wait on one server completion queue, and the thread that takes a
// call from it answers it, search included, then waits again. The thread
// that waits is also the one that polls the sockets (gRPC's completion
// queues poll in the caller's thread), so a call goes from the socket to the
// answer on one thread, with no hand-off to a callback or pool thread and no
// other thread woken for it (the callback API of gRPC 1.51 runs callbacks on
// two "nexting" threads that take turns polling, and a call's events
// alternate between them; see bench/RESULTS.md run 8).
//
// Each method has one outstanding request per worker thread, so at most
// `threads` calls of a method run at once; later calls wait in gRPC's queue
// (bounded by their deadlines) until a thread is free. The health service
// and server reflection stay on gRPC's own threads, so a liveness probe never
// waits behind searches.
//
// Cancellation: each call asks gRPC to report when it is done
// (AsyncNotifyWhenDone), so ServerContext::IsCancelled is a flag read and a
// search stops soon after its client goes away.
//
// Thread safety: Start once, then Shutdown once, after grpc::Server::Shutdown
// (gRPC requires the server to shut down before its completion queues).
#ifndef SCRY_SERVER_ASYNC_WORKERS_H_
#define SCRY_SERVER_ASYNC_WORKERS_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "grpcpp/completion_queue.h"
#include "server/search_service.h"

namespace scry::server {

class AsyncWorkers {
 public:
  // `service` must be built with GrpcApi::kAsync and registered with the
  // builder that made `cq` (ServerBuilder::AddCompletionQueue). threads >= 1.
  AsyncWorkers(SearchService* service, std::unique_ptr<grpc::ServerCompletionQueue> cq,
               int threads);
  ~AsyncWorkers();  // Shutdown() if not done
  AsyncWorkers(const AsyncWorkers&) = delete;
  AsyncWorkers& operator=(const AsyncWorkers&) = delete;

  // Requests the first calls and starts the threads. After BuildAndStart.
  void Start();

  // Stops asking for new calls (calls already taken are answered). Before
  // grpc::Server::Shutdown.
  void StopAccepting() { accepting_.store(false, std::memory_order_release); }

  // Shuts the completion queue down, lets the threads drain it and joins
  // them. REQUIRES: the grpc::Server is shut down. Idempotent.
  void Shutdown();

  int threads() const { return threads_; }

 private:
  class Call;
  void Run();
  // Keeps a call whose request failed (the server is shutting down) until
  // the queue is drained: gRPC may or may not still deliver its done tag.
  void Orphan(Call* call);

  SearchService* service_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  int threads_;
  std::vector<std::thread> workers_;
  std::atomic<bool> accepting_{true};
  std::mutex mu_;
  std::vector<std::unique_ptr<Call>> orphans_;  // guarded by mu_
  bool started_ = false, shut_down_ = false;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_ASYNC_WORKERS_H_
