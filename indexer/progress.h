// File: indexer/progress.h
//
// Progress of a build: the elapsed time, and whether a progress line is due
// (at most one every 250 ms) for BuildOptions::progress.
//
// Thread safety: Due and Report from one thread at a time; Elapsed from any.
#ifndef SCRY_INDEXER_PROGRESS_H_
#define SCRY_INDEXER_PROGRESS_H_

#include <chrono>
#include <functional>
#include <string>
#include <utility>

namespace scry::indexer {

class Progress {
 public:
  // `fn` may be null: then no report is ever due.
  explicit Progress(std::function<void(const std::string&)> fn) : fn_(std::move(fn)) {}

  // Whether a report is due now; if so, the next one is due in 250 ms.
  bool Due() {
    if (!fn_) return false;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return false;
    last_ = now;
    return true;
  }
  void Report(const std::string& line) {
    if (fn_) fn_(line);
  }
  // Seconds since construction.
  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  std::function<void(const std::string&)> fn_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::time_point::min();
};

}  // namespace scry::indexer

#endif  // SCRY_INDEXER_PROGRESS_H_
