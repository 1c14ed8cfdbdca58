// Tests of server/broker.h: a broker over shard servers (scry serve
// --shards) answers as one server of every shard: ids, bit-equal scores,
// total_hits, pages and search_after, on the sample queries and random ones
// (fixed seeds), for a 4-shard index split {0,1},{2,3} and {0},{1,2},{3};
// a backend that is gone makes searches UNAVAILABLE naming its shards.
#include "server/broker.h"

#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace scry::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<v1::SearchService::Stub> StubOf(int port) {
  return v1::SearchService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

class BrokerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    indexer::BuildOptions options;
    options.inputs = {TestDataDir() + "/sample.jsonl"};
    options.index_dir = tmp_->Sub("idx");
    options.num_shards = 4;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
    words_ = new std::vector<std::string>(MostFrequentWords(options.inputs[0], 400, {}));
  }
  static void TearDownTestSuite() {
    delete tmp_;
    delete words_;
  }

  // A read-only server of `shards` of the index (empty: all).
  static std::unique_ptr<server::Server> Serve(std::vector<uint32_t> shards) {
    server::ServerOptions options;
    options.index_dir = tmp_->Sub("idx");
    options.listen = "127.0.0.1:0";
    options.read_only = true;
    options.reload_poll_ms = 0;
    options.searcher.shards = std::move(shards);
    auto server = server::Server::Start(options);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(*server) : nullptr;
  }

  static std::unique_ptr<server::Broker> StartBroker(
      const std::vector<std::unique_ptr<server::Server>>& backends) {
    server::BrokerOptions options;
    options.listen = "127.0.0.1:0";
    for (const auto& b : backends) {
      options.backends.push_back("127.0.0.1:" + std::to_string(b->port()));
    }
    auto broker = server::Broker::Start(options);
    EXPECT_THAT(broker, IsOk());
    return broker.ok() ? std::move(*broker) : nullptr;
  }

  // The sample queries, then `random` random ones (fixed seed).
  static std::vector<v1::SearchRequest> Queries(size_t random) {
    std::vector<v1::SearchRequest> out;
    std::ifstream in(TestDataDir() + "/sample.queries.tsv");
    std::string line;
    while (std::getline(in, line)) {
      const std::vector<std::string> parts = absl::StrSplit(line, '\t');
      v1::SearchRequest r;
      r.set_query(parts[0] == "phrase" ? "\"" + parts[1] + "\"" : parts[1]);
      if (parts[0] == "and") r.set_default_operator(v1::DEFAULT_OPERATOR_AND);
      out.push_back(r);
    }
    std::mt19937 rng(TestSeed(20));
    auto word = [&] { return (*words_)[rng() % words_->size()]; };
    for (size_t i = 0; i < random; ++i) {
      v1::SearchRequest r;
      std::vector<std::string> clauses;
      const size_t n = 1 + rng() % 4;
      for (size_t j = 0; j < n; ++j) {
        switch (rng() % 5) {
          case 0:
            clauses.push_back("\"" + word() + " " + word() + "\"");
            break;
          case 1:
            clauses.push_back("title:" + word());
            break;
          case 2:
            clauses.push_back("-" + word());
            break;
          default:
            clauses.push_back(word());
        }
      }
      r.set_query(absl::StrJoin(clauses, " "));
      if (rng() % 3 == 0) r.set_default_operator(v1::DEFAULT_OPERATOR_AND);
      if (rng() % 4 == 0) {
        v1::FieldWeight* f = r.add_search_fields();
        f->set_field("title");
        f->set_weight(2);
        r.add_search_fields()->set_field("body");
      }
      out.push_back(r);
    }
    return out;
  }

  static inline TempDir* tmp_ = nullptr;
  static inline std::vector<std::string>* words_ = nullptr;
};

grpc::Status Call(v1::SearchService::Stub& stub, const v1::SearchRequest& request,
                  v1::SearchResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return stub.Search(&context, request, response);
}

// The broker's answer to `request` equals the single server's: the whole
// response but took_micros (and total_hits when either is a lower bound:
// pruning may count differently); or the same error code (a query that
// matches nothing but negations is refused).
void ExpectSame(v1::SearchService::Stub& one, v1::SearchService::Stub& broker,
                const v1::SearchRequest& request) {
  SCOPED_TRACE(request.ShortDebugString());
  v1::SearchResponse want, got;
  const grpc::Status want_status = Call(one, request, &want);
  const grpc::Status status = Call(broker, request, &got);
  ASSERT_EQ(status.error_code(), want_status.error_code()) << status.error_message();
  if (!status.ok()) return;
  want.clear_took_micros();
  got.clear_took_micros();
  if (want.total_hits_is_lower_bound() || got.total_hits_is_lower_bound()) {
    EXPECT_GE(got.total_hits(), got.hits_size());
    want.clear_total_hits();
    got.clear_total_hits();
    want.clear_total_hits_is_lower_bound();
    got.clear_total_hits_is_lower_bound();
  }
  // Scores compared as doubles for equality: bit-equal.
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got))
      << "want " << want.ShortDebugString() << "\ngot  " << got.ShortDebugString();
}

// Every query: its first page exact, the second page, the page after the
// first one's last hit, and with the default (pruned) evaluation.
void ExpectSameOnQueries(v1::SearchService::Stub& one, v1::SearchService::Stub& broker,
                         const std::vector<v1::SearchRequest>& queries) {
  for (const v1::SearchRequest& query : queries) {
    v1::SearchRequest r = query;
    r.set_exact_total_hits(true);
    r.set_top_k(10);
    ExpectSame(one, broker, r);
    v1::SearchResponse first;
    if (!Call(one, r, &first).ok()) continue;
    r.set_offset(10);
    ExpectSame(one, broker, r);
    if (first.hits_size() > 0) {
      r.set_offset(3);
      r.mutable_search_after()->set_score(first.hits(first.hits_size() - 1).score());
      r.mutable_search_after()->set_id(first.hits(first.hits_size() - 1).id());
      ExpectSame(one, broker, r);
    }
    v1::SearchRequest pruned = query;
    pruned.set_top_k(7);
    ExpectSame(one, broker, pruned);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_F(BrokerTest, TwoServersEqualOneProcess) {
  auto one = Serve({});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(Serve({0, 1}));
  backends.push_back(Serve({2, 3}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  ExpectSameOnQueries(*one_stub, *broker_stub, Queries(100));
}

TEST_F(BrokerTest, ThreeServersEqualOneProcessWithFieldsSnippetsAndExplanations) {
  auto one = Serve({});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(Serve({3}));  // order of the backends does not matter
  backends.push_back(Serve({1, 2}));
  backends.push_back(Serve({0}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  std::vector<v1::SearchRequest> queries = Queries(100);
  ExpectSameOnQueries(*one_stub, *broker_stub, queries);
  for (size_t i = 0; i < queries.size(); i += 7) {
    v1::SearchRequest r = queries[i];
    r.add_fields("body");
    r.mutable_highlight()->add_fields("body");
    r.set_explain(true);
    r.set_top_k(5);
    r.set_offset(2);
    ExpectSame(*one_stub, *broker_stub, r);
  }
}

TEST_F(BrokerTest, ShardServerDescribesItselfAndTakesNoWrites) {
  auto server = Serve({1, 3});
  v1::DescribeResponse d;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf(server->port())->Describe(&context, v1::DescribeRequest(), &d).ok());
  EXPECT_EQ(d.num_shards(), 4u);
  EXPECT_THAT(d.shards(), ::testing::ElementsAre(1u, 3u));
  EXPECT_FALSE(d.writable());
  EXPECT_EQ(d.settings_digest().size(), 16u);
  EXPECT_FALSE(d.generation().empty());
  EXPECT_EQ(server->writer(), nullptr);  // no write-ahead log: IndexService refuses
  // Statistics that do not cover the server's own are refused.
  v1::SearchRequest r;
  r.set_query("moscow");
  r.mutable_statistics()->set_docs(1);
  v1::SearchResponse response;
  EXPECT_EQ(Call(*StubOf(server->port()), r, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(BrokerTest, GoneBackendIsUnavailableNamingItsShards) {
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(Serve({0}));
  backends.push_back(Serve({1, 2}));
  backends.push_back(Serve({3}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  auto stub = StubOf(broker->port());
  v1::SearchRequest r;
  r.set_query("moscow war");
  v1::SearchResponse response;
  ASSERT_TRUE(Call(*stub, r, &response).ok());
  EXPECT_GT(response.hits_size(), 0);
  backends[1]->Shutdown(0);
  backends[1].reset();
  const grpc::Status status = Call(*stub, r, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shards 1, 2 of 4"));
  // A bad query is the query's error, not the backends'.
  r.set_query("\"unclosed");
  EXPECT_EQ(Call(*stub, r, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace scry::testing
