// Tests of server/broker.h: a broker over shard servers (scry serve
// --shards) answers as one server of every shard: ids, bit-equal scores,
// total_hits, pages and search_after, on the sample queries and random ones
// (fixed seeds), for a 4-shard index split {0,1},{2,3} and {0},{1,2},{3},
// and with 2 replicas per shard group (also named through dns:localhost);
// replicas are recognised by build id (one build under two generation
// names is one index; two builds under one name are two); a group that is
// gone makes searches UNAVAILABLE naming its shards, or partial results
// flagged when asked, until it comes back; a replica shut down under load
// fails no call; a stalled replica is hedged around.
#include "server/broker.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "indexer/jsonl_reader.h"
#include "indexer/schema.h"
#include "scry/v1/index.grpc.pb.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/http_api.h"
#include "server/server.h"
#include "storage/hash.h"
#include "storage/index_dir.h"
#include "tests/server/http_client.h"
#include "tests/server/raw_call.h"
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

  // A read-only server of `shards` of the index (empty: all), on `port`
  // (0: a free one), running `before_search` first in every Search.
  static std::unique_ptr<server::Server> Serve(std::vector<uint32_t> shards, int port = 0,
                                               std::function<void()> before_search = {}) {
    return ServeIndex(tmp_->Sub("idx"), std::move(shards), port, std::move(before_search));
  }

  // The same, of the index at `index_dir`.
  static std::unique_ptr<server::Server> ServeIndex(const std::string& index_dir,
                                                    std::vector<uint32_t> shards, int port = 0,
                                                    std::function<void()> before_search = {}) {
    server::ServerOptions options;
    options.index_dir = index_dir;
    options.listen = "127.0.0.1:" + std::to_string(port);
    // A hook that blocks runs on the synchronous API's own threads: blocking
    // the callback API's would stall every server and client in the process.
    if (before_search) options.service.api = server::GrpcApi::kSync;
    options.service.before_search = std::move(before_search);
    options.read_only = true;
    options.reload_poll_ms = 0;
    options.searcher.shards = std::move(shards);
    auto server = server::Server::Start(options);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(*server) : nullptr;
  }

  // Builds the sample into `index_dir` as SetUpTestSuite does: the same
  // index, byte for byte, but another build (another build id).
  static void BuildAgain(const std::string& index_dir) {
    indexer::BuildOptions options;
    options.inputs = {TestDataDir() + "/sample.jsonl"};
    options.index_dir = index_dir;
    options.num_shards = 4;
    ASSERT_THAT(indexer::BuildIndex(options), IsOk());
  }

  // One server of each of {0,1} and {2,3}.
  static std::vector<std::unique_ptr<server::Server>> ServeHalves() {
    std::vector<std::unique_ptr<server::Server>> backends;
    backends.push_back(Serve({0, 1}));
    backends.push_back(Serve({2, 3}));
    return backends;
  }

  // Two servers of each of {0,1} and {2,3}.
  static std::vector<std::unique_ptr<server::Server>> ServeReplicated() {
    std::vector<std::unique_ptr<server::Server>> backends;
    for (const std::vector<uint32_t>& shards :
         {std::vector<uint32_t>{0, 1}, {0, 1}, {2, 3}, {2, 3}}) {
      backends.push_back(Serve(shards));
    }
    return backends;
  }

  // A broker over `backends`, checking their health every 100 ms.
  // A broker's options over `backends` (on 127.0.0.1), listening on a free
  // port of 127.0.0.1, health rounds every `health_interval_ms`.
  static server::BrokerOptions BrokerOver(
      const std::vector<std::unique_ptr<server::Server>>& backends, int health_interval_ms = 100) {
    server::BrokerOptions options;
    options.listen = "127.0.0.1:0";
    options.health_interval_ms = health_interval_ms;
    for (const auto& b : backends) {
      options.backends.push_back("127.0.0.1:" + std::to_string(b->port()));
    }
    return options;
  }

  static std::unique_ptr<server::Broker> StartBroker(
      const std::vector<std::unique_ptr<server::Server>>& backends, int hedge_after_ms = 0,
      const std::string& host = "127.0.0.1") {
    server::BrokerOptions options;
    options.listen = "127.0.0.1:0";
    options.health_interval_ms = 100;
    options.hedge_after_ms = hedge_after_ms;
    for (const auto& b : backends) {
      options.backends.push_back(host + ":" + std::to_string(b->port()));
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

// Whether the broker's grpc.health.v1 status (service "") becomes `serving`
// (SERVING: 1, NOT_SERVING: 2) within 10 s.
bool HealthBecomes(int port, bool serving) {
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  const std::string want = serving ? std::string("\x08\x01", 2) : std::string("\x08\x02", 2);
  for (int i = 0; i < 100; ++i) {
    std::string response;
    if (RawCall(channel, "/grpc.health.v1.Health/Check", "", &response).ok() && response == want) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

grpc::Status Call(v1::SearchService::Stub& stub, const v1::SearchRequest& request,
                  v1::SearchResponse* response, int deadline_ms = 30000) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
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
  ASSERT_EQ(status.error_code(), want_status.error_code())
      << "broker: " << status.error_message() << "; one process: " << want_status.error_message();
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

// Waits (up to 30 s) until a search through `stub` answers: a first
// connection on a loaded machine once failed, and a channel then fails calls
// at once for its reconnect backoff (~1 s), which is not what tests compare.
void WaitConnected(v1::SearchService::Stub& stub) {
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::SearchRequest ping;
  ping.set_query("connected");
  v1::SearchResponse ignored;
  const grpc::Status status = stub.Search(&context, ping, &ignored);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

// Every query: its first page exact, the second page, the page after the
// first one's last hit, and with the default (pruned) evaluation.
void ExpectSameOnQueries(v1::SearchService::Stub& one, v1::SearchService::Stub& broker,
                         const std::vector<v1::SearchRequest>& queries) {
  WaitConnected(one);
  WaitConnected(broker);
  if (::testing::Test::HasFatalFailure()) return;
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
  auto backends = ServeHalves();
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  ExpectSameOnQueries(*one_stub, *broker_stub, Queries(100));
}

// Calls of `method` a server finished (its Stats).
uint64_t FinishedCalls(const server::Server& server, const std::string& method) {
  v1::StatsResponse stats;
  grpc::ClientContext context;
  EXPECT_TRUE(StubOf(server.port())->Stats(&context, v1::StatsRequest(), &stats).ok());
  uint64_t n = 0;
  for (const v1::MethodMetrics& m : stats.methods()) {
    if (m.method() != method) continue;
    for (const auto& [code, calls] : m.calls_by_code()) n += calls;
  }
  return n;
}

// Replicas that each hold every shard: one group, whose own statistics are
// the global ones, so the broker sends the search alone (no statistics
// phase) and still answers as one process.
TEST_F(BrokerTest, OneGroupOfEveryShardAnswersInOneHop) {
  auto one = Serve({});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(Serve({0, 1, 2, 3}));
  backends.push_back(Serve({}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(broker->port()), Queries(60));
  EXPECT_EQ(
      FinishedCalls(*backends[0], "TermStatistics") + FinishedCalls(*backends[1], "TermStatistics"),
      0u);
  EXPECT_GT(FinishedCalls(*backends[0], "Search") + FinishedCalls(*backends[1], "Search"), 0u);
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

TEST_F(BrokerTest, ReadOnlyShardServerDescribesItselfAndTakesNoWrites) {
  auto server = Serve({1, 3});
  v1::DescribeResponse d;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf(server->port())->Describe(&context, v1::DescribeRequest(), &d).ok());
  EXPECT_EQ(d.num_shards(), 4u);
  EXPECT_THAT(d.shards(), ::testing::ElementsAre(1u, 3u));
  EXPECT_FALSE(d.writable());
  EXPECT_EQ(d.settings_digest().size(), 16u);
  EXPECT_FALSE(d.generation().empty());
  EXPECT_EQ(d.build_id().size(), 32u);
  EXPECT_EQ(server->writer(), nullptr);  // no write-ahead log: IndexService refuses
  // Statistics that do not cover the server's own are refused.
  v1::SearchRequest r;
  r.set_query("moscow");
  r.mutable_statistics()->set_docs(1);
  v1::SearchResponse response;
  EXPECT_EQ(Call(*StubOf(server->port()), r, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

v1::DescribeResponse DescribeOf(const server::Server& server) {
  v1::DescribeResponse d;
  grpc::ClientContext context;
  EXPECT_TRUE(StubOf(server.port())->Describe(&context, v1::DescribeRequest(), &d).ok());
  return d;
}

// Copies the live generation of the index at `from` into a new index
// directory `to`, named `generation` there: the same build, as another
// directory's counter names it (a pod whose volume went through other
// builds before).
void CopyGeneration(const std::string& from, const std::string& to, const std::string& generation) {
  absl::StatusOr<std::string> live = storage::LiveGeneration(from);
  ASSERT_THAT(live, IsOk());
  std::filesystem::create_directories(to);
  std::filesystem::copy(*live, to + "/" + generation, std::filesystem::copy_options::recursive);
  WriteFile(to + "/CURRENT", generation + "\n");
}

// Replicas are recognised by build id, not by generation name: one build
// served from two directories, where it is gen-000001 and gen-000007, is
// one index (with the names as its key, two indexes of two shards each,
// neither enough to search).
TEST_F(BrokerTest, OneBuildUnderTwoGenerationNamesIsOneIndex) {
  TempDir dir;
  CopyGeneration(tmp_->Sub("idx"), dir.Sub("copy"), "gen-000007");
  auto one = Serve({});
  std::vector<std::unique_ptr<server::Server>> halves;
  halves.push_back(Serve({0, 1}));
  halves.push_back(ServeIndex(dir.Sub("copy"), {2, 3}));
  ASSERT_NE(halves[1], nullptr);
  const v1::DescribeResponse a = DescribeOf(*halves[0]), b = DescribeOf(*halves[1]);
  EXPECT_EQ(a.generation(), "gen-000001");
  EXPECT_EQ(b.generation(), "gen-000007");
  EXPECT_EQ(a.build_id().size(), 32u);
  EXPECT_EQ(a.build_id(), b.build_id());
  auto broker = StartBroker(halves);
  ASSERT_NE(broker, nullptr);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(broker->port()), Queries(20));
  EXPECT_TRUE(HealthBecomes(broker->port(), true));

  // Two servers of every shard under the two names: replicas, both used.
  std::vector<std::unique_ptr<server::Server>> replicas;
  replicas.push_back(Serve({}));
  replicas.push_back(ServeIndex(dir.Sub("copy"), {}));
  ASSERT_NE(replicas[1], nullptr);
  auto replicated = StartBroker(replicas);
  ASSERT_NE(replicated, nullptr);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(replicated->port()), Queries(20));
  EXPECT_GT(FinishedCalls(*replicas[0], "Search"), 0u);
  EXPECT_GT(FinishedCalls(*replicas[1], "Search"), 0u);
}

// Two builds of the same input, each its directory's first generation: the
// same name, settings and shard count, but two indexes (build ids), never
// one replica set. Half of each is no index; of whole copies of both, a
// search uses one build's servers only.
TEST_F(BrokerTest, TwoBuildsUnderOneGenerationNameAreTwoIndexes) {
  TempDir dir;
  BuildAgain(dir.Sub("rebuilt"));
  auto one = Serve({});
  std::vector<std::unique_ptr<server::Server>> halves;
  halves.push_back(Serve({0, 1}));
  halves.push_back(ServeIndex(dir.Sub("rebuilt"), {2, 3}));
  ASSERT_NE(halves[1], nullptr);
  const v1::DescribeResponse a = DescribeOf(*halves[0]), b = DescribeOf(*halves[1]);
  EXPECT_EQ(a.generation(), b.generation());
  EXPECT_EQ(a.settings_digest(), b.settings_digest());
  EXPECT_NE(a.build_id(), b.build_id());
  auto broker = StartBroker(halves);
  ASSERT_NE(broker, nullptr);
  auto stub = StubOf(broker->port());
  v1::SearchRequest r;
  r.set_query("moscow war");
  r.set_exact_total_hits(true);
  v1::SearchResponse response;
  const grpc::Status status = Call(*stub, r, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("are served by no backend"));
  // Partial: one build's half, as its server answers alone.
  r.set_allow_partial_results(true);
  v1::SearchResponse partial, want;
  ASSERT_TRUE(Call(*stub, r, &partial).ok());
  ASSERT_EQ(partial.missing_shards_size(), 2);
  const bool first_half = partial.missing_shards(0) == 2;
  EXPECT_THAT(partial.missing_shards(),
              ::testing::ElementsAreArray(first_half ? std::vector<uint32_t>{2, 3}
                                                     : std::vector<uint32_t>{0, 1}));
  ASSERT_TRUE(Call(*StubOf(halves[first_half ? 0 : 1]->port()), r, &want).ok());
  EXPECT_GT(want.hits_size(), 0);
  partial.clear_missing_shards();
  partial.clear_took_micros();
  want.clear_took_micros();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, partial))
      << "want " << want.ShortDebugString() << "\ngot  " << partial.ShortDebugString();
  EXPECT_TRUE(HealthBecomes(broker->port(), false));

  // Both builds whole, as {0,1} and {2,3} each: the broker answers (the
  // builds hold the same documents), from one build's servers only.
  std::vector<std::unique_ptr<server::Server>> both;
  for (const std::string& index : {tmp_->Sub("idx"), dir.Sub("rebuilt")}) {
    both.push_back(ServeIndex(index, {0, 1}));
    both.push_back(ServeIndex(index, {2, 3}));
  }
  auto two = StartBroker(both);
  ASSERT_NE(two, nullptr);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(two->port()), Queries(20));
  std::vector<uint64_t> calls;  // of each server
  for (const auto& server : both) {
    calls.push_back(FinishedCalls(*server, "Search") + FinishedCalls(*server, "TermStatistics"));
  }
  EXPECT_NE(calls[0] + calls[1] > 0, calls[2] + calls[3] > 0) << absl::StrJoin(calls, ",");
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

TEST_F(BrokerTest, ReplicasEqualOneProcessAlsoThroughDns) {
  auto one = Serve({});
  auto backends = ServeReplicated();
  auto broker = StartBroker(backends);
  // dns:localhost:PORT resolves (getaddrinfo) to 127.0.0.1:PORT.
  auto dns_broker = StartBroker(backends, 0, "dns:localhost");
  ASSERT_NE(broker, nullptr);
  ASSERT_NE(dns_broker, nullptr);
  auto one_stub = StubOf(one->port());
  const std::vector<v1::SearchRequest> queries = Queries(60);
  ExpectSameOnQueries(*one_stub, *StubOf(broker->port()), queries);
  ExpectSameOnQueries(*one_stub, *StubOf(dns_broker->port()), queries);
}

TEST_F(BrokerTest, MalformedDnsBackendIsRefused) {
  for (const std::string bad : {"dns:localhost", "dns::80", "dns:localhost:0", "dns:a:b"}) {
    server::BrokerOptions options;
    options.listen = "127.0.0.1:0";
    options.backends = {bad};
    EXPECT_THAT(server::Broker::Start(options), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

// The first page of `request` from `stub`, as (id, score) pairs and
// total_hits, for comparing answers under load.
std::string Digest(const v1::SearchResponse& r) {
  std::string out = std::to_string(r.total_hits());
  for (const v1::Hit& h : r.hits()) out += " " + h.id() + "=" + std::to_string(h.score());
  return out;
}

TEST_F(BrokerTest, ReplicaShutDownUnderLoadFailsNoCall) {
  auto one = Serve({});
  auto backends = ServeReplicated();
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  std::vector<v1::SearchRequest> queries = Queries(40);
  std::vector<std::string> want(queries.size());
  auto one_stub = StubOf(one->port());
  for (size_t i = 0; i < queries.size(); ++i) {
    queries[i].set_exact_total_hits(true);
    v1::SearchResponse r;
    want[i] = Call(*one_stub, queries[i], &r).ok() ? Digest(r) : "error";
  }
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0}, failed{0}, differ{0};
  absl::Mutex mu;
  std::string first_failure;
  std::vector<std::thread> clients(4);
  for (size_t t = 0; t < clients.size(); ++t) {
    clients[t] = std::thread([&, t] {
      auto stub = StubOf(broker->port());
      for (size_t i = t; !stop.load(); i = (i + 1) % queries.size()) {
        v1::SearchResponse r;
        const grpc::Status status = Call(*stub, queries[i], &r);
        const std::string got =
            status.ok()
                ? Digest(r)
                : (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? "error" : "");
        if (got.empty()) {
          failed.fetch_add(1);
          absl::MutexLock lock(&mu);
          if (first_failure.empty()) first_failure = status.error_message();
        } else if (got != want[i]) {
          differ.fetch_add(1);
        }
        calls.fetch_add(1);
      }
    });
  }
  auto wait_calls = [&](int n) {
    while (calls.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  wait_calls(100);
  backends[0]->Shutdown(0);  // in-flight calls cut off at once
  wait_calls(300);
  backends[3]->Shutdown(0);
  wait_calls(500);
  stop = true;
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_EQ(differ.load(), 0);
}

TEST_F(BrokerTest, EveryReplicaGoneIsUnavailableOrPartialUntilItComesBack) {
  auto one = Serve({});
  auto backends = ServeReplicated();
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  auto one_stub = StubOf(one->port());
  auto stub = StubOf(broker->port());
  v1::SearchRequest r;
  r.set_query("moscow war");
  r.set_exact_total_hits(true);
  ExpectSame(*one_stub, *stub, r);
  EXPECT_TRUE(HealthBecomes(broker->port(), true));
  const int ports[] = {backends[2]->port(), backends[3]->port()};
  backends[2]->Shutdown(0);
  backends[3]->Shutdown(0);
  backends[2].reset();
  backends[3].reset();
  v1::SearchResponse response;
  const grpc::Status status = Call(*stub, r, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shards 2, 3 of 4"));
  EXPECT_TRUE(HealthBecomes(broker->port(), false));
  // Partial: what a server of shards 0 and 1 answers with its own statistics.
  r.set_allow_partial_results(true);
  v1::SearchResponse partial, want;
  ASSERT_TRUE(Call(*stub, r, &partial).ok());
  EXPECT_THAT(partial.missing_shards(), ::testing::ElementsAre(2u, 3u));
  ASSERT_TRUE(Call(*StubOf(backends[0]->port()), r, &want).ok());
  EXPECT_GT(want.hits_size(), 0);
  partial.clear_missing_shards();
  partial.clear_took_micros();
  want.clear_took_micros();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, partial))
      << "want " << want.ShortDebugString() << "\ngot  " << partial.ShortDebugString();
  // Back on the same ports: full results without a broker restart.
  backends[2] = Serve({2, 3}, ports[0]);
  backends[3] = Serve({2, 3}, ports[1]);
  ASSERT_NE(backends[2], nullptr);
  ASSERT_NE(backends[3], nullptr);
  // The broker reconnects within a second (its backoff); until then calls
  // may fail.
  r.set_allow_partial_results(false);
  for (int i = 0; i < 100 && !Call(*stub, r, &response).ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ExpectSame(*one_stub, *stub, r);
  r.set_allow_partial_results(true);
  ASSERT_TRUE(Call(*stub, r, &response).ok());
  EXPECT_EQ(response.missing_shards_size(), 0);
  ExpectSameOnQueries(*one_stub, *stub, Queries(20));
  EXPECT_TRUE(HealthBecomes(broker->port(), true));
}

TEST_F(BrokerTest, StalledReplicaIsHedgedAround) {
  auto one = Serve({});
  // The second replica of {0,1} stalls every search for 3 s (or until the
  // test ends).
  absl::Notification release;
  auto stall = [&release] { release.WaitForNotificationWithTimeout(absl::Seconds(3)); };
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(Serve({0, 1}));
  backends.push_back(Serve({0, 1}, 0, stall));
  backends.push_back(Serve({2, 3}));
  backends.push_back(Serve({2, 3}));
  auto hedged = StartBroker(backends, /*hedge_after_ms=*/50);
  auto plain = StartBroker(backends);
  ASSERT_NE(hedged, nullptr);
  ASSERT_NE(plain, nullptr);
  auto one_stub = StubOf(one->port());
  auto hedged_stub = StubOf(hedged->port());
  std::vector<v1::SearchRequest> queries = Queries(10);
  for (v1::SearchRequest& q : queries) q.set_exact_total_hits(true);
  // Replicas are taken in turn: half the calls meet the stalled one, and
  // answer well within a 1.5 s deadline only through the hedge.
  for (size_t i = 0; i < queries.size(); ++i) {
    v1::SearchResponse want, got;
    const grpc::Status want_status = Call(*one_stub, queries[i], &want);
    const grpc::Status status = Call(*hedged_stub, queries[i], &got, 1500);
    ASSERT_EQ(status.error_code(), want_status.error_code()) << status.error_message();
    EXPECT_EQ(Digest(got), Digest(want)) << queries[i].ShortDebugString();
  }
  // Pruned queries: a hedge sent once {2,3} answered carries its k-th score
  // (min_competitive_score); the hits stay one process's.
  for (v1::SearchRequest q : Queries(20)) {
    q.set_top_k(5);
    ExpectSame(*one_stub, *hedged_stub, q);
  }
  // Without hedging the same calls run into their deadline (the test can
  // fail).
  int late = 0;
  for (size_t i = 0; i < 4; ++i) {
    v1::SearchResponse got;
    late += Call(*StubOf(plain->port()), queries[i], &got, 500).error_code() ==
            grpc::StatusCode::DEADLINE_EXCEEDED;
  }
  EXPECT_GT(late, 0);
  release.Notify();
}

// ---- Live writes through the broker ----

// A writable server of `shards` (empty: all) over its own copy `name` of the
// index (made on first use), on `port` (0: a free one); writes become
// visible only on Refresh.
std::unique_ptr<server::Server> ServeWritable(const std::string& base, const std::string& dir,
                                              std::vector<uint32_t> shards, int port = 0,
                                              std::function<void()> after_write = {}) {
  if (!std::filesystem::exists(dir)) {
    std::filesystem::copy(base, dir, std::filesystem::copy_options::recursive);
  }
  server::ServerOptions options;
  options.index_dir = dir;
  options.listen = "127.0.0.1:" + std::to_string(port);
  options.reload_poll_ms = 0;
  options.refresh_interval_ms = 0;
  options.wal_sync = server::WalSync::kNever;
  options.searcher.shards = std::move(shards);
  options.service.after_write = std::move(after_write);
  auto server = server::Server::Start(options);
  EXPECT_THAT(server, IsOk());
  return server.ok() ? std::move(*server) : nullptr;
}

std::unique_ptr<v1::IndexService::Stub> WriterOf(int port) {
  return v1::IndexService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

grpc::Status Write(v1::IndexService::Stub& stub, const v1::WriteRequest& request,
                   v1::WriteResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return stub.Write(&context, request, response);
}

void Refresh(v1::IndexService::Stub& stub) {
  grpc::ClientContext context;
  v1::RefreshResponse response;
  const grpc::Status status = stub.Refresh(&context, v1::RefreshRequest(), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Its write_seq (Describe; with `token` for a server that asks for one).
uint64_t WriteSeqOf(const server::Server& server, const std::string& token = "") {
  v1::DescribeResponse d;
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  EXPECT_TRUE(StubOf(server.port())->Describe(&context, v1::DescribeRequest(), &d).ok());
  return d.write_seq();
}

// Random batches of writes (fixed seed): new documents of the sample's
// words, replacements and deletes of the sample's documents and of new ones,
// and now and then a bad one (no id, a number for a text member).
class WriteMix {
 public:
  WriteMix(const std::vector<std::string>& words, uint32_t seed) : words_(words), rng_(seed) {
    auto reader = indexer::JsonlReader::Open(TestDataDir() + "/sample.jsonl", 1 << 20);
    EXPECT_THAT(reader, IsOk());
    indexer::InputDocument doc;
    while (reader.ok() && (*reader)->Next(&doc).ok()) ids_.push_back(doc.id);
  }

  v1::WriteRequest Next(size_t ops) {
    v1::WriteRequest request;
    for (size_t i = 0; i < ops; ++i) {
      v1::Operation* op = request.add_ops();
      const uint32_t kind = rng_() % 10;
      if (kind < 3) {
        op->mutable_delete_()->set_id(ids_[rng_() % ids_.size()]);
        continue;
      }
      if (kind == 9 && rng_() % 3 == 0) {
        op->mutable_upsert()->set_document(rng_() % 2 == 0 ? "{\"title\": \"no id\"}"
                                                           : "{\"id\": \"bad\", \"title\": 5}");
        continue;
      }
      std::string id;
      if (kind < 6) {
        id = ids_[rng_() % ids_.size()];
      } else {
        id = "new-" + std::to_string(next_++);
        ids_.push_back(id);
      }
      op->mutable_upsert()->set_document(absl::StrCat(
          "{\"id\": \"", id, "\", \"title\": \"", Words(3), "\", \"body\": \"", Words(40), "\"}"));
    }
    return request;
  }
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::string Words(size_t n) {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) out.push_back(words_[rng_() % words_.size()]);
    return absl::StrJoin(out, " ");
  }
  const std::vector<std::string>& words_;
  std::mt19937 rng_;
  std::vector<std::string> ids_;
  size_t next_ = 0;
};

// Sends `request` to the single server and through the broker: every
// operation answered with the same code (and, refused, the same message).
void ExpectSameWrite(v1::IndexService::Stub& one, v1::IndexService::Stub& broker,
                     const v1::WriteRequest& request) {
  v1::WriteResponse want, got;
  ASSERT_TRUE(Write(one, request, &want).ok());
  const grpc::Status status = Write(broker, request, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(got.results_size(), want.results_size());
  for (int i = 0; i < want.results_size(); ++i) {
    SCOPED_TRACE(request.ops(i).ShortDebugString());
    EXPECT_EQ(got.results(i).code(), want.results(i).code()) << got.results(i).message();
    if (want.results(i).code() != "OK") {
      EXPECT_EQ(got.results(i).message(), want.results(i).message());
    }
  }
}

// GetDocument of each id answers alike (NOT_FOUND for a deleted one) and
// Stats counts the same documents.
void ExpectSameDocuments(v1::SearchService::Stub& one, v1::SearchService::Stub& broker,
                         const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    SCOPED_TRACE(id);
    v1::GetDocumentRequest request;
    request.set_id(id);
    v1::GetDocumentResponse want, got;
    grpc::ClientContext c1, c2;
    const grpc::Status want_status = one.GetDocument(&c1, request, &want);
    const grpc::Status status = broker.GetDocument(&c2, request, &got);
    ASSERT_EQ(status.error_code(), want_status.error_code()) << status.error_message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got));
  }
  v1::StatsResponse want, got;
  grpc::ClientContext c1, c2;
  ASSERT_TRUE(one.Stats(&c1, v1::StatsRequest(), &want).ok());
  const grpc::Status status = broker.Stats(&c2, v1::StatsRequest(), &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(got.docs(), want.docs());
  EXPECT_EQ(got.deleted_docs() > 0, want.deleted_docs() > 0);
  EXPECT_EQ(got.shards_size(), 4);
  EXPECT_EQ(got.generation(), want.generation());
}

TEST_F(BrokerTest, AShardServerTakesTheWritesOfItsShardsOnly) {
  auto server = ServeWritable(tmp_->Sub("idx"), tmp_->Sub("w_subset"), {1, 3});
  ASSERT_NE(server, nullptr);
  v1::DescribeResponse d;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf(server->port())->Describe(&context, v1::DescribeRequest(), &d).ok());
  EXPECT_TRUE(d.writable());
  std::string mine, other;
  for (int i = 0; mine.empty() || other.empty(); ++i) {
    const std::string id = "doc-" + std::to_string(i);
    const uint32_t shard = storage::ShardForId(id, 4);
    (shard == 1 || shard == 3 ? mine : other) = id;
  }
  v1::WriteRequest request;
  request.add_ops()->mutable_upsert()->set_document("{\"id\": \"" + mine + "\", \"body\": \"x\"}");
  request.add_ops()->mutable_upsert()->set_document("{\"id\": \"" + other + "\", \"body\": \"x\"}");
  request.add_ops()->mutable_delete_()->set_id(other);
  v1::WriteResponse response;
  ASSERT_TRUE(Write(*WriterOf(server->port()), request, &response).ok());
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).code(), "OK");
  EXPECT_EQ(response.results(1).code(), "FAILED_PRECONDITION");
  EXPECT_THAT(response.results(1).message(), HasSubstr("which this server does not serve"));
  EXPECT_EQ(response.results(2).code(), "FAILED_PRECONDITION");
  EXPECT_EQ(WriteSeqOf(*server), response.results(0).seq());
}

// Writes through a broker over 2 groups x 2 replicas (each on its own copy
// of the index) and the same writes to one writable server of every shard:
// the same answers per operation, then the same search results, documents
// and counts; the replicas of a group logged the same writes.
TEST_F(BrokerTest, WritesThroughTheBrokerEqualWritesToOneProcess) {
  const std::string base = tmp_->Sub("idx");
  auto one = ServeWritable(base, tmp_->Sub("w1_one"), {});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("w1_a0"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w1_a1"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w1_b0"), {2, 3}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w1_b1"), {2, 3}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(HealthBecomes(broker->port(), true));
  auto one_writer = WriterOf(one->port());
  auto broker_writer = WriterOf(broker->port());
  WriteMix mix(*words_, TestSeed(2001));
  for (int batch = 0; batch < 12; ++batch) {
    ExpectSameWrite(*one_writer, *broker_writer, mix.Next(30));
    if (::testing::Test::HasFatalFailure()) return;
  }
  Refresh(*one_writer);
  Refresh(*broker_writer);
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  ExpectSameOnQueries(*one_stub, *broker_stub, Queries(60));
  ExpectSameDocuments(*one_stub, *broker_stub, mix.ids());
  EXPECT_GT(WriteSeqOf(*backends[0]), 0u);
  EXPECT_EQ(WriteSeqOf(*backends[0]), WriteSeqOf(*backends[1]));
  EXPECT_GT(WriteSeqOf(*backends[2]), 0u);
  EXPECT_EQ(WriteSeqOf(*backends[2]), WriteSeqOf(*backends[3]));
}

// A replica down while writes go on misses them: back up, it is neither
// searched nor written to (its write_seq is behind its group's), and the
// results stay those of one process; once it holds a copy of the other
// replica's index directory (log included) it is used again.
TEST_F(BrokerTest, AReplicaThatMissedWritesIsLeftOutUntilItHasThem) {
  const std::string base = tmp_->Sub("idx");
  auto one = ServeWritable(base, tmp_->Sub("w2_one"), {});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("w2_a0"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w2_a1"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w2_b0"), {2, 3}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(HealthBecomes(broker->port(), true));
  auto one_writer = WriterOf(one->port());
  auto broker_writer = WriterOf(broker->port());
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  WriteMix mix(*words_, TestSeed(2002));
  ExpectSameWrite(*one_writer, *broker_writer, mix.Next(30));
  const int a0_port = backends[0]->port(), a1_port = backends[1]->port();
  backends[1].reset();  // a1 goes away; the broker may not know yet
  for (int batch = 0; batch < 4; ++batch) {
    ExpectSameWrite(*one_writer, *broker_writer, mix.Next(30));
  }
  backends[1] = ServeWritable(base, tmp_->Sub("w2_a1"), {0, 1}, a1_port);
  ASSERT_NE(backends[1], nullptr);
  const uint64_t behind = WriteSeqOf(*backends[1]);
  EXPECT_LT(behind, WriteSeqOf(*backends[0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // health rounds see it up
  ExpectSameWrite(*one_writer, *broker_writer, mix.Next(30));
  EXPECT_EQ(WriteSeqOf(*backends[1]), behind);  // not written to
  Refresh(*one_writer);
  Refresh(*broker_writer);
  ExpectSameOnQueries(*one_stub, *broker_stub, Queries(30));
  ExpectSameDocuments(*one_stub, *broker_stub, mix.ids());
  EXPECT_EQ(FinishedCalls(*backends[1], "Search"), 0u);  // not searched
  EXPECT_EQ(FinishedCalls(*backends[1], "GetDocument"), 0u);

  // The operator's way back: a copy of a0's directory (both stopped).
  backends[0].reset();
  backends[1].reset();
  std::filesystem::remove_all(tmp_->Sub("w2_a1"));
  std::filesystem::copy(tmp_->Sub("w2_a0"), tmp_->Sub("w2_a1"),
                        std::filesystem::copy_options::recursive);
  backends[0] = ServeWritable(base, tmp_->Sub("w2_a0"), {0, 1}, a0_port);
  backends[1] = ServeWritable(base, tmp_->Sub("w2_a1"), {0, 1}, a1_port);
  ASSERT_NE(backends[0], nullptr);
  ASSERT_NE(backends[1], nullptr);
  EXPECT_EQ(WriteSeqOf(*backends[1]), WriteSeqOf(*backends[0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ExpectSameWrite(*one_writer, *broker_writer, mix.Next(30));
  EXPECT_EQ(WriteSeqOf(*backends[1]), WriteSeqOf(*backends[0]));
  Refresh(*one_writer);
  Refresh(*broker_writer);
  ExpectSameOnQueries(*one_stub, *broker_stub, Queries(30));
  EXPECT_GT(FinishedCalls(*backends[1], "Search"), 0u);  // searched again
}

// Four clients writing at once through one broker (each its own ids, every
// batch touching both groups): no call fails or waits forever (the group
// locks are taken in one order), the replicas of each group log the same
// sequences, and the index equals one process fed the same batches.
TEST_F(BrokerTest, ConcurrentWritesReachEveryReplicaInOneOrder) {
  const std::string base = tmp_->Sub("idx");
  auto one = ServeWritable(base, tmp_->Sub("w4_one"), {});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("w4_a0"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w4_a1"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w4_b0"), {2, 3}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w4_b1"), {2, 3}));
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  ASSERT_TRUE(HealthBecomes(broker->port(), true));
  std::vector<std::vector<v1::WriteRequest>> batches(4);
  for (size_t t = 0; t < batches.size(); ++t) {
    std::mt19937 rng(TestSeed(2400 + static_cast<uint32_t>(t)));
    for (int b = 0; b < 15; ++b) {
      v1::WriteRequest& r = batches[t].emplace_back();
      for (int i = 0; i < 8; ++i) {
        const std::string id = absl::StrCat("c", t, "-", rng() % 40);
        if (rng() % 4 == 0) {
          r.add_ops()->mutable_delete_()->set_id(id);
        } else {
          r.add_ops()->mutable_upsert()->set_document(
              absl::StrCat("{\"id\": \"", id, "\", \"body\": \"", (*words_)[rng() % 50], " ",
                           (*words_)[rng() % 50], "\"}"));
        }
      }
    }
  }
  std::atomic<int> failed{0};
  std::vector<std::thread> clients(batches.size());
  for (size_t t = 0; t < clients.size(); ++t) {
    clients[t] = std::thread([&, t] {
      auto writer = WriterOf(broker->port());
      for (const v1::WriteRequest& r : batches[t]) {
        v1::WriteResponse response;
        const grpc::Status status = Write(*writer, r, &response);
        if (!status.ok()) failed.fetch_add(1);
        for (const v1::OperationResult& result : response.results()) {
          if (result.code() != "OK") failed.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  auto one_writer = WriterOf(one->port());
  for (const auto& per_client : batches) {
    for (const v1::WriteRequest& r : per_client) {
      v1::WriteResponse response;
      ASSERT_TRUE(Write(*one_writer, r, &response).ok());
    }
  }
  EXPECT_EQ(WriteSeqOf(*backends[0]), WriteSeqOf(*backends[1]));
  EXPECT_EQ(WriteSeqOf(*backends[2]), WriteSeqOf(*backends[3]));
  Refresh(*one_writer);
  Refresh(*WriterOf(broker->port()));
  std::vector<std::string> ids;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 40; ++i) ids.push_back(absl::StrCat("c", t, "-", i));
  }
  ExpectSameDocuments(*StubOf(one->port()), *StubOf(broker->port()), ids);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(broker->port()), Queries(20));
}

// Health rounds every millisecond while two clients write through the
// broker: a Describe that answered before a write reached its replica must
// not make the broker think that replica missed the write (it used to
// overwrite the sequence the write raised, leave the replica out of the next
// writes, and so make it miss them for real). Every write reaches both
// replicas; neither is ever left out.
TEST_F(BrokerTest, HealthRoundsDuringWritesLeaveNoReplicaBehind) {
  const std::string base = tmp_->Sub("idx");
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("h_a0"), {}));
  backends.push_back(ServeWritable(base, tmp_->Sub("h_a1"), {}));
  server::BrokerOptions options = BrokerOver(backends, 1);
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  ASSERT_TRUE(HealthBecomes((*broker)->port(), true));
  std::atomic<int> failed{0};
  std::vector<std::thread> clients(2);
  for (size_t t = 0; t < clients.size(); ++t) {
    clients[t] = std::thread([&, t] {
      auto writer = WriterOf((*broker)->port());
      for (int b = 0; b < 150; ++b) {
        v1::WriteRequest r;
        r.add_ops()->mutable_upsert()->set_document(
            absl::StrCat("{\"id\": \"h", t, "-", b % 20, "\", \"body\": \"w", b, "\"}"));
        v1::WriteResponse response;
        if (!Write(*writer, r, &response).ok() || response.results(0).code() != "OK") {
          failed.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(WriteSeqOf(*backends[0]), 300u);
  EXPECT_EQ(WriteSeqOf(*backends[1]), 300u);
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf((*broker)->port())->Stats(&context, v1::StatsRequest(), &stats).ok());
  ASSERT_EQ(stats.backends_size(), 2);
  for (const v1::BackendStatus& b : stats.backends()) {
    EXPECT_FALSE(b.lagging()) << b.address();
    EXPECT_EQ(b.write_seq(), 300u) << b.address();
  }
}

// A replica logs a write but its answer misses the broker's deadline: the
// broker does not know whether it has the write, and asks it (Describe,
// under the group's lock) before the next write rather than leave it out as
// behind, which would make it miss that write for real. Health rounds are
// a minute apart here: only that question can tell.
TEST_F(BrokerTest, ALostWriteAnswerLeavesNoReplicaBehind) {
  const std::string base = tmp_->Sub("idx");
  std::atomic<bool> stall{false};
  absl::Notification held, release;
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("l_a0"), {}));
  backends.push_back(ServeWritable(base, tmp_->Sub("l_a1"), {}, 0, [&] {
    if (stall.exchange(false)) {  // logged; the answer waits past the deadline
      held.Notify();
      release.WaitForNotificationWithTimeout(absl::Seconds(30));
    }
  }));
  server::BrokerOptions options = BrokerOver(backends, 60000);
  // The broker gives up on a1 after 2 s, and answers the client (which
  // waits longer) only then: a1's call has failed when the client has the
  // answer.
  options.default_deadline_ms = 2000;
  options.max_deadline_ms = 2000;
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  ASSERT_TRUE(HealthBecomes((*broker)->port(), true));
  auto writer = WriterOf((*broker)->port());
  auto upsert = [](int i) {
    v1::WriteRequest r;
    r.add_ops()->mutable_upsert()->set_document(
        absl::StrCat("{\"id\": \"lost-", i, "\", \"body\": \"w", i, "\"}"));
    return r;
  };
  v1::WriteResponse response;
  ASSERT_TRUE(Write(*writer, upsert(0), &response).ok());
  stall = true;
  response.Clear();
  const grpc::Status late = Write(*writer, upsert(1), &response);  // a1's answer comes too late
  const bool was_held = held.WaitForNotificationWithTimeout(absl::Seconds(30));
  release.Notify();
  ASSERT_TRUE(was_held);
  ASSERT_TRUE(late.ok()) << late.error_message();
  EXPECT_EQ(response.results(0).code(), "OK");                    // a0's, as --write-acks is 1
  ASSERT_EQ(WriteSeqOf(*backends[0]), WriteSeqOf(*backends[1]));  // both logged it
  for (int i = 2; i < 5; ++i) {
    response.Clear();
    ASSERT_TRUE(Write(*writer, upsert(i), &response).ok());
    EXPECT_EQ(response.results(0).code(), "OK") << response.results(0).message();
  }
  EXPECT_EQ(WriteSeqOf(*backends[1]), WriteSeqOf(*backends[0]));  // a1 took them too
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf((*broker)->port())->Stats(&context, v1::StatsRequest(), &stats).ok());
  for (const v1::BackendStatus& b : stats.backends()) EXPECT_FALSE(b.lagging()) << b.address();
}

// A client deadline past --max-deadline-ms is brought in to it: a search
// that a stalled server holds ends at the broker's maximum with
// DEADLINE_EXCEEDED naming it, not at the client's minute; a default
// deadline over the maximum is refused at start.
TEST_F(BrokerTest, AClientDeadlineIsBroughtInToTheMaximum) {
  absl::Notification release;
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(
      Serve({}, 0, [&release] { release.WaitForNotificationWithTimeout(absl::Seconds(20)); }));
  server::BrokerOptions options = BrokerOver(backends);
  options.default_deadline_ms = 200;
  options.max_deadline_ms = 300;
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  ASSERT_TRUE(HealthBecomes((*broker)->port(), true));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SearchRequest request;
  request.set_query((*words_)[0]);
  v1::SearchResponse response;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status = StubOf((*broker)->port())->Search(&context, request, &response);
  const auto took = std::chrono::steady_clock::now() - start;
  release.Notify();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("--max-deadline-ms is 300"));
  EXPECT_LT(took, std::chrono::seconds(15));  // the stall holds 20 s
  options.default_deadline_ms = 400;
  auto refused = server::Broker::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--max-deadline-ms 300"));
}

// --auth-token-file on the broker: no token or an unknown one is
// UNAUTHENTICATED (gRPC) / 401 (HTTP); a read token searches but may not
// write (PERMISSION_DENIED / 403); a write token writes. The servers ask
// for their own token, which the broker sends (--backend-token-file):
// without it they are down to the broker.
TEST_F(BrokerTest, TokensGuardTheBrokerAndReachTheServers) {
  const std::string server_tokens = tmp_->Sub("server.tokens");
  const std::string broker_tokens = tmp_->Sub("broker.tokens");
  std::ofstream(server_tokens) << "backend-secret write\n";
  std::ofstream(broker_tokens) << "# clients\nreader\nwriter write\n";
  const std::string dir = tmp_->Sub("t_a0");
  std::filesystem::copy(tmp_->Sub("idx"), dir, std::filesystem::copy_options::recursive);
  server::ServerOptions serve;
  serve.index_dir = dir;
  serve.listen = "127.0.0.1:0";
  serve.reload_poll_ms = 0;
  serve.refresh_interval_ms = 0;
  serve.wal_sync = server::WalSync::kNever;
  serve.auth_token_file = server_tokens;
  auto backend = server::Server::Start(serve);
  ASSERT_THAT(backend, IsOk());
  server::BrokerOptions options;
  options.listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.health_interval_ms = 100;
  options.auth_token_file = broker_tokens;
  options.backend_token_file = server_tokens;
  options.backends.push_back("127.0.0.1:" + std::to_string((*backend)->port()));
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  ASSERT_TRUE(HealthBecomes((*broker)->port(), true));
  auto stub = StubOf((*broker)->port());
  auto writer = WriterOf((*broker)->port());
  auto search = [&](const std::string& token, v1::SearchResponse* response) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::SearchRequest request;
    request.set_query((*words_)[0]);
    return stub->Search(&context, request, response);
  };
  auto write = [&](const std::string& token, v1::WriteResponse* response) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::WriteRequest request;
    request.add_ops()->mutable_upsert()->set_document(R"({"id": "tok-1", "body": "guarded"})");
    return writer->Write(&context, request, response);
  };
  v1::SearchResponse found;
  EXPECT_EQ(search("", &found).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(search("nope", &found).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const grpc::Status read = search("reader", &found);
  ASSERT_TRUE(read.ok()) << read.error_message();
  EXPECT_GT(found.hits_size(), 0);
  v1::WriteResponse wrote;
  EXPECT_EQ(write("", &wrote).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(write("reader", &wrote).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(WriteSeqOf(**backend, "backend-secret"), 0u);
  ASSERT_TRUE(write("writer", &wrote).ok());
  EXPECT_EQ(wrote.results(0).code(), "OK") << wrote.results(0).message();
  EXPECT_EQ(WriteSeqOf(**backend, "backend-secret"), 1u);
  {
    grpc::ClientContext no_token, reader;
    reader.AddMetadata("authorization", "Bearer reader");
    v1::StatsResponse stats;
    EXPECT_EQ(stub->Stats(&no_token, v1::StatsRequest(), &stats).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    v1::RefreshResponse refreshed;
    EXPECT_EQ(writer->Refresh(&reader, v1::RefreshRequest(), &refreshed).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    // No schema for a client without a token: reflection is off.
    std::string ignored;
    EXPECT_EQ(scry::testing::RawCall(
                  grpc::CreateChannel("127.0.0.1:" + std::to_string((*broker)->port()),
                                      grpc::InsecureChannelCredentials()),
                  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "", &ignored)
                  .error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }

  const int http = (*broker)->http_port();
  const std::string body = absl::StrCat(R"({"query": ")", (*words_)[0], R"("})");
  EXPECT_EQ(scry::testing::PostJson(http, "/v1/search", body).status, 401);
  EXPECT_EQ(
      scry::testing::PostJson(http, "/v1/search", body, "Authorization: Bearer reader\r\n").status,
      200);
  const std::string doc =
      R"({"ops": [{"upsert": {"document": "{\"id\": \"tok-2\", \"body\": \"x\"}"}}]})";
  EXPECT_EQ(
      scry::testing::PostJson(http, "/v1/write", doc, "Authorization: Bearer reader\r\n").status,
      403);
  EXPECT_EQ(
      scry::testing::PostJson(http, "/v1/write", doc, "Authorization: Bearer writer\r\n").status,
      200);
  EXPECT_EQ(WriteSeqOf(**backend, "backend-secret"), 2u);

  // Without the servers' token the broker finds no backend up.
  options.backend_token_file.clear();
  options.http_listen.clear();
  auto blind = server::Broker::Start(options);
  ASSERT_THAT(blind, IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  v1::SearchResponse none;
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer reader");
  v1::SearchRequest request;
  request.set_query((*words_)[0]);
  EXPECT_EQ(StubOf((*blind)->port())->Search(&context, request, &none).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// --write-acks all: a write to a group with a replica down is refused
// (UNAVAILABLE, nothing sent to the group); the other group's go in.
// Read-only servers refuse writes through the broker (FAILED_PRECONDITION).
TEST_F(BrokerTest, WriteAcksAllNeedsEveryReplicaAndReadOnlyGroupsTakeNoWrites) {
  const std::string base = tmp_->Sub("idx");
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("w3_a0"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("w3_a1"), {0, 1}));
  backends.push_back(Serve({2, 3}));  // read-only
  server::BrokerOptions options = BrokerOver(backends);
  options.write_acks = 0;  // all
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  ASSERT_TRUE(HealthBecomes((*broker)->port(), true));
  auto writer = WriterOf((*broker)->port());
  std::string in_a, in_b;
  for (int i = 0; in_a.empty() || in_b.empty(); ++i) {
    const std::string id = "acks-" + std::to_string(i);
    (storage::ShardForId(id, 4) < 2 ? in_a : in_b) = id;
  }
  v1::WriteRequest request;
  request.add_ops()->mutable_upsert()->set_document("{\"id\": \"" + in_a + "\", \"body\": \"x\"}");
  request.add_ops()->mutable_delete_()->set_id(in_b);
  v1::WriteResponse response;
  ASSERT_TRUE(Write(*writer, request, &response).ok());
  EXPECT_EQ(response.results(0).code(), "OK");
  EXPECT_EQ(response.results(1).code(), "FAILED_PRECONDITION");
  EXPECT_THAT(response.results(1).message(), HasSubstr("take no writes"));
  backends[1]->Shutdown(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a health round sees it
  const uint64_t seq = WriteSeqOf(*backends[0]);
  response.Clear();
  ASSERT_TRUE(Write(*writer, request, &response).ok());
  EXPECT_EQ(response.results(0).code(), "UNAVAILABLE");
  EXPECT_THAT(response.results(0).message(), HasSubstr("1 of 2 replicas are up"));
  EXPECT_EQ(WriteSeqOf(*backends[0]), seq);  // nothing sent
}

// Facets, sort and filters of typed fields (tests/data/typed_sample.jsonl,
// 4 shards) through a broker over {0,1} and {2,3} (and over one group of
// every shard) equal one process: keyword top values and distinct counts
// summed exactly, ranges, hits ordered by the sort values, pages through
// search_after with them.
TEST_F(BrokerTest, TypedFacetsSortAndFiltersEqualOneProcess) {
  const std::string data = TestDataDir() + "/typed_sample.jsonl";
  indexer::BuildOptions build;
  build.inputs = {data};
  build.index_dir = tmp_->Sub("typed");
  build.num_shards = 4;
  auto schema = indexer::Schema::ReadFile(TestDataDir() + "/typed_sample.schema.json");
  ASSERT_THAT(schema, IsOk());
  build.schema = *schema;
  ASSERT_THAT(indexer::BuildIndex(build), IsOk());
  auto serve = [&](std::vector<uint32_t> shards) { return ServeIndex(build.index_dir, shards); };
  auto one = serve({});
  std::vector<std::unique_ptr<server::Server>> split, whole;
  split.push_back(serve({0, 1}));
  split.push_back(serve({2, 3}));
  whole.push_back(serve({}));
  auto broker = StartBroker(split);
  auto broker_whole = StartBroker(whole);
  ASSERT_NE(broker, nullptr);
  ASSERT_NE(broker_whole, nullptr);
  auto one_stub = StubOf(one->port());
  const std::vector<std::string> words = MostFrequentWords(data, 200, {});
  std::mt19937 rng(TestSeed(2101));
  const std::vector<std::string> filters = {"", "section:culture", "year:[2000 TO 2010]",
                                            "published:>=2010-01-01T00:00:00Z",
                                            "section:sports AND NOT year:<2005"};
  const std::vector<std::string> sort_fields = {"year", "published", "words"};
  for (int i = 0; i < 80; ++i) {
    v1::SearchRequest r;
    r.set_query(words[rng() % words.size()] + (rng() % 2 ? " " + words[rng() % words.size()] : ""));
    r.set_filter(filters[rng() % filters.size()]);
    r.set_top_k(1 + rng() % 15);
    r.set_exact_total_hits(rng() % 2 == 0);
    if (rng() % 2 == 0) {
      v1::FacetRequest* f = r.add_facets();
      f->set_field("section");
      f->set_size(rng() % 4);  // 0: the default 10
      v1::FacetRequest* y = r.add_facets();
      y->set_field("year");
      y->add_ranges("[* TO 2000}");
      y->add_ranges("[2000 TO 2010]");
      y->add_ranges(">2010");
    }
    const size_t keys = rng() % 3;
    for (size_t k = 0; k < keys; ++k) {
      v1::SortField* s = r.add_sort();
      s->set_field(sort_fields[rng() % sort_fields.size()]);
      s->set_descending(rng() % 2 == 0);
    }
    for (auto* b : {broker.get(), broker_whole.get()}) {
      auto stub = StubOf(b->port());
      ExpectSame(*one_stub, *stub, r);
      // The next page after the first page's last hit.
      v1::SearchResponse first;
      if (!Call(*one_stub, r, &first).ok() || first.hits_size() == 0) continue;
      v1::SearchRequest next = r;
      const v1::Hit& last = first.hits(first.hits_size() - 1);
      next.mutable_search_after()->set_score(last.score());
      next.mutable_search_after()->set_id(last.id());
      *next.mutable_search_after()->mutable_sort_values() = last.sort_values();
      ExpectSame(*one_stub, *stub, next);
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Query then fetch: with stored fields or snippets asked for, each group
// answers ids and scores, and only the groups holding the final page get a
// fetch round (a Search with SearchRequest.fetch); the answers equal one
// process's. A server's fetch round returns the listed documents in order
// with the given scores, leaves out unknown ids, refuses more than top_k.
TEST_F(BrokerTest, QueryThenFetchFetchesOnlyThePage) {
  auto one = Serve({});
  auto backends = ServeHalves();
  auto broker = StartBroker(backends);
  ASSERT_NE(broker, nullptr);
  server::BrokerOptions single;
  single.listen = "127.0.0.1:0";
  single.health_interval_ms = 100;
  single.query_then_fetch = false;
  for (const auto& b : backends)
    single.backends.push_back("127.0.0.1:" + std::to_string(b->port()));
  auto single_round_or = server::Broker::Start(single);
  ASSERT_THAT(single_round_or, IsOk());
  const std::unique_ptr<server::Broker>& single_round = *single_round_or;
  auto one_stub = StubOf(one->port());
  auto broker_stub = StubOf(broker->port());
  auto searches = [&] {
    return FinishedCalls(*backends[0], "Search") + FinishedCalls(*backends[1], "Search");
  };
  for (const v1::SearchRequest& query : Queries(30)) {
    v1::SearchRequest r = query;
    r.set_top_k(4);
    r.set_offset(3);
    r.add_fields("body");
    r.mutable_highlight()->add_fields("body");
    v1::SearchResponse want;
    if (!Call(*one_stub, r, &want).ok()) continue;
    const uint64_t before = searches();
    ExpectSame(*one_stub, *broker_stub, r);
    // Both groups queried; one fetch per group holding a hit of the page.
    std::set<uint32_t> groups;
    for (const v1::Hit& hit : want.hits()) groups.insert(storage::ShardForId(hit.id(), 4) / 2);
    EXPECT_EQ(searches() - before, 2 + groups.size()) << r.ShortDebugString();
    // Without it (--no-query-then-fetch): one round, the same answer.
    const uint64_t one_round = searches();
    ExpectSame(*one_stub, *StubOf(single_round->port()), r);
    EXPECT_EQ(searches() - one_round, 2u);
  }
  // The fetch round on one server.
  v1::SearchRequest fetch;
  fetch.set_query("moscow");
  fetch.set_top_k(3);
  fetch.add_fields("body");
  std::vector<std::string> ids;
  {
    v1::SearchRequest all;
    all.set_query("moscow");
    all.set_top_k(20);
    v1::SearchResponse r;
    ASSERT_TRUE(Call(*one_stub, all, &r).ok());
    ASSERT_GE(r.hits_size(), 2);
    ids = {r.hits(1).id(), "no-such-id", r.hits(0).id()};
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::FetchHit* f = fetch.add_fetch();
    f->set_id(ids[i]);
    f->set_score(10.0 - static_cast<double>(i));
  }
  v1::SearchResponse fetched;
  ASSERT_TRUE(Call(*one_stub, fetch, &fetched).ok());
  ASSERT_EQ(fetched.hits_size(), 2);
  EXPECT_EQ(fetched.hits(0).id(), ids[0]);
  EXPECT_EQ(fetched.hits(0).score(), 10.0);
  EXPECT_EQ(fetched.hits(1).id(), ids[2]);
  EXPECT_EQ(fetched.hits(1).score(), 8.0);
  EXPECT_FALSE(fetched.hits(0).fields().at("body").empty());
  fetch.set_top_k(2);
  EXPECT_EQ(Call(*one_stub, fetch, &fetched).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A shard server opens only its shards: servers of the parts of one run
// (scry index --shard I, one --build-id), each serving its part, are one
// index behind a broker, equal to one process of the whole build; a part
// refuses to serve other shards; a whole index served as {1} opens shard 1
// alone (it serves with the other shards' directories gone).
TEST_F(BrokerTest, ServersOfPartsAreOneIndexAndOpenOnlyTheirShards) {
  std::vector<std::unique_ptr<server::Server>> parts;
  for (int32_t i = 0; i < 4; ++i) {
    indexer::BuildOptions build;
    build.inputs = {TestDataDir() + "/sample.jsonl"};
    build.index_dir = tmp_->Sub("part-" + std::to_string(i));
    build.num_shards = 4;
    build.only_shard = i;
    build.build_id = "run-7";
    ASSERT_THAT(indexer::BuildIndex(build), IsOk());
    parts.push_back(ServeIndex(build.index_dir, {static_cast<uint32_t>(i)}));
    ASSERT_NE(parts.back(), nullptr);
    if (i == 0) {
      server::ServerOptions options;
      options.index_dir = build.index_dir;
      options.listen = "127.0.0.1:0";
      options.read_only = true;
      options.searcher.shards = {1};
      EXPECT_THAT(server::Server::Start(options).status(),
                  StatusIs(absl::StatusCode::kFailedPrecondition, "--shards 0"));
    }
  }
  indexer::BuildOptions whole;
  whole.inputs = {TestDataDir() + "/sample.jsonl"};
  whole.index_dir = tmp_->Sub("whole-of-parts");
  whole.num_shards = 4;
  ASSERT_THAT(indexer::BuildIndex(whole), IsOk());
  auto one = ServeIndex(whole.index_dir, {});
  ASSERT_NE(one, nullptr);
  auto broker = StartBroker(parts);
  ASSERT_NE(broker, nullptr);
  ExpectSameOnQueries(*StubOf(one->port()), *StubOf(broker->port()), Queries(40));

  // A copy of the whole index without shards 0, 2 and 3 serves shard 1.
  const std::string copy = tmp_->Sub("only-shard-1");
  std::filesystem::copy(whole.index_dir, copy, std::filesystem::copy_options::recursive);
  std::vector<std::string> removed;
  for (const auto& gen : std::filesystem::directory_iterator(copy)) {
    if (!gen.is_directory()) continue;
    for (const char* shard : {"shard-000", "shard-002", "shard-003"}) {
      if (std::filesystem::remove_all(gen.path() / shard) > 0) removed.push_back(shard);
    }
  }
  ASSERT_EQ(removed.size(), 3u);
  auto alone = ServeIndex(copy, {1});
  ASSERT_NE(alone, nullptr);
  v1::StatsResponse stats;
  grpc::ClientContext context;
  ASSERT_TRUE(StubOf(alone->port())->Stats(&context, v1::StatsRequest(), &stats).ok());
  ASSERT_EQ(stats.shards_size(), 1);
  EXPECT_EQ(stats.shards(0).shard(), 1u);
  EXPECT_GT(stats.docs(), 0u);
}

// A dns: backend whose answer changes (BrokerOptions::resolve, read again
// every second): an address that appears is used, one that vanishes is no
// longer called (its calls done), a failed resolution keeps the last answer;
// no search fails meanwhile.
TEST_F(BrokerTest, ADnsNameWhoseAnswerChangesAddsAndDrainsBackends) {
  std::vector<std::unique_ptr<server::Server>> servers;
  servers.push_back(Serve({}));
  servers.push_back(Serve({}));
  const std::string a = "127.0.0.1:" + std::to_string(servers[0]->port());
  const std::string b = "127.0.0.1:" + std::to_string(servers[1]->port());
  absl::Mutex mu;
  absl::StatusOr<std::set<std::string>> answer = std::set<std::string>{a};
  server::BrokerOptions options;
  options.listen = "127.0.0.1:0";
  options.health_interval_ms = 100;
  options.resolve_interval_s = 1;
  options.backends = {"dns:shards.test:7700"};
  options.resolve = [&](const std::string& name, const std::string& port) {
    EXPECT_EQ(name, "shards.test");
    EXPECT_EQ(port, "7700");
    absl::MutexLock lock(&mu);
    return answer;
  };
  auto broker = server::Broker::Start(options);
  ASSERT_THAT(broker, IsOk());
  auto stub = StubOf((*broker)->port());
  const std::vector<v1::SearchRequest> queries = Queries(0);
  size_t next = 0;
  auto search = [&] {
    v1::SearchResponse r;
    const grpc::Status status = Call(*stub, queries[next++ % queries.size()], &r);
    EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message();
  };
  auto calls = [&](size_t i) { return FinishedCalls(*servers[i], "Search"); };
  // Searches until `done` holds (at most 10 s).
  auto search_until = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) {
      search();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };
  for (int i = 0; i < 20; ++i) search();
  EXPECT_GT(calls(0), 0u);
  EXPECT_EQ(calls(1), 0u);
  {
    absl::MutexLock lock(&mu);
    answer = std::set<std::string>{a, b};
  }
  EXPECT_TRUE(search_until([&] { return calls(1) > 0; })) << "the new address is never called";
  {
    absl::MutexLock lock(&mu);
    answer = std::set<std::string>{b};
  }
  // Drained: once a's count stops for 1.5 s of searches, it must stay still.
  uint64_t a_calls = calls(0);
  absl::Time since = absl::Now();
  EXPECT_TRUE(search_until([&] {
    const uint64_t now = calls(0);
    if (now != a_calls) {
      a_calls = now;
      since = absl::Now();
    }
    return absl::Now() - since > absl::Milliseconds(1500);
  }));
  const uint64_t drained = calls(0);
  for (int i = 0; i < 30; ++i) search();
  EXPECT_EQ(calls(0), drained);
  {
    absl::MutexLock lock(&mu);
    answer = absl::UnavailableError("SERVFAIL");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const uint64_t before = calls(1);
  for (int i = 0; i < 20; ++i) search();
  EXPECT_GT(calls(1), before);  // the last answer kept
  EXPECT_EQ(calls(0), drained);
}

}  // namespace
// ---- The broker's HTTP/JSON API ----

// The JSON answer of POST `path` on the broker's HTTP port, parsed into
// `out`; the HTTP status.
template <class Response>
int PostBroker(int port, const std::string& path, const google::protobuf::Message& request,
               Response* out) {
  std::string body;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(request, &body).ok());
  const Reply reply = PostJson(port, path, body);
  if (reply.status == 200) {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(reply.body, out).ok()) << reply.body;
  }
  return reply.status;
}

// `scry broker --http-listen`: searches, writes, refreshes, documents and
// stats over HTTP answer as one process does over gRPC; errors map as the
// server's HTTP API maps them; the search page is served.
TEST_F(BrokerTest, TheHttpApiAnswersAsOneProcess) {
  const std::string base = tmp_->Sub("idx");
  auto one = ServeWritable(base, tmp_->Sub("h_one"), {});
  std::vector<std::unique_ptr<server::Server>> backends;
  backends.push_back(ServeWritable(base, tmp_->Sub("h_a"), {0, 1}));
  backends.push_back(ServeWritable(base, tmp_->Sub("h_b"), {2, 3}));
  server::BrokerOptions options = BrokerOver(backends);
  options.http_listen = "127.0.0.1:0";
  auto started = server::Broker::Start(options);
  ASSERT_THAT(started, IsOk());
  std::unique_ptr<server::Broker> broker = std::move(*started);
  const int http = broker->http_port();
  ASSERT_GT(http, 0);
  ASSERT_TRUE(HealthBecomes(broker->port(), true));
  auto one_stub = StubOf(one->port());
  auto one_writer = WriterOf(one->port());

  // Writes over HTTP, the same over gRPC to one process; then a refresh.
  WriteMix mix(*words_, TestSeed(2101));
  for (int batch = 0; batch < 4; ++batch) {
    const v1::WriteRequest request = mix.Next(20);
    v1::WriteResponse want, got;
    ASSERT_TRUE(Write(*one_writer, request, &want).ok());
    ASSERT_EQ(PostBroker(http, "/v1/write", request, &got), 200);
    ASSERT_EQ(got.results_size(), want.results_size());
    for (int i = 0; i < want.results_size(); ++i) {
      EXPECT_EQ(got.results(i).code(), want.results(i).code()) << i;
    }
  }
  Refresh(*one_writer);
  v1::RefreshResponse refreshed;
  ASSERT_EQ(PostBroker(http, "/v1/refresh", v1::RefreshRequest(), &refreshed), 200);
  EXPECT_GT(refreshed.applied(), 0u);

  uint64_t searches_ok = 0;
  WaitConnected(*one_stub);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  for (v1::SearchRequest request : Queries(30)) {
    SCOPED_TRACE(request.ShortDebugString());
    request.set_top_k(10);
    request.set_exact_total_hits(true);
    request.add_fields("title");
    v1::SearchResponse want, got;
    const grpc::Status want_status = Call(*one_stub, request, &want);
    const int code = PostBroker(http, "/v1/search", request, &got);
    if (!want_status.ok()) {  // e.g. only negations, with some seeds: the same refusal
      EXPECT_EQ(code, server::HttpStatusOf(want_status.error_code()));
      continue;
    }
    ASSERT_EQ(code, 200);
    ++searches_ok;
    want.clear_took_micros();
    got.clear_took_micros();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got))
        << "want " << want.ShortDebugString() << "\ngot  " << got.ShortDebugString();
  }
  for (const std::string& id : {mix.ids().front(), mix.ids().back()}) {
    v1::GetDocumentRequest request;
    request.set_id(id);
    v1::GetDocumentResponse want, got;
    grpc::ClientContext context;
    const grpc::Status status = one_stub->GetDocument(&context, request, &want);
    const int code = PostBroker(http, "/v1/document", request, &got);
    if (status.ok()) {
      EXPECT_EQ(code, 200);
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want, got));
    } else {
      EXPECT_EQ(code, server::HttpStatusOf(status.error_code())) << id;
    }
  }
  v1::StatsResponse one_stats, stats;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(one_stub->Stats(&context, v1::StatsRequest(), &one_stats).ok());
  }
  const Reply got_stats = Get(http, "/v1/stats");
  ASSERT_EQ(got_stats.status, 200) << got_stats.body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(got_stats.body, &stats).ok());
  EXPECT_EQ(stats.docs(), one_stats.docs());
  EXPECT_EQ(stats.fields_size(), one_stats.fields_size());
  // The broker's own figures: its backends, and its calls (HTTP ones too).
  ASSERT_EQ(stats.backends_size(), 2);
  std::set<uint32_t> covered;
  for (const v1::BackendStatus& b : stats.backends()) {
    EXPECT_TRUE(b.up()) << b.address();
    EXPECT_TRUE(b.writable());
    EXPECT_FALSE(b.lagging());
    EXPECT_GT(b.write_seq(), 0u);
    EXPECT_FALSE(b.build_id().empty());
    covered.insert(b.shards().begin(), b.shards().end());
  }
  EXPECT_EQ(covered, (std::set<uint32_t>{0, 1, 2, 3}));
  std::map<std::string, uint64_t> ok_calls;
  for (const v1::MethodMetrics& m : stats.methods()) {
    const auto it = m.calls_by_code().find("OK");
    if (it != m.calls_by_code().end()) ok_calls[m.method()] = it->second;
  }
  EXPECT_EQ(ok_calls["Write"], 4u);
  EXPECT_EQ(ok_calls["Refresh"], 1u);
  EXPECT_EQ(ok_calls["Search"], searches_ok);
  EXPECT_GT(searches_ok, 20u);
  EXPECT_EQ(ok_calls["Stats"], 0u);  // not counted in its own answer
  Reply metrics = Get(http, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr(absl::StrCat("scry_rpc_calls_total{method=\"Search\",code=\"OK\"} ",
                                     searches_ok, "\n")));
  EXPECT_THAT(metrics.body, HasSubstr(absl::StrCat("scry_broker_backend_up{address=\"127.0.0.1:",
                                                   backends[0]->port(), "\"} 1\n")));
  EXPECT_THAT(metrics.body, HasSubstr("scry_broker_backend_info{address=\"127.0.0.1:"));

  // Errors: malformed JSON and unknown members are 400 with the error body;
  // a bad timeout_ms too; /v1/reload is not the broker's.
  Reply bad = PostJson(http, "/v1/search", "{\"query\": ");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, ::testing::HasSubstr("\"status\":\"INVALID_ARGUMENT\""));
  bad = PostJson(http, "/v1/search", "{\"query\": \"a\", \"no_such_member\": 1}");
  EXPECT_EQ(bad.status, 400);
  bad = PostJson(http, "/v1/search?timeout_ms=0", "{\"query\": \"a\"}");
  EXPECT_EQ(bad.status, 400);
  bad = PostJson(http, "/v1/search", "{\"query\": \"a AND (\"}");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(PostJson(http, "/v1/reload", "{}").status, 404);
  const Reply page = Get(http, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_THAT(page.body, ::testing::HasSubstr("/v1/search"));

  // With its backends gone, a search is 503 naming the shards; /metrics
  // still answers, with the backends down.
  const int gone_port = backends[0]->port();
  backends.clear();
  ASSERT_TRUE(HealthBecomes(broker->port(), false));
  bad = PostJson(http, "/v1/search", "{\"query\": \"a\"}");
  EXPECT_EQ(bad.status, 503) << bad.body;
  EXPECT_THAT(bad.body, HasSubstr("shards"));
  metrics = Get(http, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(
      metrics.body,
      HasSubstr(absl::StrCat("scry_broker_backend_up{address=\"127.0.0.1:", gone_port, "\"} 0\n")));
  EXPECT_THAT(metrics.body,
              ::testing::ContainsRegex(
                  "scry_rpc_calls_total\\{method=\"Search\",code=\"UNAVAILABLE\"\\} [1-9]"));
}

}  // namespace scry::testing
