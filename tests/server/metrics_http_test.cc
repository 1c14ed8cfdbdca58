// File: tests/server/metrics_http_test.cc
//
// The Prometheus endpoint (server/metrics_http.h) and the gRPC thread limit,
// with real servers on 127.0.0.1 (free ports) over an index of the bundled
// sample corpus, fetched by a plain-socket HTTP client written here: the
// rendering alone, the endpoint of a Server (counters, HELP/TYPE lines,
// bucket monotonicity, 404/405/400/431/408, off by default), `scry serve
// --metrics-listen`, and what gRPC 1.51 does past --grpc-max-threads.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "indexer/builder.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/http_server.h"
#include "server/prometheus.h"
#include "server/server.h"
#include "tests/server/http_client.h"
#include "tests/server/raw_call.h"
#include "tests/server/sample_server_test.h"
#include "tests/test_util.h"

namespace scry::server {
namespace {

using ::scry::testing::Connect;
using ::scry::testing::Exchange;
using ::scry::testing::Get;
using ::scry::testing::IsOk;
using ::scry::testing::RawCall;
using ::scry::testing::ReadFile;
using ::scry::testing::ReadOneResponse;
using ::scry::testing::ReadResponse;
using ::scry::testing::Reply;
using ::scry::testing::SendAll;
using ::scry::testing::StatusIs;
using ::scry::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

// ---- A parser of the exposition format (the subset scry writes) -------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> types;  // family -> type
  std::vector<std::string> help;             // families with HELP
  std::vector<std::string> errors;           // lines that do not parse

  // The value of the sample `name` with exactly `labels`, if there is one.
  std::optional<double> Value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
};

bool IsMetricName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  });
}

// The family of a sample: its name, or for a histogram's series the name
// without _bucket/_sum/_count.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      const std::string base = name.substr(0, name.size() - std::strlen(suffix));
      const auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

Exposition ParseExposition(const std::string& text) {
  Exposition out;
  if (!text.empty() && text.back() != '\n') out.errors.push_back("no final newline");
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const auto error = [&] { out.errors.emplace_back(line); };
    if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line.substr(7), absl::MaxSplits(' ', 1));
      if (parts.size() != 2 || !IsMetricName(parts[0]) || parts[1].empty()) {
        error();
      } else if (line[2] == 'H') {
        out.help.push_back(parts[0]);
      } else if (out.types.count(parts[0]) > 0) {
        error();  // a second TYPE line
      } else if (parts[1] != "counter" && parts[1] != "gauge" && parts[1] != "histogram") {
        error();
      } else {
        out.types[parts[0]] = parts[1];
      }
      continue;
    }
    if (line[0] == '#') continue;
    Sample sample;
    size_t at = 0;
    while (at < line.size() && line[at] != '{' && line[at] != ' ') ++at;
    sample.name = std::string(line.substr(0, at));
    if (!IsMetricName(sample.name)) {
      error();
      continue;
    }
    bool ok = true;
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (ok && at < line.size() && line[at] != '}') {
        const size_t eq = line.find("=\"", at);
        if (eq == absl::string_view::npos) {
          ok = false;
          break;
        }
        const std::string key(line.substr(at, eq - at));
        std::string value;
        at = eq + 2;
        while (at < line.size() && line[at] != '"') {
          if (line[at] == '\\' && at + 1 < line.size()) {
            ++at;
            value += line[at] == 'n' ? '\n' : line[at];
          } else {
            value += line[at];
          }
          ++at;
        }
        if (at >= line.size() || !IsMetricName(key)) ok = false;
        ++at;  // the closing quote
        sample.labels[key] = value;
        if (at < line.size() && line[at] == ',') ++at;
      }
      if (at >= line.size()) ok = false;
      ++at;  // '}'
    }
    if (!ok || at >= line.size() || line[at] != ' ') {
      error();
      continue;
    }
    const std::string value(line.substr(at + 1));
    if (value == "+Inf") {
      sample.value = HUGE_VAL;
    } else if (!absl::SimpleAtod(value, &sample.value)) {
      error();
      continue;
    }
    // Every sample belongs to a family declared before it.
    if (out.types.count(FamilyOf(sample.name, out.types)) == 0) {
      error();
      continue;
    }
    out.samples.push_back(std::move(sample));
  }
  return out;
}

// Checks the histogram series of `method`: buckets with increasing `le`,
// cumulative counts that never decrease, a +Inf bucket equal to _count.
// Returns _count.
double CheckHistogram(const Exposition& e, const std::string& method) {
  double last_le = -1, last_count = 0, inf = -1;
  int buckets = 0;
  for (const Sample& s : e.samples) {
    if (s.name != "scry_rpc_latency_seconds_bucket" || s.labels.at("method") != method) continue;
    ++buckets;
    const std::string& le = s.labels.at("le");
    if (le == "+Inf") {
      inf = s.value;
    } else {
      double bound = 0;
      EXPECT_TRUE(absl::SimpleAtod(le, &bound)) << le;
      EXPECT_GT(bound, last_le) << method << " le=" << le;
      EXPECT_EQ(inf, -1) << "a bucket after +Inf";
      last_le = bound;
    }
    EXPECT_GE(s.value, last_count) << method << " le=" << le;
    last_count = s.value;
  }
  EXPECT_EQ(buckets, 17) << method;  // 16 bounds and +Inf
  EXPECT_EQ(inf, last_count) << method;
  EXPECT_EQ(e.Value("scry_rpc_latency_seconds_count", {{"method", method}}), inf) << method;
  EXPECT_TRUE(e.Value("scry_rpc_latency_seconds_sum", {{"method", method}}).has_value()) << method;
  return inf;
}

// ---- RenderPrometheus alone --------------------------------------------------

TEST(RenderPrometheusTest, RendersCountersHistogramsAndGauges) {
  v1::StatsResponse stats;
  stats.set_docs(10);
  stats.set_terms(20);
  stats.set_postings(30);
  stats.set_bytes_on_disk(4096);
  stats.set_generation("gen-000003");
  stats.set_generation_loaded_unix_micros(1790000000500000);
  stats.set_reloads(2);
  stats.set_failed_reloads(1);
  stats.set_searches_in_flight(2);
  stats.set_connections_open(5);
  stats.set_connections_refused(7);
  stats.set_max_connections(512);
  stats.set_live_segments(6);
  stats.set_deleted_docs(40);
  stats.set_merges(3);
  v1::MethodMetrics* search = stats.add_methods();
  search->set_method("Search");
  (*search->mutable_calls_by_code())["OK"] = 3;
  (*search->mutable_calls_by_code())["INVALID_ARGUMENT"] = 1;
  for (uint64_t bound : {50, 1000, 2500000}) search->add_latency_bucket_upper_micros(bound);
  for (uint64_t n : {1, 2, 0, 1}) search->add_latency_bucket_counts(n);
  search->set_latency_sum_micros(3000123);
  v1::MethodMetrics* get = stats.add_methods();
  get->set_method("GetDocument");
  get->add_latency_bucket_upper_micros(10000000);
  get->add_latency_bucket_counts(0);
  get->add_latency_bucket_counts(0);
  v1::ShardStats* shard = stats.add_shards();
  shard->set_shard(0);
  shard->set_docs(4);
  (*shard->mutable_bytes_per_column_family())["postings"] = 1000;
  (*shard->mutable_bytes_per_column_family())["docs"] = 24;
  shard = stats.add_shards();
  shard->set_shard(1);
  shard->set_docs(6);
  (*shard->mutable_bytes_per_column_family())["default"] = 3072;

  EXPECT_EQ(RenderPrometheus(stats),
            "# HELP scry_rpc_calls_total Finished RPCs by method and status code.\n"
            "# TYPE scry_rpc_calls_total counter\n"
            "scry_rpc_calls_total{method=\"Search\",code=\"INVALID_ARGUMENT\"} 1\n"
            "scry_rpc_calls_total{method=\"Search\",code=\"OK\"} 3\n"
            "scry_rpc_calls_total{method=\"GetDocument\",code=\"OK\"} 0\n"
            "# HELP scry_rpc_latency_seconds Latency of finished RPCs, by method.\n"
            "# TYPE scry_rpc_latency_seconds histogram\n"
            "scry_rpc_latency_seconds_bucket{method=\"Search\",le=\"0.00005\"} 1\n"
            "scry_rpc_latency_seconds_bucket{method=\"Search\",le=\"0.001\"} 3\n"
            "scry_rpc_latency_seconds_bucket{method=\"Search\",le=\"2.5\"} 3\n"
            "scry_rpc_latency_seconds_bucket{method=\"Search\",le=\"+Inf\"} 4\n"
            "scry_rpc_latency_seconds_sum{method=\"Search\"} 3.000123\n"
            "scry_rpc_latency_seconds_count{method=\"Search\"} 4\n"
            "scry_rpc_latency_seconds_bucket{method=\"GetDocument\",le=\"10\"} 0\n"
            "scry_rpc_latency_seconds_bucket{method=\"GetDocument\",le=\"+Inf\"} 0\n"
            "scry_rpc_latency_seconds_sum{method=\"GetDocument\"} 0\n"
            "scry_rpc_latency_seconds_count{method=\"GetDocument\"} 0\n"
            "# HELP scry_searches_in_flight Searches running now.\n"
            "# TYPE scry_searches_in_flight gauge\n"
            "scry_searches_in_flight 2\n"
            "# HELP scry_connections_open Connections to the gRPC port open now.\n"
            "# TYPE scry_connections_open gauge\n"
            "scry_connections_open 5\n"
            "# HELP scry_connections_refused_total Connections closed at once because "
            "--max-connections were open.\n"
            "# TYPE scry_connections_refused_total counter\n"
            "scry_connections_refused_total 7\n"
            "# HELP scry_connections_max The cap on open connections (--max-connections).\n"
            "# TYPE scry_connections_max gauge\n"
            "scry_connections_max 512\n"
            "# HELP scry_index_docs Documents in the served index.\n"
            "# TYPE scry_index_docs gauge\n"
            "scry_index_docs 10\n"
            "# HELP scry_index_terms Terms in the served index (summed over shards).\n"
            "# TYPE scry_index_terms gauge\n"
            "scry_index_terms 20\n"
            "# HELP scry_index_postings Postings in the served index.\n"
            "# TYPE scry_index_postings gauge\n"
            "scry_index_postings 30\n"
            "# HELP scry_index_bytes_on_disk Bytes of the served index's SST files.\n"
            "# TYPE scry_index_bytes_on_disk gauge\n"
            "scry_index_bytes_on_disk 4096\n"
            "# HELP scry_live_segments Segments of live writes served now (all shards; merges "
            "bound them).\n"
            "# TYPE scry_live_segments gauge\n"
            "scry_live_segments 6\n"
            "# HELP scry_live_deleted_docs Deleted or replaced documents still held by the base "
            "or segments (merges drop them).\n"
            "# TYPE scry_live_deleted_docs gauge\n"
            "scry_live_deleted_docs 40\n"
            "# HELP scry_live_merges_total Snapshots of merged live segments served since the "
            "server started.\n"
            "# TYPE scry_live_merges_total counter\n"
            "scry_live_merges_total 3\n"
            "# HELP scry_index_generation_info The generation of the index directory served "
            "(value 1).\n"
            "# TYPE scry_index_generation_info gauge\n"
            "scry_index_generation_info{generation=\"gen-000003\"} 1\n"
            "# HELP scry_index_generation_loaded_timestamp_seconds When the served generation "
            "began to be served (Unix time).\n"
            "# TYPE scry_index_generation_loaded_timestamp_seconds gauge\n"
            "scry_index_generation_loaded_timestamp_seconds 1790000000.5\n"
            "# HELP scry_index_reloads_total New generations switched to since the server "
            "started.\n"
            "# TYPE scry_index_reloads_total counter\n"
            "scry_index_reloads_total 2\n"
            "# HELP scry_index_failed_reloads_total New generations refused (they could not be "
            "opened).\n"
            "# TYPE scry_index_failed_reloads_total counter\n"
            "scry_index_failed_reloads_total 1\n"
            "# HELP scry_index_shard_docs Documents in one shard of the served index.\n"
            "# TYPE scry_index_shard_docs gauge\n"
            "scry_index_shard_docs{shard=\"0\"} 4\n"
            "scry_index_shard_docs{shard=\"1\"} 6\n"
            "# HELP scry_index_shard_bytes_on_disk Bytes of one shard's SST files in the served "
            "index.\n"
            "# TYPE scry_index_shard_bytes_on_disk gauge\n"
            "scry_index_shard_bytes_on_disk{shard=\"0\"} 1024\n"
            "scry_index_shard_bytes_on_disk{shard=\"1\"} 3072\n");
}

TEST(RenderPrometheusTest, EscapesLabelValuesAndParsesBack) {
  v1::StatsResponse stats;
  v1::MethodMetrics* m = stats.add_methods();
  m->set_method("a\"b\\c\nd");
  (*m->mutable_calls_by_code())["OK"] = 7;
  const std::string text = RenderPrometheus(stats);
  EXPECT_THAT(text, HasSubstr("scry_rpc_calls_total{method=\"a\\\"b\\\\c\\nd\",code=\"OK\"} 7\n"));
  const Exposition e = ParseExposition(text);
  EXPECT_THAT(e.errors, ::testing::IsEmpty());
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "a\"b\\c\nd"}, {"code", "OK"}}), 7);
}

// ---- HttpServer alone (server/http_server.h) ---------------------------------

// A server with GET /metrics answering `text` (an error: 503), and POST /echo
// answering the request body.
std::unique_ptr<HttpServer> StartHttp(absl::StatusOr<std::string> text,
                                      HttpServerOptions options = {}) {
  HttpRoute metrics{"GET", "/metrics", [text](const HttpRequest&) {
                      HttpResponse r;
                      if (!text.ok()) {
                        r.status = 503;
                        r.body = std::string(text.status().message()) + "\n";
                      } else {
                        r.content_type = kPrometheusContentType;
                        r.body = *text;
                      }
                      return r;
                    }};
  HttpRoute echo{"POST", "/echo", [](const HttpRequest& request) {
                   HttpResponse r;
                   r.body = absl::StrCat(request.method, " ", request.path, "?", request.query, " ",
                                         request.Header("x-test"), " ", request.body);
                   return r;
                 }};
  auto server = HttpServer::Start("127.0.0.1:0", {metrics, echo}, options);
  EXPECT_THAT(server, IsOk());
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(HttpServerTest, AnswersGetAndHeadOfMetricsOnly) {
  auto server = StartHttp(std::string("x_total 1\n"));
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  Reply r = Get(server->port(), "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers["content-length"], "10");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_EQ(r.body, "x_total 1\n");
  EXPECT_EQ(Get(server->port(), "/metrics?name[]=x").body, "x_total 1\n");  // query ignored
  r = Get(server->port(), "/metrics", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], "10");
  EXPECT_EQ(r.body, "");
  // HTTP/1.0 (closes after the answer by default).
  r = Exchange(server->port(), "GET /metrics HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "x_total 1\n");

  for (const char* path : {"/", "/metric", "/metrics/", "/favicon.ico", "*"}) {
    r = Get(server->port(), path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_THAT(r.body, HasSubstr("/metrics")) << path;
  }
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "get"}) {
    r = Get(server->port(), "/metrics", method);
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
  }
  EXPECT_EQ(Get(server->port(), "/nope", "POST").status, 404);
  for (const char* bad :
       {"GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
        "hello world\r\n\r\n", "GET /metrics HTTP/1.1 extra\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nbad header\r\n\r\n"}) {
    EXPECT_EQ(Exchange(server->port(), bad).status, 400) << bad;
  }
  // Still serving after all that.
  EXPECT_EQ(Get(server->port(), "/metrics").status, 200);
}

TEST(HttpServerTest, PassesBodyQueryAndHeadersAndKeepsConnectionsAlive) {
  auto server = StartHttp(std::string("x 1\n"));
  ASSERT_NE(server, nullptr);
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  // Three requests on one connection, the last one closing it.
  for (int i = 0; i < 3; ++i) {
    const std::string body = absl::StrCat("body ", i);
    ASSERT_TRUE(SendAll(
        fd, absl::StrCat("POST /echo?a=", i,
                         " HTTP/1.1\r\nHost: x\r\nX-Test: t\r\nContent-Length: ", body.size(),
                         i == 2 ? "\r\nConnection: close" : "", "\r\n\r\n", body)));
    const Reply r = ReadOneResponse(fd);
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, absl::StrCat("POST /echo?a=", i, " t body ", i)) << i;
  }
  char byte;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0);  // closed after the third
  close(fd);
}

TEST(HttpServerTest, HandlerErrorsAre503And500) {
  auto server = StartHttp(absl::UnavailableError("the index is still loading; retry"));
  ASSERT_NE(server, nullptr);
  const Reply r = Get(server->port(), "/metrics");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "the index is still loading; retry\n");

  auto throwing =
      HttpServer::Start("127.0.0.1:0", {{"GET", "/x", [](const HttpRequest&) -> HttpResponse {
                                           throw std::runtime_error("boom");
                                         }}});
  ASSERT_THAT(throwing, IsOk());
  const Reply e = Get((*throwing)->port(), "/x");
  EXPECT_EQ(e.status, 500);
  EXPECT_THAT(e.body, HasSubstr("boom"));
}

TEST(HttpServerTest, OversizedHeadIs431AndOversizedBodyIs413) {
  auto server = StartHttp(std::string("x 1\n"));
  ASSERT_NE(server, nullptr);
  const Reply r = Exchange(
      server->port(),
      absl::StrCat("GET /metrics HTTP/1.1\r\nX-Pad: ", std::string(9000, 'a'), "\r\n\r\n"));
  EXPECT_EQ(r.status, 431);
  // A head of just under 8 KiB is fine.
  EXPECT_EQ(
      Exchange(server->port(), absl::StrCat("GET /metrics HTTP/1.1\r\nConnection: close\r\nX-Pad: ",
                                            std::string(8000, 'a'), "\r\n\r\n"))
          .status,
      200);
  // The answer arrives although the client is still sending its body.
  const std::string big(2 << 20, 'b');
  const int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      SendAll(fd, absl::StrCat("POST /echo HTTP/1.1\r\nContent-Length: ", big.size(), "\r\n\r\n")));
  SendAll(fd, big);  // may fail part way: the server stops reading
  EXPECT_EQ(ReadResponse(fd).status, 413);
  close(fd);
}

// A client that sends half a request and stalls, or nothing at all, gets 408
// after the timeout; the clients beside it are served meanwhile.
TEST(HttpServerTest, StalledClientsAreCutOffAndBlockNobody) {
  constexpr int kTimeoutMs = 300;
  HttpServerOptions options;
  options.request_timeout_ms = kTimeoutMs;
  auto server = StartHttp(std::string("x 1\n"), options);
  ASSERT_NE(server, nullptr);
  const auto start = Clock::now();
  const int stalled = Connect(server->port());
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(SendAll(stalled, "GET /metr"));
  const Reply beside = Get(server->port(), "/metrics");
  EXPECT_EQ(beside.status, 200);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kTimeoutMs));
  const Reply cut = ReadResponse(stalled);
  const auto cut_took = Clock::now() - start;
  close(stalled);
  EXPECT_EQ(cut.status, 408);
  EXPECT_GE(cut_took, std::chrono::milliseconds(kTimeoutMs - 10));
  EXPECT_LT(cut_took, std::chrono::milliseconds(kTimeoutMs + 3000));

  const int silent = Connect(server->port());
  ASSERT_GE(silent, 0);
  EXPECT_EQ(ReadResponse(silent).status, 408);
  close(silent);
  EXPECT_EQ(Get(server->port(), "/metrics").status, 200);
}

// What stalled the hand-written server for 36 s (20 idle sockets): hundreds
// of idle connections, and connections past the cap, while a scraper keeps
// getting its answers.
TEST(HttpServerTest, IdleConnectionsAndConnectionsPastTheCapStallNobody) {
  HttpServerOptions options;
  options.max_connections = 200;
  options.request_timeout_ms = 60000;  // the idle ones stay for the whole test
  auto server = StartHttp(std::string("x 1\n"), options);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  absl::Cleanup close_idle = [&idle] {
    for (int fd : idle) close(fd);
  };
  for (int i = 0; i < 300; ++i) {
    const int fd = Connect(server->port());
    ASSERT_GE(fd, 0) << i;
    idle.push_back(fd);
    if (i % 50 == 49) {
      // Some are served while the cap is near or past: not at all behind
      // the idle ones.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      Reply r;
      for (int attempt = 0; attempt < 20 && r.status == 0; ++attempt) {
        r = Get(server->port(), "/metrics");  // past the cap: closed, retried
        if (r.status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (i < 199) {
        EXPECT_EQ(r.status, 200) << i;
      }
    }
  }
  // The connections past the cap (the last 100) were closed by the server.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int closed = 0;
  for (int fd : idle) {
    char byte;
    if (recv(fd, &byte, 1, MSG_DONTWAIT) == 0) ++closed;
  }
  EXPECT_GE(closed, 100);
  EXPECT_LE(closed, 101);  // the one a scraper held at the time, at most
  // Once some idle ones go, there is room again: served at once.
  for (int i = 0; i < 10; ++i) close(idle[static_cast<size_t>(i)]);
  idle.erase(idle.begin(), idle.begin() + 10);
  Reply r;
  for (int attempt = 0; attempt < 50 && r.status != 200; ++attempt) {
    r = Get(server->port(), "/metrics");
    if (r.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.status, 200);
}

TEST(HttpServerTest, ShutdownIsPromptWhileClientsStall) {
  HttpServerOptions options;
  options.request_timeout_ms = 60000;
  auto server = StartHttp(std::string("x 1\n"), options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  const int stalled = Connect(port);
  ASSERT_GE(stalled, 0);
  ASSERT_TRUE(SendAll(stalled, "GET /metrics HTTP/1.1\r\n"));
  const int silent = Connect(port);
  ASSERT_GE(silent, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = Clock::now();
  server->Shutdown();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(ReadResponse(stalled).status, 0);  // closed without an answer
  EXPECT_EQ(ReadResponse(silent).status, 0);
  close(stalled);
  close(silent);
  server->Shutdown();            // idempotent
  EXPECT_EQ(Connect(port), -1);  // nothing listens any more
}

TEST(HttpServerTest, BadAddressesAreRefused) {
  for (const char* listen :
       {"nonsense", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "::1:9100"}) {
    EXPECT_THAT(HttpServer::Start(listen, {}), StatusIs(absl::StatusCode::kInvalidArgument))
        << listen;
  }
  auto first = StartHttp(std::string(""));
  ASSERT_NE(first, nullptr);
  EXPECT_THAT(HttpServer::Start(absl::StrCat("127.0.0.1:", first->port()), {}),
              StatusIs(absl::StatusCode::kUnavailable, "cannot listen on 127.0.0.1:"));
}

// ---- The endpoint of a Server, and the gRPC thread limit ------------------------

class MetricsHttpTest : public ::scry::testing::SampleServerTest {
 protected:
  static std::shared_ptr<grpc::Channel> Channel(int port) {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                               grpc::InsecureChannelCredentials());
  }

  static grpc::Status Call(v1::SearchService::Stub& stub, const v1::SearchRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::SearchResponse response;
    return stub.Search(&context, request, &response);
  }

  static v1::SearchRequest Light() {
    v1::SearchRequest request;
    request.set_query("kernel");
    return request;
  }
  static v1::SearchRequest Heavy() {
    v1::SearchRequest request;
    request.set_query(*heavy_query_);
    request.set_top_k(10000);
    request.set_pruning(v1::PRUNING_NONE);
    return request;
  }

  static v1::StatsResponse Stats(v1::SearchService::Stub& stub) {
    grpc::ClientContext context;
    v1::StatsResponse response;
    EXPECT_TRUE(stub.Stats(&context, v1::StatsRequest(), &response).ok());
    return response;
  }
};

TEST_F(MetricsHttpTest, ServesTheCountersOfTheStatsRpc) {
  ServerOptions options = Options();
  options.metrics_listen = "127.0.0.1:0";
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->metrics_port(), 0);
  EXPECT_NE(server->metrics_port(), server->port());
  auto stub = v1::SearchService::NewStub(Channel(server->port()));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Call(*stub, Light()).ok());
  v1::SearchRequest bad;
  bad.set_query("(kernel");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Call(*stub, bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  const v1::StatsResponse stats = Stats(*stub);

  Reply r = Get(server->metrics_port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.headers["content-type"], StartsWith("text/plain; version=0.0.4"));
  EXPECT_EQ(r.headers["content-length"], std::to_string(r.body.size()));
  const Exposition e = ParseExposition(r.body);
  EXPECT_THAT(e.errors, ::testing::IsEmpty()) << r.body;
  const std::map<std::string, std::string> families = {
      {"scry_rpc_calls_total", "counter"},
      {"scry_rpc_latency_seconds", "histogram"},
      {"scry_searches_in_flight", "gauge"},
      {"scry_connections_open", "gauge"},
      {"scry_connections_refused_total", "counter"},
      {"scry_connections_max", "gauge"},
      {"scry_index_docs", "gauge"},
      {"scry_index_terms", "gauge"},
      {"scry_index_postings", "gauge"},
      {"scry_index_bytes_on_disk", "gauge"},
      {"scry_index_shard_docs", "gauge"},
      {"scry_index_shard_bytes_on_disk", "gauge"},
      {"scry_index_generation_info", "gauge"},
      {"scry_index_generation_loaded_timestamp_seconds", "gauge"},
      {"scry_index_reloads_total", "counter"},
      {"scry_index_failed_reloads_total", "counter"},
      {"scry_live_segments", "gauge"},
      {"scry_live_deleted_docs", "gauge"},
      {"scry_live_merges_total", "counter"}};
  EXPECT_EQ(e.types, families);
  EXPECT_EQ(e.Value("scry_live_segments"), 0);
  EXPECT_EQ(e.Value("scry_live_merges_total"), 0);
  EXPECT_EQ(e.Value("scry_index_generation_info", {{"generation", stats.generation()}}), 1);
  EXPECT_EQ(e.Value("scry_index_reloads_total", {}), 0);
  EXPECT_GT(e.Value("scry_index_generation_loaded_timestamp_seconds", {}), 1.7e9);
  for (const auto& [family, type] : families) {
    EXPECT_EQ(std::count(e.help.begin(), e.help.end(), family), 1) << family;
  }

  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "Search"}, {"code", "OK"}}), 5);
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "Search"}, {"code", "INVALID_ARGUMENT"}}),
            2);
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "Stats"}, {"code", "OK"}}), 1);
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "GetDocument"}, {"code", "OK"}}), 0);
  EXPECT_EQ(CheckHistogram(e, "Search"), 7);
  EXPECT_EQ(CheckHistogram(e, "Stats"), 1);
  EXPECT_EQ(CheckHistogram(e, "GetDocument"), 0);
  EXPECT_GT(*e.Value("scry_rpc_latency_seconds_sum", {{"method", "Search"}}), 0);
  EXPECT_EQ(e.Value("scry_searches_in_flight"), 0);
  // The stub's own connection, at least (the count is swept every ~200 ms).
  EXPECT_GE(stats.connections_open(), 1u);
  EXPECT_GE(e.Value("scry_connections_open"), 1);
  EXPECT_EQ(e.Value("scry_connections_refused_total"), 0);
  EXPECT_EQ(e.Value("scry_connections_max"), static_cast<double>(stats.max_connections()));
  EXPECT_GE(stats.max_connections(), 16u);
  EXPECT_EQ(e.Value("scry_index_docs"), 4522);
  EXPECT_EQ(e.Value("scry_index_docs"), static_cast<double>(stats.docs()));
  EXPECT_EQ(e.Value("scry_index_terms"), static_cast<double>(stats.terms()));
  EXPECT_EQ(e.Value("scry_index_bytes_on_disk"), static_cast<double>(stats.bytes_on_disk()));
  EXPECT_GT(stats.bytes_on_disk(), 0u);
  ASSERT_EQ(stats.shards_size(), 2);
  double shard_docs = 0, shard_bytes = 0;
  for (const char* shard : {"0", "1"}) {
    shard_docs += e.Value("scry_index_shard_docs", {{"shard", shard}}).value_or(-1);
    shard_bytes += e.Value("scry_index_shard_bytes_on_disk", {{"shard", shard}}).value_or(-1);
  }
  EXPECT_EQ(shard_docs, 4522);
  EXPECT_EQ(shard_bytes, static_cast<double>(stats.bytes_on_disk()));

  // Scraping is not an RPC: the counters do not move; more searches do.
  EXPECT_TRUE(Call(*stub, Light()).ok());
  const Exposition again = ParseExposition(Get(server->metrics_port(), "/metrics").body);
  EXPECT_EQ(again.Value("scry_rpc_calls_total", {{"method", "Search"}, {"code", "OK"}}), 6);
  EXPECT_EQ(again.Value("scry_rpc_calls_total", {{"method", "Stats"}, {"code", "OK"}}), 1);
  EXPECT_EQ(CheckHistogram(again, "Search"), 8);
  for (const Sample& s : e.samples) {  // counters never go down
    if (s.name == "scry_rpc_latency_seconds_bucket") {
      EXPECT_GE(again.Value(s.name, s.labels).value_or(-1), s.value);
    }
  }
  EXPECT_EQ(Get(server->metrics_port(), "/").status, 404);
  EXPECT_EQ(Get(server->metrics_port(), "/metrics", "POST").status, 405);

  const int metrics_port = server->metrics_port();
  server->Shutdown();
  EXPECT_EQ(Connect(metrics_port), -1);  // stopped with the server
}

TEST_F(MetricsHttpTest, OffByDefault) {
  EXPECT_TRUE(ServerOptions().metrics_listen.empty());
  ::testing::internal::CaptureStderr();
  auto server = Start(Options());
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->metrics_port(), 0);
  EXPECT_THAT(log, HasSubstr("scry: serving"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("metrics on")));
}

TEST_F(MetricsHttpTest, UnusableMetricsAddressFailsTheStart) {
  auto first = StartHttp(std::string(""));
  ASSERT_NE(first, nullptr);
  ServerOptions options = Options();
  options.metrics_listen = absl::StrCat("127.0.0.1:", first->port());
  EXPECT_THAT(Server::Start(options),
              StatusIs(absl::StatusCode::kUnavailable, "(--metrics-listen)"));
  options.metrics_listen = "nonsense";
  EXPECT_THAT(Server::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

// `scry serve --metrics-listen 127.0.0.1:0 --metrics-port-file F`, scraped,
// then SIGTERM: exit 0 and the endpoint is gone.
TEST_F(MetricsHttpTest, ScryServeWithMetricsListen) {
  TempDir dir;
  const std::string port_file = dir.Sub("port"), metrics_port_file = dir.Sub("metrics-port");
  const std::string index = tmp_->Sub("idx");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(SCRY_BINARY, SCRY_BINARY, "serve", "--index", index.c_str(), "--listen", "127.0.0.1:0",
          "--port-file", port_file.c_str(), "--metrics-listen", "127.0.0.1:0",
          "--metrics-port-file", metrics_port_file.c_str(), "--grpc-max-threads", "16",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Whatever assertion fails below, the child does not outlive the test.
  bool reaped = false;
  absl::Cleanup reap = [&] {
    if (!reaped) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  };
  for (int i = 0; i < 600 && !std::filesystem::exists(port_file); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(port_file));
  ASSERT_TRUE(std::filesystem::exists(metrics_port_file));
  int port = 0, metrics_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(port_file)), &port));
  ASSERT_TRUE(
      absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(metrics_port_file)), &metrics_port));
  auto stub = v1::SearchService::NewStub(Channel(port));
  EXPECT_TRUE(Call(*stub, Light()).ok());
  const Reply r = Get(metrics_port, "/metrics");
  EXPECT_EQ(r.status, 200);
  const Exposition e = ParseExposition(r.body);
  EXPECT_THAT(e.errors, ::testing::IsEmpty());
  EXPECT_EQ(e.Value("scry_index_docs"), 4522);
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "Search"}, {"code", "OK"}}), 1);
  stub.reset();
  const auto stop = Clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaped = true;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // (With the client's channel still open, gRPC would wait out the 5 s grace.)
  EXPECT_LT(Clock::now() - stop, std::chrono::seconds(4));
  EXPECT_EQ(Connect(metrics_port), -1);
}

TEST_F(MetricsHttpTest, ScryServeRefusesBadFlags) {
  TempDir dir;
  const std::string index = tmp_->Sub("idx");
  const auto run = [&](const std::string& flags) {
    const std::string cmd = absl::StrCat(SCRY_BINARY, " serve --index ", index,
                                         " --listen 127.0.0.1:0 ", flags, " 2>&1");
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, p)) > 0) out.append(buffer, n);
    const int status = pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  auto [code, out] = run("--metrics-port-file " + dir.Sub("f"));  // without --metrics-listen
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("--metrics-listen"));
  for (const char* threads : {"1", "2", "-1"}) {
    std::tie(code, out) = run(absl::StrCat("--grpc-max-threads ", threads));
    EXPECT_NE(code, 0) << threads;
    EXPECT_THAT(out, HasSubstr("0 or at least 3")) << threads;
  }
  std::tie(code, out) = run("--metrics-listen nonsense");
  EXPECT_EQ(code, 1);
  EXPECT_THAT(out, HasSubstr("INVALID_ARGUMENT"));
}

TEST(GrpcMaxThreadsTest, DefaultFollowsMaxConcurrentSearches) {
  ServerOptions options;
  EXPECT_EQ(options.grpc_max_threads, ServerOptions::kAutoGrpcThreads);
  EXPECT_EQ(GrpcMaxThreads(options), 256);  // 4 x 64
  options.service.max_concurrent_searches = 20;
  EXPECT_EQ(GrpcMaxThreads(options), 80);
  options.service.max_concurrent_searches = 1;
  EXPECT_EQ(GrpcMaxThreads(options), 64);
  options.service.max_concurrent_searches = 0;
  EXPECT_EQ(GrpcMaxThreads(options), 0);
  options.grpc_max_threads = 5;
  EXPECT_EQ(GrpcMaxThreads(options), 5);
}

// What gRPC 1.51 does with a thread limit of 1 (why Server::Start refuses
// it, and 2): its only thread is the poller it keeps in reserve, so every
// call is answered RESOURCE_EXHAUSTED.
TEST_F(MetricsHttpTest, GrpcWithOneThreadRefusesEveryCall) {
  for (int threads : {1, 2}) {
    ServerOptions options = Options();
    options.service.api = GrpcApi::kSync;
    options.grpc_max_threads = threads;
    EXPECT_THAT(Server::Start(options),
                StatusIs(absl::StatusCode::kInvalidArgument, "0 (no limit) or at least 3"));
  }

  LiveIndexOptions live;
  live.index_dir = tmp_->Sub("idx");
  auto index = LiveIndex::Open(live);
  ASSERT_THAT(index, IsOk());
  SearchServiceOptions sync;
  sync.api = GrpcApi::kSync;
  SearchService service(index->get(), sync);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  grpc::ResourceQuota quota("one-thread");
  quota.SetMaxThreads(1);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::SearchService::NewStub(Channel(port));
  for (int i = 0; i < 3; ++i) {
    const grpc::Status s = Call(*stub, Light());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(s.error_message(), "Server Threadpool Exhausted");
  }
  server->Shutdown();
}

bool IsThreadpoolExhausted(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         s.error_message() == "Server Threadpool Exhausted";
}

// `call()` again (after a pause) while gRPC refuses it for want of a
// thread, at most 50 times; counts the refusals in *refusals.
template <class Call>
grpc::Status RetryWhileThreadpoolExhausted(Call call, int* refusals) {
  grpc::Status s = call();
  for (int i = 0; i < 50 && IsThreadpoolExhausted(s); ++i) {
    ++*refusals;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = call();
  }
  return s;
}

// With the smallest limit accepted, 3 threads (two calls at once), the
// server answers every kind of call. A thread stays taken until it has
// finished sending its answer, so even calls made one after the other can
// now and then (on a loaded machine) find none free and be refused; a retry
// then succeeds. Under concurrent load every answer is OK or that refusal.
TEST_F(MetricsHttpTest, SmallGrpcThreadLimitStillAnswers) {
  ServerOptions options = Options();
  options.grpc_max_threads = 3;
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  auto stub = v1::SearchService::NewStub(Channel(server->port()));
  int sequential_refusals = 0;
  for (int i = 0; i < 10; ++i) {
    v1::SearchResponse response;
    grpc::Status s = RetryWhileThreadpoolExhausted(
        [&] {
          grpc::ClientContext context;
          return stub->Search(&context, Light(), &response);
        },
        &sequential_refusals);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_GT(response.hits_size(), 0);
    v1::GetDocumentRequest get;
    get.set_id(response.hits(0).id());
    v1::GetDocumentResponse doc;
    s = RetryWhileThreadpoolExhausted(
        [&] {
          grpc::ClientContext context;
          return stub->GetDocument(&context, get, &doc);
        },
        &sequential_refusals);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(doc.id(), get.id());
    v1::StatsResponse stats;
    s = RetryWhileThreadpoolExhausted(
        [&] {
          grpc::ClientContext context;
          return stub->Stats(&context, v1::StatsRequest(), &stats);
        },
        &sequential_refusals);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(stats.docs(), 4522u);
  }
  std::atomic<int> ok{0}, refused{0}, wrong{0};
  std::vector<std::thread> clients;
  const auto start = Clock::now();
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      auto own = v1::SearchService::NewStub(Channel(server->port()));
      for (int i = 0; i < 25; ++i) {
        const grpc::Status s = Call(*own, Light());
        if (s.ok()) {
          ++ok;
        } else if (IsThreadpoolExhausted(s)) {
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
  std::printf(
      "3 threads: 30 sequential calls, %d refused; 8 clients x 25 searches in %lld ms: "
      "%d OK, %d RESOURCE_EXHAUSTED\n",
      sequential_refusals,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()),
      ok.load(), refused.load());
  int refusals = 0;
  EXPECT_TRUE(RetryWhileThreadpoolExhausted([&] { return Call(*stub, Light()); }, &refusals).ok());
}

// gRPC 1.51 past the limit: with 3 threads, two calls run at once; a third
// arriving meanwhile is answered RESOURCE_EXHAUSTED "Server Threadpool
// Exhausted" at once (it does not wait for a thread), while health checks
// (gRPC's callback API, outside the thread pool) and the metrics endpoint
// (its own thread) still answer. "Two searches running" is read from the
// metrics endpoint (scry_searches_in_flight) before and after the third call.
TEST_F(MetricsHttpTest, GrpcCallsPastTheThreadLimitAreRefusedAtOnce) {
  ServerOptions options = Options();
  options.service.api = GrpcApi::kSync;  // the thread pool is the sync API's
  options.grpc_max_threads = 3;
  options.service.max_concurrent_searches = 0;  // only gRPC's limit
  options.service.default_deadline_ms = 0;
  options.metrics_listen = "127.0.0.1:0";
  auto server = Start(options);
  ASSERT_NE(server, nullptr);
  auto channel = Channel(server->port());
  auto stub = v1::SearchService::NewStub(channel);
  const auto in_flight = [&] {
    const Reply r = Get(server->metrics_port(), "/metrics");
    EXPECT_EQ(r.status, 200);
    return ParseExposition(r.body).Value("scry_searches_in_flight").value_or(-1);
  };
  int refusals = 0;
  auto heavy = Clock::duration::max();
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    ASSERT_TRUE(
        RetryWhileThreadpoolExhausted([&] { return Call(*stub, Heavy()); }, &refusals).ok());
    heavy = std::min(heavy, Clock::now() - start);
  }
  ASSERT_GE(heavy, std::chrono::milliseconds(40)) << "the heavy query is too light to test with";

  bool checked = false;
  for (int attempt = 0; attempt < 5 && !checked; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // threads back to polling
    std::atomic<int> done{0};
    grpc::Status first, second;
    std::thread a([&] {
      first = RetryWhileThreadpoolExhausted([&] { return Call(*stub, Heavy()); }, &refusals);
      ++done;
    });
    std::thread b([&] {
      second = RetryWhileThreadpoolExhausted([&] { return Call(*stub, Heavy()); }, &refusals);
      ++done;
    });
    double running = 0;
    while (done == 0 && (running = in_flight()) < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const grpc::Status third = Call(*stub, Light());
    std::string health;
    const grpc::Status health_status =
        RawCall(channel, "/grpc.health.v1.Health/Check", "", &health);
    const bool still_two = in_flight() == 2;
    a.join();
    b.join();
    EXPECT_TRUE(first.ok()) << first.error_message();
    EXPECT_TRUE(second.ok()) << second.error_message();
    if (running != 2 || !still_two) continue;  // the searches ended too soon
    checked = true;
    // Answered while both other threads ran a search: refused, not queued.
    EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << third.error_message();
    EXPECT_EQ(third.error_message(), "Server Threadpool Exhausted");
    EXPECT_TRUE(health_status.ok()) << health_status.error_message();
    EXPECT_EQ(health, std::string("\x08\x01", 2));  // SERVING
  }
  EXPECT_TRUE(checked) << "the heavy searches never ran long enough to check the limit";
  EXPECT_TRUE(RetryWhileThreadpoolExhausted([&] { return Call(*stub, Light()); }, &refusals).ok());
  // gRPC's refusals never reach the service, so its counters do not see them.
  const Exposition e = ParseExposition(Get(server->metrics_port(), "/metrics").body);
  EXPECT_EQ(e.Value("scry_rpc_calls_total", {{"method", "Search"}, {"code", "RESOURCE_EXHAUSTED"}}),
            std::nullopt);
}

}  // namespace
}  // namespace scry::server
