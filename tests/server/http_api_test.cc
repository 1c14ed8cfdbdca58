// File: tests/server/http_api_test.cc
//
// The HTTP/JSON API (server/http_api.h) of a real Server on 127.0.0.1 (free
// ports) over an index of the bundled sample corpus: every search answered
// over HTTP equals the same search over gRPC; errors are JSON with the HTTP
// status of their gRPC code; tokens, anonymous fields and deadlines hold as
// over gRPC; `scry serve --http-listen`.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/http_api.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/server/sample_server_test.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::Get;
using ::scry::testing::IsOk;
using ::scry::testing::PostJson;
using ::scry::testing::Reply;
using ::scry::testing::TempDir;
using ::testing::HasSubstr;

class HttpApiTest : public ::scry::testing::SampleServerTest {
 protected:
  static ServerOptions Options() {
    ServerOptions options = SampleServerTest::Options();
    options.http_listen = "127.0.0.1:0";
    return options;
  }

  static std::unique_ptr<v1::SearchService::Stub> Stub(int port) {
    return v1::SearchService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  // The JSON error body's status name, e.g. "INVALID_ARGUMENT".
  static std::string ErrorStatus(const Reply& r) {
    const size_t at = r.body.find("\"status\":\"");
    if (at == std::string::npos) return "";
    return r.body.substr(at + 10, r.body.find('"', at + 10) - at - 10);
  }
};

TEST_F(HttpApiTest, SearchesEqualTheSameSearchesOverGrpc) {
  auto server = Start(Options());
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->http_port(), 0);
  auto stub = Stub(server->port());
  const std::vector<std::string> requests = {
      R"({"query": "license", "top_k": 5})",
      R"({"query": "free software", "topK": 20, "offset": 3, "default_operator": "DEFAULT_OPERATOR_AND"})",
      R"({"query": "\"general public\"", "fields": ["*"], "highlight": {"fields": ["body"]}})",
      R"({"query": "copy* OR distribut*", "top_k": 7, "exact_total_hits": true})",
      R"({"query": "nothingmatchesthisword"})",
  };
  for (const std::string& json : requests) {
    const Reply r = PostJson(server->http_port(), "/v1/search", json);
    ASSERT_EQ(r.status, 200) << json << "\n" << r.body;
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    v1::SearchResponse over_http;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &over_http).ok()) << r.body;

    v1::SearchRequest request;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok()) << json;
    v1::SearchResponse over_grpc;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->Search(&context, request, &over_grpc).ok()) << json;
    over_http.clear_took_micros();
    over_grpc.clear_took_micros();
    // Compared as messages: the order of a map's entries on the wire is not fixed.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(over_http, over_grpc))
        << json << "\nHTTP: " << over_http.ShortDebugString()
        << "\ngRPC: " << over_grpc.ShortDebugString();
  }
  // Something was found by the first ones: the comparison is not of empties.
  const Reply r = PostJson(server->http_port(), "/v1/search", requests[0]);
  EXPECT_THAT(r.body, HasSubstr("\"hits\""));
}

TEST_F(HttpApiTest, OtherMethodsAndMetrics) {
  auto server = Start(Options());
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  Reply r = Get(port, "/v1/stats");
  EXPECT_EQ(r.status, 200);
  v1::StatsResponse stats;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &stats).ok()) << r.body;
  EXPECT_EQ(stats.docs(), 4522u);
  EXPECT_EQ(PostJson(port, "/v1/stats", "").status, 200);  // an empty body: the empty message

  // The id of a hit, fetched whole.
  r = PostJson(port, "/v1/search", R"({"query": "license", "top_k": 1})");
  v1::SearchResponse found;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &found).ok()) << r.body;
  ASSERT_EQ(found.hits_size(), 1);
  r = PostJson(port, "/v1/document", absl::StrCat(R"({"id": ")", found.hits(0).id(), R"("})"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(found.hits(0).id()));
  r = PostJson(port, "/v1/document", R"({"id": "no such document"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorStatus(r), "NOT_FOUND");

  r = PostJson(port, "/v1/reload", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("gen-"));

  r = Get(port, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("scry_rpc_calls_total{method=\"Search\",code=\"OK\"}"));
  // Calls over HTTP are counted as RPCs like gRPC's.
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("{method=\"Search\",code=\"OK\"} 0\n")));

  EXPECT_EQ(Get(port, "/v1/search").status, 405);
  EXPECT_EQ(Get(port, "/v1/nothing").status, 404);
}

TEST_F(HttpApiTest, BadRequestsGetJsonErrors) {
  auto server = Start(Options());
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {R"({"query": "license")", 400, "INVALID_ARGUMENT"},                // truncated
      {R"({"query": "license", "colour": 1})", 400, "INVALID_ARGUMENT"},  // unknown member
      {R"({"query": 42})", 400, "INVALID_ARGUMENT"},                      // wrong type
      {R"({"query": "license", "top_k": -1})", 400, "INVALID_ARGUMENT"},
      {R"({"query": ""})", 400, "INVALID_ARGUMENT"},          // empty query
      {R"({"query": "a AND (b"})", 400, "INVALID_ARGUMENT"},  // bad syntax
      {"[1, 2]", 400, "INVALID_ARGUMENT"},
      {"\xff\xfe", 400, "INVALID_ARGUMENT"},  // not UTF-8
      {R"({"query": "caf\u00e9", "top_k": 100000000})", 400, "INVALID_ARGUMENT"},
  };
  for (const Case& c : cases) {
    Reply r = PostJson(port, "/v1/search", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << "\n" << r.body;
    EXPECT_EQ(ErrorStatus(r), c.code) << c.body << "\n" << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json") << c.body;
    EXPECT_THAT(r.body, HasSubstr("\"message\":\"")) << c.body;
  }
  // Not JSON by its type.
  const Reply text = scry::testing::Exchange(
      port,
      "POST /v1/search HTTP/1.1\r\nConnection: close\r\nContent-Type: text/plain\r\n"
      "Content-Length: 2\r\n\r\n{}");
  EXPECT_EQ(text.status, 415);
  // A deadline that is not a number, and one too short for a heavy query.
  EXPECT_EQ(PostJson(port, "/v1/search?timeout_ms=soon", R"({"query": "license"})").status, 400);
  const Reply late =
      PostJson(port, "/v1/search?timeout_ms=1",
               absl::StrCat(R"({"query": ")", *heavy_query_, R"(", "top_k": 1000})"));
  EXPECT_EQ(late.status, 504) << late.body;
  EXPECT_EQ(ErrorStatus(late), "DEADLINE_EXCEEDED");
  // Still serving.
  EXPECT_EQ(PostJson(port, "/v1/search", R"({"query": "license"})").status, 200);
}

TEST_F(HttpApiTest, TokensAndAnonymousFieldsHoldAsOverGrpc) {
  ServerOptions options = Options();
  options.service.auth_tokens = {"sesame"};
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  const std::string search = R"({"query": "license", "top_k": 3})";
  Reply r = PostJson(port, "/v1/search", search);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer");
  EXPECT_EQ(ErrorStatus(r), "UNAUTHENTICATED");
  EXPECT_EQ(PostJson(port, "/v1/search", search, "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(PostJson(port, "/v1/search", search, "Authorization: Bearer sesame\r\n").status, 200);
  EXPECT_EQ(Get(port, "/v1/stats").status, 401);
  EXPECT_EQ(PostJson(port, "/v1/reload", "{}").status, 401);
  server.reset();

  options.service.anonymous_search = true;  // --anonymous-fields: title (the default)
  server = Start(options);
  ASSERT_NE(server, nullptr);
  r = PostJson(server->http_port(), "/v1/search", search);
  EXPECT_EQ(r.status, 200);
  r = PostJson(server->http_port(), "/v1/search", R"({"query": "license", "fields": ["body"]})");
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("--anonymous-fields"));
  EXPECT_EQ(PostJson(server->http_port(), "/v1/document", R"({"id": "x"})").status, 401);
}

TEST(JsonErrorTest, StaysValidJsonWhateverTheMessage) {
  const std::string body = JsonError(grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT, "bad \"q\\\" \n\t caf\xe9 \xc3\xa9 \xed\xa0\x80"));
  EXPECT_EQ(
      body,
      "{\"error\":{\"code\":3,\"status\":\"INVALID_ARGUMENT\",\"message\":\"bad \\\"q\\\\\\\" "
      "\\u000a\\u0009 caf\xef\xbf\xbd \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}}");
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::DATA_LOSS), 500);
  EXPECT_EQ(HttpStatusOf(grpc::StatusCode::UNAVAILABLE), 503);
}

// A request that waited for a worker has had that long of its deadline:
// with every worker held by a stalled search, a search asking for 300 ms
// that waits a second is DEADLINE_EXCEEDED (504) once it runs, not given
// 300 ms afresh; so is one under the default deadline.
TEST_F(HttpApiTest, TimeWaitingForAWorkerCountsAgainstTheDeadline) {
  absl::Notification release;
  std::atomic<int> stalled{0};
  ServerOptions options = Options();
  options.service.default_deadline_ms = 400;
  options.service.max_concurrent_searches = 0;  // more workers than its default on a big host
  options.service.before_search = [&] {
    if (release.HasBeenNotified()) return;
    stalled.fetch_add(1);
    release.WaitForNotificationWithTimeout(absl::Seconds(20));
  };
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  // As many as the listener has workers (server.cc: max(2, cores)).
  const int workers = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::thread> holders;
  for (int i = 0; i < workers; ++i) {
    holders.emplace_back(
        [port] { PostJson(port, "/v1/search?timeout_ms=30000", R"({"query": "license"})"); });
  }
  for (int i = 0; i < 400 && stalled.load() < workers; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (stalled.load() != workers) {
    release.Notify();
    for (std::thread& t : holders) t.join();
    FAIL() << stalled.load() << " of " << workers << " workers held";
  }
  Reply asked, by_default;
  std::thread late(
      [&] { asked = PostJson(port, "/v1/search?timeout_ms=300", R"({"query": "license"})"); });
  std::thread late_default(
      [&] { by_default = PostJson(port, "/v1/search", R"({"query": "license"})"); });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  release.Notify();
  late.join();
  late_default.join();
  for (std::thread& t : holders) t.join();
  EXPECT_EQ(asked.status, 504) << asked.body;
  EXPECT_EQ(ErrorStatus(asked), "DEADLINE_EXCEEDED");
  EXPECT_EQ(by_default.status, 504) << by_default.body;
  // Once the workers are free, the same search is answered.
  EXPECT_EQ(PostJson(port, "/v1/search?timeout_ms=5000", R"({"query": "license"})").status, 200);
}

// `scry serve --http-listen 127.0.0.1:0 --http-port-file F`, searched over HTTP.
TEST_F(HttpApiTest, ScryServeWithHttpListen) {
  TempDir dir;
  const std::string port_file = dir.Sub("port"), http_port_file = dir.Sub("http_port");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SCRY_BINARY, SCRY_BINARY, "serve", "--index", tmp_->Sub("idx").c_str(), "--listen",
          "127.0.0.1:0", "--port-file", port_file.c_str(), "--http-listen", "127.0.0.1:0",
          "--http-port-file", http_port_file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int http_port = 0;
  for (int i = 0; i < 200 && http_port == 0; ++i) {
    usleep(50000);
    if (!scry::testing::ReadFile(port_file).empty()) {
      http_port = std::atoi(scry::testing::ReadFile(http_port_file).c_str());
    }
  }
  EXPECT_GT(http_port, 0);
  if (http_port > 0) {
    const Reply r = PostJson(http_port, "/v1/search", R"({"query": "license", "top_k": 2})");
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr("\"hits\""));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace scry::server
