#include "tests/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "query/searcher.h"
#include "rocksdb/db.h"
#include "storage/coding.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "storage/status.h"

namespace scry::testing {

namespace {

// SCRY_TEST_SEED, or empty if it is unset.
std::string SeedVariable() {
  const char* value = std::getenv("SCRY_TEST_SEED");
  return value == nullptr ? "" : value;
}

// Says once, at the start of the tests, which seeds they run with (so that a
// crash, which prints no trace, can be reproduced too).
class SeedAnnouncer : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string value = SeedVariable();
    if (!value.empty()) {
      std::fprintf(stderr,
                   "SCRY_TEST_SEED=%s: randomized tests run with seeds derived from it (unset "
                   "for the fixed seeds)\n",
                   value.c_str());
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kSeedAnnouncer =
    ::testing::AddGlobalTestEnvironment(new SeedAnnouncer);

// The seeds the running test has drawn (the last kKeptSeeds), printed if it
// fails: a failure outside every SCRY_SEED_TRACE (after a helper or a
// fixture's SetUp drew the seed) still names it.
constexpr size_t kKeptSeeds = 8;
std::mutex seeds_mu;
std::deque<std::string>* drawn_seeds = new std::deque<std::string>;  // guarded by seeds_mu
uint64_t seeds_drawn = 0;                                            // guarded by seeds_mu

void RecordSeed(uint32_t fixed, uint32_t seed) {
  std::lock_guard<std::mutex> lock(seeds_mu);
  ++seeds_drawn;
  drawn_seeds->push_back("TestSeed(" + std::to_string(fixed) + ") = " + std::to_string(seed));
  if (drawn_seeds->size() > kKeptSeeds) drawn_seeds->pop_front();
}

class SeedPrinter : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& /*info*/) override {
    std::lock_guard<std::mutex> lock(seeds_mu);
    drawn_seeds->clear();
    seeds_drawn = 0;
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() == nullptr || !info.result()->Failed()) return;
    std::lock_guard<std::mutex> lock(seeds_mu);
    if (seeds_drawn == 0) return;
    const std::string value = SeedVariable();
    std::fprintf(stderr, "[ SEEDS    ] %s.%s drew %llu seeds (SCRY_TEST_SEED=%s); the last:\n",
                 info.test_suite_name(), info.name(), static_cast<unsigned long long>(seeds_drawn),
                 value.empty() ? "unset: fixed seeds" : value.c_str());
    for (const std::string& s : *drawn_seeds)
      std::fprintf(stderr, "[ SEEDS    ]   %s\n", s.c_str());
  }
};

[[maybe_unused]] const bool kSeedPrinterAdded = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new SeedPrinter);
  return true;
}();

// splitmix64's finalizer: every bit of `x` moves every bit of the result.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint32_t TestSeed(uint32_t fixed) {
  const std::string value = SeedVariable();
  uint32_t seed = fixed;
  if (!value.empty()) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the value
    for (unsigned char c : value) h = (h ^ c) * 0x100000001b3ull;
    seed = static_cast<uint32_t>(Mix(h ^ Mix(fixed)));
  }
  RecordSeed(fixed, seed);
  return seed;
}

std::string SeedDescription(uint32_t seed) {
  const std::string value = SeedVariable();
  if (value.empty()) {
    return "seed " + std::to_string(seed) +
           " (fixed; SCRY_TEST_SEED is unset, set it to run other seeds)";
  }
  return "seed " + std::to_string(seed) + " (derived from SCRY_TEST_SEED=" + value +
         "; run again with SCRY_TEST_SEED=" + value + " to repeat)";
}

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

absl::StatusOr<uint64_t> TotalHits(const std::string& index_dir, const std::string& query) {
  auto searcher = query::Searcher::Open(index_dir, query::SearcherOptions());
  if (!searcher.ok()) return searcher.status();
  query::SearchRequest request;
  request.query = query;
  request.exact_total_hits = true;
  auto result = (*searcher)->Search(request);
  if (!result.ok()) return result.status();
  return result->total_hits;
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

void DowngradeToFormat(const std::string& index_dir, uint32_t version) {
  ASSERT_TRUE(version >= 5 && version <= 7);
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
    if (version < 6) {
      ASSERT_TRUE(db->DropColumnFamily(handles[storage::kTitlesCfIndex]).ok());
    }
    if (version < 7) {
      ASSERT_TRUE(
          db->Delete(rocksdb::WriteOptions(), handles[storage::kMetaCfIndex], storage::kMetaPairs)
              .ok());
    }
    ASSERT_TRUE(
        db->Delete(rocksdb::WriteOptions(), handles[storage::kMetaCfIndex], storage::kMetaTyped)
            .ok());
    std::string v;
    storage::PutFixed32(&v, version);
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
  text.replace(at, from.size(), absl::StrCat("format_version=", version, "\n"));
  WriteFile(*gen + "/MANIFEST", text);
}

int ConnectLoopback(int port) {
  // Connected without blocking, so that a server whose backlog is full
  // cannot hold the caller past 2 s; blocking again once connected.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    pollfd p = {fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof error;
    if (errno != EINPROGRESS || poll(&p, 1, 2000) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      close(fd);
      return -1;
    }
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace scry::testing
