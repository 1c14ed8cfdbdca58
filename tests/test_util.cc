#include "tests/test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/coding.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/scry_test_XXXXXX";
  char* made = mkdtemp(pattern.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  ASSERT_TRUE(out.good()) << "cannot write " << path;
  out << contents;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> MostFrequentWords(const std::string& path, size_t n,
                                           const std::vector<std::string>& excluded) {
  std::map<std::string, int> counts;
  std::string word;
  for (char c : ReadFile(path) + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      if (word.size() >= 3 && word.size() <= 12 &&
          std::find(excluded.begin(), excluded.end(), word) == excluded.end()) {
        ++counts[word];
      }
      word.clear();
    }
  }
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [w, count] : counts) by_count.emplace_back(-count, w);
  std::sort(by_count.begin(), by_count.end());
  std::vector<std::string> words;
  for (size_t i = 0; i < by_count.size() && i < n; ++i) words.push_back(by_count[i].second);
  return words;
}

absl::Status CommitDamagedGeneration(const std::string& dir, uint32_t shards) {
  SCRY_ASSIGN_OR_RETURN(std::unique_ptr<storage::IndexBuild> build,
                        storage::IndexBuild::Begin(dir));
  storage::IndexManifest m;
  m.format_version = storage::kFormatVersion;
  m.num_shards = shards;
  m.language = "english";
  return build->Commit(m);
}

// Makes the index at `index_dir` look as format 5 wrote it: no `titles`
// column family, format_version 5 in every shard and in the manifest.
void DowngradeToFormat5(const std::string& index_dir) {
  absl::StatusOr<std::string> gen = storage::LiveGeneration(index_dir);
  ASSERT_THAT(gen, IsOk());
  absl::StatusOr<storage::IndexManifest> manifest = storage::ReadManifest(*gen);
  ASSERT_THAT(manifest, IsOk());
  for (uint32_t s = 0; s < manifest->num_shards; ++s) {
    const std::string path = *gen + "/" + storage::ShardDirName(s);
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : storage::kColumnFamilies) cfs.emplace_back(name, rocksdb::Options());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->DropColumnFamily(handles[storage::kTitlesCfIndex]).ok());
    std::string v;
    storage::PutFixed32(&v, 5);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[storage::kMetaCfIndex],
                        storage::kMetaFormatVersion, v)
                    .ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  std::string text = ReadFile(*gen + "/MANIFEST");
  const std::string from = absl::StrCat("format_version=", storage::kFormatVersion, "\n");
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, from.size(), "format_version=5\n");
  WriteFile(*gen + "/MANIFEST", text);
}

}  // namespace scry::testing
