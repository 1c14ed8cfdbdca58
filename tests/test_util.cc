#include "tests/test_util.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "gtest/gtest.h"
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

}  // namespace scry::testing
