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
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
      absl::MutexLock lock(&mu_);
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
    absl::MutexLock lock(&mu_);
    free_.push_back(std::move(analyzer));
  }

 private:
  std::unique_ptr<analysis::Analyzer> prototype_;
  mutable absl::Mutex mu_;
  mutable std::vector<std::unique_ptr<analysis::Analyzer>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace scry::query

#endif  // SCRY_QUERY_ANALYZER_POOL_H_
