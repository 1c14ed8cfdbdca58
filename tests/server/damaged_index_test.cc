// File: tests/server/damaged_index_test.cc
//
// A real server on 127.0.0.1 whose index goes bad under it: a flipped byte in
// a data block, a file truncated to nothing, the whole index directory
// removed. Each search must end with DATA_LOSS or an answer (never a crash,
// never a wrong answer); the server keeps answering other calls and health
// checks. With verify_on_open, a damaged index is refused at start.
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "storage/index_dir.h"
#include "tests/fault_fs.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::scry::testing::StatusIs;
namespace fs = std::filesystem;

class DamagedIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      absl::StrAppend(&text, "{\"id\":\"d", i, "\",\"title\":\"apple ", i % 7,
                      "\",\"body\":\"banana cherry ", i, "\"}\n");
    }
    scry::testing::WriteFile(dir_.Sub("in.jsonl"), text);
    indexer::BuildOptions options;
    options.inputs = {dir_.Sub("in.jsonl")};
    options.index_dir = index_;
    options.threads = 1;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
    auto gen = storage::LiveGeneration(index_);
    ASSERT_THAT(gen, IsOk());
    shard_ = *gen + "/shard-000";
  }

  // `in_memory`: the shards' dictionaries and lists loaded at open (the
  // default); without, every read goes through RocksDB and meets damage
  // that happens under the server.
  void Start(bool verify_on_open = false, bool in_memory = true) {
    ServerOptions options;
    options.index_dir = index_;
    options.listen = "127.0.0.1:0";
    options.verify_on_open = verify_on_open;
    options.searcher.memory_dictionary = in_memory;
    auto server = Server::Start(options);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    stub_ = scry::testing::LoopbackStub(server_->port());
  }

  grpc::Status Search(const std::string& query) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SearchRequest request;
    request.set_query(query);
    v1::SearchResponse response;
    return stub_->Search(&context, request, &response);
  }

  // The ids of the hits of `query`, or the error.
  std::string Hits(const std::string& query) {
    grpc::ClientContext context;
    v1::SearchRequest request;
    request.set_query(query);
    request.set_top_k(1000);
    v1::SearchResponse response;
    const grpc::Status s = stub_->Search(&context, request, &response);
    if (!s.ok()) return "error " + s.error_message();
    std::string ids;
    for (const auto& hit : response.hits()) absl::StrAppend(&ids, hit.id(), " ");
    return ids;
  }

  // The server still answers: a health check, a stored document, its stats.
  void ExpectStillAnswering() {
    std::string response;
    grpc::Status s =
        scry::testing::RawCall(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                   grpc::InsecureChannelCredentials()),
                               "/grpc.health.v1.Health/Check", "", &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    grpc::ClientContext context;
    v1::StatsResponse stats;
    s = stub_->Stats(&context, v1::StatsRequest(), &stats);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  // The health service's status for the whole server: 1 SERVING, 2
  // NOT_SERVING (grpc.health.v1.HealthCheckResponse), -1 on failure.
  int Health() {
    std::string response;
    grpc::Status s =
        scry::testing::RawCall(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                   grpc::InsecureChannelCredentials()),
                               "/grpc.health.v1.Health/Check", "", &response);
    if (!s.ok() || response.size() != 2 || response[0] != 0x08) return -1;
    return response[1];
  }

  // Damages the one data block of the terms (every list here is inline).
  void FlipTermsBlock() {
    const auto files = scry::testing::SstFilesOf(shard_, "terms");
    ASSERT_EQ(files.size(), 1u);
    scry::testing::FlipByte(files[0].path, files[0].data_bytes / 2);
  }

  scry::testing::TempDir dir_;
  const std::string index_ = dir_.Sub("index");
  std::string shard_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SearchService::Stub> stub_;
};

TEST_F(DamagedIndexTest, AFlippedByteIsDataLossPerQueryAndTheServerServesOn) {
  Start(/*verify_on_open=*/false, /*in_memory=*/false);
  EXPECT_EQ(Health(), 1);
  FlipTermsBlock();  // files open, no block read yet: the next reads see it
  for (const char* query : {"apple", "banana", "cherry OR apple", "apple", "\"banana cherry\""}) {
    grpc::Status s = Search(query);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << query << ": " << s.error_message();
    // No server path in what the client is told.
    EXPECT_EQ(s.error_message().find(dir_.path().string()), std::string::npos) << s.error_message();
  }
  ExpectStillAnswering();
  // The damage is found: load balancers are told to go elsewhere.
  EXPECT_EQ(Health(), 2);
  // A new build is served and the server is healthy again.
  indexer::BuildOptions options;
  options.inputs = {dir_.Sub("in.jsonl")};
  options.index_dir = index_;
  options.threads = 1;
  ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  grpc::ClientContext context;
  v1::ReloadResponse reload;
  ASSERT_TRUE(stub_->Reload(&context, v1::ReloadRequest(), &reload).ok());
  EXPECT_TRUE(reload.switched());
  EXPECT_EQ(Health(), 1);
  EXPECT_TRUE(Search("apple").ok());
}

TEST_F(DamagedIndexTest, DamageUnderTheServerLeavesTheInMemoryDictionaryAnswering) {
  Start();
  std::vector<std::string> before;
  for (const char* query : {"apple", "banana", "cherry OR apple", "\"banana cherry\""}) {
    before.push_back(Hits(query));
  }
  for (const std::string& hits : before) {
    ASSERT_FALSE(hits.empty() || hits.rfind("error", 0) == 0) << hits;
  }
  FlipTermsBlock();
  std::vector<std::string> after;
  for (const char* query : {"apple", "banana", "cherry OR apple", "\"banana cherry\""}) {
    after.push_back(Hits(query));
  }
  EXPECT_EQ(after, before);
  EXPECT_EQ(Health(), 1);
}

TEST_F(DamagedIndexTest, DamageBeforeStartIsDataLossPerQueryWithTheDictionaryInMemory) {
  // The dictionary does not read whole at open: the shard reads its terms
  // through RocksDB and meets the damage per query.
  FlipTermsBlock();
  Start();
  for (const char* query : {"apple", "cherry OR apple"}) {
    EXPECT_EQ(Search(query).error_code(), grpc::StatusCode::DATA_LOSS) << query;
  }
  ExpectStillAnswering();
}

TEST_F(DamagedIndexTest, AFileTruncatedToNothingIsDataLossPerQuery) {
  Start(/*verify_on_open=*/false, /*in_memory=*/false);
  const auto files = scry::testing::SstFilesOf(shard_, "terms");
  ASSERT_EQ(files.size(), 1u);
  fs::resize_file(files[0].path, 0);
  for (const char* query : {"apple", "banana", "apple"}) {
    grpc::Status s = Search(query);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << query << ": " << s.error_message();
  }
  ExpectStillAnswering();
}

TEST_F(DamagedIndexTest, AVanishedIndexIsServedFromTheOpenFiles) {
  Start();
  fs::remove_all(index_);
  // Every file of the served generation stays open (max_open_files = -1):
  // unlinked, it is still whole.
  for (const char* query : {"apple", "banana", "cherry OR apple"}) {
    grpc::Status s = Search(query);
    EXPECT_TRUE(s.ok()) << query << ": " << s.error_message();
  }
  ExpectStillAnswering();
}

TEST_F(DamagedIndexTest, VerifyOnOpenRefusesToServeADamagedIndex) {
  FlipTermsBlock();
  ServerOptions options;
  options.index_dir = index_;
  options.listen = "127.0.0.1:0";
  options.verify_on_open = true;
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kDataLoss, "failed verification"));
  // Without verification the damage is found only by the searches.
  Start(/*verify_on_open=*/false);
  EXPECT_EQ(Search("apple").error_code(), grpc::StatusCode::DATA_LOSS);
}

}  // namespace
}  // namespace scry::server
