// File: tests/server/reload_test.cc
//
// New builds served without a restart, through a real gRPC server on
// loopback (127.0.0.1, a free port): while client threads search without
// pause, two new builds land in the served directory and one damaged
// generation is offered. Every call must succeed, every answer must come
// wholly from one generation (the index of generation g holds docs_g
// documents, all with the word `common` and the word of g in the title, so
// an answer mixing shards of two generations shows), each new build must be
// served within 2 s of its switch, the damaged one refused, and the old
// generations' files gone afterwards. Also: the Reload RPC and SIGHUP-free
// polling off, and Stats/metrics naming the generation.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "storage/index_dir.h"
#include "storage/keys.h"
#include "tests/server/raw_call.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using Clock = std::chrono::steady_clock;

// Generation contents: `docs` documents, titles "common <word> <i>".
struct Content {
  std::string word;
  int docs;
};

class ReloadTest : public ::testing::Test {
 protected:
  void Build(const Content& c) {
    const std::string input = dir_.Sub(absl::StrCat(c.word, ".jsonl"));
    std::string text;
    for (int i = 0; i < c.docs; ++i) {
      absl::StrAppend(&text, "{\"id\":\"", c.word, i, "\",\"title\":\"common ", c.word, " ", i,
                      "\"}\n");
    }
    scry::testing::WriteFile(input, text);
    indexer::BuildOptions options;
    options.inputs = {input};
    options.index_dir = index_;
    options.num_shards = 3;  // a mixed answer would need shards of two generations
    options.threads = 1;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  }

  // A generation whose MANIFEST names shards that are not there.
  void BuildDamaged() { ASSERT_THAT(scry::testing::CommitDamagedGeneration(index_, 3), IsOk()); }

  std::unique_ptr<Server> Start(int poll_ms) {
    ServerOptions options;
    options.index_dir = index_;
    options.listen = "127.0.0.1:0";
    options.reload_poll_ms = poll_ms;
    auto server = Server::Start(options);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(*server) : nullptr;
  }

  static std::unique_ptr<v1::SearchService::Stub> Stub(const Server& server) {
    return scry::testing::LoopbackStub(server.port());
  }

  // The word of the generation that answered `common`, or "" (and a test
  // failure) if the call failed or the answer mixes generations.
  static std::string Answer(v1::SearchService::Stub& stub, const std::vector<Content>& contents) {
    v1::SearchRequest request;
    request.set_query("common");
    request.set_top_k(100);
    request.set_exact_total_hits(true);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::SearchResponse response;
    const grpc::Status status = stub.Search(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    if (!status.ok() || response.hits_size() == 0) return "";
    const std::string word =
        response.hits(0).id().substr(0, response.hits(0).id().find_first_of("0123456789"));
    for (const Content& c : contents) {
      if (c.word != word) continue;
      EXPECT_EQ(response.total_hits(), static_cast<uint64_t>(c.docs)) << word;
      EXPECT_EQ(response.hits_size(), c.docs) << word;
      for (const v1::Hit& hit : response.hits()) {
        EXPECT_TRUE(hit.id().starts_with(word)) << hit.id() << " in an answer of " << word;
        EXPECT_THAT(hit.title(), ::testing::HasSubstr(word));
      }
      return word;
    }
    ADD_FAILURE() << "unknown generation " << word;
    return "";
  }

  std::vector<std::string> GenerationDirs() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(index_)) {
      const std::string name = e.path().filename().string();
      if (name.starts_with("gen-") && e.is_directory()) out.push_back(name);
    }
    return out;
  }

  scry::testing::TempDir dir_;
  const std::string index_ = dir_.Sub("index");
};

TEST_F(ReloadTest, BuildsLandUnderSteadySearchesWithNoFailedCall) {
  const std::vector<Content> contents = {{"alpha", 5}, {"beta", 11}, {"gamma", 7}};
  Build(contents[0]);
  std::unique_ptr<Server> server = Start(50);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  ASSERT_EQ(Answer(*stub, contents), "alpha");

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failures{0};
  std::mutex seen_mu;
  std::string last_seen;  // the generation word of the latest answer
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      auto own = Stub(*server);
      while (!stop.load()) {
        const std::string word = Answer(*own, contents);
        calls.fetch_add(1);
        if (word.empty()) {
          failures.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> lock(seen_mu);
        last_seen = word;
      }
    });
  }
  // Waits until a client sees `word`; returns how long that took.
  auto served_within = [&](const std::string& word) {
    const auto start = Clock::now();
    while (Clock::now() - start < std::chrono::seconds(10)) {
      {
        std::lock_guard<std::mutex> lock(seen_mu);
        if (last_seen == word) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Clock::now() - start;
  };

  Build(contents[1]);
  EXPECT_LT(served_within("beta"), std::chrono::seconds(2));
  BuildDamaged();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the watcher refuses it
  EXPECT_EQ(Answer(*stub, contents), "beta");
  Build(contents[2]);
  EXPECT_LT(served_within("gamma"), std::chrono::seconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop.store(true);
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0) << "of " << calls.load() << " calls";
  EXPECT_GT(calls.load(), 10);

  v1::StatsResponse stats;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->Stats(&context, v1::StatsRequest(), &stats).ok());
  }
  EXPECT_EQ(stats.generation(), storage::CurrentGenerationName(index_));
  EXPECT_EQ(stats.reloads(), 2u);
  EXPECT_EQ(stats.failed_reloads(), 1u);
  EXPECT_THAT(stats.last_reload_error(), ::testing::HasSubstr("cannot serve"));
  EXPECT_GT(stats.generation_loaded_unix_micros(), 0u);
  EXPECT_EQ(stats.docs(), 7u);
  // The old generations (and the refused one) are gone once nobody reads them.
  const auto start = Clock::now();
  while (GenerationDirs().size() > 1 && Clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(GenerationDirs(), ::testing::ElementsAre(stats.generation()));
}

TEST_F(ReloadTest, TheReloadRpcSwitchesWhenPollingIsOff) {
  const std::vector<Content> contents = {{"alpha", 5}, {"beta", 6}};
  Build(contents[0]);
  std::unique_ptr<Server> server = Start(0);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  Build(contents[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Answer(*stub, contents), "alpha") << "polling is off";
  v1::ReloadResponse reload;
  {
    grpc::ClientContext context;
    const grpc::Status status = stub->Reload(&context, v1::ReloadRequest(), &reload);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(reload.switched());
  EXPECT_EQ(reload.generation(), storage::CurrentGenerationName(index_));
  EXPECT_EQ(Answer(*stub, contents), "beta");
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->Reload(&context, v1::ReloadRequest(), &reload).ok());
  }
  EXPECT_FALSE(reload.switched());
  // A damaged generation: the error, and the old one still serves.
  BuildDamaged();
  {
    grpc::ClientContext context;
    const grpc::Status status = stub->Reload(&context, v1::ReloadRequest(), &reload);
    EXPECT_FALSE(status.ok());
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("still serving"));
  }
  EXPECT_EQ(Answer(*stub, contents), "beta");
  // ReloadSoon (SIGHUP's path) without CURRENT: logged, serving on.
  std::filesystem::remove(index_ + "/CURRENT");
  server->ReloadSoon();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Answer(*stub, contents), "beta");
  // The whole index directory gone (its open files stay readable): the
  // Reload RPC says so, and searches go on.
  std::filesystem::remove_all(index_);
  {
    grpc::ClientContext context;
    const grpc::Status status = stub->Reload(&context, v1::ReloadRequest(), &reload);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("still serving"));
  }
  EXPECT_EQ(Answer(*stub, contents), "beta");
}

TEST_F(ReloadTest, ConcurrentReloadCallsAllSucceedAndSwitchOnce) {
  const std::vector<Content> contents = {{"alpha", 5}, {"beta", 6}};
  Build(contents[0]);
  std::unique_ptr<Server> server = Start(0);
  ASSERT_NE(server, nullptr);
  Build(contents[1]);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, switched{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto stub = Stub(*server);
      grpc::ClientContext context;
      v1::ReloadResponse response;
      const grpc::Status status = stub->Reload(&context, v1::ReloadRequest(), &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (status.ok()) ++ok;
      if (response.switched()) ++switched;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(switched.load(), 1);  // one switched; the others found it served
  auto stub = Stub(*server);
  EXPECT_EQ(Answer(*stub, contents), "beta");
}

}  // namespace
}  // namespace scry::server
