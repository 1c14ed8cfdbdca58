// File: query/deadline.h
//
// A query's time budget, polled from the evaluators' loops (once per
// candidate document), so that a query that cannot finish in time stops
// within microseconds of its deadline and frees its thread. Reading the clock
// on every poll would cost more than the work between polls: Expired() reads
// it once every kStride polls, at most a few microseconds of work apart. The
// optional cancellation callback (a gRPC ServerContext's IsCancelled, which
// in the synchronous API polls the call's completion queue: microseconds a
// call) is asked at most once per kCancelCheckInterval of the clock, so a
// cancelled query stops within about a millisecond; asked every kStride
// polls, it cost a phrase query of common words 4x its own time.
//
// Thread safety: one Deadline per thread (each shard of a query gets a copy).
#ifndef SCRY_QUERY_DEADLINE_H_
#define SCRY_QUERY_DEADLINE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace scry::query {

class Deadline {
 public:
  static constexpr int kStride = 64;
  static constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(1);

  // Never expires.
  Deadline() = default;
  // Expires at `when`, or once `cancelled` (may be empty) returns true.
  explicit Deadline(absl::Time when, std::function<bool()> cancelled = nullptr)
      : when_(when), cancelled_(std::move(cancelled)) {}

  // True once the deadline has passed or the query was cancelled; stays true.
  [[nodiscard]] bool Expired() {
    if (state_ != kRunning) return true;
    if (--countdown_ > 0) return false;
    countdown_ = kStride;
    return Check();
  }

  // Expired(), reading the clock at once rather than every kStride polls:
  // for loops whose every turn is long (one hit built).
  [[nodiscard]] bool ExpiredNow() {
    if (state_ != kRunning) return true;
    countdown_ = kStride;
    return Check();
  }

  // Why the query stopped: OK if it did not expire, else DEADLINE_EXCEEDED or
  // CANCELLED.
  [[nodiscard]] absl::Status status() const {
    switch (state_) {
      case kRunning:
        break;
      case kTimedOut:
        return absl::DeadlineExceededError("the query did not finish before its deadline");
      case kCancelled:
        return absl::CancelledError("the query was cancelled");
    }
    return absl::OkStatus();
  }

  [[nodiscard]] bool unlimited() const { return when_ == absl::InfiniteFuture() && !cancelled_; }

 private:
  enum State { kRunning, kTimedOut, kCancelled };

  bool Check() {
    if (unlimited()) return false;
    const absl::Time now = absl::Now();
    if (cancelled_ && now >= next_cancel_check_) {
      next_cancel_check_ = now + kCancelCheckInterval;
      if (cancelled_()) {
        state_ = kCancelled;
        return true;
      }
    }
    if (now >= when_) state_ = kTimedOut;
    return state_ != kRunning;
  }

  absl::Time when_ = absl::InfiniteFuture();
  std::function<bool()> cancelled_;
  absl::Time next_cancel_check_ = absl::InfinitePast();  // the first check asks
  int countdown_ = 1;                                    // the first poll checks
  State state_ = kRunning;
};

}  // namespace scry::query

#endif  // SCRY_QUERY_DEADLINE_H_
