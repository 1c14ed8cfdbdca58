// File: tests/query/deadline_test.cc
//
// Tests for query/deadline.h: a deadline expires once its time has passed and
// stays expired; the cancellation callback stops the query, yet is asked at
// most once per kCancelCheckInterval however often the loops poll (it can be
// costly: a gRPC ServerContext's IsCancelled polls a completion queue);
// ExpiredNow reads the clock at once.
#include "query/deadline.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace scry::query {
namespace {

TEST(Deadline, UnlimitedNeverExpires) {
  Deadline d;
  EXPECT_TRUE(d.unlimited());
  for (int i = 0; i < 10000; ++i) ASSERT_FALSE(d.Expired());
  EXPECT_TRUE(d.status().ok());
}

TEST(Deadline, ExpiresAfterItsTimeAndStaysExpired) {
  Deadline d(absl::Now() + absl::Milliseconds(20));
  EXPECT_FALSE(d.Expired());
  absl::SleepFor(absl::Milliseconds(30));
  bool expired = false;
  for (int i = 0; i <= Deadline::kStride && !expired; ++i) expired = d.Expired();
  EXPECT_TRUE(expired);
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// ExpiredNow reads the clock at once, where Expired waits for its stride.
TEST(Deadline, ExpiredNowReadsTheClockAtOnce) {
  Deadline d(absl::Now() + absl::Milliseconds(20));
  EXPECT_FALSE(d.Expired());  // the first poll reads the clock
  EXPECT_FALSE(d.ExpiredNow());
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_FALSE(d.Expired());  // within the stride: the clock is not read
  EXPECT_TRUE(d.ExpiredNow());
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(Deadline().ExpiredNow());
}

TEST(Deadline, CancellationIsAskedAtMostOncePerInterval) {
  int asked = 0;
  bool cancel = false;
  Deadline d(absl::InfiniteFuture(), [&] {
    ++asked;
    return cancel;
  });
  const absl::Time start = absl::Now();
  int polls = 0;
  while (absl::Now() - start < absl::Milliseconds(5)) {
    ASSERT_FALSE(d.Expired());
    ++polls;
  }
  EXPECT_GT(polls, 10 * Deadline::kStride);  // many clock reads...
  EXPECT_GE(asked, 1);
  EXPECT_LE(asked, 6 + 1);  // ...but about one question per millisecond
  cancel = true;
  absl::SleepFor(Deadline::kCancelCheckInterval);
  bool stopped = false;
  for (int i = 0; i <= Deadline::kStride && !stopped; ++i) stopped = d.Expired();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace scry::query
