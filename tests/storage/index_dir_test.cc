// File: tests/storage/index_dir_test.cc
//
// Tests for storage/index_dir.h: the MANIFEST records the analyser settings
// (language, stopwords) and reads back what was committed; manifests written
// before the stopwords key read as stopwords off.
#include "storage/index_dir.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/keys.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
using ::testing::HasSubstr;

// Commits an (empty-shard) generation with `manifest` into `dir` and returns
// the live generation's path.
std::string CommitManifest(const std::string& dir, const IndexManifest& manifest) {
  absl::StatusOr<std::unique_ptr<IndexBuild>> build = IndexBuild::Begin(dir);
  EXPECT_THAT(build, IsOk());
  if (!build.ok()) return "";
  EXPECT_THAT((*build)->Commit(manifest), IsOk());
  absl::StatusOr<std::string> live = LiveGeneration(dir);
  EXPECT_THAT(live, IsOk());
  return live.ok() ? *live : "";
}

IndexManifest SampleManifest(std::string language, bool stopwords) {
  IndexManifest m;
  m.format_version = kFormatVersion;
  m.num_shards = 3;
  m.language = std::move(language);
  m.stopwords = stopwords;
  m.docs = 1234;
  return m;
}

TEST(IndexManifest, RoundTripsLanguageAndStopwords) {
  scry::testing::TempDir tmp;
  const std::string dir = tmp.Sub("idx");
  for (bool stopwords : {true, false}) {
    SCOPED_TRACE(stopwords);
    const std::string gen = CommitManifest(dir, SampleManifest("russian", stopwords));
    ASSERT_FALSE(gen.empty());
    EXPECT_THAT(scry::testing::ReadFile(gen + "/MANIFEST"),
                HasSubstr(stopwords ? "\nstopwords=on\n" : "\nstopwords=off\n"));
    absl::StatusOr<IndexManifest> m = ReadManifest(gen);
    ASSERT_THAT(m, IsOk());
    EXPECT_EQ(m->format_version, kFormatVersion);
    EXPECT_EQ(m->num_shards, 3u);
    EXPECT_EQ(m->language, "russian");
    EXPECT_EQ(m->stopwords, stopwords);
    EXPECT_EQ(m->docs, 1234u);
  }
}

TEST(IndexManifest, OldManifestWithoutStopwordsReadsAsOff) {
  scry::testing::TempDir tmp;
  const std::string gen = CommitManifest(tmp.Sub("idx"), SampleManifest("german", true));
  ASSERT_FALSE(gen.empty());
  // The manifest as written before the key existed.
  scry::testing::WriteFile(gen + "/MANIFEST", absl::StrCat("format_version=", kFormatVersion,
                                                           "\nshards=3\nlanguage=german\n"
                                                           "docs=1234\n"));
  absl::StatusOr<IndexManifest> m = ReadManifest(gen);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->language, "german");
  EXPECT_FALSE(m->stopwords);
  EXPECT_EQ(m->docs, 1234u);
}

TEST(IndexManifest, BadStopwordsValueIsDataLoss) {
  scry::testing::TempDir tmp;
  const std::string gen = CommitManifest(tmp.Sub("idx"), SampleManifest("english", false));
  ASSERT_FALSE(gen.empty());
  scry::testing::WriteFile(gen + "/MANIFEST", absl::StrCat("format_version=", kFormatVersion,
                                                           "\nshards=3\nlanguage=english\n"
                                                           "stopwords=maybe\ndocs=1\n"));
  EXPECT_THAT(ReadManifest(gen), StatusIs(absl::StatusCode::kDataLoss, "stopwords"));
}

}  // namespace
}  // namespace scry::storage
