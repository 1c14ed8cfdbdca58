// File: tests/storage/index_dir_test.cc
//
// Tests for storage/index_dir.h: the MANIFEST records the analyser settings
// (language, stopwords) and the build id, and reads back what was committed;
// manifests written before the stopwords key read as stopwords off, before
// the build_id key as no build id. New build ids are 32 hex digits and
// differ; an assembly's is a fixed function of its parts' set. Generation
// leases: a build
// never removes a generation a reader holds (in this process or another, even
// one killed by SIGKILL, whose lease the kernel ends), and the leftovers go
// once released.
#include "storage/index_dir.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
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
  EXPECT_EQ(m->build_id, "");  // unknown, not the generation's name
}

bool IsBuildId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(IndexManifest, RecordsTheBuildId) {
  scry::testing::TempDir tmp;
  IndexManifest with_id = SampleManifest("english", false);
  with_id.build_id = NewBuildId();
  const std::string gen = CommitManifest(tmp.Sub("idx"), with_id);
  ASSERT_FALSE(gen.empty());
  EXPECT_THAT(scry::testing::ReadFile(gen + "/MANIFEST"),
              HasSubstr(absl::StrCat("\nbuild_id=", with_id.build_id, "\n")));
  absl::StatusOr<IndexManifest> m = ReadManifest(gen);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->build_id, with_id.build_id);
  // A manifest without one (a generation committed without an id) writes
  // no key.
  const std::string without = CommitManifest(tmp.Sub("idx"), SampleManifest("english", false));
  EXPECT_THAT(scry::testing::ReadFile(without + "/MANIFEST"),
              ::testing::Not(HasSubstr("build_id")));
}

TEST(BuildId, NewIdsAre128RandomBitsInHex) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewBuildId();
    EXPECT_TRUE(IsBuildId(id)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST(BuildId, AnAssemblysIdIsAFunctionOfItsPartsSet) {
  const std::string a = NewBuildId(), b = NewBuildId(), c = NewBuildId();
  const std::string abc = AssembledBuildId({a, b, c});
  EXPECT_TRUE(IsBuildId(abc)) << abc;
  EXPECT_EQ(AssembledBuildId({c, a, b}), abc);  // in any order
  EXPECT_NE(AssembledBuildId({a, b}), abc);
  EXPECT_NE(AssembledBuildId({a, b, NewBuildId()}), abc);
  EXPECT_NE(abc, a);
  // Pinned: machines with other scry binaries that assemble the same parts
  // must agree (storage/hash.h's FNV-1a, never a process-seeded hash).
  EXPECT_EQ(
      AssembledBuildId({"00000000000000000000000000000002", "00000000000000000000000000000001"}),
      "9f40f68e5a073620646882a5d8fef873");
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

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

TEST(GenerationLease, ABuildKeepsALeasedGenerationUntilReleased) {
  scry::testing::TempDir tmp;
  const std::string dir = tmp.Sub("idx");
  const std::string first = CommitManifest(dir, SampleManifest("english", false));
  ASSERT_FALSE(first.empty());
  absl::StatusOr<std::unique_ptr<GenerationLease>> lease = GenerationLease::AcquireLive(dir);
  ASSERT_THAT(lease, IsOk());
  EXPECT_EQ((*lease)->path(), first);
  EXPECT_EQ((*lease)->name(), CurrentGenerationName(dir));

  const std::string second = CommitManifest(dir, SampleManifest("english", false));
  ASSERT_NE(second, first);
  EXPECT_TRUE(Exists(first + "/MANIFEST")) << "a leased generation was removed";
  // Still leased: clean-up leaves it too.
  absl::StatusOr<std::vector<std::string>> removed = RemoveUnusedGenerations(dir);
  ASSERT_THAT(removed, IsOk());
  EXPECT_TRUE(removed->empty());
  EXPECT_TRUE(Exists(first));

  lease->reset();
  removed = RemoveUnusedGenerations(dir);
  ASSERT_THAT(removed, IsOk());
  EXPECT_THAT(*removed, ::testing::ElementsAre(std::filesystem::path(first).filename().string()));
  EXPECT_FALSE(Exists(first));
  EXPECT_FALSE(Exists(first + ".lease"));
  EXPECT_TRUE(Exists(second + "/MANIFEST"));
}

TEST(GenerationLease, AnUnleasedGenerationGoesAtTheSwitch) {
  scry::testing::TempDir tmp;
  const std::string dir = tmp.Sub("idx");
  const std::string first = CommitManifest(dir, SampleManifest("english", false));
  {
    absl::StatusOr<std::unique_ptr<GenerationLease>> lease = GenerationLease::AcquireLive(dir);
    ASSERT_THAT(lease, IsOk());
  }
  const std::string second = CommitManifest(dir, SampleManifest("english", false));
  EXPECT_FALSE(Exists(first));
  EXPECT_FALSE(Exists(first + ".lease"));
  EXPECT_TRUE(Exists(second));
}

TEST(GenerationLease, CleanUpLeavesNewerGenerationsToTheirBuild) {
  scry::testing::TempDir tmp;
  const std::string dir = tmp.Sub("idx");
  const std::string first = CommitManifest(dir, SampleManifest("english", false));
  auto lease = GenerationLease::AcquireLive(dir);
  ASSERT_THAT(lease, IsOk());
  const std::string second = CommitManifest(dir, SampleManifest("english", false));
  // A build that has renamed its finished generation into place but not yet
  // switched CURRENT (as a build killed between the two leaves it).
  const std::string third = absl::StrCat(dir, "/gen-000009");
  std::filesystem::create_directories(third);
  scry::testing::WriteFile(third + "/MANIFEST", "");
  lease->reset();
  // Clean-up takes no lock, so a build in progress is not disturbed...
  auto build = IndexBuild::Begin(dir);
  ASSERT_THAT(build, IsOk());
  auto removed = RemoveUnusedGenerations(dir);
  ASSERT_THAT(removed, IsOk());
  EXPECT_EQ(removed->size(), 1u);
  EXPECT_FALSE(Exists(first));
  EXPECT_TRUE(Exists(second));
  // ...and leaves generations newer than CURRENT's to the next commit.
  EXPECT_TRUE(Exists(third));
  ASSERT_THAT((*build)->Commit(SampleManifest("english", false)), IsOk());
  EXPECT_FALSE(Exists(second));
  EXPECT_FALSE(Exists(third));
}

TEST(GenerationLease, TheLeaseOfAKilledReaderEnds) {
  scry::testing::TempDir tmp;
  const std::string dir = tmp.Sub("idx");
  const std::string first = CommitManifest(dir, SampleManifest("english", false));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lease = GenerationLease::AcquireLive(dir);
    const char c = lease.ok() ? 'y' : 'n';
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(c, 'y');
  CommitManifest(dir, SampleManifest("english", false));
  EXPECT_TRUE(Exists(first)) << "leased by the child";
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  auto removed = RemoveUnusedGenerations(dir);
  ASSERT_THAT(removed, IsOk());
  EXPECT_EQ(removed->size(), 1u);
  EXPECT_FALSE(Exists(first));
}

TEST(GenerationLease, NoIndexIsFailedPrecondition) {
  scry::testing::TempDir tmp;
  EXPECT_THAT(GenerationLease::AcquireLive(tmp.Sub("none")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "no scry index"));
}

}  // namespace
}  // namespace scry::storage
