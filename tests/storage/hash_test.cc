// The shard routing hash is an on-disk contract: pin it to FNV-1a test vectors.
#include "storage/hash.h"

#include "gtest/gtest.h"

namespace scry::storage {
namespace {

TEST(Hash, Fnv1a64KnownVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
  static_assert(Fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
}

TEST(Hash, ShardForIdIsStableAndInRange) {
  EXPECT_EQ(ShardForId("foobar", 1), 0u);
  EXPECT_EQ(ShardForId("foobar", 7), 0x85944171f73967e8ULL % 7);
  for (uint32_t n = 1; n < 50; ++n) EXPECT_LT(ShardForId("doc-42", n), n);
}

}  // namespace
}  // namespace scry::storage
