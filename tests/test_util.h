// File: tests/test_util.h
//
// Helpers for scry tests: Status matchers that print the message, temporary
// directories that clean up after themselves, and seeded randomness.
#ifndef SCRY_TESTS_TEST_UTIL_H_
#define SCRY_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <filesystem>
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

// The `n` most frequent words of the file at `path` (runs of ASCII letters,
// lower-cased, 3 to 12 letters, none of `excluded`), most frequent first,
// ties in byte order: the material of slow queries.
std::vector<std::string> MostFrequentWords(const std::string& path, size_t n,
                                           const std::vector<std::string>& excluded);

// Commits into the index directory `dir` a generation that cannot be served:
// its MANIFEST names `shards` shards that are not there (a damaged build).
absl::Status CommitDamagedGeneration(const std::string& dir, uint32_t shards);

// Directory of the test data committed in tests/data.
inline std::string TestDataDir() { return SCRY_TEST_DATA_DIR; }

// Makes the index at `index_dir` look as format 5 wrote it: no `titles`
// column family, format_version 5 in every shard and in the manifest (for
// tests that older indexes still open). Fails the test on error.
void DowngradeToFormat5(const std::string& index_dir);

}  // namespace scry::testing

#endif  // SCRY_TESTS_TEST_UTIL_H_
