// File: tests/test_util.h
//
// Helpers for scry tests: Status matchers that print the message, temporary
// directories that clean up after themselves, and seeded randomness (fixed
// seeds, or new ones from the environment variable SCRY_TEST_SEED).
#ifndef SCRY_TESTS_TEST_UTIL_H_
#define SCRY_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace scry::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, substr,
           "has code " + absl::StatusCodeToString(code) + " and message containing " +
               ::testing::PrintToString(substr)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code && std::string(s.message()).find(substr) != std::string::npos;
}

#define SCRY_ASSERT_OK(expr) ASSERT_THAT((expr), ::scry::testing::IsOk())
#define SCRY_EXPECT_OK(expr) EXPECT_THAT((expr), ::scry::testing::IsOk())

// A fresh, empty directory under $TMPDIR (or /tmp), removed with its contents
// when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Writes `contents` to `path`, replacing it. Aborts the test on failure.
void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

// The total hits of `query` (exact) in the index at `index_dir`, opened with
// default options: the search errors or the open's.
absl::StatusOr<uint64_t> TotalHits(const std::string& index_dir, const std::string& query);

// The `n` most frequent words of the file at `path` (runs of ASCII letters,
// lower-cased, 3 to 12 letters, none of `excluded`), most frequent first,
// ties in byte order: the material of slow queries.
std::vector<std::string> MostFrequentWords(const std::string& path, size_t n,
                                           const std::vector<std::string>& excluded);

// Commits into the index directory `dir` a generation that cannot be served:
// its MANIFEST names `shards` shards that are not there (a damaged build).
absl::Status CommitDamagedGeneration(const std::string& dir, uint32_t shards);

// The seed of a randomized test: `fixed` (the seed the test has always used)
// unless the environment variable SCRY_TEST_SEED is set and not empty; then
// a seed mixed from its value (any text, e.g. a number) and `fixed`, so each
// call site still gets a seed of its own and one value of SCRY_TEST_SEED
// reproduces a run. Use it with SCRY_SEED_TRACE so that a failure names the
// seed:
//   const uint32_t seed = TestSeed(7);
//   SCRY_SEED_TRACE(seed);
//   std::mt19937 rng(seed);
uint32_t TestSeed(uint32_t fixed);

// "seed S (SCRY_TEST_SEED=V ...)": what SCRY_SEED_TRACE adds to failures.
std::string SeedDescription(uint32_t seed);

// Adds the seed, and the SCRY_TEST_SEED that gave it, to every failure in
// the current scope (a SCOPED_TRACE).
#define SCRY_SEED_TRACE(seed) SCOPED_TRACE(::scry::testing::SeedDescription(seed))

// Declares `std::mt19937 rng` seeded with TestSeed(fixed), its seed in
// failures of the current scope (SCRY_SEED_TRACE).
#define SCRY_SEEDED_RNG(rng, fixed)                             \
  const uint32_t rng##_seed = ::scry::testing::TestSeed(fixed); \
  SCRY_SEED_TRACE(rng##_seed);                                  \
  std::mt19937 rng(rng##_seed)

// Directory of the test data committed in tests/data.
inline std::string TestDataDir() { return SCRY_TEST_DATA_DIR; }

// Makes the index at `index_dir` look as format `version` (5 to 7) wrote
// it: format_version `version` in every shard and in the manifest, no meta
// "typed" (format 8), no meta "pairs" (format 7) below 7, no `titles`
// column family (format 6) if 5. For tests that older indexes still open;
// build the index without pairs (BuildOptions::common_terms 0) below 7 and
// without a schema first. Fails the test on error.
void DowngradeToFormat(const std::string& index_dir, uint32_t version);
inline void DowngradeToFormat5(const std::string& index_dir) { DowngradeToFormat(index_dir, 5); }

// A plain TCP connection to 127.0.0.1:`port` (blocking, close-on-exec)
// that has sent nothing, connected within 2 s; -1 if not.
int ConnectLoopback(int port);

}  // namespace scry::testing

#endif  // SCRY_TESTS_TEST_UTIL_H_
