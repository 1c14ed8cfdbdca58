// storage/verify.h on a real index of the sample corpus: sound as built, and
// every kind of damage reported with where it is: a flipped byte in a data
// block of the postings (found by its checksum), a truncated file, a missing
// shard, and lists that checksums cannot catch (a TermInfo whose df lies, a
// chunk of no term), written into the shard's RocksDB behind its back.
#include "storage/verify.h"

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "rocksdb/db.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/posting_format.h"
#include "storage/rocks_util.h"
#include "tests/fault_fs.h"
#include "tests/test_util.h"

namespace scry::storage {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    indexer::BuildOptions options;
    options.inputs = {scry::testing::TestDataDir() + "/sample.jsonl"};
    options.index_dir = dir_->Sub("pristine");
    options.num_shards = 2;
    options.threads = 2;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // A copy of the pristine index to damage; returns its live generation path.
  std::string Copy() {
    fs::copy(dir_->Sub("pristine"), index_, fs::copy_options::recursive);
    auto gen = LiveGeneration(index_);
    EXPECT_THAT(gen, IsOk());
    return *gen;
  }

  static std::string Problems(const VerifyReport& report) {
    return absl::StrJoin(report.problems, "\n");
  }

  static TempDir* dir_;
  TempDir own_;
  const std::string index_ = own_.Sub("index");
};
TempDir* VerifyTest::dir_ = nullptr;

TEST_F(VerifyTest, FreshIndexIsSound) {
  Copy();
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << Problems(*report);
  EXPECT_EQ(report->shards, 2u);
  EXPECT_EQ(report->docs, 4522u);
  EXPECT_GT(report->files, 6u);
  EXPECT_GT(report->terms, 1000u);
  EXPECT_GT(report->postings, report->docs);
  EXPECT_THAT(report->Summary(), HasSubstr("ok: 2 shards"));
}

TEST_F(VerifyTest, NoIndexIsAnError) {
  EXPECT_THAT(VerifyIndex(own_.Sub("nothing")),
              scry::testing::StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(VerifyTest, FlippedByteInAPostingsBlockIsFoundByItsChecksum) {
  const std::string gen = Copy();
  auto files = scry::testing::SstFilesOf(gen + "/shard-001", kPostingsCf);
  ASSERT_EQ(files.size(), 1u);
  ASSERT_GT(files[0].data_bytes, 16u << 10);  // several data blocks
  scry::testing::FlipByte(files[0].path, files[0].data_bytes / 2);
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  ASSERT_FALSE(report->ok());
  const std::string file = fs::path(files[0].path).filename().string();
  EXPECT_THAT(report->problems[0], HasSubstr("shard-001 postings file " + file));
  EXPECT_THAT(report->problems[0], HasSubstr("checksum mismatch"));
  EXPECT_THAT(report->Summary(), HasSubstr("DAMAGED"));
  // The list walk meets the bad block too, and names the column family.
  EXPECT_THAT(Problems(*report), HasSubstr("shard-001 postings unreadable"));
  EXPECT_THAT(Problems(*report), ::testing::Not(HasSubstr("shard-000")));
}

TEST_F(VerifyTest, TruncatedFileIsReported) {
  const std::string gen = Copy();
  auto files = scry::testing::SstFilesOf(gen + "/shard-000", kTermsCf);
  ASSERT_EQ(files.size(), 1u);
  fs::resize_file(files[0].path, files[0].size / 2);
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  ASSERT_FALSE(report->ok());
  EXPECT_THAT(report->problems[0], HasSubstr("shard-000"));
  EXPECT_THAT(Problems(*report), HasSubstr(fs::path(files[0].path).filename().string()));
}

TEST_F(VerifyTest, MissingShardIsReported) {
  const std::string gen = Copy();
  fs::remove_all(gen + "/shard-001");
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(Problems(*report), HasSubstr("shard-001: missing"));
}

// Writes into a shard's RocksDB directly: damage with good checksums.
void PutRaw(const std::string& shard, const char* cf, const std::string& key,
            const std::string& value) {
  rocksdb::DBOptions options;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::Open(options, shard, internal::CfDescriptors(8 << 20), &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  int index = 0;
  for (int i = 0; i < kNumColumnFamilies; ++i) {
    if (std::string_view(kColumnFamilies[i]) == cf) index = i;
  }
  EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[index], key, value).ok());
  EXPECT_TRUE(db->Flush(rocksdb::FlushOptions(), handles[index]).ok());
  for (auto* h : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  EXPECT_TRUE(db->Close().ok());
}

std::string Get(const std::string& shard, const char* cf, const std::string& key) {
  rocksdb::DBOptions options;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  EXPECT_TRUE(
      rocksdb::DB::OpenForReadOnly(options, shard, internal::CfDescriptors(8 << 20), &handles, &raw)
          .ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  for (int i = 0; i < kNumColumnFamilies; ++i) {
    if (std::string_view(kColumnFamilies[i]) == cf) {
      EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), handles[i], key, &value).ok()) << key;
    }
  }
  for (auto* h : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  return value;
}

TEST_F(VerifyTest, ListsThatLieAreReportedByTerm) {
  const std::string gen = Copy();
  const std::string shard = gen + "/shard-000";
  // "the": a long list (chunks in the postings column family).
  auto info = TermInfo::Decode(Get(shard, kTermsCf, TermKey(kTextField, "the")));
  ASSERT_THAT(info, IsOk());
  ASSERT_FALSE(info->is_inline());
  info->df += 1;
  PutRaw(shard, kTermsCf, TermKey(kTextField, "the"), info->Encode());
  PutRaw(shard, kPostingsCf, ChunkKey(kTextField, "zzzzqx", 0), "junk");
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(Problems(*report), HasSubstr("shard-000 postings \"the\": df "));
  EXPECT_THAT(Problems(*report), HasSubstr("shard-000 postings key \"\\x00zzzzqx"));
  EXPECT_THAT(Problems(*report), HasSubstr("belongs to no term"));
  EXPECT_THAT(Problems(*report), ::testing::Not(HasSubstr("checksum")));
}

TEST_F(VerifyTest, TitlesThatDisagreeWithTheDocumentsAreReported) {
  const std::string gen = Copy();
  const std::string shard = gen + "/shard-001";
  // Document 3 gets another title; document 5's title is removed.
  std::string title = Get(shard, kTitlesCf, DocKey(3));
  ASSERT_FALSE(title.empty());
  PutRaw(shard, kTitlesCf, DocKey(3), title + " (changed)");
  PutRaw(shard, kTitlesCf, DocKey(5), "");
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(Problems(*report),
              HasSubstr("shard-001 titles docid 3: the title is not the stored document's"));
  EXPECT_THAT(Problems(*report), HasSubstr("docid 5: the title is not the stored document's"));
}

TEST_F(VerifyTest, AFormat5IndexWithoutTitlesIsSound) {
  Copy();
  scry::testing::DowngradeToFormat5(index_);
  auto report = VerifyIndex(index_);
  ASSERT_THAT(report, IsOk());
  EXPECT_TRUE(report->ok()) << Problems(*report);
  EXPECT_EQ(report->docs, 4522u);
}

}  // namespace
}  // namespace scry::storage
