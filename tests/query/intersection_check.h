// File: tests/query/intersection_check.h
//
// The check of a CursorIntersection walk shared by the tests over shard
// cursors (cursor_intersection_test.cc) and in-memory ones
// (evaluators_test.cc).
#ifndef SCRY_TESTS_QUERY_INTERSECTION_CHECK_H_
#define SCRY_TESTS_QUERY_INTERSECTION_CHECK_H_

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "query/cursor_intersection.h"
#include "tests/test_util.h"

namespace scry::query {

// Walks `cursors` through a CursorIntersection with Next-like targets, or
// with random forward jumps if `jumps`, and checks every answer against the
// sorted docids `expected`, every cursor's docid and tf on each match
// (freq_of(i, docid) for cursor i) and their status at the end.
template <typename Cursor, typename FreqOf>
void CheckIntersection(const std::vector<Cursor*>& cursors, const std::vector<uint32_t>& expected,
                       FreqOf freq_of, bool jumps, std::mt19937* rng) {
  CursorIntersection<Cursor> isect(cursors);
  std::vector<uint32_t> got;
  uint32_t target = 0;
  for (;;) {
    const uint32_t d = isect.NextGeq(target);
    // The reference answer to this very call.
    const auto it = std::lower_bound(expected.begin(), expected.end(), target);
    ASSERT_EQ(d, it == expected.end() ? storage::kEndDocid : *it) << "target " << target;
    if (d == storage::kEndDocid) break;
    got.push_back(d);
    for (size_t c = 0; c < cursors.size(); ++c) {
      ASSERT_EQ(cursors[c]->docid(), d);
      ASSERT_EQ(cursors[c]->freq(), freq_of(c, d));
    }
    target = jumps ? d + 1 + (*rng)() % 3000 : d + 1;
  }
  if (!jumps) {
    EXPECT_EQ(got, expected);
  }
  for (const Cursor* c : cursors) EXPECT_THAT(c->status(), ::scry::testing::IsOk());
  // Exhausted stays exhausted.
  EXPECT_EQ(isect.NextGeq(0), storage::kEndDocid);
}

}  // namespace scry::query

#endif  // SCRY_TESTS_QUERY_INTERSECTION_CHECK_H_
