// File: query/analyzer_pool.h
//
// Analyzers of one index for the searches running at once: an Analyzer is
// not thread-safe and costs an allocation or two to clone, so each search
// borrows one (to parse its query, or to cut snippets) and gives it back.
//
// Thread safety: Acquire and Release are safe to call concurrently.
#ifndef SCRY_QUERY_ANALYZER_POOL_H_
#define SCRY_QUERY_ANALYZER_POOL_H_

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "analysis/analyzer.h"

namespace scry::query {

class AnalyzerPool {
 public:
  // REQUIRES: prototype not null.
  explicit AnalyzerPool(std::unique_ptr<analysis::Analyzer> prototype)
      : prototype_(std::move(prototype)) {}
  AnalyzerPool(const AnalyzerPool&) = delete;
  AnalyzerPool& operator=(const AnalyzerPool&) = delete;

  // An analyzer like the prototype, or nullptr if none can be made.
  std::unique_ptr<analysis::Analyzer> Acquire() const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto a = std::move(free_.back());
        free_.pop_back();
        return a;
      }
    }
    return prototype_->Clone();
  }
  // Gives back an analyzer from Acquire.
  void Release(std::unique_ptr<analysis::Analyzer> analyzer) const {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(analyzer));
  }

 private:
  std::unique_ptr<analysis::Analyzer> prototype_;
  // A std::mutex, not absl::Mutex: Debian's Abseil runs absl::Mutex's
  // deadlock detection (GraphCycles, about 1.5% of a server's search
  // profile) on every lock; this one is taken twice per search.
  mutable std::mutex mu_;
  mutable std::vector<std::unique_ptr<analysis::Analyzer>> free_;  // guarded by mu_
};

}  // namespace scry::query

#endif  // SCRY_QUERY_ANALYZER_POOL_H_
