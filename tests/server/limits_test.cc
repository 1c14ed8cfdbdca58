// Server limits on loopback (127.0.0.1, a free port) over a real index of the
// bundled sample corpus: deadlines (the client's, the server's default when
// the client sets none, and the server's maximum over either) stop the
// evaluation loops and free the server's thread; searches past
// --max-concurrent-searches get RESOURCE_EXHAUSTED.
//
// The "heavy" query ORs 3,000 common words (the servers here allow it), exhaustively
// (PRUNING_NONE), top 10,000: every document is scored against hundreds of terms, about 200 ms
// (more under sanitizers). Each test measures it first and scales its waits
// to it, so that a machine of any speed gives the same verdict.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/server.h"
#include "tests/server/raw_call.h"
#include "tests/server/sample_server_test.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::IsOk;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

// The sample index (2 shards, built once per suite) and its heavy query.
class LimitsTest : public scry::testing::SampleServerTest {
 protected:
  std::unique_ptr<Server> Start(const SearchServiceOptions& service) {
    ServerOptions options = Options();
    options.service = service;
    options.read_only = true;  // some tests run two servers on the index at once
    return SampleServerTest::Start(options);
  }

  static std::unique_ptr<v1::SearchService::Stub> Stub(const Server& server) {
    return scry::testing::LoopbackStub(server.port());
  }

  static v1::SearchRequest Heavy() {
    v1::SearchRequest request;
    request.set_query(*heavy_query_);
    request.set_top_k(10000);
    request.set_pruning(v1::PRUNING_NONE);
    return request;
  }
  static v1::SearchRequest Light() {
    v1::SearchRequest request;
    request.set_query("kernel");
    return request;
  }

  // `request` with a client deadline `timeout` from now (none if zero).
  static grpc::Status Call(v1::SearchService::Stub& stub, const v1::SearchRequest& request,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    grpc::ClientContext context;
    if (timeout.count() > 0) context.set_deadline(std::chrono::system_clock::now() + timeout);
    v1::SearchResponse response;
    return stub.Search(&context, request, &response);
  }

  // How long the heavy query takes on `stub`'s server (the best of three).
  static std::chrono::milliseconds HeavyTime(v1::SearchService::Stub& stub) {
    auto best = Clock::duration::max();
    for (int i = 0; i < 3; ++i) {
      const auto start = Clock::now();
      const grpc::Status s = Call(stub, Heavy());
      EXPECT_TRUE(s.ok()) << s.error_message();
      best = std::min(best, Clock::now() - start);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(best);
  }
};

// With one search allowed at a time, a second one while the first runs is
// refused (a queue would have answered it OK after the first), and accepted
// again once the first is done. The second is sent once the server reports
// the first in flight; a round proves something if the second is refused or
// comes back while the first still runs (a queued second never does). A round
// that proves nothing (the first ended too soon) is run again; none in 5
// fails the test.
TEST_F(LimitsTest, ConcurrentSearchesOverTheLimitAreResourceExhausted) {
  SearchServiceOptions service;
  service.max_concurrent_searches = 1;
  service.default_deadline_ms = 0;
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  const auto heavy = HeavyTime(*stub);
  ASSERT_GE(heavy.count(), 40) << "the heavy query is too light to test with";

  constexpr int kRounds = 5;
  int proved = 0;
  for (int round = 0; round < kRounds && proved == 0; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    std::atomic<bool> done{false};
    grpc::Status first;
    std::thread runner([&] {
      first = Call(*stub, Heavy());
      done = true;
    });
    bool in_flight = false;
    while (!in_flight && !done) {
      grpc::ClientContext context;
      v1::StatsResponse stats;
      in_flight =
          stub->Stats(&context, v1::StatsRequest(), &stats).ok() && stats.searches_in_flight() > 0;
    }
    const grpc::Status second = Call(*stub, Light());
    const bool first_still_running = !done;
    runner.join();
    EXPECT_TRUE(first.ok()) << first.error_message();
    if (second.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      EXPECT_THAT(second.error_message(), HasSubstr("concurrent searches"));
      ++proved;
    } else if (first_still_running) {
      ADD_FAILURE() << "a second search ran while the first did: " << second.error_code() << " "
                    << second.error_message();
      ++proved;
    }
  }
  EXPECT_EQ(proved, 1) << "in " << kRounds
                       << " rounds the second search was never refused nor answered while the "
                          "first ran: queued behind it?";
  const grpc::Status after = Call(*stub, Light());
  EXPECT_TRUE(after.ok()) << after.error_message();
}

// A client deadline stops the search on the server: its slot is free again
// long before the search would have finished.
TEST_F(LimitsTest, ClientDeadlineStopsTheSearchAndFreesItsSlot) {
  SearchServiceOptions service;
  service.max_concurrent_searches = 1;
  service.default_deadline_ms = 0;
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  const auto heavy = HeavyTime(*stub);
  ASSERT_GE(heavy.count(), 40) << "the heavy query is too light to test with";

  for (int round = 0; round < 3; ++round) {
    const auto deadline = std::max(heavy / 10, std::chrono::milliseconds(2));
    const auto start = Clock::now();
    const grpc::Status s = Call(*stub, Heavy(), deadline);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
    // Had the server gone on, it would be busy until start + heavy: the slot
    // must be free before that. Polled from start + deadline + heavy / 2
    // (under a sanitizer on busy cores the stop can take a little longer
    // than the next call needs to arrive, which once failed CI).
    std::this_thread::sleep_until(start + deadline + heavy / 2);
    grpc::Status light = Call(*stub, Light());
    while (light.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           Clock::now() < start + heavy * 9 / 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      light = Call(*stub, Light());
    }
    EXPECT_TRUE(light.ok()) << "round " << round << ": " << light.error_message();
  }
}

// Without a client deadline the server's default applies: the server itself
// answers DEADLINE_EXCEEDED, promptly.
TEST_F(LimitsTest, DefaultDeadlineAppliesWhenTheClientSetsNone) {
  SearchServiceOptions unlimited;
  unlimited.default_deadline_ms = 0;
  auto reference = Start(unlimited);
  ASSERT_NE(reference, nullptr);
  const auto heavy = HeavyTime(*Stub(*reference));
  ASSERT_GE(heavy.count(), 40) << "the heavy query is too light to test with";

  SearchServiceOptions service;
  service.default_deadline_ms = static_cast<int>(std::max<long>(heavy.count() / 10, 2));
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  const auto start = Clock::now();
  const grpc::Status s = Call(*stub, Heavy());
  const auto took = Clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("deadline"));
  EXPECT_LT(took, std::chrono::milliseconds(service.default_deadline_ms) + heavy / 2);
  // Light queries finish well inside it.
  EXPECT_TRUE(Call(*stub, Light()).ok());
}

// The server's maximum deadline wins over a client's later one: a client
// asking for 300 s gets DEADLINE_EXCEEDED from the server after about
// max_deadline_ms, with a message naming the server's limit.
TEST_F(LimitsTest, MaxDeadlineCapsTheClientDeadline) {
  SearchServiceOptions unlimited;
  unlimited.default_deadline_ms = 0;
  unlimited.max_deadline_ms = 0;
  auto reference = Start(unlimited);
  ASSERT_NE(reference, nullptr);
  const auto heavy = HeavyTime(*Stub(*reference));
  ASSERT_GE(heavy.count(), 40) << "the heavy query is too light to test with";

  SearchServiceOptions service;
  service.default_deadline_ms = 0;
  service.max_deadline_ms = static_cast<int>(std::max<long>(heavy.count() / 10, 2));
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  for (const auto client : {std::chrono::milliseconds(300 * 1000), std::chrono::milliseconds(0)}) {
    const auto start = Clock::now();
    const grpc::Status s = Call(*stub, Heavy(), client);
    const auto took = Clock::now() - start;
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("--max-deadline-ms"));
    EXPECT_LT(took, std::chrono::milliseconds(service.max_deadline_ms) + heavy / 2)
        << "client deadline " << client.count() << " ms";
  }
  // A client deadline inside the maximum is the client's own.
  const grpc::Status s = Call(*stub, Heavy(), std::chrono::milliseconds(1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(Call(*stub, Light(), std::chrono::milliseconds(300 * 1000)).ok());
}

// The default deadline (for clients that set none) may not exceed the
// maximum: such a server does not start.
TEST_F(LimitsTest, DefaultDeadlineOverTheMaximumIsRefusedAtStart) {
  ServerOptions options;
  options.index_dir = tmp_->Sub("idx");
  options.listen = "127.0.0.1:0";
  options.service.default_deadline_ms = 60000;
  options.service.max_deadline_ms = 30000;
  auto server = Server::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("--max-deadline-ms"));
  options.service.max_deadline_ms = 0;  // no maximum
  EXPECT_THAT(Server::Start(options), IsOk());
}

// Sustained overload (many more clients than the limit and the cores): every
// answer is OK with the right hits or RESOURCE_EXHAUSTED, and the server
// answers normally afterwards.
TEST_F(LimitsTest, OverloadOnlyRefusesAndKeepsServing) {
  SearchServiceOptions service;
  // Below the callback API's threads (gRPC 1.51: at least 2), so that the
  // limit is reached.
  service.max_concurrent_searches = 1;
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  v1::SearchResponse expected;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(Stub(*server)->Search(&context, Light(), &expected).ok());
    ASSERT_GT(expected.hits_size(), 0);
  }
  std::atomic<int> ok{0}, refused{0}, wrong{0};
  std::vector<std::thread> clients;
  const auto until = Clock::now() + std::chrono::seconds(2);
  for (int c = 0; c < 24; ++c) {
    clients.emplace_back([&] {
      auto stub = Stub(*server);
      while (Clock::now() < until) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::SearchResponse response;
        const grpc::Status s = stub->Search(&context, Light(), &response);
        if (s.ok() && response.hits_size() == expected.hits_size() &&
            response.hits(0).id() == expected.hits(0).id()) {
          ++ok;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++refused;
        } else {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(refused.load(), 0);  // the limit was really reached
  v1::SearchResponse after;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub(*server)->Search(&context, Light(), &after).ok());
  EXPECT_EQ(after.hits_size(), expected.hits_size());
}

// Stats reports each method's calls by status code and a latency histogram.
TEST_F(LimitsTest, StatsCountsCallsByCodeWithLatencyHistogram) {
  auto server = Start(SearchServiceOptions());
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Call(*stub, Light()).ok());
  v1::SearchRequest bad;
  bad.set_query("(kernel");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Call(*stub, bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto stats = [&] {
    grpc::ClientContext context;
    v1::StatsResponse response;
    EXPECT_TRUE(stub->Stats(&context, v1::StatsRequest(), &response).ok());
    return response;
  };
  v1::StatsResponse first = stats();
  ASSERT_EQ(first.methods_size(), 10);  // Metrics::kNumMethods
  const v1::MethodMetrics& search = first.methods(0);
  EXPECT_EQ(search.method(), "Search");
  EXPECT_EQ(search.calls_by_code().at("OK"), 5u);
  EXPECT_EQ(search.calls_by_code().at("INVALID_ARGUMENT"), 2u);
  EXPECT_EQ(search.calls_by_code().size(), 2u);
  ASSERT_EQ(search.latency_bucket_counts_size(), search.latency_bucket_upper_micros_size() + 1);
  uint64_t counted = 0;
  for (uint64_t n : search.latency_bucket_counts()) counted += n;
  EXPECT_EQ(counted, 7u);
  EXPECT_GT(search.latency_sum_micros(), 0u);
  EXPECT_EQ(first.methods(2).method(), "Stats");
  EXPECT_TRUE(first.methods(2).calls_by_code().empty());  // not counting itself
  EXPECT_EQ(first.searches_in_flight(), 0u);
  EXPECT_EQ(stats().methods(2).calls_by_code().at("OK"), 1u);
}

// While the index loads the service answers UNAVAILABLE (the server is
// already listening, health NOT_SERVING); once it has its Searcher, it serves.
TEST_F(LimitsTest, ServiceIsUnavailableUntilTheIndexIsLoaded) {
  SearchService service(nullptr, SearchServiceOptions());
  v1::SearchRequest request = Light();
  v1::SearchResponse response;
  const grpc::Status loading = service.Search(nullptr, request, &response);
  EXPECT_EQ(loading.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(loading.error_message(), HasSubstr("loading"));
  v1::StatsResponse stats;
  EXPECT_EQ(service.Stats(nullptr, v1::StatsRequest(), &stats).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  LiveIndexOptions live;
  live.index_dir = tmp_->Sub("idx");
  auto index = LiveIndex::Open(live);
  ASSERT_THAT(index, IsOk());
  service.SetIndex(index->get());
  EXPECT_TRUE(service.Search(nullptr, request, &response).ok());
  EXPECT_GT(response.hits_size(), 0);
}

// --access-log: one JSON line per call, without the query text.
TEST_F(LimitsTest, AccessLogWritesOneJsonLinePerCall) {
  SearchServiceOptions service;
  service.access_log = true;
  auto server = Start(service);
  ASSERT_NE(server, nullptr);
  auto stub = Stub(*server);
  v1::SearchRequest bad;
  bad.set_query("(secretword");
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(Call(*stub, Light()).ok());
  EXPECT_FALSE(Call(*stub, bad).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::ContainsRegex(
                       "\\{\"time\":\"[0-9T:.Z-]+\",\"method\":\"Search\",\"code\":\"OK\","
                       "\"micros\":[0-9]+,\"request_bytes\":[0-9]+,\"peer\":\"ipv4:127.0.0.1:"));
  EXPECT_THAT(log, HasSubstr("\"code\":\"INVALID_ARGUMENT\""));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("secretword")));
  size_t lines = 0;  // (gRPC may log lines of its own)
  for (size_t at = log.find("\"method\":"); at != std::string::npos;
       at = log.find("\"method\":", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u);
}

}  // namespace
}  // namespace scry::server
