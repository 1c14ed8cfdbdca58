// File: query/thread_pool.h
//
// A fixed-size pool of worker threads for fanning a query out over shards.
// RunAll(n, fn) runs fn(0) .. fn(n-1), on the pool and on the calling thread
// together, and returns when all are done; it never queues unboundedly (the
// caller helps, so a pool busy with other queries still makes progress).
//
// Thread safety: RunAll may be called from many threads at once.
#ifndef SCRY_QUERY_THREAD_POOL_H_
#define SCRY_QUERY_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace scry::query {

class ThreadPool {
 public:
  // `threads` workers (0: none; RunAll then runs everything on the caller).
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void RunAll(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Batch;
  void Work();
  static void Drain(Batch* batch);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Batch>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_THREAD_POOL_H_
