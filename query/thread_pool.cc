// File: query/thread_pool.cc
#include "query/thread_pool.h"

namespace scry::query {

// One RunAll call: tasks are claimed by index, by workers and the caller.
struct ThreadPool::Batch {
  const std::function<void(size_t)>* fn;
  size_t n;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mu;
  std::condition_variable finished;
};

ThreadPool::ThreadPool(size_t threads) {
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::Drain(Batch* batch) {
  for (size_t i = batch->next.fetch_add(1); i < batch->n; i = batch->next.fetch_add(1)) {
    (*batch->fn)(i);
    if (batch->done.fetch_add(1) + 1 == batch->n) {
      std::lock_guard<std::mutex> lock(batch->mu);
      batch->finished.notify_all();
    }
  }
}

void ThreadPool::Work() {
  for (;;) {
    std::shared_ptr<Batch> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_ && queue_.empty()) return;
      batch = queue_.front();
      queue_.pop_front();
    }
    Drain(batch.get());
  }
}

void ThreadPool::RunAll(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  auto batch = std::make_shared<Batch>();
  batch->fn = &fn;
  batch->n = n;
  if (n > 1 && !workers_.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // One queue entry per helper wanted; each drains until nothing is left.
      for (size_t i = 0; i < std::min(n - 1, workers_.size()); ++i) queue_.push_back(batch);
    }
    cv_.notify_all();
  }
  Drain(batch.get());
  std::unique_lock<std::mutex> lock(batch->mu);
  batch->finished.wait(lock, [&] { return batch->done.load() == n; });
}

}  // namespace scry::query
