#include "query/thread_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace scry::query {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (size_t workers : {0, 1, 3}) {
    ThreadPool pool(workers);
    for (size_t n : {0, 1, 2, 7, 100}) {
      std::vector<std::atomic<int>> runs(n);
      pool.RunAll(n, [&](size_t i) { runs[i].fetch_add(1); });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i].load(), 1) << workers << " " << n;
    }
  }
}

TEST(ThreadPool, ManyCallersAtOnce) {
  ThreadPool pool(2);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&] {
      for (int r = 0; r < 200; ++r)
        pool.RunAll(5, [&](size_t i) { total += static_cast<long>(i); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 8L * 200 * (0 + 1 + 2 + 3 + 4));
}

}  // namespace
}  // namespace scry::query
