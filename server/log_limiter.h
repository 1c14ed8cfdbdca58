// File: server/log_limiter.h
//
// A log line that a client can cause (an unauthenticated call, a damaged
// block met by a query) must not let that client fill the server's log:
// LogLimiter lets at most one line through per interval and counts the ones
// it holds back, so the next line that goes out says how many were dropped.
//
//   static LogLimiter limiter(absl::Seconds(1));
//   if (uint64_t dropped; limiter.Allow(&dropped)) Log(line, dropped);
//
// Thread safety: Allow may be called concurrently.
#ifndef SCRY_SERVER_LOG_LIMITER_H_
#define SCRY_SERVER_LOG_LIMITER_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scry::server {

class LogLimiter {
 public:
  // `now` is the clock (absl::Now unless a test gives another).
  explicit LogLimiter(absl::Duration interval, std::function<absl::Time()> now = absl::Now)
      : interval_(interval), now_(std::move(now)) {}

  // Whether a line may go out now; if so, *dropped gets the number of lines
  // held back since the last one that went out.
  bool Allow(uint64_t* dropped) {
    const absl::Time now = now_();
    std::lock_guard<std::mutex> lock(mu_);
    if (now < next_) {
      ++dropped_;
      return false;
    }
    next_ = now + interval_;
    *dropped = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  const absl::Duration interval_;
  const std::function<absl::Time()> now_;
  std::mutex mu_;
  absl::Time next_ = absl::InfinitePast();
  uint64_t dropped_ = 0;
};

}  // namespace scry::server

#endif  // SCRY_SERVER_LOG_LIMITER_H_
