// File: tests/server/log_limiter_test.cc
//
// LogLimiter lets one line through per interval and counts the rest.
#include "server/log_limiter.h"

#include "gtest/gtest.h"

namespace scry::server {
namespace {

TEST(LogLimiterTest, OneLinePerIntervalAndTheCountOfTheRest) {
  absl::Time now = absl::UnixEpoch();
  LogLimiter limiter(absl::Seconds(1), [&] { return now; });
  uint64_t dropped = 99;
  ASSERT_TRUE(limiter.Allow(&dropped));
  EXPECT_EQ(dropped, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow(&dropped));
  now += absl::Milliseconds(999);
  EXPECT_FALSE(limiter.Allow(&dropped));
  now += absl::Milliseconds(1);
  ASSERT_TRUE(limiter.Allow(&dropped));
  EXPECT_EQ(dropped, 6u);
  now += absl::Seconds(5);
  ASSERT_TRUE(limiter.Allow(&dropped));
  EXPECT_EQ(dropped, 0u);
}

}  // namespace
}  // namespace scry::server
